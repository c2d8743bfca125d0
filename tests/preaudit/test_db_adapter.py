"""`audit_stay(session, stay_id)`: a stored stay, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_engine, make_session_factory
from app.db.migrate import upgrade
from app.db.models import (
    CatalogueItem,
    ChargeCategory,
    ChargeLine,
    ChargeSource,
    ClaimEntry,
    MonthlyClaim,
    Operator,
    Role,
    Settlement,
    Stay,
    StayStatus,
)
from app.rules.case import read_case_file
from app.workflow.stay_audit import audit_stay, stay_audit_from_db
from tests import factories
from tests.preaudit.helpers import hits

CASE = Path(__file__).resolve().parent.parent / "cases" / "settle-buckets.json"


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        yield session
        session.rollback()
    engine.dispose()


def _settled_stay(session: Session) -> tuple[Stay, int]:
    clerk = Operator(login="cashier", display_name="张收款", role=Role.CASHIER, password_hash="not-a-real-hash")
    session.add(clerk)
    session.flush()
    for entry in read_case_file(CASE).catalogue:  # the local catalogue the case priced its lines by
        session.add(CatalogueItem(code=entry.code, name=entry.name, category=ChargeCategory(entry.category),
                                  price_limit=entry.price_limit, max_pay=entry.max_pay, per_day=entry.per_day, version=1))
    settlement = factories.settled_case(session, CASE, operator_id=clerk.id, msgid="H440801000012023052908000000001")
    stay = session.get(Stay, settlement.stay_id)
    assert stay is not None
    return stay, clerk.id


def _line(stay: Stay, seq: int, code: str, name: str, day: dt.date, price: str, created_by: int) -> ChargeLine:
    line = ChargeLine(stay_id=stay.id, seq=seq, his_code=code, code=code, name=name, category=ChargeCategory.DEVICE,
                      quantity=Decimal("1"), unit_price=Decimal(price), amount=Decimal(price), charged_on=day,
                      diagnosis_code="S82.201", source=ChargeSource.MANUAL, created_by=created_by)
    return line


def test_a_stored_stay_gives_the_case_files_findings_with_its_recorded_consent(session: Session) -> None:
    """003 §15: the stored stay of settle-buckets: the same per-day and 伤病分离 findings as the case file; the
    out-of-catalogue lines' consent is the stored `patient_informed` (未告知患者 until marked)."""
    stay, _clerk = _settled_stay(session)
    findings = audit_stay(session, stay.id)
    assert hits(findings) == [
        (5, "daily_limit", "855.00"),
        (6, "injury_diagnosis_mismatch", "280.00"),
        (8, "out_of_catalogue_no_consent", "0.00"),
        (10, "out_of_catalogue_no_consent", "0.00"),
    ]
    assert "未告知患者" in findings[2].message
    audit_input = stay_audit_from_db(session, stay.id)
    assert audit_input.stage == "claim"  # settled once: judged as the claim will be
    assert {line.seq: line.over_limit for line in audit_input.lines}[2] == Decimal("2.00")  # the recorded split

    line = session.scalars(select(ChargeLine).where(ChargeLine.stay_id == stay.id, ChargeLine.seq == 8)).one()
    line.patient_informed = True
    session.flush()
    assert [f.seq for f in audit_stay(session, stay.id) if f.rule == "out_of_catalogue_no_consent"] == [10]
    # 000 §34: settling this stay again (the discharge stage) while its settlement is live is a duplicate.
    again = audit_stay(session, stay.id, stage="discharge")
    assert again[0].seq is None and again[0].rule == "settled_twice"


def test_a_stored_stay_with_two_live_settlements_both_claimed(session: Session) -> None:
    """000 §34 / 000 §33: two live settlements of one stay, each in a claim: settled twice and claimed twice."""
    stay, clerk = _settled_stay(session)
    second = factories.settlement(session, stay, msgid="H440801000012023053008000000002")
    settlements = session.scalars(select(Settlement).where(Settlement.stay_id == stay.id).order_by(Settlement.id)).all()
    for number, settlement in enumerate(settlements, start=1):
        claim = MonthlyClaim(batch_no=f"B20230{number}", month=f"2023-0{4 + number}", centre_code="440100",
                             sequence=1, total=settlement.total, fund_total=settlement.fund_total,
                             personal_total=settlement.personal_total, built_by=clerk)
        session.add(claim)
        session.flush()
        session.add(ClaimEntry(claim_id=claim.id, settlement_id=settlement.id, total=settlement.total,
                               fund_total=settlement.fund_total, personal_total=settlement.personal_total))
    session.flush()
    stay_level = [(f.rule, f"{f.amount_at_risk:.2f}") for f in audit_stay(session, stay.id) if f.seq is None]
    # The duplicate settlement is the later settled (the case's, 2023-05-29, after the factory's 2020-11-17); the
    # duplicate claim is the later claimed (the factory's settlement, in 2023-06).
    first = settlements[0]
    assert first.settled_on > second.settled_on
    assert stay_level == [("settled_twice", f"{first.fund_total:.2f}"), ("claimed_twice", f"{second.fund_total:.2f}")]


def test_a_device_replaced_before_its_minimum_use_period_from_the_workers_other_stays(session: Session) -> None:
    """000 附件9-2: the worker's 小腿假肢 configured in an earlier settled stay (2022-01-05), minimum 3 years."""
    stay, clerk = _settled_stay(session)
    for code, name, years in (("FJ0101001", "小腿假肢（普通型）", 3), ("FJ0101002", "小腿假肢（硅胶套型）", 3)):
        session.add(CatalogueItem(code=code, name=name, category=ChargeCategory.DEVICE, max_pay=Decimal("15000.00"),
                                  min_years=years, version=1))
    earlier = Stay(worker_id=stay.worker_id, institution_id=stay.institution_id, profile=stay.profile, care=stay.care,
                   admission_no="021010501", dept=stay.dept, admitted_on=dt.date(2022, 1, 3),
                   discharged_on=dt.date(2022, 1, 20), status=StayStatus.SETTLED, created_by=clerk)
    session.add(earlier)
    session.flush()
    session.add(_line(earlier, 1, "FJ0101001", "小腿假肢（普通型）", dt.date(2022, 1, 5), "7000.00", clerk))
    session.add(_line(stay, 11, "FJ0101002", "小腿假肢（硅胶套型）", dt.date(2023, 5, 20), "9000.00", clerk))
    session.flush()
    assert hits(audit_stay(session, stay.id), "device_replaced_early") == [(11, "device_replaced_early", "9000.00")]
    earlier.status = StayStatus.CANCELLED  # a cancelled stay configured nothing
    session.flush()
    assert hits(audit_stay(session, stay.id), "device_replaced_early") == []
