"""Never lose, never double: every state-changing call is written before it is sent.

1. `Outbox.call` first resolves any open entry (no new work while an earlier outcome is
   unknown), then writes the call — a `msgid` from the database sequence, the request —
   and commits, and only then sends it.
2. A verified reply settles it: `succeeded` (the local effect is applied in the same
   transaction that marks it) or `failed` (refused: nothing applied).
3. A timeout, dropped or malformed reply, or a crash leaves it open (`sent`). It is resolved
   by querying the centre by msgid (`resolve_open`, run on start before any new work):
   applied → completed locally; refused / reversed / voided → recorded as not applied;
   never received → voided with a reversal (冲正), so a late copy is refused, and the clerk
   starts over under a new msgid. An applied call the counter cannot record is reversed.

Several counters may share one PostgreSQL database: msgids come from one SEQUENCE, and an
entry a live counter is waiting on carries a lease (`lease_owner`, `lease_until`) that
other counters' resolvers respect. A lease of a process that died on this host is taken
over at once (restart after a crash).

States: `sent` = outcome unknown until the reply or a query (blocks new work); `pending` =
queued work not sent yet (补登记 while the centre is unreachable: `queue`, `send_queued`);
`succeeded`, `failed` (refused, unsent or voided: nothing applied), `reversed` are final.
Each exchange's call-log record is written in the transaction that settles the entry.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from app.centre import wire
from app.centre.calllog import CallRecord, DatabaseCallLog
from app.centre.gateway import (
    Centre,
    CentreError,
    CentreRefused,
    CentreUnavailable,
    Operation,
    OutboxNotClear,
    OutcomeState,
    OutcomeUnknown,
    ReversalResult,
    to_json,
)
from app.crashpoints import outbox_point
from app.db.models import OutboxEntry, OutboxState

log = logging.getLogger(__name__)

R = TypeVar("R")

_OUTBOX = cast(Table, OutboxEntry.__table__)
_PG_MSGID_LOCK = 727_274_005  # any constant: the msgid issuer's identity for all counters
OPEN_STATES = (OutboxState.PENDING, OutboxState.SENT)  # not final yet
# Sent (or about to be) with no known outcome: these block new work until resolved. A `pending`
# entry is queued work (补登记 while the centre was unreachable) that has not been sent.
UNKNOWN_STATES = (OutboxState.SENT,)
DEFAULT_LEASE_SECONDS = 60.0
CLEAR_CHECK_SECONDS = 2.0
# After an unknown outcome the call is resolved at once if the centre answers within these pauses.
IMMEDIATE_RESOLVE_PAUSES = (0.0, 0.5, 1.0, 1.5)

# The local effect of an applied call (e.g. record the settlement), run in the transaction
# that marks the entry succeeded. Raise LocalConflict when the counter cannot record it:
# the call is then reversed at the centre.
Applier = Callable[[Session, OutboxEntry, Any], None]


class LocalConflict(Exception):
    """The counter cannot record an applied call (its records changed meanwhile)."""


class CallVoided(CentreRefused):
    """The call never took effect at the centre and has been voided there: start over."""


# --- the msgid sequence ---------------------------------------------------------------


def next_sequence(session: Session) -> tuple[int, dt.datetime]:
    """The next number of the msgid sequence, and the database's time, in `session`'s transaction.

    PostgreSQL: the SEQUENCE `centre_msgid_seq` shared by every counter, stamped with the
    server's clock (counters with skewed clocks still stamp in order); a transaction-scoped
    advisory lock makes number and stamp one step, so msgids sort as they were issued.
    SQLite: the counter row, bumped inside the transaction (SQLite serialises writers).
    Monotonic and unique while fewer than 10,000 msgids are issued in one second.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MSGID_LOCK})
        number, moment = session.execute(text("SELECT nextval('centre_msgid_seq'), clock_timestamp()")).one()
        return int(number), moment
    number = session.execute(text(
        "INSERT INTO centre_msgid_counter (name, value) VALUES ('msgid', 1) "
        "ON CONFLICT (name) DO UPDATE SET value = centre_msgid_counter.value + 1 RETURNING value"
    )).scalar_one()
    return int(number), dt.datetime.now(dt.UTC)


