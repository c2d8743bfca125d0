"""Issue 22 §4: the audit trail cannot be rewritten from the database alone.

The chain is keyed (HMAC-SHA256 with the institution's audit key, kept in the OS keyring, never in
the database). Someone with only the database — triggers dropped, every later hash recomputed with
plain SHA-256, the head moved to match, or an event appended — is found by `wi-counter audit verify`.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from app import audit
from app.cli import main
from app.db import migrate
from app.db.engine import make_engine, make_session_factory
from app.secret_store import AUDIT_KEY, SERVICE
from tests.conftest import MemoryKeyring
from tests.security.attacker import drop_audit_triggers, forge_append, recompute_chain_with_sha256


def _record(engine: Engine, count: int, start: int = 0) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for n in range(start, start + count):
            audit.record(session, "test_action", operator_id=None, counter_name="1号窗口",
                         entity_type="stay", entity_id=n, detail={"n": n})


@pytest.fixture
def engine(db_url: str, caplog: pytest.LogCaptureFixture) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    with caplog.at_level(logging.DEBUG):
        _record(engine, 5)  # the key is made here
    assert "审计密钥" in caplog.text
    yield engine
    engine.dispose()


def _verify(engine: Engine, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--db", engine.url.render_as_string(hide_password=False), "audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _ids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT id FROM audit_event ORDER BY id"))]


def test_the_key_is_made_on_first_use_and_kept_only_in_the_keyring(
    engine: Engine, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = memory_keyring.secrets.get((SERVICE, AUDIT_KEY))
    assert key is not None and len(key) >= 64
    with engine.connect() as connection:
        dump = " ".join(str(row) for table in ("audit_event", "audit_head")
                        for row in connection.execute(text(f"SELECT * FROM {table}")))
    assert key not in dump
    assert key not in caplog.text  # made and saved, never logged
    code, out, err = _verify(engine, capsys)
    assert code == 3, err  # no centre here: its anchors unchecked
    first = _ids(engine)[0]
    assert f"从记录 {first} 起以审计密钥签名" in out


@pytest.mark.parametrize("scheme", [None, "sha256"], ids=["marker-kept", "passed-off-as-unkeyed"])
def test_an_edit_with_every_later_hash_recomputed_is_found_at_the_edited_event(
    engine: Engine, scheme: str | None, capsys: pytest.CaptureFixture[str],
) -> None:
    target = _ids(engine)[2]
    with engine.begin() as connection:
        drop_audit_triggers(connection)
        connection.execute(text("UPDATE audit_event SET entity_id = '99' WHERE id = :id"), {"id": target})
        recompute_chain_with_sha256(connection, target, scheme=scheme)
    code, out, err = _verify(engine, capsys)
    assert code == 1
    first_problem = next(line for line in err.splitlines() if line.startswith("问题"))
    assert f"记录 / entry {target}：" in first_problem
    assert "完整" not in out


@pytest.mark.parametrize("scheme", ["hmac-sha256", "sha256"])
def test_a_forged_appended_event_is_found(engine: Engine, scheme: str, capsys: pytest.CaptureFixture[str]) -> None:
    with engine.begin() as connection:  # no trigger touched: INSERT is allowed
        forged = forge_append(connection, scheme=scheme)
    code, out, err = _verify(engine, capsys)
    assert code == 1
    assert f"记录 / entry {forged}：" in err
    assert "链头" in err  # the head moved by the forger carries no valid signature either


def test_cutting_the_newest_events_and_rewriting_the_head_is_found(
    engine: Engine, capsys: pytest.CaptureFixture[str],
) -> None:
    ids = _ids(engine)
    with engine.begin() as connection:
        drop_audit_triggers(connection)
        connection.execute(text("DELETE FROM audit_event WHERE id >= :id"), {"id": ids[3]})
        last = connection.execute(text("SELECT hash FROM audit_event WHERE id = :id"), {"id": ids[2]}).scalar_one()
        connection.execute(text("UPDATE audit_head SET last_event_id = :id, last_hash = :hash, event_count = 3"),
                           {"id": ids[2], "hash": last})
    code, _out, err = _verify(engine, capsys)
    assert code == 1
    assert "链头签名不符" in err


def test_a_missing_key_is_said_clearly_and_new_events_are_not_silently_unkeyed(
    engine: Engine, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = memory_keyring.secrets.pop((SERVICE, AUDIT_KEY))
    with caplog.at_level(logging.WARNING):
        _record(engine, 1, start=5)
    # Not a new key (that would fork the chain's key between counters): the event is marked unsigned, and said.
    assert (SERVICE, AUDIT_KEY) not in memory_keyring.secrets
    assert any("缺少审计密钥" in r.getMessage() for r in caplog.records)
    code, out, err = _verify(engine, capsys)
    assert code == 1
    assert "本机缺少审计密钥" in err and "密钥备份" in err and "secret set audit-key" in err

    unsigned = _ids(engine)[-1]
    memory_keyring.secrets[(SERVICE, AUDIT_KEY)] = key  # restored from the site's key backup
    code, out, err = _verify(engine, capsys)
    assert code == 1
    assert f"记录 / entry {unsigned}：记录未以审计密钥签名" in err
    assert key not in caplog.text and key not in out + err


def test_secret_status_says_the_audit_key_is_missing(
    engine: Engine, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str],
) -> None:
    memory_keyring.secrets.pop((SERVICE, AUDIT_KEY))
    main(["secret", "status"])
    out = capsys.readouterr().out
    assert AUDIT_KEY in out and "未保存" in out


def test_an_older_unkeyed_trail_still_verifies_and_keying_starts_after_it(
    db_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0011")
        prev = audit.GENESIS_HASH
        with engine.begin() as connection:  # written by the program before keying (the old SHA-256 chain)
            for n in range(2):
                event = audit.AuditEvent(occurred_at=audit.utc_now(), operator_id=None, counter_name="x",
                                         action="old", entity_type=None, entity_id=None, detail={"n": n},
                                         prev_hash=prev)
                digest = hashlib.sha256(audit.canonical_bytes(event)).hexdigest()
                table = audit.AuditEvent.__table__
                connection.execute(insert(table).values(
                    occurred_at=event.occurred_at, counter_name="x", action="old", detail={"n": n}, prev_hash=prev,
                    hash=digest))
                connection.execute(text("UPDATE audit_head SET last_hash = :h, event_count = event_count + 1, "
                                        "last_event_id = (SELECT MAX(id) FROM audit_event)"), {"h": digest})
                prev = digest
        migrate.upgrade(engine)
        _record(engine, 2)
        ids = _ids(engine)
        code, out, err = _verify(engine, capsys)
        assert code == 3, err  # no centre here: its anchors unchecked
        assert f"从记录 {ids[2]} 起以审计密钥签名" in out and "2 条为未加密钥的旧链" in out

        # Rewriting the old part and recomputing onwards breaks at the first keyed event.
        with engine.begin() as connection:
            drop_audit_triggers(connection)
            connection.execute(text("UPDATE audit_event SET action = 'harmless' WHERE id = :id"), {"id": ids[0]})
            recompute_chain_with_sha256(connection, ids[0])
        code, out, err = _verify(engine, capsys)
        assert code == 1
        assert f"记录 / entry {ids[2]}：" in err
    finally:
        engine.dispose()


def test_a_database_replaced_by_an_older_copy_of_itself_is_found_by_the_anchor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 22 §4: restoring an old copy (here: the file copied back behind the program) is not 'intact'."""
    database = tmp_path / "site.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate.upgrade(engine)
        _record(engine, 3)
        engine.dispose()
        older = tmp_path / "older-copy.sqlite3"
        shutil.copyfile(database, older)
        _record(engine, 2, start=3)
        code, out, err = _verify(engine, capsys)
        assert code == 3, err  # no centre here: its anchors unchecked
        assert "已记下链头" in out
        engine.dispose()
        shutil.copyfile(older, database)  # the older trail and its (genuinely signed) head
        code, out, err = _verify(engine, capsys)
        assert code == 1
        assert "记下的链头（5 条" in err and "现存 3 条" in err
    finally:
        engine.dispose()


