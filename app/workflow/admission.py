"""Admission (入院登记): find the worker at the centre, judge the filing, register the stay.

The filing is checked at admission and again at discharge (`003 §14`, `000 §30`); here the
counter judges it itself (`app.rules.verdict.judge`) on the centre's person, stores the check
with its inputs and its verdict (also when refused), and only then registers the admission
with the centre through the outbox. The centre judges too and may still refuse: its verdict
is stored as a check of its own (basis "centre").

When the centre cannot be reached the stay is kept (registered_offline) and the registration
queued; `recheck_offline_admissions` sends it and checks the filing again when the link is back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.centre import wire
from app.centre.gateway import (
    Admission,
    AdmissionRequest,
    CentreError,
    CentreRefused,
    CentreUnavailable,
    Filing,
    OutboxNotClear,
    OutcomeUnknown,
    Operation,
    Person,
    PersonKey,
    Recognition,
    StayDiagnosis,
)
from app.centre.outbox import CallVoided, WrittenCall
from app.crashpoints import crash_point
from app.db import failures
from app.db.models import (
    Care,
    Diagnosis,
    DiagnosisRole,
    FilingCheck,
    FittedDevice,
    Institution,
    OutboxEntry,
    OutboxState,
    Stay,
    StayStatus,
    Worker,
)
from app.idnumber import id_number_problem
from app.institution import InstitutionInfo
from app.masking import mask_id_number
from app.operators import OperatorInfo, Permission, institution_info, require
from app.rules.verdict import ADMISSION, Reason, Verdict, judge
from app.workflow import device_fitting, facts
from app.workflow.common import WorkflowError
from app.workflow.restore_check import check_before_work
from app.workflow.stay_guard import admitted_by

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient

log = logging.getLogger(__name__)

IDENTIFICATION_KINDS = ("card", "ecard", "typed")
_STORE_ATTEMPTS = 3  # a lost race on a unique key is retried: the rerun reads the winner's rows
_PERSON_KEYS = {"card": PersonKey.CARD, "ecard": PersonKey.ECARD_TOKEN, "typed": PersonKey.SOCIAL_SECURITY_NUMBER}


class FilingRefused(WorkflowError):
    """The filing check refused: `check` holds every reason (and what the worker can do next)."""

    def __init__(self, check: CheckResult, what: str) -> None:
        blocking = "；".join(f"{r.message}（{r.source}）" for r in check.reasons if r.blocking)
        super().__init__(f"{what}：{blocking}" if blocking else what)
        self.check = check


@dataclass(frozen=True)
class Identification:
    kind: str  # "card" | "ecard" | "typed"
    value: str
    reason: str | None = None  # typed: the reviewer's recorded reason (required)


@dataclass(frozen=True)
class AdmissionForm:
    admission_no: str  # 住院号 (HIS)
    dept: str  # 科别
    bed: str | None
    admitted_on: date
    care: str  # medical / rehab / device
    diagnoses: tuple[tuple[str, str], ...]  # (ICD-10 code, name) admitting diagnoses
    emergency: bool = False
    third_party_liability: bool = False
    recognition_no: str | None = None
    filing_id: str | None = None
    notice_no: str | None = None  # 配置费用核付通知单号 of a device fitting (001 §34)


@dataclass(frozen=True)
class MarkedDiagnosis:
    code: str
    name: str
    injury: bool
    matched_recognition_code: str | None


@dataclass(frozen=True)
class CheckResult:
    check_id: int | None
    stage: str
    allowed: bool
    settlement_kind: str
    reasons: tuple[Reason, ...]
    next_steps: tuple[str, ...]


@dataclass(frozen=True)
class AdmissionOutcome:
    stay_id: int | None
    registration_no: str | None
    check: CheckResult
    offline: bool


# --- identification ------------------------------------------------------------------------


def _check_identification(identification: Identification, actor: OperatorInfo) -> None:
    if identification.kind not in IDENTIFICATION_KINDS:
        raise WorkflowError(f"未知的身份识别方式：{identification.kind}")
    if not identification.value.strip():
        raise WorkflowError("请读卡、扫描电子社保卡，或输入社会保障号码。")
    if identification.kind == "typed":
        # Typing a number skips the card: only a reviewer, and only with a reason on record.
        require(actor, Permission.MANUAL_IDENTIFICATION)
        if not (identification.reason or "").strip():
            raise WorkflowError("手工输入社会保障号码必须填写原因（如：未带卡、卡损坏）。")
        problem = id_number_problem(identification.value.strip().upper())
        if problem:
            raise WorkflowError(f"社会保障号码有误：{problem}")


def look_up(client: CentreClient, identification: Identification, actor: OperatorInfo) -> Person:
    """The centre's person for a card number, an e-card token, or a number typed by a reviewer."""
    require(actor, Permission.ADMIT)
    _check_identification(identification, actor)
    value = identification.value.strip()
    if identification.kind == "typed":
        value = value.upper()
        with client.outbox.sessions.begin() as session:
            audit.record(session, "worker_identified_by_number", operator_id=actor.id,
                         counter_name=client.outbox.counter_name, entity_type="worker",
                         entity_id=mask_id_number(value), detail={"reason": identification.reason})
    return client.find_person(_PERSON_KEYS[identification.kind], value)


