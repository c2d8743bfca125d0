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
from app.centre.gateway import SettlementRequest
from app.claims.calendar import load_calendar
from app.claims.deductions import list_deductions, record_dispute
from app.claims.service import build_claim, claim_summary, previous_month
from app.claims.upload import fetch_answer, upload_claim
from app.db.models import ChargeCategory, ChargeLine, ChargeSource, ClaimDeduction, ClaimStatus, OutboxEntry
from app.operators import OperatorInfo
from app.workflow.admission import centre_today
from app.workflow.discharge import upload_lines
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import add_lines, admit_worker, form

# Sandbox people whose filings cover the whole of last month, whatever day the tests run on
# (resources/sandbox/workers.toml): 吴芳 (广州, referral), 赵建华 (北京, long-term), 钱晓明 (北京, long-term).
CARDS = {"吴芳": ("K44010014", "medical"), "赵建华": ("K11010018", "rehab"), "钱晓明": ("K11010019", "medical")}


def last_month_dates(today: dt.date) -> tuple[dt.date, dt.date]:
    """An admission and a settlement date in the previous month; the admission no earlier than
    39 days ago (the people's injuries are 70-90 days old, their filings 40-60 days)."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return max(last.replace(day=1), today - dt.timedelta(days=39)), last


def settle_last_month(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, name: str,
                      with_bed_twice: bool = False) -> None:
    card, care = CARDS[name]
    admitted, settled = last_month_dates(centre_today())
    _, outcome = admit_worker(ctx, client, actor, card, form(f"ZY-{card}", admitted=admitted, care=care))
    stay_id = outcome.stay_id
    add_lines(ctx, stay_id, actor, 4, injury_code=outcome_injury_code(ctx, stay_id), day=admitted)
    if with_bed_twice:
        # A bed day charged twice on one day: the sandbox's audit deducts the excess (003 §15).
        with ctx.transaction() as session:
            for seq in (50, 51):
                session.add(ChargeLine(stay_id=stay_id, seq=seq, his_code="110900001", code="110900001",
                                       name="床位费", category=ChargeCategory.TREATMENT, quantity=Decimal("1"),
                                       unit_price=Decimal("40.00"), amount=Decimal("40.00"), charged_on=admitted,
                                       diagnosis_code=outcome_injury_code(ctx, stay_id), source=ChargeSource.MANUAL,
                                       created_by=actor.id))
    upload_lines(ctx, client, stay_id, actor)
    with ctx.transaction() as session:
        from app.db.models import Stay

        registration_no = session.get(Stay, stay_id).registration_no
    figures = client.settle(SettlementRequest(registration_no, settled, settled), stay_id=stay_id, operator_id=actor.id)
    assert figures.settled == settled


def outcome_injury_code(ctx: CounterContext, stay_id: int) -> str:
    from app.db.models import Diagnosis

    with ctx.transaction() as session:
        return session.scalars(select(Diagnosis.code).where(Diagnosis.stay_id == stay_id,
                                                            Diagnosis.injury.is_(True))).first()


def _claim_entries(counter: CounterContext) -> list[OutboxEntry]:
    with counter.transaction() as session:
        return list(session.scalars(select(OutboxEntry).where(OutboxEntry.operation == "claim_upload")
                                    .order_by(OutboxEntry.seq)))


@pytest.mark.parametrize("fault", ["drop_after_commit", "error"])
def test_last_months_claim_goes_up_through_a_fault_once_and_comes_back_audited(
        fault: str, counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo,
        reviewer: OperatorInfo, sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CARDS:
        settle_last_month(counter, wf_client, cashier, name, with_bed_twice=name == "吴芳")
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
        assert bed.line_no in (50, 51) and bed.reason
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
