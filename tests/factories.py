"""Small builders of valid records for tests of the data model and services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import (
    Care,
    ChargeCategory,
    ChargeLine,
    ChargeSource,
    Diagnosis,
    DiagnosisRole,
    Institution,
    Operator,
    Role,
    Settlement,
    SettlementKind,
    Stay,
    StayStatus,
    Worker,
    utc_now,
)
from app.rules.case import Case


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


def stay_from_case(session: Session, case: Case, created_by: int, institution_id: int | None = None) -> Stay:
    """The stay of a case file as the window would have recorded it: worker, stay, diagnoses, charge lines."""
    if institution_id is None:
        info = case.institution
        existing = session.scalars(select(Institution).where(Institution.code == info.code)).first()
        if existing is None:
            existing = Institution(code=info.code, name=info.name, province=info.province, city=info.city,
                                   city_code=info.city_code, level=info.level)
            session.add(existing)
            session.flush()
        institution_id = existing.id
    worker = session.scalars(select(Worker).where(Worker.social_security_number == case.worker.id_number)).first()
    if worker is None:
        worker = Worker(social_security_number=case.worker.id_number, name=case.worker.name, sex=case.worker.sex,
                        category=case.worker.category, insured_province=case.worker.insured_place.province,
                        insured_city=case.worker.insured_place.city,
                        insured_city_code=case.worker.insured_place.city_code)
        session.add(worker)
        session.flush()
    stay = Stay(worker_id=worker.id, institution_id=institution_id, profile=case.profile.name,
                care=Care(case.stay.care), admission_no=case.stay.admission_no, dept=case.stay.dept,
                registration_no=case.stay.registration_no, admitted_on=case.stay.admitted,
                discharged_on=case.stay.discharged, status=StayStatus.PENDING_SETTLEMENT, created_by=created_by)
    session.add(stay)
    session.flush()
    for seq, diagnosis in enumerate(case.stay.diagnoses, start=1):
        session.add(Diagnosis(stay_id=stay.id, role=DiagnosisRole.DISCHARGE, seq=seq, code=diagnosis.code,
                              name=diagnosis.name, injury=diagnosis.injury))
    by_seq: dict[int, ChargeLine] = {}
    catalogue = {entry.code for entry in case.catalogue}
    for item in sorted(case.items, key=lambda i: i.seq):
        line = ChargeLine(stay_id=stay.id, seq=item.seq, his_code=item.code,
                          code=item.code if item.code in catalogue else None, name=item.name,
                          category=ChargeCategory(item.category), quantity=item.quantity, unit_price=item.unit_price,
                          amount=item.amount, charged_on=item.date, diagnosis_code=item.diagnosis,
                          injury=item.injury, source=ChargeSource.HIS, created_by=created_by,
                          refund_of_id=by_seq[item.refund_of].id if item.refund_of is not None else None)
        session.add(line)
        session.flush()
        by_seq[item.seq] = line
    session.refresh(stay)
    return stay


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