# --- diagnoses ------------------------------------------------------------------------------


def _category(code: str) -> str:
    return code.strip().upper()[:3]


def mark_diagnoses(person: Person, recognition_no: str | None,
                   diagnoses: Iterable[tuple[str, str]]) -> list[MarkedDiagnosis]:
    """Each admitting diagnosis marked injury (因伤) or not, against the recognition's diagnoses.

    The split follows the injury diagnoses of the 工伤认定书 (`003 §15`). A diagnosis counts as
    the recognised injury when its ICD-10 code equals one of them, or shares its 3-character
    category (S82.201 胫骨干骨折 recognised, S82.200 or S82.2 coded at admission): the HIS and the
    recognition often code the same injury at different sub-levels, and the 3-character category
    is ICD-10's own unit of one disease or injury; anything else (another category, e.g. I10
    高血压) is not the recognised injury."""
    recognition = facts.choose_recognition(person, recognition_no)
    recognised = [d.code.strip().upper() for d in recognition.diagnoses] if recognition else []
    marked = []
    for code, name in diagnoses:
        clean = code.strip().upper()
        match = next((r for r in recognised if r == clean), None)
        if match is None:
            match = next((r for r in recognised if _category(r) == _category(clean)), None)
        marked.append(MarkedDiagnosis(clean, name.strip(), match is not None, match))
    return marked


# --- the check ---------------------------------------------------------------------------------


def next_steps(verdict: Verdict) -> tuple[str, ...]:
    """What the worker or the counter does next: each reason's step as the case's region words it at
    this stage (the profile's `[next_steps]`, issue 23 §6), blocking reasons first, each step once.
    No step is written here: a Guangdong app offered in Jilin, or "file now" at a Beijing discharge
    (001 §17), was what a fixed list here got wrong."""
    ordered = sorted(verdict.reasons, key=lambda reason: not reason.blocking)
    return tuple(dict.fromkeys(reason.next_step for reason in ordered if reason.next_step))


def check_result(verdict: Verdict, check_id: int | None) -> CheckResult:
    return CheckResult(check_id, verdict.stage, verdict.allowed, verdict.settlement_kind, verdict.reasons,
                       next_steps(verdict))


def store_check(session: Session, *, verdict: Verdict, worker_id: int, stay_id: int | None, inputs: dict[str, Any],
                actor_id: int, counter_name: str, basis: str = "counter") -> CheckResult:
    """Keep a check (its inputs and its verdict) and audit it; never edited afterwards."""
    record = FilingCheck(worker_id=worker_id, stay_id=stay_id, stage=verdict.stage, check_date=verdict.check_date,
                         allowed=verdict.allowed, settlement_kind=verdict.settlement_kind,
                         reasons=[r.as_json() for r in verdict.reasons], inputs=inputs, basis=basis,
                         checked_by=actor_id)
    session.add(record)
    session.flush()
    audit.record(session, "filing_checked", operator_id=actor_id, counter_name=counter_name,
                 entity_type="filing_check", entity_id=record.id,
                 detail={"stage": verdict.stage, "stay_id": stay_id, "allowed": verdict.allowed, "basis": basis,
                         "reasons": [f"{r.code} {r.source}" for r in verdict.reasons]})
    return check_result(verdict, record.id)


