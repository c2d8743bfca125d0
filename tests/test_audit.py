from __future__ import annotations

import pytest
from sqlalchemy import select, text

from app import audit
from app.db import migrate
from app.db.engine import make_engine, make_session_factory
from app.db.models import AuditEvent
from app.errors import ImmutableRecordError
from tests.security.attacker import drop_audit_triggers


@pytest.fixture
def sessions(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _write_three(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        for n in range(3):
            audit.record(session, "test_action", operator_id=None, counter_name="1号窗口",
                         entity_type="stay", entity_id=n, detail={"n": n, "id": "440802198001011233"})


def _events(sessions) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_an_intact_chain_verifies_and_ids_are_masked(sessions) -> None:  # type: ignore[no-untyped-def]
    _write_three(sessions)
    events = _events(sessions)
    assert audit.verify_chain(events) == []
    assert events[0].prev_hash == audit.GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    assert events[0].detail["id"] == "440802********1233"


def test_editing_an_event_behind_the_programs_back_is_detected(sessions) -> None:  # type: ignore[no-untyped-def]
    _write_three(sessions)
    with sessions.begin() as session:
        drop_audit_triggers(session.connection())
        session.execute(text("UPDATE audit_event SET action = 'harmless' WHERE id = (SELECT MIN(id) + 1 FROM audit_event)"))
    problems = audit.verify_chain(_events(sessions))
    assert [p.message for p in problems] == ["记录内容与校验值不符：记录被修改"]


def test_deleting_an_event_is_detected(sessions) -> None:  # type: ignore[no-untyped-def]
    _write_three(sessions)
    with sessions.begin() as session:
        drop_audit_triggers(session.connection())
        session.execute(text("DELETE FROM audit_event WHERE id = (SELECT MIN(id) + 1 FROM audit_event)"))
    problems = audit.verify_chain(_events(sessions))
    assert len(problems) == 1 and "删除" in problems[0].message


def test_the_program_itself_cannot_edit_an_event(sessions) -> None:  # type: ignore[no-untyped-def]
    _write_three(sessions)
    with sessions() as session:
        event = session.scalars(select(AuditEvent)).first()
        assert event is not None
        event.action = "changed"
        with pytest.raises(ImmutableRecordError):
            session.flush()
