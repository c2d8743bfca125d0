"""The agency's deductions (扣款) as the billing office works them, and the hospital's disputes.

The hospital may dispute a deduction within 10 working days of the agency's push, with its evidence
(病案材料, 影像资料, 情况说明 …), online (`003 §20`); after that the deduction stands. Where the seed
sets no window (`002 经办规程 §23`, Beijing, the national pilot) nothing is sent: the dispute is only
recorded here. A dispute is recorded once per deduction, audited, and sent to the centre (3303)
through the outbox with the statement and the evidence files' names and SHA-256 (not the files).
It is 已提交 only once the centre accepted it; the agency's answer comes back with the claim's
status (3302, `store_dispute_answers`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.centre.wire import CHINA_TZ
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

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient
    from app.centre.gateway import DisputeAnswer
    from app.db.models import OutboxEntry

log = logging.getLogger(__name__)

MAX_EVIDENCE_FILES = 50
ANSWER_LABELS = {"upheld": "异议成立", "rejected": "异议不成立，扣款维持"}


@dataclass(frozen=True)
class DisputeView:
    statement: str
    evidence: tuple[str, ...]
    filed_by: str
    filed_at: dt.datetime
    state: str = "pending"  # pending / submitted / refused / local (see DeductionDispute.state)
    refusal: str = ""
    centre_dispute_id: str = ""
    answer_status: str = ""  # upheld / rejected once the agency answered
    answer: str = ""
    answered_on: dt.date | None = None
    id: int = 0

    @property
    def resendable(self) -> bool:
        """Not accepted by the centre yet (pending or refused): the clerk may send it (again)."""
        return self.state in ("pending", "refused")


def _view(dispute: DeductionDispute, filer: str) -> DisputeView:
    return DisputeView(dispute.statement, tuple(dispute.evidence), filer, dispute.filed_at, dispute.state,
                       dispute.refusal or "", dispute.centre_dispute_id or "", dispute.answer_status or "",
                       dispute.answer or "", dispute.answered_on, dispute.id)


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
        return ((self.dispute is None or self.dispute.resendable)
                and (self.working_days_left is None or self.working_days_left >= 0))

    @property
    def deadline_text(self) -> str:
        dispute = self.dispute
        if dispute is not None and dispute.answer_status:
            return (f"经办机构已答复（{dispute.answered_on:%Y-%m-%d}）："
                    f"{ANSWER_LABELS.get(dispute.answer_status, dispute.answer_status)}。{dispute.answer}")
        if dispute is not None and dispute.state == "submitted":
            return f"异议已提交经办机构（{dispute.filed_at.astimezone(CHINA_TZ):%Y-%m-%d}），待答复"
        if dispute is not None and dispute.state == "local":
            return (f"已于 {dispute.filed_at.astimezone(CHINA_TZ):%Y-%m-%d} 在本院记录异议"
                    "（本地区未规定网上异议，请按经办机构要求送交材料）")
        if dispute is not None and dispute.state == "refused":
            return f"异议被中心退回：{dispute.refusal}；请修改后重新提交" + self._left()
        if dispute is not None:
            return "异议尚未送达经办机构（待提交），联网后请重新提交" + self._left()
        return self._window()

    def _left(self) -> str:
        window = self._window()
        return "" if window.startswith("本地区") else f"（{window}）"

    def _window(self) -> str:
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
            dispute=None if dispute is None else _view(dispute, filer or ""),
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
                   calendar: WorkingCalendar, hashes: list[str] | None = None) -> DisputeView:
    """Record the hospital's dispute of one deduction, within its deadline (`003 §20`). A dispute the
    centre has not accepted yet (pending, refused) is replaced by this one, to be sent again."""
    require(operator, Permission.BUILD_CLAIM)
    deduction = session.get(ClaimDeduction, deduction_id)
    if deduction is None:
        raise ClaimError(f"没有编号为 {deduction_id} 的扣款记录")
    earlier = session.scalars(select(DeductionDispute).where(DeductionDispute.deduction_id == deduction_id)).first()
    if earlier is not None and earlier.state not in ("pending", "refused"):
        raise ClaimError("这笔扣款已经提出过异议")
    if earlier is not None and _in_flight(session, earlier.id):
        # The centre may hold the earlier one: replacing it now could leave two versions (003 §20).
        raise ClaimError("上次提交的异议结果尚未确认，请待结算中心连通、结果确认后再看（必要时请审核员处理未完成的交易）")
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
    if hashes is not None and len(hashes) != len(names):
        raise ClaimError("证据文件与其校验值的份数不一致")
    # 003 §20 sends disputes online; where the seed sets no window there is nothing to send to.
    state = "local" if deduction.dispute_due is None else "pending"
    dispute = earlier or DeductionDispute(deduction_id=deduction_id)
    dispute.statement, dispute.evidence, dispute.evidence_sha256 = statement.strip(), names, hashes
    dispute.filed_by, dispute.filed_at, dispute.state, dispute.refusal = (
        operator.id, dt.datetime.now(dt.UTC), state, None)
    session.add(dispute)
    session.flush()
    audit.record(session, "deduction_disputed", operator_id=operator.id, counter_name=counter_name,
                 entity_type="claim_deduction", entity_id=deduction_id,
                 detail={"amount": str(deduction.amount), "evidence": names, "sha256": hashes or [],
                         "state": state, "again": earlier is not None})
    return _view(dispute, operator.display_name)


def _in_flight(session: Session, dispute_id: int) -> bool:
    """A 3303 of this dispute whose outcome is not known yet (written or sent, no answer)."""
    from app.db.models import OutboxEntry, OutboxState

    reference = dispute_reference(dispute_id)
    requests = session.scalars(select(OutboxEntry.request).where(
        OutboxEntry.operation == "deduction_dispute",
        OutboxEntry.state.in_([OutboxState.PENDING, OutboxState.SENT])))
    return any(isinstance(request, dict) and request.get("dispute_ref") == reference for request in requests)


def _hash_files(paths: list[str]) -> list[str]:
    hashes = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise ClaimError(f"找不到证据文件 {path.name}，请检查文件是否存在后重新选择")
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            raise ClaimError(f"读不了证据文件 {path.name}，请检查文件权限后重新选择") from None
        hashes.append(digest.hexdigest())
    return hashes


def _request(session: Session, dispute: DeductionDispute) -> Any:
    from app.centre.gateway import DisputeRequest, EvidenceFile

    deduction = session.get(ClaimDeduction, dispute.deduction_id)
    assert deduction is not None
    claim_no, settlement_id = session.execute(
        select(MonthlyClaim.batch_no, Settlement.centre_settlement_id)
        .join(ClaimEntry, ClaimEntry.claim_id == MonthlyClaim.id)
        .join(Settlement, Settlement.id == ClaimEntry.settlement_id)
        .where(ClaimEntry.id == deduction.claim_entry_id)).one()
    return DisputeRequest(claim_no, settlement_id, deduction.line_no, deduction.amount, dispute.statement,
                          tuple(EvidenceFile(name, digest)
                                for name, digest in zip(dispute.evidence, dispute.evidence_sha256 or [], strict=True)),
                          dispute_reference(dispute.id))


def dispute_reference(dispute_id: int) -> str:
    """The hospital's own number for a dispute (本院异议编号), sent with it and echoed back."""
    return f"YY{dispute_id:08d}"


