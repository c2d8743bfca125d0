"""Crash safety (issue 9, item 3): a counter process killed (SIGKILL) at every registered kill point
of admission, fee upload, settlement, cancellation, claim upload, slip printing, 补登记 (2306), 冲正
(2601), queued sends (补传) and the start-up recovery itself (issue 21), then started again. Afterwards the counter's books and the sandbox centre's agree, nothing is settled, cancelled
or claimed twice, nothing is lost (what the centre did is recorded here, the slip printable), no
print-log row or archive file is half there, and the clerk is told what was recovered.

Each test walks one point of `app.crashpoints.CRASH_POINTS` (a point without a scenario fails):
the step runs in `tests.crash.driver` with `WI_COUNTER_CRASH_AT` set, the restart is the program's
own start-up recovery (`app.recovery`: in-process, through `wi-counter centre resolve`, or through
the window's centre monitor), then the step is finished the normal way and the books compared.
SQLite only: the outbox's logic on PostgreSQL is covered by tests/centre/ (both databases).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext, open_counter
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import Operation, OutcomeState
from app.demo.month import seed_demo_month
from app.claims.service import build_claim, previous_month
from app.claims.upload import upload_claim
from app.composition import open_counter_centre, open_workflow_centre
from app.crashpoints import CRASH_ENV, CRASH_POINTS
from app.db.models import (
    ChargeLine,
    FullPaymentReceipt,
    MonthlyClaim,
    Operator,
    OutboxEntry,
    OutboxState,
    PrintLog,
    Role,
    Settlement,
    SettlementKind,
    Stay,
)
from app.operators import OperatorInfo
from app.recovery import RecoveryReport, recover_at_start
from app.settings import SLIP_ARCHIVE_DIR
from app.slips import MarkKind, archive_folder, commit_issue, prepare_slip
from app.workflow.admission import Identification, admit, centre_today, look_up, recheck_offline_admissions
from app.workflow.centre_monitor import CentreMonitor
from app.workflow.common import WorkflowError
from app.workflow.discharge import backfill, cancel_settlement, issue_full_payment, settle_stay, upload_lines
from tests.centre.client_fixtures import REPO, SANDBOX_KEY, SandboxProcess, make_counter, start_sandbox
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD, add_lines, admit_worker, assert_matches_centre, form
from tests.signed_in import TEST_PASSWORD_HASH, signed_in

pytestmark = pytest.mark.crash

STEPS = ("admission", "admission_cancel", "fee_upload", "fee_cancel", "settlement", "cancellation", "claim_upload",
         "full_payment", "reversal", "queued", "slip", "recovery")


@dataclass
class World:
    home: Path
    db_url: str
    sandbox: SandboxProcess
    ctx: CounterContext
    client: CentreClient
    cashier: OperatorInfo
    reviewer: OperatorInfo

    @property
    def archive(self) -> Path:
        return archive_folder(self.ctx.settings.get(SLIP_ARCHIVE_DIR), self.ctx.paths.data_dir)


def _operator(ctx: CounterContext, login: str, name: str, role: Role) -> OperatorInfo:
    with ctx.transaction() as session:
        record = Operator(login=login, display_name=name, role=role, password_hash=TEST_PASSWORD_HASH)
        session.add(record)
        session.flush()
        return signed_in(record)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # A fresh sandbox per point (0.7 s): each point's books are compared with the centre's totals.
    sandbox = start_sandbox(tmp_path / "sandbox-data")
    home = tmp_path / "counter-home"
    db_url = f"sqlite:///{tmp_path / 'counter.sqlite3'}"
    ctx = make_counter(home, db_url, sandbox.url)
    cashier = _operator(ctx, "cashier", "张收款", Role.CASHIER)
    reviewer = _operator(ctx, "reviewer", "李审核", Role.REVIEWER)
    client = open_workflow_centre(ctx, cashier)
    monkeypatch.setattr(wire, "MAX_CLAIM_SETTLEMENTS_PER_CHUNK", 2)  # as the driver: two chunks of a claim
    try:
        yield World(home, db_url, sandbox, ctx, client, cashier, reviewer)
    finally:
        client.close()
        ctx.close()
        sandbox.stop()


# --- the kill and the restart ------------------------------------------------------------------------


def kill_at(world: World, point: str, action: str, arg: str, passage: int = 1) -> None:
    """Run the driver's step with the kill point set; it must die there (at its `passage`-th pass), by SIGKILL."""
    env = dict(os.environ, WI_TEST_CENTRE_KEY=SANDBOX_KEY, **{CRASH_ENV: f"{point}#{passage}"})
    done = subprocess.run([sys.executable, "-m", "tests.crash.driver", action, str(world.home), world.db_url, arg],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    assert f"CRASH_POINT {point}" in done.stderr, done.stderr  # the point was walked


def restart(world: World) -> RecoveryReport:
    """The counter starts again: open_counter, then the start-up recovery."""
    ctx = open_counter(home=world.home, db_url=world.db_url)
    client = open_counter_centre(ctx)
    try:
        return recover_at_start(ctx, client)
    finally:
        client.close()
        ctx.close()


def restart_by_cli(world: World) -> str:
    """The counter starts again as `wi-counter centre resolve` (what IT runs after a crash)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.centre.counter_driver", "cli", "centre", "resolve", "--home", str(world.home),
         "--db", world.db_url], cwd=REPO, env=dict(os.environ, WI_TEST_CENTRE_KEY=SANDBOX_KEY),
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def restart_by_window(world: World) -> str:
    """The counter starts again as the window does: its first centre probe recovers."""
    ctx = open_counter(home=world.home, db_url=world.db_url)
    monitor = CentreMonitor(ctx, open_counter_centre)
    try:
        link = monitor.probe()
    finally:
        monitor.close()
        ctx.close()
    assert link.open_entries == 0
    return link.recovered


# --- the books ------------------------------------------------------------------------------------------


def assert_books_agree(world: World) -> None:
    """No open entry; each entry's state is what the centre says; the counts and totals match."""
    ctx, client = world.ctx, world.client
    with ctx.transaction() as session:
        entries = session.scalars(select(OutboxEntry).order_by(OutboxEntry.seq)).all()
        assert [e.msgid for e in entries if e.state is OutboxState.SENT] == []
        for entry in entries:
            if entry.operation == Operation.REVERSAL.value or entry.state is OutboxState.PENDING:
                continue
            outcome = client.centre.query_outcome(entry.msgid, Operation(entry.operation))
            applied = outcome.state is OutcomeState.APPLIED
            assert applied == (entry.state is OutboxState.SUCCEEDED), (entry.msgid, entry.operation, entry.state)
        registered = session.scalar(select(func.count()).select_from(Stay).where(Stay.registration_no.is_not(None)))
        uploaded = session.scalar(select(func.count()).select_from(ChargeLine).where(
            ChargeLine.uploaded_at.is_not(None)))
        reversal_msgids = select(OutboxEntry.msgid).where(OutboxEntry.operation == Operation.REVERSAL.value)
        cancellations = session.execute(select(Settlement.reverses_id, Settlement.msgid.in_(reversal_msgids)).where(
            Settlement.kind == SettlementKind.CANCELLATION)).all()
        cancelled_ids = {settlement_id for settlement_id, _ in cancellations}
        reversed_ids = {settlement_id for settlement_id, by_reversal in cancellations if by_reversal}  # 冲正
        settlements = session.scalars(select(Settlement).where(Settlement.kind == SettlementKind.SETTLEMENT)).all()
        live = [s for s in settlements if s.id not in cancelled_ids]
    summary = world.sandbox.summary()
    registrations = summary["registrations"]
    assert registered == registrations["open"] + registrations["settled"] + registrations["paid_in_full"]
    assert uploaded == summary["live_lines"]
    assert len(live) == summary["settlements"]["live"]  # at most one live settlement a stay
    assert len(reversed_ids) == summary["settlements"]["reversed"]  # each reversal recorded here, once
    assert len(cancelled_ids - reversed_ids) == summary["cancellations"] == summary["settlements"]["cancelled"]
    assert wire.money(sum((s.total for s in live), start=Decimal("0.00"))) == summary["live_settlements_total"]
    for claim in summary["claim_chunks"].values():
        assert all(chunk["applied"] == 1 for chunk in claim["per_chunk"].values()), claim  # each chunk once


def assert_archive_whole(world: World) -> None:
    """Every logged print has its complete archive file, every file its print-log row, no leftovers."""
    with world.ctx.transaction() as session:
        logged = sorted(session.scalars(select(PrintLog.archive_path)))
    files = sorted(str(p) for p in world.archive.iterdir()) if world.archive.exists() else []
    assert files == logged  # no temporary file, no file without its row, no row without its file
    for name in files:
        content = Path(name).read_bytes()
        assert content.startswith(b"%PDF") and b"%%EOF" in content[-32:], name


def stay_ids(world: World) -> list[int]:
    with world.ctx.transaction() as session:
        return list(session.scalars(select(Stay.id).order_by(Stay.id)))


def settlements_of(world: World, stay_id: int) -> list[int]:
    with world.ctx.transaction() as session:
        return list(session.scalars(select(Settlement.id).where(
            Settlement.stay_id == stay_id, Settlement.kind == SettlementKind.SETTLEMENT).order_by(Settlement.id)))


def admitted_with_lines(world: World) -> int:
    _, outcome = admit_worker(world.ctx, world.client, world.cashier, ZHANG_WEI_CARD, form("ZY-CRASH-1"))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    add_lines(world.ctx, outcome.stay_id, world.cashier, 8)  # 10 lines: one upload call
    return outcome.stay_id


def settled(world: World) -> tuple[int, int]:
    stay_id = admitted_with_lines(world)
    outcome = settle_stay(world.ctx, world.client, stay_id, world.cashier, centre_today())
    return stay_id, outcome.settlement_id


def print_slip(world: World, settlement_id: int) -> MarkKind:
    from printing.templates import render_slip

    with world.ctx.transaction() as session:
        data = prepare_slip(session, settlement_id, world.cashier)
        commit_issue(session, data, render_slip(data), operator_id=world.cashier.id, printer="测试",
                     folder=world.archive)
    return data.mark.kind


# --- one scenario a step --------------------------------------------------------------------------------


def walk_admission(world: World, stage: str) -> None:
    kill_at(world, f"admission.{stage}", "admit", ZHANG_WEI_CARD)
    report = restart(world)
    if stage == "stay_stored":
        # Killed between the stay and its outbox entry (issue 21 B5): one transaction, so nothing
        # is left half done — no stay, nothing at the centre — and the 住院号 can be admitted.
        assert report.summary == ""
        assert stay_ids(world) == []
        assert world.sandbox.summary()["registrations"]["open"] == 0
        _, outcome = admit_worker(world.ctx, world.client, world.cashier, ZHANG_WEI_CARD, form("ZY-CRASH-1"))
        assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
        assert world.sandbox.summary()["registrations"]["open"] == 1
        assert_books_agree(world)
        return
    [stay_id] = stay_ids(world)
    expected = {
        "written": "已恢复：作废未发出的请求 1 笔（入院登记 1）；住院登记 1 人次未取得就医登记号，已转为补传（联网后自动重新登记）",
        "answered": "已恢复：入院登记 1 笔（中心已办理，已补记）",
        "applied": "",
    }[stage]
    assert report.summary == expected
    assert_books_agree(world)
    if stage == "written":
        assert world.sandbox.summary()["registrations"]["open"] == 0
        assert report.admissions_to_resend == (stay_id,)
        recheck_offline_admissions(world.ctx, world.client, world.cashier)  # the clerk's 补传
    with world.ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.registration_no is not None and not stay.registered_offline
    assert world.sandbox.summary()["registrations"]["open"] == 1  # registered once
    assert_books_agree(world)


def walk_admission_cancel(world: World, stage: str) -> None:
    """撤销入院登记 (2404) killed around its call (issue 21 §3): on restart the entry is voided (not sent)
    or completed from the centre's answer (the applier clears the 就医登记号, the stay reads 已撤销);
    a second 2404 is never sent."""
    from app.workflow.admission_correction import cancel_registration

    _, outcome = admit_worker(world.ctx, world.client, world.cashier, ZHANG_WEI_CARD, form("ZY-CRASH-1"))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    stay_id = outcome.stay_id
    kill_at(world, f"admission_cancel.{stage}", "uncancel", str(stay_id))
    report = restart(world)
    expected = {
        "written": "已恢复：作废未发出的请求 1 笔（撤销入院登记 1）",
        "answered": "已恢复：撤销入院登记 1 笔（中心已办理，已补记）",
        "applied": "",
    }[stage]
    assert report.summary == expected
    assert_books_agree(world)
    if stage == "written":
        assert world.sandbox.summary()["registrations"]["cancelled"] == 0  # the void was never sent
        cancel_registration(world.ctx, world.client, stay_id, "登记错了人", world.reviewer)
    with pytest.raises(WorkflowError):  # never cancelled twice
        cancel_registration(world.ctx, world.client, stay_id, "登记错了人", world.reviewer)
    registrations = world.sandbox.summary()["registrations"]
    assert (registrations["cancelled"], registrations["open"]) == (1, 0)
    with world.ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.registration_no is None
    assert len([c for c in world.sandbox.admin("GET", "/admin/calls")["calls"]
                if c["infno"] == "2404" and c["outcome"] == "applied"]) == 1
    assert_books_agree(world)


def walk_fee_upload(world: World, stage: str) -> None:
    stay_id = admitted_with_lines(world)
    kill_at(world, f"fee_upload.{stage}", "upload", str(stay_id))
    report = restart(world)
    expected = {
        "written": "已恢复：作废未发出的请求 1 笔（费用明细上传 1）",
        "answered": "已恢复：费用明细上传 1 笔（中心已办理，已补记）",
        "applied": "",
    }[stage]
    assert report.summary == expected
    assert_books_agree(world)
    assert world.sandbox.summary()["live_lines"] == (0 if stage == "written" else 10)
    # The clerk settles: the lines the centre holds are not sent twice, the rest go up once.
    outcome = settle_stay(world.ctx, world.client, stay_id, world.cashier, centre_today())
    assert_matches_centre(world.ctx, world.client, outcome.settlement_id)
    assert world.sandbox.summary()["live_lines"] == 10
    assert_books_agree(world)


def walk_fee_cancel(world: World, stage: str) -> None:
    """Issue 21 B3: a line changed after its upload is cancelled at the centre (2302) before the
    settlement; whenever the outcome is learnt, the local lines follow it, so the stay settles."""
    stay_id = admitted_with_lines(world)
    upload_lines(world.ctx, world.client, stay_id, world.cashier)
    with world.ctx.transaction() as session:
        line = session.scalars(select(ChargeLine).where(ChargeLine.stay_id == stay_id, ChargeLine.seq == 1)).one()
        # What the 伤病分离 service does to a line the centre holds: flag changed, marked for re-upload.
        line.injury = False
        line.injury_override_reason = "经核实为既往病"
        line.override_approved_by = world.cashier.id
        line.uploaded_at = None
    kill_at(world, f"fee_cancel.{stage}", "settle", str(stay_id))
    report = restart(world)
    expected = {
        "written": "已恢复：作废未发出的请求 1 笔（撤销费用明细 1）",
        "answered": "已恢复：撤销费用明细 1 笔（中心已办理，已补记）",
        "applied": "",
    }[stage]
    assert report.summary == expected
    if stage != "written":  # written: the centre still holds line 1, marked here for re-upload
        assert_books_agree(world)
    assert world.sandbox.summary()["live_lines"] == (10 if stage == "written" else 9)
    # The clerk settles again: the line is cancelled (once) if it still has to be, then sent again.
    outcome = settle_stay(world.ctx, world.client, stay_id, world.cashier, centre_today())
    assert_matches_centre(world.ctx, world.client, outcome.settlement_id)
    assert world.sandbox.summary()["live_lines"] == 10
    assert world.sandbox.summary()["settlements"]["live"] == 1
    assert_books_agree(world)


def walk_settlement(world: World, stage: str) -> None:
    stay_id = admitted_with_lines(world)
    upload_lines(world.ctx, world.client, stay_id, world.cashier)
    kill_at(world, f"settlement.{stage}", "settle", str(stay_id))
    output = restart_by_cli(world)
    expected = {
        "written": "已恢复：作废未发出的请求 1 笔（出院结算 1）",
        "answered": "已恢复：出院结算 1 笔（中心已办理，已补记）",
        "applied": None,
    }[stage]
    if expected is None:
        assert "已恢复" not in output
    else:
        assert expected in output.splitlines()
    assert_books_agree(world)
    if stage == "written":
        assert settlements_of(world, stay_id) == [] and world.sandbox.summary()["settlements"]["live"] == 0
        settle_stay(world.ctx, world.client, stay_id, world.cashier, centre_today())  # the clerk settles again
    # Nothing lost: the settlement the centre made is recorded here, as the centre has it, and prints.
    [settlement_id] = settlements_of(world, stay_id)
    assert world.sandbox.summary()["settlements"]["live"] == 1
    assert_matches_centre(world.ctx, world.client, settlement_id)
    assert print_slip(world, settlement_id) is MarkKind.ORIGINAL
    with pytest.raises(WorkflowError):  # never settled twice
        settle_stay(world.ctx, world.client, stay_id, world.cashier, centre_today())
    assert_books_agree(world)
    assert_archive_whole(world)


def walk_cancellation(world: World, stage: str) -> None:
    stay_id, settlement_id = settled(world)
    kill_at(world, f"cancellation.{stage}", "cancel", str(settlement_id))
    recovered = restart_by_window(world)
    expected = {
        "written": "已恢复：作废未发出的请求 1 笔（撤销结算 1）",
        "answered": "已恢复：撤销结算 1 笔（中心已办理，已补记）",
        "applied": "",
    }[stage]
    assert recovered == expected
    assert_books_agree(world)
    if stage == "written":
        assert world.sandbox.summary()["cancellations"] == 0
        cancel_settlement(world.ctx, world.client, settlement_id, world.reviewer, "结算信息有误")
    with pytest.raises(WorkflowError, match="已经撤销过"):  # never cancelled twice
        cancel_settlement(world.ctx, world.client, settlement_id, world.reviewer, "结算信息有误")
    summary = world.sandbox.summary()
    assert (summary["cancellations"], summary["settlements"]["live"]) == (1, 0)
    with world.ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status.value == "pending_settlement"  # may be settled again
    assert_books_agree(world)


def walk_claim_upload(world: World, stage: str) -> None:
    assert seed_demo_month(world.ctx, world.client, world.cashier) == 3
    claim = build_claim(world.ctx, previous_month(centre_today()), world.reviewer, today=centre_today()).claim
    kill_at(world, f"claim_upload.{stage}", "claim", str(claim.claim_id), passage=2)  # the second chunk
    report = restart(world)
    interrupted = "月度结算申请批次 {batch} 上传未完成（中心已收 {n}/2 片），请继续上传，已收的分片不会重复"
    expected = {
        "written": ["作废未发出的请求 1 笔（月度结算申请上传 1）", interrupted.format(batch=claim.batch_no, n=1)],
        "answered": ["月度结算申请上传 1 笔（中心已办理，已补记）", interrupted.format(batch=claim.batch_no, n=2)],
        "applied": [interrupted.format(batch=claim.batch_no, n=2)],
    }[stage]
    assert report.parts == expected
    assert_books_agree(world)
    done = upload_claim(world.ctx, world.client, claim.claim_id, world.reviewer)  # the clerk uploads again
    assert done.completed and (done.chunks_done, done.chunks) == (2, 2)
    summary = world.sandbox.summary()
    assert summary["claimed_settlements"] == 3
    per_chunk = summary["claim_chunks"][claim.batch_no]["per_chunk"]
    assert {chunk: counts["applied"] for chunk, counts in per_chunk.items()} == {"1": 1, "2": 1}  # once each
    with world.ctx.transaction() as session:
        assert session.get(MonthlyClaim, claim.claim_id).status.value == "uploaded"  # type: ignore[union-attr]
    assert_books_agree(world)


def applied_calls(world: World, infno: str) -> int:
    """How often the centre executed a call of this transaction (reversed ones included)."""
    return len([c for c in world.sandbox.admin("GET", "/admin/calls")["calls"]
                if c["infno"] == infno and c["outcome"] in ("applied", "reversed")])


def open_entries(world: World) -> int:
    with world.ctx.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.state == OutboxState.SENT)) or 0)


