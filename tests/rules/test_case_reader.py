"""The strict case-file reader: every problem, with its JSON path, all at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.rules.case import InvalidCase, parse_case, read_case_file, require_settled
from tests.rules.base_case import base_case, item


def problems(document: Any) -> dict[str, str]:
    with pytest.raises(InvalidCase) as caught:
        parse_case(document)
    return {p.path: p.message for p in caught.value.problems}


def test_the_example_of_the_contract_is_valid() -> None:
    case = parse_case(base_case())
    assert case.profile.name == "guangdong-intra" and len(case.items) == 1


def test_unknown_keys_are_errors() -> None:
    case = base_case()
    case["stay"]["admited"] = "2020-09-22"
    case["items"][0]["injurry"] = True
    found = problems(case)
    assert "$.stay.admited" in found and "$.items[0].injurry" in found


@pytest.mark.parametrize("field", ["quantity", "unit_price", "amount"])
def test_json_numbers_where_money_or_quantities_belong_are_errors(field: str) -> None:
    case = base_case()
    case["items"][0][field] = 15.0
    assert "不能是 JSON 数字" in problems(case)[f"$.items[0].{field}"]


def test_a_json_number_in_the_catalogue_is_an_error_too() -> None:
    case = base_case()
    case["catalogue"][0]["price_limit"] = 0.5
    assert "$.catalogue[0].price_limit" in problems(case)


def test_a_bad_id_check_digit_is_an_error() -> None:
    """GB 11643: the 18th character is the check digit."""
    case = base_case()
    case["worker"]["id_number"] = "440802198001011234"
    assert "校验位" in problems(case)["$.worker.id_number"]


def test_an_amount_that_is_not_quantity_times_price_is_an_error() -> None:
    case = base_case()
    case["items"][0]["amount"] = "15.01"
    assert "15.00" in problems(case)["$.items[0].amount"]


def test_an_amount_rounded_half_up_is_accepted() -> None:
    case = base_case()
    case["items"] = [item(1, "XB01AC06", "drug", "3", "0.125", "0.38")]  # 0.375 → 0.38
    parse_case(case)
    case["items"] = [item(1, "XB01AC06", "drug", "3", "0.125", "0.37")]
    assert "$.items[0].amount" in problems(case)


def test_refund_problems_are_reported() -> None:
    case = base_case()
    case["items"] = [
        item(1, "XB01AC06", "drug", "10", "0.50", "5.00"),
        item(2, "XB01AC06", "drug", "-1", "0.50", "-0.50", refund_of=9),  # no such original
        item(3, "C1301", "consumable", "-1", "0.50", "-0.50", refund_of=1),  # another code
        item(4, "XB01AC06", "drug", "-11", "0.50", "-5.50", refund_of=1),  # below zero net
        item(5, "XB01AC06", "drug", "-1", "0.50", "-0.50"),  # negative without refund_of
    ]
    found = problems(case)
    assert "不存在" in found["$.items[1].refund_of"]
    assert "编码" in found["$.items[2].refund_of"]
    assert "小于零" in found["$.items[3].quantity"]
    assert "refund_of" in found["$.items[4].quantity"]


@pytest.mark.parametrize(("section", "key", "value", "path"), [
    ("stay", "discharged", "2020-09-01", "$.stay.discharged"),
    ("stay", "settled", "2020-11-10", "$.stay.settled"),
    ("filing", "valid_to", "2020-09-01", "$.filing.valid_to"),
    ("recognition", "injury_date", "2020-09-23", "$.recognition.injury_date"),
])
def test_dates_out_of_order_are_errors(section: str, key: str, value: str, path: str) -> None:
    case = base_case()
    case[section][key] = value
    assert path in problems(case)


def test_a_filing_filed_after_admission_is_a_fact_not_an_error() -> None:
    case = base_case()
    case["filing"]["filed_on"] = "2020-10-01"
    case["filing"]["approved_on"] = "2020-10-01"
    parse_case(case)


def test_every_problem_is_reported_at_once() -> None:
    case = base_case()
    case["format"] = "wi-counter-case/2"
    case["profile"] = "shanghai"
    case["worker"]["sex"] = "M"
    case["stay"]["admitted"] = "2020-13-01"
    case["items"][0]["seq"] = "1"
    case["catalogue"][0]["category"] = "food"
    assert set(problems(case)) >= {"$.format", "$.profile", "$.worker.sex", "$.stay.admitted",
                                   "$.items[0].seq", "$.catalogue[0].category"}


def test_missing_required_fields_are_named() -> None:
    case = base_case()
    del case["stay"]["admitted"]
    del case["institution"]
    found = problems(case)
    assert "缺少" in found["$.stay.admitted"] and "缺少" in found["$.institution"]


def test_not_an_object_at_all() -> None:
    assert "$" in problems([1, 2, 3])


def test_duplicate_seq_and_catalogue_codes() -> None:
    case = base_case()
    case["items"].append(dict(case["items"][0]))
    case["catalogue"].append(dict(case["catalogue"][0]))
    found = problems(case)
    assert "$.items[1].seq" in found and "$.catalogue" in found


def test_discharge_needs_the_settlement_date() -> None:
    case = base_case()
    case["stay"]["settled"] = None
    parsed = parse_case(case)  # fine for the admission check
    with pytest.raises(InvalidCase) as caught:
        require_settled(parsed)
    assert caught.value.problems[0].path == "$.stay.settled"


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "不是有效的 JSON"),
    (b"\xff\xfe{}", "UTF-8"),
    ('{"format": NaN}', "NaN"),
    ("[" * 100_000 + "]" * 100_000, "嵌套层数过多"),  # past the recursion limit (found by tests/fuzz)
    ('{"format": ' + "9" * 5000 + "}", "整数过长"),  # past Python's 4300-digit limit (found by tests/fuzz)
])
def test_unreadable_files_are_reported(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "case.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InvalidCase, match=message):
        read_case_file(path)


def test_a_missing_file_is_reported_but_is_not_an_invalid_case(tmp_path: Path) -> None:
    from app.errors import WiCounterError

    with pytest.raises(WiCounterError, match="找不到") as caught:
        read_case_file(tmp_path / "none.json")
    assert not isinstance(caught.value, InvalidCase)


def test_a_refund_must_point_to_an_earlier_line() -> None:
    case = base_case()
    case["items"] = [
        item(1, "XB01AC06", "drug", "-1", "0.50", "-0.50", refund_of=2),
        item(2, "XB01AC06", "drug", "10", "0.50", "5.00"),
    ]
    assert "之前" in problems(case)["$.items[0].refund_of"]


@pytest.mark.parametrize("field", ["quantity", "unit_price", "amount"])
def test_figures_too_large_for_any_stay_are_errors_not_decimal_overflows(field: str) -> None:
    """Found by tests/fuzz: 30 digits made quantize() raise decimal.InvalidOperation."""
    case = base_case()
    case["items"][0][field] = "9" * 30
    assert "数值过大" in problems(case)[f"$.items[0].{field}"]


# Random sections, values and bytes: tests/fuzz/test_fuzz_case_file.py (hostile input, counted).


_GOOD_ITEM: dict[str, Any] = {"seq": 3, "code": "XB01AC06", "name": "阿司匹林肠溶片", "category": "drug",
                              "quantity": "30", "unit_price": "0.5000", "amount": "15.00", "date": "2026-11-20",
                              "diagnosis": "S82.201", "injury": True, "refund_of": None}
# Each field's values a reader may meet: good ones and every kind of bad one `_read_item` names.
_FIELD_VALUES: dict[str, list[Any]] = {
    "seq": [1, 0, -2, True, "3", 2.0, None],
    "code": ["X1", "", "  ", 5, None],
    "name": ["针", "", None, ["x"]],
    "category": ["treatment", "device", "drugs", None, 1, ["drug"]],
    "quantity": ["1", "-30", "0", "0.0", "1e3", " 1", "１", 30, 1.5, "1000000000", None],
    "unit_price": ["0.50", "-0.50", "0.125", "999999999.9999", "", None, "1.5.0"],
    "amount": ["15.00", "15.001", "15", "-15.00", "14.99", "15.0", "1000000000.00", None],
    "date": ["2026-02-30", "2026-1-02", "20261120", "２０２６-11-20", None, 20261120],
    "diagnosis": [None, "", " ", 1, "I10"],
    "injury": [None, False, "true", 1, 0],
    "refund_of": [None, 1, True, "1", 1.0, -1],
}


def test_the_quick_reading_of_an_item_agrees_with_the_full_one() -> None:
    """A stay's 20,000 lines are read quickly (`_plain_item`) when plainly well formed; for any other the
    full reading names the problems. Whatever the quick one accepts, the full one accepts too, as the
    same item; and an ordinary item (a refund too) takes the quick way."""
    from app.rules.case import _plain_item, _read_item, _Reader

    def agree(value: Any) -> bool:
        quick = _plain_item(value)
        reader = _Reader()
        full = _read_item(reader, value, "$.items[0]")
        if quick is not None:
            assert not reader.problems and full == quick, (value, reader.problems)
        return quick is not None

    assert agree(_GOOD_ITEM)
    assert agree({**_GOOD_ITEM, "seq": 9, "quantity": "-10", "amount": "-5.00", "refund_of": 3})
    assert agree({k: v for k, v in _GOOD_ITEM.items() if k not in ("diagnosis", "injury", "refund_of")})
    for field, values in _FIELD_VALUES.items():
        for value in values:
            agree({**_GOOD_ITEM, field: value})
        agree({k: v for k, v in _GOOD_ITEM.items() if k != field})  # missing
    for pair in (("quantity", "-30"), ("refund_of", 1)):  # a refund needs both, each alone is refused
        assert not agree({**_GOOD_ITEM, pair[0]: pair[1]})
    assert not agree({**_GOOD_ITEM, "extra": 1}) and not agree(["not", "an", "object"]) and not agree(None)
