"""Schema migrations (Alembic), with a backup of the SQLite file before each upgrade.

The program migrates on start (`app.bootstrap`); IT can also run
`wi-counter db upgrade`. On PostgreSQL an advisory lock makes counters that start
at the same moment migrate one after the other.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 727_274_001  # any constant: the lock's identity for all counters


@dataclass(frozen=True)
class MigrationResult:
    from_revision: str | None
    to_revision: str | None
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.from_revision != self.to_revision


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migration chain is empty"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _sqlite_file(engine: Engine) -> Path | None:
    if engine.url.get_backend_name() != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database)


def backup_sqlite(database: Path, backup_dir: Path, label: str, keep: int) -> Path:
    """Copy the live database with SQLite's online backup (consistent even under WAL)."""
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = backup_dir / f"{database.stem}-{stamp}-{label}.sqlite3"
    source = sqlite3.connect(database)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    target.chmod(0o600)
    backups = sorted(backup_dir.glob(f"{database.stem}-*.sqlite3"))
    for old in backups[:-keep]:
        old.unlink()
    log.info("已备份数据库到 %s", target)
    return target


def upgrade(engine: Engine, revision: str = "head", backup_dir: Path | None = None, keep: int = 20,
            kind: str = "site") -> MigrationResult:
    """Bring the schema to `revision`, backing up a SQLite file first if anything will change.

    A database created here (empty before) is marked `kind` — a site's or a demo's (`app.db.identity`)."""
    before = current_revision(engine)
    target = head_revision() if revision == "head" else revision
    backup: Path | None = None
    database = _sqlite_file(engine)
    if before != target and before is not None and database is not None and backup_dir is not None:
        backup = backup_sqlite(database, backup_dir, f"before-{target}", keep)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), revision)
        if before is None:
            from app.db.identity import mark

            mark(connection, kind)  # in the creating transaction: no window without the marker
    after = current_revision(engine)
    if before != after:
        log.info("数据库结构已从 %s 升级到 %s", before or "空库", after)
    return MigrationResult(before, after, backup)


def downgrade(engine: Engine, revision: str) -> MigrationResult:
    before = current_revision(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        command.downgrade(alembic_config(connection), revision)
    return MigrationResult(before, current_revision(engine), None)