def test_an_administrators_restore_is_audited_with_the_head_it_replaced(
    isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["db", "upgrade"]) == 0
    engine = make_engine(f"sqlite:///{isolated_home / 'data' / 'wi-counter.sqlite3'}")
    try:
        _record(engine, 2)
        saved = tmp_path / "saved.sqlite3"
        assert main(["db", "backup", "--out", str(saved)]) == 0
        _record(engine, 2, start=2)
        assert main(["audit", "verify"]) == 3  # the head of 4 events noted
        capsys.readouterr()
        assert main(["db", "restore", str(saved)]) == 0
        assert main(["audit", "verify"]) == 3, capsys.readouterr().err  # a restore is not an attack
        with engine.connect() as connection:
            detail = connection.execute(text(
                "SELECT detail FROM audit_event WHERE action = 'db_restored'")).scalar_one()
        assert '"event_count": 4' in detail
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_counters_postgresql_role_cannot_change_the_trail(postgres_url: str) -> None:
    """docs/postgres-roles.sql: an owner role migrates; the counters' role may only INSERT/SELECT the trail."""
    import uuid

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    suffix = uuid.uuid4().hex[:8]
    owner, app_role = f"wi_owner_{suffix}", f"wi_app_{suffix}"
    sql = (Path(__file__).parents[2] / "docs" / "postgres-roles.sql").read_text(encoding="utf-8")
    sql = sql.replace("wi_counter_owner", owner).replace("wi_counter_app", app_role)
    statements = [s.strip() for s in "\n".join(
        line for line in sql.splitlines() if not line.lstrip().startswith("--")).split(";") if s.strip()]
    create_roles, grants = statements[:2], statements[2:]
    superuser = make_engine(postgres_url)
    url = make_url(postgres_url)
    try:
        with superuser.begin() as connection:
            for statement in create_roles:
                connection.exec_driver_sql(statement)
            connection.exec_driver_sql(f'ALTER DATABASE "{url.database}" OWNER TO {owner}')
            connection.exec_driver_sql(f"ALTER SCHEMA public OWNER TO {owner}")
        owner_engine = make_engine(url.set(username=owner, password="change-me-owner"))
        migrate.upgrade(owner_engine)
        with owner_engine.begin() as connection:
            for statement in grants:
                connection.exec_driver_sql(statement)
        owner_engine.dispose()

        counter = make_engine(url.set(username=app_role, password="change-me-app"))
        try:
            _record(counter, 3)  # the counter's own appends work
            for statement in ("UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event",
                              "TRUNCATE audit_event", "ALTER TABLE audit_event DISABLE TRIGGER ALL",
                              "DROP TRIGGER audit_event_append_only ON audit_event"):
                with pytest.raises(DBAPIError, match="permission denied|must be owner|审计日志只可追加"):
                    with counter.begin() as connection:
                        connection.exec_driver_sql(statement)
            with make_session_factory(counter)() as session:
                assert audit.verify_trail(session).intact
            # The counters' program runs as that role (opening the migrated database writes no schema).
            assert main(["--db", counter.url.render_as_string(hide_password=False), "audit", "verify"]) == 3
        finally:
            counter.dispose()
    finally:
        with superuser.begin() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{url.database}" OWNER TO postgres')
            connection.exec_driver_sql(f"DROP OWNED BY {owner}, {app_role} CASCADE")
        with superuser.begin() as connection:
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {app_role}")
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {owner}")
        superuser.dispose()


def test_a_downgrade_and_upgrade_keeps_the_keyed_trail_verifiable(
    engine: Engine, capsys: pytest.CaptureFixture[str],
) -> None:
    migrate.downgrade(engine, "0011")
    migrate.upgrade(engine)
    code, _out, err = _verify(engine, capsys)
    assert code == 3, err  # no centre here: its anchors unchecked


def test_a_downgrade_below_the_audit_head_and_an_upgrade_is_not_intact(
    engine: Engine, capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 22 §4: downgrade below 0008 (triggers and head gone), delete, upgrade: no longer 'intact'."""
    ids = _ids(engine)
    migrate.downgrade(engine, "0007")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_event WHERE id >= :id"), {"id": ids[3]})
    migrate.upgrade(engine)
    code, _out, err = _verify(engine, capsys)
    assert code == 1
    assert f"链头未记下启用审计密钥的位置，但记录 {ids[0]} 起已签名" in err
