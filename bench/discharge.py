"""Benchmark of a stay's life with the centre: `python bench/discharge.py` from the repo root.

Starts the sandbox centre (real HTTP on loopback, its own data in a temporary folder) and a
counter (SQLite in the same folder), admits 张伟 through the workflow (look-up, filing check,
registration through the outbox), gives the stay 20,000 charge lines, then settles it the way
the 出院结算 page does, and prints one line each:

    BENCH workflow_admission <ms> ms (goal < 500)                 look-up + check + registration
    BENCH discharge_readiness_20000_lines <ms> ms (goal < 1500)
    BENCH discharge_upload_20000_lines <s> s (goal < 30)          200 calls through the outbox
    BENCH discharge_second_check <ms> ms (goal < 500)             fresh look-up, judged, stored
    BENCH discharge_settle_20000_lines <s> s (goal < 20)          the centre's 2304 + the local record

The goals are the workflow's own (not the issue's): a clerk waits for these with a progress bar.
Exits non-zero only when it could not measure.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import keyring  # noqa: E402

from bench.centre import KEY, _MemoryKeyring, _start_sandbox  # noqa: E402

LINES = 20_000


def main() -> int:
    from app import logging_setup  # noqa: F401 - the program's logging levels
    from app.bootstrap import open_counter
    from app.centre import wire
    from app.db.models import Institution, Operator, Role
    from tests.signed_in import signed_in
    from app.secret_store import CENTRE_KEY, set_secret
    from app.settings import CENTRE_READ_TIMEOUT_SECONDS, CENTRE_URL
    from app.workflow.admission import AdmissionForm, Identification, admit, look_up
    from app.workflow.appliers import open_workflow_centre
    from app.workflow.discharge import discharge_check, readiness, settle_stay
    from tests.workflow.stay_fixtures import add_lines

    keyring.set_keyring(_MemoryKeyring())
    set_secret(CENTRE_KEY, KEY)
    with tempfile.TemporaryDirectory(prefix="wi-bench-discharge-") as temporary:
        folder = Path(temporary)
        sandbox, url = _start_sandbox(folder)
        try:
            ctx = open_counter(home=folder / "counter")
            ctx.settings.set(CENTRE_URL, url)
            ctx.settings.set(CENTRE_READ_TIMEOUT_SECONDS, 60)
            with ctx.transaction() as session:
                session.add(Institution(code="H44080100001", name="湛江市第一人民医院", province="广东省",
                                        city="湛江市", city_code="440800", level="三级甲等"))
                clerk = Operator(login="bench", display_name="基准测试", role=Role.CASHIER, password_hash="-")
                session.add(clerk)
                session.flush()
                actor = signed_in(clerk)
            client = open_workflow_centre(ctx, actor)
            today = wire.now().date()
            card = Identification("card", "A44080001")
            look_up(client, card, actor)  # warm up: sign in, connect

            started = time.perf_counter()
            person = look_up(client, card, actor)
            outcome = admit(ctx, client, person, AdmissionForm("BENCH-1", "骨关节病区", None, today, "medical",
                                                               (("S82.201", "胫骨干骨折"), ("I10", "原发性高血压"))),
                            actor, card)
            admission_ms = (time.perf_counter() - started) * 1000
            assert outcome.stay_id is not None and outcome.registration_no is not None
            stay_id = outcome.stay_id
            add_lines(ctx, stay_id, actor, LINES - 2)

            started = time.perf_counter()
            with ctx.transaction() as session:
                problems = readiness(session, stay_id)
            readiness_ms = (time.perf_counter() - started) * 1000
            assert not problems, problems

            marks: dict[str, float] = {}

            def progress(step: str, done: int, total: int) -> None:
                marks.setdefault(f"{step}-start", time.perf_counter())
                if done == total:
                    marks[f"{step}-end"] = time.perf_counter()

            started = time.perf_counter()
            settled = settle_stay(ctx, client, stay_id, actor, today, progress)
            ended = time.perf_counter()
            upload_s = marks["upload-end"] - marks["upload-start"]
            settle_s = ended - marks["settle-start"]
            assert settled.total > 0

            started = time.perf_counter()
            discharge_check(ctx, client, stay_id, actor, today)
            check_ms = (time.perf_counter() - started) * 1000
            client.close()
            ctx.close()
        except Exception as exc:  # noqa: BLE001 - report, exit non-zero: could not measure
            print(f"could not measure: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            os.killpg(sandbox.pid, signal.SIGTERM)  # the supervisor and the server it started
            sandbox.wait(timeout=20)
    print(f"BENCH workflow_admission {admission_ms:.0f} ms (goal < 500)")
    print(f"BENCH discharge_readiness_{LINES}_lines {readiness_ms:.0f} ms (goal < 1500)")
    print(f"BENCH discharge_upload_{LINES}_lines {upload_s:.1f} s (goal < 30)")
    print(f"BENCH discharge_second_check {check_ms:.0f} ms (goal < 500)")
    print(f"BENCH discharge_settle_{LINES}_lines {settle_s:.1f} s (goal < 20)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
