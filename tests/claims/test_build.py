"""Building a month's claim: membership, totals, idempotence, corrections, batches (`000 §31`,
`000 §32`, `003 §21`), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.claims.service import ClaimError, build_claim, claim_forms, list_claims, month_overview
from app.db.models import ClaimEntry, ClaimStatus, MonthlyClaim, Settlement
from app.errors import PermissionDenied
from tests.claims.claim_fixtures import cancel, clerks, open_test_counter, seed_device_catalogue, settle_stay

TODAY = dt.date(2026, 12, 3)


@pytest.fixture
def ctx(db_url: str):
    context = open_test_counter(db_url)
    yield context
    context.close()


def _settle(ctx, operator_id: int, **kwargs) -> int:
    with ctx.transaction() as session:
        seed_device_catalogue(session)
        return settle_stay(session, operator_id, **kwargs).id


def _cancel(ctx, settlement_id: int, operator_id: int, on: dt.date) -> int:
    with ctx.transaction() as session:
        return cancel(session, session.get(Settlement, settlement_id), operator_id, on).id


def _members(ctx, claim_id: int) -> set[int]:
    with ctx.transaction() as session:
        return set(session.scalars(select(ClaimEntry.settlement_id).where(ClaimEntry.claim_id == claim_id)))


def test_a_month_in_all_categories_with_a_stay_across_the_year_end(ctx) -> None:
    """000 §31: last month's settlements; 000 §32: a stay across the year end counts once, at its
    settlement date."""
    who = clerks(ctx)
    medical = _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 5), place="广州市")
    rehab = _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 12), care="rehab", place="深圳市")
    device = _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 30), care="device", place="长春市")
    across_year = _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 20), admitted=dt.date(2025, 12, 20))
    _settle(ctx, who.cashier.id, settled=dt.date(2026, 10, 31))  # October: not this claim
    _settle(ctx, who.cashier.id, settled=dt.date(2026, 12, 1))  # December: not this claim

    result = build_claim(ctx, "2026-11", who.reviewer, today=TODAY)

    claim = result.claim
    assert result.created and claim.status is ClaimStatus.DRAFT and claim.sequence == 1
    assert claim.batch_no == "H44080100001" + "202611" + "01"
    assert _members(ctx, claim.claim_id) == {medical, rehab, device, across_year}
    with ctx.transaction() as session:
        expected = session.execute(select(func.sum(Settlement.total), func.sum(Settlement.fund_total),
                                          func.sum(Settlement.personal_total))
                                   .where(Settlement.id.in_([medical, rehab, device, across_year]))).one()
        forms = claim_forms(session, claim.claim_id)
    assert (claim.total, claim.fund_total, claim.personal_total) == tuple(expected)
    assert claim.person_times == 4
    assert claim.total == claim.fund_total + claim.personal_total
    # The three forms agree with each other and with the settlements, to the fen (000 附件9).
    assert forms.summary_totals.amounts.total == claim.total
    assert forms.detail_totals.amounts.total + forms.device_totals.amounts.total == claim.total
    assert forms.summary_totals.amounts.fund_total == claim.fund_total
    assert forms.summary_totals.person_times == 4
    assert {row.care_label for row in forms.summary} == {"住院", "康复", "辅助器具配置"}
    assert {row.insured_place for row in forms.summary} == {"广州市", "深圳市", "吉林省长春市"}
    assert [row.settled for row in forms.details] == sorted(row.settled for row in forms.details)
    assert [row.seq for row in forms.details] == list(range(1, len(forms.details) + 1))
    (crutches,) = forms.devices
    assert crutches.device_name == "腋拐" and crutches.min_years == 2 and crutches.max_pay == Decimal("120.00")
    across = next(row for row in forms.details if row.admitted == dt.date(2025, 12, 20))
    assert across.settled == dt.date(2026, 11, 20)


def test_building_twice_gives_the_same_claim_and_a_draft_follows_cancellations(ctx) -> None:
    who = clerks(ctx)
    first = _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 3))
    second = _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 4))
    built = build_claim(ctx, "2026-11", who.reviewer, today=TODAY)
    again = build_claim(ctx, "2026-11", who.reviewer, today=TODAY)
    assert again.unchanged and again.claim == built.claim

    # Cancelled before the claim went up: it leaves the draft, and its cancellation is not claimed
    # either (net of cancellations).
    cancellation = _cancel(ctx, second, who.reviewer.id, dt.date(2026, 12, 2))
    refreshed = build_claim(ctx, "2026-11", who.reviewer, today=TODAY)
    assert refreshed.removed == 1 and refreshed.claim.batch_no == built.claim.batch_no
    assert _members(ctx, built.claim.claim_id) == {first}
    assert cancellation not in _members(ctx, built.claim.claim_id)
    assert refreshed.claim.person_times == 1


def test_a_cancellation_after_claiming_is_corrected_in_the_next_claim(ctx) -> None:
    """A settlement cancelled after its claim went up comes back as a negative entry (冲销) in the
    next month's claim: never silently dropped, never claimed twice."""
    who = clerks(ctx)
    october = _settle(ctx, who.cashier.id, settled=dt.date(2026, 10, 20))
    claim = build_claim(ctx, "2026-10", who.reviewer, today=TODAY).claim
    with ctx.transaction() as session:
        session.get(MonthlyClaim, claim.claim_id).status = ClaimStatus.UPLOADED
    cancellation = _cancel(ctx, october, who.reviewer.id, dt.date(2026, 11, 8))
    resettled = _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 9))

    november = build_claim(ctx, "2026-11", who.reviewer, today=TODAY).claim

    assert _members(ctx, november.claim_id) == {cancellation, resettled}
    with ctx.transaction() as session:
        original = session.get(Settlement, october)
        again = session.get(Settlement, resettled)
        forms = claim_forms(session, november.claim_id)
        assert november.total == again.total - original.total
        assert november.person_times == 0  # one stay claimed, one corrected
        correction = next(row for row in forms.details if row.correction)
        assert correction.amounts.total == -original.total
        assert claim.batch_no in correction.note
    # Building October again adds nothing: the correction is in November's claim.
    assert build_claim(ctx, "2026-10", who.reviewer, today=TODAY).unchanged


