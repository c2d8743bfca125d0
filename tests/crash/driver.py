"""A counter process for the kill-point tests: `python -m tests.crash.driver ACTION HOME DB_URL ARG`.

The test sets `WI_COUNTER_CRASH_AT` to one of `app.crashpoints.CRASH_POINTS`; the process runs one
step of the workflow and kills itself (SIGKILL) at that point. Like `tests.centre.counter_driver`
it has no OS keyring: it installs an in-memory one holding the centre key (`WI_TEST_CENTRE_KEY`).
The clerks are the test's: `cashier` (admits, settles, prints) and `reviewer` (cancels, claims).

Actions (ARG):
  admit CARD          入院登记 of the sandbox person with this card (住院号 ZY-CRASH-1)
  upload STAY_ID      upload the stay's charge lines not yet uploaded
  settle STAY_ID      出院结算 (upload, second check, settlement)
  cancel SETTLEMENT   a reviewer's 撤销结算
  uncancel STAY_ID    a reviewer's 撤销入院登记 (2404) of a stay with no line uploaded
  claim CLAIM_ID      upload the monthly claim, two settlements a chunk
  slip SETTLEMENT     `wi-counter slip SETTLEMENT --operator cashier --password-stdin` (archived and logged)
  reverse MSGID       a reviewer's 冲正 (2601): `wi-counter centre resolve --reverse MSGID --operator reviewer`
  backfill STAY_ID    补登记 of a stay paid in full (queued work, lines, then 2306)
  resend -            住院一览's 补传: the queued admissions sent (`Outbox.send_queued`), then checked again
  resolve -           the start-up recovery (`app.recovery.recover_at_start`), as a restart runs it
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.centre.counter_driver import _install_keyring


def run(action: str, home: Path, db_url: str, arg: str) -> int:
    if action == "slip":
        import io

        from app.cli import main as cli_main
        from tests.signed_in import TEST_PASSWORD

        sys.stdin = io.StringIO(TEST_PASSWORD + "\n")  # the cashier signs in (tests.signed_in's password)
        return cli_main(["slip", arg, "--home", str(home), "--db", db_url, "--operator", "cashier", "--password-stdin"])
    if action == "reverse":
        import io

        from app.cli import main as cli_main
        from tests.signed_in import TEST_PASSWORD

        sys.stdin = io.StringIO(TEST_PASSWORD + "\n")  # the reviewer signs in
        return cli_main(["centre", "resolve", "--reverse", arg, "--home", str(home), "--db", db_url,
                         "--operator", "reviewer", "--password-stdin"])
    if action == "resolve":
        from app.bootstrap import open_counter as open_for_recovery
        from app.composition import open_counter_centre
        from app.recovery import recover_at_start

        ctx = open_for_recovery(home=home, db_url=db_url)
        client = open_counter_centre(ctx)  # the system's client, with the workflow's appliers (as a restart)
        try:
            print(f"RECOVERED {recover_at_start(ctx, client).summary}", flush=True)
        finally:
            client.close()
            ctx.close()
        return 0

    from app.bootstrap import open_counter
    from app.workflow.admission import centre_today
    from app.composition import open_workflow_centre

    ctx = open_counter(home=home, db_url=db_url)
    with ctx.transaction() as session:
        from app.slips import operator_by_login
        from tests.signed_in import signed_in

        clerk = signed_in(operator_by_login(session, "reviewer" if action in ("cancel", "uncancel", "claim") else "cashier"))
    client = open_workflow_centre(ctx, clerk)
    try:
        if action == "admit":
            from app.workflow.admission import Identification, admit, look_up
            from tests.workflow.stay_fixtures import form

            identification = Identification("card", arg)
            person = look_up(client, identification, clerk)
            outcome = admit(ctx, client, person, form("ZY-CRASH-1"), clerk, identification)
            print(f"ADMITTED {outcome.stay_id} {outcome.registration_no}", flush=True)
        elif action == "upload":
            from app.workflow.discharge import upload_lines

            print(f"UPLOADED {upload_lines(ctx, client, int(arg), clerk)}", flush=True)
        elif action == "settle":
            from app.workflow.discharge import settle_stay

            outcome = settle_stay(ctx, client, int(arg), clerk, centre_today())
            print(f"SETTLED {outcome.settlement_id}", flush=True)
        elif action == "cancel":
            from app.workflow.discharge import cancel_settlement

            print(f"CANCELLED {cancel_settlement(ctx, client, int(arg), clerk, '结算信息有误')}", flush=True)
        elif action == "uncancel":
            from app.workflow.admission_correction import cancel_registration

            view = cancel_registration(ctx, client, int(arg), "登记错了人", clerk)
            print(f"ADMISSION CANCELLED {view}", flush=True)
        elif action == "backfill":
            from app.workflow.discharge import backfill

            print(f"BACKFILLED {backfill(ctx, client, int(arg), clerk).receipt_no}", flush=True)
        elif action == "resend":
            from app.workflow.admission import recheck_offline_admissions

            print(f"RESENT {len(recheck_offline_admissions(ctx, client, clerk))}", flush=True)
        elif action == "claim":
            from app.centre import wire
            from app.claims.upload import upload_claim

            wire.MAX_CLAIM_SETTLEMENTS_PER_CHUNK = 2  # three settlements: two chunks (the test's too)
            outcome = upload_claim(ctx, client, int(arg), clerk)
            print(f"CLAIMED {outcome.chunks_done}/{outcome.chunks}", flush=True)
        else:
            raise SystemExit(f"unknown action {action}")
    finally:
        client.close()
        ctx.close()
    return 0


def main(argv: list[str]) -> int:
    _install_keyring()
    action, home, db_url, arg = argv
    return run(action, Path(home), db_url, arg)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
