"""Discharge (出院结算): upload the lines, check the filing again, settle; cancel; 全额垫付 and 补登记.

- `settle_stay`: the lines not yet uploaded go up (100 a call, through the outbox), the filing is
  checked again on the centre's fresh data at the settlement date (`003 §14`, `000 §30`; admitted
  within validity is honoured by the rules, `000 §12`), stored and audited; refused → stop with
  the reasons. Then the centre settles (through the outbox, with the expected total so that it
  never settles lines the counter does not know); the local Settlement is written by the
  SETTLEMENT applier in the outbox's own transaction (`app.workflow.appliers`), so a settlement
  whose reply was lost and that is resolved later by msgid is recorded exactly once too.
- `cancel_settlement`: a reviewer; the centre's cancellation and the local reversing row; the
  stay goes back to 待结算 and can be settled again.
- Direct settlement cannot go through (`003 §17`, `000 §34`, `001 §16`): `issue_full_payment`
  takes the whole stay from the worker (全额垫付 receipt) and puts the stay in 待补登记; the insured
  place reimburses the worker, the fund pays the hospital nothing for the stay. `backfill` (补登记)
  sends the stay's settlement information to the centre marked as paid in full once the link is
  back (in Guangdong due the day the fault clears): it settles nothing, refunds nothing at the
  window, and the stay is never settled directly afterwards (the centre refuses it too).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, cast, exists, func, or_, select, update
from sqlalchemy.orm import Session

from app import audit
from app.centre.wire import CHINA_TZ
from app.centre import wire
from app.centre.gateway import (
    CentreRefused,
    FeeCancelRequest,
    FeeLine,
    FullPaymentRegistrationRequest,
    Operation,
    PersonKey,
    SettlementCancelRequest,
    SettlementRequest,
)
from app.centre.outbox import next_sequence
from app.db.models import (
    ChargeLine,
    DiagnosisRole,
    FullPaymentReceipt,
    HisCodeMap,
    OutboxEntry,
    OutboxState,
    RecognitionDiagnosis,
    Settlement,
    SettlementKind,
    Stay,
    StayStatus,
    Worker,
)
from app.operators import OperatorInfo, Permission, require
from app.rules.classify import diagnosis_injury, line_injury
from app.rules.verdict import DISCHARGE, judge
from app.workflow import facts
from app.workflow.admission import (
    CheckResult,
    FilingRefused,
    centre_today,
    counter_institution,
    stay_recognition_and_filing,
    store_centre_verdict,
    store_check,
)
from app.workflow import device_fitting
from app.workflow.discharge_review import counter_rules, require_acknowledged
from app.workflow.rehab_plan import plan_problem
from app.workflow.appliers import apply_settlement, apply_settlement_cancel, record_full_payment_registration
from app.workflow.common import StayNotFound, WorkflowError
from app.workflow.line_upload import uploading
from app.workflow.restore_check import check_before_work
from app.workflow.stay_guard import one_counter_at_a_time, settled_by

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")
UPLOAD_BATCH = wire.MAX_FEE_LINES_PER_CALL  # 100 lines a call (interface §6, 2301)
_SETTLEABLE = (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT)


@dataclass(frozen=True)
class DischargeOutcome:
    stay_id: int
    settlement_id: int
    centre_settlement_id: str
    check: CheckResult
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal  # what the clerk collects


def _stay(session: Session, stay_id: int) -> Stay:
    stay = session.get(Stay, stay_id)
    if stay is None:
        raise StayNotFound(stay_id)
    return stay


def _insured_region(session: Session, stay: Stay) -> str:
    worker = session.get(Worker, stay.worker_id)
    return worker.insured_city_code if worker is not None else ""


# --- the lines --------------------------------------------------------------------------------------


def _diagnosis_injury(session: Session, stay: Stay) -> dict[str, bool]:
    """Which diagnosis is the injury: the recognition's, then the stay's own marking (which wins),
    as the rules classify (`app.rules.settlement`)."""
    codes: list[str] = []
    if stay.recognition_id is not None:
        codes = list(session.scalars(select(RecognitionDiagnosis.code).where(
            RecognitionDiagnosis.recognition_id == stay.recognition_id)))
    marked = sorted(stay.diagnoses, key=lambda d: d.role is DiagnosisRole.DISCHARGE)  # discharge marking last: wins
    return diagnosis_injury(codes, ((d.code, d.injury) for d in marked))


def _confirmed_self_pay(session: Session, his_codes: set[str]) -> set[str]:
    if not his_codes:
        return set()
    return set(session.scalars(select(HisCodeMap.his_code).where(
        HisCodeMap.his_code.in_(his_codes), HisCodeMap.catalogue_code.is_(None))).all())


# What the checks and the upload read of a line: plain rows, not ORM objects (20,000-line stays).
_LINE_COLUMNS = (ChargeLine.id, ChargeLine.seq, ChargeLine.his_code, ChargeLine.code, ChargeLine.name,
                 ChargeLine.category, ChargeLine.quantity, ChargeLine.unit_price, ChargeLine.amount,
                 ChargeLine.charged_on, ChargeLine.diagnosis_code, ChargeLine.injury, ChargeLine.refund_of_id,
                 ChargeLine.injury_override_reason, ChargeLine.override_approved_by)


# What `_line_problems` reads of a line: no amounts, so no Decimal is made per line for a check that
# looks at none (readiness runs again when 结算 is pressed, while the patient waits).
_CHECK_COLUMNS = (ChargeLine.seq, ChargeLine.his_code, ChargeLine.code, ChargeLine.category,
                  ChargeLine.diagnosis_code, ChargeLine.injury, ChargeLine.injury_override_reason,
                  ChargeLine.override_approved_by)


def _line_rows(session: Session, stay_id: int, *, pending_only: bool = False,
               columns: tuple[Any, ...] = _LINE_COLUMNS) -> list[Any]:
    query = select(*columns).where(ChargeLine.stay_id == stay_id)
    if pending_only:
        query = query.where(ChargeLine.uploaded_at.is_(None))
    return list(session.execute(query.order_by(ChargeLine.seq)).all())


def _stay_total(session: Session, stay_id: int) -> Decimal:
    # Summed by the database in integer fen (exact): the patient waits for this at the window.
    total = session.scalar(select(func.sum(ChargeLine.amount)).where(ChargeLine.stay_id == stay_id))
    return ZERO if total is None else Decimal(total).quantize(ZERO)


def _fee_lines(session: Session, stay: Stay, lines: list[Any]) -> list[FeeLine]:
    """The lines as the centre takes them: the 伤病分离 flag set by the counter (a line's own
    override, else its diagnosis), refunds pointing at their original's seq."""
    if not lines:
        return []
    injury_of = _diagnosis_injury(session, stay)
    refunded = {line.refund_of_id for line in lines if line.refund_of_id is not None}
    # Only the originals the refunds point at (an upload of nothing pending reads no line at all).
    seq_of: dict[int, int] = {}
    ids = sorted(refunded)
    for start in range(0, len(ids), 500):  # bounded IN lists
        seq_of.update(session.execute(select(ChargeLine.id, ChargeLine.seq).where(
            ChargeLine.stay_id == stay.id, ChargeLine.id.in_(ids[start:start + 500]))).tuples().all())
    fee_lines = []
    for line in lines:
        assert line.category is not None
        injury = line_injury(line.injury, line.diagnosis_code, injury_of)
        fee_lines.append(FeeLine(
            seq=line.seq, code=line.code or line.his_code, name=line.name, category=line.category.value,
            quantity=line.quantity, unit_price=line.unit_price, amount=line.amount, date=line.charged_on,
            diagnosis=line.diagnosis_code, injury=injury,
            refund_of=seq_of.get(line.refund_of_id) if line.refund_of_id is not None else None,
        ))
    return fee_lines


