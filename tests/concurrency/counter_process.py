"""A counter as its own process, for the multi-counter tests and `bench/concurrency.py`.

    python -m tests.concurrency.counter_process ACTION --home H --db URL --centre URL \
        --name 2号窗口 --login cashier2 --barrier DIR [ARGS...]

It opens the counter (own home and settings, the shared database, the sandbox's key in an
in-memory keyring), signs in at the centre, then waits at a file barrier: it writes
`DIR/ready-<pid>` and starts only once `DIR/go` exists, so that every process starts its work
at the same moment (`release` in the parent). Each result is printed as one line
`RESULT {json}`.

Actions:
  settle STAY_ID...           settle each stay (today's discharge date); ok or the clerk's message
  admit CARD ADMISSION_NO [INJURY]  look up the worker by card and admit them under that 住院号
                              (INJURY: the injury's diagnosis code, if not 张伟's S82.201)
  msgids COUNT                draw COUNT msgids, one transaction each (with their sequence numbers)
  cycle CARD INJURY PREFIX N  N times: admit (住院号 PREFIX-i), add 20 lines, settle (the bench)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BARRIER_TIMEOUT_SECONDS = 120.0


def result(**fields: Any) -> None:
    print("RESULT " + json.dumps(fields, ensure_ascii=False, default=str), flush=True)


def wait_at_barrier(folder: Path) -> None:
    (folder / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT_SECONDS
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("barrier: no go within the timeout")
        time.sleep(0.005)


def release(folder: Path, processes: int, timeout: float = BARRIER_TIMEOUT_SECONDS,
            alive: Any = None) -> None:
    """The parent's half: wait until `processes` counters are ready, then let them all go."""
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("ready-*"))) < processes:
        if alive is not None and not alive():
            raise RuntimeError("a counter process ended before the barrier")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(list(folder.glob('ready-*')))} of {processes} counters got ready")
        time.sleep(0.01)
    (folder / "go").touch()


def results_of(output: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("RESULT "):]) for line in output.splitlines() if line.startswith("RESULT ")]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("action")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--centre", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--login", required=True)
    parser.add_argument("--barrier", type=Path, required=True)
    options = parser.parse_args(argv)

    import keyring

    from tests.conftest import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    if os.environ.get("WI_TEST_AUDIT_KEY"):  # every counter holds the institution's audit key, as at a site
        from app.secret_store import AUDIT_KEY, set_secret

        set_secret(AUDIT_KEY, os.environ["WI_TEST_AUDIT_KEY"])
    from sqlalchemy import select

    from app.centre.outbox import allocate_msgid
    from app.db.models import Operator
    from tests.signed_in import signed_in
    from app.settings import COUNTER_NAME
    from app.composition import open_workflow_centre
    from tests.centre.client_fixtures import INSTITUTION, make_counter

    ctx = make_counter(options.home, options.db, options.centre, read_timeout=30)
    ctx.settings.set(COUNTER_NAME, options.name)
    with ctx.transaction() as session:
        clerk = session.scalars(select(Operator).where(Operator.login == options.login)).one()
        actor = signed_in(clerk)
    client = open_workflow_centre(ctx, actor)
    try:
        if options.action != "msgids":
            client.centre.sign_in()  # connect and sign in before the barrier: the race is the work itself
        wait_at_barrier(options.barrier)
        if options.action == "settle":
            _settle(ctx, client, actor, [int(a) for a in options.args])
        elif options.action == "admit":
            _admit(ctx, client, actor, *options.args)
        elif options.action == "msgids":
            msgids, numbers = [], []
            for _ in range(int(options.args[0])):
                with ctx.transaction() as session:
                    number, msgid = allocate_msgid(session, INSTITUTION)
                msgids.append(msgid)
                numbers.append(number)
            result(msgids=msgids, numbers=numbers)
        elif options.action == "cycle":
            _cycle(ctx, client, actor, *options.args)
        else:
            raise SystemExit(f"unknown action {options.action}")
    finally:
        client.close()
        ctx.close()
    return 0


def _settle(ctx: Any, client: Any, actor: Any, stay_ids: list[int]) -> None:
    from app.errors import WiCounterError
    from app.workflow.admission import centre_today
    from app.workflow.discharge import settle_stay

    for stay_id in stay_ids:
        started = time.perf_counter()
        try:
            outcome = settle_stay(ctx, client, stay_id, actor, centre_today())
        except WiCounterError as exc:
            result(stay=stay_id, ok=False, kind=type(exc).__name__, message=exc.message,
                   seconds=time.perf_counter() - started)
        else:
            result(stay=stay_id, ok=True, settlement_id=outcome.settlement_id,
                   centre_settlement_id=outcome.centre_settlement_id, seconds=time.perf_counter() - started)


def _admit(ctx: Any, client: Any, actor: Any, card: str, admission_no: str, injury: str = "") -> None:
    from app.errors import WiCounterError
    from tests.workflow.stay_fixtures import admit_worker, form

    admission = form(admission_no, diagnoses=((injury, "工伤"),)) if injury else form(admission_no)
    try:
        _, outcome = admit_worker(ctx, client, actor, card, admission)
    except WiCounterError as exc:
        result(ok=False, kind=type(exc).__name__, message=exc.message)
    else:
        result(ok=outcome.stay_id is not None, stay_id=outcome.stay_id, registration_no=outcome.registration_no,
               offline=outcome.offline)


def _cycle(ctx: Any, client: Any, actor: Any, card: str, injury: str, prefix: str, rounds: str) -> None:
    from app.errors import WiCounterError
    from app.workflow.admission import centre_today
    from app.workflow.discharge import settle_stay
    from tests.workflow.stay_fixtures import add_lines, admit_worker, form

    for number in range(1, int(rounds) + 1):
        started = time.perf_counter()
        try:
            _, admitted = admit_worker(ctx, client, actor, card,
                                       form(f"{prefix}-{number}", diagnoses=((injury, "工伤"), ("I10", "原发性高血压"))))
            assert admitted.stay_id is not None and admitted.registration_no is not None, admitted
            add_lines(ctx, admitted.stay_id, actor, 20, injury_code=injury)
            outcome = settle_stay(ctx, client, admitted.stay_id, actor, centre_today())
        except WiCounterError as exc:
            result(ok=False, kind=type(exc).__name__, message=exc.message, seconds=time.perf_counter() - started,
                   ended=time.time())
        else:  # `ended` (wall clock): the bench's throughput runs from the barrier's release to the last one
            result(ok=True, stay=outcome.stay_id, settlement_id=outcome.settlement_id,
                   seconds=time.perf_counter() - started, ended=time.time())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
