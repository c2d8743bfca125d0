"""Start-up recovery after a crash (`docs/crash-safety.md`): finish or undo what a killed counter
left half done, and tell the clerk in one Chinese sentence what was recovered.

1. Open outbox entries are resolved by msgid (`Outbox.resolve_open`): what the centre did is
   recorded locally (补记: settlement, cancellation, 就医登记号, lines, claim chunks), what never
   reached it is voided there (作废).
2. An admission voided that way leaves its stay without a 就医登记号: the stay is flagged as
   registered offline, so the 住院一览's 补传 (`recheck_offline_admissions`) registers it again;
   so is a stay with no registration call waiting at all (a kill between 入院登记's commits).
3. The slip archive: a print logged before the crash gets its archive file, an unlogged
   temporary file is removed (`app.slips.recover_archive`).
4. A monthly claim left 上传中 is named, with the chunks the centre has: uploading again resumes.

Run by `wi-counter centre resolve` and by the window's first centre probe (`app.workflow.centre_monitor`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.centre.gateway import Operation
from app.centre.outbox import FOREIGN, Resolution
from app.crashpoints import crash_point
from app.db.models import ClaimStatus, MonthlyClaim, OutboxEntry, OutboxState, Stay, StayStatus
from app.settings import SLIP_ARCHIVE_DIR
from app.slips import ArchiveRecovery, archive_folder, recover_archive

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient


@dataclass(frozen=True)
class InterruptedClaim:
    batch_no: str
    chunks_delivered: int
    chunks: int


@dataclass(frozen=True)
class RecoveryReport:
    resolutions: tuple[Resolution, ...] = ()
    still_open: int = 0
    admissions_to_resend: tuple[int, ...] = ()  # stay ids flagged for 补传
    archive: ArchiveRecovery = field(default_factory=lambda: ArchiveRecovery((), ()))
    interrupted_claims: tuple[InterruptedClaim, ...] = ()
    # The calls a 冲正 finished here reversed or voided (a crash came before its answer was recorded).
    reversed_calls: tuple[Resolution, ...] = ()

    @property
    def parts(self) -> list[str]:
        """The clerk's summary, one clause per kind of thing recovered (empty: nothing to say)."""
        parts: list[str] = []
        done = [r for r in (*self.resolutions, *self.reversed_calls)
                if not r.open and r.operation != Operation.REVERSAL.value]
        for label, count in _by_label(r for r in done if r.state is OutboxState.SUCCEEDED).items():
            parts.append(f"{label} {count} 笔（中心已办理，已补记）")
        voided = [r for r in done if r.resolution == "voided"]
        if voided:
            labels = "、".join(f"{label} {count}" for label, count in _by_label(voided).items())
            parts.append(f"作废未发出的请求 {len(voided)} 笔（{labels}）")
        for label, count in _by_label(r for r in done if r.state is OutboxState.FAILED
                                      and r.resolution not in ("voided", FOREIGN)).items():
            parts.append(f"{label} {count} 笔中心未执行，已记为未办理")
        for label, count in _by_label(r for r in done if r.resolution == FOREIGN).items():
            # The centre holds another caller's call under the msgid (issue 21): never applied, never reversed.
            parts.append(f"{label} {count} 笔的报文编号在中心登记的是另一笔交易，本机未入账、未冲正，请复核人员核对后重新办理")
        for label, count in _by_label(r for r in done if r.state is OutboxState.REVERSED).items():
            parts.append(f"{label} {count} 笔已被冲正")
        if self.admissions_to_resend:
            parts.append(f"住院登记 {len(self.admissions_to_resend)} 人次未取得就医登记号，已转为补传（联网后自动重新登记）")
        if self.archive.completed:
            parts.append(f"结算单存档补全 {len(self.archive.completed)} 份")
        if self.archive.removed:
            parts.append(f"未记录的结算单打印 {len(self.archive.removed)} 份已清除（请重新打印）")
        for claim in self.interrupted_claims:
            parts.append(f"月度结算申请批次 {claim.batch_no} 上传未完成（中心已收 {claim.chunks_delivered}/"
                         f"{claim.chunks} 片），请继续上传，已收的分片不会重复")
        if self.still_open:
            parts.append(f"仍有 {self.still_open} 笔交易结果未确定，联网后自动查询处理，处理前不能办理新业务")
        return parts

    @property
    def summary(self) -> str:
        parts = self.parts
        return "已恢复：" + "；".join(parts) if parts else ""