def latest_receipt(session: Session, stay_id: int) -> FullPaymentReceipt | None:
    return session.scalars(select(FullPaymentReceipt).where(FullPaymentReceipt.stay_id == stay_id)
                           .order_by(FullPaymentReceipt.id.desc())).first()


# What the worker does with the receipt (003 §17; the insured place checks it was not settled directly,
# 000 §34, 001 §16): said wherever 全额垫付 is, in the same words.
CLAIM_AT_INSURED_PLACE = ("请工伤职工凭全额垫付收据、住院费用清单和结算单，回参保地经办机构申请报销"
                          "（003 §17）")


def paid_in_full_problem(session: Session, stay_id: int) -> str:
    """Why a stay paid in full is not settled directly (`003 §17`, `000 §34`)."""
    receipt = latest_receipt(session, stay_id)
    number = f"（收据 {receipt.receipt_no}）" if receipt is not None else ""
    done = "并已补登记" if receipt is not None and receipt.backfilled_at is not None else "，待补登记"
    return (f"本次住院已全额垫付{number}{done}：不能再联网结算，窗口也不退还基金支付部分；"
            f"{CLAIM_AT_INSURED_PLACE}。")


def readiness(session: Session, stay_id: int) -> list[str]:
    """Why the stay cannot be settled yet, in Chinese (empty: ready)."""
    stay = _stay(session, stay_id)
    problems: list[str] = []
    if stay.status is StayStatus.SETTLED:
        # Another counter may have settled it a moment ago: say who, so nobody settles it twice.
        who = settled_by(session, stay_id)
        problems.append(f"本次住院已结算：{who}，不会重复结算；如需重新结算，请审核员先撤销原结算。" if who
                        else "本次住院已结算；如需重新结算，请审核员先撤销原结算。")
    elif stay.status is StayStatus.CANCELLED:
        problems.append("本次住院登记已撤销。")
    elif stay.status is StayStatus.PENDING_BACKFILL:
        problems.append(paid_in_full_problem(session, stay_id))
    if stay.registration_no is None:
        problems.append("尚未取得就医登记号：入院登记还未传到结算中心（联网恢复后补传）。"
                        if stay.registered_offline else "尚未在结算中心办理入院登记（无就医登记号）。")
    if stay.status in _SETTLEABLE:
        # 000 §30: a rehab stay's plan goes up before the discharge settlement.
        missing_plan = plan_problem(session, stay)
        if missing_plan:
            problems.append(missing_plan)
    lines = _line_rows(session, stay_id, columns=_CHECK_COLUMNS)
    if not lines:
        problems.append("没有费用明细，请先导入或录入费用。")
        return problems
    problems.extend(_line_problems(session, stay, lines))
    # A device fitting: every device on the notice and within its quantity (001 §34, 001 §15).
    problems.extend(device_fitting.line_problems(session, stay))
    return problems