def store_centre_verdict(session: Session, raw: dict[str, Any], *, worker_id: int, stay_id: int | None,
                         check_date: date, actor_id: int, counter_name: str) -> CheckResult | None:
    """The centre's own verdict (from a reply or a refusal's details), kept as a check of basis "centre"."""
    try:
        reasons = tuple(Reason(str(r["code"]), bool(r["blocking"]), str(r["message"]), str(r["source"]))
                        for r in raw.get("reasons", []))
        verdict = Verdict(str(raw["stage"]), str(raw.get("settlement_kind", "")), check_date, reasons)
    except (KeyError, TypeError):
        log.warning("结算中心返回的核验结论格式不符，未保存")
        return None
    return store_check(session, verdict=verdict, worker_id=worker_id, stay_id=stay_id,
                       inputs={"centre_verdict": raw}, actor_id=actor_id, counter_name=counter_name, basis="centre")


def counter_institution(session: Session) -> InstitutionInfo:
    info = institution_info(session)
    if info is None:
        raise WorkflowError("尚未登记本机构，不能办理入院登记。")
    return info


def _judge_admission(info: InstitutionInfo, person: Person, form: AdmissionForm,
                     marked: Sequence[MarkedDiagnosis]) -> tuple[Verdict, Recognition | None, Filing | None]:
    recognition = facts.choose_recognition(person, form.recognition_no)
    filing = facts.choose_filing(person, form.filing_id, info.city_code)
    case = facts.build_case(
        person, info, recognition=recognition, filing=filing, care=form.care, admission_no=form.admission_no,
        dept=form.dept, admitted=form.admitted_on, diagnoses=[(d.code, d.name, d.injury) for d in marked],
        emergency=form.emergency, third_party_liability=form.third_party_liability,
    )
    return judge(case, ADMISSION), recognition, filing


def _check_same_person(person: Person, identification: Identification) -> None:
    """The identification recorded on the stay must be the one that found this person."""
    value = identification.value.strip()
    if identification.kind == "typed" and value.upper() != person.social_security_number:
        raise WorkflowError("输入的社会保障号码与查询到的人员不一致，请重新查询。")
    if identification.kind == "card" and person.card is not None and person.card.number != value:
        raise WorkflowError("所读社保卡的卡号与查询到的人员不一致，请重新读卡。")


def _check_form(form: AdmissionForm) -> None:
    problems = []
    if not form.admission_no.strip():
        problems.append("请填写住院号")
    if not form.dept.strip():
        problems.append("请填写科别")
    if form.care not in {c.value for c in Care}:
        problems.append(f"就医类型只能是 就医/康复/辅助器具配置（medical/rehab/device），不是 {form.care}")
    for code, name in form.diagnoses:
        if not code.strip() or not name.strip():
            problems.append("入院诊断须有 ICD-10 编码和名称")
            break
    if not form.diagnoses:
        problems.append("请至少填写一个入院诊断")
    if form.recognition_no is not None and not form.recognition_no.strip():
        problems.append("认定书编号不能为空白")
    if problems:
        raise WorkflowError("；".join(problems) + "。")


def preview_admission_check(ctx: CounterContext, person: Person, form: AdmissionForm,
                            notice: device_fitting.NoticeCheck | None = None) -> CheckResult:
    """The verdict the window shows while the form is filled in (nothing stored); a device fitting's
    with its notice's reasons once the notice was looked up (`notice`)."""
    with ctx.transaction() as session:
        info = counter_institution(session)
    marked = mark_diagnoses(person, form.recognition_no, form.diagnoses)
    verdict, _, _ = _judge_admission(info, person, form, marked)
    return check_result(device_fitting.with_notice(verdict, notice), None)


def check_device_notice(client: CentreClient, person: Person, form: AdmissionForm) -> device_fitting.NoticeCheck:
    """A device fitting's 配置费用核付通知单 looked up at the centre and judged on the fitting date
    (`001 §34`, `002 经办规程 §18`, `000 §30`)."""
    return device_fitting.check_notice(client, form.notice_no, person.social_security_number, form.admitted_on,
                                       person.profile)


# --- admit --------------------------------------------------------------------------------------


