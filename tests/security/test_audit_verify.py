"""`wi-counter audit verify`: the append-only triggers, and every edit or deletion found once they are dropped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from app import audit
from app.cli import main
from app.db import migrate
from app.db.engine import make_engine, make_session_factory
from tests.security.attacker import drop_audit_triggers


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for n in range(5):
            audit.record(session, "test_action", operator_id=None, counter_name="1号窗口",
                         entity_type="stay", entity_id=n, detail={"n": n})
    yield engine
    engine.dispose()


def _verify(engine: Engine, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    url = engine.url.render_as_string(hide_password=False)
    code = main(["--db", url, "audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _ids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT id FROM audit_event ORDER BY id"))]


def _tamper(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as connection:
        drop_audit_triggers(connection)
        connection.execute(text(statement), params)


def test_an_intact_trail_verifies(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _verify(engine, capsys)
    assert code == 3, err  # no centre here: its anchors unchecked
    assert "已校验 / checked: 5 条" in out and "未能与结算中心保存的链头核对" in out and "审计日志完整" not in out


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET action = 'harmless' WHERE id = :id",
    "DELETE FROM audit_event WHERE id = :id",
])
def test_the_database_refuses_to_change_the_trail(engine: Engine, statement: str) -> None:
    target = _ids(engine)[1]
    with pytest.raises(DBAPIError, match="审计日志只可追加"):
        with engine.begin() as connection:
            connection.execute(text(statement), {"id": target})
    assert len(_ids(engine)) == 5


def test_an_edited_entry_is_found_by_its_id(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    target = _ids(engine)[2]
    _tamper(engine, "UPDATE audit_event SET entity_id = '99' WHERE id = :id", id=target)
    code, out, err = _verify(engine, capsys)
    assert code == 1
    assert f"记录 / entry {target}：记录内容与校验值不符：记录被修改" in err
    assert "已校验 / checked: 5 条" in out


def test_a_deleted_entry_breaks_the_chain(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _ids(engine)
    _tamper(engine, "DELETE FROM audit_event WHERE id = :id", id=ids[1])
    code, out, err = _verify(engine, capsys)
    assert code == 1
    assert f"记录 / entry {ids[2]}：前一条记录的校验值不符：有记录被删除或插入" in err
    assert "链头记 5 条，现存 4 条" in err


def test_deleting_the_newest_entries_is_found_by_the_head(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    # The remaining chain is intact on its own: only the stored head shows the loss.
    ids = _ids(engine)
    _tamper(engine, "DELETE FROM audit_event WHERE id >= :id", id=ids[3])
    code, out, err = _verify(engine, capsys)
    assert code == 1
    assert f"记录 / entry {ids[4]}：链头记录的最后一条（编号 {ids[4]}）与现存最后一条不符" in err
    assert "已校验 / checked: 3 条" in out


def test_an_upgraded_counters_existing_trail_gets_its_head(db_url: str) -> None:
    """Migration 0008 starts the head at the trail as it stands."""
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0007")
        sessions = make_session_factory(engine)
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO audit_event (occurred_at, counter_name, action, detail, prev_hash, hash) "
                "VALUES (CURRENT_TIMESTAMP, 'x', 'a', '{}', :prev, :hash)"), {"prev": audit.GENESIS_HASH, "hash": "f" * 64})
        migrate.upgrade(engine)
        with sessions() as session:
            report = audit.verify_trail(session)
        assert report.head_hash == "f" * 64 and report.head_count == 1
        assert [p.message for p in report.problems] == ["记录内容与校验值不符：记录被修改"]  # the made-up hash
    finally:
        engine.dispose()


def test_counters_appending_at_once_keep_one_chain(db_url: str) -> None:
    """Appends from several connections (counters sharing a database) follow one another through the head."""
    import threading

    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        sessions = make_session_factory(engine)
        errors: list[BaseException] = []

        def counter(name: str) -> None:
            try:
                for n in range(10):
                    with sessions.begin() as session:
                        audit.record(session, "concurrent", operator_id=None, counter_name=name, detail={"n": n})
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=counter, args=(f"{i}号窗口",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with sessions() as session:
            report = audit.verify_trail(session)
        assert report.checked == 40 and report.problems == []
    finally:
        engine.dispose()
