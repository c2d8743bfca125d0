"""A stay's stored records as a `Case` of the rules (`app.rules.case`).

The rules judge and compute on a `Case`; the counter keeps the same facts as rows (worker,
recognition and its diagnoses, filing, stay and its diagnoses, the local catalogue, the
charge lines). Everything is read with Core selects — one query per table, no ORM object
per line — so a 20,000-line stay becomes a case in a fraction of a second.

Charge lines that the rules cannot take yet (no diagnosis and no injury flag, a diagnosis
that is not the stay's, no category) are returned apart by `stay_records`, so that the
伤病分离 workspace can show them as 未分类 instead of failing (`003 §15`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, String, select, type_coerce
from sqlalchemy.orm import Session

from app.business_date import business_today
from app.db.models import (
    CatalogueItem,
    ChargeLine,
    Diagnosis,
    DiagnosisRole,
    Filing,
    InjuryRecognition,
    Institution,
    RecognitionDiagnosis,
    Stay,
    Worker,
)
from app.institution import InstitutionInfo
from app.rules.case import (
    STAGES,
    Case,
    CatalogueEntry,
    ChargeItem,
    Destination,
    FilingFacts,
    NamedDiagnosis,
    Place,
    RecognitionFacts,
    StayDiagnosis,
    StayFacts,
    WorkerFacts,
)
from app.rules.classify import diagnosis_injury, line_injury
from app.rules.profiles import load_profile
from app.workflow.common import StayNotFound, WorkflowError
from app.workflow.device_fitting import notice_limits


class LineRow(NamedTuple):
    """One charge line as stored, in plain values (a tuple: 20,000 of them per refresh)."""

    line_id: int
    seq: int
    his_code: str
    code: str | None
    name: str
    category: str | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    charged_on: dt.date
    dept: str | None
    order_group: str | None
    diagnosis_code: str | None
    injury: bool | None
    override_reason: str | None
    override_by: int | None
    override_approved_by: int | None
    refund_of_id: int | None
    patient_informed: bool
    uploaded: bool


@dataclass(frozen=True)
class StayRecords:
    """The case of the stay, with what the rules could not take yet set apart."""

    case: Case  # items: only the lines the rules can settle
    lines: tuple[LineRow, ...]  # every line, by seq
    recognition_codes: frozenset[str]
    diagnosis_sources: dict[str, str]  # code → recognition / admitting / discharge
    unclassified: tuple[int, ...]  # seqs: no usable diagnosis and no injury flag (or following such a line)
    uncategorised: tuple[int, ...]  # seqs: no category (neither the HIS file nor the catalogue gave one)
    catalogue_codes: frozenset[str]  # the stay's codes found in the local catalogue (valid entries)


def case_for_stay(session: Session, stay_id: int, *, stage: str = "discharge",
                  check_date: dt.date | None = None) -> Case:
    """The stay as a `Case`: worker, recognition (+diagnoses), filing, stay (+diagnoses), catalogue, lines.

    Raises WorkflowError naming the lines the rules cannot settle yet (unclassified, no category):
    a case is never built with lines silently left out.
    """
    records = stay_records(session, stay_id, stage=stage, check_date=check_date)
    missing = records.unclassified + records.uncategorised
    if missing:
        parts = []
        if records.unclassified:
            parts.append(f"{len(records.unclassified)} 条明细未分类（无关联诊断或诊断不属于本次住院）："
                         f"序号 {_seq_list(records.unclassified)}")
        if records.uncategorised:
            parts.append(f"{len(records.uncategorised)} 条明细没有费用类别：序号 {_seq_list(records.uncategorised)}")
        raise WorkflowError("本次住院的费用明细尚不能结算：" + "；".join(parts))
    return records.case


def stay_records(session: Session, stay_id: int, *, stage: str = "discharge",
                 check_date: dt.date | None = None) -> StayRecords:
    if stage not in STAGES:
        raise WorkflowError(f"核验阶段只能取 {'、'.join(STAGES)}，实际为 {stage!r}")
    stay = session.execute(select(Stay.__table__).where(Stay.__table__.c.id == stay_id)).mappings().first()
    if stay is None:
        raise StayNotFound(stay_id)
    worker = session.execute(select(Worker.__table__).where(Worker.__table__.c.id == stay["worker_id"])
                             ).mappings().one()
    institution = session.execute(select(Institution.__table__).where(
        Institution.__table__.c.id == stay["institution_id"])).mappings().one()

    recognition_facts: RecognitionFacts | None = None
    recognition_codes: list[NamedDiagnosis] = []
    if stay["recognition_id"] is not None:
        recognition = session.execute(select(InjuryRecognition.__table__).where(
            InjuryRecognition.__table__.c.id == stay["recognition_id"])).mappings().one()
        rd = RecognitionDiagnosis.__table__.c
        recognition_codes = [NamedDiagnosis(code, name) for code, name in session.execute(
            select(rd.code, rd.name).where(rd.recognition_id == recognition["id"]).order_by(rd.id))]
        recognition_facts = RecognitionFacts(recognition["decision_no"], recognition["injury_date"],
                                             tuple(recognition_codes))

    filing_facts: FilingFacts | None = None
    if stay["filing_id"] is not None:
        filing = session.execute(select(Filing.__table__).where(Filing.__table__.c.id == stay["filing_id"])
                                 ).mappings().one()
        covered_care = frozenset(kind for kind, covered in (("medical", filing["covers_medical"]),
                                                    ("rehab", filing["covers_rehab"]),
                                                    ("device", filing["covers_device"])) if covered)
        filing_facts = FilingFacts(
            filing["filing_no"], str(filing["category"]), covered_care,
            Destination(filing["dest_province"], filing["dest_city"], filing["dest_city_code"],
                        filing["dest_institution_code"]),
            filing["approved_on"], filing["valid_from"], filing["valid_to"], str(filing["status"]),
            filing["terminated_on"], bool(filing["used_by_settlement"]), filing["filed_on"])

    # The stay's diagnoses: a discharge diagnosis replaces the admitting one of the same code.
    dc = Diagnosis.__table__.c
    stay_diagnoses: dict[str, StayDiagnosis] = {}
    sources: dict[str, str] = {d.code: "recognition" for d in recognition_codes}
    order = {DiagnosisRole.ADMITTING.value: 0, DiagnosisRole.DISCHARGE.value: 1}
    rows = session.execute(select(dc.role, dc.seq, dc.code, dc.name, dc.injury).where(dc.stay_id == stay_id)).all()
    for role, _seq, code, name, injury in sorted(rows, key=lambda r: (order.get(str(r.role), 2), r.seq)):
        stay_diagnoses[code] = StayDiagnosis(code, name, bool(injury))
        sources.setdefault(code, str(role))

    lines = _line_rows(session, stay_id)
    codes = {line.code for line in lines if line.code is not None}
    catalogue = _catalogue(session, codes)
    if str(stay["care"]) == "device":
        # A fitting on a notice: its devices are paid up to the insured place's limits as the notice
        # states them (000 §29, 001 §15), not this city's catalogue's.
        limits = notice_limits(session, stay_id)
        catalogue = {code: replace(entry, max_pay=_price(limits[code]))
                     if code in limits and entry.category == "device" else entry
                     for code, entry in catalogue.items()}

    # 伤病分离 precedence, defined once (app.rules.classify, 003 §15).
    injury_of = diagnosis_injury((d.code for d in recognition_codes),
                                 ((code, d.injury) for code, d in stay_diagnoses.items()))
    by_id = {line.line_id: line for line in lines}
    unclassified: list[int] = []
    uncategorised: list[int] = []
    items: list[ChargeItem] = []
    new_item = ChargeItem.__new__
    for line in lines:
        original = by_id.get(line.refund_of_id) if line.refund_of_id is not None else line
        if original is None:  # a refund of a line of another stay cannot happen; keep it visible anyway
            unclassified.append(line.seq)
            continue
        if line_injury(original.injury, original.diagnosis_code, injury_of) is None:
            unclassified.append(line.seq)
            continue
        if line.category is None:
            uncategorised.append(line.seq)
            continue
        item = new_item(ChargeItem)
        # Frozen dataclass: filling __dict__ at once builds the same object, several times faster.
        item.__dict__.update(seq=line.seq, code=_rules_code(line), name=line.name, category=line.category,
                             quantity=line.quantity, unit_price=line.unit_price, amount=line.amount,
                             diagnosis=line.diagnosis_code, injury=line.injury,
                             refund_of=original.seq if original is not line else None, date=line.charged_on)
        items.append(item)
    # A refund follows its original: when the original is left out, so is the refund.
    left_out = set(unclassified) | set(uncategorised)
    kept_refunds = [item for item in items if item.refund_of is not None and item.refund_of in left_out]
    for item in kept_refunds:
        items.remove(item)
        unclassified.append(item.seq)

    care = str(stay["care"])
    settled = (check_date or business_today()) if stage == "discharge" else None
    discharged = stay["discharged_on"]
    if settled is not None and discharged is not None and settled < discharged:
        settled = discharged
    case = Case(
        profile=load_profile(stay["profile"]),
        institution=InstitutionInfo(institution["code"], institution["name"], institution["province"],
                                    institution["city"], institution["city_code"], institution["level"],
                                    bool(institution["direct_settlement"])),
        worker=WorkerFacts(worker["name"], worker["sex"], worker["social_security_number"], worker["category"],
                           Place(worker["insured_province"], worker["insured_city"], worker["insured_city_code"]),
                           bool(worker["insurance_active"]), bool(worker["contribution_ok"])),
        recognition=recognition_facts,
        filing=filing_facts,
        stay=StayFacts(care, stay["admission_no"], stay["dept"], stay["registration_no"], stay["admitted_on"],
                       discharged, settled, bool(stay["emergency"]), bool(stay["third_party_liability"]),
                       tuple(stay_diagnoses.values())),
        catalogue=tuple(catalogue.values()),
        items=tuple(items),
    )
    return StayRecords(case, tuple(lines), frozenset(d.code for d in recognition_codes), sources,
                       tuple(sorted(unclassified)), tuple(uncategorised), frozenset(catalogue))


def _rules_code(line: LineRow) -> str:
    # An unmatched line is priced by what the hospital billed: its HIS code, outside the catalogue.
    return line.code if line.code is not None else line.his_code


def _line_rows(session: Session, stay_id: int) -> list[LineRow]:
    c = ChargeLine.__table__.c
    # Raw stored values (integers ×10^n, the date's text on SQLite), converted through small caches: a
    # stay repeats the same prices, quantities and days, and 60,000 type-processor calls per refresh
    # were most of the workspace's time.
    query = select(
        c.id, c.seq, c.his_code, c.code, c.name, type_coerce(c.category, String), type_coerce(c.quantity_e4, BigInteger),
        type_coerce(c.unit_price_e4, BigInteger), type_coerce(c.amount_fen, BigInteger),
        type_coerce(c.charged_on, String), c.dept, c.order_group, c.diagnosis_code, c.injury,
        c.injury_override_reason, c.override_by, c.override_approved_by, c.refund_of_id, c.patient_informed,
        c.uploaded_at.is_not(None),
    ).where(c.stay_id == stay_id).order_by(c.seq)
    e4: dict[int, Decimal] = {}
    fen: dict[int, Decimal] = {}
    days: dict[Any, dt.date] = {}
    new = tuple.__new__  # LineRow(...) costs a Python call per line
    lines = []
    for row in session.execute(query).all():  # one fetchall, not a fetchone per line
        quantity = e4.get(row[6])
        if quantity is None:
            quantity = e4[row[6]] = _scaled(row[6], 4)
        unit_price = e4.get(row[7])
        if unit_price is None:
            unit_price = e4[row[7]] = _scaled(row[7], 4)
        amount = fen.get(row[8])
        if amount is None:
            amount = fen[row[8]] = _scaled(row[8], 2)
        day = days.get(row[9])
        if day is None:
            day = days[row[9]] = row[9] if isinstance(row[9], dt.date) else dt.date.fromisoformat(str(row[9]))
        lines.append(new(LineRow, (row[0], row[1], row[2], row[3], row[4], row[5], quantity, unit_price, amount, day,
                                   row[10], row[11], row[12], row[13], row[14], row[15], row[16], row[17],
                                   bool(row[18]), bool(row[19]))))
    return lines


def _scaled(value: int, places: int) -> Decimal:
    """As `app.db.types.ScaledDecimal` reads it back: the same value, the same number of places."""
    return Decimal(int(value)).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def _catalogue(session: Session, codes: set[str]) -> dict[str, CatalogueEntry]:
    """The valid local catalogue entries among `codes` (the local copy of the centre's catalogue)."""
    if not codes:
        return {}
    c = CatalogueItem.__table__.c
    found: dict[str, CatalogueEntry] = {}
    ordered = sorted(codes)
    for start in range(0, len(ordered), 500):  # bound the IN list (SQLite's variable limit)
        chunk = ordered[start:start + 500]
        query = select(c.code, c.name, c.category, c.price_limit_e4, c.max_pay_e4, c.per_day).where(
            c.valid.is_(True), c.code.in_(chunk))
        for code, name, category, price_limit, max_pay, per_day in session.execute(query):
            found[code] = CatalogueEntry(code, name, str(category), _price(price_limit), _price(max_pay),
                                         bool(per_day))
    return found


def _price(value: Decimal | None) -> Decimal | None:
    """38.5000 as stored → 38.50, as the catalogue writes it (the rules quote the limit in their reason)."""
    if value is None:
        return None
    cents = value.quantize(Decimal("0.01"))
    return cents if cents == value else value.normalize()


def _seq_list(seqs: tuple[int, ...] | list[int], limit: int = 20) -> str:
    shown = "、".join(str(seq) for seq in list(seqs)[:limit])
    return shown + (f" 等 {len(seqs)} 条" if len(seqs) > limit else "")


def stay_diagnosis_codes(session: Session, stay_id: int) -> set[str]:
    """The codes a line of the stay may follow: the recognition's and the stay's own diagnoses."""
    recognition_id = session.scalar(select(Stay.recognition_id).where(Stay.id == stay_id))
    dc = Diagnosis.__table__.c
    codes = set(session.scalars(select(dc.code).where(dc.stay_id == stay_id)))
    if recognition_id is not None:
        rd = RecognitionDiagnosis.__table__.c
        codes.update(session.scalars(select(rd.code).where(rd.recognition_id == recognition_id)))
    return codes