def _by_label(resolutions: Iterable[Resolution]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for r in resolutions:
        counts[_label(r.operation)] += 1
    return dict(counts)


def _label(operation: str) -> str:
    try:
        return Operation(operation).label
    except ValueError:
        return operation


def recover_local(ctx: CounterContext) -> RecoveryReport:
    """What needs no centre: the slip archive and interrupted claim uploads."""
    folder = archive_folder(ctx.settings.get(SLIP_ARCHIVE_DIR), ctx.paths.data_dir)
    with ctx.transaction() as session:
        archive = recover_archive(session, folder)
    return RecoveryReport(archive=archive, interrupted_claims=_interrupted_claims(ctx))


def recover_at_start(ctx: CounterContext, client: CentreClient | None, *, local: bool = True) -> RecoveryReport:
    """Everything a crash may have left: open outbox entries (when `client` is given: the centre
    is asked), admissions to send again, and (`local`) the slip archive and interrupted claim uploads."""
    resolutions: tuple[Resolution, ...] = ()
    reversed_calls: tuple[Resolution, ...] = ()
    still_open = 0
    resend: tuple[int, ...] = ()
    if client is not None:
        resolutions = tuple(client.resolve_open())
        reversed_calls = _reversed_calls(ctx, resolutions)
        still_open = len(client.open_entries())
        crash_point("recovery.outbox_resolved")
        resend = _flag_admissions_to_resend(ctx, resolutions + reversed_calls)
    here = recover_local(ctx) if local else RecoveryReport()
    return RecoveryReport(resolutions, still_open, resend, here.archive, here.interrupted_claims, reversed_calls)


def _reversed_calls(ctx: CounterContext, resolutions: tuple[Resolution, ...]) -> tuple[Resolution, ...]:
    """The calls that 冲正 finished here reversed or voided, as they stand now: a reversal sent before a
    crash is told as what it did ("出院结算 1 笔已被冲正", "作废未发出的请求"), never silently, and an
    admission it voided is flagged for 补传."""
    reversals = [r.msgid for r in resolutions
                 if r.operation == Operation.REVERSAL.value and r.state is OutboxState.SUCCEEDED]
    if not reversals:
        return ()
    told = {r.msgid for r in resolutions}
    with ctx.transaction() as session:
        originals = select(OutboxEntry.reverses_msgid).where(OutboxEntry.msgid.in_(reversals))
        entries = session.scalars(select(OutboxEntry).where(OutboxEntry.msgid.in_(originals))
                                  .order_by(OutboxEntry.seq)).all()
        return tuple(Resolution(e.msgid, e.operation, e.state, e.resolution, e.error or "")
                     for e in entries if e.msgid not in told)  # never counted twice


def _flag_admissions_to_resend(ctx: CounterContext, resolutions: tuple[Resolution, ...]) -> tuple[int, ...]:
    """Admissions the centre never took (voided or refused on query) leave a stay with no 就医登记号:
    flag them as registered offline, as the window does when the centre cannot be reached, so
    that 补传 registers them again (`app.workflow.admission.recheck_offline_admissions`)."""
    msgids = [r.msgid for r in resolutions if r.operation == Operation.ADMISSION.value
              and r.state is OutboxState.FAILED]
    flagged: list[int] = []
    with ctx.transaction() as session:
        stay_ids = set(session.scalars(select(OutboxEntry.stay_id).where(
            OutboxEntry.msgid.in_(msgids), OutboxEntry.stay_id.is_not(None)))) if msgids else set()
        stay_ids |= set(_half_done_admissions(session))
        for stay_id in sorted(i for i in stay_ids if i is not None):
            stay = session.get(Stay, stay_id)
            if stay is None or stay.registration_no is not None or stay.status is not StayStatus.ADMITTED:
                continue
            if not stay.registered_offline:
                stay.registered_offline = True
            flagged.append(stay_id)
    return tuple(flagged)


def _half_done_admissions(session: Session) -> list[int]:
    """Stays admitted here with no 就医登记号, not flagged for 补传, and no registration call that
    is waiting, queued or done (issue 21 B5): left by a kill between 入院登记's later commits (a
    failed call and its queueing), or by a version that wrote the stay before its call."""
    waiting = select(OutboxEntry.id).where(
        OutboxEntry.stay_id == Stay.id, OutboxEntry.operation == Operation.ADMISSION.value,
        OutboxEntry.state.in_([OutboxState.PENDING, OutboxState.SENT, OutboxState.SUCCEEDED]))
    return list(session.scalars(select(Stay.id).where(
        Stay.status == StayStatus.ADMITTED, Stay.registration_no.is_(None), Stay.registered_offline.is_(False),
        ~waiting.exists()).order_by(Stay.id)))


def _interrupted_claims(ctx: CounterContext) -> tuple[InterruptedClaim, ...]:
    with ctx.transaction() as session:
        claims = session.execute(select(MonthlyClaim.batch_no, MonthlyClaim.chunks).where(
            MonthlyClaim.status == ClaimStatus.UPLOADING).order_by(MonthlyClaim.batch_no)).all()
        if not claims:
            return ()
        requests = session.scalars(select(OutboxEntry.request).where(
            OutboxEntry.operation == Operation.CLAIM_UPLOAD.value,
            OutboxEntry.state == OutboxState.SUCCEEDED)).all()
    delivered: dict[str, set[int]] = {}
    for request in requests:
        delivered.setdefault(str(request.get("claim_no")), set()).add(int(request["chunk"]))
    return tuple(InterruptedClaim(batch_no, len(delivered.get(batch_no, set())), chunks)
                 for batch_no, chunks in claims)
