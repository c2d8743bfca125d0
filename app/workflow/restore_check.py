"""After `wi-counter db restore`: the books against what the centre holds (issue 21 B2).

A backup knows nothing of what was done after it was taken. Re-admitting and settling a 住院号 the
centre already settled would make a second registration and a second live settlement of one stay.
So a restore leaves a `RestoreCheck` behind (`note_restore`); `reconcile` asks the centre (5201) for
every registration of this institution touched since the backup's newest call, and lists what the
books lack or see differently. Until the check is clear, or a reviewer has acknowledged the
differences (`acknowledge`, audited), admission and settlement are refused (`refuse_new_work`).
A 住院号 the centre registered and the books lack stays refused for good (`refuse_known_admission`):
the stay is the centre's, the reviewer deals with it there.

The slip archive is compared too (`unlogged_slips`): every issued slip's PDF is archived once its print
is logged (`app.slips.commit_issue`), so an archived slip the restored print log does not name was
printed after the backup — a settlement the books may lack, a slip the clerk would print again as 原件.
The window shows the check and takes a reviewer's acknowledgement in place (`ui/restore_check_dialog.py`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.db.models import ChargeLine, OutboxEntry, PrintLog, RestoreCheck, Settlement, SettlementKind, Stay
from app.masking import mask_id_number
from app.operators import OperatorInfo, Permission, require
from app.workflow.common import WorkflowError

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient
    from app.centre.gateway import CentreRegistrationRecord

log = logging.getLogger(__name__)

PENDING, CLEAR, DIFFERENCES, ACKNOWLEDGED = "pending", "clear", "differences", "acknowledged"
# The backup's newest call was made by a clock that may be up to the allowed skew off the centre's.
SINCE_MARGIN = dt.timedelta(minutes=10)
PAGE_SIZE = 200
# The archive may hold thousands of slips; the check names this many unlogged ones and counts the rest.
SLIPS_LISTED = 50

WAITING = ("数据库已从备份恢复，备份之后在结算中心办理的登记和结算尚未与本机账目核对，"
           "为避免同一次住院重复登记、重复结算，暂不能办理入院登记和结算。"
           "请联系审核员与结算中心核对并确认差异后再办理。")
UNREVIEWED = ("数据库已从备份恢复，与结算中心和结算单存档核对有 {count} 处本机账目中没有或不一致的登记、结算、"
              "结算单，审核员确认之前暂不能办理入院登记和结算。请联系审核员查看差异。")
KNOWN_AT_CENTRE = ("住院号 {admission_no} 在结算中心已有就医登记（{registration_no}，{status}），"
                   "是恢复数据库之前办理的，本机账目中没有。不能再次登记，以免同一次住院重复结算；"
                   "请审核员在结算中心核实处理。")
_STATUS_WORDS = {"open": "在院未结算", "settled": "已结算", "cancelled": "已撤销", "paid_in_full": "已全额垫付"}


@dataclass(frozen=True)
class CheckReport:
    check_id: int
    status: str
    differences: list[dict[str, Any]]


def note_restore(session: Session, backup_file: str) -> RestoreCheck:
    """In the restored books: a check is owed, from the backup's newest call on."""
    newest = session.scalar(select(func.max(OutboxEntry.created_at)))
    since = newest - SINCE_MARGIN if newest is not None else None
    check = RestoreCheck(backup_file=backup_file, since=since, status=PENDING, differences=[])
    session.add(check)
    session.flush()
    return check


def _open_check(session: Session) -> RestoreCheck | None:
    return session.scalars(select(RestoreCheck).order_by(RestoreCheck.id.desc()).limit(1)).first()


def refuse_new_work(session: Session) -> None:
    """Admission and settlement wait while a restore's check is owed or unreviewed."""
    check = _open_check(session)
    if check is None or check.status in (CLEAR, ACKNOWLEDGED):
        return
    if check.status == PENDING:
        raise WorkflowError(WAITING)
    raise WorkflowError(UNREVIEWED.format(count=difference_count(check.differences)))


def difference_count(differences: list[dict[str, Any]]) -> int:
    """How many differences: the unlisted slips' summary counts as the slips it stands for."""
    return sum(int(d.get("count", 1)) for d in differences)


def refuse_known_admission(session: Session, admission_no: str) -> None:
    """A 住院号 the centre registered while the books did not know it is never admitted again."""
    for check in session.scalars(select(RestoreCheck)):
        for difference in check.differences:
            if difference.get("kind") == "registration_missing" and difference.get("admission_no") == admission_no \
                    and difference.get("status") in _STATUS_WORDS and difference.get("status") != "cancelled":
                raise WorkflowError(KNOWN_AT_CENTRE.format(
                    admission_no=admission_no, registration_no=difference.get("registration_no"),
                    status=_STATUS_WORDS[str(difference.get("status"))]))


def _difference(kind: str, record: CentreRegistrationRecord, message: str, **more: Any) -> dict[str, Any]:
    return {"kind": kind, "registration_no": record.registration_no, "admission_no": record.admission_no,
            "status": record.status, "message": message, **more}