def admit(ctx: CounterContext, client: CentreClient, person: Person, form: AdmissionForm, actor: OperatorInfo,
          identification: Identification) -> AdmissionOutcome:
    """Judge the filing, keep the check, and (when allowed) create the stay and register it with
    the centre (就医登记号 onto the stay by the ADMISSION applier). Refused: the check is kept
    (no stay) and `AdmissionOutcome.check` says why and what the worker can do next."""
    require(actor, Permission.ADMIT)
    _check_identification(identification, actor)
    _check_same_person(person, identification)
    _check_form(form)
    # Books restored from a backup: the centre may hold this 住院号 already (never registered twice).
    check_before_work(ctx, client, actor, form.admission_no.strip())
    marked = mark_diagnoses(person, form.recognition_no, form.diagnoses)
    # A device fitting: the notice checked at the centre before fitting (001 §34), its reasons part
    # of the verdict kept below.
    notice = check_device_notice(client, person, form) if form.care == device_fitting.DEVICE else None
    counter = ctx.counter_name
    # The stay and its registration call are written in one transaction (issue 21 B5): a kill
    # between them can leave neither a stay the centre never hears of nor a call with no stay.
    # An earlier call still unresolved: no call now; the stay is stored flagged for 补传 instead.
    try:
        client.outbox.prepare()
        not_clear: OutboxNotClear | None = None
    except OutboxNotClear as exc:
        not_clear = exc
    written: WrittenCall | None = None
    for attempt in range(1, _STORE_ATTEMPTS + 1):
        try:
            with ctx.transaction() as session:
                info = counter_institution(session)
                verdict, recognition, filing = _judge_admission(info, person, form, marked)
                verdict = device_fitting.with_notice(verdict, notice)
                worker = facts.store_person(session, person)
                inputs = {**facts.person_inputs(person, recognition, filing),
                          "form": _form_json(form, marked), "identified_by": identification.kind}
                if notice is not None:
                    inputs["notice"] = _notice_json(notice)
                if not verdict.allowed:
                    check = store_check(session, verdict=verdict, worker_id=worker.id, stay_id=None, inputs=inputs,
                                        actor_id=actor.id, counter_name=counter)
                    return AdmissionOutcome(None, None, check, False)
                stay = _new_or_reopened_stay(session, info, worker, form, marked, person, recognition, filing,
                                             identification, actor, counter)
                if notice is not None and notice.notice is not None:
                    device_fitting.record_fitting(session, stay, notice.notice, form.admitted_on)
                check = store_check(session, verdict=verdict, worker_id=worker.id, stay_id=stay.id, inputs=inputs,
                                    actor_id=actor.id, counter_name=counter)
                audit.record(session, "stay_admitted", operator_id=actor.id, counter_name=counter, entity_type="stay",
                             entity_id=stay.id, detail={"admission_no": stay.admission_no, "dept": stay.dept,
                                                        "identified_by": identification.kind,
                                                        "identification_reason": identification.reason,
                                                        "diagnoses": [f"{d.code} {'因伤' if d.injury else '因病'}"
                                                                      for d in marked]})
                stay_id, worker_id = stay.id, worker.id
                request = admission_request(person, form, marked, recognition, filing)
                crash_point("admission.stay_stored")
                if not_clear is None:
                    written = client.outbox.write_in(session, Operation.ADMISSION, request, stay_id=stay_id,
                                                     operator_id=actor.id)
                else:
                    stay.registered_offline = True
            break
        except BaseException as exc:
            if written is not None:  # rolled back with the stay: never recorded, never sent
                client.outbox.release(written)
                written = None
            if failures.is_storage_failure(exc):
                # Nothing was kept and nothing sent: the clerk reads that, not the driver (issue 21 §8).
                log.error("入院登记未能写入本机数据库，未发送：%s", failures.cause(exc), exc_info=True)
                raise failures.not_sent(exc, Operation.ADMISSION.label) from exc
            if not isinstance(exc, IntegrityError):
                raise
            # Another counter stored the same worker or 住院号 at the same moment, and committed
            # first: read again, and the 住院号 check below names who registered it.
            if attempt == _STORE_ATTEMPTS:
                raise WorkflowError("入院登记与其他窗口同时写入，未能保存，请重试。") from exc
            log.info("入院登记与其他窗口同时写入（第 %d 次），重读后再试", attempt)
    if written is None:
        assert not_clear is not None
        _queue_offline(ctx, client, stay_id, request, actor, not_clear)
        return AdmissionOutcome(stay_id, None, check, True)
    return _register(ctx, client, stay_id, worker_id, request, check, actor, written)


