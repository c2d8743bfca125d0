"""伤病分离 precedence and the bucket rule, defined once (`app.rules.classify`), and the rules' callers
tied to them: the settlement and the pre-audit give, for the same table of lines, the answer the one
definition gives (`003 §15`: the 工伤认定书's diagnoses are the basis of 伤病分离). The workflow's
callers (case builder, 伤病分离 workspace, discharge upload) are tied in `tests/workflow/test_classify_callers.py`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

from app.preaudit.adapters import stay_audit_from_case
from app.preaudit.engine import audit
from app.preaudit.ruleset import default_ruleset
from app.rules.case import InvalidCase
from app.rules.classify import (
    FUND,
    NON_INJURY,
    OVER_LIMIT,
    SELF_PAY,
    diagnosis_injury,
    line_injury,
    line_rule,
    payment_limit,
    split_line,
)
from app.rules.settlement import compute
from tests.rules.base_case import base_case, item, parsed

RECOGNITION = ("S62.300", "S82.100", "S32.000")  # the 工伤认定书's diagnoses


class Row(NamedTuple):
    """One line of the table: the stay's markings (admission, then discharge), the line's flag and diagnosis."""

    name: str
    admitting: tuple[tuple[str, bool], ...]
    discharge: tuple[tuple[str, bool], ...]
    flag: bool | None
    diagnosis: str | None
    expected: bool | None  # None: unclassified


TABLE = (
    Row("flag non-injury beats a recognition diagnosis", (), (), False, "S62.300", False),
    Row("flag injury beats a non-injury diagnosis", (), (("I10", False),), True, "I10", True),
    Row("flag injury without a diagnosis", (), (), True, None, True),
    Row("recognition diagnosis the stay does not list (003 §15)", (), (), None, "S82.100", True),
    Row("recognition diagnosis the stay marks non-injury", (), (("S32.000", False),), None, "S32.000", False),
    Row("stay injury diagnosis", (), (("S42.200", True),), None, "S42.200", True),
    Row("stay non-injury diagnosis", (), (("I10", False),), None, "I10", False),
    Row("a diagnosis of nobody's", (), (), None, "E11.900", None),
    Row("no flag and no diagnosis", (), (), None, None, None),
    Row("discharge marking injury wins over admission", (("K35.800", False),), (("K35.800", True),), None,
        "K35.800", True),
    Row("discharge marking non-injury wins over admission", (("S82.100", True),), (("S82.100", False),), None,
        "S82.100", False),
)
PURE = [row for row in TABLE if not row.admitting]  # a case file has one marking per diagnosis


def expected_injury(row: Row) -> bool | None:
    return line_injury(row.flag, row.diagnosis, diagnosis_injury(RECOGNITION, row.admitting + row.discharge))


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
def test_the_one_precedence_gives_the_table(row: Row) -> None:
    assert expected_injury(row) is row.expected


def _case_of(rows: list[Row]) -> dict[str, Any]:
    """One case with a line per row (seq = position + 1), all on one catalogue item without limits."""
    case = base_case()
    case["recognition"]["diagnoses"] = [{"code": code, "name": f"认定诊断{code}"} for code in RECOGNITION]
    marks: dict[str, bool] = {}
    for row in rows:
        marks.update(dict(row.discharge))
    case["stay"]["diagnoses"] = [{"code": code, "name": f"诊断{code}", "injury": flag} for code, flag in marks.items()]
    case["catalogue"] = [{"code": "C1301", "name": "接骨板", "category": "consumable", "price_limit": None,
                          "max_pay": None}]
    case["items"] = [item(seq, "C1301", "consumable", "1", "10.00", "10.00", diagnosis=row.diagnosis, injury=row.flag)
                     for seq, row in enumerate(rows, start=1)]
    return case


def _consistent(rows: list[Row]) -> list[Row]:
    """Rows that can share one stay: each diagnosis marked the same way by all of them."""
    chosen: list[Row] = []
    marks: dict[str, bool] = {}
    for row in rows:
        if all(marks.get(code, flag) == flag for code, flag in row.discharge):
            chosen.append(row)
            marks.update(dict(row.discharge))
    return chosen


@pytest.mark.parametrize("row", PURE, ids=[row.name for row in PURE])
def test_the_settlement_follows_the_one_precedence(row: Row) -> None:
    """`app.rules.settlement.compute`: non-injury ⇔ False, fund ⇔ True, refused as unclassified ⇔ None."""
    case = parsed(_case_of([row]))
    if row.expected is None:
        with pytest.raises(InvalidCase) as refused:
            compute(case)
        assert refused.value.unclassified == [1]
        return
    (line,) = compute(case).lines
    assert line.bucket == (FUND if expected_injury(row) else NON_INJURY)


def test_the_pre_audit_follows_the_one_precedence() -> None:
    """`app.preaudit`: a line dated before admission is deducted for its fund part — only an injury
    line has one (an unclassified line is weighed as injury: the agency judges what the fund is charged)."""
    rows = _consistent(PURE)
    assert len(rows) == len(PURE)  # every pure row fits in one stay
    document = _case_of(rows)
    for line in document["items"]:
        line["date"] = "2020-09-20"  # before the admission on 2020-09-22: outside the stay
    findings = audit(stay_audit_from_case(parsed(document)), default_ruleset())
    deducted = {finding.seq for finding in findings if finding.rule == "outside_stay_dates"}
    assert deducted == {seq for seq, row in enumerate(rows, start=1) if expected_injury(row) is not False}


@pytest.mark.parametrize(("price_limit", "max_pay", "limit", "kind"), [
    (None, None, None, "限价"),
    (Decimal("10.00"), None, Decimal("10.00"), "限价"),
    (Decimal("10.00"), Decimal("8.00"), Decimal("8.00"), "最高支付限额"),  # a device: the lower one (001 §15)
    (None, Decimal("120.00"), Decimal("120.00"), "最高支付限额"),
])
def test_the_payment_limit_is_the_lower_of_price_limit_and_max_pay(
        price_limit: Decimal | None, max_pay: Decimal | None, limit: Decimal | None, kind: str) -> None:
    assert payment_limit(price_limit, max_pay) == (limit, kind)


def test_the_bucket_rule_in_order() -> None:
    """CASES.md settle: non-injury, then outside the catalogue, then above the limit, else the fund."""
    q, amount = Decimal("3"), Decimal("37.50")
    assert split_line(line_rule(False, True, Decimal("1.00")), Decimal("12.50"), q, amount) == (NON_INJURY, 0, amount)
    assert split_line(line_rule(True, False), Decimal("12.50"), q, amount) == (SELF_PAY, 0, amount)
    assert split_line(line_rule(True, True, Decimal("10.00")), Decimal("12.50"), q, amount) == (
        OVER_LIMIT, Decimal("30.00"), Decimal("7.50"))
    assert split_line(line_rule(True, True, Decimal("12.50")), Decimal("12.50"), q, amount) == (FUND, amount, 0)
    # a refund at its original's price mirrors it exactly
    assert split_line(line_rule(True, True, Decimal("10.00")), Decimal("12.50"), -q, -amount) == (
        OVER_LIMIT, Decimal("-30.00"), Decimal("-7.50"))


def test_the_pre_audit_and_the_settlement_split_a_line_alike() -> None:
    """The bucket rule once: the pre-audit's fund part of an over-limit line is the settlement's fund part."""
    document = base_case()
    document["items"] = [item(1, "XJ01DC02", "drug", "6", "38.50", "231.00"),
                         item(2, "XJ01DC02", "drug", "-2", "38.50", "-77.00", refund_of=1)]
    for line in document["items"]:
        line["date"] = "2020-09-20"
    case = parsed(document)
    settled = compute(case)
    fund = sum((line.fund for line in settled.lines), Decimal("0.00"))
    findings = [f for f in audit(stay_audit_from_case(case), default_ruleset()) if f.rule == "outside_stay_dates"]
    assert [f.amount_at_risk for f in findings] == [fund] == [Decimal("40.00")]
    assert dt.date(2020, 9, 20) < case.stay.admitted