def _line_problems(session: Session, stay: Stay, lines: list[Any]) -> list[str]:
    """Lines that must not go to the centre yet: once uploaded a line can only be refunded."""
    problems: list[str] = []
    self_pay = _confirmed_self_pay(session, {line.his_code for line in lines if line.code is None})
    unmatched = [line.seq for line in lines if line.code is None and line.his_code not in self_pay]
    if unmatched:
        problems.append(f"{len(unmatched)} 条费用明细未对照到目录编码（003 §27），如序号 {_few(unmatched)}。")
    no_category = [line.seq for line in lines if line.category is None]
    if no_category:
        problems.append(f"{len(no_category)} 条费用明细没有费用类别，如序号 {_few(no_category)}。")
    injury_of = _diagnosis_injury(session, stay)
    unclassified = [line.seq for line in lines if line_injury(line.injury, line.diagnosis_code, injury_of) is None]
    if unclassified:
        problems.append(f"{len(unclassified)} 条费用明细未区分伤病（无关联诊断或诊断不属本次住院），"
                        f"如序号 {_few(unclassified)}（003 §15）。")
    unapproved = [line.seq for line in lines
                  if line.injury_override_reason is not None and line.override_approved_by is None]
    if unapproved:
        problems.append(f"{len(unapproved)} 条改判尚未经审核员批准，如序号 {_few(unapproved)}。")
    return problems


def _few(seqs: list[int]) -> str:
    shown = "、".join(map(str, seqs[:5]))
    return shown + (" 等" if len(seqs) > 5 else "")


