"""A stay's life at a glance: the list of stays with their status, and one stay in detail.

ID numbers are masked in the list (`app.masking`); the full number can be searched for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from app.business_date import business_today
from app.db.models import (
    ChargeLine,
    DiagnosisRole,
    FilingCheck,
    FullPaymentReceipt,
    InjuryRecognition,
    Operator,
    Settlement,
    SettlementKind,
    Stay,
    StayStatus,
    Worker,
)
from app.db.models import Filing as FilingRecord
from app.errors import ConfigurationError
from app.masking import mask_id_number
from app.rules.case import place_name
from app.workflow.common import StayNotFound

STATUS_LABELS: dict[StayStatus, str] = {
    StayStatus.ADMITTED: "在院",
    StayStatus.PENDING_SETTLEMENT: "待结算",
    StayStatus.SETTLED: "已结算",
    StayStatus.CANCELLED: "已撤销",
    StayStatus.PENDING_BACKFILL: "待补登记",  # 全额垫付; once 补登记 is done: PAID_IN_FULL_LABEL
}
PAID_IN_FULL_LABEL = "已全额垫付（已补登记）"
CARE_LABELS = {"medical": "就医", "rehab": "康复", "device": "辅助器具配置"}


@dataclass(frozen=True)
class StaySummary:
    stay_id: int
    name: str
    masked_id: str
    admission_no: str
    registration_no: str | None
    dept: str
    admitted_on: dt.date
    discharged_on: dt.date | None
    status: StayStatus
    status_label: str
    settlement_id: int | None  # the settlement in force
    total: Decimal | None
    personal_total: Decimal | None
    registered_offline: bool
    backfill_due: str = ""  # 全额垫付: 补登记 due today / overdue (Guangdong, 003 §17)


def _in_force() -> Select[int, int, Decimal, Decimal]:
    """Settlements not cancelled (at most one a stay)."""
    cancel = aliased(Settlement)
    return (select(Settlement.stay_id, Settlement.id, Settlement.total, Settlement.personal_total)
            .outerjoin(cancel, cancel.reverses_id == Settlement.id)
            .where(Settlement.kind == SettlementKind.SETTLEMENT, cancel.id.is_(None)))


def list_stays(session: Session, *, status: StayStatus | None = None, search: str = "",
               limit: int = 500, worker_ssn: str | None = None, today: dt.date | None = None) -> list[StaySummary]:
    """Newest first. `search`: part of the name, a full ID number, a 住院号 or 就医登记号 (or part of one);
    `worker_ssn`: only this worker's stays."""
    live = _in_force().subquery()
    query = (select(Stay.id, Worker.name, Worker.social_security_number, Stay.admission_no, Stay.registration_no,
                    Stay.dept, Stay.admitted_on, Stay.discharged_on, Stay.status, live.c.id, live.c.total,
                    live.c.personal_total, Stay.registered_offline)
             .join(Worker, Worker.id == Stay.worker_id)
             .outerjoin(live, live.c.stay_id == Stay.id))
    if status is not None:
        query = query.where(Stay.status == status)
    if worker_ssn is not None:
        query = query.where(Worker.social_security_number == worker_ssn.upper())
    text = search.strip()
    if text:
        pattern = f"%{_escape(text)}%"
        conditions: list[ColumnElement[bool]] = [Worker.name.like(pattern, escape="\\"), Stay.admission_no.like(pattern, escape="\\"),
                      Stay.registration_no.like(pattern, escape="\\")]
        if len(text) == 18:
            # A full ID number only: a part of one would let the list be searched digit by digit.
            conditions.append(Worker.social_security_number == text.upper())
        query = query.where(or_(*conditions))
    query = query.order_by(Stay.admitted_on.desc(), Stay.id.desc()).limit(limit)
    rows = session.execute(query).all()
    paid = backfill_states(session, [row[0] for row in rows if row[8] is StayStatus.PENDING_BACKFILL],
                           today or business_today())
    return [
        StaySummary(row[0], row[1], mask_id_number(row[2]), row[3], row[4], row[5], row[6], row[7], row[8],
                    paid[row[0]].label if row[0] in paid else STATUS_LABELS[row[8]], row[9], row[10], row[11],
                    row[12], paid[row[0]].due if row[0] in paid else "")
        for row in rows
    ]


@dataclass(frozen=True)
class BackfillState:
    """A stay paid in full (`003 §17`): its 补登记 done or not, and when it is due."""

    label: str  # the status as the list shows it
    due: str  # in Guangdong: due today / overdue since the day the fault cleared ("" otherwise)
    overdue: bool
    due_today: bool