def allocate_msgid(session: Session, institution_code: str) -> tuple[int, str]:
    number, moment = next_sequence(session)
    return number, wire.make_msgid(institution_code, moment, number)


def process_identity(counter_name: str) -> str:
    return f"{counter_name}@{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead_here(owner: str) -> bool:
    """True when `owner` is a process of this host that no longer runs (a crashed counter)."""
    _, _, place = owner.rpartition("@")
    host, _, pid_text = place.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Resolution:
    """How one open entry ended (or why it is still open)."""

    msgid: str
    operation: str
    state: OutboxState
    resolution: str | None  # reply, query, voided, reversed; None while still open
    message: str

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class EntryView:
    """A read-only copy of an outbox entry (for `centre outbox` and the UI)."""

    id: int
    seq: int
    msgid: str
    operation: str
    txn_code: str
    state: OutboxState
    resolution: str | None
    attempts: int
    counter_name: str
    stay_id: int | None
    reverses_msgid: str | None
    error: str | None
    created_at: dt.datetime
    resolved_at: dt.datetime | None

    @classmethod
    def of(cls, entry: OutboxEntry) -> EntryView:
        return cls(entry.id, entry.seq, entry.msgid, entry.operation, entry.txn_code, entry.state,
                   entry.resolution, entry.attempts, entry.counter_name, entry.stay_id, entry.reverses_msgid,
                   entry.error, entry.created_at, entry.resolved_at)


