"""The claim against the real sandbox centre: last month's settlements made through the workflow,
the claim built, uploaded in chunks through faults (each chunk applied exactly once), resumed after
a stop, and the agency's answer with its per-line deductions stored (`000 §31`, `003 §20`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.claims.calendar import load_calendar
from app.claims.deductions import list_deductions, record_dispute
from app.demo.month import seed_demo_month
from app.claims.service import build_claim, claim_summary, previous_month
from app.claims.upload import fetch_answer, upload_claim
from app.db.models import ClaimDeduction, ClaimStatus, OutboxEntry
from app.operators import OperatorInfo
from app.workflow.admission import centre_today
from tests.workflow.stay_fixtures import *  # noqa: F403


def _claim_entries(counter: CounterContext) -> list[OutboxEntry]:
    with counter.transaction() as session:
        return list(session.scalars(select(OutboxEntry).where(OutboxEntry.operation == "claim_upload")
                                    .order_by(OutboxEntry.seq)))


@pytest.mark.parametrize("fault", ["drop_after_commit", "error"])
def test_last_months_claim_goes_up_through_a_fault_once_and_comes_back_audited(
        fault: str, counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo,
        reviewer: OperatorInfo, sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    assert seed_demo_month(counter, wf_client, cashier) == 3
    assert seed_demo_month(counter, wf_client, cashier) == 0  # last month has its settlements
    month = previous_month(centre_today())
    claim = build_claim(counter, month, reviewer, today=centre_today()).claim
    assert claim.person_times == 3
    monkeypatch.setattr(wire, "MAX_CLAIM_SETTLEMENTS_PER_CHUNK", 2)  # three settlements: two chunks

    # The clerk cancels after the first chunk: the upload stops between chunks, resumable.
    stop_after_first: list[int] = []
    stopped = upload_claim(counter, wf_client, claim.claim_id, reviewer,
                           progress=lambda done, chunks: stop_after_first.append(done),
                           should_stop=lambda: bool(stop_after_first) and stop_after_first[-1] >= 1)
    assert stopped.stopped and not stopped.completed and (stopped.chunks_done, stopped.chunks) == (1, 2)
    with counter.transaction() as session:
        assert claim_summary(session, claim.claim_id).status is ClaimStatus.UPLOADING

    # The second chunk meets a fault; uploading again finishes without sending any chunk twice.
    sandbox.arm(fault, wire.Transaction.CLAIM_UPLOAD.value)
    try:
        upload_claim(counter, wf_client, claim.claim_id, reviewer)
    except Exception as exc:  # noqa: BLE001 - the fault may surface as a refusal: shown, then resumed
        assert "续传" in getattr(exc, "message", "") or "中断" in getattr(exc, "message", "")
    done = upload_claim(counter, wf_client, claim.claim_id, reviewer)
    assert done.completed and done.claim.status is ClaimStatus.UPLOADED and done.chunks_done == 2

    summary = sandbox.summary()
    assert summary["claimed_settlements"] == 3
    # The centre applied each chunk exactly once, whatever the fault and the resumptions.
    per_chunk = summary["claim_chunks"][claim.batch_no]["per_chunk"]
    assert {chunk: (counts["applied"], counts["reversed"]) for chunk, counts in per_chunk.items()} == {
        "1": (1, 0), "2": (1, 0)}
    assert per_chunk["1"]["live_settlements"] + per_chunk["2"]["live_settlements"] == 3
    applied = [e for e in _claim_entries(counter) if e.state.value == "succeeded"]
    assert sorted(e.request["chunk"] for e in applied) == [1, 2]

    answer = fetch_answer(counter, wf_client, claim.claim_id, reviewer)
    assert answer.problems == ()
    assert answer.claim.status is ClaimStatus.ANSWERED
    # 基金结算金额 = 基金支付总额 − 扣款金额 (000 附件9); the bed charged twice on one day is deducted.
    assert answer.claim.deduction_total > 0
    assert answer.claim.fund_settled_total == answer.claim.fund_total - answer.claim.deduction_total
    status = wf_client.claim_status(claim.batch_no)
    assert status.deduction_total == answer.claim.deduction_total
    calendar = load_calendar(counter.paths.config_dir)
    with counter.transaction() as session:
        deductions = list_deductions(session, today=centre_today(), calendar=calendar, claim_id=claim.claim_id)
        assert sum((d.amount for d in deductions), Decimal("0.00")) == answer.claim.deduction_total
        bed = next(d for d in deductions if d.item_name == "床位费")
        assert bed.line_no in (3, 4) and bed.reason
        # The dispute window: 10 working days from today (003 §20).
        assert calendar.working_days_between(centre_today(), bed.dispute_due) == 10
        record_dispute(session, bed.deduction_id, "同日两次床位费为转床所致，附转床记录", ["转床记录.pdf", "C:\\病案\\首页.pdf"],
                       reviewer, counter_name=counter.counter_name, today=centre_today(), calendar=calendar)
    # Fetching the answer again changes nothing: the same deductions, the same deadlines.
    again = fetch_answer(counter, wf_client, claim.claim_id, reviewer)
    assert again.new_deductions == 0
    with counter.transaction() as session:
        assert session.scalar(select(func.count(ClaimDeduction.id))) == answer.deductions
        (disputed,) = [d for d in list_deductions(session, today=centre_today(), calendar=calendar) if d.dispute]
        assert disputed.dispute.evidence == ("转床记录.pdf", "首页.pdf")


def test_the_dispute_window_runs_from_the_agencys_push_not_from_the_fetch(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo) -> None:
    """`003 §20`: the agency pushes its findings (线上推送) and the hospital answers within 10 working
    days of that push. The counter that fetches the answer a week later still counts from the push
    day the centre reports (3302 `audited`), never from its own fetch."""
    assert seed_demo_month(counter, wf_client, cashier) == 3
    pushed = centre_today()
    claim = build_claim(counter, previous_month(pushed), reviewer, today=pushed).claim
    assert upload_claim(counter, wf_client, claim.claim_id, reviewer).completed
    report = wf_client.claim_status(claim.batch_no)
    assert report.status == "audited" and report.audited == pushed  # the sandbox audits on receipt
    fetched = pushed + dt.timedelta(days=7)
    calendar = load_calendar(counter.paths.config_dir)
    answer = fetch_answer(counter, wf_client, claim.claim_id, reviewer, today=fetched, calendar=calendar)
    assert answer.new_deductions > 0
    with counter.transaction() as session:
        deductions = list_deductions(session, today=fetched, calendar=calendar, claim_id=claim.claim_id)
    assert deductions
    for deduction in deductions:
        assert deduction.notified_on == pushed
        assert deduction.dispute_due == calendar.add_working_days(pushed, 10)