def upload_lines(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo,
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Upload the lines not yet uploaded, 100 a call through the outbox, several calls in flight
    (`CentreClient.upload_fees`); returns lines sent.

    The FEE_UPLOAD applier marks `uploaded_at` in the call's own transaction; they are marked
    here too (idempotent) for a client opened without the workflow's appliers."""
    require(actor, Permission.SETTLE)
    with uploading(ctx, stay_id):  # not side by side with the stay's upload during the stay (line_upload)
        return _upload_pending(ctx, client, stay_id, actor, progress)


def _upload_pending(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo,
                    progress: Callable[[int, int], None] | None) -> int:
    client.outbox.require_clear()  # an unrecorded earlier upload is resolved first: never sent twice (issue 21 §8)
    _cancel_changed_lines(ctx, client, stay_id, actor)
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        if stay.registration_no is None:
            raise WorkflowError("尚未取得就医登记号，不能上传费用明细。")
        pending = _line_rows(session, stay_id, pending_only=True)
        problems = _line_problems(session, stay, pending)
        if problems:
            raise WorkflowError("费用明细暂不能上传：" + "；".join(problems))
        fee_lines = _fee_lines(session, stay, pending)
        registration_no, region = stay.registration_no, _insured_region(session, stay)
    total = len(fee_lines)
    if progress is not None:
        progress(0, total)
    # 100 lines a call, several calls in flight (issue 25): `progress` as each call lands.
    client.upload_fees(registration_no, fee_lines, insured_region=region, stay_id=stay_id, operator_id=actor.id,
                       progress=None if progress is None else (lambda done: progress(done, total)))
    sent = total
    if sent:
        with ctx.transaction() as session:
            # The FEE_UPLOAD applier marked them in each call's transaction; this sweep covers a
            # client opened without the appliers (an unmarked line is sent again: the centre takes
            # an identical line as a duplicate, changing nothing).
            now = dt.datetime.now(dt.UTC)
            for start in range(0, total, 500):  # bounded IN lists
                seqs = [line.seq for line in fee_lines[start:start + 500]]
                session.execute(update(ChargeLine).where(
                    ChargeLine.stay_id == stay_id, ChargeLine.seq.in_(seqs), ChargeLine.uploaded_at.is_(None),
                    ChargeLine.centre_line_no.is_(None),  # not one changed again meanwhile
                ).values(uploaded_at=now, centre_line_no=cast(ChargeLine.seq, String(32))))
            audit.record(session, "charge_lines_uploaded", operator_id=actor.id, counter_name=ctx.counter_name,
                         entity_type="stay", entity_id=stay_id, detail={"lines": sent})
    return sent


def _cancel_changed_lines(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo) -> int:
    """Lines the centre holds that were changed since (reclassified: `uploaded_at` cleared,
    `centre_line_no` kept) are cancelled there first (2302), with the refunds the centre holds
    that point at them: the centre refuses a seq uploaded again with other content (3006)."""
    with ctx.transaction() as session:
        stale = dict(session.execute(select(ChargeLine.id, ChargeLine.seq).where(
            ChargeLine.stay_id == stay_id, ChargeLine.uploaded_at.is_(None),
            ChargeLine.centre_line_no.is_not(None))).all())
        if not stale:
            return 0
        held = or_(ChargeLine.uploaded_at.is_not(None), ChargeLine.centre_line_no.is_not(None))
        refunds = dict(session.execute(select(ChargeLine.id, ChargeLine.seq).where(
            ChargeLine.stay_id == stay_id, held, ChargeLine.refund_of_id.in_(list(stale)))).all())
        stay = _stay(session, stay_id)
        registration_no, region = stay.registration_no, _insured_region(session, stay)
    if registration_no is None:
        raise WorkflowError("尚未取得就医登记号，无法撤销中心已收的明细。")
    lines = {**stale, **refunds}
    client.cancel_fees(FeeCancelRequest(registration_no, tuple(sorted(lines.values())), region),
                       stay_id=stay_id, operator_id=actor.id)
    with ctx.transaction() as session:
        ids = sorted(lines)
        for start in range(0, len(ids), 500):
            session.execute(update(ChargeLine).where(ChargeLine.id.in_(ids[start:start + 500]))
                            .values(uploaded_at=None, centre_line_no=None))
        audit.record(session, "charge_lines_cancelled_at_centre", operator_id=actor.id,
                     counter_name=ctx.counter_name, entity_type="stay", entity_id=stay_id,
                     detail={"seqs": sorted(lines.values())[:200], "count": len(lines)})
    return len(lines)


# --- the second check ---------------------------------------------------------------------------------


def discharge_check(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo,
                    discharged_on: dt.date) -> CheckResult:
    """The filing checked again at discharge (`003 §14`): the centre's person fetched fresh, judged
    at the settlement date (the centre's business date); stored and audited."""
    require(actor, Permission.SETTLE)
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        worker = session.get(Worker, stay.worker_id)
        assert worker is not None
        ssn = worker.social_security_number
    person = client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ssn)
    settled = centre_today()
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        worker = facts.store_person(session, person)
        info = counter_institution(session)
        recognition, filing = stay_recognition_and_filing(session, stay, person, info)
        case = facts.build_case(
            person, info, recognition=recognition, filing=filing, care=stay.care.value,
            admission_no=stay.admission_no, dept=stay.dept, admitted=stay.admitted_on,
            diagnoses=[(d.code, d.name, d.injury) for d in stay.diagnoses],
            emergency=stay.emergency, third_party_liability=stay.third_party_liability,
            registration_no=stay.registration_no, discharged=discharged_on, settled=max(settled, discharged_on),
        )
        verdict = judge(case, DISCHARGE)
        inputs = {**facts.person_inputs(person, recognition, filing),
                  "stay": {"admitted_on": stay.admitted_on.isoformat(), "discharged_on": discharged_on.isoformat(),
                           "settled_on": settled.isoformat(), "care": stay.care.value, "emergency": stay.emergency,
                           "registration_no": stay.registration_no}}
        return store_check(session, verdict=verdict, worker_id=worker.id, stay_id=stay_id, inputs=inputs,
                           actor_id=actor.id, counter_name=ctx.counter_name)


