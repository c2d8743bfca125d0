"""Small builders of valid records for tests of the data model and services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from app.db.models import (
    Care,
    Institution,
    Operator,
    Role,
    Settlement,
    SettlementKind,
    Stay,
    Worker,
    utc_now,
)
from app.rules.case import Case
from tests.signed_in import TEST_PASSWORD_HASH


def institution(session: Session) -> Institution:
    record = Institution(code="H44080100001", name="湛江市第一人民医院", province="广东省", city="湛江市",
                         city_code="440800", level="三级甲等")
    session.add(record)
    session.flush()
    return record


def operator(session: Session, login: str = "cashier", role: Role = Role.CASHIER) -> Operator:
    record = Operator(login=login, display_name="张收款", role=role, password_hash=TEST_PASSWORD_HASH)
    session.add(record)
    session.flush()
    return record


def stay(session: Session) -> Stay:
    hospital = institution(session)
    clerk = operator(session)
    worker = Worker(social_security_number="440802198001011233", name="姚某某", sex="女",
                    insured_province="广东省", insured_city="广州市", insured_city_code="440100")
    session.add(worker)
    session.flush()
    record = Stay(worker_id=worker.id, institution_id=hospital.id, profile="guangdong-intra", care=Care.MEDICAL,
                  admission_no="016357002", dept="骨关节病区", admitted_on=dt.date(2020, 9, 22), created_by=clerk.id)
    session.add(record)
    session.flush()
    return record


def settlement(session: Session, stay: Stay, msgid: str = "H440801000012020111708000000001") -> Settlement:
    record = Settlement(
        stay_id=stay.id, kind=SettlementKind.SETTLEMENT, centre_settlement_id="JS0001", msgid=msgid,
        settlement_kind="省内异地就医", settled_on=dt.date(2020, 11, 17), settled_at=utc_now(),
        total=Decimal("24184.00"), fund_total=Decimal("22283.00"), personal_total=Decimal("1901.00"),
        operator_id=stay.created_by,
    )
    session.add(record)
    session.flush()
    return record


def stay_from_case(session: Session, case: Case, created_by: int) -> Stay:
    """The stay of a case file as the window would have recorded it: worker, stay, diagnoses, charge lines."""
    from app.demo.case_records import record_case_stay

    return record_case_stay(session, case, created_by)


def settled_case(session: Session, case_file: Path, *, operator_id: int, msgid: str,
                 reviewer_id: int | None = None) -> Settlement:
    """A case file stored as a settled stay, through the same function the discharge workflow uses."""
    from app.rules.case import read_case_file
    from app.rules.settlement import compute
    from app.slips import record_settlement

    case = read_case_file(case_file)
    stay = stay_from_case(session, case, operator_id)
    assert case.stay.settled is not None
    settled_at = dt.datetime.combine(case.stay.settled, dt.time(10, 30), tzinfo=dt.UTC)
    return record_settlement(session, stay, compute(case), operator_id=operator_id, counter_name="1号窗口",
                             centre_settlement_id=f"JS{msgid[-6:]}", msgid=msgid, settled_at=settled_at,
                             settled_on=case.stay.settled, reviewer_id=reviewer_id)
