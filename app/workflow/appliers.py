"""The local effect of each applied centre call, run by the outbox in the transaction that marks
the call succeeded — right after the reply, or later when an unknown outcome is resolved by
msgid (then `result` is the same domain value, read from the centre's 5101 answer).

- ADMISSION: the 就医登记号 onto the stay (+ the centre's verdict kept as a check);
- FEE_UPLOAD: the uploaded lines marked `uploaded_at`;
- SETTLEMENT: the local, immutable Settlement (matrix cells, one line per charge line) from the
  centre's figures, through `app.slips.record_settlement`; never for a stay paid in full (the
  outbox reverses such a settlement: `003 §17`, `000 §34`);
- FULL_PAYMENT_REGISTRATION: 补登记 done, on the stay's 全额垫付 receipt (nothing refunded);
- DEDUCTION_DISPUTE: the dispute 已提交 with the centre's number (`app.claims.deductions`, `003 §20`);
- REHAB_PLAN: the stay's 康复方案 marked uploaded (`app.workflow.rehab_plan`, `000 §30`);
- SETTLEMENT_CANCEL: the cancellation row (`app.slips.record_cancellation`); the stay → 待结算.
- ADMISSION_CANCEL: the stay → 已撤销 without its 就医登记号 (kept in the audit); a reversal of it
  gives the number back (`app.workflow.admission_correction`).

`app.composition.workflow_appliers` plugs them (and the claims' dispute applier) into every centre
client the program opens.

Each applier is idempotent (keyed on the entry's msgid) and leaves calls made outside the
workflow (no local stay: the centre's own tests, the command line) alone. When the counter
cannot record an applied call it raises `LocalConflict`, and the outbox reverses the call. When
the result is about someone else's records (a 就医登记号 another stay holds, a settlement of
another registration) it raises `ForeignResult`: nothing recorded, nothing reversed, the
reviewer is told (issue 21: another counter's call must never land on this stay, nor be undone).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import String, cast, select, update
from sqlalchemy.orm import Session

from app.centre import wire
from app.centre.gateway import (
    Admission,
    AdmissionCancellation,
    FeeCancelReceipt,
    FeeUploadReceipt,
    FullPaymentRegistration,
    Operation,
    OutcomeState,
    ReversalResult,
    SettlementCancellation,
    SettlementFigures,
    Verdict,
    from_json,
)
from app.centre.outbox import ForeignResult, LocalConflict
from app.centre.plausibility import describe, settlement_problems
from app.db.models import (
    AuditEvent,
    ChargeLine,
    FullPaymentReceipt,
    OutboxEntry,
    Settlement,
    SettlementKind,
    Stay,
    StayStatus,
)
from app.rules.case import CATEGORIES
from app.rules.settlement import BUCKETS, LineResult, SettlementResult
from app.slips import SlipError, record_cancellation, record_settlement

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")


# --- reading results (a domain value; JSON only if someone hands the stored response) ---------------


def _as(cls: type[Any], result: Any) -> Any:
    if isinstance(result, cls):
        return result
    if isinstance(result, dict):
        return from_json(cls, result)
    raise LocalConflict(f"结算中心应答类型不符：{type(result).__name__}")


def _figures(result: Any) -> SettlementFigures:
    figures = _as(SettlementFigures, result)
    # from_json leaves the matrix (a plain mapping) as text: make it Decimal.
    matrix = {bucket: {category: Decimal(str(amount)) for category, amount in row.items()}
              for bucket, row in figures.matrix.items()}
    if matrix != figures.matrix:
        figures = SettlementFigures(figures.settlement_id, figures.registration_no, figures.settled,
                                    figures.settlement_kind, figures.verdict, matrix, figures.total,
                                    figures.fund_total, figures.personal_total, figures.items)
    return figures  # type: ignore[no-any-return]


def _stay_of(session: Session, entry: OutboxEntry, registration_no: str | None) -> Stay | None:
    if entry.stay_id is not None:
        return session.get(Stay, entry.stay_id)
    if registration_no:
        return session.scalars(select(Stay).where(Stay.registration_no == registration_no)).one_or_none()
    return None


def _operator_id(entry: OutboxEntry, stay: Stay) -> int:
    # The resolver (system) may complete a call: the clerk who made it stays its operator.
    return entry.operator_id if entry.operator_id is not None else stay.created_by


# --- admission --------------------------------------------------------------------------------------


def apply_admission(session: Session, entry: OutboxEntry, result: Any, counter_name: str) -> None:
    from app import audit
    from app.workflow.admission import store_centre_verdict

    if entry.stay_id is None:
        return
    admission: Admission = _as(Admission, result)
    stay = session.get(Stay, entry.stay_id)
    if stay is None:
        raise LocalConflict(f"住院登记 {entry.stay_id} 不存在")
    if stay.registration_no == admission.registration_no:
        return
    holder = session.scalars(select(Stay.id).where(Stay.registration_no == admission.registration_no)).first()
    if holder is not None:
        raise ForeignResult(f"就医登记号 {admission.registration_no} 属于本机另一次住院（{holder}）")
    if stay.registration_no is not None:
        raise LocalConflict(f"住院登记 {stay.id} 已有就医登记号 {stay.registration_no}")
    if stay.status is StayStatus.CANCELLED:
        raise LocalConflict(f"住院登记 {stay.id} 已撤销")
    stay.registration_no = admission.registration_no
    stay.settlement_kind = admission.settlement_kind or stay.settlement_kind
    operator_id = _operator_id(entry, stay)
    if admission.verdict is not None:
        store_centre_verdict(session, _verdict_json(admission.verdict), worker_id=stay.worker_id, stay_id=stay.id,
                             check_date=stay.admitted_on, actor_id=operator_id, counter_name=counter_name)
    audit.record(session, "admission_registered", operator_id=operator_id, counter_name=counter_name,
                 entity_type="stay", entity_id=stay.id,
                 detail={"registration_no": admission.registration_no, "msgid": entry.msgid})


def apply_admission_cancel(session: Session, entry: OutboxEntry, result: Any, counter_name: str) -> None:
    """2404 applied: the stay is 已撤销 and its 就医登记号 is released (UNIQUE), so that a corrected
    registration can take a new one and the 住院号 can be registered again."""
    from app import audit

    cancellation: AdmissionCancellation = _as(AdmissionCancellation, result)
    stay = _stay_of(session, entry, cancellation.registration_no)
    if stay is None:
        return  # a cancellation made outside the workflow
    if stay.registration_no != cancellation.registration_no:
        if stay.registration_no is None and stay.status is StayStatus.CANCELLED:
            return  # recorded already
        raise ForeignResult(f"中心撤销的就医登记号 {cancellation.registration_no} 不是本次住院的 {stay.registration_no}")
    stay.registration_no = None
    stay.status = StayStatus.CANCELLED
    audit.record(session, "admission_cancelled", operator_id=_operator_id(entry, stay), counter_name=counter_name,
                 entity_type="stay", entity_id=stay.id,
                 detail={"registration_no": cancellation.registration_no, "msgid": entry.msgid,
                         "reason": entry.request.get("reason")})


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {"stage": verdict.stage, "allowed": verdict.allowed, "settlement_kind": verdict.settlement_kind,
            "reasons": [{"code": r.code, "blocking": r.blocking, "message": r.message, "source": r.source}
                        for r in verdict.reasons]}


# --- fee upload -------------------------------------------------------------------------------------


def apply_fee_upload(session: Session, entry: OutboxEntry, result: Any) -> None:
    if entry.stay_id is None:
        return
    receipt: FeeUploadReceipt = _as(FeeUploadReceipt, result)
    stay = session.get(Stay, entry.stay_id)
    if stay is not None and stay.registration_no and receipt.registration_no != stay.registration_no:
        raise ForeignResult(f"中心收下明细的就医登记号 {receipt.registration_no} 不是本次住院的 {stay.registration_no}")
    sent = {int(line["seq"]): line for line in entry.request.get("lines", [])}
    if not sent or receipt.accepted + receipt.duplicates == 0 or stay is None:
        return
    unchanged, changed = _still_as_sent(session, stay, sent)
    # centre_line_no: the centre holds this seq (a later change must cancel it there first).
    if unchanged:
        session.execute(update(ChargeLine).where(ChargeLine.stay_id == entry.stay_id, ChargeLine.seq.in_(unchanged),
                                                 ChargeLine.uploaded_at.is_(None))
                        .values(uploaded_at=dt.datetime.now(dt.UTC), centre_line_no=cast(ChargeLine.seq, String(32))))
    if changed:
        # Changed while the call was on its way (the upload runs in the background while the clerk
        # classifies, issue 25): the centre holds the old content. Marked as changed after upload, so
        # the next upload cancels it there (2302) and sends it again.
        session.execute(update(ChargeLine).where(ChargeLine.stay_id == entry.stay_id, ChargeLine.seq.in_(changed),
                                                 ChargeLine.uploaded_at.is_(None))
                        .values(centre_line_no=cast(ChargeLine.seq, String(32))))


_SENT_FIELDS = ("code", "name", "category", "quantity", "unit_price", "amount", "date", "diagnosis", "injury")


def _still_as_sent(session: Session, stay: Stay, sent: Mapping[int, Mapping[str, Any]]) -> tuple[list[int], list[int]]:
    """The uploaded seqs whose local line still reads as it was sent, and those changed since."""
    from app.rules.classify import line_injury
    from app.workflow.discharge import _diagnosis_injury

    injury_of = _diagnosis_injury(session, stay)
    unchanged: list[int] = []
    changed: list[int] = []
    rows = session.execute(select(
        ChargeLine.seq, ChargeLine.code, ChargeLine.his_code, ChargeLine.name, ChargeLine.category,
        ChargeLine.quantity, ChargeLine.unit_price, ChargeLine.amount, ChargeLine.charged_on, ChargeLine.diagnosis_code,
        ChargeLine.injury,
    ).where(ChargeLine.stay_id == stay.id, ChargeLine.seq.in_(sorted(sent)), ChargeLine.uploaded_at.is_(None))
        .with_for_update())  # PostgreSQL: no change lands between this look and the marking
    for row in rows:
        now = {"code": row.code or row.his_code, "name": row.name,
               "category": row.category.value if row.category is not None else None,
               "quantity": str(row.quantity), "unit_price": str(row.unit_price), "amount": str(row.amount),
               "date": row.charged_on.isoformat(), "diagnosis": row.diagnosis_code,
               "injury": line_injury(row.injury, row.diagnosis_code, injury_of)}
        line = sent[row.seq]
        (unchanged if all(line.get(key) == now[key] for key in _SENT_FIELDS) else changed).append(row.seq)
    return unchanged, changed


def apply_fee_cancel(session: Session, entry: OutboxEntry, result: Any) -> None:
    """2302 applied: the lines it cancelled are no longer held by the centre and go up again with the
    next upload. In the outbox's transaction (issue 21 B3): an outcome learnt later (dropped reply,
    kill) still reaches the lines, else every later settlement re-sent the same 2302 (3005)."""
    if entry.stay_id is None:
        return
    receipt: FeeCancelReceipt = _as(FeeCancelReceipt, result)
    seqs = sorted(receipt.cancelled)
    for start in range(0, len(seqs), 500):  # bounded IN lists
        session.execute(update(ChargeLine).where(
            ChargeLine.stay_id == entry.stay_id, ChargeLine.seq.in_(seqs[start:start + 500]))
            .values(uploaded_at=None, centre_line_no=None))


# --- settlement -------------------------------------------------------------------------------------


def settlement_result(figures: SettlementFigures, charge_lines: Mapping[int, Any]) -> SettlementResult:
    """Map the centre's matrix and its items (by seq) onto the stay's charge lines (anything with
    the line's `category` and `amount`: ORM objects or plain rows).

    The centre names each line's bucket, fund and personal parts; the category and amount are
    the line's own (the category as uploaded, the amount = fund + personal, checked)."""
    lines = []
    for item in sorted(figures.items, key=lambda i: i.seq):
        charge = charge_lines.get(item.seq)
        if charge is None:
            raise LocalConflict(f"中心结算明细序号 {item.seq} 在本机费用明细中不存在")
        if charge.category is None:
            raise LocalConflict(f"费用明细序号 {item.seq} 没有费用类别")
        amount = item.fund + item.personal
        if amount != charge.amount:
            raise LocalConflict(f"费用明细序号 {item.seq} 金额 {charge.amount} 与中心结算 {amount} 不符")
        lines.append(LineResult(item.seq, item.bucket, charge.category.value, amount, item.fund, item.personal,
                                item.reason))
    for bucket in BUCKETS:
        if bucket not in figures.matrix or any(c not in figures.matrix[bucket] for c in CATEGORIES):
            raise LocalConflict(f"中心结算矩阵缺少 {bucket}")
    matrix = {b: {c: figures.matrix[b][c] for c in CATEGORIES} for b in BUCKETS}
    return SettlementResult(figures.settlement_kind, matrix, tuple(lines))


def apply_settlement(session: Session, entry: OutboxEntry, result: Any, counter_name: str) -> None:
    from app import audit
    from app.workflow.admission import store_centre_verdict

    figures = _figures(result)
    problems = settlement_problems(figures)
    if problems:  # before anything is stored or printed; the outbox reverses it, the reason kept for review
        raise LocalConflict(describe(problems))
    stay = _stay_of(session, entry, figures.registration_no)
    if stay is None:
        return  # a settlement made outside the workflow (no local stay)
    if session.scalars(select(Settlement.id).where(Settlement.msgid == entry.msgid)).first() is not None:
        return  # recorded already
    paid = session.scalars(select(FullPaymentReceipt.receipt_no).where(FullPaymentReceipt.stay_id == stay.id)).first()
    if paid is not None:
        # The worker paid the stay in full and claims it at the insured place: a direct settlement
        # too would pay it twice (000 §34, 001 §16). Not recorded: the outbox reverses it.
        raise LocalConflict(f"本次住院已全额垫付（收据 {paid}），不能再联网结算；由工伤职工回参保地报销（003 §17）")
    if stay.registration_no is not None and stay.registration_no != figures.registration_no:
        # Another registration's settlement (another counter's call): never recorded here, never reversed.
        raise ForeignResult(f"中心结算的就医登记号 {figures.registration_no} 不是本次住院的 {stay.registration_no}")
    # Plain rows, not ORM objects: this runs while the patient waits at the window (20,000 lines).
    # One read serves the checks and the record (its ids): each read of 20,000 lines is a wait.
    charge_lines = {row.seq: row for row in session.execute(
        select(ChargeLine.seq, ChargeLine.id, ChargeLine.category, ChargeLine.amount)
        .where(ChargeLine.stay_id == stay.id))}
    computed = settlement_result(figures, charge_lines)
    if computed.total != figures.total or computed.fund_total != figures.fund_total:
        raise LocalConflict(f"中心结算合计 {figures.total} 与明细合计 {computed.total} 不符")
    live = sum((line.amount for line in charge_lines.values()), Decimal("0.00"))
    if live != figures.total:
        # A line added (or refunded) while the settlement was on its way (issue 21 B4): recorded,
        # it would stay outside the settlement for good. Not recorded: the outbox reverses it.
        raise LocalConflict(f"结算期间费用明细有变动：中心按 {figures.total} 元结算，本机明细合计 {live} 元"
                            f"（{len(charge_lines)} 条）；请核对明细后重新结算")
    discharged = entry.request.get("discharged")
    if discharged and stay.discharged_on is None:
        stay.discharged_on = dt.date.fromisoformat(str(discharged))
    operator_id = _operator_id(entry, stay)
    assert figures.settlement_id is not None
    try:
        settlement = record_settlement(
            session, stay, computed, operator_id=operator_id, counter_name=counter_name,
            centre_settlement_id=figures.settlement_id, msgid=entry.msgid, settled_at=dt.datetime.now(dt.UTC),
            settled_on=figures.settled, benefit_category="医疗康复住院", business_category="工伤住院",
            charge_line_ids={seq: row.id for seq, row in charge_lines.items()},
        )
    except SlipError as exc:
        raise LocalConflict(exc.message) from None
    if figures.verdict is not None:
        store_centre_verdict(session, _verdict_json(figures.verdict), worker_id=stay.worker_id, stay_id=stay.id,
                             check_date=figures.settled, actor_id=operator_id, counter_name=counter_name)


# --- 补登记 of a stay paid in full ---------------------------------------------------------------------


def record_full_payment_registration(session: Session, stay_id: int, result: Any, operator_id: int | None,
                                     counter_name: str) -> bool:
    """补登记 done (`003 §17`): the stay's latest 全额垫付 receipt is marked; nothing is refunded at
    the window and no settlement exists. Idempotent; returns True when it marked the receipt."""
    from app import audit

    registration: FullPaymentRegistration = _as(FullPaymentRegistration, result)
    receipt = session.scalars(select(FullPaymentReceipt).where(FullPaymentReceipt.stay_id == stay_id)
                              .order_by(FullPaymentReceipt.id.desc())).first()
    if receipt is None or receipt.backfilled_at is not None:
        return False
    if receipt.receipt_no != registration.receipt_no:
        raise ForeignResult(f"中心补登记的收据号 {registration.receipt_no} 不是本次住院的 {receipt.receipt_no}")
    receipt.backfilled_at = dt.datetime.now(dt.UTC)
    receipt.backfilled_by = operator_id
    if receipt.fault_cleared_on is None:
        receipt.fault_cleared_on = registration.registered
    stay = session.get(Stay, stay_id)
    audit.record(session, "full_payment_registered",
                 operator_id=operator_id if operator_id is not None else (stay.created_by if stay else None),
                 counter_name=counter_name, entity_type="full_payment_receipt", entity_id=receipt.id,
                 detail={"stay_id": stay_id, "receipt_no": receipt.receipt_no,
                         "paid_in_full": str(registration.paid_in_full),
                         "registered_on": registration.registered.isoformat(), "refund_to_worker": "0.00"})
    return True


def apply_full_payment_registration(session: Session, entry: OutboxEntry, result: Any, counter_name: str) -> None:
    registration: FullPaymentRegistration = _as(FullPaymentRegistration, result)
    stay = _stay_of(session, entry, registration.registration_no)
    if stay is None:
        return  # made outside the workflow (no local stay)
    if stay.registration_no is not None and stay.registration_no != registration.registration_no:
        raise ForeignResult(f"中心补登记的就医登记号 {registration.registration_no} 不是本次住院的 {stay.registration_no}")
    record_full_payment_registration(session, stay.id, registration, entry.operator_id, counter_name)


# --- settlement cancellation ------------------------------------------------------------------------


def apply_settlement_cancel(session: Session, entry: OutboxEntry, result: Any, counter_name: str) -> None:
    cancellation: SettlementCancellation = _as(SettlementCancellation, result)
    if session.scalars(select(Settlement.id).where(Settlement.msgid == entry.msgid)).first() is not None:
        return
    original = session.scalars(select(Settlement).where(
        Settlement.centre_settlement_id == cancellation.settlement_id,
        Settlement.kind == SettlementKind.SETTLEMENT)).first()
    if original is None:
        return  # not this counter's (a cancellation made outside the workflow)
    if session.scalars(select(Settlement.id).where(Settlement.reverses_id == original.id)).first() is not None:
        raise LocalConflict(f"结算记录 {original.id} 本机已撤销")
    stay = session.get(Stay, original.stay_id)
    assert stay is not None
    try:
        record_cancellation(
            session, original.id, operator_id=_operator_id(entry, stay), counter_name=counter_name,
            reason=str(entry.request.get("reason") or "撤销结算"), msgid=entry.msgid,
            cancelled_at=dt.datetime.now(dt.UTC), centre_settlement_id=cancellation.cancellation_id,
            cancelled_on=wire.centre_now().date(),  # the centre's business date, as its day-end counts it
        )
    except SlipError as exc:
        raise LocalConflict(exc.message) from None



# --- reversal (冲正) ---------------------------------------------------------------------------------


def _reverser(session: Session, original_msgid: str) -> int | None:
    """The reviewer who asked for this reversal (`wi-counter centre resolve --reverse` audits it first)."""
    return session.scalars(select(AuditEvent.operator_id).where(
        AuditEvent.action == "centre_reversal_requested", AuditEvent.entity_id == original_msgid,
    ).order_by(AuditEvent.id.desc()).limit(1)).first()


def _reopen_admission(session: Session, original_msgid: str) -> bool:
    """The original was a 撤销入院登记 of a stay here: the registration is open again at the centre."""
    original = session.scalars(select(OutboxEntry).where(
        OutboxEntry.msgid == original_msgid, OutboxEntry.operation == Operation.ADMISSION_CANCEL.value)).first()
    if original is None:
        return False
    stay = session.get(Stay, original.stay_id) if original.stay_id is not None else None
    number = str(original.request.get("registration_no") or "")
    if stay is not None and stay.registration_no is None and number:
        stay.registration_no = number
        stay.status = StayStatus.PENDING_SETTLEMENT if stay.discharged_on else StayStatus.ADMITTED
    return True


def apply_reversal(session: Session, entry: OutboxEntry, result: Any, counter_name: str) -> None:
    """A settlement reversed at the centre is cancelled here too: the cancellation row, the stay back
    to 待结算, the slip's 已撤销 mark — in the outbox's transaction, so the counter never shows 已结算
    for a settlement the centre no longer has. A reversed 撤销入院登记 gives the stay its 就医登记号
    back. Other reversals (an admission, fee lines) change no local record yet."""
    reversal: ReversalResult = _as(ReversalResult, result)
    if OutcomeState(reversal.outcome) is not OutcomeState.REVERSED or entry.reverses_msgid is None:
        return
    if _reopen_admission(session, entry.reverses_msgid):
        return
    reversed_entry = session.scalars(select(OutboxEntry).where(OutboxEntry.msgid == entry.reverses_msgid)).first()
    if (reversed_entry is not None and reversed_entry.operation == Operation.FULL_PAYMENT_REGISTRATION.value
            and reversed_entry.stay_id is not None):
        # The centre no longer holds the 补登记: the stay waits for it again.
        session.execute(update(FullPaymentReceipt).where(
            FullPaymentReceipt.stay_id == reversed_entry.stay_id, FullPaymentReceipt.settlement_id.is_(None))
            .values(backfilled_at=None))
        return
    original = session.scalars(select(Settlement).where(
        Settlement.msgid == entry.reverses_msgid, Settlement.kind == SettlementKind.SETTLEMENT)).first()
    if original is None:
        return  # not a settlement, or one this counter never recorded
    if session.scalars(select(Settlement.id).where(Settlement.reverses_id == original.id)).first() is not None:
        return  # already cancelled here
    stay = session.get(Stay, original.stay_id)
    assert stay is not None
    try:
        record_cancellation(
            session, original.id, operator_id=_reverser(session, entry.reverses_msgid) or _operator_id(entry, stay),
            counter_name=counter_name, reason="冲正：结算中心已撤销该笔结算", msgid=entry.msgid,
            cancelled_at=dt.datetime.now(dt.UTC), cancelled_on=wire.centre_now().date(),
        )
    except SlipError as exc:
        # Never a LocalConflict here: the outbox would reverse the reversal. The reviewer sees it in the log
        # and in the day-end reconciliation (本机有、中心无).
        log.error("结算 %s 已在中心冲正，但本机无法记录撤销：%s", original.id, exc.message)
