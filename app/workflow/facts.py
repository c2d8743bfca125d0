"""The centre's person as the rules' facts, and as the counter's own records.

The centre answers a lookup with a `Person` (worker, recognitions, filings). The counter
judges the filing itself with `app.rules.verdict.judge` on a `Case` built here, and keeps
what it judged on: worker, recognitions (+ diagnoses) and filings are stored (upserted by
their natural keys: social security number, decision number, filing id) so that the stay,
the checks and an offline admission can name them.

Which recognition and filing a stay uses follows the centre's own rule (interface §6, 2401):
the one named on the form; else the newest recognition, and the newest filing naming this
institution's city (else the newest at all, so that the verdict can say why it does not apply).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.centre.gateway import CardInfo, Destination, Diagnosis, Filing, Person, Place, Recognition, to_json
from app.db.models import (
    Filing as FilingRecord,
)
from app.db.models import (
    FilingCategory,
    FilingStatus,
    InjuryRecognition,
    RecognitionDiagnosis,
    RecognitionKind,
    Stay,
    Worker,
)
from app.institution import InstitutionInfo
from app.rules import case as facts
from app.rules.profiles import load_profile

# The centre names recognition kinds in Chinese (interface §6, 1101); the counter's records in English.
RECOGNITION_KINDS: dict[str, RecognitionKind] = {
    "工伤认定": RecognitionKind.INJURY,
    "工伤复发确认": RecognitionKind.RECURRENCE,
    "工伤康复确认": RecognitionKind.REHAB,
    "辅助器具配置确认": RecognitionKind.DEVICE,
}
RECOGNITION_LABELS = {kind: label for label, kind in RECOGNITION_KINDS.items()}


# --- choosing the recognition and the filing ---------------------------------------------


def choose_recognition(person: Person, recognition_no: str | None) -> Recognition | None:
    if recognition_no:
        return next((r for r in person.recognitions if r.decision_no == recognition_no), None)
    if not person.recognitions:
        return None
    return max(person.recognitions, key=lambda r: (r.decided_on or dt.date.min, r.decision_no))


def choose_filing(person: Person, filing_id: str | None, city_code: str) -> Filing | None:
    if filing_id:
        return next((f for f in person.filings if f.id == filing_id), None)
    if not person.filings:
        return None
    # As the centre does: this city first, then active ones, then the newest.
    return max(person.filings, key=lambda f: (f.destination.city_code == city_code, f.status == "active",
                                              f.filed_on, f.id))


# --- the rules' facts ----------------------------------------------------------------------


def worker_facts(person: Person) -> facts.WorkerFacts:
    place = person.insured_place
    return facts.WorkerFacts(
        name=person.name, sex=person.sex, id_number=person.social_security_number, category=person.category,
        insured_place=facts.Place(place.province, place.city, place.city_code),
        insurance_active=person.insurance_active, contribution_ok=person.contribution_ok,
    )


def recognition_facts(recognition: Recognition | None) -> facts.RecognitionFacts | None:
    if recognition is None:
        return None
    return facts.RecognitionFacts(
        decision_no=recognition.decision_no, injury_date=recognition.injury_date,
        diagnoses=tuple(facts.NamedDiagnosis(d.code, d.name) for d in recognition.diagnoses),
    )


def filing_facts(filing: Filing | None) -> facts.FilingFacts | None:
    if filing is None:
        return None
    d = filing.destination
    return facts.FilingFacts(
        id=filing.id, category=filing.category, care=frozenset(filing.care),
        destination=facts.Destination(d.province, d.city, d.city_code, d.institution_code),
        approved_on=filing.approved_on, valid_from=filing.valid_from, valid_to=filing.valid_to,
        status=filing.status, terminated_on=filing.terminated_on, used_by_settlement=filing.used_by_settlement,
        filed_on=filing.filed_on,
    )


def build_case(
    person: Person,
    institution: InstitutionInfo,
    *,
    recognition: Recognition | None,
    filing: Filing | None,
    care: str,
    admission_no: str,
    dept: str,
    admitted: dt.date,
    diagnoses: Iterable[tuple[str, str, bool]],
    emergency: bool = False,
    third_party_liability: bool = False,
    registration_no: str | None = None,
    discharged: dt.date | None = None,
    settled: dt.date | None = None,
) -> facts.Case:
    """A Case for the filing verdict (no catalogue, no lines: the verdict does not look at them)."""
    return facts.Case(
        profile=load_profile(person.profile),
        institution=institution,
        worker=worker_facts(person),
        recognition=recognition_facts(recognition),
        filing=filing_facts(filing),
        stay=facts.StayFacts(
            care=care, admission_no=admission_no or "-", dept=dept or "-", registration_no=registration_no,
            admitted=admitted, discharged=discharged, settled=settled, emergency=emergency,
            third_party_liability=third_party_liability,
            diagnoses=tuple(facts.StayDiagnosis(code, name, injury) for code, name, injury in diagnoses),
        ),
        catalogue=(),
        items=(),
    )


def person_inputs(person: Person, recognition: Recognition | None, filing: Filing | None) -> dict[str, Any]:
    """What a check judged, as JSON for filing_check.inputs (the audit masks ID numbers itself)."""
    return {
        "person": {
            "social_security_number": person.social_security_number, "name": person.name,
            "category": person.category, "insured_place": to_json(person.insured_place),
            "insurance_active": person.insurance_active, "contribution_ok": person.contribution_ok,
            "insurance_status": person.insurance_status, "profile": person.profile,
        },
        "recognition": None if recognition is None else to_json(recognition),
        "filing": None if filing is None else to_json(filing),
    }


# --- the counter's records --------------------------------------------------------------------


def store_person(session: Session, person: Person) -> Worker:
    """Insert or refresh the worker, its recognitions (+ diagnoses) and filings from the centre."""
    worker = session.scalars(
        select(Worker).where(Worker.social_security_number == person.social_security_number)
    ).one_or_none()
    if worker is None:
        worker = Worker(social_security_number=person.social_security_number)
        session.add(worker)
    worker.name = person.name
    worker.sex = person.sex
    worker.birth_date = person.birth_date
    worker.category = person.category
    worker.insured_province = person.insured_place.province
    worker.insured_city = person.insured_place.city
    worker.insured_city_code = person.insured_place.city_code
    if person.card is not None:
        worker.card_number = person.card.number
    worker.insurance_active = person.insurance_active
    worker.contribution_ok = person.contribution_ok
    session.flush()
    for recognition in person.recognitions:
        _store_recognition(session, worker, recognition)
    for filing in person.filings:
        _store_filing(session, worker, filing)
    session.flush()
    return worker


def _store_recognition(session: Session, worker: Worker, recognition: Recognition) -> InjuryRecognition:
    record = session.scalars(select(InjuryRecognition).where(
        InjuryRecognition.worker_id == worker.id, InjuryRecognition.decision_no == recognition.decision_no,
    )).one_or_none()
    if record is None:
        record = InjuryRecognition(worker_id=worker.id, decision_no=recognition.decision_no)
        session.add(record)
    record.kind = RECOGNITION_KINDS.get(recognition.kind, RecognitionKind.INJURY)
    record.injury_date = recognition.injury_date
    record.recognised_on = recognition.decided_on
    wanted = {d.code: d.name for d in recognition.diagnoses}
    for existing in list(record.diagnoses):
        if existing.code not in wanted:
            record.diagnoses.remove(existing)
        else:
            existing.name = wanted.pop(existing.code)
    for code, name in wanted.items():
        record.diagnoses.append(RecognitionDiagnosis(code=code, name=name))
    return record


def _store_filing(session: Session, worker: Worker, filing: Filing) -> FilingRecord:
    record = session.scalars(select(FilingRecord).where(FilingRecord.filing_no == filing.id)).one_or_none()
    if record is None:
        record = FilingRecord(worker_id=worker.id, filing_no=filing.id)
        session.add(record)
    record.worker_id = worker.id
    record.category = FilingCategory(filing.category)
    record.covers_medical = "medical" in filing.care
    record.covers_rehab = "rehab" in filing.care
    record.covers_device = "device" in filing.care
    d = filing.destination
    record.dest_province, record.dest_city, record.dest_city_code = d.province, d.city, d.city_code
    record.dest_institution_code = d.institution_code
    record.approved_on = filing.approved_on
    record.filed_on = filing.filed_on
    record.valid_from = filing.valid_from
    record.valid_to = filing.valid_to
    record.status = FilingStatus(filing.status)
    record.terminated_on = filing.terminated_on
    record.used_by_settlement = filing.used_by_settlement
    record.fetched_at = dt.datetime.now(dt.UTC)
    return record


def recognition_record(session: Session, worker: Worker, decision_no: str | None) -> InjuryRecognition | None:
    if decision_no is None:
        return None
    return session.scalars(select(InjuryRecognition).where(
        InjuryRecognition.worker_id == worker.id, InjuryRecognition.decision_no == decision_no,
    )).one_or_none()


def filing_record(session: Session, filing_id: str | None) -> FilingRecord | None:
    if filing_id is None:
        return None
    return session.scalars(select(FilingRecord).where(FilingRecord.filing_no == filing_id)).one_or_none()


def stored_person(session: Session, social_security_number: str, profile: str | None = None) -> Person | None:
    """The person as last fetched from the centre (for an admission while the centre is down:
    judged on stored data, re-checked when the link returns). `profile`: the policy profile;
    None = the one of the worker's latest stay here (no stay yet: None, the region is unknown)."""
    worker = session.scalars(
        select(Worker).where(Worker.social_security_number == social_security_number.strip().upper())
    ).one_or_none()
    if worker is None:
        return None
    if profile is None:
        profile = session.scalars(select(Stay.profile).where(Stay.worker_id == worker.id)
                                  .order_by(Stay.admitted_on.desc(), Stay.id.desc()).limit(1)).first()
        if profile is None:
            return None
    recognitions = tuple(
        Recognition(r.decision_no, RECOGNITION_LABELS[r.kind], r.injury_date, r.recognised_on,
                    tuple(Diagnosis(d.code, d.name) for d in r.diagnoses))
        for r in worker.recognitions
    )
    filings = tuple(
        Filing(
            id=f.filing_no, category=f.category.value,
            care=tuple(c for c, on in (("medical", f.covers_medical), ("rehab", f.covers_rehab),
                                       ("device", f.covers_device)) if on),
            destination=Destination(f.dest_province, f.dest_city, f.dest_city_code, f.dest_institution_code),
            approved_on=f.approved_on, valid_from=f.valid_from, valid_to=f.valid_to, status=f.status.value,
            terminated_on=f.terminated_on, used_by_settlement=f.used_by_settlement, filed_on=f.filed_on,
        )
        for f in worker.filings
    )
    return Person(
        social_security_number=worker.social_security_number, name=worker.name, sex=worker.sex,
        birth_date=worker.birth_date, category=worker.category,
        insured_place=Place(worker.insured_province, worker.insured_city, worker.insured_city_code),
        card=None if worker.card_number is None else CardInfo(worker.card_number, worker.insured_city_code, None),
        insurance_active=worker.insurance_active, contribution_ok=worker.contribution_ok,
        insurance_status="（本机保存的资料）", profile=profile, recognitions=recognitions, filings=filings,
    )
