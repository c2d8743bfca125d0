"""A counter process for the crash tests: `python -m tests.centre.counter_driver ACTION ...`.

The test kills it with SIGKILL between send and reply, then starts it (or `wi-counter centre
resolve`) again. The process has no OS keyring here, so the driver installs an in-memory one
holding the centre key from `WI_TEST_CENTRE_KEY` before it calls into the program.

Actions:
  settle HOME DB_URL REGISTRATION_NO   settle one stay through the outbox, print the outcome
  cli ARGS...                          run `wi-counter ARGS...` (e.g. centre resolve --home …)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import keyring


def _install_keyring() -> None:
    from tests.conftest import MemoryKeyring

    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    from app.secret_store import CENTRE_KEY, set_secret

    set_secret(CENTRE_KEY, os.environ["WI_TEST_CENTRE_KEY"])


def _settle(home: Path, db_url: str, registration_no: str) -> int:
    from app.bootstrap import open_counter
    from app.composition import open_counter_centre
    from app.centre.gateway import CentreError, SettlementRequest
    from tests.centre.client_fixtures import centre_today

    ctx = open_counter(home=home, db_url=db_url)
    client = open_counter_centre(ctx, ("cashier", "张收款"))
    try:
        figures = client.settle(SettlementRequest(registration_no, centre_today()))
    except CentreError as exc:
        print(f"REFUSED {type(exc).__name__} {exc.message}", flush=True)
        return 1
    finally:
        client.close()
        ctx.close()
    print(f"SETTLED {figures.settlement_id}", flush=True)
    return 0


def main(argv: list[str]) -> int:
    _install_keyring()
    action, rest = argv[0], argv[1:]
    if action == "settle":
        return _settle(Path(rest[0]), rest[1], rest[2])
    if action == "cli":
        from app.cli import main as cli_main

        return cli_main(rest)
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
