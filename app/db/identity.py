"""What a database is — a site's or a demo's — written once, when it is created.

`migrate.upgrade` writes the marker when it creates the schema in an empty database (the
`database_identity` table, migration 0011). Demo data, whose operators share the public password
demo1234, goes only into a database marked `demo`: `--demo` refuses any other (`require_demo`), and
`app.demo.seed_demo` refuses too. A database that predates the marker counts as a site's.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, insert, inspect, select
from sqlalchemy.orm import Session

from app.db.models import DatabaseIdentity, utc_now
from app.errors import ConfigurationError

SITE = "site"
DEMO = "demo"

NOT_A_DEMO_DATABASE = (
    "此数据库不是演示数据库（{where}），演示模式不会使用它，也不会向其中写入演示数据和演示账号。"
    "请去掉数据库地址（或环境变量 WI_COUNTER_DB_URL）后再以演示模式运行，演示模式会使用自己的演示数据库。"
)


def _has_table(connection: Connection) -> bool:
    return inspect(connection).has_table(DatabaseIdentity.__tablename__)


def kind_of(connection: Connection) -> str | None:
    """`site`, `demo`, or None (no marker: an older database, or a schema below migration 0011)."""
    if not _has_table(connection):
        return None
    return connection.execute(select(DatabaseIdentity.kind).order_by(DatabaseIdentity.id).limit(1)).scalar()


def database_kind(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return kind_of(connection)


def mark(connection: Connection, kind: str) -> bool:
    """Write the marker unless there is one already (a database never changes what it is). True if written."""
    if kind not in (SITE, DEMO):
        raise ValueError(kind)
    if not _has_table(connection) or kind_of(connection) is not None:
        return False
    connection.execute(insert(DatabaseIdentity).values(id=1, kind=kind, created_at=utc_now()))
    return True


def require_demo(session: Session, where: str) -> None:
    """Refuse demo data for any database not created as a demo."""
    if kind_of(session.connection()) != DEMO:
        raise ConfigurationError(NOT_A_DEMO_DATABASE.format(where=where))


def check_demo_database(engine: Engine, url: str, own_demo_url: str, where: str) -> None:
    """Demo mode's check at start: the database must have been created as a demo.

    An empty database is let through (it becomes a demo when migrated with kind `demo`). The demo
    folder's own SQLite file, created before the marker existed, is marked now: that file is the demo's
    by where it lives, never a site's."""
    from app.db.migrate import current_revision

    if current_revision(engine) is None:
        return
    with engine.begin() as connection:
        kind = kind_of(connection)
        if kind is None and url == own_demo_url:
            mark(connection, DEMO)
            return
    if kind != DEMO:
        raise ConfigurationError(NOT_A_DEMO_DATABASE.format(where=where))
