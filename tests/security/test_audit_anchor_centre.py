"""Issue 22 §4: the audit trail's head is anchored outside the database, at the centre.

The day-end reconciliation (3201) carries the head (event count + keyed head MAC, never the key);
the sandbox centre keeps it per institution and counter, and `wi-counter audit verify` checks the
trail against the anchors the centre holds. A trail rewritten from the database alone (passed off
as the old unkeyed chain, head and all) or cut back to an older copy verifies locally once the
config folder's own anchor is gone too; the centre's anchor still finds it. An unreachable centre
is said, never "intact".
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from app import audit
from app.bootstrap import CounterContext
from app.sandbox.store import DATABASE_NAME
from app.cli import main
from app.secret_store import AUDIT_KEY, SERVICE
from tests.centre.client_fixtures import SandboxProcess, counter, sandbox  # noqa: F401 - fixtures
from tests.conftest import MemoryKeyring
from tests.security.attacker import drop_audit_triggers, recompute_chain_with_sha256


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'counter.sqlite3'}"


def _args(counter: CounterContext, db_url: str) -> list[str]:
    return ["--home", str(counter.paths.config_dir.parent), "--db", db_url]


def _record(counter: CounterContext, count: int, start: int = 0) -> None:
    with counter.transaction() as session:
        for n in range(start, start + count):
            audit.record(session, "test_action", operator_id=None, counter_name=counter.counter_name,
                         entity_type="stay", entity_id=n, detail={"n": n})


def _verify(counter: CounterContext, db_url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["audit", "verify", *_args(counter, db_url)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _day_end(counter: CounterContext, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["centre", "reconcile", *_args(counter, db_url)]) == 0
    capsys.readouterr()


def _forget_local_anchor(counter: CounterContext) -> None:
    (counter.paths.config_dir / audit.ANCHOR_FILE).unlink(missing_ok=True)


def _centre_anchors(sandbox: SandboxProcess) -> list[tuple[str, str, int, str]]:
    with sqlite3.connect(sandbox.data / DATABASE_NAME) as centre:
        return list(centre.execute("SELECT institution, counter, event_count, head_mac FROM audit_anchor"))


def test_the_day_end_reconciliation_anchors_the_head_at_the_centre_without_the_key(
    counter: CounterContext, sandbox: SandboxProcess, db_url: str, memory_keyring: MemoryKeyring,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _record(counter, 4)
    with counter.transaction() as session:
        count, mac = audit.head_anchor(session) or (0, "")
    _day_end(counter, db_url, capsys)
    [(institution, counter_name, anchored_count, anchored_mac)] = _centre_anchors(sandbox)
    assert (institution, counter_name, anchored_count, anchored_mac) == ("H44080100001", counter.counter_name,
                                                                          count, mac)
    key = memory_keyring.secrets[(SERVICE, AUDIT_KEY)]
    assert key not in repr(_centre_anchors(sandbox))
    code, out, err = _verify(counter, db_url, capsys)
    assert code == 0, err
    assert "审计日志完整" in out and "结算中心" in out


def test_a_trail_rewritten_from_the_database_after_the_day_end_is_found_by_the_centres_anchor(
    counter: CounterContext, sandbox: SandboxProcess, db_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    _record(counter, 5)
    _day_end(counter, db_url, capsys)
    [(_, _, anchored, _)] = _centre_anchors(sandbox)
    with counter.engine.begin() as connection:
        # Every event passed off as the old unkeyed chain, the head with it: all one can do without the key.
        drop_audit_triggers(connection)
        first = connection.execute(text("SELECT MIN(id) FROM audit_event")).scalar_one()
        connection.execute(text("UPDATE audit_event SET entity_id = '99' WHERE id = :id"), {"id": first + 2})
        recompute_chain_with_sha256(connection, first, scheme="sha256")
        connection.execute(text("UPDATE audit_head SET keyed_from = NULL, head_mac = NULL"))
    _forget_local_anchor(counter)
    code, out, err = _verify(counter, db_url, capsys)
    assert code == 1, out
    assert "审计日志完整" not in out
    assert f"结算中心保存的链头（{anchored} 条" in err and "不符" in err


def test_a_trail_cut_back_to_an_older_copy_is_found_by_the_centres_anchor(
    counter: CounterContext, sandbox: SandboxProcess, db_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = tmp_path / "counter.sqlite3"
    _record(counter, 3)
    counter.engine.dispose()
    older = tmp_path / "older.sqlite3"
    shutil.copyfile(database, older)
    _record(counter, 3, start=3)
    _day_end(counter, db_url, capsys)
    [(_, _, anchored, _)] = _centre_anchors(sandbox)
    counter.engine.dispose()
    shutil.copyfile(older, database)  # the older trail with its genuinely signed head
    _forget_local_anchor(counter)
    code, out, err = _verify(counter, db_url, capsys)
    assert code == 1, out
    assert f"结算中心保存的链头（{anchored} 条" in err and "现存 3 条" in err


def test_an_unreachable_centre_is_said_and_the_trail_is_not_called_intact(
    counter: CounterContext, sandbox: SandboxProcess, db_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    _record(counter, 2)
    sandbox.stop()
    code, out, err = _verify(counter, db_url, capsys)
    assert code == 3
    assert "审计日志完整" not in out
    assert "未能与结算中心保存的链头核对" in out + err


def test_an_administrators_restore_supersedes_the_centres_anchors_of_the_replaced_trail(
    counter: CounterContext, sandbox: SandboxProcess, db_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A restore (audited with the head it replaced, in the keyed trail) is not an attack: the anchors the
    centre holds of the replaced trail no longer apply; the restored trail is anchored afresh."""
    _record(counter, 2)
    saved = tmp_path / "saved.sqlite3"
    assert main(["db", "backup", "--out", str(saved), *_args(counter, db_url)]) == 0
    _record(counter, 3, start=2)
    _day_end(counter, db_url, capsys)
    counter.engine.dispose()
    assert main(["db", "restore", str(saved), *_args(counter, db_url)]) == 0
    code, out, err = _verify(counter, db_url, capsys)
    assert code == 0, err
    assert "恢复" in out
    _day_end(counter, db_url, capsys)
    assert len(_centre_anchors(sandbox)) == 2
    code, out, err = _verify(counter, db_url, capsys)
    assert code == 0, err
    assert "已与结算中心保存的 2 个链头核对" in out  # the restored trail's own anchor is checked too


def test_a_trail_cut_back_and_anchored_again_is_still_held_to_the_longer_anchor(
    counter: CounterContext, sandbox: SandboxProcess, db_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = tmp_path / "counter.sqlite3"
    _record(counter, 2)
    counter.engine.dispose()
    older = tmp_path / "older.sqlite3"
    shutil.copyfile(database, older)
    _record(counter, 4, start=2)
    _day_end(counter, db_url, capsys)
    counter.engine.dispose()
    shutil.copyfile(older, database)  # no restore in the trail: copied back behind the program
    _forget_local_anchor(counter)
    _day_end(counter, db_url, capsys)  # the next day-end anchors the shorter trail
    code, out, err = _verify(counter, db_url, capsys)
    assert code == 1, out
    assert "结算中心保存的链头（6 条" in err
