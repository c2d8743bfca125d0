"""When the centre is down (`003 §17`), with the sandbox's real fault injection, both databases.

- At discharge: the worker pays in full (全额垫付 receipt), the stay waits for 补登记; when the
  link is back 补登记 tells the centre it was paid in full — nothing is settled, nothing refunded,
  a second 补登记 and a later direct settlement are refused (003 §17, 000 §34).
- A settlement whose reply is lost and whose outcome cannot be asked at once is recorded later,
  by the resolver (any client the program opens), exactly once.
- An admission made while the centre is unreachable is queued, sent and checked again when the
  link returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import CentreUnavailable, Operation, OutcomeUnknown
from app.composition import open_counter_centre, open_workflow_centre
from app.db.models import (
    AuditEvent,
    FilingCheck,
    FullPaymentReceipt,
    OutboxEntry,
    OutboxState,
    Settlement,
    Stay,
    StayStatus,
)
from app.operators import OperatorInfo
from app.recovery import recover_at_start
from app.workflow.admission import Identification, admit, look_up, recheck_offline_admissions
from app.workflow.common import WorkflowError
from app.workflow.discharge import backfill, issue_full_payment, settle_stay, stays_awaiting_backfill
from app.workflow.stays import list_stays
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    ZHANG_WEI_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    assert_matches_centre,
    centre_today,
    form,
)

OUTAGE_SECONDS = 6.0  # long enough for the steps made while it lasts, on a loaded machine
T = TypeVar("T")


def _centre_goes_down(sandbox: SandboxProcess) -> None:
    sandbox.arm("refuse_connections", seconds=OUTAGE_SECONDS)
    time.sleep(0.3)  # the sandbox stops listening right after answering the admin call


def _settlements(ctx: CounterContext, stay_id: int) -> int:
    with ctx.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Settlement).where(Settlement.stay_id == stay_id))
                   or 0)


def test_full_payment_then_backfill_registers_it_and_nothing_is_ever_settled(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    """003 §17, 000 §34, 001 §16: the worker pays in full, the insured place reimburses the worker;
    the fund pays the hospital nothing for the stay. 补登记 tells the centre the stay was paid in full
    (the day the fault clears): it settles nothing and refunds nothing at the window."""
    _, admitted = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-O-1"))
    assert admitted.stay_id is not None
    stay_id = admitted.stay_id
    total = add_lines(counter, stay_id, cashier, 20)

    _centre_goes_down(sandbox)
    # A counter that opens its link now finds nobody listening (a kept-alive connection might not).
    down = open_workflow_centre(counter, cashier)
    try:
        with pytest.raises(CentreUnavailable):
            settle_stay(counter, down, stay_id, cashier, centre_today())
        # 全额垫付: the worker pays everything; the stay waits for 补登记 (`003 §17`).
        receipt_id = issue_full_payment(counter, stay_id, cashier, centre_today())
        with counter.transaction() as session:
            receipt = session.get(FullPaymentReceipt, receipt_id)
            assert receipt is not None and receipt.amount == total and receipt.settlement_id is None
            assert receipt.receipt_no.startswith(f"QE{centre_today():%Y%m%d}")
            assert stays_awaiting_backfill(session) == [stay_id]
            [summary] = list_stays(session, status=StayStatus.PENDING_BACKFILL)
            assert summary.status_label == "待补登记" and summary.masked_id == "440802********1236"
        with pytest.raises(WorkflowError, match="不能全额垫付"):
            issue_full_payment(counter, stay_id, cashier, centre_today())
        with pytest.raises(CentreUnavailable):  # still down: nothing registered, still waiting
            backfill(counter, down, stay_id, cashier)
        assert _settlements(counter, stay_id) == 0
    finally:
        down.close()

    sandbox.wait_ready()
    back = open_workflow_centre(counter, cashier)
    try:
        outcome = _retry_until_listening(lambda: backfill(counter, back, stay_id, cashier))
        # Paid in full, and nothing goes back to the worker at the window (003 §17).
        assert outcome.paid_in_full == total and outcome.refund_to_worker == Decimal("0.00")
        assert "参保地" in outcome.message and "003 §17" in outcome.message
        with counter.transaction() as session:
            receipt = session.get(FullPaymentReceipt, receipt_id)
            assert receipt is not None and receipt.settlement_id is None and receipt.backfilled_at is not None
            stay = session.get(Stay, stay_id)
            assert stay is not None and stay.status is StayStatus.PENDING_BACKFILL  # paid in full, for good
            assert stays_awaiting_backfill(session) == []
            [summary] = list_stays(session, status=StayStatus.PENDING_BACKFILL)
            assert summary.status_label == "已全额垫付（已补登记）"
            actions = set(session.scalars(select(AuditEvent.action)))
            assert {"full_payment_issued", "full_payment_registered"} <= actions
            assert "full_payment_backfilled" not in actions
        # The centre holds the stay as paid in full: no settlement, so nothing for a monthly claim.
        centre = sandbox.summary()
        assert centre["settlements"]["live"] == 0 and centre["registrations"]["paid_in_full"] == 1
        # A second 补登记 is refused politely; nothing is sent.
        with pytest.raises(WorkflowError, match="不会重复补登记"):
            backfill(counter, back, stay_id, cashier)
        # Never settled directly afterwards (000 §34: the insured place reimburses it).
        with pytest.raises(WorkflowError, match="全额垫付.*不能再联网结算"):
            settle_stay(counter, back, stay_id, cashier, centre_today())
    finally:
        back.close()
    assert _settlements(counter, stay_id) == 0
    assert sandbox.summary()["settlements"]["live"] == 0


def _retry_until_listening(call: Callable[[], T]) -> T:
    """The sandbox listens again after its outage: retry a call refused for want of a connection."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return call()
        except CentreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_lost_settlement_reply_is_recorded_later_exactly_once(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    _, admitted = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-U-1"))
    assert admitted.stay_id is not None
    stay_id = admitted.stay_id
    add_lines(counter, stay_id, cashier, 15)
    # The centre settles but the reply is lost, and for a while it cannot be asked either.
    sandbox.arm("drop_after_commit", "2304")
    sandbox.arm("drop_after_commit", "5101", times=50)
    with pytest.raises(OutcomeUnknown):
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert _settlements(counter, stay_id) == 0
    with counter.transaction() as session:
        entry = session.scalars(select(OutboxEntry).where(
            OutboxEntry.operation == Operation.SETTLEMENT.value)).one()
        assert entry.state is OutboxState.SENT
    # Paying in full now could pay twice: refused while the outcome is unknown.
    with pytest.raises(WorkflowError, match="结果尚未确定"):
        issue_full_payment(counter, stay_id, cashier, centre_today())

    sandbox.admin("DELETE", "/admin/faults")
    # The status bar's resolver: a client opened with the defaults (the system operator).
    resolver = open_counter_centre(counter)
    try:
        resolver.resolve_open()
        resolver.resolve_open()  # nothing left: nothing recorded twice
    finally:
        resolver.close()
    assert _settlements(counter, stay_id) == 1
    with counter.transaction() as session:
        settlement = session.scalars(select(Settlement).where(Settlement.stay_id == stay_id)).one()
        assert settlement.operator_id == cashier.id  # the clerk who settled, not the resolver
        entry = session.scalars(select(OutboxEntry).where(
            OutboxEntry.operation == Operation.SETTLEMENT.value)).one()
        assert (entry.state, entry.resolution) == (OutboxState.SUCCEEDED, "query")
        assert settlement.msgid == entry.msgid
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status is StayStatus.SETTLED
    assert_matches_centre(counter, wf_client, settlement.id)
    assert sandbox.summary()["settlements"]["live"] == 1


def test_offline_admission_is_sent_and_checked_again_when_the_link_returns(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    identification = Identification("card", ZHANG_WEI_CARD)
    person = look_up(wf_client, identification, cashier)  # read just before the link dropped
    _centre_goes_down(sandbox)
    down = open_workflow_centre(counter, cashier)
    try:
        outcome = admit(counter, down, person, form("ZY-OFF-1"), cashier, identification)
    finally:
        down.close()
    assert outcome.offline and outcome.registration_no is None and outcome.check.allowed
    with counter.transaction() as session:
        stay = session.get(Stay, outcome.stay_id)
        assert stay is not None and stay.registered_offline and stay.status is StayStatus.ADMITTED
        queued = session.scalars(select(OutboxEntry).where(OutboxEntry.state == OutboxState.PENDING)).one()
        assert queued.operation == Operation.ADMISSION.value and queued.stay_id == stay.id
        [summary] = list_stays(session, search="ZY-OFF-1")
        assert summary.registered_offline

    sandbox.wait_ready()
    back = open_workflow_centre(counter, cashier)
    try:
        checks = _retry_until_listening(lambda: recheck_offline_admissions(counter, back, cashier))
    finally:
        back.close()
    assert len(checks) == 1 and checks[0].allowed and checks[0].stage == "admission"
    with counter.transaction() as session:
        stay = session.get(Stay, outcome.stay_id)
        assert stay is not None and stay.registration_no is not None and not stay.registered_offline
        stored = session.get(FilingCheck, checks[0].check_id)
        assert stored is not None and stored.inputs["recheck_of_offline_admission"] is True
        assert session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.state == OutboxState.PENDING)) == 0
    assert sandbox.summary()["registrations"]["open"] == 1