def admission_request(person: Person, form: AdmissionForm, marked: Sequence[MarkedDiagnosis],
                      recognition: Recognition | None, filing: Filing | None) -> AdmissionRequest:
    return AdmissionRequest(
        social_security_number=person.social_security_number, insured_region=person.insured_place.city_code,
        care=form.care, admission_no=form.admission_no.strip(), dept=form.dept.strip(), admitted=form.admitted_on,
        diagnoses=tuple(StayDiagnosis(d.code, d.name, d.injury) for d in marked),
        recognition_no=recognition.decision_no if recognition else None,
        filing_id=filing.id if filing else None,
        emergency=form.emergency, third_party_liability=form.third_party_liability,
        notice_no=((form.notice_no or "").strip().upper() or None) if form.care == device_fitting.DEVICE else None,
    )


def _notice_json(check: device_fitting.NoticeCheck) -> dict[str, Any]:
    notice = check.notice
    return {"notice_no": check.notice_no, "found": notice is not None,
            **({} if notice is None else {
                "person": mask_id_number(notice.social_security_number), "issued": notice.issued.isoformat(),
                "valid_until": notice.valid_until.isoformat(), "status": notice.status,
                "items": [{"code": i.code, "name": i.name, "quantity": str(i.quantity), "max_pay": str(i.max_pay),
                           "min_years": i.min_years} for i in notice.items]})}


def _form_json(form: AdmissionForm, marked: Sequence[MarkedDiagnosis]) -> dict[str, Any]:
    return {"admission_no": form.admission_no, "dept": form.dept, "bed": form.bed,
            "admitted_on": form.admitted_on.isoformat(), "care": form.care, "emergency": form.emergency,
            "third_party_liability": form.third_party_liability, "recognition_no": form.recognition_no,
            "filing_id": form.filing_id, "notice_no": form.notice_no,
            "diagnoses": [{"code": d.code, "name": d.name, "injury": d.injury,
                           "matched_recognition_code": d.matched_recognition_code} for d in marked]}


def _new_or_reopened_stay(session: Session, info: InstitutionInfo, worker: Worker, form: AdmissionForm,
                          marked: Sequence[MarkedDiagnosis], person: Person, recognition: Recognition | None,
                          filing: Filing | None, identification: Identification, actor: OperatorInfo,
                          counter_name: str) -> Stay:
    institution = session.scalars(select(Institution).where(Institution.code == info.code)).one()
    admission_no = form.admission_no.strip()
    recognition_record = facts.recognition_record(session, worker, recognition.decision_no if recognition else None)
    filing_record = facts.filing_record(session, filing.id if filing else None)
    stay = session.scalars(select(Stay).where(Stay.institution_id == institution.id,
                                              Stay.admission_no == admission_no)).one_or_none()
    if stay is not None:
        # A 住院号 whose registration is 已撤销 without a 就医登记号 may be admitted again: the centre
        # refused it (e.g. the worker then filed online on the spot), or a reviewer cancelled it
        # (`admission_correction`: the wrong person — the 住院号 is the right person's). Any other is
        # a duplicate. Another worker takes the row over; the audit keeps whose it was.
        if stay.status is not StayStatus.CANCELLED or stay.registration_no is not None:
            raise WorkflowError(f"住院号 {admission_no} 已登记过（住院登记 {stay.id}，{admitted_by(session, stay)}），"
                                "不能重复入院登记。")
        if stay.worker_id != worker.id:
            audit.record(session, "stay_taken_over", operator_id=actor.id, counter_name=counter_name,
                         entity_type="stay", entity_id=stay.id,
                         detail={"admission_no": admission_no, "previous_worker_id": stay.worker_id,
                                 "worker_id": worker.id})
        stay.diagnoses.clear()
        session.flush()
    else:
        stay = Stay(institution_id=institution.id, admission_no=admission_no, worker_id=worker.id,
                    created_by=actor.id)
    stay.worker_id = worker.id
    stay.recognition_id = recognition_record.id if recognition_record else None
    stay.filing_id = filing_record.id if filing_record else None
    stay.profile = person.profile
    stay.care = Care(form.care)
    stay.dept = form.dept.strip()
    stay.bed = (form.bed or "").strip() or None
    stay.admitted_on = form.admitted_on
    stay.discharged_on = None
    stay.emergency = form.emergency
    stay.third_party_liability = form.third_party_liability
    stay.status = StayStatus.ADMITTED
    stay.registered_offline = False
    stay.identified_by = identification.kind
    stay.identification_reason = (identification.reason or "").strip() or None
    stay.notice_no = None  # a device fitting's is recorded next (device_fitting.record_fitting)
    session.add(stay)
    session.flush()
    session.execute(delete(FittedDevice).where(FittedDevice.stay_id == stay.id))
    for seq, d in enumerate(marked, start=1):
        stay.diagnoses.append(Diagnosis(role=DiagnosisRole.ADMITTING, seq=seq, code=d.code, name=d.name,
                                        injury=d.injury))
    session.flush()
    return stay