def file_dispute(ctx: CounterContext, client: CentreClient, deduction_id: int, statement: str,
                 evidence: list[str], operator: OperatorInfo, *, today: dt.date,
                 calendar: WorkingCalendar) -> DisputeView:
    """Record the dispute with its evidence's SHA-256 and send it to the agency (3303, through the
    outbox; `003 §20`). Returns the dispute as it stands: submitted only when the centre accepted it,
    refused with the centre's reason, pending when the centre could not be reached or the outcome is
    unknown; local where the region sets no window (nothing sent)."""
    from app.centre.gateway import CentreError, CentreRefused

    hashes = _hash_files(evidence)
    with ctx.transaction() as session:
        view = record_dispute(session, deduction_id, statement, evidence, operator, counter_name=ctx.counter_name,
                              today=today, calendar=calendar, hashes=hashes)
        if view.state == "local":
            return view
        request = _request(session, session.get(DeductionDispute, view.id))  # type: ignore[arg-type]
    try:
        client.submit_dispute(request, operator_id=operator.id)
    except CentreRefused as exc:
        with ctx.transaction() as session:
            dispute = session.get(DeductionDispute, view.id)
            assert dispute is not None
            if dispute.state == "pending":
                dispute.state, dispute.refusal = "refused", exc.message
                audit.record(session, "deduction_dispute_refused", operator_id=operator.id,
                             counter_name=ctx.counter_name, entity_type="claim_deduction", entity_id=deduction_id,
                             detail={"code": exc.code, "message": exc.message})
    except CentreError as exc:
        # Unreachable, or the outcome unknown: it stays pending (the outbox resolves an unknown outcome
        # by msgid; the applier then marks it submitted). Never 已提交 on a hope.
        log.warning("dispute %s not confirmed by the centre: %s", view.id, type(exc).__name__)
    with ctx.transaction() as session:
        dispute = session.get(DeductionDispute, view.id)
        assert dispute is not None
        return _view(dispute, operator.display_name)


