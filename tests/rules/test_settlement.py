"""The settlement computation, bucket by bucket (../shared/CASES.md `settle`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.rules.case import InvalidCase
from app.rules.settlement import compute
from tests.rules.base_case import base_case, item, parsed


def settle(items: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    case = base_case()
    case["items"] = items
    for key, value in changes.items():
        case[key] = value
    return compute(parsed(case)).as_json()


def line(result: dict[str, Any], seq: int) -> dict[str, Any]:
    return next(entry for entry in result["items"] if entry["seq"] == seq)


def test_a_line_flagged_non_injury_is_non_injury_even_with_an_injury_diagnosis() -> None:
    """003 §15, 003 §26: the HIS or the clerk flags each non-injury line."""
    result = settle([item(1, "C1301", "consumable", "1", "800.00", "800.00", diagnosis="S62.300", injury=False)])
    assert line(result, 1) | {"reason": ""} == {"seq": 1, "bucket": "non_injury", "fund": "0.00",
                                                "personal": "800.00", "reason": ""}
    assert result["matrix"]["non_injury"]["consumable"] == "800.00"


def test_an_unflagged_line_follows_its_diagnosis() -> None:
    """003 §15: the split follows the injury diagnosis of the recognition."""
    result = settle([
        item(1, "XB01AC06", "drug", "30", "0.50", "15.00", diagnosis="I10"),
        item(2, "XB01AC06", "drug", "10", "0.50", "5.00", diagnosis="S62.300"),
    ])
    assert (line(result, 1)["bucket"], line(result, 2)["bucket"]) == ("non_injury", "fund")


def test_a_recognition_diagnosis_counts_as_injury_even_if_not_listed_for_the_stay() -> None:
    case = base_case()
    case["recognition"]["diagnoses"].append({"code": "S62.600", "name": "指骨骨折"})
    case["items"] = [item(1, "C1301", "consumable", "1", "100.00", "100.00", diagnosis="S62.600")]
    assert compute(parsed(case)).lines[0].bucket == "fund"


def test_a_line_outside_the_catalogue_is_self_pay() -> None:
    """003 §15: over-catalogue costs are not paid by the fund."""
    result = settle([item(1, "ZZ9999", "treatment", "2", "518.00", "1036.00")])
    assert line(result, 1)["bucket"] == "self_pay"
    assert result["matrix"]["self_pay"]["treatment"] == "1036.00"
    assert result["fund_total"] == "0.00" and result["personal_total"] == "1036.00"


def test_non_injury_comes_before_the_catalogue_check() -> None:
    """CASES.md bucket order; 003 §15: non-injury costs are separated first."""
    result = settle([item(1, "ZZ9999", "treatment", "1", "50.00", "50.00", injury=False)])
    assert line(result, 1)["bucket"] == "non_injury"


def test_above_the_price_limit_the_fund_pays_the_limit_and_the_rest_is_over_limit() -> None:
    """003 §3: the fund pays up to the price standard; the excess is the worker's."""
    result = settle([item(1, "110900001", "treatment", "50", "52.00", "2600.00")])  # bed day limit 50.00
    assert line(result, 1) | {"reason": ""} == {"seq": 1, "bucket": "over_limit", "fund": "2500.00",
                                                "personal": "100.00", "reason": ""}
    assert result["matrix"]["fund"]["treatment"] == "2500.00"
    assert result["matrix"]["over_limit"]["treatment"] == "100.00"


def test_at_the_price_limit_exactly_the_fund_pays_all() -> None:
    """003 §3: the limit itself is within the standard."""
    result = settle([item(1, "110900001", "treatment", "3", "50.00", "150.00")])
    assert line(result, 1)["bucket"] == "fund" and line(result, 1)["fund"] == "150.00"


def test_a_device_above_its_payment_limit_pays_the_limit_per_unit() -> None:
    """001 §15, 000 附件9-2: devices at actual cost up to the 最高支付限额; the excess is the worker's."""
    result = settle([item(1, "F0301", "device", "2", "150.00", "300.00")], )
    assert line(result, 1) | {"reason": ""} == {"seq": 1, "bucket": "over_limit", "fund": "240.00",
                                                "personal": "60.00", "reason": ""}
    assert result["matrix"]["fund"]["device"] == "240.00"
    assert result["matrix"]["over_limit"]["device"] == "60.00"


