"""The pre-audit at discharge (issue 10, part B): what the clerk must acknowledge or fix before settling.

The agency audits every claimed stay and deducts what breaks its rules (`003 §19`, `003 §20`). Before
a stay is settled the counter runs the same checks (stage "discharge") and the clerk, for every
finding, either goes back and fixes the line or acknowledges it with a reason: "settle as it stands".

- `discharge_review(session, stay_id)`: the findings, each with its acknowledgement (if any).
  An acknowledgement holds while the finding's stay, rule, line (`seq`, 0 for the whole stay) and
  amount at risk are the same; a changed amount asks again.
- `acknowledge(ctx, stay_id, findings, reason, actor)`: one `preaudit_acknowledgement` row and one
  hash-chained audit event per finding, in one transaction.
- `require_acknowledged(session, stay_id, ...)`: what `app.workflow.discharge.settle_stay` (and
  `issue_full_payment`, `backfill`) call; a WorkflowError names every finding not acknowledged
  (序号, rule title, amount).
- `record_criteria_date(ctx, stay_id, met_on, actor)`: the day the patient met the discharge
  criteria (达到出院标准, the doctor's note); costs after it are the agency's to deduct (`003 §15`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.db.models import Operator, PreauditAcknowledgement, Stay, StayStatus
from app.operators import OperatorInfo, Permission, require
from app.preaudit.model import Finding, total_at_risk
from app.preaudit.ruleset import RuleSet, default_ruleset, site_ruleset
from app.workflow.common import StayNotFound, WorkflowError
from app.workflow.stay_audit import audit_stay

if TYPE_CHECKING:
    from app.bootstrap import CounterContext

STAGE = "discharge"
MAX_REASON_LENGTH = 500
WHOLE_STAY = 0  # `seq` of an acknowledgement of a finding about the whole stay


@dataclass(frozen=True)
class Acknowledgement:
    """Who acknowledged a finding, when and why."""

    operator_id: int
    operator_name: str
    acknowledged_at: dt.datetime
    reason: str


@dataclass(frozen=True)
class ReviewItem:
    """One finding as the clerk sees it at discharge."""

    finding: Finding
    title: str
    severity: str
    severity_label: str
    acknowledgement: Acknowledgement | None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledgement is not None

    @property
    def seq_label(self) -> str:
        return "整次住院" if self.finding.seq is None else str(self.finding.seq)

    def describe(self) -> str:
        """序号, rule title and amount: how a refusal names the finding."""
        return f"序号 {self.seq_label}「{self.title}」预计扣款 ¥{self.finding.amount_at_risk:.2f}"


@dataclass(frozen=True)
class DischargeReview:
    stay_id: int
    items: tuple[ReviewItem, ...]

    @property
    def findings(self) -> list[Finding]:
        return [item.finding for item in self.items]

    @property
    def total_at_risk(self) -> Decimal:
        return total_at_risk(self.findings)

    @property
    def pending(self) -> tuple[ReviewItem, ...]:
        return tuple(item for item in self.items if not item.acknowledged)

    @property
    def ready(self) -> bool:
        return not self.pending


def counter_rules(ctx: CounterContext) -> RuleSet:
    """The rules in force at this counter (the site's copy when a reviewer adjusted them)."""
    return site_ruleset(ctx.paths.config_dir)


def _key(finding: Finding) -> tuple[str, int, Decimal]:
    return finding.rule, WHOLE_STAY if finding.seq is None else finding.seq, finding.amount_at_risk


def discharge_review(session: Session, stay_id: int, rules: RuleSet | None = None, *,
                     discharged_on: dt.date | None = None, stage: str | None = STAGE) -> DischargeReview:
    """The stay's findings at discharge, each with its acknowledgement (the latest that still matches).

    `stage=None`: the stage the stay is in ("claim" once settled), for the 伤病分离 workspace's badges."""
    if session.get(Stay, stay_id) is None:
        raise StayNotFound(stay_id)
    rules = rules or default_ruleset()
    findings = audit_stay(session, stay_id, rules, stage=stage, discharged_on=discharged_on)
    acknowledged: dict[tuple[str, int, Decimal], Acknowledgement] = {}
    if findings:
        rows = session.execute(
            select(PreauditAcknowledgement, Operator.display_name)
            .join(Operator, Operator.id == PreauditAcknowledgement.operator_id)
            .where(PreauditAcknowledgement.stay_id == stay_id)
            .order_by(PreauditAcknowledgement.id)).all()
        for row, name in rows:  # ascending: the latest acknowledgement of a key wins
            acknowledged[(row.rule, row.seq, row.amount_at_risk)] = Acknowledgement(
                row.operator_id, name, row.acknowledged_at, row.reason)
    items = []
    for finding in findings:
        rule = rules.rule(finding.rule)
        items.append(ReviewItem(finding, rule.title, rule.severity, rule.severity_label,
                                acknowledged.get(_key(finding))))
    return DischargeReview(stay_id, tuple(items))


MAX_NAMED = 10  # a refusal names this many findings, then counts the rest


def unacknowledged_message(pending: Sequence[ReviewItem]) -> str:
    shown = "；".join(item.describe() for item in pending[:MAX_NAMED])
    if len(pending) > MAX_NAMED:
        shown += f"；另有 {len(pending) - MAX_NAMED} 项"
    return (f"出院结算前预审发现 {len(pending)} 项可能被经办机构扣款的问题尚未确认（003 §19、§20）：{shown}。"
            "请返回修正费用明细，或逐项填写原因确认后再结算。")


def require_acknowledged(session: Session, stay_id: int, rules: RuleSet | None = None, *,
                         discharged_on: dt.date | None = None) -> DischargeReview:
    """Refuse (WorkflowError naming each finding) unless every finding at discharge is acknowledged."""
    review = discharge_review(session, stay_id, rules, discharged_on=discharged_on)
    if review.pending:
        raise WorkflowError(unacknowledged_message(review.pending))
    return review


def acknowledge(ctx: CounterContext, stay_id: int, findings: Sequence[Finding], reason: str, actor: OperatorInfo,
                *, discharged_on: dt.date | None = None, rules: RuleSet | None = None) -> int:
    """Acknowledge `findings` (as the clerk saw them) with `reason`; returns how many were recorded.

    Each finding must still be a current finding with the same amount: if the lines changed since the
    clerk looked, nothing is recorded and the clerk is asked to look again."""
    require(actor, Permission.ACKNOWLEDGE_PREAUDIT)
    reason = reason.strip()
    if not reason:
        raise WorkflowError("请填写确认原因（例如：已与主治医生核实，按原样结算）。")
    if len(reason) > MAX_REASON_LENGTH:
        raise WorkflowError(f"确认原因不能超过 {MAX_REASON_LENGTH} 个字。")
    if not findings:
        raise WorkflowError("请先选择要确认的预审提示。")
    rules = rules or counter_rules(ctx)
    with ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        if stay is None:
            raise StayNotFound(stay_id)
        if stay.status not in (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT, StayStatus.PENDING_BACKFILL):
            raise WorkflowError("本次住院当前状态不是待结算，无需确认预审提示。")
        current = {_key(item.finding): item for item in
                   discharge_review(session, stay_id, rules, discharged_on=discharged_on).items}
        stale = [finding for finding in findings if _key(finding) not in current]
        if stale:
            names = "；".join(f"序号 {'整次住院' if f.seq is None else f.seq} {f.rule} ¥{f.amount_at_risk:.2f}"
                             for f in stale)
            raise WorkflowError(f"预审结果已变化（{names}），请重新查看后再确认。")
        recorded = 0
        for finding in dict.fromkeys(findings):  # the same finding twice is recorded once
            item = current[_key(finding)]
            if item.acknowledged:
                continue
            rule, seq, amount = _key(finding)
            session.add(PreauditAcknowledgement(stay_id=stay_id, rule=rule, seq=seq, amount_at_risk=amount,
                                                message=finding.message, reason=reason, operator_id=actor.id))
            audit.record(session, "preaudit_acknowledged", operator_id=actor.id, counter_name=ctx.counter_name,
                         entity_type="stay", entity_id=stay_id,
                         detail={"rule": rule, "seq": seq, "amount_at_risk": f"{amount:.2f}",
                                 "source": finding.source, "reason": reason})
            recorded += 1
        return recorded


def record_criteria_date(ctx: CounterContext, stay_id: int, met_on: dt.date | None, actor: OperatorInfo) -> None:
    """Record (or clear, `None`) the day the patient met the discharge criteria; audited with before/after."""
    require(actor, Permission.SETTLE)
    with ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        if stay is None:
            raise StayNotFound(stay_id)
        if stay.status not in (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT):
            raise WorkflowError("本次住院已结算或已撤销，不能再修改达到出院标准日期。")
        if met_on is not None:
            if met_on < stay.admitted_on:
                raise WorkflowError(f"达到出院标准日期 {met_on} 早于入院日期 {stay.admitted_on}。")
            if stay.discharged_on is not None and met_on > stay.discharged_on:
                raise WorkflowError(f"达到出院标准日期 {met_on} 晚于出院日期 {stay.discharged_on}。")
        before = stay.discharge_criteria_met_on
        if before == met_on:
            return
        stay.discharge_criteria_met_on = met_on
        audit.record(session, "discharge_criteria_recorded", operator_id=actor.id, counter_name=ctx.counter_name,
                     entity_type="stay", entity_id=stay_id,
                     detail={"before": before.isoformat() if before else None,
                             "after": met_on.isoformat() if met_on else None})
