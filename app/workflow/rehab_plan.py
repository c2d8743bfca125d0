"""康复方案: the rehab plan of a rehab stay goes up to the centre before its discharge settlement
(`000 §30`: 工伤康复 …康复方案…上传). Modelled minimally: the plan document stays in the hospital's
records; the counter keeps and sends its reference (编号), a summary and its date (transaction 2307,
through the outbox like every state-changing call). Discharge readiness names a missing plan and
settlement is refused until one is uploaded (`readiness` in `app.workflow.discharge`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.centre.gateway import CentreError, CentreRefused, RehabPlanReceipt, RehabPlanRequest, from_json
from app.db.models import Care, RehabPlan, Stay, StayStatus, Worker
from app.operators import OperatorInfo, Permission, require
from app.workflow.common import WorkflowError

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient
    from app.db.models import OutboxEntry

MISSING = "康复住院尚未上传康复方案（000 §30）：请在出院结算前录入并上传康复方案。"
NOT_UPLOADED = "康复方案已录入但尚未上传到结算中心（000 §30）：请联网后重新上传康复方案。"
MAX_SUMMARY = 2000


@dataclass(frozen=True)
class RehabPlanView:
    stay_id: int
    document_no: str
    summary: str
    drawn_up: dt.date
    uploaded: bool
    refusal: str = ""  # the centre's reason when it refused the upload


def latest_plan(session: Session, stay_id: int) -> RehabPlan | None:
    return session.scalars(select(RehabPlan).where(RehabPlan.stay_id == stay_id)
                           .order_by(RehabPlan.id.desc())).first()


def plan_problem(session: Session, stay: Stay) -> str | None:
    """Why a rehab stay cannot be settled for want of its plan (None: not a rehab stay, or uploaded)."""
    if stay.care is not Care.REHAB:
        return None
    plan = latest_plan(session, stay.id)
    if plan is None:
        return MISSING
    if plan.uploaded_at is None:
        return NOT_UPLOADED
    return None


def _view(plan: RehabPlan, refusal: str = "") -> RehabPlanView:
    return RehabPlanView(plan.stay_id, plan.document_no, plan.summary, plan.drawn_up, plan.uploaded_at is not None,
                         refusal)


def record_rehab_plan(ctx: CounterContext, client: CentreClient, stay_id: int, document_no: str, summary: str,
                      drawn_up: dt.date, actor: OperatorInfo, *, today: dt.date) -> RehabPlanView:
    """Record the stay's rehab plan and upload it (2307). Returns the plan as it stands: `uploaded`
    only when the centre accepted it; a refusal is named; an unreachable centre leaves it recorded."""
    require(actor, Permission.SETTLE)
    document_no, summary = document_no.strip(), summary.strip()
    with ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        if stay is None:
            raise WorkflowError(f"没有编号为 {stay_id} 的住院记录")
        if stay.care is not Care.REHAB:
            raise WorkflowError("本次住院不是工伤康复住院，无需康复方案。")
        if stay.status not in (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT):
            raise WorkflowError("本次住院已结算或已撤销，不能再录入康复方案。")
        if not document_no or len(document_no) > 64:
            raise WorkflowError("请填写康复方案编号（不超过 64 个字）。")
        if not summary or len(summary) > MAX_SUMMARY:
            raise WorkflowError(f"请填写康复方案摘要（不超过 {MAX_SUMMARY} 个字）。")
        if drawn_up > today or drawn_up < stay.admitted_on - dt.timedelta(days=30):
            raise WorkflowError(f"康复方案日期 {drawn_up:%Y-%m-%d} 不对：不能晚于今天，也不应早于入院前 30 天。")
        plan = RehabPlan(stay_id=stay_id, document_no=document_no, summary=summary, drawn_up=drawn_up,
                         recorded_by=actor.id)
        session.add(plan)
        session.flush()
        audit.record(session, "rehab_plan_recorded", operator_id=actor.id, counter_name=ctx.counter_name,
                     entity_type="stay", entity_id=stay_id,
                     detail={"document_no": document_no, "drawn_up": drawn_up.isoformat()})
        plan_id = plan.id
    return upload_rehab_plan(ctx, client, stay_id, actor, plan_id=plan_id)


def upload_rehab_plan(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo, *,
                      plan_id: int | None = None) -> RehabPlanView:
    """Send the stay's latest recorded plan (again) to the centre."""
    require(actor, Permission.SETTLE)
    with ctx.transaction() as session:
        plan = session.get(RehabPlan, plan_id) if plan_id is not None else latest_plan(session, stay_id)
        stay = session.get(Stay, stay_id)
        if plan is None or stay is None:
            raise WorkflowError("本次住院还没有录入康复方案。")
        if stay.registration_no is None:
            raise WorkflowError("尚未在结算中心办理入院登记（无就医登记号），康复方案已记录，登记后再上传。")
        if plan.uploaded_at is not None:
            return _view(plan)
        worker = session.get(Worker, stay.worker_id)
        request = RehabPlanRequest(stay.registration_no, plan.document_no, plan.summary, plan.drawn_up,
                                   worker.insured_city_code if worker is not None else "")
        plan_id = plan.id
    refusal = ""
    try:
        client.upload_rehab_plan(request, stay_id=stay_id, operator_id=actor.id)
    except CentreRefused as exc:
        refusal = exc.message
    except CentreError:
        refusal = "结算中心暂时连不上，康复方案已在本机记录；联网后请重新上传。"
    with ctx.transaction() as session:
        plan = session.get(RehabPlan, plan_id)
        assert plan is not None
        return _view(plan, "" if plan.uploaded_at is not None else refusal)


def apply_rehab_plan(session: Session, entry: OutboxEntry, result: Any, counter_name: str) -> None:
    """The outbox's applier for 2307: the centre holds the plan (in the outbox's transaction)."""
    receipt = result if isinstance(result, RehabPlanReceipt) else from_json(RehabPlanReceipt, result)
    stay = (session.get(Stay, entry.stay_id) if entry.stay_id is not None else
            session.scalars(select(Stay).where(Stay.registration_no == receipt.registration_no)).first())
    if stay is None or stay.registration_no != receipt.registration_no:
        return  # made outside the workflow (no local stay)
    plan = session.scalars(select(RehabPlan).where(RehabPlan.stay_id == stay.id,
                                                   RehabPlan.document_no == receipt.document_no,
                                                   RehabPlan.uploaded_at.is_(None))
                           .order_by(RehabPlan.id.desc())).first()
    if plan is None:
        return  # already recorded (idempotent)
    plan.uploaded_at = dt.datetime.now(dt.UTC)
    audit.record(session, "rehab_plan_uploaded",
                 operator_id=entry.operator_id if entry.operator_id is not None else plan.recorded_by,
                 counter_name=counter_name, entity_type="stay", entity_id=stay.id,
                 detail={"document_no": plan.document_no, "msgid": entry.msgid,
                         "received": receipt.received.isoformat()})
