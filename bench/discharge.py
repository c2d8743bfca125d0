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

Then the patient's wait over a WAN (issue 25): the sandbox's latency option makes every call take
50 ms (±5 ms jitter), the stay's lines are imported and uploaded in the background the day before
(`app.workflow.line_upload`, as after each import), and the figure is the time from pressing 结算
to the personal amount (`settle_stay`: what is still pending, the second check, the centre's
settlement and its local record), the median of RUNS stays each:

    BENCH discharge_window_wait_2000_lines_rtt50 <s> s (goal < 2)
    BENCH discharge_window_wait_20000_lines_rtt50 <s> s (goal < 3)
    BENCH discharge_upload_at_window_20000_lines_rtt50 <s> s (goal < 5)    none uploaded before: all at 结算

Exits non-zero only when it could not measure. `--wan-only` prints only the WAN figures.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import keyring  # noqa: E402

from bench.centre import KEY, _MemoryKeyring, _start_sandbox  # noqa: E402

LINES = 20_000
RTT_MS = 50
JITTER_MS = 5
RUNS = 3


def _wan_figures(ctx: object, client: object, actor: object, url: str) -> list[str]:
    """The window's wait at discharge with every call 50 ms away; lines uploaded the day before."""
    import httpx

    from app.workflow.admission import AdmissionForm, Identification, admit, look_up
    from app.workflow.discharge import settle_stay, upload_lines
    from app.workflow.line_upload import upload_ready_lines
    from tests.workflow.stay_fixtures import add_lines

    def admitted(number: str) -> int:
        card = Identification("card", "A44080001")
        person = look_up(client, card, actor)  # type: ignore[arg-type]
        yesterday = wire_today() - dt.timedelta(days=1)
        outcome = admit(ctx, client, person,  # type: ignore[arg-type]
                        AdmissionForm(number, "骨关节病区", None, yesterday, "medical",
                                      (("S82.201", "胫骨干骨折"), ("I10", "原发性高血压"))), actor, card)  # type: ignore[arg-type]
        assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
        return outcome.stay_id

    def wire_today() -> dt.date:
        from app.centre import wire

        return wire.now().date()

    httpx.post(f"{url}/admin/latency", json={"ms": RTT_MS, "jitter_ms": JITTER_MS}, timeout=10).raise_for_status()
    lines: list[str] = []
    for count in (2_000, 20_000):
        waits = []
        for run in range(RUNS):
            stay_id = admitted(f"BENCH-WAN-{count}-{run}")
            add_lines(ctx, stay_id, actor, count - 2, day=wire_today() - dt.timedelta(days=1))  # type: ignore[arg-type]
            upload_ready_lines(ctx, client, stay_id, actor)  # type: ignore[arg-type]  # the day before, in the background
            started = time.perf_counter()
            outcome = settle_stay(ctx, client, stay_id, actor, wire_today())  # type: ignore[arg-type]
            waits.append(time.perf_counter() - started)
            assert outcome.personal_total >= 0
        goal = 2 if count == 2_000 else 3
        lines.append(f"BENCH discharge_window_wait_{count}_lines_rtt{RTT_MS} {statistics.median(waits):.2f} s "
                     f"(goal < {goal})")
    # Nothing uploaded before: everything goes up at the window, several calls in flight.
    uploads = []
    for run in range(RUNS):
        stay_id = admitted(f"BENCH-WAN-UP-{run}")
        add_lines(ctx, stay_id, actor, LINES - 2, day=wire_today() - dt.timedelta(days=1))  # type: ignore[arg-type]
        started = time.perf_counter()
        upload_lines(ctx, client, stay_id, actor)  # type: ignore[arg-type]
        uploads.append(time.perf_counter() - started)
        settle_stay(ctx, client, stay_id, actor, wire_today())  # type: ignore[arg-type]  # the person is free again
    lines.append(f"BENCH discharge_upload_at_window_{LINES}_lines_rtt{RTT_MS} {statistics.median(uploads):.2f} s "
                 "(goal < 5)")
    httpx.post(f"{url}/admin/latency", json={"ms": 0}, timeout=10).raise_for_status()
    return lines


def main() -> int:
    wan_only = "--wan-only" in sys.argv[1:]
    from app import logging_setup  # noqa: F401 - the program's logging levels
    from app.bootstrap import open_counter
    from app.centre import wire
    from app.db.models import Institution, Operator, Role
    from tests.signed_in import signed_in
    from app.secret_store import CENTRE_KEY, set_secret
    from app.settings import CENTRE_READ_TIMEOUT_SECONDS, CENTRE_URL
    from app.workflow.admission import AdmissionForm, Identification, admit, look_up
    from app.composition import open_workflow_centre
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
            if wan_only:
                wan = _wan_figures(ctx, client, actor, url)
                client.close()
                ctx.close()
                print("\n".join(wan))
                return 0

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
            wan = _wan_figures(ctx, client, actor, url)
            client.close()
            ctx.close()
        except Exception as exc:  # noqa: BLE001 - report, exit non-zero: could not measure
            import traceback

            traceback.print_exc()
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
    print("\n".join(wan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
