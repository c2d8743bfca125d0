"""伤病分离: the stay's charge lines split into work-injury and unrelated illness.

The split follows the injury diagnoses of the recognition (`003 §15`, `000 六(二)`): each
line follows a diagnosis of the stay, or is set injury / non-injury by hand (an override,
with a reason, audited; a cashier's override waits for a reviewer's approval). The
buckets, reasons and the slip's matrix come from the rules (`app.rules.settlement.compute`)
on the case built from the stored records (`app.workflow.case_builder`): the preview is
the slip the centre should return, and its pre-settlement confirms it line by line.

Lines outside the catalogue are marked so the clerk remembers to tell the patient first
(告知义务, `003 §15`); unmatched HIS codes (`003 §27`), unclassified lines and unapproved
overrides are listed as problems instead of failing the workspace.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import String, Table, func, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from app import audit
from app.centre.gateway import SettlementFigures, SettlementRequest
from app.db.models import ChargeCategory, ChargeLine, HisCodeMap, Operator, Stay, StayStatus, Worker
from app.operators import OperatorInfo, Permission, require
from app.rules.case import CATEGORIES, InvalidCase
from app.rules.settlement import (
    BUCKET_LABELS,
    BUCKETS,
    CATEGORY_LABELS,
    SettlementResult,
    case_diagnosis_injury,
    compute,
)
from app.workflow.case_builder import StayRecords, stay_diagnosis_codes, stay_records
from app.workflow.common import StayNotFound, WorkflowError

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient

log = logging.getLogger(__name__)

MATCHED = "matched"
SELF_PAY_CONFIRMED = "self_pay"  # confirmed outside the catalogue (目录外) in the code map
UNMATCHED = "unmatched"
UNCLASSIFIED = "unclassified"  # select_lines(bucket=...) for lines not classified yet
UNCLASSIFIED_LABEL = "未分类"
MATCH_LABELS = {MATCHED: "已对照", SELF_PAY_CONFIRMED: "目录外（自费）", UNMATCHED: "未对照"}
_LINES = cast(Table, ChargeLine.__table__)  # Core statements over the lines (no ORM object per line)
# A settled stay (or one paid in full, waiting for 补登记, or whose admission was cancelled) keeps its lines.
_FROZEN = (StayStatus.SETTLED, StayStatus.PENDING_BACKFILL, StayStatus.CANCELLED)


class LineView(NamedTuple):
    """One line as the workspace shows it.

    A tuple of plain values (the category is kept as its text, `category` gives the enum), so the
    cyclic garbage collector stops tracking it: a page holding 20,000 of them never pauses the GUI
    walking them."""

    line_id: int
    seq: int
    his_code: str
    code: str | None
    name: str
    category_value: str | None  # ChargeCategory's value; see `category`
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    charged_on: dt.date
    dept: str | None
    order_group: str | None
    diagnosis_code: str | None
    injury: bool | None
    bucket: str | None  # None: 未分类
    reason: str
    follows: str  # "S82.201 胫骨骨折", "手工改判（非工伤）", or "" when unclassified
    match_status: str  # matched / self_pay / unmatched
    patient_informed: bool
    override_reason: str | None
    override_approved: bool
    refund_of_seq: int | None
    uploaded: bool
    # Beyond the shared contract: what the page shows besides.
    overridden: bool = False  # injury set by hand (approved or not)
    out_of_catalogue: bool = False  # no valid catalogue code: the patient must be told (003 §15)
    fund: Decimal = Decimal("0.00")
    personal: Decimal = Decimal("0.00")

    @property
    def category(self) -> ChargeCategory | None:
        return None if self.category_value is None else _CATEGORIES[self.category_value]

    @property
    def bucket_label(self) -> str:
        return BUCKET_LABELS[self.bucket] if self.bucket is not None else UNCLASSIFIED_LABEL

    @property
    def awaiting_approval(self) -> bool:
        return self.overridden and not self.override_approved


_CATEGORIES = {category.value: category for category in ChargeCategory}


@dataclass(frozen=True)
class StayDiagnosisView:
    code: str
    name: str
    injury: bool
    source: str  # recognition / admitting / discharge

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"


@dataclass(frozen=True)
class Workspace:
    stay_id: int
    diagnoses: tuple[StayDiagnosisView, ...]
    lines: tuple[LineView, ...]
    preview: SettlementResult | None
    problems: tuple[str, ...]
    title: str = ""  # 姓名 · 住院号 · 科别, for the page's header
    settled: bool = False  # the stay is settled (or paid in full): its lines no longer change
    unclassified: tuple[int, ...] = field(default=())  # seqs
    admitted_on: dt.date | None = None  # a line entered by hand may not be dated before it

    @property
    def depts(self) -> list[str]:
        return sorted({line.dept for line in self.lines if line.dept})

    @property
    def order_groups(self) -> list[str]:
        return sorted({line.order_group for line in self.lines if line.order_group})


# --- the workspace ---------------------------------------------------------------------------


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection during a burst of allocations (20,000 lines read, viewed, settled):
    the work makes no reference cycles, and the collector would walk the growing heap several times."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def workspace(session: Session, stay_id: int) -> Workspace:
    """The stay's diagnoses and lines with their buckets, the preview matrix, and what is missing."""
    with cyclic_gc_paused():
        return _workspace(session, stay_id)