def walk_full_payment(world: World, stage: str) -> None:
    """补登记 of a stay paid in full (2306, `003 §17`) killed around its call: on restart it is voided
    (not sent) or recorded from the centre's answer; the centre holds it once, the receipt reads
    已补登记 here, and a second 补登记 is refused without a call."""
    stay_id = admitted_with_lines(world)
    receipt_id = issue_full_payment(world.ctx, stay_id, world.cashier, centre_today())
    kill_at(world, f"full_payment.{stage}", "backfill", str(stay_id))
    report = restart(world)
    expected = {
        "written": "已恢复：作废未发出的请求 1 笔（全额垫付补登记 1）",
        "answered": "已恢复：全额垫付补登记 1 笔（中心已办理，已补记）",
        "applied": "",
    }[stage]
    assert report.summary == expected
    assert_books_agree(world)
    if stage == "written":
        assert world.sandbox.summary()["registrations"]["paid_in_full"] == 0
        backfill(world.ctx, world.client, stay_id, world.cashier)  # the clerk does it again
    with pytest.raises(WorkflowError, match="不会重复补登记"):  # never registered twice
        backfill(world.ctx, world.client, stay_id, world.cashier)
    with world.ctx.transaction() as session:
        receipt = session.get(FullPaymentReceipt, receipt_id)
        assert receipt is not None and receipt.backfilled_at is not None and receipt.settlement_id is None
    summary = world.sandbox.summary()
    assert summary["registrations"]["paid_in_full"] == 1 and summary["settlements"]["live"] == 0
    assert applied_calls(world, "2306") == 1
    assert_books_agree(world)


