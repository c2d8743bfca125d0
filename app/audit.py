"""The audit trail: every significant action, append-only and hash-chained.

Each event's hash covers its content and the previous event's hash, so editing or
deleting any past event breaks the chain from that point on (`verify_chain`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import AuditEvent, utc_now
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
    return event


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
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