# --- settling -------------------------------------------------------------------------------------------


@one_counter_at_a_time  # two counters settling one stay at once: the second waits, then is told who
def settle_stay(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo,
                discharged_on: dt.date,
                progress: Callable[[str, int, int], None] | None = None) -> DischargeOutcome:
    """Upload, check again, settle. Raises FilingRefused (the check's reasons), WorkflowError (not
    ready), or the centre's errors (CentreUnavailable: offer 全额垫付; OutcomeUnknown: the
    resolver records the settlement once the outcome is known)."""
    # An earlier call whose outcome this counter could not record (a dropped reply, a database that
    # failed after the centre settled) is resolved by its msgid first: a stay the centre already
    # settled is then seen as settled here, and no second 2304 is sent (issue 21 §8). (The resolver
    # is the system's work, as the status bar's: no permission of the clerk's is needed for it.)
    client.outbox.require_clear()
    require(actor, Permission.SETTLE)
    check_before_work(ctx, client, actor)  # books restored from a backup: not before the centre's are known
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        if stay.status not in _SETTLEABLE:
            raise WorkflowError("；".join(readiness(session, stay_id)) or "本次住院当前状态不能结算。")
        if latest_receipt(session, stay_id) is not None:
            # Taken in full once (even if the old flow's settlement was cancelled since): never settled
            # directly, the insured place reimburses it (000 §34, 001 §16).
            raise WorkflowError(paid_in_full_problem(session, stay_id))
        _check_discharge_date(session, stay, discharged_on)
        problems = readiness(session, stay_id)
        if problems:
            raise WorkflowError("暂不能结算：" + "；".join(problems))
        # The pre-audit at discharge (003 §19, §20): every finding fixed or acknowledged with a reason.
        require_acknowledged(session, stay_id, counter_rules(ctx), discharged_on=discharged_on)
        stay.discharged_on = discharged_on
        stay.status = StayStatus.PENDING_SETTLEMENT
    return _settle(ctx, client, stay_id, actor, discharged_on, progress)


def _check_discharge_date(session: Session, stay: Stay, discharged_on: dt.date) -> None:
    clock = wire.clock_problem()
    if clock is not None:  # the dates would be this counter's, not the centre's (issue 21 B7)
        raise WorkflowError(clock)
    if discharged_on < stay.admitted_on:
        raise WorkflowError(f"出院日期 {discharged_on} 早于入院日期 {stay.admitted_on}。")
    if discharged_on > centre_today():
        raise WorkflowError(f"出院日期 {discharged_on} 晚于今天，不能办理出院结算。")
    late = list(session.scalars(select(ChargeLine.seq).where(
        ChargeLine.stay_id == stay.id, ChargeLine.charged_on > discharged_on).order_by(ChargeLine.seq)))
    if late:
        # Costs after discharge are not the stay's (`003 §15`); the centre would refuse them too.
        raise WorkflowError(f"{len(late)} 条费用明细的日期晚于出院日期 {discharged_on}，如序号 {_few(late)}（003 §15）。")