def walk_reversal(world: World, stage: str) -> None:
    """A reviewer's 冲正 (2601) of a settlement, killed around its call: on restart the same reversal
    is sent again or recorded from the centre's answer, so the settlement is reversed once at the
    centre and cancelled once here (the stay 待结算 again); a second 冲正 changes nothing."""
    stay_id, settlement_id = settled(world)
    with world.ctx.transaction() as session:
        settlement = session.get(Settlement, settlement_id)
        assert settlement is not None and settlement.msgid is not None
        msgid = settlement.msgid
    kill_at(world, f"reversal.{stage}", "reverse", msgid)
    report = restart(world)
    expected = {
        "written": "已恢复：出院结算 1 笔已被冲正",
        "answered": "已恢复：出院结算 1 笔已被冲正",
        "applied": "",
    }[stage]
    assert report.summary == expected
    assert_books_agree(world)
    summary = world.sandbox.summary()
    assert (summary["settlements"]["reversed"], summary["settlements"]["live"]) == (1, 0)
    assert applied_calls(world, "2601") == 1  # the reversal executed once, whenever its answer was learnt
    again = world.client.reverse(msgid)  # a second 冲正: already done, nothing reversed twice
    assert not again.changed
    with world.ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Settlement).where(
            Settlement.reverses_id == settlement_id)) == 1  # cancelled here once
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status.value == "pending_settlement"
    assert_books_agree(world)
    # The stay settles again, once.
    outcome = settle_stay(world.ctx, world.client, stay_id, world.cashier, centre_today())
    assert_matches_centre(world.ctx, world.client, outcome.settlement_id)
    assert world.sandbox.summary()["settlements"]["live"] == 1
    assert_books_agree(world)


