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
over at once (restart after a crash). Within one process every outbox instance (the pages',
the status bar's) shares one in-flight registry, so none resolves — voids — a call another is
still waiting on.

Counters on their own databases (issue 21): each database has an identity (`counter_id`, random,
made once) that the centre registers at sign-in and answers with a 终端号, part of every msgid, so
two databases never issue the same msgid. Before an outcome found by msgid is applied or reversed,
the outbox proves the centre's record is its own call (transaction, request fingerprint, counter);
a foreign record is never applied, never reversed: the entry is closed as not applied
(`resolution = "foreign"`) with a message for the reviewer.

States: `sent` = outcome unknown until the reply or a query (blocks new work); `pending` =
queued work not sent yet (补登记 while the centre is unreachable: `queue`, `send_queued`);
`succeeded`, `failed` (refused, unsent or voided: nothing applied), `reversed` are final.
Each exchange's call-log record is written in the transaction that settles the entry.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
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
    CallOutcome,
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
from app.crashpoints import crash_point, outbox_point
from app.db import failures
from app.db.models import OutboxEntry, OutboxState

log = logging.getLogger(__name__)

R = TypeVar("R")

_OUTBOX = cast(Table, OutboxEntry.__table__)
_PG_MSGID_LOCK = 727_274_005  # any constant: the msgid issuer's identity for all counters
OPEN_STATES = (OutboxState.PENDING, OutboxState.SENT)  # not final yet
FOREIGN = "foreign"  # resolution: the centre holds another call under the msgid (not applied, for review)
# Sent (or about to be) with no known outcome: these block new work until resolved. A `pending`
# entry is queued work (补登记 while the centre was unreachable) that has not been sent.
UNKNOWN_STATES = (OutboxState.SENT,)
DEFAULT_LEASE_SECONDS = 60.0
CLEAR_CHECK_SECONDS = 2.0
# After an unknown outcome the call is resolved at once if the centre answers within these pauses.
IMMEDIATE_RESOLVE_PAUSES = (0.0, 0.5, 1.0, 1.5)

# The local effect of an applied call (e.g. record the settlement), run in the transaction
# that marks the entry succeeded. Raise LocalConflict when the counter cannot record it:
# the call is then reversed at the centre. Raise ForeignResult when the result is not about
# this counter's records at all: nothing is recorded and nothing is reversed.
Applier = Callable[[Session, OutboxEntry, Any], None]

# Calls this process is waiting on (msgids), whichever outbox instance sent them: the lease owner
# is the process, so the in-flight set must be the process's too (issue 21, B6).
_IN_FLIGHT: set[str] = set()
_IN_FLIGHT_LOCK = threading.Lock()


def _mark_in_flight(msgid: str) -> None:
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.add(msgid)


def _mark_landed(msgid: str) -> None:
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.discard(msgid)


def in_flight(msgid: str) -> bool:
    with _IN_FLIGHT_LOCK:
        return msgid in _IN_FLIGHT


def _in_flight_now() -> frozenset[str]:
    """The calls in flight now: taken before reading the outbox, so that a call that lands between
    the read and the look at the registry is not taken for one whose outcome is unknown."""
    with _IN_FLIGHT_LOCK:
        return frozenset(_IN_FLIGHT)


class LocalConflict(Exception):
    """The counter cannot record an applied call (its records changed meanwhile)."""


class ForeignResult(Exception):
    """The result names records that are not this call's (another stay, another registration):
    it is someone else's call. Never applied, never reversed; the reviewer is told."""


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
    return int(number), wire.now().astimezone(dt.UTC)  # the counter process's one clock


# Rows of centre_msgid_counter besides the sequence ('msgid'): the database's identity, the 终端号
# the centre gave it, and the last msgid's second and slot (stamp * 100 + slot).
_COUNTER_ID_ROW, _TERMINAL_ROW, _CLOCK_ROW = "counter_id", "terminal", "msgid_clock"


def _counter_rows(session: Session, first: str, second: str) -> dict[str, int]:
    found = session.execute(text("SELECT name, value FROM centre_msgid_counter WHERE name IN (:a, :b)"),
                            {"a": first, "b": second}).all()
    return {str(name): int(value) for name, value in found}


@dataclass(frozen=True)
class CounterIdentity:
    """Who issues this database's msgids: `counter_id` (made once, random) and the 终端号 the
    centre registered it under (None until the first sign-in)."""

    counter_id: str
    terminal_no: str | None


def counter_identity(session: Session) -> CounterIdentity:
    """This database's identity, made on first use (every counter sharing the database shares it:
    they share the msgid sequence too)."""
    rows = _counter_rows(session, _COUNTER_ID_ROW, _TERMINAL_ROW)
    if _COUNTER_ID_ROW not in rows:
        session.execute(text("INSERT INTO centre_msgid_counter (name, value) VALUES (:name, :value) "
                             "ON CONFLICT (name) DO NOTHING"),
                        {"name": _COUNTER_ID_ROW, "value": secrets.randbits(63) or 1})
        rows[_COUNTER_ID_ROW] = session.execute(text("SELECT value FROM centre_msgid_counter WHERE name = :name"),
                                                {"name": _COUNTER_ID_ROW}).scalar_one()
    terminal = rows.get(_TERMINAL_ROW)
    return CounterIdentity(f"{int(rows[_COUNTER_ID_ROW]):016x}", f"{int(terminal):02d}" if terminal else None)


def store_terminal(session: Session, terminal_no: str) -> None:
    """Keep the 终端号 the centre gave this database's identity."""
    if not wire.TERMINAL_NO.fullmatch(terminal_no) or terminal_no == wire.UNREGISTERED_TERMINAL:
        raise ValueError(f"终端号无效：{terminal_no!r}")
    session.execute(text("INSERT INTO centre_msgid_counter (name, value) VALUES (:name, :value) "
                         "ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
                    {"name": _TERMINAL_ROW, "value": int(terminal_no)})


def allocate_msgid(session: Session, institution_code: str) -> tuple[int, str]:
    """The next sequence number and its msgid: institution + second + 终端号 + slot in the second.

    The slot restarts at 0 each second; a 101st msgid within one second takes the next second
    (and so on), and a clock set back never reuses a second: msgids stay unique and rising
    whatever the rate or the clock. Runs under the sequence's serialisation (`next_sequence`)."""
    number, moment = next_sequence(session)
    rows = _counter_rows(session, _TERMINAL_ROW, _CLOCK_ROW)
    terminal = rows.get(_TERMINAL_ROW)
    terminal_no = f"{int(terminal):02d}" if terminal else wire.UNREGISTERED_TERMINAL
    stamp = moment.astimezone(wire.CHINA_TZ).replace(microsecond=0)
    slot = 0
    last = rows.get(_CLOCK_ROW)
    if last is not None:
        last_stamp = dt.datetime.strptime(str(int(last) // 100), "%Y%m%d%H%M%S").replace(tzinfo=wire.CHINA_TZ)
        if stamp <= last_stamp:
            stamp, slot = last_stamp, int(last) % 100 + 1
            if slot >= wire.SLOTS_PER_SECOND:
                stamp, slot = stamp + dt.timedelta(seconds=1), 0
    session.execute(text("INSERT INTO centre_msgid_counter (name, value) VALUES (:name, :value) "
                         "ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
                    {"name": _CLOCK_ROW, "value": int(stamp.strftime("%Y%m%d%H%M%S")) * 100 + slot})
    return number, wire.make_terminal_msgid(institution_code, stamp, terminal_no, slot)


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
class WrittenCall:
    """A call written by `Outbox.write_in` in the caller's transaction, to send after its commit."""

    entry_id: int
    msgid: str
    operation: Operation


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
        self._lock = threading.Lock()
        self._dirty = True  # True: look at the outbox before the next call (start, unknown outcome)
        # Bumped with each unknown outcome: a check that began before it must not clear `_dirty`
        # (several calls run at once, issue 25).
        self._dirty_generation = 0
        self._clear_checked = 0.0
        self._identity: CounterIdentity | None = None
        centre.identify(lambda: self.identity().counter_id, self.register_terminal)

    # --- who this counter is ---------------------------------------------------------------

    def identity(self) -> CounterIdentity:
        """This database's identity and 终端号 (made on first use, kept in the database)."""
        with self._lock:
            known = self._identity
        if known is not None and known.terminal_no is not None:
            return known
        with self._sessions.begin() as session:
            found = counter_identity(session)
        with self._lock:
            self._identity = found
        return found

    def register_terminal(self, terminal_no: str) -> None:
        """The centre's answer to sign-in: the 终端号 of this database's identity."""
        current = self.identity()
        if current.terminal_no == terminal_no:
            return
        with self._sessions.begin() as session:
            store_terminal(session, terminal_no)
        if current.terminal_no is not None:
            log.warning("结算中心为本机重新分配了终端号：%s → %s", current.terminal_no, terminal_no)
        with self._lock:
            self._identity = CounterIdentity(current.counter_id, terminal_no)

    def _ensure_registered(self) -> None:
        """Before the first state-changing msgid: sign in once so the msgid carries our 终端号.
        If the centre cannot be reached now, the call goes on (and is reported unsent as before)."""
        if not self.centre.registers_counters or self.identity().terminal_no is not None:
            return
        try:
            self.centre.sign_in()
        except CentreError as exc:
            log.info("签到未完成，暂未取得终端号：%s", exc.message)

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
        self._ensure_registered()
        try:
            entry_id, msgid = self._write(operation, to_json(request), stay_id, operator_id,
                                          fingerprint=self.centre.fingerprint(operation, request))
        except Exception as exc:
            if not failures.is_storage_failure(exc):
                raise
            log.error("交易（%s）未能写入本机数据库，未发送：%s", operation.label, failures.cause(exc), exc_info=True)
            raise failures.not_sent(exc, operation.label) from exc
        outbox_point(operation.value, "written")
        return self._send(entry_id, msgid, operation, send)

    def _write(self, operation: Operation, request: dict[str, Any], stay_id: int | None,
               operator_id: int | None, reverses: str | None = None, *, fingerprint: str = "") -> tuple[int, str]:
        with self._sessions.begin() as session:
            return self._insert(session, operation, request, stay_id, operator_id, reverses, fingerprint=fingerprint)

    def _insert(self, session: Session, operation: Operation, request: dict[str, Any], stay_id: int | None,
                operator_id: int | None, reverses: str | None = None, *, fingerprint: str = "") -> tuple[int, str]:
        now = dt.datetime.now(dt.UTC)
        seq, msgid = allocate_msgid(session, self.institution_code)
        # Written as `sent` with our lease in the same commit that makes it durable: if the
        # process dies before the request leaves, the resolver finds the msgid unknown and voids it.
        # A Core insert: this runs for every state-changing call (100 a 10,000-line stay).
        inserted = session.execute(insert(_OUTBOX).values(
            seq=seq, msgid=msgid, txn_code=self.centre.transaction_code(operation), operation=operation.value,
            counter_name=self.counter_name, stay_id=stay_id, operator_id=operator_id, request=request,
            state=OutboxState.SENT, attempts=1, reverses_msgid=reverses, fingerprint=fingerprint or None,
            lease_owner=self.owner, lease_until=now + self._lease, created_at=now, updated_at=now,
        ).returning(_OUTBOX.c.id))
        entry_id = int(inserted.scalar_one())
        _mark_in_flight(msgid)
        return entry_id, msgid

    # --- a call written in the caller's transaction (issue 21 B5) ------------------------------

    def prepare(self) -> None:
        """What `call` does before writing, for `write_in`'s caller to do before its transaction:
        no new work while an earlier outcome is unknown (OutboxNotClear), and a 终端号 for the msgid."""
        self.require_clear()
        self._ensure_registered()

    def write_in(self, session: Session, operation: Operation, request: Any, *, stay_id: int | None = None,
                 operator_id: int | None = None) -> WrittenCall:
        """Write a call inside the caller's transaction, so that the local record it belongs to and
        the call commit together or not at all (入院登记: the stay and its registration). Call
        `prepare` before the transaction; after the commit send it with `send_written`, or
        `release` it if the transaction rolled back. A process that dies before sending leaves it
        `sent` with no answer: the resolver voids it, as for `call`."""
        if not operation.changes_state:
            raise ValueError(f"{operation} changes nothing: call the centre directly")
        entry_id, msgid = self._insert(session, operation, to_json(request), stay_id, operator_id,
                                       fingerprint=self.centre.fingerprint(operation, request))
        return WrittenCall(entry_id, msgid, operation)

    def send_written(self, written: WrittenCall, send: Callable[[str], R]) -> R:
        """Send a call committed by `write_in`; as `call` after its write."""
        outbox_point(written.operation.value, "written")
        return self._send(written.entry_id, written.msgid, written.operation, send)

    def release(self, written: WrittenCall) -> None:
        """The transaction of `write_in` rolled back: the msgid was never recorded."""
        _mark_landed(written.msgid)

    def _send(self, entry_id: int, msgid: str, operation: Operation, send: Callable[[str], R],
              queued: bool = False) -> R:
        # The call log's record of this exchange is written in the transaction that settles the
        # entry (one commit less per call), or on its own when the outcome stays unknown.
        calls: list[CallRecord] = []
        answered = False
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
                    self._dirty_generation += 1
                log.warning("交易 %s（%s）结果未知：%s；立即按报文编号查询", msgid, operation.label, exc.message)
                # Still ours while we query for it (until `finally`): with uploads in parallel another
                # thread's `require_clear` would otherwise resolve — and void — it at the same time.
                return self._settle_unknown(entry_id, msgid, exc)  # type: ignore[no-any-return]
            except BaseException:
                self._write_calls(calls)
                raise
            outbox_point(operation.value, "answered", queued=queued)
            answered = True
            completed = self._complete(entry_id, operation, result, "reply", calls)
            outbox_point(operation.value, "applied", queued=queued)
            return completed  # type: ignore[no-any-return]
        except Exception as exc:
            if not failures.is_storage_failure(exc):
                raise
            # The entry stays open under our lease: the next call (or the next start) first resolves
            # it by its msgid, never sends the work again (issue 21 §8).
            with self._lock:
                self._dirty = True
            log.error("交易 %s（%s）%s，本机数据库未能记录：%s", msgid, operation.label,
                      "中心已办理" if answered else "已发送", failures.cause(exc), exc_info=True)
            at_the_window = operation is Operation.SETTLEMENT  # the patient pays there and then
            if answered:
                raise failures.centre_done(exc, operation.label, at_the_window=at_the_window) from exc
            raise failures.outcome_unrecorded(exc, operation.label, at_the_window=at_the_window) from exc
        finally:
            _mark_landed(msgid)

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
        fingerprint = self.centre.fingerprint(operation, request)
        with self._sessions.begin() as session:
            seq, msgid = allocate_msgid(session, self.institution_code)
            session.execute(insert(_OUTBOX).values(
                seq=seq, msgid=msgid, txn_code=self.centre.transaction_code(operation), operation=operation.value,
                counter_name=self.counter_name, stay_id=stay_id, operator_id=operator_id, request=to_json(request),
                state=OutboxState.PENDING, attempts=0, fingerprint=fingerprint or None, created_at=now, updated_at=now,
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
            _mark_in_flight(view.msgid)
            try:
                outbox_point(operation.value, "written", queued=True)
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
            if resolution.resolution == FOREIGN:
                raise CentreRefused("FOREIGN_MSGID", resolution.message)
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
        # The exchange's call-log record goes in the transaction that applies the call (one commit,
        # one fsync less per call: a 10,000-line stay makes 100); if that transaction rolls back,
        # the record is written on its own below, as before.
        records = list(calls or [])
        if calls:
            calls.clear()
        try:
            try:
                with self._sessions.begin() as session:
                    self._write_calls(list(records), session)
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
            except BaseException:
                self._write_calls_after_rollback(records)
                raise
        except ForeignResult as foreign:
            message = (f"结算中心的应答不是本机这笔交易的结果（{foreign}）：本机未据此入账，也未冲正。"
                       "请复核人员与结算中心核对这笔交易。")
            log.error("交易 %s 的应答属于另一笔交易（%s）：未入账、未冲正，待复核", entry_id, foreign)
            self._finish(entry_id, OutboxState.FAILED, FOREIGN, message)
            raise CentreRefused("FOREIGN_RESULT", message) from None
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

    def _write_calls_after_rollback(self, records: list[CallRecord]) -> None:
        """The call-log record of an exchange whose applying transaction rolled back, on its own:
        what was sent and answered is kept whatever became of the local effect."""
        try:
            self._write_calls(records)
        except Exception:  # noqa: BLE001 - the applying transaction's failure is the one to report
            log.exception("无法写入结算中心调用日志")

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
        # The original's fingerprint goes with the reversal: a centre holding another call under that
        # msgid refuses to reverse it (it is not ours).
        original_fingerprint = self._fingerprint_of(original_msgid)
        request = {"original_msgid": original_msgid, "original_operation": original.value,
                   "original_fingerprint": original_fingerprint}
        entry_id, msgid = self._write(Operation.REVERSAL, request, None, None, reverses=original_msgid,
                                      fingerprint=self.centre.fingerprint(Operation.REVERSAL, request))
        outbox_point(Operation.REVERSAL.value, "written")
        result: ReversalResult = self._send(
            entry_id, msgid, Operation.REVERSAL,
            lambda m: self.centre.reverse(m, original_msgid, original, original_fingerprint),
        )
        return result

    def _fingerprint_of(self, msgid: str) -> str:
        with self._sessions.begin() as session:
            found = session.scalars(select(OutboxEntry.fingerprint).where(OutboxEntry.msgid == msgid)).first()
        return found or ""

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

    def _claimable_row(self, msgid: str, owner: str | None, until: dt.datetime | None, now: dt.datetime,
                       busy: frozenset[str] = frozenset()) -> bool:
        if msgid in busy or in_flight(msgid):
            return False  # this process is waiting on it (or was when it was read), whichever outbox sent it
        if owner is None or until is None or until <= now:
            return True
        if owner == self.owner:
            return True  # ours, and nobody in this process waits on it any more
        return _owner_is_dead_here(owner)

    def _resolve_entry(self, entry_id: int) -> tuple[Resolution, Any]:
        """Query the centre about one open entry and settle it. Raises CentreUnavailable /
        OutcomeUnknown when the centre cannot tell now (the entry stays open)."""
        with self._sessions.begin() as session:
            entry = session.get(OutboxEntry, entry_id)
            assert entry is not None
            msgid, operation, reverses = entry.msgid, Operation(entry.operation), entry.reverses_msgid
            fingerprint = entry.fingerprint or ""
            if entry.state not in OPEN_STATES:
                return self._view(entry), entry.response
        outcome = self.centre.query_outcome(msgid, operation)
        result: Any = None
        foreign = self._foreign(operation, fingerprint, outcome)
        if foreign is not None:
            # Someone else's call holds this msgid at the centre: ours was never executed under it
            # (a msgid is executed at most once). Never apply it, never reverse it.
            message = (f"报文编号 {msgid} 在结算中心登记的是另一笔交易（{foreign}），不是本机发出的这笔"
                       f"{operation.label}：本机未据此入账，也未冲正；本笔交易未在中心执行。"
                       "请复核人员核对后重新办理。")
            log.error("交易 %s（%s）：中心记录属于另一笔交易（%s），未入账、未冲正，待复核", msgid, operation.label, foreign)
            self._finish(entry_id, OutboxState.FAILED, FOREIGN, message)
        elif outcome.state is OutcomeState.APPLIED:
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
            original_fingerprint = self._fingerprint_of(reverses)
            _mark_in_flight(msgid)
            result = self._send(entry_id, msgid, operation,
                                lambda m: self.centre.reverse(m, reverses, original, original_fingerprint))
        else:
            # Never received: void it so that a delayed copy is refused, then it is not applied.
            self._reverse(msgid, operation)
        with self._sessions.begin() as session:
            entry = session.get(OutboxEntry, entry_id)
            assert entry is not None
            return self._view(entry), result

    def _foreign(self, operation: Operation, fingerprint: str, outcome: CallOutcome) -> str | None:
        """Why the centre's record of the msgid is not our call; None when it is (or nothing is recorded)."""
        if outcome.state in (OutcomeState.UNKNOWN, OutcomeState.VOIDED):
            return None  # no request recorded under it: nothing of anyone's to apply
        if outcome.operation is not operation:
            recorded = outcome.operation.label if outcome.operation is not None else "未说明交易类型"
            return f"中心记录为{recorded}，本机为{operation.label}"
        if fingerprint and outcome.fingerprint != fingerprint:
            return "请求内容与本机发出的不同" if outcome.fingerprint else "中心未能证明是本机发出的请求"
        if outcome.counter_id and outcome.counter_id != self.identity().counter_id:
            return "由另一台终端发出"
        return None

    def _original_operation(self, msgid: str) -> Operation:
        with self._sessions.begin() as session:
            operation = session.scalars(select(OutboxEntry.operation).where(OutboxEntry.msgid == msgid)).one()
        return Operation(operation)

    @staticmethod
    def _view(entry: OutboxEntry) -> Resolution:
        return Resolution(entry.msgid, entry.operation, entry.state, entry.resolution, entry.error or "")

    def _unknown_outcomes(self) -> list[str]:
        """The msgids of sent calls with no known outcome that no one in this process waits on (and
        whose lease allows us to take them). Checked before every call: a narrow Core query,
        usually answered "none"."""
        busy = _in_flight_now()
        with self._sessions.begin() as session:
            rows = session.execute(select(_OUTBOX.c.msgid, _OUTBOX.c.lease_owner, _OUTBOX.c.lease_until)
                                   .where(_OUTBOX.c.state.in_(UNKNOWN_STATES)).order_by(_OUTBOX.c.seq)).all()
        now = dt.datetime.now(dt.UTC)
        return [msgid for msgid, owner, until in rows if self._claimable_row(msgid, owner, until, now, busy)]

    def _mark_clear(self, generation: int, checked: float) -> None:
        with self._lock:
            if self._dirty_generation == generation:  # no unknown outcome arrived meanwhile
                self._dirty = False
            self._clear_checked = checked

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
            crash_point("recovery.entry_resolved")
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
            generation = self._dirty_generation
        if not self._unknown_outcomes():
            self._mark_clear(generation, now_mono)
            return
        self.resolve_open()
        still = self._unknown_outcomes()
        if not still:
            self._mark_clear(generation, time.monotonic())
            return
        if still:
            raise OutboxNotClear(
                f"有 {len(still)} 笔结算中心交易结果尚未确定（{'、'.join(still[:3])}），"
                "结算中心恢复连接并查询处理后才能办理新业务"
            )
