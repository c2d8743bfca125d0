"""Patients' data on disk is readable by the user only: the SQLite file and its -wal / -journal, the
folders, the slip archive, backups and logs (also after a rotation), whatever the umask."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.bootstrap import open_counter
from app.db import backup
from app.db.engine import make_engine
from app.logging_setup import configure_logging
from app.rules.case import read_case_file
from app.rules.settlement import compute
from app.slips import archive_folder, archive_slip, slip_from_case
from tests.test_slips import SAMPLE

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    # A site's default umask may let the group and others read: the program must not rely on it.
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def test_the_database_its_companions_and_the_folders_are_private(isolated_home: Path) -> None:
    ctx = open_counter(demo=False)
    try:
        database = ctx.paths.default_database_file
        with ctx.engine.connect() as connection:  # a write, held open: the -wal and -shm exist now
            connection.execute(text("CREATE TABLE scratch (x INTEGER)"))
            connection.commit()
            companions = [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]
            assert all(path.exists() for path in companions)
            for path in (database, *companions):
                assert _mode(path) == 0o600, path
        for folder in (ctx.paths.config_dir, ctx.paths.data_dir, ctx.paths.log_dir, ctx.paths.backup_dir):
            assert _mode(folder) == 0o700, folder
        assert _mode(ctx.paths.log_file) == 0o600
        copy = backup.backup(ctx.engine, ctx.paths.backup_dir)
        assert _mode(copy) == 0o600
    finally:
        ctx.close()


def test_a_rollback_journal_is_private_too(tmp_path: Path) -> None:
    database = tmp_path / "private" / "journal.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode = DELETE")
            connection.exec_driver_sql("PRAGMA journal_mode = PERSIST")  # the journal stays to be looked at
            connection.execute(text("CREATE TABLE scratch (x INTEGER)"))
            connection.commit()
        journal = database.with_name(database.name + "-journal")
        assert journal.exists() and _mode(journal) == 0o600
        assert _mode(database.parent) == 0o700
    finally:
        engine.dispose()


def test_the_slip_archive_is_private(isolated_home: Path, tmp_path: Path) -> None:
    case = read_case_file(SAMPLE)
    folder = archive_folder("", isolated_home / "data")
    path = archive_slip(folder, slip_from_case(case, compute(case)), b"%PDF-1.4 test")
    assert _mode(folder) == 0o700 and _mode(path) == 0o600


def test_a_rotated_log_file_stays_private(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "wi-counter.log"
    configure_logging(log_file, "INFO", keep_files=2)
    try:
        handler = next(h for h in logging.getLogger().handlers if getattr(h, "baseFilename", None) == str(log_file))
        logging.getLogger("test").info("第一个文件")
        handler.doRollover()  # type: ignore[attr-defined]
        logging.getLogger("test").info("轮换后的文件")
        assert _mode(log_file) == 0o600
        assert _mode(log_file.with_name("wi-counter.log.1")) == 0o600
    finally:
        configure_logging(tmp_path / "other.log")