class Outbox:
    """The counter's outbox for one centre. Thread-safe; one per process is enough."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        centre: Centre,
        institution_code: str,
        counter_name: str,
        *,
        appliers: Mapping[Operation, Applier] | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        resolve_pauses: tuple[float, ...] = IMMEDIATE_RESOLVE_PAUSES,
        call_log: DatabaseCallLog | None = None,
    ) -> None:
        self._sessions = sessions
        self.centre = centre
        self.institution_code = institution_code
        self.counter_name = counter_name
        self.owner = process_identity(counter_name)
        self._appliers = dict(appliers or {})
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._resolve_pauses = resolve_pauses
        self._call_log = call_log
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._dirty = True  # True: look at the outbox before the next call (start, unknown outcome)
        self._clear_checked = 0.0

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    # --- msgids for reads (no outbox entry: they change nothing) ---------------------------

    def read_msgid(self) -> str:
        with self._sessions.begin() as session:
            return allocate_msgid(session, self.institution_code)[1]

    # --- sending ----------------------------------------------------------------------------

    def call(
        self,
        operation: Operation,
        request: Any,
        send: Callable[[str], R],
        *,
        stay_id: int | None = None,
        operator_id: int | None = None,
    ) -> R:
        """Write, then send `request` with `send(msgid)`; return the centre's result.

        Raises CentreRefused (nothing applied), CentreUnavailable (not sent; the entry is
        recorded as failed), OutcomeUnknown (the entry stays open for the resolver) or
        OutboxNotClear (an earlier call is still unresolved)."""
        if not operation.changes_state:
            raise ValueError(f"{operation} changes nothing: call the centre directly")
        self.require_clear()
        entry_id, msgid = self._write(operation, to_json(request), stay_id, operator_id)
        outbox_point(operation.value, "written")
        return self._send(entry_id, msgid, operation, send)

    def _write(self, operation: Operation, request: dict[str, Any], stay_id: int | None,
               operator_id: int | None, reverses: str | None = None) -> tuple[int, str]:
        now = dt.datetime.now(dt.UTC)
        with self._sessions.begin() as session:
            seq, msgid = allocate_msgid(session, self.institution_code)
            # Written as `sent` with our lease in the same commit that makes it durable: if the
            # process dies before the request leaves, the resolver finds the msgid unknown and voids it.
            # A Core insert: this runs for every state-changing call (100 a 10,000-line stay).
            inserted = session.execute(insert(_OUTBOX).values(
                seq=seq, msgid=msgid, txn_code=self.centre.transaction_code(operation), operation=operation.value,
                counter_name=self.counter_name, stay_id=stay_id, operator_id=operator_id, request=request,
                state=OutboxState.SENT, attempts=1, reverses_msgid=reverses,
                lease_owner=self.owner, lease_until=now + self._lease, created_at=now, updated_at=now,
            ).returning(_OUTBOX.c.id))
            entry_id = int(inserted.scalar_one())
            with self._lock:
                self._in_flight.add(msgid)
            return entry_id, msgid

    def _send(self, entry_id: int, msgid: str, operation: Operation, send: Callable[[str], R],
              queued: bool = False) -> R:
        # The call log's record of this exchange is written in the transaction that settles the
        # entry (one commit less per call), or on its own when the outcome stays unknown.
        calls: list[CallRecord] = []
        try:
            try:
                with self._collecting(calls):
                    result = send(msgid)
            except CentreUnavailable as exc:
                # The connection was never made: the request did not leave this machine.
                if queued:
                    self._requeue(entry_id, calls)  # still waiting for the link: stays queued
                else:
                    self._finish(entry_id, OutboxState.FAILED, "unsent", f"未送达：{exc.message}", calls=calls)
                raise
            except CentreRefused as exc:
                self._finish(entry_id, OutboxState.FAILED, "reply", f"{exc.code} {exc.message}", calls=calls)
                raise
            except OutcomeUnknown as exc:
                self._write_calls(calls)
                with self._lock:
                    self._dirty = True
                log.warning("交易 %s（%s）结果未知：%s；立即按报文编号查询", msgid, operation.label, exc.message)
                with self._lock:
                    self._in_flight.discard(msgid)
                return self._settle_unknown(entry_id, msgid, exc)  # type: ignore[no-any-return]
            except BaseException:
                self._write_calls(calls)
                raise
            outbox_point(operation.value, "answered")
            completed = self._complete(entry_id, operation, result, "reply", calls)
            outbox_point(operation.value, "applied")
            return completed  # type: ignore[no-any-return]
        finally:
            with self._lock:
                self._in_flight.discard(msgid)

    def _requeue(self, entry_id: int, calls: list[CallRecord]) -> None:
        with self._sessions.begin() as session:
            self._write_calls(calls, session)
            session.execute(update(_OUTBOX).where(_OUTBOX.c.id == entry_id, _OUTBOX.c.state == OutboxState.SENT)
                            .values(state=OutboxState.PENDING, lease_owner=None, lease_until=None,
                                    updated_at=dt.datetime.now(dt.UTC)))

    # --- queued work (补登记) ---------------------------------------------------------------

    def queue(self, operation: Operation, request: Any, *, stay_id: int | None = None,
              operator_id: int | None = None) -> str:
        """Write a call to send later (e.g. 补登记 while the centre is unreachable, `003 §17`).

        It gets its msgid now (its place in the sequence), is `pending` until `send_queued`,
        and does not block other work: nothing has been sent."""
        if not operation.changes_state:
            raise ValueError(f"{operation} changes nothing: nothing to queue")
        now = dt.datetime.now(dt.UTC)
        with self._sessions.begin() as session:
            seq, msgid = allocate_msgid(session, self.institution_code)
            session.execute(insert(_OUTBOX).values(
                seq=seq, msgid=msgid, txn_code=self.centre.transaction_code(operation), operation=operation.value,
                counter_name=self.counter_name, stay_id=stay_id, operator_id=operator_id, request=to_json(request),
                state=OutboxState.PENDING, attempts=0, created_at=now, updated_at=now,
            ))
        log.info("交易 %s（%s）已排队，待联网后补登记", msgid, operation.label)
        return msgid

    def queued_entries(self) -> list[EntryView]:
        with self._sessions.begin() as session:
            entries = session.scalars(
                select(OutboxEntry).where(OutboxEntry.state == OutboxState.PENDING).order_by(OutboxEntry.seq)
            ).all()
            return [EntryView.of(e) for e in entries]

    def send_queued(self, sender: Callable[[Operation, dict[str, Any]], Callable[[str], Any]]) -> list[Resolution]:
        """Send queued calls in msgid order; `sender(operation, request_json)` gives the send function.

        Stops at the first one that does not succeed (later work may depend on it, e.g. fee lines
        on their admission); an unreachable centre leaves it queued."""
        self.require_clear()
        done: list[Resolution] = []
        for view in self.queued_entries():
            now = dt.datetime.now(dt.UTC)
            with self._sessions.begin() as session:
                taken = cast(CursorResult[Any], session.execute(
                    update(_OUTBOX).where(_OUTBOX.c.id == view.id, _OUTBOX.c.state == OutboxState.PENDING)
                    .values(state=OutboxState.SENT, attempts=_OUTBOX.c.attempts + 1, lease_owner=self.owner,
                            lease_until=now + self._lease, updated_at=now)
                )).rowcount
                request = session.execute(select(_OUTBOX.c.request).where(_OUTBOX.c.id == view.id)).scalar_one()
            if not taken:
                continue  # another counter is sending it
            operation = Operation(view.operation)
            with self._lock:
                self._in_flight.add(view.msgid)
            try:
                self._send(view.id, view.msgid, operation, sender(operation, request), queued=True)
            except CentreError as exc:
                with self._sessions.begin() as session:
                    entry = session.get(OutboxEntry, view.id)
                    assert entry is not None
                    done.append(Resolution(entry.msgid, entry.operation, entry.state, entry.resolution, exc.message))
                break
            done.append(Resolution(view.msgid, view.operation, OutboxState.SUCCEEDED, "reply", ""))
        return done

    def _collecting(self, calls: list[CallRecord]) -> AbstractContextManager[object]:
        return self._call_log.collecting(calls) if self._call_log is not None else nullcontext()

    def _write_calls(self, calls: list[CallRecord], session: Session | None = None) -> None:
        if self._call_log is None or not calls:
            return
        if session is not None:
            self._call_log.write(session, calls)
        else:
            with self._sessions.begin() as own:
                self._call_log.write(own, calls)
        calls.clear()

    def _settle_unknown(self, entry_id: int, msgid: str, unknown: OutcomeUnknown) -> Any:
        """Right after an unknown outcome: resolve now if the centre answers within a few seconds."""
        last_error: CentreError = unknown
        for pause in self._resolve_pauses:
            time.sleep(pause)
            try:
                resolution, result = self._resolve_entry(entry_id)
            except (CentreUnavailable, OutcomeUnknown, CentreRefused) as exc:
                # A refused *query* (e.g. the session lapsed) says nothing of the call itself: it stays
                # open, and the clerk must hear "unknown", never "refused".
                last_error = exc
                continue
            if resolution.state is OutboxState.SUCCEEDED:
                return result
            if resolution.resolution == "voided":
                raise CallVoided("VOIDED", f"结算中心未收到该交易，已作废（报文编号 {msgid}），请重新办理")
            raise CentreRefused("NOT_APPLIED", f"交易未执行：{resolution.message}（报文编号 {msgid}）")
        raise OutcomeUnknown(
            f"结算中心未答复，交易结果未知（报文编号 {msgid}）。已记录，联网恢复后自动按报文编号查询处理，"
            f"处理前不能办理新业务。（{last_error.message}）",
            msgid,
        )

    # --- finishing an entry -----------------------------------------------------------------

    def _finish(self, entry_id: int, state: OutboxState, resolution: str, message: str | None,
                response: dict[str, Any] | None = None, calls: list[CallRecord] | None = None) -> bool:
        """Move an open entry to a final state; False when someone else already did."""
        with self._sessions.begin() as session:
            self._write_calls(calls or [], session)
            entry = session.get(OutboxEntry, entry_id, with_for_update=True)
            if entry is None or entry.state not in OPEN_STATES:
                return False
            self._close(entry, state, resolution, message, response)
            return True

    @staticmethod
    def _close(entry: OutboxEntry, state: OutboxState, resolution: str, message: str | None,
               response: dict[str, Any] | None) -> None:
        entry.state = state
        entry.resolution = resolution
        entry.error = message
        if response is not None:
            entry.response = response
        entry.lease_owner = None
        entry.lease_until = None
        entry.resolved_at = dt.datetime.now(dt.UTC)

    def _complete(self, entry_id: int, operation: Operation, result: Any, resolution: str,
                  calls: list[CallRecord] | None = None) -> Any:
        """Record an applied call and its local effect in one transaction (or reverse it)."""
        if operation not in self._appliers and operation is not Operation.REVERSAL:
            # Nothing local to apply: one UPDATE, guarded so only the first resolver wins.
            now = dt.datetime.now(dt.UTC)
            with self._sessions.begin() as session:
                self._write_calls(calls or [], session)
                session.execute(update(_OUTBOX).where(_OUTBOX.c.id == entry_id, _OUTBOX.c.state.in_(OPEN_STATES))
                                .values(state=OutboxState.SUCCEEDED, resolution=resolution, error=None,
                                        response=to_json(result), lease_owner=None, lease_until=None,
                                        resolved_at=now, updated_at=now))
            return result
        self._write_calls(calls or [])
        try:
            with self._sessions.begin() as session:
                entry = session.get(OutboxEntry, entry_id, with_for_update=True)
                if entry is None:
                    raise LookupError(entry_id)
                if entry.state not in OPEN_STATES:
                    return result  # another resolver completed it meanwhile
                self._close(entry, OutboxState.SUCCEEDED, resolution, None, to_json(result))
                if entry.reverses_msgid and isinstance(result, ReversalResult):
                    self._apply_reversal(session, entry.reverses_msgid, to_json(result))
                applier = self._appliers.get(operation)
                if applier is not None:
                    applier(session, entry, result)
                centre_ref = getattr(result, "centre_ref", None)
                if isinstance(centre_ref, str):
                    entry.centre_ref = centre_ref
        except (LocalConflict, OverflowError, DataError) as error:
            # An applied call the database cannot hold (a value out of a column's range) is a conflict
            # too: reversed now, rather than left open to fail again on every resolve and new call.
            conflict = error if isinstance(error, LocalConflict) else LocalConflict(
                "结算中心应答的数值超出本机数据库的范围（数值过大或文字过长）")
            log.error("交易 %s 已在中心执行，但本机无法记录（%s）：冲正", entry_id, conflict)
            with self._sessions.begin() as session:
                entry = session.get(OutboxEntry, entry_id)
                assert entry is not None
                msgid, operation = entry.msgid, Operation(entry.operation)
                entry.error = f"本机无法记录：{conflict}"
            self._reverse(msgid, operation)
            raise CentreRefused("LOCAL_CONFLICT", f"本机无法记录该交易（{conflict}），已向结算中心冲正") from None
        return result

    def _apply_reversal(self, session: Session, original_msgid: str, result: dict[str, Any]) -> None:
        """A reversal succeeded: record what became of the original."""
        original = session.scalars(
            select(OutboxEntry).where(OutboxEntry.msgid == original_msgid).with_for_update()
        ).one_or_none()
        if original is None:
            return
        outcome = result.get("outcome")
        note = f"已冲正（{result.get('original_msgid', '')}）"
        if outcome == OutcomeState.REVERSED.value:
            original.state = OutboxState.REVERSED
            original.resolution = "reversed"
        elif outcome == OutcomeState.VOIDED.value:
            original.state = OutboxState.FAILED
            original.resolution = "voided"
            note = "中心未收到，已作废"
        elif outcome == OutcomeState.FAILED.value and original.state in OPEN_STATES:
            original.state = OutboxState.FAILED
            original.resolution = "query"
            note = "中心已拒绝，未执行"
        else:
            return
        original.error = original.error or note
        original.lease_owner = None
        original.lease_until = None
        original.resolved_at = dt.datetime.now(dt.UTC)

    # --- reversal -------------------------------------------------------------------------------

    def reverse(self, msgid: str) -> ReversalResult:
        """Reverse (冲正) an applied call, or void one the centre never received."""
        with self._sessions.begin() as session:
            entry = session.scalars(select(OutboxEntry).where(OutboxEntry.msgid == msgid)).one_or_none()
            if entry is None:
                raise CentreRefused("UNKNOWN_MSGID", f"本机没有报文编号为 {msgid} 的交易")
            operation = Operation(entry.operation)
        return self._reverse(msgid, operation)

    def _reverse(self, original_msgid: str, original: Operation) -> ReversalResult:
        request = {"original_msgid": original_msgid, "original_operation": original.value}
        entry_id, msgid = self._write(Operation.REVERSAL, request, None, None, reverses=original_msgid)
        result: ReversalResult = self._send(
            entry_id, msgid, Operation.REVERSAL, lambda m: self.centre.reverse(m, original_msgid, original)
        )
        return result

    # --- resolution ---------------------------------------------------------------------------

    def _claim(self, entry_id: int) -> bool:
        """Take the entry for resolution unless a live counter is waiting on it."""
        now = dt.datetime.now(dt.UTC)
        with self._sessions.begin() as session:
            entry = session.get(OutboxEntry, entry_id, with_for_update=True)
            if entry is None or entry.state not in OPEN_STATES:
                return False
            if not self._claimable(entry, now):
                return False
            entry.lease_owner = self.owner
            entry.lease_until = now + self._lease
            return True

    def _claimable(self, entry: OutboxEntry, now: dt.datetime) -> bool:
        return self._claimable_row(entry.msgid, entry.lease_owner, entry.lease_until, now)

    def _claimable_row(self, msgid: str, owner: str | None, until: dt.datetime | None, now: dt.datetime) -> bool:
        if owner is None or until is None or until <= now:
            return True
        if owner == self.owner:
            with self._lock:
                return msgid not in self._in_flight
        return _owner_is_dead_here(owner)

    def _resolve_entry(self, entry_id: int) -> tuple[Resolution, Any]:
        """Query the centre about one open entry and settle it. Raises CentreUnavailable /
        OutcomeUnknown when the centre cannot tell now (the entry stays open)."""
        with self._sessions.begin() as session:
            entry = session.get(OutboxEntry, entry_id)
            assert entry is not None
            msgid, operation, reverses = entry.msgid, Operation(entry.operation), entry.reverses_msgid
            if entry.state not in OPEN_STATES:
                return self._view(entry), entry.response
        outcome = self.centre.query_outcome(msgid, operation)
        result: Any = None
        if outcome.state is OutcomeState.APPLIED:
            result = self._complete(entry_id, operation, outcome.result, "query")
        elif outcome.state is OutcomeState.FAILED:
            self._finish(entry_id, OutboxState.FAILED, "query",
                         f"{outcome.error_code} {outcome.error_message}".strip() or "中心已拒绝，未执行")
        elif outcome.state is OutcomeState.REVERSED:
            self._finish(entry_id, OutboxState.REVERSED, "query", f"已被冲正（{outcome.reversed_by}）")
        elif outcome.state is OutcomeState.VOIDED:
            self._finish(entry_id, OutboxState.FAILED, "voided", f"中心未收到，已作废（{outcome.reversed_by}）")
        elif operation is Operation.REVERSAL:
            # A reversal is safe to repeat: send the same one again.
            assert reverses is not None
            original = self._original_operation(reverses)
            with self._lock:
                self._in_flight.add(msgid)
            result = self._send(entry_id, msgid, operation,
                                lambda m: self.centre.reverse(m, reverses, original))
        else:
            # Never received: void it so that a delayed copy is refused, then it is not applied.
            self._reverse(msgid, operation)
        with self._sessions.begin() as session:
            entry = session.get(OutboxEntry, entry_id)
            assert entry is not None
            return self._view(entry), result

    def _original_operation(self, msgid: str) -> Operation:
        with self._sessions.begin() as session:
            operation = session.scalars(select(OutboxEntry.operation).where(OutboxEntry.msgid == msgid)).one()
        return Operation(operation)

    @staticmethod
    def _view(entry: OutboxEntry) -> Resolution:
        return Resolution(entry.msgid, entry.operation, entry.state, entry.resolution, entry.error or "")

    def open_entries(self) -> list[EntryView]:
        with self._sessions.begin() as session:
            entries = session.scalars(
                select(OutboxEntry).where(OutboxEntry.state.in_(UNKNOWN_STATES)).order_by(OutboxEntry.seq)
            ).all()
            return [EntryView.of(e) for e in entries]

    def resolve_open(self) -> list[Resolution]:
        """Resolve every open entry this counter may take (reversals first, then in msgid order).

        Entries the centre cannot answer for now stay open and are reported as such."""
        open_ids = [view.id for view in sorted(
            self.open_entries(), key=lambda v: (v.operation != Operation.REVERSAL.value, v.seq)
        )]
        results: list[Resolution] = []
        for entry_id in open_ids:
            if not self._claim(entry_id):
                continue
            try:
                resolution, _ = self._resolve_entry(entry_id)
            except (CentreUnavailable, OutcomeUnknown) as exc:
                with self._sessions.begin() as session:
                    entry = session.get(OutboxEntry, entry_id)
                    assert entry is not None
                    entry.lease_owner = None  # another counter may try
                    entry.lease_until = None
                    results.append(Resolution(entry.msgid, entry.operation, entry.state, None, exc.message))
                continue
            except CentreRefused as exc:
                with self._sessions.begin() as session:
                    entry = session.get(OutboxEntry, entry_id)
                    assert entry is not None
                    results.append(Resolution(entry.msgid, entry.operation, entry.state, entry.resolution,
                                              exc.message))
                continue
            log.info("交易 %s（%s）已处理：%s", resolution.msgid, resolution.operation, resolution.state)
            results.append(resolution)
        return results

    def require_clear(self) -> None:
        """No new work while an earlier call's outcome is unknown: resolve first, or refuse.

        This counter's own unknown outcomes are known at once (`_dirty`); entries another counter
        left behind are looked for at most every CLEAR_CHECK_SECONDS, so a 100-call upload does
        not query the outbox 100 times."""
        now_mono = time.monotonic()
        with self._lock:
            if not self._dirty and now_mono - self._clear_checked < CLEAR_CHECK_SECONDS:
                return
        with self._sessions.begin() as session:
            # Checked before every call: a narrow Core query, usually answered "none".
            rows = session.execute(select(_OUTBOX.c.msgid, _OUTBOX.c.lease_owner, _OUTBOX.c.lease_until)
                                   .where(_OUTBOX.c.state.in_(UNKNOWN_STATES))).all()
        now = dt.datetime.now(dt.UTC)
        if not any(self._claimable_row(msgid, owner, until, now) for msgid, owner, until in rows):
            with self._lock:
                self._dirty, self._clear_checked = False, now_mono
            return
        self.resolve_open()
        with self._sessions.begin() as session:
            entries = session.scalars(select(OutboxEntry).where(OutboxEntry.state.in_(UNKNOWN_STATES))).all()
            still = [e.msgid for e in entries if self._claimable(e, dt.datetime.now(dt.UTC))]
        if not still:
            with self._lock:
                self._dirty, self._clear_checked = False, time.monotonic()
            return
        if still:
            raise OutboxNotClear(
                f"有 {len(still)} 笔结算中心交易结果尚未确定（{'、'.join(still[:3])}），"
                "结算中心恢复连接并查询处理后才能办理新业务"
            )
