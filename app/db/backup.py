"""`wi-counter db backup` / `db restore`: the SQLite file copied and put back safely.

Both go through SQLite's online backup API (`sqlite3.Connection.backup`): the copy is
consistent while the counter runs (WAL included), and a restore writes into the live
file page by page in one transaction, so no stale `-wal` file is ever paired with a
replaced main file. A PostgreSQL database is backed up with the server's own tools
(`pg_dump` / `pg_restore`); the command prints how.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from app.db import migrate, preflight
from app.errors import WiCounterError

log = logging.getLogger(__name__)


def sqlite_file(engine: Engine) -> Path | None:
    """The SQLite file behind the engine, or None for PostgreSQL / in-memory."""
    if engine.url.get_backend_name() != "sqlite":
        return None
    database = engine.url.database
    return Path(database) if database and database != ":memory:" else None


def postgres_instructions(engine: Engine) -> str:
    """How to back up and restore a shared PostgreSQL database (password-free)."""
    url = engine.url
    host, port, name, user = url.host or "localhost", url.port or 5432, url.database or "", url.username or "postgres"
    stamp = dt.datetime.now().strftime("%Y%m%d")
    return (
        "数据库为 PostgreSQL：请由信息科在数据库服务器上用 pg_dump 备份、pg_restore 恢复。\n"
        "The database is PostgreSQL: back it up with pg_dump and restore it with pg_restore.\n"
        f"  备份 / backup:   pg_dump -h {host} -p {port} -U {user} -Fc -f wi-counter-{stamp}.dump {name}\n"
        f"  恢复 / restore:  pg_restore -h {host} -p {port} -U {user} --clean --if-exists -d {name} wi-counter-{stamp}.dump\n"
        "  恢复前请关闭所有收费窗口；恢复后运行 wi-counter db upgrade，再由管理员运行\n"
        "  wi-counter db restore-check --restored 备份文件（与结算中心核对备份之后办理的登记、结算）。\n"
        "  Close every counter before restoring; run wi-counter db upgrade afterwards, then (administrator)\n"
        "  wi-counter db restore-check --restored FILE (reconcile with the centre)."
    )


def _copy(source: sqlite3.Connection, target: Path) -> None:
    # Created 0600 before SQLite opens it, so the copy is never readable by others.
    descriptor = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(descriptor)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
    finally:
        destination.close()


def backup(engine: Engine, backup_dir: Path, out: Path | None = None) -> Path:
    """Copy the SQLite database to `out`, or to a timestamped file in the backups folder."""
    database = sqlite_file(engine)
    if database is None:
        raise WiCounterError("PostgreSQL 数据库请用 pg_dump 备份（见 wi-counter db backup 的说明）。")
    if out is None:
        backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        out = backup_dir / f"{database.stem}-{stamp}-manual.sqlite3"
    if out.exists():
        raise WiCounterError(f"备份文件已存在，不会覆盖：{out}")
    source = sqlite3.connect(database)
    try:
        _copy(source, out)
    finally:
        source.close()
    log.info("已备份数据库到 %s", out)
    return out


@dataclass(frozen=True)
class RestoreResult:
    restored_from: Path
    safety_backup: Path
    backup_revision: str
    revision: str | None

    @property
    def migrated(self) -> bool:
        return self.backup_revision != self.revision


def check_backup_file(path: Path) -> str:
    """The backup's schema revision, or a refusal in Chinese: not a file, not a database, damaged, foreign, newer."""
    if not path.is_file():
        raise WiCounterError(f"找不到备份文件：{path}")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise WiCounterError(f"无法打开备份文件 {path.name}：{exc}") from exc
    try:
        try:
            integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            raise WiCounterError(f"{path.name} 不是有效的数据库备份文件（{exc}），未做任何更改。") from exc
        if integrity != ["ok"]:
            raise WiCounterError(f"备份文件 {path.name} 已损坏（{'；'.join(integrity[:3])}），未做任何更改。")
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise WiCounterError(f"{path.name} 不是本程序的数据库备份（没有结构版本），未做任何更改。") from exc
    finally:
        connection.close()
    if row is None:
        raise WiCounterError(f"{path.name} 不是本程序的数据库备份（没有结构版本），未做任何更改。")
    revision = str(row[0])
    known = {script.revision for script in ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions()}
    if revision not in known:
        raise WiCounterError(
            f"备份文件的数据库结构版本 {revision} 比本程序新（或不认识），请用相应版本的程序恢复；未做任何更改。"
        )
    return revision


def _set_aside(database: Path, backup_dir: Path) -> Path:
    """Move a damaged database file (and its WAL) into the backups folder; a new empty file takes its place."""
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = backup_dir / f"{database.stem}-{stamp}-damaged.sqlite3"
    shutil.move(database, target)
    for suffix in ("-wal", "-shm"):
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            shutil.move(companion, target.with_name(target.name + suffix))
    descriptor = os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(descriptor)
    log.warning("已将损坏的数据库文件移到 %s", target)
    return target


def restore(engine: Engine, source: Path, backup_dir: Path, keep: int) -> RestoreResult:
    """Replace the SQLite database with a checked backup; the current one is backed up first, then migrated."""
    database = sqlite_file(engine)
    if database is None:
        raise WiCounterError("PostgreSQL 数据库请用 pg_restore 恢复（见 wi-counter db backup 的说明）。")
    if source.resolve() == database.resolve():
        raise WiCounterError("不能用数据库文件本身恢复它自己。")
    backup_revision = check_backup_file(source)
    engine.dispose()  # this process holds no connection while the file is replaced
    if preflight.damage(database) is not None:
        # SQLite cannot copy (or write into) a damaged file: it is moved aside whole for IT instead.
        safety = _set_aside(database, backup_dir)
    else:
        safety = migrate.backup_sqlite(database, backup_dir, "before-restore", keep)
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        live = sqlite3.connect(database)
        try:
            reader.backup(live)
        finally:
            live.close()
    finally:
        reader.close()
    log.warning("已用 %s 恢复数据库（恢复前的数据库已备份到 %s）", source, safety)
    result = migrate.upgrade(engine)  # a backup from an older program is brought to this one's schema
    return RestoreResult(source, safety, backup_revision, result.to_revision)
