"""Fixtures shared by every test.

- Every test runs with its own `WI_COUNTER_HOME`, so nothing touches a real site's folders.
- An in-memory keyring replaces the OS keyring (Vorta's pattern): secrets never leave the process.
- A new, empty database migrated to head in-process gets the head schema replayed (SQLite: from a
  template the real migrations built once per worker; PostgreSQL: the statements the real chain sent
  the first time) (`_fast_migration_to_head`): the migrations (18 now) cost 0.3–0.5 s a database and most tests
  only need the result. Tests of the migrations themselves
  (`@pytest.mark.real_migrations`), every PostgreSQL database and every program started as a
  process (the demo, the CLI, the counters) run the real chain; `WI_COUNTER_TEST_REAL_MIGRATIONS=1`
  runs it everywhere.
- `db_url` runs a test on SQLite and on the PostgreSQL server named by
  `WI_COUNTER_TEST_PG_URL` (scripts/test.sh and .ci/run start one). Without that
  server the PostgreSQL cases are skipped, unless `WI_COUNTER_REQUIRE_PG=1`, which
  turns the absence into a failure (CI sets it: a skipped database test proves nothing).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

PG_URL_ENV = "WI_COUNTER_TEST_PG_URL"

# Qt without a display draws on one 1366×768 screen: the commonest counter screen (issue 20 §5), so
# every window test, and every screenshot kept in test-artifacts/, sees what the clerk sees.
COUNTER_SCREEN = Path(__file__).parent / "ui" / "screen-1366x768.json"
if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={COUNTER_SCREEN}"
REQUIRE_PG_ENV = "WI_COUNTER_REQUIRE_PG"


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in memory only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.secrets:
            raise PasswordDeleteError(username)
        del self.secrets[(service, username)]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "wi-counter-home"
    monkeypatch.setenv("WI_COUNTER_HOME", str(home))
    monkeypatch.delenv("WI_COUNTER_DB_URL", raising=False)
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _postgres_server_url() -> str | None:
    url = os.environ.get(PG_URL_ENV)
    if url:
        return url
    if os.environ.get(REQUIRE_PG_ENV) == "1":
        pytest.fail(f"{REQUIRE_PG_ENV}=1 but {PG_URL_ENV} is not set: the PostgreSQL server is missing")
    pytest.skip(f"PostgreSQL tests need {PG_URL_ENV} (scripts/test.sh starts a server)")
    return None


class _HeadTemplate:
    """The head schema and seeded rows of a SQLite database the real migration chain built."""

    def __init__(self, folder: Path) -> None:
        from alembic import command

        from app.db import migrate

        self.head = migrate.head_revision()
        engine = create_engine(f"sqlite:///{folder / 'head-template.sqlite3'}")
        with engine.begin() as connection:
            command.upgrade(migrate.alembic_config(connection), "head")
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid")).all()
            self.schema: list[str] = [sql for _type, _name, sql in rows]
            self.data: dict[str, list[dict[str, object]]] = {}
            for kind, name, _sql in rows:
                if kind == "table":
                    found = [dict(row._mapping) for row in connection.execute(text(f'SELECT * FROM "{name}"'))]
                    if found:
                        self.data[name] = found
        engine.dispose()
        assert self.data.get("alembic_version") == [{"version_num": self.head}], self.data

    def applies(self, connection: Connection, revision: str) -> bool:
        if connection.dialect.name != "sqlite" or revision not in ("head", self.head):
            return False
        return connection.execute(text(
            "SELECT COUNT(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")).scalar_one() == 0

    def replay(self, connection: Connection) -> None:
        for statement in self.schema:
            connection.exec_driver_sql(statement)
        for table, rows in self.data.items():
            columns = list(rows[0])
            names = ", ".join(f'"{column}"' for column in columns)
            values = ", ".join(f":{column}" for column in columns)
            connection.execute(text(f'INSERT INTO "{table}" ({names}) VALUES ({values})'), rows)


class _RecordedChain:
    """PostgreSQL's head: the statements the real chain sent to the first empty database of this
    worker, sent again as they were to each later one (0.03 s instead of 0.3 s)."""

    def __init__(self) -> None:
        from app.db import migrate

        self.head = migrate.head_revision()
        self.statements: list[tuple[str, object]] | None = None

    def applies(self, connection: Connection, revision: str) -> bool:
        if connection.dialect.name != "postgresql" or revision not in ("head", self.head):
            return False
        return connection.execute(text(
            "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema()")).scalar_one() == 0

    def run(self, connection: Connection, config: object) -> None:
        from alembic import command
        from sqlalchemy import event

        if self.statements is not None:
            for statement, parameters in self.statements:
                connection.exec_driver_sql(statement, parameters)  # type: ignore[arg-type]
            return
        recorded: list[tuple[str, object]] = []

        def record(_conn: object, _cursor: object, statement: str, parameters: object, _context: object,
                   executemany: bool) -> None:
            assert not executemany, "the chain sent a batch of rows: replay would need executemany"
            recorded.append((statement, parameters))

        event.listen(connection, "before_cursor_execute", record)
        try:
            command.upgrade(config, "head")  # type: ignore[arg-type]
        finally:
            event.remove(connection, "before_cursor_execute", record)
        self.statements = recorded


_head_template: _HeadTemplate | None = None
_postgres_chain: _RecordedChain | None = None


@pytest.fixture(autouse=True)
def _fast_migration_to_head(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`app.db.migrate.upgrade` of an empty database to head: on SQLite the template's schema is
    replayed, on PostgreSQL the recorded chain, in the same transaction (the identity marker is then
    written by the real `upgrade`, as always)."""
    if request.node.get_closest_marker("real_migrations") or os.environ.get("WI_COUNTER_TEST_REAL_MIGRATIONS") == "1":
        return
    from alembic import command

    from app.db import migrate

    global _head_template, _postgres_chain
    if _head_template is None:
        _head_template = _HeadTemplate(tmp_path_factory.mktemp("migrated-head"))
    if _postgres_chain is None:
        _postgres_chain = _RecordedChain()
    template, chain = _head_template, _postgres_chain

    class _Commands:
        downgrade = staticmethod(command.downgrade)

        @staticmethod
        def upgrade(config: object, revision: str, **options: object) -> None:
            connection = config.attributes.get("connection")  # type: ignore[attr-defined]
            if connection is not None and not options and template.applies(connection, revision):
                template.replay(connection)
            elif connection is not None and not options and chain.applies(connection, revision):
                chain.run(connection, config)
            else:
                command.upgrade(config, revision, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(migrate, "command", _Commands)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    server = _postgres_server_url()
    assert server is not None
    name = f"wi_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return request.getfixturevalue("postgres_url")


# The PC/SC card tests share one pcscd and one vpcd reader port: under parallel workers
# (scripts/test.sh runs pytest-xdist with --dist loadgroup) they all run in one worker. So do the
# window tests whose window watches the machine's readers through pcscd (a main window built from
# the settings, whose default back end is PC/SC, reads any card put in: one open beside a card test
# took that test's card). Window tests built by `make_window` read a mock reader and run anywhere.
_PCSC_FIXTURES = frozenset({"pcscd", "vpcd_card"})
_PCSC_WINDOW_FILES = frozenset({
    "tests/ui/test_ui_card_page.py", "tests/ui/test_ui_dayend.py", "tests/ui/test_ui_font.py",
    "tests/ui/test_ui_idle_lock.py", "tests/ui/test_ui_main_window.py", "tests/ui/test_ui_recovery.py",
    "tests/ui/test_ui_session.py",
})


@pytest.hookimpl(tryfirst=True)  # before xdist adds the group to the node id, or no group applies
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        path = item.nodeid.split("::", 1)[0]
        if fixtures & _PCSC_FIXTURES or path.startswith("tests/devices/") or path in _PCSC_WINDOW_FILES:
            item.add_marker(pytest.mark.xdist_group("pcsc"))


class _GroupingCheck:
    """On an xdist worker, after xdist has renamed the grouped items: the rename must show.

    pytest 9.2 stopped honouring the rename, so the card tests silently ran on two workers
    against one reader and read each other's cards; this makes such a combination fail at once.
    """

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not getattr(config.option, "loadgroup", False):
            return
        ungrouped = [item.nodeid for item in items
                     if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
        if ungrouped:
            raise pytest.UsageError(
                f"--dist loadgroup does not group with pytest {pytest.__version__}: "
                f"{ungrouped[0]} would run beside the card tests (pin pytest as pyproject.toml says)")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_GroupingCheck(), "wi-counter-grouping-check")


@pytest.fixture
def machine_off_beijing() -> Iterator[dt.date]:
    """This machine's time zone set so that its date is not Beijing's at this moment (a counter PC
    left on UTC, or a server abroad, around midnight); yields Beijing's date.

    The business date of the counter is Beijing's (app.business_date): anything computed from the
    machine's own date is a day off here. POSIX zone strings, so no tzdata is needed."""
    beijing = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    saved = os.environ.get("TZ")
    try:
        for zone in ("XST+12", "YST-14"):  # UTC-12, UTC+14: one of them is always on another date
            os.environ["TZ"] = zone
            time.tzset()
            if dt.date.today() != beijing:
                break
        assert dt.date.today() != beijing
        yield beijing
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


# --- the sandbox centre, one per test process -----------------------------------------------------


@pytest.fixture(scope="session")
def _sandbox_pool() -> Iterator[dict[str, object]]:
    """The sandbox centre this test process reuses (`tests.centre.client_fixtures.sandbox`, which resets
    its data before each test); stopped with its process group when the session ends."""
    pool: dict[str, object] = {}
    yield pool
    for process in pool.values():
        process.stop()  # type: ignore[attr-defined]


# Every test module sees the pooled `sandbox` (the window tests' `workflow_sandbox` asks for it by name).
from tests.centre.client_fixtures import sandbox  # noqa: E402,F401