def _admitted_offline(world: World) -> int:
    """入院登记 while the centre refuses connections: the stay is kept, its registration queued."""
    identification = Identification("card", ZHANG_WEI_CARD)
    person = look_up(world.client, identification, world.cashier)  # read just before the link dropped
    world.sandbox.arm("refuse_connections", seconds=3.0)
    time.sleep(0.3)  # the sandbox stops listening right after answering the admin call
    down = open_workflow_centre(world.ctx, world.cashier)
    try:
        outcome = admit(world.ctx, down, person, form("ZY-CRASH-1"), world.cashier, identification)
    finally:
        down.close()
    assert outcome.offline and outcome.stay_id is not None
    world.sandbox.wait_ready()  # listening again once the outage is over
    return outcome.stay_id


def walk_queued(world: World, stage: str) -> None:
    """An admission queued while the centre was down, sent by 补传 (`Outbox.send_queued`) and killed
    around its call: on restart it is voided and flagged for 补传 again, or its 就医登记号 recorded
    from the centre's answer; the worker is registered once."""
    stay_id = _admitted_offline(world)
    kill_at(world, f"queued.{stage}", "resend", "-")
    report = restart(world)
    expected = {
        "written": "已恢复：作废未发出的请求 1 笔（入院登记 1）；住院登记 1 人次未取得就医登记号，已转为补传（联网后自动重新登记）",
        "answered": "已恢复：入院登记 1 笔（中心已办理，已补记）",
        "applied": "",
    }[stage]
    assert report.summary == expected
    assert_books_agree(world)
    assert world.sandbox.summary()["registrations"]["open"] == (0 if stage == "written" else 1)
    recheck_offline_admissions(world.ctx, world.client, world.cashier)  # the clerk's 补传
    with world.ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.registration_no is not None and not stay.registered_offline
    assert world.sandbox.summary()["registrations"]["open"] == 1  # registered once
    assert applied_calls(world, "2401") == 1
    assert_books_agree(world)