def _settle(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo, discharged_on: dt.date,
            progress: Callable[[str, int, int], None] | None) -> DischargeOutcome:
    upload_progress = None if progress is None else (lambda done, total: progress("upload", done, total))
    upload_lines(ctx, client, stay_id, actor, upload_progress)
    if progress is not None:
        progress("check", 0, 1)
    check = discharge_check(ctx, client, stay_id, actor, discharged_on)
    if not check.allowed:
        raise FilingRefused(check, "出院结算前再次核验备案未通过，不能直接结算")
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        worker = session.get(Worker, stay.worker_id)
        assert worker is not None
        # A device fitting's notice asked again: used or cancelled meanwhile, nothing is sent (001 §34).
        device_fitting.check_still_usable(client, stay, worker.social_security_number)
        expected = _stay_total(session, stay_id)
        registration_no = stay.registration_no
        region = _insured_region(session, stay)
        worker_id = stay.worker_id
    assert registration_no is not None
    if progress is not None:
        progress("settle", 0, 1)
    request = SettlementRequest(registration_no, discharged_on, None, expected, region)
    try:
        figures = client.settle(request, stay_id=stay_id, operator_id=actor.id)
    except CentreRefused as exc:
        raw = exc.details.get("verdict")
        if isinstance(raw, dict):
            with ctx.transaction() as session:
                store_centre_verdict(session, raw, worker_id=worker_id, stay_id=stay_id, check_date=centre_today(),
                                     actor_id=actor.id, counter_name=ctx.counter_name)
        if exc.code == "LOCAL_CONFLICT":
            # The centre's settlement did not cover the stay's lines and was reversed (issue 21 B4):
            # on the trail for the reviewer, with the figures.
            with ctx.transaction() as session:
                audit.record(session, "settlement_not_recorded", operator_id=actor.id, counter_name=ctx.counter_name,
                             entity_type="stay", entity_id=stay_id,
                             detail={"message": exc.message, "expected_total": str(expected)})
        raise
    assert figures.settlement_id is not None
    with ctx.transaction() as session:
        settlement = _recorded_settlement(session, stay_id, figures.settlement_id)
        if settlement is None:
            # A client without the workflow's appliers: record it from the succeeded outbox entry.
            entry = _succeeded_entry(session, stay_id, Operation.SETTLEMENT, "settlement_id", figures.settlement_id)
            apply_settlement(session, entry, figures, ctx.counter_name)
            settlement = _recorded_settlement(session, stay_id, figures.settlement_id)
            assert settlement is not None
        if progress is not None:
            progress("settle", 1, 1)
        return DischargeOutcome(stay_id, settlement.id, settlement.centre_settlement_id, check, settlement.total,
                                settlement.fund_total, settlement.personal_total)


def _recorded_settlement(session: Session, stay_id: int, centre_settlement_id: str) -> Settlement | None:
    return session.scalars(select(Settlement).where(
        Settlement.stay_id == stay_id, Settlement.kind == SettlementKind.SETTLEMENT,
        Settlement.centre_settlement_id == centre_settlement_id)).first()


def _succeeded_entry(session: Session, stay_id: int, operation: Operation, key: str, value: str) -> OutboxEntry:
    entries = session.scalars(select(OutboxEntry).where(
        OutboxEntry.stay_id == stay_id, OutboxEntry.operation == operation.value,
        OutboxEntry.state == OutboxState.SUCCEEDED).order_by(OutboxEntry.seq.desc())).all()
    for entry in entries:
        if (entry.response or {}).get(key) == value:
            return entry
    raise WorkflowError(f"本机找不到{operation.label}的交易记录（{value}）。")


# --- cancellation -----------------------------------------------------------------------------------------