def apply_dispute(session: Session, entry: OutboxEntry, result: Any, counter_name: str) -> None:
    """The outbox's applier for 3303: the centre accepted the dispute (in the outbox's transaction)."""
    from app.centre.gateway import DisputeReceipt, from_json

    receipt = result if isinstance(result, DisputeReceipt) else from_json(DisputeReceipt, result)
    dispute = _by_reference(session, receipt.dispute_ref)
    if dispute is None or dispute.state == "submitted":
        return  # sent outside the workflow, or already recorded (idempotent)
    dispute.state, dispute.refusal = "submitted", None
    dispute.centre_dispute_id = receipt.dispute_id
    dispute.submitted_at = dt.datetime.now(dt.UTC)
    audit.record(session, "deduction_dispute_submitted",
                 operator_id=entry.operator_id if entry.operator_id is not None else dispute.filed_by,
                 counter_name=counter_name, entity_type="claim_deduction", entity_id=dispute.deduction_id,
                 detail={"dispute_id": receipt.dispute_id, "msgid": entry.msgid, "received": receipt.received.isoformat()})


def _by_reference(session: Session, reference: str) -> DeductionDispute | None:
    if not reference.startswith("YY") or not reference[2:].isdigit():
        return None
    return session.get(DeductionDispute, int(reference[2:]))


def store_dispute_answers(session: Session, answers: tuple[DisputeAnswer, ...], counter_name: str,
                          operator: OperatorInfo) -> int:
    """The agency's answers (3302) onto the disputes they belong to; a dispute the centre holds that
    this counter still has as pending is submitted after all (its reply was lost). Returns how many
    changed."""
    changed = 0
    for answer in answers:
        dispute = _by_reference(session, answer.dispute_ref)
        if dispute is None:
            continue
        if dispute.state != "submitted" and answer.dispute_id:
            dispute.state, dispute.refusal, dispute.centre_dispute_id = "submitted", None, answer.dispute_id
            dispute.submitted_at = dispute.submitted_at or dt.datetime.now(dt.UTC)
            changed += 1
        if answer.status in ANSWER_LABELS and (dispute.answer_status, dispute.answer) != (answer.status, answer.answer):
            dispute.answer_status, dispute.answer, dispute.answered_on = answer.status, answer.answer, answer.answered
            audit.record(session, "deduction_dispute_answered", operator_id=operator.id, counter_name=counter_name,
                         entity_type="claim_deduction", entity_id=dispute.deduction_id,
                         detail={"dispute_id": answer.dispute_id, "decision": answer.status})
            changed += 1
    return changed