def _send_written(client: CentreClient, written: WrittenCall, request: AdmissionRequest, stay_id: int,
                  actor: OperatorInfo) -> Admission:
    try:
        return client.outbox.send_written(written, lambda m: client.centre.register_admission(m, request))
    except CentreRefused as exc:
        if exc.code != wire.ErrorCode.NOT_SIGNED_IN.value:
            raise
        # The session lapsed (the refusal applied nothing): sign in and send once more, as the client does.
        client.centre.sign_in()
        return client.register_admission(request, stay_id=stay_id, operator_id=actor.id)


def _queue_offline(ctx: CounterContext, client: CentreClient, stay_id: int, request: AdmissionRequest,
                   actor: OperatorInfo, exc: CentreError) -> None:
    # Flagged first: killed before the queue's commit, the flag alone has 补传 register it again.
    with ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None
        stay.registered_offline = True
        audit.record(session, "admission_queued_offline", operator_id=actor.id, counter_name=ctx.counter_name,
                     entity_type="stay", entity_id=stay_id, detail={"error": exc.message})
    client.queue(Operation.ADMISSION, request, stay_id=stay_id, operator_id=actor.id)
    log.warning("结算中心不可用，住院登记 %s 已排队待补传：%s", stay_id, exc.message)


def _register(ctx: CounterContext, client: CentreClient, stay_id: int, worker_id: int, request: AdmissionRequest,
              check: CheckResult, actor: OperatorInfo, written: WrittenCall | None = None) -> AdmissionOutcome:
    """Register with the centre (`written`: the call committed with the stay); offline → queued for
    补登记 and flagged for a re-check."""
    try:
        if written is not None:
            admission = _send_written(client, written, request, stay_id, actor)
        else:
            admission = client.register_admission(request, stay_id=stay_id, operator_id=actor.id)
    except OutcomeUnknown:
        # The resolver completes it (the applier stores the 就医登记号); flagged so that the
        # re-check registers it again should the call turn out not applied.
        _flag_offline(ctx, stay_id)
        raise
    except (CentreUnavailable, CallVoided, OutboxNotClear) as exc:
        _queue_offline(ctx, client, stay_id, request, actor, exc)
        return AdmissionOutcome(stay_id, None, check, True)
    except CentreRefused as exc:
        # The centre judged otherwise (or the worker has an open registration): nothing was
        # registered there; keep its verdict and mark the stay 已撤销 so the 住院号 can be admitted again.
        with ctx.transaction() as session:
            stay = session.get(Stay, stay_id)
            assert stay is not None
            stay.status = StayStatus.CANCELLED
            raw = exc.details.get("verdict")
            if isinstance(raw, dict):
                store_centre_verdict(session, raw, worker_id=worker_id, stay_id=stay_id,
                                     check_date=request.admitted, actor_id=actor.id, counter_name=ctx.counter_name)
            audit.record(session, "admission_refused_by_centre", operator_id=actor.id,
                         counter_name=ctx.counter_name, entity_type="stay", entity_id=stay_id,
                         detail={"code": exc.code, "message": exc.message})
        raise
    with ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None
        registration_no = stay.registration_no or admission.registration_no
    return AdmissionOutcome(stay_id, registration_no, check, False)


def _flag_offline(ctx: CounterContext, stay_id: int) -> None:
    with ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None
        stay.registered_offline = True


# --- offline admissions, when the link is back ------------------------------------------------------