def cancel_settlement(ctx: CounterContext, client: CentreClient, settlement_id: int, actor: OperatorInfo,
                      reason: str) -> int:
    """A reviewer cancels a settlement (centre first, then the local reversing row); returns the
    cancellation row's id. The stay goes back to 待结算 and may be settled again."""
    require(actor, Permission.CANCEL_SETTLEMENT)
    if not reason.strip():
        raise WorkflowError("请填写撤销结算的原因。")
    # A cancellation the centre made but this counter could not record is resolved by its msgid
    # first: the settlement then reads as cancelled here, and no second 2305 is sent (issue 21 §8).
    client.outbox.require_clear()
    with ctx.transaction() as session:
        settlement = session.get(Settlement, settlement_id)
        if settlement is None or settlement.kind is not SettlementKind.SETTLEMENT:
            raise WorkflowError(f"没有编号为 {settlement_id} 的结算记录。")
        if session.scalars(select(Settlement.id).where(Settlement.reverses_id == settlement_id)).first():
            raise WorkflowError(f"结算记录 {settlement_id} 已经撤销过。")
        stay = _stay(session, settlement.stay_id)
        request = SettlementCancelRequest(settlement.centre_settlement_id, reason.strip(),
                                          _insured_region(session, stay))
        stay_id = stay.id
    client.cancel_settlement(request, stay_id=stay_id, operator_id=actor.id)
    with ctx.transaction() as session:
        cancellation = session.scalars(select(Settlement).where(Settlement.reverses_id == settlement_id)).first()
        if cancellation is None:
            entry = _succeeded_entry(session, stay_id, Operation.SETTLEMENT_CANCEL, "settlement_id",
                                     request.settlement_id)
            apply_settlement_cancel(session, entry, entry.response, ctx.counter_name)
            cancellation = session.scalars(select(Settlement).where(Settlement.reverses_id == settlement_id)).one()
        return cancellation.id


# --- centre down: 全额垫付, then 补登记 -------------------------------------------------------------------


def _receipt_no(session: Session, day: dt.date) -> str:
    # The msgid sequence is shared by every counter of the database: unique across counters.
    number, _ = next_sequence(session)
    return f"QE{day:%Y%m%d}{number % 100_000_000:08d}"


def issue_full_payment(ctx: CounterContext, stay_id: int, actor: OperatorInfo, discharged_on: dt.date) -> int:
    """The centre is down at discharge (`003 §17`): the worker pays the whole stay (全额垫付) and
    claims it at the insured place; the stay waits for 补登记 and is never settled directly.
    Returns the receipt's id. Refused while a settlement's outcome is unknown (the centre may
    have settled it: paying in full too would be paying twice)."""
    require(actor, Permission.SETTLE)
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        if stay.status not in _SETTLEABLE:
            raise WorkflowError("本次住院当前状态不能全额垫付：" + "；".join(readiness(session, stay_id)))
        _check_discharge_date(session, stay, discharged_on)
        open_settlement = session.scalar(select(OutboxEntry.msgid).where(
            OutboxEntry.stay_id == stay_id, OutboxEntry.operation == Operation.SETTLEMENT.value,
            OutboxEntry.state.in_([OutboxState.SENT, OutboxState.PENDING])).limit(1))
        if open_settlement is not None:
            raise WorkflowError(f"本次住院的结算交易（报文编号 {open_settlement}）结果尚未确定，"
                                "不能全额垫付；请待结算中心恢复、查询处理后再办理。")
        amount = _stay_total(session, stay_id)
        if not _line_rows(session, stay_id):
            raise WorkflowError("没有费用明细，不能开具全额垫付收据。")
        # The lines the 补登记 reports (and the 费用清单 the worker takes) are dealt with at discharge all the same.
        require_acknowledged(session, stay_id, counter_rules(ctx), discharged_on=discharged_on)
        receipt = FullPaymentReceipt(receipt_no=_receipt_no(session, centre_today()), stay_id=stay_id,
                                     amount=amount, issued_by=actor.id)
        session.add(receipt)
        stay.discharged_on = discharged_on
        stay.status = StayStatus.PENDING_BACKFILL
        session.flush()
        audit.record(session, "full_payment_issued", operator_id=actor.id, counter_name=ctx.counter_name,
                     entity_type="full_payment_receipt", entity_id=receipt.id,
                     detail={"stay_id": stay_id, "receipt_no": receipt.receipt_no, "amount": str(amount),
                             "discharged_on": discharged_on.isoformat()})
        return receipt.id


def stays_awaiting_backfill(session: Session) -> list[int]:
    """Stays paid in full whose 补登记 is not done yet (never the old flow's, settled at 补登记)."""
    waiting = exists().where(FullPaymentReceipt.stay_id == Stay.id, FullPaymentReceipt.backfilled_at.is_(None),
                             FullPaymentReceipt.settlement_id.is_(None))
    return list(session.scalars(select(Stay.id).where(Stay.status == StayStatus.PENDING_BACKFILL, waiting)
                                .order_by(Stay.discharged_on, Stay.id)))