def walk_recovery(world: World, stage: str) -> None:
    """The start-up recovery itself killed: after the first of several open entries is resolved, or
    after the outbox is resolved and before a voided admission is flagged for 补传. The next start
    finishes the job: the books agree, every line lands once, the worker is registered once."""
    if stage == "outbox_resolved":
        kill_at(world, "admission.written", "admit", ZHANG_WEI_CARD)
        kill_at(world, "recovery.outbox_resolved", "resolve", "-")
        assert open_entries(world) == 0  # the registration was voided, the stay not flagged yet
        report = restart(world)
        [stay_id] = stay_ids(world)
        assert report.summary == "已恢复：住院登记 1 人次未取得就医登记号，已转为补传（联网后自动重新登记）"
        assert report.admissions_to_resend == (stay_id,)
        assert_books_agree(world)
        recheck_offline_admissions(world.ctx, world.client, world.cashier)  # the clerk's 补传
        with world.ctx.transaction() as session:
            stay = session.get(Stay, stay_id)
            assert stay is not None and stay.registration_no is not None and not stay.registered_offline
        assert world.sandbox.summary()["registrations"]["open"] == 1
        assert applied_calls(world, "2401") == 1
        assert_books_agree(world)
        return
    # Several upload calls in flight when the process died (issue 25): several open entries.
    world.sandbox.admin("POST", "/admin/latency", {"ms": 50, "jitter_ms": 10})
    _, outcome = admit_worker(world.ctx, world.client, world.cashier, ZHANG_WEI_CARD, form("ZY-CRASH-1"))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    stay_id = outcome.stay_id
    add_lines(world.ctx, stay_id, world.cashier, 1008)
    kill_at(world, "fee_upload.written", "upload", str(stay_id), passage=5)
    before = open_entries(world)
    assert before >= 2, before
    kill_at(world, "recovery.entry_resolved", "resolve", "-")
    assert open_entries(world) == before - 1  # one resolved, the others still open
    report = restart(world)
    assert "已恢复" in report.summary and report.still_open == 0
    assert_books_agree(world)
    settled_outcome = settle_stay(world.ctx, world.client, stay_id, world.cashier, centre_today())
    assert_matches_centre(world.ctx, world.client, settled_outcome.settlement_id)
    assert world.sandbox.summary()["live_lines"] == 1010
    with world.ctx.transaction() as session:
        applied = session.scalars(select(OutboxEntry.request).where(
            OutboxEntry.operation == Operation.FEE_UPLOAD.value, OutboxEntry.state == OutboxState.SUCCEEDED)).all()
    assert sorted(int(line["seq"]) for request in applied for line in request["lines"]) == list(range(1, 1011))
    assert_books_agree(world)