def _money(value: Any) -> str:
    return f"{value:.2f}"


def compare(session: Session, records: list[CentreRegistrationRecord]) -> list[dict[str, Any]]:
    """What the centre holds that the books lack, or hold differently."""
    differences: list[dict[str, Any]] = []
    for record in records:
        stay = session.scalars(select(Stay).where(Stay.registration_no == record.registration_no)).first()
        live = [s for s in record.settlements if s.status == "live"]
        who = mask_id_number(record.social_security_number)
        if stay is None:
            if record.status == "cancelled" and not live:
                continue  # registered and cancelled since: nothing to settle twice
            figures = "；".join(f"结算 {s.settlement_id} 金额 {_money(s.total)}（{'有效' if s.status == 'live' else '已撤销'}）"
                               for s in record.settlements)
            differences.append(_difference(
                "registration_missing", record,
                f"住院号 {record.admission_no}（{who}）：中心有就医登记 {record.registration_no}"
                f"（{_STATUS_WORDS.get(record.status, record.status)}，明细 {record.line_count} 条，"
                f"合计 {_money(record.line_total)}{'；' + figures if figures else ''}），本机账目中没有",
                settlements=[s.settlement_id for s in record.settlements]))
            continue
        booked = {s.centre_settlement_id: s for s in session.scalars(
            select(Settlement).where(Settlement.stay_id == stay.id, Settlement.kind == SettlementKind.SETTLEMENT))}
        cancelled = set(session.scalars(select(Settlement.reverses_id).where(
            Settlement.stay_id == stay.id, Settlement.reverses_id.is_not(None))))
        for settlement in record.settlements:
            local = booked.get(settlement.settlement_id)
            if local is None:
                differences.append(_difference(
                    "settlement_missing", record,
                    f"住院号 {record.admission_no}：中心有结算 {settlement.settlement_id}（金额 {_money(settlement.total)}，"
                    f"{'有效' if settlement.status == 'live' else '已撤销'}），本机账目中没有",
                    settlement_id=settlement.settlement_id, stay_id=stay.id))
            elif (settlement.status == "cancelled") != (local.id in cancelled):
                differences.append(_difference(
                    "settlement_state", record,
                    f"住院号 {record.admission_no}：结算 {settlement.settlement_id} 中心为"
                    f"{'已撤销' if settlement.status == 'cancelled' else '有效'}，本机为"
                    f"{'已撤销' if local.id in cancelled else '有效'}",
                    settlement_id=settlement.settlement_id, stay_id=stay.id))
        uploaded = session.scalar(select(func.count()).select_from(ChargeLine).where(
            ChargeLine.stay_id == stay.id, ChargeLine.uploaded_at.is_not(None))) or 0
        if uploaded != record.line_count:
            differences.append(_difference(
                "lines_differ", record,
                f"住院号 {record.admission_no}：中心有明细 {record.line_count} 条（合计 {_money(record.line_total)}），"
                f"本机记为已上传 {uploaded} 条", stay_id=stay.id))
    return differences


_SLIP_NAME = re.compile(r"^结算单_(?P<reference>.+?)_(?P<date>\d{8})_(?P<mark>原件|补打\d+|已撤销)(?:_\d+)?\.pdf$")


def _slip_reference(name: str) -> tuple[str | None, str | None]:
    """(就医登记号, print date) from an archive name (`app.slips.archive_file_name`), or (None, None)."""
    found = _SLIP_NAME.match(name)
    if found is None:
        return None, None
    reference, day = found.group("reference"), found.group("date")
    # A slip without a 就医登记号 is named after the local settlement id, which a restore may give again.
    return (None if reference.startswith("结算") else reference), f"{day[:4]}-{day[4:6]}-{day[6:]}"


def unlogged_slips(session: Session, folder: Path, records: Sequence[CentreRegistrationRecord] = (),
                   limit: int | None = None) -> list[dict[str, Any]]:
    """Archived slips the print log does not name (printed after the backup the books came from).

    Only finished archive files count (`结算单_….pdf`; a `.….part` being written is another counter's
    print in progress). At most `limit` (default `SLIPS_LISTED`) are listed by name, oldest name first;
    the rest are one `slip_unlogged_more` entry with their count."""
    limit = SLIPS_LISTED if limit is None else limit
    if not folder.is_dir():
        return []
    logged = {Path(path).name for path in session.scalars(
        select(PrintLog.archive_path).where(PrintLog.archive_path.is_not(None))) if path}
    names = sorted(entry.name for entry in folder.iterdir()
                   if entry.name.startswith("结算单_") and entry.name.endswith(".pdf") and entry.name not in logged
                   and entry.is_file())
    by_registration = {record.registration_no: record.admission_no for record in records}
    differences: list[dict[str, Any]] = []
    for name in names[:limit]:
        registration_no, printed_on = _slip_reference(name)
        booked = None if registration_no is None else session.scalar(
            select(Stay.admission_no).where(Stay.registration_no == registration_no).limit(1))
        admission_no = booked or (by_registration.get(registration_no) if registration_no else None)
        named = (f"住院号 {admission_no}，就医登记号 {registration_no}" if admission_no
                 else f"就医登记号 {registration_no}" if registration_no else "无就医登记号")
        when = f"，{printed_on} 打印" if printed_on else ""
        consequence = ("本机再次打印这笔结算的结算单会标为“原件”而不是“补打”" if booked
                       else "这次住院本机账目中也没有" if registration_no else "请按存档文件核对")
        differences.append({
            "kind": "slip_unlogged", "file": name, "registration_no": registration_no, "admission_no": admission_no,
            "message": f"结算单存档 {name}（{named}{when}）：本机账目中没有这张结算单的打印记录，"
                       f"是备份之后打印的；{consequence}"})
    if len(names) > limit:
        more = len(names) - limit
        differences.append({
            "kind": "slip_unlogged_more", "count": more, "registration_no": None, "admission_no": None,
            "message": f"结算单存档中另有 {more} 个文件本机账目中没有打印记录（未逐一列出），"
                       f"见存档文件夹 {folder}"})
    return differences