def test_over_limit_lines_are_rounded_half_up_per_line() -> None:
    """Each line rounded half-up to the fen; totals are sums of rounded lines."""
    case = base_case()
    case["catalogue"].append({"code": "XJ0001", "name": "某注射液", "category": "drug", "price_limit": "0.125",
                              "max_pay": None})
    case["items"] = [
        item(1, "XJ0001", "drug", "3", "0.20", "0.60"),  # fund 3 × 0.125 = 0.375 → 0.38
        item(2, "XJ0001", "drug", "1", "0.20", "0.20"),  # fund 0.125 → 0.13
    ]
    result = compute(parsed(case)).as_json()
    assert (line(result, 1)["fund"], line(result, 1)["personal"]) == ("0.38", "0.22")
    assert (line(result, 2)["fund"], line(result, 2)["personal"]) == ("0.13", "0.07")
    assert result["matrix"]["fund"]["drug"] == "0.51"  # sum of rounded lines, not round(0.5)
    assert result["matrix"]["over_limit"]["drug"] == "0.29"


def test_a_refund_follows_its_original_line_and_nets_against_it() -> None:
    """CASES.md: refund lines follow the line they refund (000 附件9: claims net of refunds)."""
    result = settle([
        item(1, "110900001", "treatment", "10", "52.00", "520.00"),
        item(2, "110900001", "treatment", "-2", "52.00", "-104.00", refund_of=1),
        item(3, "XB01AC06", "drug", "30", "0.50", "15.00", diagnosis="I10"),
        item(4, "XB01AC06", "drug", "-30", "0.50", "-15.00", diagnosis=None, refund_of=3),
    ])
    assert line(result, 2) | {"reason": ""} == {"seq": 2, "bucket": "over_limit", "fund": "-100.00",
                                                "personal": "-4.00", "reason": ""}
    assert line(result, 4)["bucket"] == "non_injury"  # follows seq 3, though it names no diagnosis
    assert result["matrix"]["fund"]["treatment"] == "400.00"
    assert result["matrix"]["over_limit"]["treatment"] == "16.00"
    assert result["matrix"]["non_injury"]["drug"] == "0.00"  # never "-0.00"
    assert result["total"] == "416.00"


def test_an_unclassified_line_is_refused_naming_every_seq() -> None:
    """CASES.md: injury null and the diagnosis missing or unknown → settle refuses."""
    with pytest.raises(InvalidCase) as caught:
        settle([
            item(1, "XB01AC06", "drug", "1", "0.50", "0.50", diagnosis=None),
            item(2, "XB01AC06", "drug", "1", "0.50", "0.50", diagnosis="Z99.9"),
            item(3, "XB01AC06", "drug", "1", "0.50", "0.50", diagnosis="Z99.9", injury=True),
        ])
    assert caught.value.unclassified == [1, 2]
    assert [p.path for p in caught.value.problems] == ["$.items[0].diagnosis", "$.items[1].diagnosis"]


def test_the_guangdong_sample_slip_adds_up() -> None:
    """003 附表3: fund 22283.00 + personal 1901.00 = 24184.00, as on the sample slip."""
    case = base_case()
    case["catalogue"] += [
        {"code": "D001", "name": "头孢呋辛钠注射液", "category": "drug", "price_limit": None, "max_pay": None},
        {"code": "T001", "name": "手术费", "category": "treatment", "price_limit": None, "max_pay": None},
    ]
    case["items"] = [
        item(1, "D001", "drug", "1", "5884.00", "5884.00"),
        item(2, "T001", "treatment", "1", "4296.00", "4296.00"),
        item(3, "110900001", "treatment", "50", "52.00", "2600.00"),  # 2500 fund + 100 over limit
        item(4, "C1301", "consumable", "1", "12003.00", "12003.00"),
        item(5, "XD9999", "drug", "1", "265.00", "265.00"),
        item(6, "XT9999", "treatment", "1", "1036.00", "1036.00"),
        item(7, "XB01AC06", "drug", "400", "0.50", "200.00", diagnosis="I10"),
        item(8, "T001", "treatment", "1", "300.00", "300.00", injury=False),
    ]
    # bed days: the fund part 2500.00 joins 1896.00 of other treatment lines below
    case["items"][1] = item(2, "T001", "treatment", "1", "1896.00", "1896.00")
    result = compute(parsed(case)).as_json()
    assert result["matrix"]["fund"] == {"drug": "5884.00", "treatment": "4396.00", "consumable": "12003.00",
                                        "rehab": "0.00", "device": "0.00", "total": "22283.00"}
    assert result["matrix"]["over_limit"]["total"] == "100.00"
    assert result["matrix"]["self_pay"] == {"drug": "265.00", "treatment": "1036.00", "consumable": "0.00",
                                            "rehab": "0.00", "device": "0.00", "total": "1301.00"}
    assert result["matrix"]["non_injury"]["total"] == "500.00"
    assert (result["total"], result["fund_total"], result["personal_total"]) == ("24184.00", "22283.00", "1901.00")


def test_amounts_are_decimals_end_to_end() -> None:
    """No float near money."""
    result = compute(parsed(base_case()))
    assert all(isinstance(v, Decimal) for row in result.matrix.values() for v in row.values())
    assert isinstance(result.total, Decimal)