def test_a_late_settlement_after_upload_goes_into_a_supplementary_batch(ctx) -> None:
    who = clerks(ctx)
    _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 3))
    first = build_claim(ctx, "2026-11", who.reviewer, today=TODAY).claim
    with ctx.transaction() as session:
        session.get(MonthlyClaim, first.claim_id).status = ClaimStatus.UPLOADED
    assert build_claim(ctx, "2026-11", who.reviewer, today=TODAY).claim.claim_id == first.claim_id
    late = _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 28))
    second = build_claim(ctx, "2026-11", who.reviewer, today=TODAY)
    assert second.created and second.claim.sequence == 2 and second.claim.batch_no.endswith("02")
    assert _members(ctx, second.claim.claim_id) == {late}
    with ctx.transaction() as session:
        assert len(list_claims(session, "2026-11")) == 2
        overview = month_overview(session, "2026-11")
    assert overview.settlements == 2 and overview.unclaimed == 0
    assert sum(bar.total for bar in overview.by_category) == overview.total
    assert sum(bar.count for bar in overview.by_insured_place) == 2


def test_refusals_are_clear(ctx) -> None:
    who = clerks(ctx)
    with pytest.raises(ClaimError, match="格式"):
        build_claim(ctx, "2026-13", who.reviewer, today=TODAY)
    with pytest.raises(ClaimError, match="尚未结束"):
        build_claim(ctx, "2026-12", who.reviewer, today=TODAY)
    _settle(ctx, who.cashier.id, settled=dt.date(2026, 11, 3))  # the institution exists from here
    with pytest.raises(ClaimError, match="没有可申报"):
        build_claim(ctx, "2026-09", who.reviewer, today=TODAY)
    with pytest.raises(PermissionDenied):
        build_claim(ctx, "2026-11", who.cashier, today=TODAY)
    with ctx.transaction() as session:
        assert session.scalar(select(func.count(MonthlyClaim.id))) == 0