def walk_slip(world: World, stage: str) -> None:
    _, settlement_id = settled(world)
    point = {"written": "slip.before_log_commit", "answered": "slip.logged", "applied": "slip.archived"}[stage]
    kill_at(world, point, "slip", str(settlement_id))
    leftovers = list(world.archive.glob(".*.part"))
    if stage == "written":
        # A minute later (another counter sharing the folder may be mid-print until then).
        [part] = leftovers
        old = (dt.datetime.now() - dt.timedelta(minutes=2)).timestamp()
        os.utime(part, (old, old))
    report = restart(world)
    expected = {
        "written": "已恢复：未记录的结算单打印 1 份已清除（请重新打印）",
        "answered": "已恢复：结算单存档补全 1 份",
        "applied": "",
    }[stage]
    assert report.summary == expected
    assert_archive_whole(world)
    # The next print: 原件 again when the crash came before the print was on record, else 补打 1.
    mark = print_slip(world, settlement_id)
    assert mark is (MarkKind.ORIGINAL if stage == "written" else MarkKind.REPRINT)
    assert_archive_whole(world)
    assert_books_agree(world)


WALKS: dict[str, Callable[[World, str], None]] = {
    "admission": walk_admission, "admission_cancel": walk_admission_cancel, "fee_upload": walk_fee_upload,
    "fee_cancel": walk_fee_cancel,
    "settlement": walk_settlement,
    "cancellation": walk_cancellation, "claim_upload": walk_claim_upload, "slip": walk_slip,
    "full_payment": walk_full_payment, "reversal": walk_reversal, "queued": walk_queued, "recovery": walk_recovery,
}
SLIP_STAGES = {"slip.before_log_commit": "written", "slip.logged": "answered", "slip.archived": "applied"}


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_killed_at_the_point_and_restarted_the_books_agree(point: str, world: World) -> None:
    step, _, stage = point.partition(".")
    WALKS[step](world, SLIP_STAGES.get(point, stage))


