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
