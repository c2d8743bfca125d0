"""Small builders of valid records for tests of the data model and services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

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


def institution(session: Session) -> Institution:
    record = Institution(code="H44080100001", name="湛江市第一人民医院", province="广东省", city="湛江市",
                         city_code="440800", level="三级甲等")
    session.add(record)
    session.flush()
    return record


def operator(session: Session, login: str = "cashier", role: Role = Role.CASHIER) -> Operator:
    record = Operator(login=login, display_name="张收款", role=role, password_hash="not-a-real-hash")
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
