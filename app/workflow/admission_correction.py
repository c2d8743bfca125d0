"""更正 / 撤销入院登记: a registration with a wrong 入院日期, wrong diagnoses, or of the wrong person.

A reviewer does it (`Permission.CORRECT_REGISTRATION`), with a reason, through the centre and the
outbox like every other change there (issue 20 §3):

- `cancel_registration`: 撤销入院登记 (2404). The stay becomes 已撤销 and loses its 就医登记号 (the
  ADMISSION_CANCEL applier, in the outbox's transaction); the worker may be registered again, and
  the 住院号 is free for the right person (`admission._new_or_reopened_stay` reuses the row).
- `correct_registration`: the interface has no "change an admission" transaction, so a correction
  is 2404 then 2401 with the corrected 入院日期 / diagnoses — a new 就医登记号 on the same stay. The
  new registration's filing check is judged first (nothing is sent when it would be refused). If the
  centre refuses the new registration anyway, the 2404 is reversed (2601: the old registration is
  open again, `appliers.apply_reversal`) and the stay keeps its old facts; if the centre cannot be
  reached after the 2404, the new registration is queued as an offline admission (补传).

Both are refused — with what to do instead — once lines went up to the centre (a cancelled
registration's lines can never be settled: interface 2404) or the stay was settled. Each step is
audited with the reviewer, the reason and, when the reviewer approved at a cashier's window, that
cashier's login.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app import audit
from app.centre.gateway import (
    AdmissionCancelRequest,
    CentreRefused,
    CentreUnavailable,
    Operation,
    OutboxNotClear,
    OutcomeUnknown,
    PersonKey,
)
from app.centre.outbox import CallVoided, WrittenCall
from app.db.models import (
    ChargeLine,
    Diagnosis,
    DiagnosisRole,
    OutboxEntry,
    OutboxState,
    Stay,
    StayStatus,
    Worker,
)
from app.masking import mask_id_number
from app.operators import OperatorInfo, Permission, require
from app.rules.verdict import ADMISSION, judge
from app.workflow import facts
from app.workflow.admission import (
    AdmissionForm,
    CheckResult,
    FilingRefused,
    _queue_offline,
    _send_written,
    admission_request,
    counter_institution,
    mark_diagnoses,
    stay_recognition_and_filing,
    store_check,
)
from app.workflow.common import StayNotFound, WorkflowError

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient

log = logging.getLogger(__name__)

_CHANGEABLE = (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT)


@dataclass(frozen=True)
class RegistrationView:
    """What the 入院登记 page and the dialogs show of a registration, and why it cannot be changed."""

    stay_id: int
    name: str
    masked_id: str
    admission_no: str
    registration_no: str | None
    admitted_on: dt.date
    discharged_on: dt.date | None
    status: StayStatus
    diagnoses: tuple[tuple[str, str], ...]  # admitting (code, name)
    blocker: str | None  # None: may be corrected or cancelled; else why not and what to do


@dataclass(frozen=True)
class CorrectionOutcome:
    stay_id: int
    old_registration_no: str
    registration_no: str | None  # None: the new registration waits for the link (offline)
    check: CheckResult
    offline: bool


def _stay(session: Session, stay_id: int) -> Stay:
    stay = session.get(Stay, stay_id)
    if stay is None:
        raise StayNotFound(stay_id)
    return stay


def _uploaded_lines(session: Session, stay_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(ChargeLine).where(
        ChargeLine.stay_id == stay_id,
        or_(ChargeLine.uploaded_at.is_not(None), ChargeLine.centre_line_no.is_not(None)))) or 0)


def blocker(session: Session, stay: Stay) -> str | None:
    """Why this registration cannot be corrected or cancelled now, and what to do first; None if it can."""
    if stay.status is StayStatus.SETTLED:
        return ("本次住院已结算，不能更正或撤销入院登记。请先由审核员在“出院结算”页撤销结算；"
                "结算撤销后已上传的费用明细仍在结算中心，须先撤销这些明细（或联系经办机构）再办理。")
    if stay.status is StayStatus.PENDING_BACKFILL:
        return "本次住院已全额垫付、等待补登记，不能更正或撤销入院登记。请先办理补登记，或联系经办机构。"
    if stay.status is StayStatus.CANCELLED:
        return "本次入院登记已撤销，无须再撤销；如需重新登记，请在本页读卡或扫码后登记。"
    if stay.registration_no is None:
        return ("本次入院登记尚未送达结算中心（脱机登记，联网后自动补传），还没有就医登记号。"
                "请待补传取得就医登记号后再更正或撤销。")
    uploaded = _uploaded_lines(session, stay.id)
    if uploaded:
        return (f"本次住院已有 {uploaded} 条费用明细上传到结算中心，不能再更正或撤销入院登记"
                "（撤销后这些明细永远不能结算）。请先撤销已上传的费用明细，或联系经办机构处理。")
    return None


def _admitting(stay: Stay) -> tuple[tuple[str, str], ...]:
    return tuple((d.code, d.name) for d in sorted(stay.diagnoses, key=lambda d: d.seq)
                 if d.role is DiagnosisRole.ADMITTING)


def registration_view(session: Session, stay_id: int) -> RegistrationView:
    stay = _stay(session, stay_id)
    worker = session.get(Worker, stay.worker_id)
    assert worker is not None
    return RegistrationView(stay.id, worker.name, mask_id_number(worker.social_security_number), stay.admission_no,
                            stay.registration_no, stay.admitted_on, stay.discharged_on, stay.status,
                            _admitting(stay), blocker(session, stay))


def _check_reason(reason: str, what: str) -> str:
    clean = reason.strip()
    if not clean:
        raise WorkflowError(f"请填写{what}的原因（记入审计日志）。")
    return clean


def _session_detail(reviewer: OperatorInfo, cashier: OperatorInfo | None) -> dict[str, Any]:
    # The reviewer approved at a cashier's window (审核员授权): both are named.
    return {"at_session_of": cashier.login} if cashier is not None and cashier.login != reviewer.login else {}


def _resolve_first(client: CentreClient, what: str) -> None:
    """An earlier call whose outcome this counter could not record (a database that failed after the
    centre cancelled the registration) is resolved by its msgid before the stay is read: the stay then
    reads as 已撤销 here, and no second 2404 is sent (issue 21 §8)."""
    try:
        client.outbox.require_clear()
    except OutboxNotClear as exc:
        raise WorkflowError(f"{exc.message}；未{what}，请稍后再办。") from None


def _cancel_at_centre(ctx: CounterContext, client: CentreClient, stay_id: int, registration_no: str,
                      insured_region: str, reason: str, reviewer: OperatorInfo) -> str:
    """2404 through the outbox; returns its msgid. The applier clears the 就医登记号 and marks the stay 已撤销."""
    try:
        client.cancel_admission(AdmissionCancelRequest(registration_no, reason, insured_region),
                                stay_id=stay_id, operator_id=reviewer.id)
    except OutboxNotClear as exc:
        raise WorkflowError(f"{exc.message}；未撤销入院登记，请稍后再办。") from None
    except CentreUnavailable as exc:
        raise WorkflowError(f"结算中心无法连接，入院登记未撤销、未更正：{exc.message}") from None
    except OutcomeUnknown:
        raise WorkflowError("撤销入院登记已发往结算中心，但结果未知；程序将按报文编号自动查询。"
                            "请稍后刷新本页查看结果，勿重复办理。") from None
    with ctx.transaction() as session:
        msgid = session.scalars(select(OutboxEntry.msgid).where(
            OutboxEntry.stay_id == stay_id, OutboxEntry.operation == Operation.ADMISSION_CANCEL.value,
            OutboxEntry.state == OutboxState.SUCCEEDED).order_by(OutboxEntry.id.desc()).limit(1)).first()
        stay = _stay(session, stay_id)
        if stay.status is not StayStatus.CANCELLED or msgid is None:
            # The applier runs in the outbox's transaction; anything else is a defect worth stopping on.
            raise WorkflowError("结算中心已撤销入院登记，但本机未能记录；请审核员在“结算中心交易”中核对。")
        return str(msgid)


def cancel_registration(ctx: CounterContext, client: CentreClient, stay_id: int, reason: str,
                        reviewer: OperatorInfo, *, cashier: OperatorInfo | None = None) -> RegistrationView:
    """撤销入院登记 (2404): the wrong person, or a stay that should not have been registered.

    Afterwards the stay is 已撤销 without a 就医登记号; the worker can be registered again and the
    住院号 registered for the right person. Returns the stay as it is now."""
    require(reviewer, Permission.CORRECT_REGISTRATION)
    reason = _check_reason(reason, "撤销入院登记")
    _resolve_first(client, "撤销入院登记")
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        why_not = blocker(session, stay)
        if why_not:
            raise WorkflowError(why_not)
        registration_no = stay.registration_no
        assert registration_no is not None
        worker = session.get(Worker, stay.worker_id)
        insured_region = worker.insured_city_code if worker is not None else ""
        audit.record(session, "registration_cancel_requested", operator_id=reviewer.id,
                     counter_name=ctx.counter_name, entity_type="stay", entity_id=stay_id,
                     detail={"registration_no": registration_no, "reason": reason,
                             **_session_detail(reviewer, cashier)})
    msgid = _cancel_at_centre(ctx, client, stay_id, registration_no, insured_region, reason, reviewer)
    with ctx.transaction() as session:
        audit.record(session, "registration_cancelled", operator_id=reviewer.id, counter_name=ctx.counter_name,
                     entity_type="stay", entity_id=stay_id,
                     detail={"registration_no": registration_no, "reason": reason, "msgid": msgid,
                             **_session_detail(reviewer, cashier)})
        log.info("住院登记 %s 的入院登记已撤销（%s）", stay_id, registration_no)
        return registration_view(session, stay_id)


def correct_registration(ctx: CounterContext, client: CentreClient, stay_id: int, reason: str,
                         reviewer: OperatorInfo, *, admitted_on: dt.date | None = None,
                         diagnoses: tuple[tuple[str, str], ...] | None = None,
                         cashier: OperatorInfo | None = None) -> CorrectionOutcome:
    """更正入院登记: a new 入院日期 and/or admitting diagnoses, registered again with the centre
    (2404, then 2401 with the corrected facts; a new 就医登记号)."""
    require(reviewer, Permission.CORRECT_REGISTRATION)
    reason = _check_reason(reason, "更正入院登记")
    if diagnoses is not None:
        diagnoses = tuple((code.strip().upper(), name.strip()) for code, name in diagnoses)
        if not diagnoses:
            raise WorkflowError("请至少填写一个入院诊断。")
        if any(not code or not name for code, name in diagnoses):
            raise WorkflowError("入院诊断须有 ICD-10 编码和名称。")
    _resolve_first(client, "更正入院登记")
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        why_not = blocker(session, stay)
        if why_not:
            raise WorkflowError(why_not)
        new_date = admitted_on or stay.admitted_on
        new_diagnoses = diagnoses if diagnoses is not None else _admitting(stay)
        old_date, old_diagnoses = stay.admitted_on, _admitting(stay)
        if new_date == old_date and new_diagnoses == old_diagnoses:
            raise WorkflowError("入院日期和入院诊断都与原登记相同，无须更正。")
        if stay.discharged_on is not None and new_date > stay.discharged_on:
            raise WorkflowError(f"新的入院日期 {new_date} 晚于出院日期 {stay.discharged_on}，请核对。")
        earlier = int(session.scalar(select(func.count()).select_from(ChargeLine).where(
            ChargeLine.stay_id == stay_id, ChargeLine.charged_on < new_date)) or 0)
        if earlier:
            raise WorkflowError(f"已导入的费用中有 {earlier} 条日期早于新的入院日期 {new_date}，"
                                "请与 HIS 核对入院日期后再更正。")
        worker = session.get(Worker, stay.worker_id)
        assert worker is not None
        ssn, insured_region = worker.social_security_number, worker.insured_city_code
        registration_no = stay.registration_no
        assert registration_no is not None
        status_before = stay.status
    person = client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ssn)
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        info = counter_institution(session)
        recognition, filing = stay_recognition_and_filing(session, stay, person, info)
        form = AdmissionForm(admission_no=stay.admission_no, dept=stay.dept, bed=stay.bed, admitted_on=new_date,
                             care=stay.care.value, diagnoses=new_diagnoses, emergency=stay.emergency,
                             third_party_liability=stay.third_party_liability,
                             recognition_no=recognition.decision_no if recognition else None,
                             filing_id=filing.id if filing else None, notice_no=stay.notice_no)
        marked = mark_diagnoses(person, form.recognition_no, new_diagnoses)
        case = facts.build_case(person, info, recognition=recognition, filing=filing, care=form.care,
                                admission_no=form.admission_no, dept=form.dept, admitted=new_date,
                                diagnoses=[(d.code, d.name, d.injury) for d in marked],
                                emergency=form.emergency, third_party_liability=form.third_party_liability)
        verdict = judge(case, ADMISSION)
        inputs = {**facts.person_inputs(person, recognition, filing), "correction_of": registration_no,
                  "admitted_on": new_date.isoformat(), "reason": reason}
        if not verdict.allowed:
            # Nothing goes to the centre: the old registration stands. The check says why.
            check = store_check(session, verdict=verdict, worker_id=stay.worker_id, stay_id=stay_id, inputs=inputs,
                                actor_id=reviewer.id, counter_name=ctx.counter_name)
            raise FilingRefused(check, "按更正后的入院日期和诊断，备案核验不通过，原登记未改动")
        request = admission_request(person, form, marked, recognition, filing)
        change = {"admitted_on": [old_date.isoformat(), new_date.isoformat()],
                  "diagnoses": [[f"{c} {n}" for c, n in old_diagnoses], [f"{c} {n}" for c, n in new_diagnoses]]}
        audit.record(session, "registration_correction_requested", operator_id=reviewer.id,
                     counter_name=ctx.counter_name, entity_type="stay", entity_id=stay_id,
                     detail={"registration_no": registration_no, "reason": reason, "change": change,
                             **_session_detail(reviewer, cashier)})
    cancel_msgid = _cancel_at_centre(ctx, client, stay_id, registration_no, insured_region, reason, reviewer)

    # The old registration is cancelled: the stay takes the corrected facts and its new registration
    # call in one transaction (as `admit` does), so neither is kept without the other.
    written: WrittenCall | None = None
    not_clear: OutboxNotClear | None = None
    try:
        client.outbox.prepare()
    except OutboxNotClear as exc:
        not_clear = exc
    try:
        with ctx.transaction() as session:
            stay = _stay(session, stay_id)
            _set_facts(session, stay, new_date, [(d.code, d.name, d.injury) for d in marked], status_before)
            check = store_check(session, verdict=verdict, worker_id=stay.worker_id, stay_id=stay_id,
                                inputs=inputs, actor_id=reviewer.id, counter_name=ctx.counter_name)
            audit.record(session, "registration_corrected", operator_id=reviewer.id, counter_name=ctx.counter_name,
                         entity_type="stay", entity_id=stay_id,
                         detail={"old_registration_no": registration_no, "reason": reason, "change": change,
                                 "cancel_msgid": cancel_msgid, **_session_detail(reviewer, cashier)})
            if not_clear is None:
                written = client.outbox.write_in(session, Operation.ADMISSION, request, stay_id=stay_id,
                                                 operator_id=reviewer.id)
            else:
                stay.registered_offline = True
    except BaseException:
        if written is not None:
            client.outbox.release(written)
        raise
    if written is None:
        assert not_clear is not None
        _queue_offline(ctx, client, stay_id, request, reviewer, not_clear)
        return CorrectionOutcome(stay_id, registration_no, None, check, True)
    try:
        admission = _send_written(client, written, request, stay_id, reviewer)
    except OutcomeUnknown:
        with ctx.transaction() as session:
            _stay(session, stay_id).registered_offline = True  # re-registered should it turn out not applied
        raise WorkflowError("更正后的入院登记已发往结算中心，但结果未知；程序将按报文编号自动查询，"
                            "请稍后刷新查看就医登记号，勿重复办理。") from None
    except (CentreUnavailable, CallVoided, OutboxNotClear) as exc:
        _queue_offline(ctx, client, stay_id, request, reviewer, exc)
        return CorrectionOutcome(stay_id, registration_no, None, check, True)
    except CentreRefused as exc:
        _restore(ctx, client, stay_id, cancel_msgid, old_date, old_diagnoses, person, form.recognition_no,
                 status_before, reviewer, exc)
    with ctx.transaction() as session:
        number = _stay(session, stay_id).registration_no or admission.registration_no
    return CorrectionOutcome(stay_id, registration_no, number, check, False)


def _set_facts(session: Session, stay: Stay, admitted_on: dt.date, diagnoses: list[tuple[str, str, bool]],
               status: StayStatus) -> None:
    """The stay's 入院日期, admitting diagnoses (the discharge ones are kept) and status."""
    for diagnosis in [d for d in stay.diagnoses if d.role is DiagnosisRole.ADMITTING]:
        stay.diagnoses.remove(diagnosis)
    session.flush()  # UNIQUE (stay, role, code): the old rows go before the new ones come
    for seq, (code, name, injury) in enumerate(diagnoses, start=1):
        stay.diagnoses.append(Diagnosis(role=DiagnosisRole.ADMITTING, seq=seq, code=code, name=name, injury=injury))
    stay.admitted_on = admitted_on
    stay.status = status
    stay.registered_offline = False
    session.flush()


