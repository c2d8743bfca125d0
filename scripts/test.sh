#!/usr/bin/env bash
# scripts/test.sh — set up everything (scripts/setup.sh), start the throwaway PostgreSQL test
# server (scripts/pg-test-server.sh) and run the whole test suite. Arguments go to pytest.
# 运行全部测试：自动准备环境和测试数据库。Idempotent; works from any directory.
#
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -q -k settle    # pytest arguments pass through
#   WI_COUNTER_TEST_WORKERS=0 bash scripts/test.sh      # in this one process (no pytest-xdist workers)
#
# The PostgreSQL server is left running for the next run (stop it: scripts/pg-test-server.sh stop).
# To use a server of your own instead, set WI_COUNTER_TEST_PG_URL before running this script.
set -euo pipefail

# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

if [[ -n ${WI_COUNTER_TEST_PG_URL:-} ]]; then
    printf '==> 使用已设置的测试数据库 / using WI_COUNTER_TEST_PG_URL from the environment\n' >&2
else
    WI_COUNTER_TEST_PG_URL=$(bash "$REPO/scripts/pg-test-server.sh" start)
fi
export WI_COUNTER_TEST_PG_URL
# PostgreSQL tests fail instead of skipping when the server is missing.
export WI_COUNTER_REQUIRE_PG=1
# The card tests through pcscd + vsmartcard vpcd fail instead of skipping when that stack is
# missing (the fixtures start pcscd themselves when it is installed but not running).
export WI_COUNTER_REQUIRE_PCSC=1
# The XLSX print test through LibreOffice headless fails instead of skipping when soffice is missing.
export WI_COUNTER_REQUIRE_SOFFICE=1
# Qt without a display.
export QT_QPA_PLATFORM=offscreen
# The suite starts hundreds of Python processes (counters, drivers, sandboxes, the command line): each
# compiled the project's modules from source again where the environment sets PYTHONDONTWRITEBYTECODE
# (this CI machine's does). Their .pyc are cached instead (git ignores __pycache__/).
unset PYTHONDONTWRITEBYTECODE

cd "$REPO"
printf '==> 运行测试 / running pytest %s\n' "$*" >&2
# pytest-xdist workers, one per core by default. tests/centre alone runs faster with more (2 cores:
# 140 s with 2 workers, 104 s with 4), but in CI the Windows build check runs beside the suite: with
# 3 workers the whole CI run took longer, with 4 the check was starved past the suite's end.
# WI_COUNTER_TEST_WORKERS=0: this one process.
# The card and window tests are grouped on one worker (xdist_group "pcsc", tests/conftest.py):
# they share one pcscd and one virtual reader, and a main window reads any card put in.
cores=$(nproc 2>/dev/null || echo 1)
exec "$VENV/bin/python" -m pytest -n "${WI_COUNTER_TEST_WORKERS:-$cores}" --dist loadgroup "$@"
