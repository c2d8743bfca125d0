#!/usr/bin/env bash
# scripts/build.sh — build the one-folder program dist/wi-counter/ with PyInstaller
# (build_spec/wi-counter.spec; build_spec/README.md). 打包：生成可直接运行的程序文件夹。
#
#   bash scripts/build.sh            # build (installs pyinstaller into the venv first)
#
# Environment: VENV (default: $REPO/.venv, as scripts/setup.sh makes it), DIST (default
# $REPO/dist), WORK (default $REPO/build). Prints the folder, its size and the build time.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-${WI_COUNTER_VENV:-$REPO/.venv}}
DIST=${DIST:-$REPO/dist}
WORK=${WORK:-$REPO/build}
PY="$VENV/bin/python"
if [[ ! -x $PY ]]; then
    # A fresh clone (CI): make the venv first, as scripts/test.sh does.
    WI_COUNTER_VENV=$VENV
    # shellcheck source=scripts/setup.sh
    source "$REPO/scripts/setup.sh"
    set -euo pipefail
    PY="$VENV/bin/python"
fi

# The `build` extra of pyproject.toml (pyinstaller>=6); quiet and quick when already there.
if ! "$PY" -c 'import PyInstaller, sys; sys.exit(int(PyInstaller.__version__.split(".")[0]) < 6)' 2>/dev/null; then
    printf '==> 安装 PyInstaller / installing pyinstaller>=6\n' >&2
    "$PY" -m pip install --quiet --progress-bar off "pyinstaller>=6" </dev/null
fi

printf '==> 打包 / building %s/wi-counter (PyInstaller %s)\n' "$DIST" "$("$PY" -c 'import PyInstaller; print(PyInstaller.__version__)')" >&2
start=$(date +%s)
cd "$REPO"
# Offscreen: collecting ui/ imports Qt, which must not look for a display on a build server.
QT_QPA_PLATFORM=offscreen "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" build_spec/wi-counter.spec
seconds=$(($(date +%s) - start))

[[ -x $DIST/wi-counter/wi-counter ]] || { printf 'ERROR: 没有生成 / not built: %s/wi-counter/wi-counter\n' "$DIST" >&2; exit 1; }
size=$(du -sh "$DIST/wi-counter" | cut -f1)
printf '已生成 / built: %s\n' "$DIST/wi-counter/wi-counter"
printf '大小 / size: %s   用时 / time: %d s\n' "$size" "$seconds"
