"""`wi-counter db backup` / `db restore`: SQLite online backup, user-only files, checked restores."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from app import audit
from app.cli import main
from app.db import migrate
from app.db.engine import make_engine, make_session_factory, sqlite_url


def _database(home: Path) -> Path:
    return home / "data" / "wi-counter.sqlite3"


def _add_event(home: Path, action: str) -> None:
    engine = make_engine(sqlite_url(_database(home)))
    try:
        with make_session_factory(engine).begin() as session:
            audit.record(session, action, operator_id=None, counter_name="1号窗口")
    finally:
        engine.dispose()


def _actions(database: Path) -> list[str]:
    connection = sqlite3.connect(database)
    try:
        return [row[0] for row in connection.execute("SELECT action FROM audit_event ORDER BY id")]
    finally:
        connection.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def counter(isolated_home: Path) -> Path:
    assert main(["db", "upgrade"]) == 0
    _add_event(isolated_home, "before_backup")
    return isolated_home


def test_a_backup_is_a_timestamped_user_only_copy_in_the_backups_folder(
        counter: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["db", "backup"]) == 0
    printed = capsys.readouterr().out
    backups = list((counter / "backups").glob("wi-counter-*-manual.sqlite3"))
    assert len(backups) == 1 and str(backups[0]) in printed
    assert _mode(backups[0]) == 0o600
    assert _actions(backups[0]) == ["before_backup"]


def test_a_backup_to_a_named_file_never_overwrites(counter: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "copy.sqlite3"
    assert main(["db", "backup", "--out", str(out)]) == 0
    assert _mode(out) == 0o600 and _actions(out) == ["before_backup"]
    assert main(["db", "backup", "--out", str(out)]) == 1
    assert "已存在" in capsys.readouterr().err


def test_postgresql_gets_pg_dump_instructions(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", postgres_url, "db", "backup"]) == 0
    out = capsys.readouterr().out
    assert "pg_dump" in out and "pg_restore" in out and "-Fc" in out


def test_restore_puts_the_backup_back_and_keeps_the_current_database(
        counter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "saved.sqlite3"
    assert main(["db", "backup", "--out", str(saved)]) == 0
    _add_event(counter, "after_backup")
    capsys.readouterr()
    assert main(["db", "restore", str(saved)]) == 0
    out = capsys.readouterr().out
    assert _actions(_database(counter)) == ["before_backup", "db_restored"]  # the restore itself is audited
    safety = next((counter / "backups").glob("wi-counter-*-before-restore.sqlite3"))
    assert str(safety) in out and _mode(safety) == 0o600
    assert _actions(safety) == ["before_backup", "after_backup"]
    # The restored trail is whole again, head included.
    engine = make_engine(sqlite_url(_database(counter)))
    try:
        with make_session_factory(engine)() as session:
            assert audit.verify_trail(session).intact
    finally:
        engine.dispose()


def test_a_backup_from_an_older_schema_is_migrated_after_restoring(
        counter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.sqlite3"
    engine = make_engine(sqlite_url(old))
    migrate.upgrade(engine, "0007")
    engine.dispose()
    capsys.readouterr()
    assert main(["db", "restore", str(old)]) == 0
    assert f"0007 → {migrate.head_revision()}" in capsys.readouterr().out
    engine = make_engine(sqlite_url(_database(counter)))
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["text", "foreign_sqlite", "newer_schema", "missing"])
def test_a_file_that_is_not_a_backup_is_refused_and_nothing_changes(
        counter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    candidate = tmp_path / "candidate.sqlite3"
    if kind == "text":
        candidate.write_text("这不是数据库 / not a database\n" * 100, encoding="utf-8")
    elif kind in ("foreign_sqlite", "newer_schema"):
        connection = sqlite3.connect(candidate)
        connection.execute("CREATE TABLE something (x)")
        if kind == "newer_schema":
            connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
            connection.execute("INSERT INTO alembic_version VALUES ('9999')")
        connection.commit()
        connection.close()
    before = _database(counter).read_bytes()
    capsys.readouterr()
    assert main(["db", "restore", str(candidate)]) == 1
    err = capsys.readouterr().err
    expected = {"text": "不是有效的数据库备份文件", "foreign_sqlite": "不是本程序的数据库备份",
                "newer_schema": "比本程序新", "missing": "找不到备份文件"}[kind]
    assert expected in err
    assert _database(counter).read_bytes() == before
    assert not list((counter / "backups").glob("*before-restore*"))
    assert _actions(_database(counter)) == ["before_backup"]


def test_restore_does_not_apply_to_postgresql(postgres_url: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    engine.dispose()
    assert main(["--db", postgres_url, "db", "restore", str(tmp_path / "x.dump")]) == 0
    assert "pg_restore" in capsys.readouterr().out
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT COUNT(*) FROM operator")).scalar_one() == 0
    finally:
        engine.dispose()
