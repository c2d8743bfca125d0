"""The claim's upload to the centre, and the agency's answer with its deductions.

Upload: a draft is refreshed once more (a settlement cancelled since the build must not go up),
then frozen (上传中) and sent in chunks of 100 through the outbox
(`app.centre.client.CentreClient.upload_claim`): every chunk is written before it is sent, a chunk
whose reply was lost is resolved by its msgid, and a delivered chunk is never sent again — after a
failure, a cancel or a restart, uploading again continues where it stopped.

Answer (3302): the agency's deductions, line by line, with their reasons; 基金结算金额 = 基金支付总额 −
扣款金额 (`000 附件9`); each deduction's dispute deadline is 10 working days (the profile's
`dispute_working_days`) from the day the agency pushed its audit, as the centre reports it (3302
`audited`), not from the day the counter fetched it (`003 §20`); none where the seed sets no window
(`002 经办规程 §23`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import CentreError, ClaimEntryStatus, ClaimStatusReport, OutcomeUnknown, OutboxNotClear
from app.claims.calendar import WorkingCalendar, load_calendar
from app.claims.deadlines import dispute_deadline
from app.claims.deductions import store_dispute_answers
from app.claims.service import (
    ClaimError,
    ClaimSummary,
    _build,
    _refresh_totals,
    claim_summary,
    claimed_centre_ids,
    parse_month,
)
from app.db.models import (
    ChargeLine,
    ClaimDeduction,
    ClaimEntry,
    ClaimStatus,
    MonthlyClaim,
    Settlement,
)
from app.errors import WiCounterError
from app.operators import OperatorInfo, Permission, require
from app.rules.profiles import load_profile
from app.settings import CLAIMS_PROFILE

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")
# Unknown outcomes resolved and the upload resumed at most this many times in one go.
RESUME_ATTEMPTS = 3


@dataclass(frozen=True)
class UploadOutcome:
    claim: ClaimSummary
    completed: bool
    stopped: bool  # the clerk cancelled between chunks: upload again to continue
    chunks: int
    chunks_done: int


def _claim(session: Session, claim_id: int) -> MonthlyClaim:
    claim = session.get(MonthlyClaim, claim_id)
    if claim is None:
        raise ClaimError(f"没有编号为 {claim_id} 的月度结算申请")
    return claim


def _freeze(ctx: CounterContext, claim_id: int, operator: OperatorInfo) -> tuple[str, str, list[str]]:
    """Refresh a draft once more and freeze it (上传中); the batch, month and centre ids to send."""
    with ctx.transaction() as session:
        claim = _claim(session, claim_id)
        if claim.status is ClaimStatus.DRAFT:
            first, last = parse_month(claim.month)
            _build(session, ctx.settings, claim.month, first, last, operator, ctx.counter_name)
            session.refresh(claim)
            ids = claimed_centre_ids(session, claim.id)
            if not ids:
                raise ClaimError(f"批次 {claim.batch_no} 中的结算都已撤销，没有可上传的记录")
            claim.status = ClaimStatus.UPLOADING
            claim.chunks = math.ceil(len(ids) / wire.MAX_CLAIM_SETTLEMENTS_PER_CHUNK)
            claim.chunks_done = 0
            audit.record(session, "claim_upload_started", operator_id=operator.id, counter_name=ctx.counter_name,
                         entity_type="monthly_claim", entity_id=claim.id,
                         detail={"batch_no": claim.batch_no, "entries": len(ids), "chunks": claim.chunks})
            _keep_predictions(session, ctx, claim.id)
        return claim.batch_no, claim.month, claimed_centre_ids(session, claim.id)


def _keep_predictions(session: Session, ctx: CounterContext, claim_id: int) -> None:
    """The pre-audit's predicted deductions, kept as the claim is frozen, so the agency's answer can be
    compared with them (`app.claims.preaudit_month`). A broken site rules file must not hold up the claim
    itself: the upload goes on, without predictions, and the log says why."""
    from app.claims.preaudit_month import store_predictions
    from app.preaudit.ruleset import site_ruleset

    try:
        rules = site_ruleset(ctx.paths.config_dir)
    except WiCounterError as exc:
        log.warning("预审规则文件有误，本批次不保存预测：%s", exc.message)
        return
    store_predictions(session, claim_id, rules)


def upload_claim(ctx: CounterContext, client: CentreClient, claim_id: int, operator: OperatorInfo, *,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> UploadOutcome:
    """Send the claim (or the rest of it). Safe to call again after any failure or restart."""
    require(operator, Permission.BUILD_CLAIM)
    with ctx.transaction() as session:
        claim = _claim(session, claim_id)
        if claim.status in (ClaimStatus.UPLOADED, ClaimStatus.ANSWERED):
            summary = claim_summary(session, claim_id)
            return UploadOutcome(summary, True, False, summary.chunks, summary.chunks)
    batch_no, month, ids = _freeze(ctx, claim_id, operator)

    def note_progress(done: int, chunks: int) -> None:
        with ctx.transaction() as session:
            record = _claim(session, claim_id)
            record.chunks_done, record.chunks = done, chunks
        if progress is not None:
            progress(done, chunks)

    client.resolve_open()  # a chunk left unknown by a crash is settled by its msgid first
    attempts = 0
    while True:
        try:
            receipt = client.upload_claim(batch_no, month, ids, operator_id=operator.id, progress=note_progress,
                                          should_stop=should_stop)
            break
        except (OutcomeUnknown, OutboxNotClear) as exc:
            attempts += 1
            if attempts >= RESUME_ATTEMPTS:
                raise ClaimError(f"{exc.message}；批次 {batch_no} 已上传的分片不会重复，恢复后再次上传即从中断处继续") from exc
            client.resolve_open()
        except CentreError as exc:
            raise ClaimError(f"{exc.message}；批次 {batch_no} 已上传的分片不会重复，恢复后再次上传即从中断处继续") from exc
    with ctx.transaction() as session:
        claim = _claim(session, claim_id)
        claim.chunks, claim.chunks_done = receipt.chunks, len(receipt.received_chunks)
        completed = receipt.status != "stopped"
        if completed:
            claim.status = ClaimStatus.UPLOADED
            claim.uploaded_at = dt.datetime.now(dt.UTC)
            claim.centre_status = receipt.status
            audit.record(session, "claim_uploaded", operator_id=operator.id, counter_name=ctx.counter_name,
                         entity_type="monthly_claim", entity_id=claim.id,
                         detail={"batch_no": batch_no, "chunks": receipt.chunks})
        else:
            audit.record(session, "claim_upload_stopped", operator_id=operator.id, counter_name=ctx.counter_name,
                         entity_type="monthly_claim", entity_id=claim.id,
                         detail={"batch_no": batch_no, "chunks_done": claim.chunks_done, "chunks": claim.chunks})
        summary = claim_summary(session, claim_id)
    return UploadOutcome(summary, completed, not completed, receipt.chunks, len(receipt.received_chunks))


# --- the agency's answer -------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerOutcome:
    claim: ClaimSummary
    centre_status: str
    deductions: int  # deduction lines stored
    new_deductions: int  # first seen in this fetch (their dispute window starts at the agency's push)
    problems: tuple[str, ...]  # where the centre's answer and this counter's claim disagree


def fetch_answer(ctx: CounterContext, client: CentreClient, claim_id: int, operator: OperatorInfo, *,
                 today: dt.date | None = None, calendar: WorkingCalendar | None = None) -> AnswerOutcome:
    """Ask the centre for the claim's audit (3302) and store its deductions."""
    require(operator, Permission.BUILD_CLAIM)
    with ctx.transaction() as session:
        claim = _claim(session, claim_id)
        if claim.status in (ClaimStatus.DRAFT, ClaimStatus.UPLOADING):
            raise ClaimError(f"批次 {claim.batch_no} 尚未上传完成，还没有审核结果")
        batch_no = claim.batch_no
    try:
        report = client.claim_status(batch_no)
    except CentreError as exc:
        raise ClaimError(f"查询批次 {batch_no} 的审核结果失败：{exc.message}") from exc
    calendar = calendar or load_calendar(ctx.paths.config_dir)
    today = today or wire.now().date()
    with ctx.transaction() as session:
        return _store_answer(session, ctx, claim_id, report, operator, today, calendar)