def _workspace(session: Session, stay_id: int) -> Workspace:
    records = stay_records(session, stay_id, stage="discharge")
    case = records.case
    preview: SettlementResult | None
    problems: list[str] = []
    try:
        preview = compute(case)
    except InvalidCase as exc:  # not expected: the builder set unclassified lines apart
        preview = None
        problems.append(exc.message)
    settled_lines = {line.seq: line for line in preview.lines} if preview is not None else {}

    names = {d.code: d.name for d in case.recognition.diagnoses} if case.recognition else {}
    names.update({d.code: d.name for d in case.stay.diagnoses})
    injury_of = case_diagnosis_injury(case)  # the one 伤病分离 precedence (app.rules.classify)
    diagnoses = tuple(StayDiagnosisView(code, names[code], injury_of[code], records.diagnosis_sources[code])
                      for code in _diagnosis_order(records))

    confirmed_outside = _confirmed_outside(session, {line.his_code for line in records.lines if line.code is None})
    by_id = {line.line_id: line for line in records.lines}
    uncategorised = set(records.uncategorised)
    new = tuple.__new__  # LineView(...) costs a Python call per line
    views: list[LineView] = []
    unmatched: list[int] = []
    awaiting: list[int] = []
    uninformed: list[int] = []
    for line in records.lines:
        original = by_id.get(line.refund_of_id, line) if line.refund_of_id is not None else line
        result = settled_lines.get(line.seq)
        if result is not None:
            bucket, reason, fund, personal = result.bucket, result.reason, result.fund, result.personal
        else:
            bucket, fund, personal = None, Decimal("0.00"), Decimal("0.00")
            if line.seq in uncategorised:
                reason = "未分类：没有费用类别（HIS 文件和目录都没有给出）"
            elif original is not line:
                reason = f"未分类：随原明细序号 {original.seq}，原明细尚未分类"
            elif line.diagnosis_code:
                reason = f"未分类：关联诊断 {line.diagnosis_code} 不是本次住院的诊断"
            else:
                reason = "未分类：没有关联诊断，也未标记工伤或非工伤"
        if original.injury is not None and original.override_by is not None:
            follows = "手工改判（工伤）" if original.injury else "手工改判（非工伤）"
        elif original.injury is not None:
            follows = "已标记工伤" if original.injury else "已标记非工伤"
        elif original.diagnosis_code in names:
            follows = f"{original.diagnosis_code} {names[original.diagnosis_code]}"
        else:
            follows = ""
        if line.code is not None:
            match_status = MATCHED
        elif line.his_code in confirmed_outside:
            match_status = SELF_PAY_CONFIRMED
        else:
            match_status = UNMATCHED
            unmatched.append(line.seq)
        out_of_catalogue = line.code is None or line.code not in records.catalogue_codes
        overridden = line.override_by is not None
        approved = overridden and line.override_approved_by is not None
        if overridden and not approved:
            awaiting.append(line.seq)
        if out_of_catalogue and not line.patient_informed and line.amount > 0:
            uninformed.append(line.seq)
        views.append(new(LineView, (
            line.line_id, line.seq, line.his_code, line.code, line.name, line.category, line.quantity,
            line.unit_price, line.amount, line.charged_on, line.dept, line.order_group, line.diagnosis_code,
            line.injury, bucket, reason, follows, match_status, line.patient_informed, line.override_reason,
            approved, original.seq if original is not line else None, line.uploaded, overridden, out_of_catalogue,
            fund, personal)))

    if records.unclassified:
        problems.append(f"{len(records.unclassified)} 条明细未分类（没有关联诊断或诊断不属于本次住院），"
                        f"请归入诊断或改判：序号 {_seq_list(records.unclassified)}")
    if records.uncategorised:
        problems.append(f"{len(records.uncategorised)} 条明细没有费用类别，请更正：序号 {_seq_list(records.uncategorised)}")
    if unmatched:
        problems.append(f"{len(unmatched)} 条明细的 HIS 项目编码尚未对照目录（003 §27），请在目录对照中确认："
                        f"序号 {_seq_list(unmatched)}")
    if awaiting:
        problems.append(f"{len(awaiting)} 条改判等待审核员审核：序号 {_seq_list(awaiting)}")
    if uninformed:
        problems.append(f"{len(uninformed)} 条目录外（自费）明细尚未确认已告知患者（003 §15）：序号 {_seq_list(uninformed)}")

    stay = session.execute(select(Stay.admission_no, Stay.dept, Stay.status, Stay.admitted_on, Worker.name)
                           .join(Worker, Worker.id == Stay.worker_id).where(Stay.id == stay_id)).one()
    title = f"{stay.name} · 住院号 {stay.admission_no} · {stay.dept}"
    return Workspace(stay_id, diagnoses, tuple(views), preview, tuple(problems), title,
                     StayStatus(stay.status) in _FROZEN, records.unclassified, stay.admitted_on)


