"""The migration chain runs up and down on SQLite and PostgreSQL, and matches the models."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from app.bootstrap import open_counter
from app.db import migrate
from app.db.engine import make_engine
from app.db.models import Base

# The chain itself is under test here, not the head schema the other tests replay (tests/conftest.py).
pytestmark = pytest.mark.real_migrations


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


@pytest.mark.real_migrations
def test_the_replayed_head_schema_of_the_tests_is_the_chains(tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    """The other tests' new SQLite databases get the head schema replayed (tests/conftest.py): it
    must be exactly what the 16 migrations build, tables, indexes, triggers and seeded rows alike."""
    from tests.conftest import _HeadTemplate

    template = _HeadTemplate(tmp_path)
    built = make_engine(f"sqlite:///{tmp_path / 'chain.sqlite3'}")
    replayed = make_engine(f"sqlite:///{tmp_path / 'replayed.sqlite3'}")
    try:
        migrate.upgrade(built)
        with replayed.begin() as connection:
            assert template.applies(connection, "head")
            template.replay(connection)
        with replayed.connect() as connection:
            assert not template.applies(connection, "head")  # only an empty database is replayed into

        def normalised(sql: str | None) -> tuple[str, ...]:
            # SQLite's table copies (batch migrations) write the constraints in set order, which
            # differs run by run: a table is the same table whatever order its clauses come in.
            return tuple(sorted(part.strip().rstrip(",") for part in (sql or "").split("\n")))

        def contents(engine) -> tuple[list[tuple[str, str, tuple[str, ...]]], dict[str, list[tuple[object, ...]]]]:  # type: ignore[no-untyped-def]
            with engine.connect() as connection:
                schema = sorted((kind, name, normalised(sql)) for kind, name, sql in connection.execute(text(
                    "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")))
                rows = {name: sorted(tuple(row) for row in connection.execute(text(f'SELECT * FROM "{name}"')))
                        for kind, name, _sql in schema if kind == "table" and name != "database_identity"}
            return schema, rows

        assert contents(replayed) == contents(built)
        assert migrate.current_revision(replayed) == migrate.head_revision()
    finally:
        built.dispose()
        replayed.dispose()


@pytest.mark.real_migrations
@pytest.mark.postgres
def test_the_replayed_postgresql_chain_of_the_tests_builds_the_chains_schema() -> None:
    """On PostgreSQL the tests replay the statements the chain sent to their first database
    (tests/conftest.py): a second database built so has the chain's tables, columns, constraints,
    triggers and seeded rows."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from tests.conftest import _RecordedChain, _postgres_server_url

    server = _postgres_server_url()
    assert server is not None
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    run = uuid.uuid4().hex[:8]
    names = [f"wi_test_chain_{n}_{run}" for n in ("real", "recorded", "replayed")]
    engines = []
    try:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        engines = [make_engine(make_url(server).set(database=name).render_as_string(hide_password=False))
                   for name in names]
        real, recorded, replayed = engines
        migrate.upgrade(real)
        chain = _RecordedChain()
        for engine in (recorded, replayed):
            with engine.begin() as connection:
                assert chain.applies(connection, "head")
                chain.run(connection, migrate.alembic_config(connection))
        with replayed.connect() as connection:
            assert not chain.applies(connection, "head")

        def contents(engine) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
            with engine.connect() as connection:
                columns = sorted(tuple(row) for row in connection.execute(text(
                    "SELECT table_name, column_name, data_type, is_nullable, column_default "
                    "FROM information_schema.columns WHERE table_schema = 'public'")))
                constraints = sorted(tuple(row) for row in connection.execute(text(
                    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE connamespace = 'public'::regnamespace")))
                indexes = sorted(tuple(row) for row in connection.execute(text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")))
                triggers = sorted(tuple(row) for row in connection.execute(text(
                    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal")))
                seeded = sorted(tuple(row) for row in connection.execute(text("SELECT * FROM audit_head")))
                version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            return columns, constraints, indexes, triggers, seeded, version

        assert contents(replayed) == contents(real)
        assert contents(recorded) == contents(real)
    finally:
        for engine in engines:
            engine.dispose()
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
