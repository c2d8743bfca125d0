"""The agency's deductions at the counter, disputes within 10 working days (`003 §20`), and the
deadlines the window warns of: the monthly claim (`003 §21`, `002 经办规程 §21`), the detail upload
after settlement (`000 §30`), the dispute (`003 §20`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.claims.calendar import load_calendar
from app.claims.deductions import list_deductions, record_dispute
from app.claims.deadlines import dispute_deadline
from app.claims.service import ClaimError, build_claim
from app.claims.watch import watch
from app.db.models import ClaimDeduction, ClaimEntry, ClaimStatus, DeductionDispute, MonthlyClaim
from app.errors import PermissionDenied
from app.rules.profiles import load_profile
from tests.claims.claim_fixtures import clerks, medical_record_completed, open_test_counter, settle_stay

GUANGDONG = load_profile("guangdong-intra")
JILIN = load_profile("jilin-intra")


@pytest.fixture
def ctx(db_url: str):
    context = open_test_counter(db_url)
    yield context
    context.close()


def _deducted_claim(ctx, notified_on: dt.date) -> tuple[int, int]:
    """November 2026 claimed and uploaded; the agency deducted 40.00 from one line."""
    who = clerks(ctx)
    calendar = load_calendar(None)
    with ctx.transaction() as session:
        settle_stay(session, who.cashier.id, settled=dt.date(2026, 11, 10), name="吴芳")
    claim = build_claim(ctx, "2026-11", who.reviewer, today=dt.date(2026, 12, 1)).claim
    with ctx.transaction() as session:
        record = session.get(MonthlyClaim, claim.claim_id)
        record.status = ClaimStatus.ANSWERED
        entry = session.scalars(select(ClaimEntry).where(ClaimEntry.claim_id == claim.claim_id)).one()
        entry.deduction = Decimal("40.00")
        deduction = ClaimDeduction(claim_entry_id=entry.id, line_no=2, item_code="110900001", item_name="床位费",
                                   amount=Decimal("40.00"), reason="同日重复计费", notified_on=notified_on,
                                   dispute_due=dispute_deadline(GUANGDONG, notified_on, calendar))
        session.add(deduction)
        session.flush()
        return claim.claim_id, deduction.id


def test_a_dispute_within_ten_working_days_keeps_only_the_evidence_names(ctx) -> None:
    """003 §20: the hospital disputes within 10 working days, with its evidence."""
    claim_id, deduction_id = _deducted_claim(ctx, dt.date(2026, 12, 1))
    who = clerks(ctx)
    calendar = load_calendar(None)
    today = dt.date(2026, 12, 3)
    with ctx.transaction() as session:
        (view,) = list_deductions(session, today=today, calendar=calendar, claim_id=claim_id)
        assert view.dispute_due == dt.date(2026, 12, 15)  # ten working days after Tue 1 Dec
        assert view.working_days_left == 8 and view.disputable
        assert view.masked_id.count("*") == 8 and "吴芳" == view.name
        with pytest.raises(PermissionDenied):
            record_dispute(session, deduction_id, "转床", ["a.pdf"], who.cashier, counter_name="1号窗口",
                           today=today, calendar=calendar)
        with pytest.raises(ClaimError, match="证据"):
            record_dispute(session, deduction_id, "转床", [" "], who.reviewer, counter_name="1号窗口",
                           today=today, calendar=calendar)
        with pytest.raises(ClaimError, match="理由"):
            record_dispute(session, deduction_id, "  ", ["a.pdf"], who.reviewer, counter_name="1号窗口",
                           today=today, calendar=calendar)
        record_dispute(session, deduction_id, "当日转床，两张床位各计一次", ["/home/clerk/转床记录.pdf", "D:\\影像\\片子.jpg"],
                       who.reviewer, counter_name="1号窗口", today=today, calendar=calendar)
    with ctx.transaction() as session:
        dispute = session.scalars(select(DeductionDispute)).one()
        assert dispute.evidence == ["转床记录.pdf", "片子.jpg"]
        assert dispute.state == "pending"  # recorded; not yet accepted by the centre (3303)
        # Not yet accepted: recording it again replaces it (to be sent again), one dispute per deduction.
        record_dispute(session, deduction_id, "再次", ["b.pdf"], who.reviewer, counter_name="1号窗口",
                       today=today, calendar=calendar)
        dispute = session.scalars(select(DeductionDispute)).one()
        assert (dispute.statement, dispute.evidence) == ("再次", ["b.pdf"])
        dispute.state = "submitted"  # as the 3303 applier records the centre's acceptance
    with ctx.transaction() as session:
        with pytest.raises(ClaimError, match="已经提出过"):
            record_dispute(session, deduction_id, "再次", ["b.pdf"], who.reviewer, counter_name="1号窗口",
                           today=today, calendar=calendar)


def test_no_dispute_after_the_deadline(ctx) -> None:
    """003 §20: past 10 working days the deduction stands."""
    _, deduction_id = _deducted_claim(ctx, dt.date(2026, 12, 1))
    who = clerks(ctx)
    calendar = load_calendar(None)
    with ctx.transaction() as session:
        record_dispute_late = dt.date(2026, 12, 16)
        with pytest.raises(ClaimError, match="异议期限"):
            record_dispute(session, deduction_id, "迟到的异议", ["a.pdf"], who.reviewer, counter_name="1号窗口",
                           today=record_dispute_late, calendar=calendar)
        (view,) = list_deductions(session, today=record_dispute_late, calendar=calendar)
        assert not view.disputable and "异议期已过" in view.deadline_text


def test_details_not_uploaded_within_five_working_days_are_overdue(ctx) -> None:
    """000 §30: the details go up within 5 working days after the discharge settlement."""
    who = clerks(ctx)
    calendar = load_calendar(None)
    with ctx.transaction() as session:
        settle_stay(session, who.cashier.id, settled=dt.date(2026, 9, 30), uploaded=False, name="钱晓明")
    with ctx.transaction() as session:
        items = watch(session, profile=GUANGDONG, calendar=calendar, today=dt.date(2026, 10, 9), warn_working_days=3)
    (details,) = [w for w in items if w.deadline.kind == "detail_upload"]
    # Five working days after Wed 30 Sep 2026, across the National Day week and its make-up Saturday.
    # Thu 8, Fri 9, Sat 10 (调休 working day), Mon 12, Tue 13 October.
    assert details.deadline.due == dt.date(2026, 10, 13) and details.deadline.source == "000 §30"
    assert details.status.state == "due_soon" and "钱晓明" in details.deadline.subject


def test_the_watch_warns_of_an_unclaimed_month_and_an_open_dispute(ctx) -> None:
    """003 §21: claim by the 10th; 003 §20: disputes within 10 working days."""
    who = clerks(ctx)
    calendar = load_calendar(None)
    with ctx.transaction() as session:
        settlement = settle_stay(session, who.cashier.id, settled=dt.date(2026, 10, 20))
        medical_record_completed(session, settlement, who.cashier.id)  # its 病案首页 is done (003 §16)
    with ctx.transaction() as session:
        items = watch(session, profile=GUANGDONG, calendar=calendar, today=dt.date(2026, 11, 5), warn_working_days=3)
        (october,) = [w for w in items if w.deadline.kind == "claim"]
        assert october.deadline.due == dt.date(2026, 11, 10) and october.deadline.source == "003 §21"
        assert october.status.state == "due_soon" and october.needs_attention
        late = watch(session, profile=GUANGDONG, calendar=calendar, today=dt.date(2026, 11, 12), warn_working_days=3)
        assert [w.status.state for w in late if w.deadline.kind == "claim"] == ["overdue"]
        # Jilin uploads by the 5th (002 经办规程 §21).
        jilin = watch(session, profile=JILIN, calendar=calendar, today=dt.date(2026, 11, 4), warn_working_days=3)
        assert [w.deadline.due for w in jilin if w.deadline.kind == "claim"] == [dt.date(2026, 11, 5)]
    # Claimed and uploaded: the month's deadline is met and leaves the list.
    claim = build_claim(ctx, "2026-10", who.reviewer, today=dt.date(2026, 11, 5)).claim
    with ctx.transaction() as session:
        assert [w.deadline.kind for w in watch(session, profile=GUANGDONG, calendar=calendar,
                                               today=dt.date(2026, 11, 5), warn_working_days=3)] == ["claim"]
        session.get(MonthlyClaim, claim.claim_id).status = ClaimStatus.UPLOADED
    with ctx.transaction() as session:
        assert watch(session, profile=GUANGDONG, calendar=calendar, today=dt.date(2026, 11, 5),
                     warn_working_days=3) == []
        entry = session.scalars(select(ClaimEntry)).one()
        session.add(ClaimDeduction(claim_entry_id=entry.id, line_no=1, amount=Decimal("12.00"), reason="超标准",
                                   item_name="头孢呋辛钠注射液", notified_on=dt.date(2026, 11, 20),
                                   dispute_due=dispute_deadline(GUANGDONG, dt.date(2026, 11, 20), calendar)))
    with ctx.transaction() as session:
        (dispute,) = watch(session, profile=GUANGDONG, calendar=calendar, today=dt.date(2026, 12, 1),
                           warn_working_days=3)
        assert dispute.deadline.kind == "dispute" and dispute.deadline.due == dt.date(2026, 12, 4)
        assert dispute.status.state == "due_soon" and dispute.deadline.source == "003 §20"


def test_the_window_is_told_when_the_coming_deadlines_fall_in_a_year_without_its_holidays() -> None:
    """Working days know the 调休 only of the years imported (the statutory holidays of any year are
    known); a December's deadlines reach into January, so the warning names next year until its
    notice is imported."""
    from app.claims.watch import calendar_warning

    calendar = load_calendar(None)
    assert calendar_warning(calendar, dt.date(2026, 6, 1)) is None
    warning = calendar_warning(calendar, dt.date(2026, 12, 3))
    assert warning is not None and "2027 年的调休安排" in warning and "法定节假日" in warning