def slip_folder(ctx: CounterContext) -> Path:
    from app.settings import SLIP_ARCHIVE_DIR
    from app.slips import archive_folder

    return archive_folder(ctx.settings.get(SLIP_ARCHIVE_DIR), ctx.paths.data_dir)


def reconcile(ctx: CounterContext, client: CentreClient, actor: OperatorInfo | None) -> CheckReport | None:
    """Ask the centre what it holds since the backup and compare (None: no check owed). Raises the
    centre's errors (unreachable, refused): the check then stays pending and work stays refused."""
    with ctx.transaction() as session:
        check = _open_check(session)
        if check is None or check.status != PENDING:
            return None
        check_id, since = check.id, check.since
    records: list[CentreRegistrationRecord] = []
    page = 1
    while True:
        answer = client.centre.registrations_since(since, page, PAGE_SIZE)
        records.extend(answer.records)
        if page >= answer.pages:
            break
        page += 1
    with ctx.transaction() as session:
        check = session.get(RestoreCheck, check_id)
        assert check is not None
        differences = compare(session, records) + unlogged_slips(session, slip_folder(ctx), records)
        check.differences = differences
        check.status = DIFFERENCES if differences else CLEAR
        check.checked_at = dt.datetime.now(dt.UTC)
        audit.record(session, "restore_reconciled", operator_id=actor.id if actor else None,
                     counter_name=ctx.counter_name, entity_type="restore_check", entity_id=check_id,
                     detail={"since": since.isoformat() if since else None, "centre_registrations": len(records),
                             "differences": differences})
    log.info("恢复后核对：中心登记 %d 笔，差异 %d 处", len(records), difference_count(differences))
    return CheckReport(check_id, DIFFERENCES if differences else CLEAR, differences)


def check_before_work(ctx: CounterContext, client: CentreClient, actor: OperatorInfo | None,
                      admission_no: str | None = None) -> None:
    """Before admitting or settling: reconcile now if a restore's check is still owed and the centre
    answers, then refuse while the differences are unreviewed (and a 住院号 the centre holds)."""
    from app.centre.gateway import CentreError

    with ctx.transaction() as session:
        check = _open_check(session)
        owed = check is not None and check.status == PENDING
    if owed:
        try:
            reconcile(ctx, client, actor)
        except CentreError as exc:
            log.warning("恢复后核对未能完成：%s", exc.message)
    with ctx.transaction() as session:
        refuse_new_work(session)
        if admission_no is not None:
            refuse_known_admission(session, admission_no)


def latest(session: Session) -> CheckReport | None:
    check = _open_check(session)
    return None if check is None else CheckReport(check.id, check.status, list(check.differences))


def acknowledge(ctx: CounterContext, actor: OperatorInfo, note: str, *,
                at_session_of: str | None = None) -> CheckReport:
    """A reviewer has seen the differences (and deals with them at the centre): work may go on.
    The 住院号 the centre holds stay refused for admission. `at_session_of`: the login of the cashier
    at whose window the reviewer authorised it (审核员授权, no logout), kept in the audit."""
    require(actor, Permission.RECONCILE)
    if not note.strip():
        raise WorkflowError("请写明如何处理了这些差异（确认说明不能为空）。")
    with ctx.transaction() as session:
        check = _open_check(session)
        if check is None or check.status in (CLEAR, ACKNOWLEDGED):
            raise WorkflowError("没有待确认的恢复核对差异。")
        if check.status == PENDING:
            raise WorkflowError("尚未与结算中心核对，无从确认；请在结算中心可连接时先核对。")
        check.status = ACKNOWLEDGED
        check.acknowledged_by = actor.id
        check.acknowledged_at = dt.datetime.now(dt.UTC)
        check.acknowledgement_note = note.strip()
        audit.record(session, "restore_differences_acknowledged", operator_id=actor.id,
                     counter_name=ctx.counter_name, entity_type="restore_check", entity_id=check.id,
                     detail={"note": note.strip(), "differences": difference_count(check.differences),
                             **({"at_session_of": at_session_of}
                                if at_session_of and at_session_of != actor.login else {})})
        return CheckReport(check.id, check.status, list(check.differences))
