"""Every call to the centre and its outcome, kept in the database (like hsa-his's `insure_function_log`).

An adapter reports each exchange to a `CallRecorder` — reply, refusal, timeout, unreachable
centre, dropped or malformed reply — so support can answer "what did we send, what came back"
for any msgid. The log holds the transaction's input and output, never the signing key, never an
e-card token (a bearer credential for the holder's data while it is valid) and no whole ID number
(masked as in the logs: `440802********1233`).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import CentreCallLog
from app.masking import mask_ids_in_text

log = logging.getLogger(__name__)

_CALL_LOG = cast(Table, CentreCallLog.__table__)
TOKEN_KEPT_AS = "（电子社保卡令牌，不记录）"


@functools.lru_cache(maxsize=4096)
def _is_token_key(key: Any) -> bool:
    # Asked for every key of every line of every call (20,000-line replies): the few key names cached.
    return "token" in str(key).lower()


def _kept(value: Any) -> Any:
    """What the call log keeps of a request or reply: ID numbers masked, e-card tokens dropped."""
    if isinstance(value, str):
        return mask_ids_in_text(value)
    if isinstance(value, list):
        return [_kept(item) for item in value]
    if not isinstance(value, dict):
        return value
    kept = {key: TOKEN_KEPT_AS if _is_token_key(key) else _kept(item) for key, item in value.items()}
    if kept.get("by") == "ecard_token" and "value" in kept:  # a person lookup by e-card (1101)
        kept["value"] = TOKEN_KEPT_AS
    return kept


class CallOutcomeKind(enum.StrEnum):
    OK = "ok"  # the centre did it
    REFUSED = "refused"  # the centre answered with an error code: nothing applied
    UNREACHABLE = "unreachable"  # no connection: nothing sent
    TIMEOUT = "timeout"  # sent, no answer in time: outcome unknown
    DROPPED = "dropped"  # sent, the connection broke: outcome unknown
    MALFORMED = "malformed"  # an answer that is not a valid, signed reply: outcome unknown


@dataclass(frozen=True)
class CallRecord:
    msgid: str
    txn_code: str
    operation: str
    operator_code: str | None
    started_at: dt.datetime
    duration_ms: int
    outcome: CallOutcomeKind
    error_code: str | None
    message: str | None
    centre_ref: str | None
    request: dict[str, Any]
    response: dict[str, Any] | None


class CallRecorder(Protocol):
    def __call__(self, record: CallRecord) -> None: ...


class DatabaseCallLog:
    """Writes each call to `centre_call_log`: in a transaction of its own, or — while the outbox
    is `collecting` on this thread — in the outbox's own transaction that settles the call."""

    def __init__(self, sessions: sessionmaker[Session], counter_name: str) -> None:
        self._sessions = sessions
        self._counter_name = counter_name
        self._local = threading.local()

    @contextmanager
    def collecting(self, into: list[CallRecord]) -> Iterator[list[CallRecord]]:
        previous = getattr(self._local, "buffer", None)
        self._local.buffer = into
        try:
            yield into
        finally:
            self._local.buffer = previous

    def write(self, session: Session, records: list[CallRecord]) -> None:
        # Core inserts: one per call to the centre, so kept cheap.
        session.execute(insert(_CALL_LOG), [{
            "msgid": r.msgid, "txn_code": r.txn_code, "operation": r.operation, "counter_name": self._counter_name,
            "operator_code": r.operator_code, "started_at": r.started_at, "duration_ms": r.duration_ms,
            "outcome": r.outcome.value, "error_code": r.error_code,
            "message": mask_ids_in_text(r.message) if r.message is not None else None,
            "centre_ref": r.centre_ref, "request": _kept(r.request), "response": _kept(r.response),
        } for r in records])

    def __call__(self, record: CallRecord) -> None:
        buffer = getattr(self._local, "buffer", None)
        if buffer is not None:
            buffer.append(record)
            return
        try:
            with self._sessions.begin() as session:
                self.write(session, [record])
        except SQLAlchemyError:
            # The outbox keeps what matters for money; a call log that cannot be written must not
            # turn a settled call into an error for the clerk.
            log.exception("无法写入结算中心调用日志（报文编号 %s）", record.msgid)


def calls_for(session: Session, msgid: str) -> list[CentreCallLog]:
    return list(session.scalars(select(CentreCallLog).where(CentreCallLog.msgid == msgid).order_by(CentreCallLog.id)))


def recent_calls(session: Session, limit: int = 50) -> list[CentreCallLog]:
    return list(session.scalars(select(CentreCallLog).order_by(CentreCallLog.id.desc()).limit(limit)))
