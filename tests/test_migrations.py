"""The migration chain runs up and down on SQLite and PostgreSQL, and matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from app.bootstrap import open_counter
from app.db import migrate
from app.db.engine import make_engine
from app.db.models import Base


def _tables(engine) -> set[str]:  # type: ignore[no-untyped-def]
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_up_down_up(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        result = migrate.upgrade(engine)
        assert result.from_revision is None
        assert result.to_revision == migrate.head_revision()
        assert _tables(engine) == set(Base.metadata.tables)

        migrate.downgrade(engine, "0001")
        assert _tables(engine) == {"institution", "operator", "audit_event"}
        migrate.downgrade(engine, "base")
        assert _tables(engine) == set()
        assert migrate.current_revision(engine) is None

        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_migrations_match_the_models(db_url: str) -> None:
    """A model changed without a migration shows up here as a difference."""
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_upgrading_a_sqlite_file_backs_it_up_first(tmp_path: Path) -> None:
    database = tmp_path / "data" / "wi-counter.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    migrate.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO institution (code, name, province, city, city_code, level, direct_settlement, created_at) "
            "VALUES ('H44080100001', '旧库医院', '广东省', '湛江市', '440800', '三级', 1, '2026-01-01 00:00:00')"
        ))
    engine.dispose()

    # The program migrates on start, after a backup of the file as it was.
    context = open_counter(home=tmp_path)
    try:
        assert context.migration is not None
        assert context.migration.from_revision == "0001"
        assert context.migration.to_revision == migrate.head_revision()
        backup = context.migration.backup
        assert backup is not None and backup.parent == context.paths.backup_dir
        assert (backup.stat().st_mode & 0o077) == 0
    finally:
        context.close()
    old = make_engine(f"sqlite:///{backup}")
    try:
        assert migrate.current_revision(old) == "0001"
        with old.connect() as connection:
            assert connection.execute(text("SELECT name FROM institution")).scalar_one() == "旧库医院"
    finally:
        old.dispose()


def test_a_fresh_database_needs_no_backup_and_a_current_one_is_left_alone(tmp_path: Path) -> None:
    first = open_counter(home=tmp_path)
    first.close()
    assert first.migration is not None and first.migration.backup is None
    second = open_counter(home=tmp_path)
    second.close()
    assert second.migration is not None and not second.migration.changed
    assert not any(second.paths.backup_dir.glob("*.sqlite3"))