def _diagnosis_order(records: StayRecords) -> list[str]:
    # The recognition's injury diagnoses first (the split follows them, 003 §15), then the stay's others.
    recognition = [code for code, source in records.diagnosis_sources.items() if source == "recognition"]
    return recognition + [code for code, source in records.diagnosis_sources.items() if source != "recognition"]


def _confirmed_outside(session: Session, his_codes: set[str]) -> set[str]:
    """HIS codes the code map confirms as outside the catalogue (catalogue_code NULL)."""
    found: set[str] = set()
    ordered = sorted(his_codes)
    c = HisCodeMap.__table__.c
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        found.update(session.scalars(select(c.his_code).where(c.his_code.in_(chunk), c.catalogue_code.is_(None))))
    return found


# --- choosing lines ------------------------------------------------------------------------------


def select_lines(ws: Workspace, *, diagnosis: str | None = None, dept: str | None = None,
                 date_from: dt.date | None = None, date_to: dt.date | None = None,
                 order_group: str | None = None, bucket: str | None = None) -> list[int]:
    """Ids of the lines matching every given filter (bucket `unclassified` = 未分类)."""
    chosen = []
    for line in ws.lines:
        if diagnosis is not None and line.diagnosis_code != diagnosis:
            continue
        if dept is not None and line.dept != dept:
            continue
        if date_from is not None and line.charged_on < date_from:
            continue
        if date_to is not None and line.charged_on > date_to:
            continue
        if order_group is not None and line.order_group != order_group:
            continue
        if bucket is not None and (line.bucket or UNCLASSIFIED) != bucket:
            continue
        chosen.append(line.line_id)
    return chosen


# --- changing lines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    line_id: int
    stay_id: int
    seq: int
    diagnosis_code: str | None
    injury: bool | None
    override_by: int | None
    override_approved_by: int | None
    override_reason: str | None
    refund_of_id: int | None
    uploaded: bool


def _targets(session: Session, line_ids: Sequence[int], *, with_refunds: bool = True) -> list[_Target]:
    """The chosen lines (and the refunds of them: a refund follows its original), checked changeable."""
    ids = sorted(set(line_ids))
    if not ids:
        raise WorkflowError("请先选择要处理的费用明细。")
    c = _LINES.c
    columns = (c.id, c.stay_id, c.seq, c.diagnosis_code, c.injury, c.override_by, c.override_approved_by,
               c.injury_override_reason, c.refund_of_id, c.uploaded_at)
    rows: dict[int, Any] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows.update({row.id: row for row in session.execute(select(*columns).where(c.id.in_(chunk))).all()})
    if with_refunds and rows:
        # The refunds of the chosen lines, found through the stays' lines (refund_of_id has no index).
        chosen = set(rows)
        chosen_stays = sorted({row.stay_id for row in rows.values()})
        rows.update({row.id: row for row in session.execute(
            select(*columns).where(c.stay_id.in_(chosen_stays), c.refund_of_id.is_not(None))).all()
            if row.refund_of_id in chosen})
    missing = [line_id for line_id in ids if line_id not in rows]
    if missing:
        raise WorkflowError(f"没有这些费用明细（编号 {_seq_list(missing)}），可能已被其他窗口删除，请刷新。")
    stays = {row.stay_id for row in rows.values()}
    s = Stay.__table__.c
    for stay_id, status in session.execute(select(s.id, s.status).where(s.id.in_(stays))):
        if StayStatus(status) in _FROZEN:
            raise WorkflowError("本次住院已结算（或已全额垫付待补登记、住院登记已撤销），费用明细不能再改动；"
                                "结算有误请审核员先撤销结算。")
    return [_Target(row.id, row.stay_id, row.seq, row.diagnosis_code, row.injury, row.override_by,
                    row.override_approved_by, row.injury_override_reason, row.refund_of_id,
                    row.uploaded_at is not None) for row in rows.values()]