def test_an_admission_left_between_its_commits_is_found_by_recovery_and_registered_once(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    """Issue 21 B5: a kill after the registration call failed (unsent) and before it was queued leaves a
    stay with no 就医登记号, no call waiting and no 补传 flag. Recovery finds it and flags it for 补传;
    补传 registers it once."""
    identification = Identification("card", ZHANG_WEI_CARD)
    person = look_up(wf_client, identification, cashier)
    _centre_goes_down(sandbox)
    down = open_workflow_centre(counter, cashier)
    try:
        outcome = admit(counter, down, person, form("ZY-HALF-1"), cashier, identification)
    finally:
        down.close()
    assert outcome.offline and outcome.stay_id is not None
    with counter.transaction() as session:
        # What the kill between the failed call's commit and the queueing's commit leaves behind.
        queued = session.scalars(select(OutboxEntry).where(OutboxEntry.state == OutboxState.PENDING)).one()
        session.delete(queued)
        stay = session.get(Stay, outcome.stay_id)
        assert stay is not None
        stay.registered_offline = False
    sandbox.wait_ready()
    back = open_workflow_centre(counter, cashier)
    try:
        report = _retry_until_listening(lambda: recover_at_start(counter, back))
        assert report.admissions_to_resend == (outcome.stay_id,)
        assert "住院登记 1 人次未取得就医登记号，已转为补传" in report.summary
        recheck_offline_admissions(counter, back, cashier)  # the clerk's 补传
    finally:
        back.close()
    with counter.transaction() as session:
        stay = session.get(Stay, outcome.stay_id)
        assert stay is not None and stay.registration_no is not None and not stay.registered_offline
    assert sandbox.summary()["registrations"]["open"] == 1
