"""What someone with write access to the database file or server would do to hide an action."""

from __future__ import annotations

from sqlalchemy import Connection


def drop_audit_triggers(connection: Connection) -> None:
    """Drop the append-only triggers (migration 0008), as an attacker would before editing."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP TRIGGER audit_event_append_only ON audit_event")
        connection.exec_driver_sql("DROP TRIGGER audit_event_no_truncate ON audit_event")
    else:
        connection.exec_driver_sql("DROP TRIGGER audit_event_no_update")
        connection.exec_driver_sql("DROP TRIGGER audit_event_no_delete")


def recompute_chain_with_sha256(connection: Connection, from_id: int, *, scheme: str | None = None) -> None:
    """Recompute every hash from `from_id` on with plain SHA-256, and the head: all one can do without the key.

    `scheme` also rewrites the per-event marker (e.g. to pass the events off as the old unkeyed chain).
    """
    import hashlib

    from sqlalchemy import select, update

    from app import audit
    from app.db.models import AuditEvent, AuditHead

    table = AuditEvent.__table__
    rows = connection.execute(select(table).where(table.c.id >= from_id).order_by(table.c.id)).mappings().all()
    previous = connection.execute(
        select(table.c.hash).where(table.c.id < from_id).order_by(table.c.id.desc()).limit(1)).scalar()
    prev_hash = previous or audit.GENESIS_HASH
    last_id = None
    for row in rows:
        marker = scheme if scheme is not None else row["hash_scheme"]
        event = AuditEvent(**{**row, "prev_hash": prev_hash, "hash_scheme": marker})
        digest = hashlib.sha256(audit.canonical_bytes(event)).hexdigest()
        connection.execute(update(table).where(table.c.id == row["id"])
                           .values(prev_hash=prev_hash, hash=digest, hash_scheme=marker))
        prev_hash, last_id = digest, row["id"]
    connection.execute(update(AuditHead.__table__).where(AuditHead.__table__.c.id == 1)
                       .values(last_hash=prev_hash, last_event_id=last_id))


def forge_append(connection: Connection, *, scheme: str, action: str = "settlement_cancelled") -> int:
    """Append an event in someone's name, chained with plain SHA-256: INSERT needs no trigger change."""
    import hashlib

    from sqlalchemy import insert, select, update

    from app import audit
    from app.db.models import AuditEvent, AuditHead, utc_now

    table, head = AuditEvent.__table__, AuditHead.__table__
    prev_hash = connection.execute(select(table.c.hash).order_by(table.c.id.desc()).limit(1)).scalar() \
        or audit.GENESIS_HASH
    values = {"occurred_at": utc_now(), "operator_id": None, "counter_name": "1号窗口", "action": action,
              "entity_type": "stay", "entity_id": "7", "detail": {"by": "reviewer"}, "prev_hash": prev_hash,
              "hash_scheme": scheme}
    digest = hashlib.sha256(audit.canonical_bytes(AuditEvent(**values))).hexdigest()
    new_id = connection.execute(insert(table).values(**values, hash=digest).returning(table.c.id)).scalar_one()
    connection.execute(update(head).where(head.c.id == 1).values(
        last_hash=digest, last_event_id=new_id, event_count=head.c.event_count + 1))
    return int(new_id)
