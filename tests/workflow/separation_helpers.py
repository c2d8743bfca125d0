"""Stays for the 伤病分离 tests and the workflow bench: a case's facts stored as the counter's records.

`store_case` writes everything `case_for_stay` reads back (worker, recognition and its diagnoses,
filing, stay and its diagnoses, the local catalogue, the charge lines), so a round trip through
the database can be checked against the rules on the case file itself.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.demo.case_records import record_case_stay
from app.db.models import (
    Care,
    CatalogueItem,
    ChargeCategory,
    ChargeLine,
    ChargeSource,
    Diagnosis,
    DiagnosisRole,
    Filing,
    FilingCategory,
    FilingStatus,
    InjuryRecognition,
    Institution,
    Operator,
    RecognitionDiagnosis,
    RecognitionKind,
    Role,
    Stay,
    StayStatus,
    Worker,
)
from app.operators import OperatorInfo
from app.rules.case import Case, round_money
from tests.signed_in import signed_in

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient

ZHANG_WEI = "440802198503151236"


def operator(session: Session, login: str, role: Role) -> OperatorInfo:
    record = session.scalars(select(Operator).where(Operator.login == login)).first()
    if record is None:
        record = Operator(login=login, display_name={"cashier": "张收款", "reviewer": "李审核"}.get(login, login),
                          role=role, password_hash="not-a-real-hash")
        session.add(record)
        session.flush()
    return signed_in(record)


def store_case(session: Session, case: Case, created_by: int) -> int:
    """The case's stay with its recognition, filing and catalogue; returns the stay's id."""
    stay = record_case_stay(session, case, created_by)
    if case.recognition is not None:
        recognition = InjuryRecognition(worker_id=stay.worker_id, decision_no=case.recognition.decision_no,
                                        kind=RecognitionKind.INJURY, injury_date=case.recognition.injury_date)
        session.add(recognition)
        session.flush()
        for diagnosis in case.recognition.diagnoses:
            session.add(RecognitionDiagnosis(recognition_id=recognition.id, code=diagnosis.code, name=diagnosis.name))
        stay.recognition_id = recognition.id
    if case.filing is not None:
        facts = case.filing
        filing = Filing(worker_id=stay.worker_id, filing_no=facts.id, category=FilingCategory(facts.category),
                        covers_medical="medical" in facts.care, covers_rehab="rehab" in facts.care,
                        covers_device="device" in facts.care, dest_province=facts.destination.province,
                        dest_city=facts.destination.city, dest_city_code=facts.destination.city_code,
                        dest_institution_code=facts.destination.institution_code, approved_on=facts.approved_on,
                        filed_on=facts.filed_on, valid_from=facts.valid_from, valid_to=facts.valid_to,
                        status=FilingStatus(facts.status), terminated_on=facts.terminated_on,
                        used_by_settlement=facts.used_by_settlement)
        session.add(filing)
        session.flush()
        stay.filing_id = filing.id
    stay.status = StayStatus.ADMITTED
    for entry in case.catalogue:
        if session.scalars(select(CatalogueItem).where(CatalogueItem.code == entry.code)).first() is None:
            session.add(CatalogueItem(code=entry.code, name=entry.name, category=ChargeCategory(entry.category),
                                      price_limit=entry.price_limit, max_pay=entry.max_pay, per_day=entry.per_day,
                                      version=1))
    session.flush()
    return stay.id


# --- a big stay for the performance checks and the bench -----------------------------------------

CATALOGUE = (
    ("XB01AC06", "阿司匹林肠溶片", ChargeCategory.DRUG, Decimal("0.50")),
    ("XJ01DC02", "注射用头孢呋辛钠", ChargeCategory.DRUG, Decimal("8.50")),
    ("110900001", "床位费（三人间）", ChargeCategory.TREATMENT, Decimal("45.00")),
    ("111100002", "Ⅱ级护理", ChargeCategory.TREATMENT, Decimal("18.00")),
    ("C0101001002", "一次性使用输液器（带针）", ChargeCategory.CONSUMABLE, Decimal("3.50")),
)


def zhang_wei_stay(session: Session, created_by: int, *, admitted: dt.date, registration_no: str | None = None,
                   admission_no: str = "ZY-C-0001") -> int:
    """张伟 (the sandbox's local worker): recognition S82.201, admitting diagnoses S82.201 and I10."""
    institution = session.scalars(select(Institution).order_by(Institution.id)).first()
    if institution is None:
        institution = Institution(code="H44080100001", name="湛江市第一人民医院", province="广东省", city="湛江市",
                                  city_code="440800", level="三级甲等")
        session.add(institution)
        session.flush()
    worker = session.scalars(select(Worker).where(Worker.social_security_number == ZHANG_WEI)).first()
    if worker is None:
        worker = Worker(social_security_number=ZHANG_WEI, name="张伟", sex="男", insured_province="广东省",
                        insured_city="湛江市", insured_city_code="440800")
        session.add(worker)
        session.flush()
    recognition = InjuryRecognition(worker_id=worker.id, decision_no=f"湛人社工认〔2026〕0101号-{admission_no}",
                                    kind=RecognitionKind.INJURY, injury_date=admitted - dt.timedelta(days=40))
    session.add(recognition)
    session.flush()
    session.add(RecognitionDiagnosis(recognition_id=recognition.id, code="S82.201", name="胫骨干骨折"))
    stay = Stay(worker_id=worker.id, institution_id=institution.id, recognition_id=recognition.id, profile="local",
                care=Care.MEDICAL, admission_no=admission_no, registration_no=registration_no, dept="骨关节病区",
                admitted_on=admitted, created_by=created_by)
    session.add(stay)
    session.flush()
    session.add_all([
        Diagnosis(stay_id=stay.id, role=DiagnosisRole.ADMITTING, seq=1, code="S82.201", name="胫骨干骨折", injury=True),
        Diagnosis(stay_id=stay.id, role=DiagnosisRole.ADMITTING, seq=2, code="I10", name="原发性高血压", injury=False),
    ])
    for code, name, category, limit in CATALOGUE:
        if session.scalars(select(CatalogueItem).where(CatalogueItem.code == code)).first() is None:
            session.add(CatalogueItem(code=code, name=name, category=category, price_limit=limit, version=1))
    session.flush()
    return stay.id


def add_lines(session: Session, stay_id: int, count: int, created_by: int, *, day: dt.date,
              first_seq: int = 1, unclassified_every: int = 0) -> None:
    """`count` lines in bulk: catalogue items, one in ten outside the catalogue, one in five for I10."""
    rows = []
    for seq in range(first_seq, first_seq + count):
        code, name, category, limit = CATALOGUE[seq % len(CATALOGUE)]
        outside = seq % 10 == 3
        price = (limit or Decimal("12.00")) + (Decimal("0.10") if seq % 7 == 0 else Decimal("0"))
        quantity = Decimal(1 + seq % 3)
        diagnosis = None if unclassified_every and seq % unclassified_every == 0 else (
            "I10" if seq % 5 == 0 else "S82.201")
        rows.append({
            "stay_id": stay_id, "seq": seq, "his_code": f"HIS-{seq % 20:02d}" if outside else code,
            "code": None if outside else code, "name": name, "category": category, "quantity": quantity,
            "unit_price": price, "amount": round_money(quantity * price), "charged_on": day,
            "diagnosis_code": diagnosis, "dept": "骨关节病区" if seq % 4 else "检验科",
            "order_group": f"医嘱{seq // 50:04d}", "source": ChargeSource.HIS, "created_by": created_by,
            "patient_informed": False,
        })
    session.execute(insert(ChargeLine), rows)


def sync_local_catalogue(ctx: CounterContext, client: CentreClient) -> int:
    """The centre's catalogue into the local table (what the preview prices by), page by page."""
    entries = []
    page, pages = 1, 1
    while page <= pages:
        result = client.download_catalogue(0, page)
        entries.extend(result.entries)
        pages = result.pages
        page += 1
    with ctx.transaction() as session:
        known = set(session.scalars(select(CatalogueItem.code)))
        for entry in entries:
            if entry.code in known or not entry.valid:
                continue
            session.add(CatalogueItem(code=entry.code, name=entry.name, category=ChargeCategory(entry.category),
                                      unit=entry.unit, price_limit=entry.price_limit, max_pay=entry.max_pay,
                                      per_day=entry.per_day, min_years=entry.min_years, version=entry.version))
    return len(entries)
