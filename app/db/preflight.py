"""The SQLite file checked before the counter uses it (issue 21 B2).

SQLite turns a missing or 0-byte file into a new empty database without a word, and reads a
damaged one until it reaches the damage: the counter would show "no stays" or three of six and
carry on. So before the engine is made (which would create the file) the file is checked:

- missing: allowed only on a brand-new site. The config folder's `databases.json` records every
  database file this program created or used; a recorded file that is gone, or one whose backups
  exist, has vanished and is refused.
- empty, not a SQLite file, failing `PRAGMA quick_check`, a SQLite file of another program, or
  of a newer version of this one: refused.

The refusal names the newest backup that passes the restore's own check (`app.db.backup`), or
says there is none; nothing is written to the file. PostgreSQL is not checked here (its server
keeps its files; pg_dump / pg_restore are IT's tools).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from app.errors import ConfigurationError, WiCounterError

log = logging.getLogger(__name__)

MARKER_NAME = "databases.json"
SQLITE_HEADER = b"SQLite format 3\x00"


class DatabaseRefused(ConfigurationError):
    """The database file is missing, empty, foreign or damaged: the counter does not start on it."""


def sqlite_path(url: str) -> Path | None:
    """The SQLite file of a database URL, or None (PostgreSQL, in-memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


# --- the record of the databases this program created --------------------------------------------

def _marker(config_dir: Path) -> Path:
    return config_dir / MARKER_NAME


def _key(database: Path) -> str:
    return str(database.expanduser().resolve())


def _read_marker(config_dir: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(_marker(config_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        # An unreadable record must not make a vanished database look like a first run.
        log.warning("无法读取 %s，按已建过数据库处理", _marker(config_dir))
        return {"?": {}}
    databases = data.get("databases") if isinstance(data, dict) else None
    return databases if isinstance(databases, dict) else {}


def _write_marker(config_dir: Path, databases: dict[str, dict[str, object]]) -> None:
    config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = _marker(config_dir)
    temporary = target.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"databases": databases}, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def record_database(config_dir: Path, database: Path, in_use: bool) -> None:
    """Remember that this database exists (`in_use`: it holds this program's schema)."""
    databases = _read_marker(config_dir)
    databases.pop("?", None)
    entry = databases.get(_key(database))
    if entry is not None and (entry.get("in_use") or not in_use):
        return
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    databases[_key(database)] = {"created_at": (entry or {}).get("created_at", now), "in_use": in_use}
    _write_marker(config_dir, databases)


# --- backups ----------------------------------------------------------------------------------

def newest_good_backup(database: Path, backup_dir: Path) -> Path | None:
    """The newest backup of this database that a restore would accept (damaged ones skipped)."""
    from app.db.backup import check_backup_file

    candidates = sorted(backup_dir.glob(f"{database.stem}-*.sqlite3"), key=lambda p: p.stat().st_mtime, reverse=True)
    for candidate in candidates:
        try:
            check_backup_file(candidate)
        except WiCounterError:
            continue
        return candidate
    return None


def _what_to_do(database: Path, backup_dir: Path, config_dir: Path, vanished: bool) -> str:
    backup = newest_good_backup(database, backup_dir)
    if backup is not None:
        taken = dt.datetime.fromtimestamp(backup.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        return (
            f"请关闭所有收费窗口，由信息科用最近的完好备份恢复（本程序的数据库恢复功能）：\n{backup}\n"
            f"（{taken} 的备份）。恢复后请与结算中心对账，补记备份之后办理的业务。"
        )
    advice = f"备份文件夹 {backup_dir} 中没有可用的备份。请联系信息科：从其他备份（如异地备份、U 盘）恢复此文件"
    if vanished:
        return advice + f"；若确认本窗口要从空数据库重新开始，请信息科删除 {_marker(config_dir)} 后再启动。"
    return advice + "；切勿删除它，损坏的文件也许还能修复。"


def _refuse(problem: str, database: Path, backup_dir: Path, config_dir: Path, vanished: bool = False) -> DatabaseRefused:
    log.error("数据库文件 %s 未通过启动检查：%s", database, problem)
    return DatabaseRefused(
        f"{problem}{'程序不会' if vanished else '程序不会使用它，也不会'}新建空数据库代替（住院、结算记录都在原来的数据库中）。\n"
        f"数据库文件：{database}\n{_what_to_do(database, backup_dir, config_dir, vanished)}"
    )


# --- the check ----------------------------------------------------------------------------------

def _problem(database: Path) -> str | None:
    """What is wrong with an existing, non-empty file, or None when it is a sound database of ours."""
    with database.open("rb") as handle:
        header = handle.read(100)
    if not header.startswith(SQLITE_HEADER):
        return "数据库文件不是 SQLite 数据库（可能被其他文件覆盖）。"
    if len(header) < 100:
        return "数据库文件已损坏（文件不完整）。"
    try:
        # mode=rw: never creates the file; nothing is written by these reads.
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=rw", uri=True)
    except sqlite3.Error:
        return "数据库文件无法打开（已损坏或无权读取）。"
    try:
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages, changed, valid_for = (int.from_bytes(header[i:i + 4], "big") for i in (28, 24, 92))
        wal = database.with_name(database.name + "-wal")
        if changed == valid_for and pages and database.stat().st_size < pages * page_size and not (
                wal.exists() and wal.stat().st_size):
            return "数据库文件已损坏（文件被截短）。"
        checked = [str(row[0]) for row in connection.execute("PRAGMA quick_check")]
        if checked != ["ok"]:
            return "数据库文件已损坏（完整性检查未通过）。"
        tables = {str(row[0]) for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return ""  # a SQLite file with no tables: as empty as a 0-byte one
        if "alembic_version" not in tables:
            return "数据库文件不是本程序的数据库。"
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return "数据库文件已损坏（无法读取）。"
    finally:
        connection.close()
    if row is None:
        # `db downgrade base` leaves only Alembic's own table: ours, deliberately emptied by IT.
        return None if tables == {"alembic_version"} else "数据库文件不是本程序的数据库（没有结构版本）。"
    from alembic.script import ScriptDirectory

    from app.db import migrate

    known = {script.revision for script in ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions()}
    if str(row[0]) not in known:
        return f"数据库的结构版本 {row[0]} 比本程序新（或不认识），请用相应版本的程序打开。"
    return None


def damage(database: Path) -> str | None:
    """What is wrong with an existing non-empty file that SQLite cannot be trusted to read, else None."""
    if not database.exists() or database.stat().st_size == 0:
        return None
    problem = _problem(database)
    return problem or None


def check_before_open(url: str, config_dir: Path, backup_dir: Path) -> None:
    """Refuse a SQLite database that is missing-but-expected, empty, foreign or damaged; record a new one."""
    database = sqlite_path(url)
    if database is None:
        return
    entry = _read_marker(config_dir)
    recorded = _key(database) in entry or "?" in entry
    has_backups = backup_dir.is_dir() and any(backup_dir.glob(f"{database.stem}-*.sqlite3"))
    if not database.exists():
        if recorded or has_backups:
            raise _refuse("找不到数据库文件（它曾在此处，可能被删除或移走）。", database, backup_dir, config_dir,
                          vanished=True)
        record_database(config_dir, database, in_use=False)  # first run: this program creates it now
        log.info("首次启动：新建数据库 %s", database)
        return
    problem = "" if database.stat().st_size == 0 else _problem(database)
    if problem == "":
        # Empty: allowed only when this program created it and never finished the first set-up.
        first_run_unfinished = _key(database) in entry and not entry[_key(database)].get("in_use") and not has_backups
        if first_run_unfinished:
            return
        raise _refuse("数据库文件是空的（0 字节或没有任何表），原有数据已不在其中。", database, backup_dir, config_dir)
    if problem is not None:
        raise _refuse(problem, database, backup_dir, config_dir)
    record_database(config_dir, database, in_use=True)