def test_every_step_has_its_points() -> None:
    assert {point.partition(".")[0] for point in CRASH_POINTS} == set(STEPS) == set(WALKS)
    assert set(SLIP_STAGES) <= set(CRASH_POINTS)


# --- killed while the recovery voids an unsent call (2601 sent by the resolver) ------------------------


@pytest.mark.parametrize("stage", ["written", "answered", "applied"])
def test_killed_while_recovery_voids_an_unsent_settlement(stage: str, world: World) -> None:
    """A settlement written and never sent; the next start voids it at the centre (2601) and dies around
    that reversal. The start after finishes the void once: nothing settled, the clerk told what was
    voided (unless the void was recorded before the kill), and the stay settles once."""
    stay_id = admitted_with_lines(world)
    upload_lines(world.ctx, world.client, stay_id, world.cashier)
    kill_at(world, "settlement.written", "settle", str(stay_id))
    kill_at(world, f"reversal.{stage}", "resolve", "-")
    report = restart(world)
    expected = "" if stage == "applied" else "已恢复：作废未发出的请求 1 笔（出院结算 1）"
    assert report.summary == expected
    assert_books_agree(world)
    summary = world.sandbox.summary()
    assert settlements_of(world, stay_id) == [] and summary["settlements"]["live"] == 0
    assert applied_calls(world, "2304") == 0 and applied_calls(world, "2601") == 1  # voided once, never applied
    with world.ctx.transaction() as session:
        entries = [(operation, state) for operation, state in session.execute(
            select(OutboxEntry.operation, OutboxEntry.state).order_by(OutboxEntry.seq))]
    assert entries == [(Operation.ADMISSION.value, OutboxState.SUCCEEDED),
                       (Operation.FEE_UPLOAD.value, OutboxState.SUCCEEDED),
                       (Operation.SETTLEMENT.value, OutboxState.FAILED),  # voided, never applied
                       (Operation.REVERSAL.value, OutboxState.SUCCEEDED)]  # one reversal
    outcome = settle_stay(world.ctx, world.client, stay_id, world.cashier, centre_today())  # the clerk settles again
    assert_matches_centre(world.ctx, world.client, outcome.settlement_id)
    assert world.sandbox.summary()["settlements"]["live"] == 1
    assert_books_agree(world)


