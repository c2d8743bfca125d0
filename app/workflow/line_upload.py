"""Lines go up during the stay, not at the window (issue 25 §1).

A HIS module uploads a stay's charges every day (每日上传), so that at discharge only the last
day's lines are left to send. Here:

- `upload_ready_lines`: the stay's lines that are final (matched, categorised, classified for
  伤病分离, any override approved) and not yet uploaded go up through the outbox (100 a call,
  several calls in flight: `CentreClient.upload_fees`). Lines changed after their upload are first
  cancelled at the centre and then sent again (2302, as at discharge). Lines not final yet wait
  (and a refund whose original waits). Run after each HIS import (the 费用 page, in the background)
  and on the site's schedule (`centre.upload_daily_at`: the window; `wi-counter charges upload --all`
  for a scheduled task).
- `upload_open_stays`: the same for every stay in hospital (the daily run).
- `upload_counts`: what the 费用 page shows — uploaded, pending, refused by the centre.

At discharge `app.workflow.discharge.upload_lines` sends whatever is still pending. One upload of a
stay at a time in this process (`uploading`): the daily run, an import's upload and a discharge
never send the same lines side by side (the centre would take the second copy as a duplicate
anyway: same seq, same content changes nothing).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.centre.gateway import CentreError, Operation
from app.db.models import ChargeLine, OutboxEntry, OutboxState, Stay, StayStatus
from app.operators import OperatorInfo, Permission, require

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient

log = logging.getLogger(__name__)

_UPLOADABLE = (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT)
_locks: dict[tuple[str, int], threading.Lock] = {}
_locks_guard = threading.Lock()


@contextmanager
def uploading(ctx: CounterContext, stay_id: int) -> Iterator[None]:
    """One upload of a stay at a time in this process (the others wait their turn)."""
    with _locks_guard:
        lock = _locks.setdefault((str(ctx.engine.url), stay_id), threading.Lock())
    with lock:
        yield


@dataclass(frozen=True)
class LineUpload:
    stay_id: int
    sent: int  # lines sent now
    waiting: int  # lines not final yet (they go up once they are)


@dataclass(frozen=True)
class UploadCounts:
    """The 费用 page's figures for one stay."""

    uploaded: int  # the centre holds them
    pending: int  # not uploaded yet (or changed since, to be sent again)
    refused: int  # of the pending, refused by the centre on their last upload (the reason in the outbox)


def ready_lines(session: Session, stay: Stay, lines: list[Any]) -> tuple[list[Any], int]:
    """The lines that may go to the centre now, and how many wait: once uploaded a line can only be
    refunded or cancelled, so only final lines go (`app.workflow.discharge._line_problems`' rules)."""
    from app.rules.classify import line_injury
    from app.workflow.admission import centre_today
    from app.workflow.discharge import _confirmed_self_pay, _diagnosis_injury

    self_pay = _confirmed_self_pay(session, {line.his_code for line in lines if line.code is None})
    injury_of = _diagnosis_injury(session, stay)
    today = centre_today()

    def final(line: Any) -> bool:
        return ((line.code is not None or line.his_code in self_pay) and line.category is not None
                and line_injury(line.injury, line.diagnosis_code, injury_of) is not None
                and (line.injury_override_reason is None or line.override_approved_by is not None)
                and line.charged_on <= today)

    ready = [line for line in lines if final(line)]
    ready_ids = {line.id for line in ready}
    waiting_ids = {line.id for line in lines} - ready_ids
    # A refund goes only with (or after) its original: the centre refuses one whose original it lacks.
    ready = [line for line in ready if line.refund_of_id is None or line.refund_of_id not in waiting_ids]
    return ready, len(lines) - len(ready)


