"""全额垫付 as the seeds have it (`003 §17`, `000 §34`, `001 §16`), against the real sandbox centre.

The worker pays in full; the insured place reimburses the worker; the fund pays the hospital
nothing for the stay, so it never enters a monthly claim; the counter never refunds the fund's
part and never settles that stay directly afterwards. In Guangdong the 补登记 is due the day the
fault clears (`003 §17`): shown as due that day, overdue after.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import CentreRefused, SettlementRequest
from app.claims.calendar import WorkingCalendar
from app.claims.service import ClaimError, build_claim
from app.claims.watch import watch
from app.composition import open_counter_centre
from app.db.models import FullPaymentReceipt, Settlement, Stay
from app.operators import OperatorInfo
from app.rules.profiles import load_profile
from app.workflow.centre_monitor import CentreMonitor
from app.workflow.discharge import backfill, issue_full_payment, note_fault_cleared, upload_lines
from app.workflow.stays import list_stays, open_stay_of_worker
from tests.workflow.stay_fixtures import *  # noqa: F403

REPO = Path(__file__).resolve().parents[2]
from tests.workflow.stay_fixtures import (
    ZHANG_WEI_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    centre_today,
    form,
)


LI_NA_CARD = "B44010002"  # 李娜: insured in 广州, filed for this hospital (guangdong-intra)


def _paid_in_full_stay(counter: CounterContext, client: CentreClient, cashier: OperatorInfo,
                       card: str = ZHANG_WEI_CARD, injury: tuple[str, str] = ("S82.201", "胫骨干骨折"),
                       ) -> tuple[int, int]:
    _, admitted = admit_worker(counter, client, cashier, card,
                               form("ZY-FP-1", diagnoses=(injury, ("I10", "原发性高血压"))))
    assert admitted.stay_id is not None
    add_lines(counter, admitted.stay_id, cashier, 10, injury_code=injury[0])
    receipt_id = issue_full_payment(counter, admitted.stay_id, cashier, centre_today())
    return admitted.stay_id, receipt_id


def _settlements(counter: CounterContext, stay_id: int) -> int:
    with counter.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Settlement)
                                  .where(Settlement.stay_id == stay_id)) or 0)


def test_a_stay_paid_in_full_is_never_settled_directly_nor_claimed(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess) -> None:
    """000 §34, 001 §16: the insured place reimburses a stay paid in full, so the counter must never
    settle it directly; 003 §17: the fund pays the hospital nothing for it (no monthly claim)."""
    stay_id, _ = _paid_in_full_stay(counter, wf_client, cashier)
    upload_lines(counter, wf_client, stay_id, cashier)
    with counter.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.registration_no is not None
        request = SettlementRequest(stay.registration_no, centre_today(), None, None, "")
    # A settlement that reaches the centre anyway (a call made outside the discharge page) is not
    # recorded by the counter, and the outbox takes it back at the centre (2601).
    with pytest.raises(CentreRefused) as refused:
        wf_client.settle(request, stay_id=stay_id, operator_id=cashier.id)
    assert "全额垫付" in refused.value.message
    assert _settlements(counter, stay_id) == 0
    assert sandbox.summary()["settlements"]["live"] == 0

    outcome = backfill(counter, wf_client, stay_id, cashier)
    assert outcome.refund_to_worker == 0
    # After 补登记 the centre itself refuses a direct settlement of the registration.
    with pytest.raises(CentreRefused) as again:
        wf_client.settle(request, stay_id=stay_id, operator_id=cashier.id)
    assert again.value.code == "3003" and "全额垫付" in again.value.message
    assert sandbox.summary()["settlements"]["live"] == 0
    # Nothing of the stay can join the month's claim (the fund pays the hospital nothing, 003 §17).
    next_month = (centre_today().replace(day=28) + dt.timedelta(days=5)).replace(day=1)
    with pytest.raises(ClaimError, match="没有可申报的结算记录"):
        build_claim(counter, f"{centre_today():%Y-%m}", reviewer, today=next_month)
    # Done at the counter: the worker's open stay is no longer this one.
    with counter.transaction() as session:
        assert open_stay_of_worker(session, "440802198503151236") is None


def test_the_backfill_is_due_on_beijings_day_whatever_this_machines_time_zone(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        machine_off_beijing: dt.date) -> None:
    """003 §17 near midnight: the fault cleared today in Beijing; the list, asked without a date, says
    due today (CI passed midnight in Beijing on a machine set to UTC and the list said otherwise)."""
    stay_id, receipt_id = _paid_in_full_stay(counter, wf_client, cashier, LI_NA_CARD, ("S62.300", "掌骨骨折"))
    monitor = CentreMonitor(counter, open_counter_centre)
    try:
        assert monitor.probe().state.value.startswith("online")
    finally:
        monitor.close()
    with counter.transaction() as session:
        [stay] = list_stays(session)
        assert stay.stay_id == stay_id
        assert stay.status_label == "待补登记（今日须办理）", stay.backfill_due
        assert str(machine_off_beijing) in stay.backfill_due
        # Cleared yesterday in Beijing: overdue now, whatever day this machine thinks it is.
        receipt = session.get(FullPaymentReceipt, receipt_id)
        assert receipt is not None
        receipt.fault_cleared_on = machine_off_beijing - dt.timedelta(days=1)
        session.flush()
        [late] = list_stays(session)
        assert late.status_label == "待补登记（已逾期）", late.backfill_due


def test_guangdong_backfill_is_due_the_day_the_fault_clears(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    """003 §17: 故障排除当日，协议机构应将相关费用结算信息向省集中系统做补登记处理."""
    stay_id, receipt_id = _paid_in_full_stay(counter, wf_client, cashier, LI_NA_CARD, ("S62.300", "掌骨骨折"))
    with counter.transaction() as session:
        assert session.scalar(select(Stay.profile).where(Stay.id == stay_id)) == "guangdong-intra"
        [waiting] = list_stays(session, today=centre_today())
        assert waiting.status_label == "待补登记" and waiting.backfill_due == ""  # the fault is not cleared yet
    # The window's link probe finds the centre answering: the fault is cleared today.
    monitor = CentreMonitor(counter, open_counter_centre)
    try:
        assert monitor.probe().state.value.startswith("online")
    finally:
        monitor.close()
    cleared = centre_today()
    with counter.transaction() as session:
        receipt = session.get(FullPaymentReceipt, receipt_id)
        assert receipt is not None and receipt.fault_cleared_on == cleared
        assert note_fault_cleared(session, cleared + dt.timedelta(days=1)) == 0  # the first day stays
        [today] = list_stays(session, today=cleared)
        assert today.status_label == "待补登记（今日须办理）" and "003 §17" in today.backfill_due
        [late] = list_stays(session, today=cleared + dt.timedelta(days=1))
        assert late.status_label == "待补登记（已逾期）" and str(cleared) in late.backfill_due
        profile = load_profile("guangdong-intra")
        [due] = [w for w in watch(session, profile=profile, calendar=WorkingCalendar(), today=cleared,
                                  warn_working_days=3) if "全额垫付" in w.deadline.subject]
        assert due.deadline.due == cleared and due.deadline.source == "003 §17"
        assert due.status.state == "due_soon" and "今天截止" in due.status.message
        [overdue] = [w for w in watch(session, profile=profile, calendar=WorkingCalendar(),
                                      today=cleared + dt.timedelta(days=1), warn_working_days=3)
                     if "全额垫付" in w.deadline.subject]
        assert overdue.status.state == "overdue"
    backfill(counter, wf_client, stay_id, cashier)
    with counter.transaction() as session:
        [done] = list_stays(session, today=cleared + dt.timedelta(days=1))
        assert done.status_label == "已全额垫付（已补登记）" and done.backfill_due == ""
        assert not [w for w in watch(session, profile=load_profile("guangdong-intra"), calendar=WorkingCalendar(),
                                     today=cleared, warn_working_days=3) if "全额垫付" in w.deadline.subject]


def test_jilin_sets_no_same_day_deadline() -> None:
    """Only Guangdong's seed dates the 补登记 (003 §17); Jilin's and the cross-province ones do not."""
    assert load_profile("guangdong-intra").backfill_on_fault_cleared
    assert load_profile("guangdong-intra").source_of("backfill_on_fault_cleared") == "003 §17"
    for name in ("jilin-intra", "beijing-cross", "national-cross"):
        assert not load_profile(name).backfill_on_fault_cleared


def test_stays_the_old_flow_settled_at_backfill_are_listed_and_never_settled_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        db_url: str, tmp_path: Path) -> None:
    """Before issue 23, 补登记 settled a stay paid in full and handed the fund's part back at the window.
    Such a receipt (linked to its settlement) is listed for a reviewer (`wi-counter stays
    --old-full-payments`, docs/full-payment.md); it is not 补登记'd again (003 §17)."""
    from app.workflow.discharge import settle_stay
    from app.workflow.stays import old_flow_full_payments

    # The old flow, as its database rows were left: settled directly, then the receipt linked to it.
    _, admitted = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-FP-OLD"))
    assert admitted.stay_id is not None
    add_lines(counter, admitted.stay_id, cashier, 4)
    settled = settle_stay(counter, wf_client, admitted.stay_id, cashier, centre_today())
    with counter.transaction() as session:
        session.add(FullPaymentReceipt(receipt_no="QE2026010100000001", stay_id=admitted.stay_id,
                                       amount=settled.total, issued_by=cashier.id, settlement_id=settled.settlement_id,
                                       backfilled_at=dt.datetime.now(dt.UTC)))
    with counter.transaction() as session:
        [old] = old_flow_full_payments(session)
    assert old.receipt_no == "QE2026010100000001" and old.settlement_id == settled.settlement_id
    assert old.fund_handed_back == settled.fund_total and old.claim_batch is None and not old.cancelled
    with pytest.raises(Exception, match="旧流程"):
        backfill(counter, wf_client, admitted.stay_id, cashier)

    # The one-off listing for the reviewer, on the command line (docs/full-payment.md).
    env = dict(os.environ, WI_COUNTER_HOME=str(tmp_path / "counter-home"), PYTHONPATH=str(REPO))
    listed = subprocess.run([sys.executable, "-m", "app", "--db", db_url, "stays", "--old-full-payments"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "QE2026010100000001" in listed.stdout and "已退还基金支付部分" in listed.stdout
    assert "440802198503151236" not in listed.stdout  # ID numbers masked


def test_a_lost_backfill_reply_is_recorded_later_exactly_once(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    """2306 is never lost nor doubled: its outcome is asked by msgid (5101) and recorded once."""
    from app.composition import open_counter_centre
    from app.centre.gateway import OutcomeUnknown

    stay_id, receipt_id = _paid_in_full_stay(counter, wf_client, cashier)
    sandbox.arm("drop_after_commit", "2306")
    sandbox.arm("drop_after_commit", "5101", times=50)
    with pytest.raises(OutcomeUnknown):
        backfill(counter, wf_client, stay_id, cashier)
    with counter.transaction() as session:
        receipt = session.get(FullPaymentReceipt, receipt_id)
        assert receipt is not None and receipt.backfilled_at is None
    sandbox.admin("DELETE", "/admin/faults")
    resolver = open_counter_centre(counter)  # the status bar's resolver, the program's default appliers
    try:
        resolver.resolve_open()
        resolver.resolve_open()
    finally:
        resolver.close()
    with counter.transaction() as session:
        receipt = session.get(FullPaymentReceipt, receipt_id)
        assert receipt is not None and receipt.backfilled_at is not None and receipt.backfilled_by == cashier.id
    assert sandbox.summary()["registrations"]["paid_in_full"] == 1
    assert sandbox.summary()["settlements"]["live"] == 0
    with pytest.raises(Exception, match="不会重复补登记"):
        backfill(counter, wf_client, stay_id, cashier)
