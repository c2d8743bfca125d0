"""日结 (issue 20 §10): one cashier's day from the database's own records, against the real
sandbox centre over HTTP, on SQLite and PostgreSQL.

Two cashiers settle, a reviewer cancels, one cashier issues a 全额垫付 receipt and the other
does its 补登记 (`003 §17`: nothing is handed back, the worker claims at the insured place); each
report counts only its own operator's records, to the fen, and the cash to hand in is collected − refunded.
A cashier asking for another's report is refused; a reviewer may see anyone's.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import update

from app.business_date import business_today
from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.db.models import Operator, PrintLog, Role, Settlement
from app.errors import PermissionDenied
from app.operators import OperatorInfo
from app.slips import log_print, slip_for_settlement
from app.workflow.dayend import day_end_report, business_day_bounds
from app.workflow.discharge import backfill, cancel_settlement, issue_full_payment, settle_stay
from tests.signed_in import TEST_PASSWORD_HASH, signed_in
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD, add_lines, admit_worker, centre_today, form

LI_NA_CARD = "B44010002"  # 李娜: 广州 insured, referral filing to this hospital


@pytest.fixture
def second_cashier(counter: CounterContext) -> OperatorInfo:
    with counter.transaction() as session:
        record = Operator(login="cashier2", display_name="王收款", role=Role.CASHIER, password_hash=TEST_PASSWORD_HASH)
        session.add(record)
        session.flush()
        return signed_in(record)


def _today() -> dt.date:
    return business_today()  # Beijing's date: the settlements below are made now


def test_day_end_counts_each_cashiers_own_records_to_the_fen(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, second_cashier: OperatorInfo,
        reviewer: OperatorInfo) -> None:
    # Cashier 1 settles 张伟's stay: 12 drug lines (2 for the illness, 30.00), one 3.00 over its price
    # limit, 100.00 自费: total 288.00, personal 133.00, fund 155.00.
    _, admitted = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-DE-1"))
    assert admitted.stay_id is not None
    add_lines(counter, admitted.stay_id, cashier, 12)
    first = settle_stay(counter, wf_client, admitted.stay_id, cashier, centre_today())
    assert (first.total, first.personal_total, first.fund_total) == (
        Decimal("288.00"), Decimal("133.00"), Decimal("155.00"))
    # Its slip: the original, then one 补打 by cashier 1.
    with counter.transaction() as session:
        for _ in range(2):
            slip = slip_for_settlement(session, first.settlement_id, issuer="张收款")
            log_print(session, slip, operator_id=cashier.id, printer="pdf", archive_path=None)
    # The reviewer cancels it (the 133.00 goes back to the worker), cashier 2 settles it again with
    # 3 more lines (+153.00: 15.00 illness, 3.00 over the limit, 100.00 自费): 441.00, personal 251.00.
    cancel_settlement(counter, wf_client, first.settlement_id, reviewer, "收费有误，重新结算")
    add_lines(counter, admitted.stay_id, cashier, 3, first_seq=100)
    second = settle_stay(counter, wf_client, admitted.stay_id, second_cashier, centre_today())
    assert (second.total, second.personal_total) == (Decimal("441.00"), Decimal("251.00"))
    # Cashier 2 takes 李娜's stay in full (全额垫付, 183.00); cashier 1 does its 补登记 later.
    _, li_na = admit_worker(counter, wf_client, cashier, LI_NA_CARD, form("ZY-DE-2", diagnoses=(
        ("S62.300", "掌骨骨折"), ("I10", "原发性高血压"))))
    assert li_na.stay_id is not None
    add_lines(counter, li_na.stay_id, cashier, 5, injury_code="S62.300")
    issue_full_payment(counter, li_na.stay_id, second_cashier, centre_today())
    backfilled = backfill(counter, wf_client, li_na.stay_id, cashier)
    assert backfilled.paid_in_full == Decimal("183.00") and backfilled.refund_to_worker == 0

    with counter.transaction() as session:
        mine = day_end_report(session, cashier, cashier.id, _today())
        theirs = day_end_report(session, second_cashier, second_cashier.id, _today())
        reviewers = day_end_report(session, reviewer, reviewer.id, _today())
        seen_by_reviewer = day_end_report(session, reviewer, cashier.id, _today())

    assert (mine.settlement_count, mine.settlement_total, mine.settlement_fund, mine.settlement_personal) == (
        1, Decimal("288.00"), Decimal("155.00"), Decimal("133.00"))
    assert (mine.cancellation_count, mine.cancellation_refunded) == (0, Decimal("0.00"))
    assert (mine.full_payment_count, mine.full_payment_amount) == (0, Decimal("0.00"))
    # 补登记 hands nothing back (003 §17): the cash is what was collected.
    assert (mine.backfill_count, mine.backfill_handed_back) == (1, Decimal("0.00"))
    assert mine.reprint_count == 1
    assert mine.cash_total == Decimal("133.00")
    labels = [label for label, _, _ in mine.rows()]
    assert "补登记（不退款，工伤职工回参保地报销）" in labels
    assert not [label for label in labels if "退还基金支付部分" in label]
    assert mine.operator_name == "张收款" and mine.institution_name

    assert (theirs.settlement_count, theirs.settlement_total, theirs.settlement_personal) == (
        1, Decimal("441.00"), Decimal("251.00"))
    assert (theirs.full_payment_count, theirs.full_payment_amount) == (1, Decimal("183.00"))
    assert (theirs.backfill_count, theirs.reprint_count, theirs.cancellation_count) == (0, 0, 0)
    assert theirs.cash_total == Decimal("434.00")  # 251.00 + 183.00

    assert (reviewers.cancellation_count, reviewers.cancellation_refunded) == (1, Decimal("133.00"))
    assert reviewers.settlement_count == 0 and reviewers.cash_total == Decimal("-133.00")
    assert seen_by_reviewer == mine

    # Another day holds none of it.
    with counter.transaction() as session:
        yesterday = day_end_report(session, cashier, cashier.id, _today() - dt.timedelta(days=1))
    assert (yesterday.settlement_count, yesterday.reprint_count, yesterday.cash_total) == (0, 0, Decimal("0.00"))


def test_the_business_day_bounds_decide_which_day_a_record_belongs_to(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    _, admitted = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-DE-3"))
    assert admitted.stay_id is not None
    add_lines(counter, admitted.stay_id, cashier, 2)
    outcome = settle_stay(counter, wf_client, admitted.stay_id, cashier, centre_today())
    start, _ = business_day_bounds(_today())
    with counter.transaction() as session:
        # The print log is plain (no guard): a print one second before local midnight is yesterday's.
        slip = slip_for_settlement(session, outcome.settlement_id, issuer="张收款")
        record = log_print(session, slip, operator_id=cashier.id, printer=None, archive_path=None)
        session.execute(update(PrintLog).where(PrintLog.id == record.id).values(
            printed_at=start - dt.timedelta(seconds=1), kind="reprint"))
        assert session.get(Settlement, outcome.settlement_id) is not None
    with counter.transaction() as session:
        today = day_end_report(session, cashier, cashier.id, _today())
        before = day_end_report(session, cashier, cashier.id, _today() - dt.timedelta(days=1))
    assert (today.settlement_count, today.reprint_count) == (1, 0)
    assert (before.settlement_count, before.reprint_count) == (0, 1)


def test_a_cashier_cannot_see_another_cashiers_day_end(
        counter: CounterContext, cashier: OperatorInfo, second_cashier: OperatorInfo) -> None:
    with counter.transaction() as session:
        with pytest.raises(PermissionDenied, match="只能查看本人的日结单"):
            day_end_report(session, cashier, second_cashier.id, _today())
        unsigned = OperatorInfo(cashier.id, cashier.login, cashier.display_name, cashier.role)
        with pytest.raises(Exception, match="未经密码验证"):
            day_end_report(session, unsigned, cashier.id, _today())
        assert day_end_report(session, cashier, cashier.id, _today()).cash_total == Decimal("0.00")