def _apply(session: Session, changed: list[_Target], values: dict[str, Any]) -> None:
    """Write `values` onto the changed lines. A line the centre already holds is marked for re-upload
    (uploaded_at cleared; centre_line_no kept, so the uploader knows to cancel the old copy first)."""
    c = _LINES.c
    ids = [target.line_id for target in changed]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        session.execute(update(_LINES).where(c.id.in_(chunk), c.uploaded_at.is_not(None))
                        .values(centre_line_no=func.coalesce(c.centre_line_no, sql_cast(c.seq, String(32)))))
        session.execute(update(_LINES).where(c.id.in_(chunk)).values(uploaded_at=None, **values))
    session.expire_all()  # ORM objects of these lines (if any) must not keep the old values


def _audit(session: Session, actor: OperatorInfo, counter_name: str, action: str, changed: list[_Target],
           detail: dict[str, Any]) -> None:
    by_stay: dict[int, list[int]] = {}
    for target in changed:
        by_stay.setdefault(target.stay_id, []).append(target.seq)
    for stay_id, seqs in sorted(by_stay.items()):
        audit.record(session, action, operator_id=actor.id, counter_name=counter_name, entity_type="stay",
                     entity_id=stay_id, detail={**detail, "lines": len(seqs), "seqs": seq_ranges(seqs)})


def assign_diagnosis(session: Session, actor: OperatorInfo, counter_name: str, line_ids: Sequence[int],
                     diagnosis_code: str) -> int:
    """Bulk classify: the lines follow `diagnosis_code` (one of the stay's diagnoses). Returns lines changed."""
    require(actor, Permission.CLASSIFY)
    targets = _targets(session, line_ids)
    for stay_id in {t.stay_id for t in targets}:
        if diagnosis_code not in stay_diagnosis_codes(session, stay_id):
            raise WorkflowError(f"诊断 {diagnosis_code} 不是本次住院的诊断（工伤认定或入院、出院诊断），不能归入。")
    changed = [t for t in targets if t.diagnosis_code != diagnosis_code]
    if changed:
        _apply(session, changed, {"diagnosis_code": diagnosis_code})
        _audit(session, actor, counter_name, "charge_lines_classified", changed, {"diagnosis": diagnosis_code})
    return len(changed)


def override(session: Session, actor: OperatorInfo, counter_name: str, line_ids: Sequence[int], injury: bool,
             reason: str) -> int:
    """Set the lines injury / non-injury by hand, against their diagnosis. A reason is required; a
    reviewer's own override is approved at once, a cashier's waits for a reviewer."""
    require(actor, Permission.CLASSIFY)
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("改判伤病分离必须填写理由。")
    targets = _targets(session, line_ids)
    approver = actor.id if actor.can(Permission.OVERRIDE_CLASSIFICATION) else None
    changed = [t for t in targets if (t.injury, t.override_reason, t.override_by, t.override_approved_by)
               != (injury, reason, actor.id, approver)]
    if changed:
        _apply(session, changed, {"injury": injury, "injury_override_reason": reason, "override_by": actor.id,
                                  "override_approved_by": approver})
        _audit(session, actor, counter_name, "classification_overridden", changed,
               {"injury": injury, "reason": reason, "approved": approver is not None})
    return len(changed)