def _centre_id(status: ClaimEntryStatus) -> str:
    """The id this counter claimed the entry by: a correction's is its cancellation's (CX…)."""
    return status.cancellation_id if status.kind == "cancellation" and status.cancellation_id else status.settlement_id


def _store_answer(session: Session, ctx: CounterContext, claim_id: int, report: ClaimStatusReport,
                  operator: OperatorInfo, today: dt.date, calendar: WorkingCalendar) -> AnswerOutcome:
    claim = _claim(session, claim_id)
    profile = load_profile(claim.profile or ctx.settings.get(CLAIMS_PROFILE))
    entries = {centre_id: (entry, settlement) for centre_id, entry, settlement in session.execute(
        select(Settlement.centre_settlement_id, ClaimEntry, Settlement)
        .join(ClaimEntry, ClaimEntry.settlement_id == Settlement.id).where(ClaimEntry.claim_id == claim.id))}
    problems: list[str] = []
    reported = {_centre_id(status) for status in report.entries}
    for missing in sorted(set(entries) - reported):
        problems.append(f"中心的审核结果中没有结算记录 {missing}")
    existing = {(d.claim_entry_id, d.line_no): d for d in session.scalars(
        select(ClaimDeduction).join(ClaimEntry, ClaimEntry.id == ClaimDeduction.claim_entry_id)
        .where(ClaimEntry.claim_id == claim.id))}
    stored = new = 0
    # 003 §20: the window runs from the agency's push; only a centre that gives no date falls back to today.
    pushed = report.audited or today
    for status in report.entries:
        found = entries.get(_centre_id(status))
        if found is None:
            problems.append(f"中心的审核结果中有本批次之外的结算记录 {_centre_id(status)}")
            continue
        entry, settlement = found
        if status.fund_total != entry.fund_total:
            problems.append(f"结算记录 {status.settlement_id} 的基金支付总额：中心 {status.fund_total}，本院 {entry.fund_total}")
        entry.deduction = status.deduction
        entry.deduction_reason = status.deduction_reason or None
        lines_spec: list[tuple[int, str | None, str | None, Decimal, str]]
        if not status.lines and status.deduction > ZERO:
            # The centre named no line: the whole deduction is one record of the settlement.
            lines_spec = [(0, None, None, status.deduction, status.deduction_reason or "未说明原因")]
        else:
            lines_spec = [(line.seq, line.code, line.name, line.amount, line.reason) for line in status.lines
                          if line.amount != ZERO]
        if lines_spec and sum((spec[3] for spec in lines_spec), ZERO) != status.deduction:
            problems.append(f"结算记录 {status.settlement_id} 的扣款明细合计与扣款金额 {status.deduction} 不符")
        charge_lines = dict(session.execute(select(ChargeLine.seq, ChargeLine.id).where(
            ChargeLine.stay_id == settlement.stay_id, ChargeLine.seq.in_([spec[0] for spec in lines_spec]))).all())
        for line_no, code, name, amount, reason in lines_spec:
            record = existing.pop((entry.id, line_no), None)
            if record is None:
                record = ClaimDeduction(claim_entry_id=entry.id, line_no=line_no, notified_on=pushed,
                                        dispute_due=dispute_deadline(profile, pushed, calendar))
                session.add(record)
                new += 1
            elif pushed < record.notified_on:
                # Stored before the push date was known (the day it was fetched): counted from the push.
                record.notified_on = pushed
                record.dispute_due = dispute_deadline(profile, pushed, calendar)
            record.charge_line_id = charge_lines.get(line_no)
            record.item_code, record.item_name = code, name
            record.amount, record.reason = amount, reason
            record.fetched_at = dt.datetime.now(dt.UTC)
            stored += 1
    for withdrawn in existing.values():
        # Kept, and shown to the reviewer: a deduction the agency no longer reports (e.g. after a
        # dispute) must be looked at by a person, not vanish.
        problems.append(f"中心的审核结果中已没有此前的扣款（明细 {withdrawn.line_no}，{withdrawn.amount} 元）")
    _refresh_totals(session, claim)
    if report.deduction_total != claim.deduction_total:
        problems.append(f"扣款合计：中心 {report.deduction_total}，本院按明细合计 {claim.deduction_total}")
    # The agency's answers to the hospital's disputes (003 §20), and disputes it holds that this
    # counter had not yet seen accepted (a lost reply).
    store_dispute_answers(session, report.disputes, ctx.counter_name, operator)
    claim.centre_status = report.status
    if report.status == "audited":
        claim.status = ClaimStatus.ANSWERED
        claim.answered_at = claim.answered_at or dt.datetime.now(dt.UTC)
    session.flush()
    audit.record(session, "claim_answer_fetched", operator_id=operator.id, counter_name=ctx.counter_name,
                 entity_type="monthly_claim", entity_id=claim.id,
                 detail={"batch_no": claim.batch_no, "status": report.status, "deductions": stored, "new": new,
                         "deduction_total": str(claim.deduction_total), "problems": problems})
    return AnswerOutcome(claim_summary(session, claim.id), report.status, stored, new, tuple(problems))
