"""Column types for exact decimals.

Money is `Decimal` in Python and an integer count of fen in the database, on SQLite
and PostgreSQL alike: SQLite has no exact decimal type (NUMERIC there is stored as a
float when it can be), so an integer is the only storage that is exact on both.
Columns holding fen are named `*_fen` in SQL so that a person querying the database
directly sees the unit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class ScaledDecimal(TypeDecorator[Decimal]):
    """A `Decimal` with a fixed number of places, stored as an integer ×10^places."""

    impl = BigInteger
    cache_ok = True

    def __init__(self, places: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.places = places
        self._quantum = Decimal(1).scaleb(-places)

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            # A float here would already have lost the fen; refuse rather than guess.
            raise TypeError(f"exact decimal column expects Decimal, got {type(value).__name__}: {value!r}")
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        scaled = value.scaleb(self.places)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.places} decimal places")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-self.places).quantize(self._quantum)

    def copy(self, **kw: Any) -> ScaledDecimal:
        return ScaledDecimal(self.places)

    def __repr__(self) -> str:
        return f"ScaledDecimal({self.places})"


def Money() -> ScaledDecimal:  # noqa: N802 - reads as a type in column declarations
    """Yuan with two places (fen)."""
    return ScaledDecimal(2)


def UnitPrice() -> ScaledDecimal:  # noqa: N802
    """Unit prices: drug prices such as 0.1250 元/片 need four places."""
    return ScaledDecimal(4)


def Quantity() -> ScaledDecimal:  # noqa: N802
    """Quantities: fractions of a pack or of an hour occur; negative for refunds."""
    return ScaledDecimal(4)
