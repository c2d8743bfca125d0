from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.db import migrate
from app.db.engine import make_engine, make_session_factory
from app.db.models import Settlement, SettlementKind, utc_now
from app.errors import ImmutableRecordError
from tests import factories


@pytest.fixture
def sessions(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            # FULL (2): a committed outbox row survives a power cut (NORMAL would be 1).
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2
        assert ((tmp_path / "x.sqlite3").stat().st_mode & 0o077) == 0
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(sessions) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError):
        with sessions.begin() as session:
            session.execute(text(
                "INSERT INTO diagnosis (stay_id, role, seq, code, name, injury) VALUES (999, 'admitting', 1, 'S62.300', 'x', true)"
            ))


def test_money_is_exact_after_a_round_trip(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        settlement_id = factories.settlement(session, factories.stay(session)).id
    with sessions() as session:
        stored = session.get(Settlement, settlement_id)
        assert stored is not None
        assert (stored.total, stored.fund_total, stored.personal_total) == (
            Decimal("24184.00"), Decimal("22283.00"), Decimal("1901.00"))


def test_a_settlement_cannot_be_edited_or_deleted(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        settlement_id = factories.settlement(session, factories.stay(session)).id
    with sessions() as session:
        stored = session.get(Settlement, settlement_id)
        assert stored is not None
        stored.personal_total = Decimal("0.00")
        with pytest.raises(ImmutableRecordError, match="不可修改"):
            session.flush()
        session.rollback()
        session.delete(session.get(Settlement, settlement_id))
        with pytest.raises(ImmutableRecordError, match="不可删除"):
            session.flush()


def test_a_cancellation_is_a_new_record_linked_to_the_original_once(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        stay = factories.stay(session)
        original = factories.settlement(session, stay)
        cancellation = Settlement(
            stay_id=stay.id, kind=SettlementKind.CANCELLATION, reverses_id=original.id, centre_settlement_id="JS0001",
            msgid="H440801000012020111809000000002", settlement_kind=original.settlement_kind,
            settled_on=dt.date(2020, 11, 18), settled_at=utc_now(), total=-original.total,
            fund_total=-original.fund_total, personal_total=-original.personal_total,
            operator_id=stay.created_by, reason="结算有误，患者要求重算",
        )
        session.add(cancellation)
        session.flush()
        assert cancellation.total + original.total == Decimal("0.00")
        stay_id, original_id, operator_id = stay.id, original.id, stay.created_by
    # The same settlement cannot be cancelled twice.
    with pytest.raises(IntegrityError):
        with sessions.begin() as session:
            session.add(Settlement(
                stay_id=stay_id, kind=SettlementKind.CANCELLATION, reverses_id=original_id, centre_settlement_id="JS0001",
                msgid="H440801000012020111809000000003", settlement_kind="省内异地就医", settled_on=dt.date(2020, 11, 18),
                settled_at=utc_now(), total=Decimal("-24184.00"), fund_total=Decimal("-22283.00"),
                personal_total=Decimal("-1901.00"), operator_id=operator_id,
            ))


def test_the_database_refuses_totals_that_do_not_add_up(sessions) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError):
        with sessions.begin() as session:
            stay = factories.stay(session)
            session.add(Settlement(
                stay_id=stay.id, kind=SettlementKind.SETTLEMENT, centre_settlement_id="JS0009",
                msgid="H440801000012020111708000000009", settlement_kind="本地工伤结算", settled_on=dt.date(2020, 11, 17),
                settled_at=utc_now(), total=Decimal("100.00"), fund_total=Decimal("90.00"),
                personal_total=Decimal("9.99"), operator_id=stay.created_by,
            ))


def test_a_cancellation_must_name_its_original(sessions) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError):
        with sessions.begin() as session:
            stay = factories.stay(session)
            session.add(Settlement(
                stay_id=stay.id, kind=SettlementKind.CANCELLATION, centre_settlement_id="JS0010",
                msgid="H440801000012020111708000000010", settlement_kind="本地工伤结算", settled_on=dt.date(2020, 11, 17),
                settled_at=utc_now(), total=Decimal("-1.00"), fund_total=Decimal("-1.00"),
                personal_total=Decimal("0.00"), operator_id=stay.created_by,
            ))


def test_times_come_back_aware_in_utc(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        stay_id = factories.stay(session).id
    with sessions() as session:
        from app.db.models import Stay

        stored = session.get(Stay, stay_id)
        assert stored is not None and stored.created_at.tzinfo is dt.UTC