def note_fault_cleared(session: Session, today: dt.date) -> int:
    """The centre answers again: receipts waiting for 补登记 learn the day the fault cleared, the
    day their 补登记 is due in Guangdong (`003 §17`). Returns how many were stamped."""
    result = session.execute(update(FullPaymentReceipt).where(
        FullPaymentReceipt.backfilled_at.is_(None), FullPaymentReceipt.settlement_id.is_(None),
        FullPaymentReceipt.fault_cleared_on.is_(None)).values(fault_cleared_on=today))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class BackfillOutcome:
    """补登记 done: the centre holds the stay as paid in full. Nothing is refunded at the window."""

    stay_id: int
    receipt_no: str
    paid_in_full: Decimal
    registered_on: dt.date
    message: str  # what the clerk tells the worker (Chinese)
    refund_to_worker: Decimal = ZERO  # always zero: the insured place reimburses (003 §17)


def backfill_message(receipt_no: str, amount: Decimal) -> str:
    return (f"已补登记：全额垫付收据 {receipt_no}（{amount} 元）的结算信息已报结算中心，标记为全额垫付。"
            f"窗口不退还任何款项，工伤保险基金不向本院支付本次费用；{CLAIM_AT_INSURED_PLACE}。")


@one_counter_at_a_time
def backfill(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo) -> BackfillOutcome:
    """补登记 once the link is back (`003 §17`): send what waited (a queued admission), upload the
    lines, then the stay's settlement information marked as paid in full — once. Never a
    settlement, never a refund at the window: the insured place reimburses the worker."""
    require(actor, Permission.SETTLE)
    check_before_work(ctx, client, actor)
    # A 补登记 the centre registered but this counter could not record is resolved by its msgid first:
    # the receipt then reads as 已补登记 here, and no second 2306 is sent (issue 21 §8).
    client.outbox.require_clear()
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        receipt = latest_receipt(session, stay_id)
        if receipt is None:
            raise WorkflowError("本次住院没有全额垫付收据，无需补登记。")
        if receipt.settlement_id is not None:
            raise WorkflowError(f"全额垫付收据 {receipt.receipt_no} 已按旧流程联网结算（结算记录 {receipt.settlement_id}），"
                                "不再补登记；请审核员按 docs/full-payment.md 处理。")
        if receipt.backfilled_at is not None:
            when = receipt.backfilled_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
            raise WorkflowError(f"全额垫付收据 {receipt.receipt_no} 已于 {when} 补登记，不会重复补登记；"
                                f"{CLAIM_AT_INSURED_PLACE}。")
        if stay.status is not StayStatus.PENDING_BACKFILL:
            raise WorkflowError("本次住院当前状态不是待补登记，不能补登记。")
        discharged_on = stay.discharged_on
        needs_registration = stay.registration_no is None
    assert discharged_on is not None
    if needs_registration:
        # The admission queued while the centre was down: sent, and checked again.
        from app.workflow.admission import recheck_offline_admissions

        recheck_offline_admissions(ctx, client, actor)
        with ctx.transaction() as session:
            if _stay(session, stay_id).registration_no is None:
                raise WorkflowError("入院登记尚未在结算中心补传成功，请先办理入院登记补传（重新核验）。")
    with ctx.transaction() as session:
        note_fault_cleared(session, centre_today())  # the centre answered: the fault is cleared
        stay = _stay(session, stay_id)
        # 补登记 reports a stay paid in full; it settles nothing, so no rehab plan is asked for it.
        problems = [p for p in readiness(session, stay_id) if "全额垫付" not in p and "康复方案" not in p]
        if problems:
            raise WorkflowError("暂不能补登记：" + "；".join(problems))
    upload_lines(ctx, client, stay_id, actor)  # the centre's figures are the uploaded lines'
    with ctx.transaction() as session:
        stay = _stay(session, stay_id)
        receipt = latest_receipt(session, stay_id)
        assert receipt is not None and stay.registration_no is not None
        request = FullPaymentRegistrationRequest(stay.registration_no, receipt.receipt_no, receipt.amount,
                                                 discharged_on, _insured_region(session, stay))
    result = client.register_full_payment(request, stay_id=stay_id, operator_id=actor.id)
    with ctx.transaction() as session:
        # A client without the workflow's appliers: recorded here (idempotent).
        record_full_payment_registration(session, stay_id, result, actor.id, ctx.counter_name)
    return BackfillOutcome(stay_id, result.receipt_no, result.paid_in_full, result.registered,
                           backfill_message(result.receipt_no, result.paid_in_full))
