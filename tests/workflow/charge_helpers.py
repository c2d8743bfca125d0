"""What the charge tests share: a migrated database session, a clerk and a stay, sample HIS files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.engine import make_engine, make_session_factory
from app.db.migrate import upgrade
from app.db.models import AuditEvent, ChargeLine, HisImport, Operator, Role, Stay
from app.operators import OperatorInfo
from app.workflow.catalogue import seed_demo_catalogue
from app.workflow.his_import import ColumnMapping, ImportResult, import_his_file, load_mapping, read_his_file
from tests import factories
from tests.signed_in import signed_in

START = dt.date(2026, 11, 2)
COUNTER = "窗口1"


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        seed_demo_catalogue(session)  # the sandbox centre's catalogue as the local copy
        yield session
        session.rollback()
    engine.dispose()


@pytest.fixture
def stay(session: Session) -> Stay:
    return factories.stay(session)


@pytest.fixture
def clerk(session: Session, stay: Stay) -> OperatorInfo:
    record = session.get(Operator, stay.created_by)
    assert record is not None
    return signed_in(record)


def other_operator(session: Session, login: str, role: Role) -> OperatorInfo:
    record = factories.operator(session, login=login, role=role)
    return signed_in(record)


@pytest.fixture
def mapping() -> ColumnMapping:
    return load_mapping("default")


def import_file(session: Session, stay: Stay, clerk: OperatorInfo, path: Path,
                mapping: ColumnMapping | None = None) -> ImportResult:
    parsed = read_his_file(path, mapping or load_mapping("default"))
    return import_his_file(session, stay.id, parsed, clerk, COUNTER, (mapping.name if mapping else "default"))


def line_count(session: Session, stay: Stay) -> int:
    return int(session.scalar(select(func.count()).select_from(ChargeLine).where(ChargeLine.stay_id == stay.id)) or 0)


def import_count(session: Session, stay: Stay) -> int:
    return int(session.scalar(select(func.count()).select_from(HisImport).where(HisImport.stay_id == stay.id)) or 0)


def audit_events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def lines_of(session: Session, stay: Stay) -> list[ChargeLine]:
    session.expire_all()
    return list(session.scalars(select(ChargeLine).where(ChargeLine.stay_id == stay.id).order_by(ChargeLine.seq)))
