"""The agency's deductions (扣款) as the billing office works them, and the hospital's disputes.

The hospital may dispute a deduction within 10 working days, with its evidence (病案材料, 影像资料,
情况说明 …) (`003 §20`, `002 经办规程 §23`); after that the deduction stands. A dispute is recorded
once per deduction, with the evidence's file names, and audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.claims.calendar import WorkingCalendar
from app.claims.service import ClaimError
from app.db.models import (
    ClaimDeduction,
    ClaimEntry,
    DeductionDispute,
    MonthlyClaim,
    Operator,
    Settlement,
    Stay,
    Worker,
)
from app.masking import mask_id_number
from app.operators import OperatorInfo, Permission, require

MAX_EVIDENCE_FILES = 50


@dataclass(frozen=True)
class DisputeView:
    statement: str
    evidence: tuple[str, ...]
    filed_by: str
    filed_at: dt.datetime


@dataclass(frozen=True)
class DeductionView:
    deduction_id: int
    batch_no: str
    month: str
    name: str
    masked_id: str
    registration_no: str | None
    line_no: int
    item_code: str | None
    item_name: str | None
    amount: Decimal
    reason: str
    notified_on: dt.date  # the agency's push (`003 §20`)
    dispute_due: dt.date | None  # None: the seed sets no window (`002 经办规程 §23`)
    working_days_left: int | None  # to the dispute deadline; negative once it has passed; None: no window
    dispute: DisputeView | None

    @property
    def disputable(self) -> bool:
        return self.dispute is None and (self.working_days_left is None or self.working_days_left >= 0)

    @property
    def deadline_text(self) -> str:
        if self.dispute is not None:
            return f"已于 {self.dispute.filed_at.astimezone():%Y-%m-%d} 提出异议"
        if self.dispute_due is None or self.working_days_left is None:
            return "本地区政策未规定异议期限"
        if self.working_days_left < 0:
            return f"异议期已过（{self.dispute_due:%Y-%m-%d} 截止）"
        if self.working_days_left == 0:
            return f"今天截止（{self.dispute_due:%Y-%m-%d}）"
        return f"还剩 {self.working_days_left} 个工作日（{self.dispute_due:%Y-%m-%d} 截止）"


def list_deductions(session: Session, *, today: dt.date, calendar: WorkingCalendar,
                    claim_id: int | None = None, month: str | None = None) -> list[DeductionView]:
    query = (
        select(ClaimDeduction, MonthlyClaim.batch_no, MonthlyClaim.month, Worker.name,
               Worker.social_security_number, Stay.registration_no, DeductionDispute, Operator.display_name)
        .join(ClaimEntry, ClaimEntry.id == ClaimDeduction.claim_entry_id)
        .join(MonthlyClaim, MonthlyClaim.id == ClaimEntry.claim_id)
        .join(Settlement, Settlement.id == ClaimEntry.settlement_id)
        .join(Stay, Stay.id == Settlement.stay_id)
        .join(Worker, Worker.id == Stay.worker_id)
        .outerjoin(DeductionDispute, DeductionDispute.deduction_id == ClaimDeduction.id)
        .outerjoin(Operator, Operator.id == DeductionDispute.filed_by)
        .order_by(ClaimDeduction.dispute_due, ClaimDeduction.id)
    )
    if claim_id is not None:
        query = query.where(MonthlyClaim.id == claim_id)
    if month is not None:
        query = query.where(MonthlyClaim.month == month)
    views = []
    for deduction, batch_no, claim_month, name, id_number, registration_no, dispute, filer in session.execute(query):
        views.append(DeductionView(
            deduction_id=deduction.id, batch_no=batch_no, month=claim_month, name=name,
            masked_id=mask_id_number(id_number), registration_no=registration_no, line_no=deduction.line_no,
            item_code=deduction.item_code, item_name=deduction.item_name, amount=deduction.amount,
            reason=deduction.reason, notified_on=deduction.notified_on, dispute_due=deduction.dispute_due,
            working_days_left=(None if deduction.dispute_due is None
                               else calendar.working_days_between(today, deduction.dispute_due)),
            dispute=None if dispute is None else DisputeView(dispute.statement, tuple(dispute.evidence),
                                                             filer or "", dispute.filed_at),
        ))
    return views


def _evidence_names(evidence: list[str]) -> list[str]:
    names = []
    for raw in evidence:
        # Only the file's name is kept: the folder is this PC's, the agency gets the files themselves.
        name = PurePath(str(raw).replace("\\", "/")).name.strip()
        if name:
            names.append(name)
    return names


def record_dispute(session: Session, deduction_id: int, statement: str, evidence: list[str],
                   operator: OperatorInfo, *, counter_name: str, today: dt.date,
                   calendar: WorkingCalendar) -> DisputeView:
    """Record the hospital's dispute of one deduction, within its deadline (`003 §20`)."""
    require(operator, Permission.BUILD_CLAIM)
    deduction = session.get(ClaimDeduction, deduction_id)
    if deduction is None:
        raise ClaimError(f"没有编号为 {deduction_id} 的扣款记录")
    if session.scalars(select(DeductionDispute.id).where(DeductionDispute.deduction_id == deduction_id)).first():
        raise ClaimError("这笔扣款已经提出过异议")
    if deduction.dispute_due is not None and calendar.working_days_between(today, deduction.dispute_due) < 0:
        raise ClaimError(f"这笔扣款的异议期限已于 {deduction.dispute_due:%Y-%m-%d} 截止"
                         f"（经办机构推送之日起 10 个工作日，003 §20），不能再提出异议")
    if not statement.strip():
        raise ClaimError("请填写异议理由（情况说明）")
    names = _evidence_names(evidence)
    if not names:
        raise ClaimError("请至少附上一份证据材料（病案材料、影像资料或情况说明的文件名）")
    if len(names) > MAX_EVIDENCE_FILES:
        raise ClaimError(f"证据材料最多 {MAX_EVIDENCE_FILES} 份")
    dispute = DeductionDispute(deduction_id=deduction_id, statement=statement.strip(), evidence=names,
                               filed_by=operator.id)
    session.add(dispute)
    session.flush()
    audit.record(session, "deduction_disputed", operator_id=operator.id, counter_name=counter_name,
                 entity_type="claim_deduction", entity_id=deduction_id,
                 detail={"amount": str(deduction.amount), "evidence": names})
    return DisputeView(dispute.statement, tuple(names), operator.display_name, dispute.filed_at)