# --- killed with several upload calls in flight (issue 25 §2) -------------------------------------------


@pytest.mark.parametrize("point", ["fee_upload.written#5", "fee_upload.answered#4", "fee_upload.applied#3"])
def test_killed_mid_parallel_upload_every_line_lands_once(point: str, world: World) -> None:
    """1,010 lines, eleven calls, several in flight over a 50 ms link when the process dies: those
    written and unsent are voided, those the centre applied are recorded (the reply was lost with the
    process), the rest go up at the settlement — every line once."""
    world.sandbox.admin("POST", "/admin/latency", {"ms": 50, "jitter_ms": 10})
    _, outcome = admit_worker(world.ctx, world.client, world.cashier, ZHANG_WEI_CARD, form("ZY-CRASH-1"))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    stay_id = outcome.stay_id
    add_lines(world.ctx, stay_id, world.cashier, 1008)
    name, _, passage = point.partition("#")
    kill_at(world, name, "upload", str(stay_id), passage=int(passage))
    with world.ctx.transaction() as session:
        in_flight = session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.state == OutboxState.SENT))
    assert in_flight >= 1  # the kill left calls with no known outcome
    report = restart(world)
    assert "已恢复" in report.summary
    assert_books_agree(world)
    settled_outcome = settle_stay(world.ctx, world.client, stay_id, world.cashier, centre_today())
    assert_matches_centre(world.ctx, world.client, settled_outcome.settlement_id)
    assert_books_agree(world)
    assert world.sandbox.summary()["live_lines"] == 1010
    with world.ctx.transaction() as session:
        applied = session.scalars(select(OutboxEntry.request).where(
            OutboxEntry.operation == Operation.FEE_UPLOAD.value, OutboxEntry.state == OutboxState.SUCCEEDED)).all()
    seqs = sorted(int(line["seq"]) for request in applied for line in request["lines"])
    assert seqs == list(range(1, 1011))  # each line in exactly one applied call
