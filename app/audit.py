"""The audit trail: every significant action, append-only and hash-chained.

Each event's hash covers its content and the previous event's hash, so editing or
deleting any past event breaks the chain from that point on (`verify_chain`). The
chain's head (`audit_head`: last hash and count) is moved with every append, so
deleting the newest events shows as well (`verify_trail`, `wi-counter audit verify`).
Database triggers (migration 0008) refuse UPDATE and DELETE; the chain finds the
change of anyone who drops them. Limitation: someone who drops the triggers, deletes
the newest events and also rewrites the head consistently is not detected from the
database alone; the head hash `audit verify` prints, noted outside, catches that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import AuditEvent, AuditHead, utc_now
from app.masking import mask_ids_in_text

GENESIS_HASH = "0" * 64


def _canonical(
    occurred_at: dt.datetime,
    operator_id: int | None,
    counter_name: str,
    action: str,
    entity_type: str | None,
    entity_id: str | None,
    detail: dict[str, Any],
    prev_hash: str,
) -> bytes:
    payload = {
        "at": occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "operator": operator_id,
        "counter": counter_name,
        "action": action,
        "entity": [entity_type, entity_id],
        "detail": detail,
        "prev": prev_hash,
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


def record(
    session: Session,
    action: str,
    *,
    operator_id: int | None,
    counter_name: str,
    entity_type: str | None = None,
    entity_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the action)."""
    # Details are for reviewers and auditors; ID numbers in them are masked like in the logs.
    clean_detail = json.loads(mask_ids_in_text(json.dumps(detail or {}, ensure_ascii=False, default=str)))
    # Move the head first, by a write: it takes PostgreSQL's row lock and SQLite's write lock
    # (pysqlite runs a lone SELECT outside any transaction), so the predecessor read below is
    # the latest and appends from several connections follow one another instead of forking.
    moved = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(event_count=AuditHead.event_count + 1)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:  # a database made without the migrations (tests' create_all)
        session.add(AuditHead(id=1, last_event_id=None, last_hash=GENESIS_HASH, event_count=1))
        session.flush()
    previous = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()
    prev_hash = previous.hash if previous is not None else GENESIS_HASH
    occurred_at = utc_now()
    entity_key = None if entity_id is None else str(entity_id)
    digest = hashlib.sha256(
        _canonical(occurred_at, operator_id, counter_name, action, entity_type, entity_key, clean_detail, prev_hash)
    ).hexdigest()
    event = AuditEvent(
        occurred_at=occurred_at,
        operator_id=operator_id,
        counter_name=counter_name,
        action=action,
        entity_type=entity_type,
        entity_id=entity_key,
        detail=clean_detail,
        prev_hash=prev_hash,
        hash=digest,
    )
    session.add(event)
    session.flush()
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_event_id=event.id, last_hash=digest))
    return event


@dataclass(frozen=True)
class ChainProblem:
    event_id: int | None  # None: a problem of the head, not of one event
    message: str


def verify_chain(events: Iterable[AuditEvent]) -> list[ChainProblem]:
    """Check every event against its content and its predecessor, in id order."""
    problems: list[ChainProblem] = []
    expected_prev = GENESIS_HASH
    for event in events:
        if event.prev_hash != expected_prev:
            problems.append(ChainProblem(event.id, "前一条记录的校验值不符：有记录被删除或插入"))
        digest = hashlib.sha256(
            _canonical(
                event.occurred_at, event.operator_id, event.counter_name, event.action,
                event.entity_type, event.entity_id, event.detail, event.prev_hash,
            )
        ).hexdigest()
        if digest != event.hash:
            problems.append(ChainProblem(event.id, "记录内容与校验值不符：记录被修改"))
        expected_prev = event.hash
    return problems


@dataclass(frozen=True)
class TrailReport:
    """What `verify_trail` found: the events checked, the head, and every problem."""

    checked: int
    head_hash: str
    head_count: int | None
    problems: list[ChainProblem]

    @property
    def intact(self) -> bool:
        return not self.problems


def _events_in_order(session: Session) -> Iterator[AuditEvent]:
    # In batches: a counter's trail grows by thousands of events a month.
    yield from session.scalars(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000))


def verify_trail(session: Session) -> TrailReport:
    """Check the whole trail: every event's hash, every link, and the stored head against the last event."""
    checked = 0
    last: AuditEvent | None = None

    def counted() -> Iterator[AuditEvent]:
        nonlocal checked, last
        for event in _events_in_order(session):
            checked += 1
            last = event
            yield event

    problems = verify_chain(counted())
    head = session.get(AuditHead, 1)
    last_hash = last.hash if last is not None else GENESIS_HASH
    if head is None:
        problems.append(ChainProblem(None, "缺少链头记录（audit_head）：无法判断末尾记录是否被删除"))
        return TrailReport(checked, last_hash, None, problems)
    if head.last_hash != last_hash:
        problems.append(ChainProblem(
            head.last_event_id,
            f"链头记录的最后一条（编号 {head.last_event_id}）与现存最后一条不符：末尾记录被删除或替换",
        ))
    if head.event_count != checked:
        problems.append(ChainProblem(
            None, f"记录条数与链头不符：链头记 {head.event_count} 条，现存 {checked} 条",
        ))
    return TrailReport(checked, head.last_hash, head.event_count, problems)