def backfill_state(receipt: FullPaymentReceipt | None, profile_name: str, today: dt.date) -> BackfillState:
    from app.rules.profiles import load_profile

    if receipt is None:
        return BackfillState(STATUS_LABELS[StayStatus.PENDING_BACKFILL], "", False, False)
    if receipt.settlement_id is not None:  # the old flow settled it at 补登记 (docs/full-payment.md)
        return BackfillState("已全额垫付（旧流程已联网结算）", "", False, False)
    if receipt.backfilled_at is not None:
        return BackfillState(PAID_IN_FULL_LABEL, "", False, False)
    cleared = receipt.fault_cleared_on
    try:
        same_day = load_profile(profile_name).backfill_on_fault_cleared
    except ConfigurationError:  # a profile no longer shipped: no deadline to show
        same_day = False
    if not same_day or cleared is None:
        return BackfillState("待补登记", "", False, False)
    if today <= cleared:
        return BackfillState("待补登记（今日须办理）",
                             f"故障已于 {cleared} 排除，今日须补登记（003 §17）", False, True)
    return BackfillState("待补登记（已逾期）",
                         f"补登记已逾期：应于故障排除当日 {cleared} 办理（003 §17）", True, False)


def backfill_states(session: Session, stay_ids: list[int], today: dt.date) -> dict[int, BackfillState]:
    """The 补登记 state of each stay paid in full among `stay_ids`."""
    if not stay_ids:
        return {}
    receipts: dict[int, FullPaymentReceipt] = {}
    for receipt in session.scalars(select(FullPaymentReceipt).where(FullPaymentReceipt.stay_id.in_(stay_ids))
                                   .order_by(FullPaymentReceipt.id)):
        receipts[receipt.stay_id] = receipt  # the latest wins
    profiles = dict(session.execute(select(Stay.id, Stay.profile).where(Stay.id.in_(stay_ids))).all())
    return {stay_id: backfill_state(receipts.get(stay_id), profiles[stay_id], today) for stay_id in stay_ids}


@dataclass(frozen=True)
class OldFlowFullPayment:
    """A stay paid in full that the old flow (before issue 23) settled directly at 补登记, handing the
    fund's part back at the window. Listed for a reviewer (docs/full-payment.md); never rewritten."""

    receipt_no: str
    stay_id: int
    name: str
    masked_id: str
    admission_no: str
    paid_in_full: Decimal
    settlement_id: int
    centre_settlement_id: str
    fund_handed_back: Decimal
    backfilled_at: dt.datetime | None
    claim_batch: str | None  # the monthly claim it is in, if any
    cancelled: bool