def approve_overrides(session: Session, actor: OperatorInfo, counter_name: str, line_ids: Sequence[int],
                      *, at_session_of: str | None = None) -> int:
    """A reviewer approves the overrides among the lines. Returns overrides approved.

    `at_session_of`: the login of the cashier at whose window the reviewer authorised it (审核员授权,
    issue 20): the audit names the reviewer as the actor and that session besides."""
    require(actor, Permission.OVERRIDE_CLASSIFICATION)
    targets = _targets(session, line_ids, with_refunds=True)
    pending = [t for t in targets if t.override_by is not None and t.override_approved_by is None]
    if pending:
        c = _LINES.c
        ids = [t.line_id for t in pending]
        for start in range(0, len(ids), 500):
            session.execute(update(_LINES).where(c.id.in_(ids[start:start + 500]))
                            .values(override_approved_by=actor.id))
        session.expire_all()
        _audit(session, actor, counter_name, "classification_override_approved", pending,
               {"at_session_of": at_session_of} if at_session_of and at_session_of != actor.login else {})
    return len(pending)


@dataclass(frozen=True)
class PendingApproval:
    """An override waiting for a reviewer, as the 审核员授权 dialog and the 待审核 list show it."""

    line_id: int
    seq: int
    name: str
    amount: Decimal
    injury: bool | None  # what the line was set to
    reason: str
    overridden_by: str  # the display name of who overrode it
    overridden_by_login: str


def pending_approvals(session: Session, stay_id: int, line_ids: Sequence[int] | None = None) -> list[PendingApproval]:
    """The stay's overrides not yet approved (of `line_ids` when given), in seq order, with who gave the reason."""
    c = ChargeLine  # the mapped attributes: the amount is stored in fen, read back as Decimal yuan
    query = (select(c.id, c.seq, c.name, c.amount, c.injury, c.injury_override_reason, Operator.display_name,
                    Operator.login)
             .join(Operator, Operator.id == c.override_by)
             .where(c.stay_id == stay_id, c.override_by.is_not(None), c.override_approved_by.is_(None))
             .order_by(c.seq))
    chosen = set(line_ids) if line_ids is not None else None
    return [PendingApproval(row.id, row.seq, row.name, row.amount, row.injury, row.injury_override_reason or "",
                            row.display_name, row.login)
            for row in session.execute(query) if chosen is None or row.id in chosen]


def clear_override(session: Session, actor: OperatorInfo, counter_name: str, line_ids: Sequence[int]) -> int:
    """The lines follow their diagnosis again. An approved override is undone by a reviewer only."""
    require(actor, Permission.CLASSIFY)
    targets = _targets(session, line_ids)
    overridden = [t for t in targets if t.injury is not None or t.override_by is not None]
    if any(t.override_approved_by is not None for t in overridden):
        require(actor, Permission.OVERRIDE_CLASSIFICATION)  # a reviewer's decision is undone by a reviewer
    if overridden:
        _apply(session, overridden, {"injury": None, "injury_override_reason": None, "override_by": None,
                                     "override_approved_by": None})
        _audit(session, actor, counter_name, "classification_override_cleared", overridden, {})
    return len(overridden)


# --- the centre's pre-settlement -----------------------------------------------------------------


@dataclass(frozen=True)
class LineDifference:
    seq: int  # 0: the matrix or the totals, not a line
    field: str
    local: str
    centre: str


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def compare_with_centre(local: SettlementResult, centre: SettlementFigures) -> list[LineDifference]:
    """Every cell of the slip's matrix, the totals and every line where the preview and the centre differ."""
    differences: list[LineDifference] = []
    if local.settlement_kind != centre.settlement_kind:
        differences.append(LineDifference(0, "结算类别", local.settlement_kind, centre.settlement_kind))
    for bucket in BUCKETS:
        theirs = centre.matrix.get(bucket, {})
        for category in CATEGORIES:
            mine = local.matrix[bucket][category]
            other = theirs.get(category, Decimal("0.00"))
            if mine != other:
                differences.append(LineDifference(0, f"{BUCKET_LABELS[bucket]}·{CATEGORY_LABELS[category]}",
                                                  _money(mine), _money(other)))
        mine_total = local.row_total(bucket)
        other_total = theirs.get("total", sum((theirs.get(c, Decimal("0.00")) for c in CATEGORIES), Decimal("0.00")))
        if mine_total != other_total:
            differences.append(LineDifference(0, f"{BUCKET_LABELS[bucket]}·合计", _money(mine_total),
                                              _money(other_total)))
    for label, mine, other in (("总费用", local.total, centre.total),
                               ("工伤保险基金支付金额合计", local.fund_total, centre.fund_total),
                               ("个人支付金额合计", local.personal_total, centre.personal_total)):
        if mine != other:
            differences.append(LineDifference(0, label, _money(mine), _money(other)))
    theirs_by_seq = {item.seq: item for item in centre.items}
    for line in local.lines:
        item = theirs_by_seq.pop(line.seq, None)
        if item is None:
            differences.append(LineDifference(line.seq, "明细", "本地有", "中心无"))
            continue
        if line.bucket != item.bucket:
            differences.append(LineDifference(line.seq, "分类", BUCKET_LABELS.get(line.bucket, line.bucket),
                                              BUCKET_LABELS.get(item.bucket, item.bucket)))
        if line.fund != item.fund:
            differences.append(LineDifference(line.seq, "基金支付", _money(line.fund), _money(item.fund)))
        if line.personal != item.personal:
            differences.append(LineDifference(line.seq, "个人支付", _money(line.personal), _money(item.personal)))
    for seq in sorted(theirs_by_seq):
        differences.append(LineDifference(seq, "明细", "本地无", "中心有"))
    return differences


