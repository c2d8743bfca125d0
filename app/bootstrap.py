"""Opening a counter: folders, settings, logging, database (migrated, backed up), demo data.

Both the GUI and the command line start here, so they see the same counter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app import __version__
from app.db import migrate, preflight
from app.db.engine import describe, make_engine, make_session_factory, sqlite_url
from app.db.identity import DEMO, SITE, check_demo_database
from app.errors import ConfigurationError
from app.logging_setup import configure_logging
from app.paths import AppPaths, resolve_paths
from app.settings import BACKUP_KEEP, COUNTER_NAME, LOG_KEEP_FILES, LOG_LEVEL, Settings

log = logging.getLogger(__name__)


@dataclass
class CounterContext:
    paths: AppPaths
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    migration: migrate.MigrationResult | None

    @property
    def demo(self) -> bool:
        return self.paths.demo

    @property
    def counter_name(self) -> str:
        return self.settings.get(COUNTER_NAME)

    @property
    def database_description(self) -> str:
        return describe(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back on any error."""
        with self.sessions.begin() as session:
            yield session

    def check_database(self) -> None:
        """Raise if the database cannot be reached (for the status bar's periodic check)."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        self.engine.dispose()


def database_url(paths: AppPaths, settings: Settings, override: str | None = None) -> str:
    return override or settings.database_url() or sqlite_url(paths.default_database_file)


def open_counter(
    home: Path | None = None,
    demo: bool = False,
    db_url: str | None = None,
    console_log: bool = False,
    run_migrations: bool = True,
    check_database: bool = True,
) -> CounterContext:
    """Open the counter; `check_database=False` only for `db restore`, which replaces a refused file."""
    paths = resolve_paths(home, demo=demo)
    paths.create()
    settings = Settings.load(paths.settings_file)
    configure_logging(
        paths.log_file, settings.get(LOG_LEVEL), settings.get(LOG_KEEP_FILES), console=console_log
    )
    log.info("wi-counter %s 启动%s，数据文件夹 %s", __version__, "（演示模式）" if demo else "", paths.data_dir)
    url = database_url(paths, settings, db_url)
    if check_database:
        # Before the engine exists: making it would create a missing file (issue 21 B2).
        preflight.check_before_open(url, paths.config_dir, paths.backup_dir)
    engine = make_engine(url)
    if demo:  # demo data only ever goes into a database created as a demo (app.db.identity)
        try:
            check_demo_database(engine, url, sqlite_url(paths.default_database_file), describe(engine))
        except OperationalError as exc:
            engine.dispose()
            raise ConfigurationError(f"无法连接数据库（{describe(engine)}）：{exc.orig}") from exc
        except ConfigurationError:
            engine.dispose()
            raise
    migration: migrate.MigrationResult | None = None
    if run_migrations:
        try:
            migration = migrate.upgrade(engine, backup_dir=paths.backup_dir, keep=settings.get(BACKUP_KEEP),
                                        kind=DEMO if demo else SITE)
        except OperationalError as exc:
            engine.dispose()
            raise ConfigurationError(f"无法连接数据库（{describe(engine)}）：{exc.orig}") from exc
        except SQLAlchemyError as exc:
            engine.dispose()
            raise ConfigurationError(f"数据库升级失败（{describe(engine)}）：{exc}") from exc
    database = preflight.sqlite_path(url)
    if migration is not None and migration.to_revision is not None and database is not None:
        preflight.record_database(paths.config_dir, database, in_use=True)
    context = CounterContext(paths, settings, engine, make_session_factory(engine), migration)
    # Without migrations (`db upgrade` migrates itself) a new or older demo database lacks tables:
    # the demo data is seeded by the next open that migrates.
    if demo and (run_migrations or migrate.current_revision(engine) == migrate.head_revision()):
        from app.demo import seed_demo

        with context.transaction() as session:
            seed_demo(session, context.counter_name)
    return context
