"""Settled stays stored straight in a counter's database, for the claims tests.

Each stay is a CASES.md case (tests/rules/base_case.py) varied by worker, insured place, care and
dates, recorded with the same functions the discharge workflow uses (`app.demo.case_records`,
`app.rules.settlement.compute`, `app.slips.record_settlement` / `record_cancellation`).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.bootstrap import CounterContext, open_counter
from app.demo.case_records import record_case_stay
from app.db.models import (
    CatalogueItem,
    ChargeCategory,
    ChargeLine,
    MedicalRecordCompletion,
    Operator,
    Role,
    Settlement,
)
from app.idnumber import check_character
from app.operators import OperatorInfo
from app.rules.case import parse_case
from app.rules.settlement import compute
from app.slips import record_cancellation, record_settlement
from tests.rules.base_case import base_case, item
from tests.signed_in import TEST_PASSWORD_HASH, signed_in

PLACES = {
    "广州市": ("广东省", "440100"),
    "湛江市": ("广东省", "440800"),
    "深圳市": ("广东省", "440300"),
    "长春市": ("吉林省", "220100"),
}

_numbers = itertools.count(1)


def id_number(serial: int) -> str:
    # Born on or after 1975-07-01 (one day per thousand serials): never the 1980-01-01 workers of the
    # demo data and the case files, whom record_case_stay would otherwise reuse with their own 参保地.
    born = dt.date(1975, 7, 1) + dt.timedelta(days=serial // 1000)
    first17 = f"440802{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_character(first17)


@dataclass(frozen=True)
class Clerks:
    cashier: OperatorInfo
    reviewer: OperatorInfo


def open_test_counter(db_url: str) -> CounterContext:
    return open_counter(db_url=db_url)


def clerks(ctx: CounterContext) -> Clerks:
    infos = []
    with ctx.transaction() as session:
        for login, name, role in (("cashier1", "张收款", Role.CASHIER), ("reviewer1", "李审核", Role.REVIEWER)):
            record = session.scalars(select(Operator).where(Operator.login == login)).first()
            if record is None:
                record = Operator(login=login, display_name=name, role=role, password_hash=TEST_PASSWORD_HASH)
                session.add(record)
                session.flush()
            infos.append(signed_in(record))
    return Clerks(*infos)


def seed_device_catalogue(session: Session) -> None:
    if session.scalars(select(CatalogueItem).where(CatalogueItem.code == "F0301")).first() is None:
        session.add(CatalogueItem(code="F0301", name="腋拐", category=ChargeCategory.DEVICE, unit="副",
                                  max_pay=Decimal("120.00"), per_day=False, min_years=2, version=1))
        session.flush()


def settle_stay(session: Session, operator_id: int, *, settled: dt.date, care: str = "medical",
                place: str = "广州市", admitted: dt.date | None = None, name: str | None = None,
                serial: int | None = None, uploaded: bool = True) -> Settlement:
    """One settled stay: an injury drug line, a bed day and a non-injury line (rehab: a rehab line;
    device: a pair of crutches above their payment limit)."""
    number = next(_numbers) if serial is None else serial
    admitted = admitted or settled - dt.timedelta(days=10)
    discharged = settled
    document = base_case()
    province, city_code = PLACES[place]
    document["worker"].update(name=name or f"工友{number}", id_number=id_number(number),
                              insured_place={"province": province, "city": place, "city_code": city_code})
    document["recognition"]["injury_date"] = (admitted - dt.timedelta(days=3)).isoformat()
    document["filing"].update(approved_on=(admitted - dt.timedelta(days=2)).isoformat(),
                              valid_from=(admitted - dt.timedelta(days=2)).isoformat(),
                              filed_on=(admitted - dt.timedelta(days=2)).isoformat(),
                              valid_to=(settled + dt.timedelta(days=100)).isoformat(), care=["medical", "rehab", "device"])
    document["stay"].update(care=care, admission_no=f"ZY{number:06d}", registration_no=f"REG{number:08d}",
                            admitted=admitted.isoformat(), discharged=discharged.isoformat(),
                            settled=settled.isoformat())
    day = admitted.isoformat()
    items = [
        item(1, "XJ01DC02", "drug", "2", "10.00", "20.00", date=day, name="头孢呋辛钠注射液"),
        item(2, "110900001", "treatment", "1", "50.00", "50.00", date=day, name="床位费"),
        item(3, "XB01AC06", "drug", "30", "0.50", "15.00", diagnosis="I10", date=day, name="阿司匹林肠溶片"),
    ]
    if care == "rehab":
        items.append(item(4, "K0101", "rehab", "3", "40.00", "120.00", date=day, name="作业疗法"))
    if care == "device":
        items.append(item(4, "F0301", "device", "1", "150.00", "150.00", date=day, name="腋拐"))
    document["items"] = items
    case = parse_case(document)
    stay = record_case_stay(session, case, operator_id)
    if uploaded:  # the workflow uploads every line before it settles (000 §30)
        session.execute(update(ChargeLine).where(ChargeLine.stay_id == stay.id).values(
            uploaded_at=dt.datetime.combine(settled, dt.time(1, 0), tzinfo=dt.UTC)))
    return record_settlement(
        session, stay, compute(case), operator_id=operator_id, counter_name="1号窗口",
        centre_settlement_id=f"JS{number:010d}", msgid=f"H44080100001{settled:%Y%m%d}1030{number:06d}",
        settled_at=dt.datetime.combine(settled, dt.time(2, 30), tzinfo=dt.UTC), settled_on=settled,
    )


def medical_record_completed(session: Session, settlement: Settlement, operator_id: int) -> None:
    """The settlement's 病案首页 marked complete (`003 §16`), as `app.workflow.medical_record` records it:
    for the tests of the other deadlines, whose settlements have no 病案首页 left to complete."""
    session.add(MedicalRecordCompletion(settlement_id=settlement.id, completed_by=operator_id,
                                        counter_name="1号窗口"))
    session.flush()


def cancel(session: Session, settlement: Settlement, operator_id: int, on: dt.date) -> Settlement:
    number = next(_numbers)
    return record_cancellation(
        session, settlement.id, operator_id=operator_id, counter_name="1号窗口", reason="费用录入有误",
        msgid=f"H44080100001{on:%Y%m%d}1100{number:06d}",
        cancelled_at=dt.datetime.combine(on, dt.time(3, 0), tzinfo=dt.UTC), centre_settlement_id=f"CX{number:010d}",
    )