def recheck_offline_admissions(ctx: CounterContext, client: CentreClient, actor: OperatorInfo) -> list[CheckResult]:
    """Send the queued admissions, then check again (fresh from the centre) every stay admitted
    while the centre was down; each check is stored and audited. The flag is cleared once the
    stay has its 就医登记号 and was checked."""
    require(actor, Permission.ADMIT)
    client.send_queued()
    with ctx.transaction() as session:
        rows = session.execute(select(Stay.id, Worker.social_security_number).join(Worker, Worker.id == Stay.worker_id)
                               .where(Stay.registered_offline.is_(True),
                                      Stay.status.in_([StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT]))
                               .order_by(Stay.id)).all()
    results: list[CheckResult] = []
    to_register: list[tuple[int, int, AdmissionRequest, CheckResult]] = []
    for stay_id, ssn in rows:
        person = client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ssn)
        with ctx.transaction() as session:
            stay = session.get(Stay, stay_id)
            assert stay is not None
            worker = facts.store_person(session, person)
            info = counter_institution(session)
            recognition, filing = stay_recognition_and_filing(session, stay, person, info)
            case = facts.build_case(
                person, info, recognition=recognition, filing=filing, care=stay.care.value,
                admission_no=stay.admission_no, dept=stay.dept, admitted=stay.admitted_on,
                diagnoses=[(d.code, d.name, d.injury) for d in stay.diagnoses if d.role is DiagnosisRole.ADMITTING],
                emergency=stay.emergency, third_party_liability=stay.third_party_liability,
                registration_no=stay.registration_no,
            )
            verdict = judge(case, ADMISSION)
            inputs = {**facts.person_inputs(person, recognition, filing), "recheck_of_offline_admission": True}
            results.append(store_check(session, verdict=verdict, worker_id=worker.id, stay_id=stay_id,
                                       inputs=inputs, actor_id=actor.id, counter_name=ctx.counter_name))
            if stay.registration_no is not None:
                stay.registered_offline = False
            elif verdict.allowed and not _admission_waiting(session, stay_id):
                # The queued registration was refused or voided at the centre: register it again now.
                again = AdmissionRequest(
                    social_security_number=person.social_security_number,
                    insured_region=person.insured_place.city_code, care=stay.care.value,
                    admission_no=stay.admission_no, dept=stay.dept, admitted=stay.admitted_on,
                    diagnoses=tuple(StayDiagnosis(d.code, d.name, d.injury) for d in stay.diagnoses
                                    if d.role is DiagnosisRole.ADMITTING),
                    recognition_no=recognition.decision_no if recognition else None,
                    filing_id=filing.id if filing else None, emergency=stay.emergency,
                    third_party_liability=stay.third_party_liability, notice_no=stay.notice_no,
                )
                to_register.append((stay_id, worker.id, again, results[-1]))
    for stay_id, worker_id, request, check in to_register:
        try:
            outcome = _register(ctx, client, stay_id, worker_id, request, check, actor)
        except CentreRefused as exc:
            # Kept as 已撤销 with the centre's verdict (see _register); the other stays go on.
            log.warning("住院登记 %s 补传被结算中心拒绝：%s", stay_id, exc.message)
            continue
        if outcome.registration_no is not None:
            with ctx.transaction() as session:
                stay = session.get(Stay, stay_id)
                assert stay is not None
                stay.registered_offline = False
    return results


def _admission_waiting(session: Session, stay_id: int) -> bool:
    return session.scalar(select(OutboxEntry.id).where(
        OutboxEntry.stay_id == stay_id, OutboxEntry.operation == Operation.ADMISSION.value,
        OutboxEntry.state.in_([OutboxState.PENDING, OutboxState.SENT])).limit(1)) is not None


def stay_recognition_and_filing(session: Session, stay: Stay, person: Person,
                                 info: InstitutionInfo) -> tuple[Recognition | None, Filing | None]:
    """The stay's own recognition and filing as the centre has them now; a stay admitted without
    a filing (Jilin emergency) takes the one found as the centre finds it (back-filed since)."""
    from app.db.models import Filing as FilingRecord
    from app.db.models import InjuryRecognition

    recognition_no = None
    if stay.recognition_id is not None:
        record = session.get(InjuryRecognition, stay.recognition_id)
        recognition_no = record.decision_no if record else None
    filing_id = None
    if stay.filing_id is not None:
        filing_record = session.get(FilingRecord, stay.filing_id)
        filing_id = filing_record.filing_no if filing_record else None
    return facts.choose_recognition(person, recognition_no), facts.choose_filing(person, filing_id, info.city_code)


def centre_today() -> date:
    """The centre's business date (Beijing time), which the checks at discharge are dated by: the
    centre's clock as its replies tell it, not this counter's (issue 21 B7)."""
    return wire.centre_now().date()
