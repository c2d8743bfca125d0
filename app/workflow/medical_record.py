"""病案首页补齐: the 病案首页 of a discharge settlement completed within the profile's days (`003 §16`:
出院结算时传送出院结算明细清单和出院小结、病案首页等电子信息，病案首页可在7天内补齐).

The counter does not send the 病案首页 (the HIS does); it keeps who said it was completed and when
(`medical_record_completion`, one row per settlement), so the deadline leaves the watch
(`app.claims.watch`, kind "medical_record"). Only where the profile sets the days
(`medical_record_days` > 0: Guangdong); a cashier or a reviewer marks it (`Permission.SETTLE`), audited.
Refused: a cancelled settlement (nothing left to complete), a cancellation row, a region whose seed
sets no such deadline, a settlement already marked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from app import audit
from app.db.models import MedicalRecordCompletion, Operator, Settlement, SettlementKind, Stay, Worker
from app.masking import mask_id_number
from app.operators import OperatorInfo, Permission, require
from app.rules.profiles import Profile
from app.workflow.common import WorkflowError

if TYPE_CHECKING:
    from app.bootstrap import CounterContext

# Who marked a row migration 0017 wrote for settlements long past their days.
BEFORE_TRACKING = "本机记录前已办理"


@dataclass(frozen=True)
class Completion:
    """A settlement's 病案首页 marked complete (ID number masked)."""

    settlement_id: int
    admission_no: str
    name: str
    masked_id: str
    completed_by: str  # the operator's name, or BEFORE_TRACKING
    completed_at: dt.datetime


def counter_profile(ctx: CounterContext) -> Profile:
    """This counter's policy profile (`claims.profile`), which says whether the deadline exists."""
    from app.rules.profiles import load_profile
    from app.settings import CLAIMS_PROFILE

    return load_profile(ctx.settings.get(CLAIMS_PROFILE))


def is_tracked(profile: Profile) -> bool:
    """Whether the region's seed sets a 病案首页 deadline (Guangdong 7 days, `003 §16`)."""
    return profile.medical_record_days > 0


def not_required_message(profile: Profile) -> str:
    return (f"本院执行的地区政策（{profile.title}）没有规定病案首页补齐期限"
            f"（广东省规定病案首页可在出院结算后7天内补齐，003 §16），无需登记。")


def completions(session: Session, settlement_ids: list[int]) -> dict[int, Completion]:
    """The completions recorded for these settlements, by settlement id."""
    if not settlement_ids:
        return {}
    rows = session.execute(
        select(MedicalRecordCompletion, Operator.display_name, Stay.admission_no, Worker.name,
               Worker.social_security_number)
        .join(Settlement, Settlement.id == MedicalRecordCompletion.settlement_id)
        .join(Stay, Stay.id == Settlement.stay_id).join(Worker, Worker.id == Stay.worker_id)
        .outerjoin(Operator, Operator.id == MedicalRecordCompletion.completed_by)
        .where(MedicalRecordCompletion.settlement_id.in_(settlement_ids))
    ).all()
    return {row.settlement_id: Completion(row.settlement_id, admission_no, name, mask_id_number(ssn),
                                          by or BEFORE_TRACKING, row.completed_at)
            for row, by, admission_no, name, ssn in rows}


def _already(done: Completion) -> str:
    when = done.completed_at.astimezone().strftime("%Y-%m-%d %H:%M")
    return (f"结算记录 {done.settlement_id}（住院号 {done.admission_no} {done.name}）的病案首页已于 {when} "
            f"由 {done.completed_by} 登记补齐，不需要再登记。")


def mark_completed(ctx: CounterContext, settlement_id: int, actor: OperatorInfo, *,
                   profile: Profile | None = None) -> Completion:
    """Record that the settlement's 病案首页 has been completed (补齐, `003 §16`); audited."""
    require(actor, Permission.SETTLE)
    profile = profile if profile is not None else counter_profile(ctx)
    if not is_tracked(profile):
        raise WorkflowError(not_required_message(profile))
    with ctx.transaction() as session:
        found = session.execute(
            select(Settlement, Stay.admission_no, Worker.name, Worker.social_security_number)
            .join(Stay, Stay.id == Settlement.stay_id).join(Worker, Worker.id == Stay.worker_id)
            .where(Settlement.id == settlement_id)
        ).first()
        if found is None:
            raise WorkflowError(f"没有编号为 {settlement_id} 的结算记录。")
        settlement, admission_no, name, ssn = found
        who = f"结算记录 {settlement_id}（住院号 {admission_no} {name}）"
        if settlement.kind is not SettlementKind.SETTLEMENT:
            raise WorkflowError(f"{who}是撤销结算的冲销记录，不是出院结算；请选择原结算记录。")
        cancellation = aliased(Settlement)
        if session.scalar(select(cancellation.id).where(cancellation.reverses_id == settlement_id)) is not None:
            raise WorkflowError(f"{who}已撤销，无需补齐病案首页（003 §16 只对有效的出院结算）。")
        done = completions(session, [settlement_id]).get(settlement_id)
        if done is not None:
            raise WorkflowError(_already(done))
        completion = MedicalRecordCompletion(settlement_id=settlement_id, completed_by=actor.id,
                                             counter_name=ctx.counter_name)
        session.add(completion)
        try:
            session.flush()
        except IntegrityError:
            # Another counter marked it between our read and our write (UNIQUE settlement_id).
            raise WorkflowError(f"{who}的病案首页刚由其他窗口登记补齐，不需要再登记。") from None
        audit.record(session, "medical_record_completed", operator_id=actor.id, counter_name=ctx.counter_name,
                     entity_type="settlement", entity_id=settlement_id,
                     detail={"admission_no": admission_no, "settled_on": settlement.settled_on.isoformat(),
                             "source": profile.source_of("medical_record_days")})
        return Completion(settlement_id, admission_no, name, mask_id_number(ssn), actor.display_name,
                          completion.completed_at)