def old_flow_full_payments(session: Session) -> list[OldFlowFullPayment]:
    from app.db.models import ClaimEntry, MonthlyClaim

    cancel = aliased(Settlement)
    rows = session.execute(
        select(FullPaymentReceipt.receipt_no, Stay.id, Worker.name, Worker.social_security_number,
               Stay.admission_no, FullPaymentReceipt.amount, Settlement.id, Settlement.centre_settlement_id,
               Settlement.fund_total, FullPaymentReceipt.backfilled_at, MonthlyClaim.batch_no, cancel.id)
        .join(Stay, Stay.id == FullPaymentReceipt.stay_id).join(Worker, Worker.id == Stay.worker_id)
        .join(Settlement, Settlement.id == FullPaymentReceipt.settlement_id)
        .outerjoin(cancel, cancel.reverses_id == Settlement.id)
        .outerjoin(ClaimEntry, ClaimEntry.settlement_id == Settlement.id)
        .outerjoin(MonthlyClaim, MonthlyClaim.id == ClaimEntry.claim_id)
        .order_by(FullPaymentReceipt.id)).all()
    return [OldFlowFullPayment(r[0], r[1], r[2], mask_id_number(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                               r[11] is not None) for r in rows]


# A stay still being dealt with at the counter: charges coming in, to settle, or to back-fill.
OPEN_STAY_STATUSES = (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT, StayStatus.PENDING_BACKFILL)


def open_stay_of_worker(session: Session, social_security_number: str) -> StaySummary | None:
    """The worker's open stay (the newest, should there be more than one): the stay the window's pages
    show once the worker is identified (ui/current_patient.py)."""
    return next((stay for stay in list_stays(session, worker_ssn=social_security_number)
                 if stay.status in OPEN_STAY_STATUSES and _still_open(stay)), None)


def _still_open(stay: StaySummary) -> bool:
    # A stay paid in full is done at the counter once its 补登记 is (nothing is ever settled for it).
    return stay.status is not StayStatus.PENDING_BACKFILL or stay.status_label.startswith("待补登记")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def status_counts(session: Session) -> dict[StayStatus, int]:
    rows = session.execute(select(Stay.status, func.count()).group_by(Stay.status)).all()
    return {status: int(count) for status, count in rows}


# --- one stay --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiagnosisView:
    role: str  # admitting / discharge
    code: str
    name: str
    injury: bool


@dataclass(frozen=True)
class CheckView:
    check_id: int
    stage: str  # admission / discharge
    basis: str  # counter / centre / offline
    check_date: dt.date
    allowed: bool
    settlement_kind: str
    reasons: tuple[dict[str, Any], ...]  # code, blocking, message, source
    checked_by: str
    checked_at: dt.datetime


@dataclass(frozen=True)
class SettlementView:
    settlement_id: int
    kind: str  # settlement / cancellation
    centre_settlement_id: str
    msgid: str
    settled_on: dt.date
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal
    operator: str
    reason: str | None
    cancelled_by_id: int | None  # for a settlement: its cancellation row, if any


@dataclass(frozen=True)
class ReceiptView:
    receipt_id: int
    receipt_no: str
    amount: Decimal
    issued_at: dt.datetime
    settlement_id: int | None
    backfilled_at: dt.datetime | None


@dataclass(frozen=True)
class StayDetail:
    summary: StaySummary
    masked_id: str
    sex: str
    insured_place: str
    profile: str
    settlement_kind: str | None
    care: str
    care_label: str
    bed: str | None
    emergency: bool
    third_party_liability: bool
    identified_by: str
    identification_reason: str | None
    recognition_no: str | None
    filing_no: str | None
    diagnoses: tuple[DiagnosisView, ...]
    checks: tuple[CheckView, ...]
    settlements: tuple[SettlementView, ...]
    receipts: tuple[ReceiptView, ...]
    line_count: int
    lines_uploaded: int
    lines_total: Decimal


def stay_detail(session: Session, stay_id: int) -> StayDetail:
    stay = session.get(Stay, stay_id)
    if stay is None:
        raise StayNotFound(stay_id)
    summary = next(s for s in _summaries_of(session, stay_id))
    worker = session.get(Worker, stay.worker_id)
    assert worker is not None
    names = dict(session.execute(select(Operator.id, Operator.display_name)).all())
    recognition = session.get(InjuryRecognition, stay.recognition_id) if stay.recognition_id else None
    filing = session.get(FilingRecord, stay.filing_id) if stay.filing_id else None
    checks = session.scalars(select(FilingCheck).where(FilingCheck.stay_id == stay_id).order_by(FilingCheck.id))
    settlements = list(session.scalars(select(Settlement).where(Settlement.stay_id == stay_id).order_by(Settlement.id)))
    cancelled_by = {s.reverses_id: s.id for s in settlements if s.reverses_id is not None}
    receipts = session.scalars(select(FullPaymentReceipt).where(FullPaymentReceipt.stay_id == stay_id)
                               .order_by(FullPaymentReceipt.id))
    count, uploaded, total = session.execute(
        select(func.count(ChargeLine.id), func.count(ChargeLine.uploaded_at), func.sum(ChargeLine.amount))
        .where(ChargeLine.stay_id == stay_id)).one()
    place = place_name(worker.insured_province, worker.insured_city)
    return StayDetail(
        summary=summary, masked_id=mask_id_number(worker.social_security_number), sex=worker.sex,
        insured_place=place, profile=stay.profile, settlement_kind=stay.settlement_kind, care=stay.care.value,
        care_label=CARE_LABELS[stay.care.value], bed=stay.bed, emergency=stay.emergency,
        third_party_liability=stay.third_party_liability, identified_by=stay.identified_by,
        identification_reason=stay.identification_reason,
        recognition_no=recognition.decision_no if recognition else None,
        filing_no=filing.filing_no if filing else None,
        diagnoses=tuple(DiagnosisView(d.role.value, d.code, d.name, d.injury)
                        for d in sorted(stay.diagnoses, key=lambda d: (d.role is DiagnosisRole.DISCHARGE, d.seq))),
        checks=tuple(CheckView(c.id, c.stage, c.basis, c.check_date, c.allowed, c.settlement_kind,
                               tuple(c.reasons), names.get(c.checked_by, ""), c.checked_at) for c in checks),
        settlements=tuple(SettlementView(s.id, s.kind.value, s.centre_settlement_id, s.msgid, s.settled_on, s.total,
                                         s.fund_total, s.personal_total, names.get(s.operator_id, ""), s.reason,
                                         cancelled_by.get(s.id)) for s in settlements),
        receipts=tuple(ReceiptView(r.id, r.receipt_no, r.amount, r.issued_at, r.settlement_id, r.backfilled_at)
                       for r in receipts),
        line_count=int(count or 0), lines_uploaded=int(uploaded or 0),
        lines_total=_money_sum(session, stay_id) if total is not None else Decimal("0.00"),
    )


def _money_sum(session: Session, stay_id: int) -> Decimal:
    # Summed in Python: the column holds integer fen behind a type decorator.
    amounts = session.scalars(select(ChargeLine.amount).where(ChargeLine.stay_id == stay_id)).all()
    return sum(amounts, Decimal("0.00"))


def _summaries_of(session: Session, stay_id: int) -> list[StaySummary]:
    live = _in_force().subquery()
    row = session.execute(
        select(Stay.id, Worker.name, Worker.social_security_number, Stay.admission_no, Stay.registration_no,
               Stay.dept, Stay.admitted_on, Stay.discharged_on, Stay.status, live.c.id, live.c.total,
               live.c.personal_total, Stay.registered_offline)
        .join(Worker, Worker.id == Stay.worker_id).outerjoin(live, live.c.stay_id == Stay.id)
        .where(and_(Stay.id == stay_id))).one()
    return [StaySummary(row[0], row[1], mask_id_number(row[2]), row[3], row[4], row[5], row[6], row[7], row[8],
                        STATUS_LABELS[row[8]], row[9], row[10], row[11], row[12])]
