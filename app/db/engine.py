"""Creating the engine: SQLite by default (WAL, foreign keys on), PostgreSQL for shared use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

import app.db.guards  # noqa: F401 - installs the append-only hooks wherever the database is used
from app.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 5000


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _prepare_sqlite_file(path: Path) -> None:
    """Create the file readable by the user only, before SQLite creates it with the umask."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(descriptor)


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    # FULL, not NORMAL: with NORMAL a commit can be undone by a power cut, and the outbox row of a
    # call already sent to the centre must survive one (else the counter forgets a settlement the
    # centre applied). An fsync per commit is cheap beside a round trip to the centre.
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def make_engine(url: str, echo: bool = False) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"数据库地址格式错误：{url!r}（{exc}）") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _prepare_sqlite_file(Path(parsed.database))
        engine = create_engine(parsed, echo=echo)
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    if backend == "postgresql":
        if parsed.password is None:
            password = _keyring_database_password()
            if password is not None:
                parsed = parsed.set(password=password)
        return create_engine(parsed, echo=echo, pool_pre_ping=True)
    raise ConfigurationError(f"不支持的数据库类型 {backend}：请使用 SQLite 或 PostgreSQL。")


def _keyring_database_password() -> str | None:
    """The shared database's password, if the site stored one (`wi-counter secret set database`)."""
    from app.errors import NoSecureStoreError
    from app.secret_store import DATABASE_PASSWORD, get_secret

    try:
        return get_secret(DATABASE_PASSWORD)
    except NoSecureStoreError:
        return None  # no keyring: the server may still trust this host (peer, cert, pg_hba)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay usable after commit: services hand them to the UI thread read-only.
    return sessionmaker(engine, expire_on_commit=False)


def describe(engine: Engine) -> str:
    """Short, password-free description for the status bar and logs."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"SQLite {Path(url.database or '').name}"
    return f"PostgreSQL {url.host or 'localhost'}:{url.port or 5432}/{url.database}"
