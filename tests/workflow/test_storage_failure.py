"""When this counter's database fails while the centre settles (disk full, PostgreSQL gone): the clerk
reads what happened, that the centre has settled, and what the counter does next — never database
text — and the retry resolves the first settlement by its msgid instead of sending a second 2304
(issue 21 §8, "weak but held").

The failure is made at the database boundary: the commit that records the centre's settlement
raises SQLite's "database or disk is full", or the PostgreSQL server terminates the counter's own
connection (pg_terminate_backend on this test's database only) just before that commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.sandbox.store import DATABASE_NAME
from app.db.failures import StorageFailure
from app.db.models import OutboxEntry, OutboxState, Settlement, SettlementKind
from app.errors import WiCounterError
from app.operators import OperatorInfo
from app.workflow.discharge import settle_stay
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    ZHANG_WEI_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    centre_today,
    form,
)

RAW = ("sqlalchemy", "sqlite", "psycopg", "OperationalError", "Traceback", "terminating connection", "disk is full",
       "SQL", "postgres")


def _stay(ctx: CounterContext, client: CentreClient, actor: OperatorInfo) -> int:
    _, outcome = admit_worker(ctx, client, actor, ZHANG_WEI_CARD, form("ZY-DISK-1"))
    assert outcome.stay_id is not None
    add_lines(ctx, outcome.stay_id, actor, 4)
    return outcome.stay_id


def _records_settlement(session: Session) -> bool:
    return bool(session.info.get("records_settlement")) or any(isinstance(obj, Settlement) for obj in session.new)


def _note_settlement(session: Session, _context: object, _instances: object) -> None:
    if any(isinstance(obj, Settlement) for obj in session.new):
        session.info["records_settlement"] = True


@pytest.fixture
def fail_settlement_commit(counter: CounterContext, db_url: str) -> Iterator[Callable[[], None]]:
    """Arms one failure of the commit that records the centre's settlement locally."""
    armed: list[bool] = []

    def hook(session: Session) -> None:
        if not armed or not _records_settlement(session):
            return
        armed.clear()
        if counter.engine.dialect.name == "sqlite":
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))
        # PostgreSQL: the server ends this very connection (ours only), then the commit meets it.
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()

    event.listen(Session, "before_flush", _note_settlement)
    event.listen(Session, "before_commit", hook)
    try:
        yield lambda: armed.append(True)
    finally:
        event.remove(Session, "before_commit", hook)
        event.remove(Session, "before_flush", _note_settlement)


def _settlement_calls(sandbox: SandboxProcess) -> list[str]:
    connection = sqlite3.connect(sandbox.data / DATABASE_NAME)
    try:
        rows = list(connection.execute("SELECT outcome, msgid, err_code, err_msg FROM call WHERE infno = '2304'"))
        return [row[0] for row in rows]
    finally:
        connection.close()


def test_a_database_failure_after_the_centre_settled_is_explained_and_the_retry_sends_no_second_2304(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        fail_settlement_commit: Callable[[], None]) -> None:
    stay_id = _stay(counter, wf_client, cashier)
    fail_settlement_commit()
    with pytest.raises(WiCounterError) as failed:
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    message = failed.value.message
    assert isinstance(failed.value, StorageFailure)
    assert "结算中心已" in message and "本机" in message  # what happened, and that the centre settled
    assert "不会重复结算" in message and "查询" in message  # what the counter will do
    assert not any(word.lower() in message.lower() for word in RAW), message
    assert _settlement_calls(sandbox) == ["applied"]

    # The clerk tries again once the database is back: the first call is resolved by its msgid.
    with pytest.raises(WiCounterError) as again:
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert "已结算" in again.value.message
    assert _settlement_calls(sandbox) == ["applied"]  # no second 2304
    with counter.transaction() as session:
        settlements = session.scalars(select(Settlement).where(
            Settlement.stay_id == stay_id, Settlement.kind == SettlementKind.SETTLEMENT)).all()
        assert len(settlements) == 1
        entries = session.scalars(select(OutboxEntry).where(OutboxEntry.operation == "settlement")).all()
        assert [(e.state, e.resolution) for e in entries] == [(OutboxState.SUCCEEDED, "query")]
        assert session.scalar(select(func.count()).select_from(OutboxEntry)
                              .where(OutboxEntry.state.in_([OutboxState.SENT, OutboxState.PENDING]))) == 0


def test_a_database_failure_before_anything_is_sent_says_the_centre_did_nothing(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id = _stay(counter, wf_client, cashier)

    def disk_full(conn: object, cursor: object, statement: str, parameters: object, context: object,
                  executemany: bool) -> None:
        # The write of the settlement's outbox entry (before anything is sent) meets a full disk.
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX_ENTRY") and "'2304'" in repr(parameters):
            raise OperationalError(statement, {}, sqlite3.OperationalError("database or disk is full"))

    event.listen(counter.engine, "before_cursor_execute", disk_full)
    try:
        with pytest.raises(WiCounterError) as failed:
            settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    finally:
        event.remove(counter.engine, "before_cursor_execute", disk_full)
    message = failed.value.message
    assert isinstance(failed.value, StorageFailure)
    assert "结算中心未办理" in message, message
    assert not any(word.lower() in message.lower() for word in RAW), message
    assert _settlement_calls(sandbox) == []