def pre_settle_and_compare(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo,
                           discharged_on: dt.date) -> tuple[SettlementFigures, list[LineDifference]]:
    """Upload the lines not yet uploaded, ask the centre's pre-settlement, compare it with the preview."""
    require(actor, Permission.CLASSIFY)
    with ctx.transaction() as session:
        ws = workspace(session, stay_id)
        stay = session.execute(select(Stay.registration_no, Worker.insured_city_code)
                               .join(Worker, Worker.id == Stay.worker_id).where(Stay.id == stay_id)).first()
    if stay is None:
        raise StayNotFound(stay_id)
    registration_no, insured_region = stay
    if not registration_no:
        raise WorkflowError("本次住院尚未在结算中心登记（没有就医登记号），不能预结算。请先完成入院登记或补登记。")
    if ws.unclassified:
        raise WorkflowError(f"还有 {len(ws.unclassified)} 条明细未分类，中心无法预结算；请先归入诊断或改判："
                            f"序号 {_seq_list(ws.unclassified)}")
    late = [line.seq for line in ws.lines if line.charged_on > discharged_on]
    if late:
        raise WorkflowError(f"{len(late)} 条明细的费用日期晚于出院日期 {discharged_on}：序号 {_seq_list(late)}")
    _upload(ctx, client, stay_id, actor)
    total = sum((line.amount for line in ws.lines), Decimal("0.00"))
    figures = client.pre_settle(SettlementRequest(registration_no, discharged_on, expected_total=total,
                                                  insured_region=insured_region))
    with ctx.transaction() as session:
        ws = workspace(session, stay_id)
    if ws.preview is None:
        raise WorkflowError("本地预览无法计算，不能与中心比对：" + "；".join(ws.problems))
    return figures, compare_with_centre(ws.preview, figures)


def _upload(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo) -> int:
    """Send the lines the centre does not hold yet, through the discharge workflow's uploader (one for the
    whole program): it refuses lines not ready (unmatched, unclassified, unapproved overrides) and cancels
    at the centre first a line changed after its upload (marked by `_apply`)."""
    from app.workflow.discharge import upload_lines

    return upload_lines(ctx, client, stay_id, actor)


# --- helpers -------------------------------------------------------------------------------------


def informed_problem_lines(ws: Workspace) -> list[int]:
    """Ids of the out-of-catalogue lines the patient has not been told about yet (`003 §15`)."""
    return [line.line_id for line in ws.lines if line.out_of_catalogue and not line.patient_informed]


def seq_ranges(seqs: Iterable[int]) -> str:
    """1,2,3,5,7,8 → "1-3,5,7-8": an audit detail stays short for 20,000 lines."""
    ordered = sorted(set(seqs))
    parts: list[str] = []
    start = previous = None
    for seq in ordered:
        if start is None:
            start = previous = seq
        elif previous is not None and seq == previous + 1:
            previous = seq
        else:
            parts.append(f"{start}-{previous}" if start != previous else str(start))
            start = previous = seq
    if start is not None:
        parts.append(f"{start}-{previous}" if start != previous else str(start))
    return ",".join(parts)


def _seq_list(seqs: Sequence[int] | tuple[int, ...], limit: int = 20) -> str:
    shown = "、".join(str(seq) for seq in list(seqs)[:limit])
    return shown + (f" 等 {len(seqs)} 条" if len(seqs) > limit else "")