def _restore(ctx: CounterContext, client: CentreClient, stay_id: int, cancel_msgid: str, old_date: dt.date,
             old_diagnoses: tuple[tuple[str, str], ...], person: Any, recognition_no: str | None,
             status_before: StayStatus, reviewer: OperatorInfo, refused: CentreRefused) -> NoReturn:
    """The centre refused the corrected registration: the old facts back, the 2404 reversed (the old
    registration open again, by the reversal's applier); always raises a WorkflowError saying so."""
    marked = mark_diagnoses(person, recognition_no, old_diagnoses)
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        _set_facts(session, stay, old_date, [(d.code, d.name, d.injury) for d in marked], StayStatus.CANCELLED)
        audit.record(session, "registration_correction_refused", operator_id=reviewer.id,
                     counter_name=ctx.counter_name, entity_type="stay", entity_id=stay_id,
                     detail={"code": refused.code, "message": refused.message})
    try:
        client.reverse(cancel_msgid)
    except (CentreRefused, CentreUnavailable, OutcomeUnknown) as exc:
        log.error("更正入院登记被拒后未能恢复原登记（住院登记 %s）：%s", stay_id, exc.message)
        raise WorkflowError(f"结算中心拒绝了更正后的入院登记：{refused.message}。原登记已撤销且未能恢复"
                            f"（{exc.message}）：请在本页重新读卡登记，或由审核员联系经办机构。") from None
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        stay.status = status_before if stay.registration_no is not None else StayStatus.CANCELLED
        number = stay.registration_no
    raise WorkflowError(f"结算中心拒绝了更正后的入院登记：{refused.message}。已恢复原登记（就医登记号 {number}），"
                        "未作更正。")
