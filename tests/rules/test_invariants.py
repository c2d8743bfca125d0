"""Invariants of the settlement over generated stays (refunds and price limits included)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rules.case import CATEGORIES, round_money
from app.rules.settlement import BUCKETS, compute
from tests.rules.base_case import base_case, parsed

CODES = [f"C{n:03d}" for n in range(8)]


@st.composite
def stays(draw: st.DrawFn) -> dict[str, Any]:
    case = base_case()
    catalogue = []
    for code in CODES[:6]:  # C006 and C007 stay outside the catalogue (self-pay)
        limit = draw(st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)))
        max_pay = draw(st.one_of(st.none(), st.decimals(min_value=Decimal("1"), max_value=Decimal("900"), places=2)))
        catalogue.append({"code": code, "name": code, "category": draw(st.sampled_from(CATEGORIES)),
                          "price_limit": None if limit is None else str(limit),
                          "max_pay": None if max_pay is None else str(max_pay)})
    case["catalogue"] = catalogue
    items: list[dict[str, Any]] = []
    seq = 0
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        seq += 1
        code = draw(st.sampled_from(CODES))
        quantity = draw(st.decimals(min_value=Decimal("0.5"), max_value=Decimal("40"), places=1))
        price = draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999"), places=3))
        injury = draw(st.sampled_from([True, False, None]))
        diagnosis = draw(st.sampled_from(["S62.300", "I10"]))
        original = {"seq": seq, "code": code, "name": code, "category": draw(st.sampled_from(CATEGORIES)),
                    "quantity": str(quantity), "unit_price": str(price), "amount": str(round_money(quantity * price)),
                    "diagnosis": diagnosis, "injury": injury, "refund_of": None, "date": "2020-10-01"}
        items.append(original)
        if draw(st.booleans()):
            back = draw(st.decimals(min_value=Decimal("0.1"), max_value=quantity, places=1))
            seq += 1
            items.append({**original, "seq": seq, "quantity": str(-back),
                          "amount": str(round_money(-back * price)), "refund_of": original["seq"],
                          "diagnosis": None, "injury": None})
    case["items"] = items
    return case


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(stays(), st.randoms(use_true_random=False))
def test_settlement_invariants(document: dict[str, Any], shuffler: random.Random) -> None:
    result = compute(parsed(document))
    # every line in exactly one bucket
    assert sorted(line.seq for line in result.lines) == sorted(item["seq"] for item in document["items"])
    assert all(line.bucket in BUCKETS for line in result.lines)
    # each line: fund + personal = amount; the fund never pays more than the line
    for line in result.lines:
        assert line.fund + line.personal == line.amount
        assert abs(line.fund) <= abs(line.amount)
    # bucket totals sum to the total; fund + personal = total
    total = sum((Decimal(item["amount"]) for item in document["items"]), Decimal("0"))
    assert sum((result.row_total(bucket) for bucket in BUCKETS), Decimal("0")) == total == result.total
    assert result.fund_total + result.personal_total == result.total
    # the order of lines does not matter
    shuffled = dict(document)
    shuffled["items"] = list(document["items"])
    shuffler.shuffle(shuffled["items"])
    assert compute(parsed(shuffled)).as_json() == result.as_json()
