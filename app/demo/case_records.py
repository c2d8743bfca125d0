"""A case file's facts stored as care records: worker, stay, diagnoses, charge lines.

Used for the demo counter's sample settlement and by tests; the discharge workflow will
create the same records from the card, the centre and the HIS instead.
"""

from __future__ import annotations

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
    Stay,
    StayStatus,
    Worker,
)
from app.rules.case import Case


def record_case_stay(session: Session, case: Case, created_by: int) -> Stay:
    """Store the case's stay (pending settlement), reusing the institution and worker if known."""
    info = case.institution
    institution = session.scalars(select(Institution).where(Institution.code == info.code)).first()
    if institution is None:
        institution = Institution(code=info.code, name=info.name, province=info.province, city=info.city,
                                  city_code=info.city_code, level=info.level)
        session.add(institution)
        session.flush()
    facts = case.worker
    worker = session.scalars(select(Worker).where(Worker.social_security_number == facts.id_number)).first()
    if worker is None:
        worker = Worker(social_security_number=facts.id_number, name=facts.name, sex=facts.sex,
                        category=facts.category, insured_province=facts.insured_place.province,
                        insured_city=facts.insured_place.city, insured_city_code=facts.insured_place.city_code)
        session.add(worker)
        session.flush()
    stay = Stay(worker_id=worker.id, institution_id=institution.id, profile=case.profile.name,
                care=Care(case.stay.care), admission_no=case.stay.admission_no, dept=case.stay.dept,
                registration_no=case.stay.registration_no, admitted_on=case.stay.admitted,
                discharged_on=case.stay.discharged, emergency=case.stay.emergency,
                status=StayStatus.PENDING_SETTLEMENT, created_by=created_by)
    session.add(stay)
    session.flush()
    for seq, diagnosis in enumerate(case.stay.diagnoses, start=1):
        session.add(Diagnosis(stay_id=stay.id, role=DiagnosisRole.DISCHARGE, seq=seq, code=diagnosis.code,
                              name=diagnosis.name, injury=diagnosis.injury))
    catalogue = {entry.code for entry in case.catalogue}
    by_seq: dict[int, ChargeLine] = {}
    for item in sorted(case.items, key=lambda i: i.seq):
        line = ChargeLine(stay_id=stay.id, seq=item.seq, his_code=item.code,
                          code=item.code if item.code in catalogue else None, name=item.name,
                          category=ChargeCategory(item.category), quantity=item.quantity,
                          unit_price=item.unit_price, amount=item.amount, charged_on=item.date,
                          diagnosis_code=item.diagnosis, injury=item.injury, source=ChargeSource.HIS,
                          created_by=created_by,
                          refund_of_id=by_seq[item.refund_of].id if item.refund_of is not None else None)
        session.add(line)
        session.flush()  # a refund names its original's id
        by_seq[item.seq] = line
    session.refresh(stay)
    return stay
