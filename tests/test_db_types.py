from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.exc import StatementError

from app.db.types import Money, Quantity

metadata = MetaData()
amounts = Table("amounts", metadata, Column("id", Integer, primary_key=True),
                Column("money_fen", Money()), Column("quantity_e4", Quantity()))


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@given(st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2))
def test_money_round_trips_exactly(engine, value: Decimal) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        row_id = connection.execute(insert(amounts).values(money_fen=value)).inserted_primary_key[0]
        stored = connection.execute(select(amounts.c.money_fen).where(amounts.c.id == row_id)).scalar_one()
        raw = connection.exec_driver_sql(f"SELECT money_fen FROM amounts WHERE id = {row_id}").scalar_one()
    assert stored == value
    assert str(stored) == f"{value:.2f}"  # always two places, as the slip prints it
    assert isinstance(raw, int)  # integer fen in the database, no float anywhere


def test_quantities_keep_four_places(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        row_id = connection.execute(insert(amounts).values(quantity_e4=Decimal("-0.3333"))).inserted_primary_key[0]
        stored = connection.execute(select(amounts.c.quantity_e4).where(amounts.c.id == row_id)).scalar_one()
    assert stored == Decimal("-0.3333")


@pytest.mark.parametrize("bad", [12.5, 3, "12.50", Decimal("0.001"), Decimal("NaN"), Decimal("Infinity")])
def test_money_refuses_floats_and_anything_inexact(engine, bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StatementError):
        with engine.begin() as connection:
            connection.execute(insert(amounts).values(money_fen=bad))