def upload_ready_lines(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo,
                       progress: Callable[[int, int], None] | None = None) -> LineUpload:
    """Send the stay's final lines not yet uploaded (see the module). Nothing for a stay not in
    hospital or without its 就医登记号 yet. Raises the centre's errors (the lines stay pending)."""
    from app.workflow.discharge import _cancel_changed_lines, _fee_lines, _line_rows, _stay

    require(actor, Permission.IMPORT_CHARGES)
    with uploading(ctx, stay_id):
        with ctx.transaction() as session:
            stay = _stay(session, stay_id)
            if stay.status not in _UPLOADABLE or stay.registration_no is None:
                return LineUpload(stay_id, 0, 0)
        # An earlier call whose outcome this counter could not record (a database that failed after
        # the centre took the lines) is resolved by its msgid before the pending lines are read: lines
        # the centre holds are then marked here, and not sent a second time (issue 21 §8).
        client.outbox.require_clear()
        _cancel_changed_lines(ctx, client, stay_id, actor)
        with ctx.transaction() as session:
            stay = _stay(session, stay_id)
            pending = _line_rows(session, stay_id, pending_only=True)
            ready, waiting = ready_lines(session, stay, pending)
            fee_lines = _fee_lines(session, stay, ready)
            registration_no, region = stay.registration_no, _region(session, stay)
        if not fee_lines or registration_no is None:
            return LineUpload(stay_id, 0, waiting)
        total = len(fee_lines)
        client.upload_fees(registration_no, fee_lines, insured_region=region, stay_id=stay_id, operator_id=actor.id,
                           progress=None if progress is None else (lambda done: progress(done, total)))
        # Each line is marked uploaded by the FEE_UPLOAD applier in its call's transaction, and only if
        # it still reads as it was sent (the clerk may have changed it meanwhile: app.workflow.appliers).
        with ctx.transaction() as session:
            audit.record(session, "charge_lines_uploaded", operator_id=actor.id, counter_name=ctx.counter_name,
                         entity_type="stay", entity_id=stay_id, detail={"lines": total, "during_stay": True})
        log.info("住院 %s：%s 条明细已上传，%s 条待定", stay_id, total, waiting)
        return LineUpload(stay_id, total, waiting)


def _region(session: Session, stay: Stay) -> str:
    from app.workflow.discharge import _insured_region

    return _insured_region(session, stay)


def stays_with_pending_lines(session: Session) -> list[int]:
    return list(session.scalars(
        select(Stay.id).where(Stay.status.in_(_UPLOADABLE), Stay.registration_no.is_not(None),
                              select(ChargeLine.id).where(ChargeLine.stay_id == Stay.id,
                                                          ChargeLine.uploaded_at.is_(None)).exists())
        .order_by(Stay.id)))


def upload_open_stays(ctx: CounterContext, client: CentreClient, actor: OperatorInfo) -> list[tuple[int, str]]:
    """The daily run: every stay in hospital with pending lines. Returns (stay, outcome in Chinese) per
    stay; one stay's refusal does not stop the others (an unreachable centre does)."""
    from app.centre.gateway import CentreUnavailable, OutboxNotClear, OutcomeUnknown

    with ctx.transaction() as session:
        stay_ids = stays_with_pending_lines(session)
    done: list[tuple[int, str]] = []
    for stay_id in stay_ids:
        try:
            result = upload_ready_lines(ctx, client, stay_id, actor)
        except (CentreUnavailable, OutboxNotClear, OutcomeUnknown) as exc:
            done.append((stay_id, exc.message))
            break  # the link or the outbox: the next stay would meet the same
        except CentreError as exc:
            done.append((stay_id, exc.message))
            continue
        done.append((stay_id, f"上传 {result.sent} 条" + (f"，{result.waiting} 条待定" if result.waiting else "")))
    return done


def upload_counts(session: Session, stay_id: int) -> UploadCounts:
    uploaded, pending = session.execute(select(
        func.count().filter(ChargeLine.uploaded_at.is_not(None)),
        func.count().filter(ChargeLine.uploaded_at.is_(None)),
    ).where(ChargeLine.stay_id == stay_id)).one()
    refused = 0
    if pending:
        # Refused: a pending line whose last upload call the centre refused (the reason is in the outbox).
        last: dict[int, bool] = {}
        for request, state, resolution in session.execute(
                select(OutboxEntry.request, OutboxEntry.state, OutboxEntry.resolution).where(
                    OutboxEntry.stay_id == stay_id, OutboxEntry.operation == Operation.FEE_UPLOAD.value)
                .order_by(OutboxEntry.seq)):
            refused_here = state is OutboxState.FAILED and resolution == "reply"  # not: unsent, voided
            for line in (request or {}).get("lines", []):
                last[int(line["seq"])] = refused_here
        pending_seqs = session.scalars(select(ChargeLine.seq).where(ChargeLine.stay_id == stay_id,
                                                                    ChargeLine.uploaded_at.is_(None)))
        refused = sum(1 for seq in pending_seqs if last.get(seq, False))
    return UploadCounts(int(uploaded), int(pending), refused)
