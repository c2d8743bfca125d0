"""Place names as every form, slip, chart and message shows them (issue 23 item 15): a municipality
(直辖市: 北京、天津、上海、重庆) reads 北京市, never 北京市北京市; elsewhere province + city."""

from __future__ import annotations

import pytest

from app.claims.service import insured_place
from app.rules.case import Place, place_name


@pytest.mark.parametrize(("province", "city", "shown"), [
    ("广东省", "广州市", "广东省广州市"),
    ("北京市", "北京市", "北京市"),
    ("天津市", "天津市", "天津市"),
    ("上海市", "上海市", "上海市"),
    ("重庆市", "重庆市", "重庆市"),
    ("北京", "北京市", "北京市"),  # a short province name
    ("上海市", "市辖区", "上海市"),  # the code table's city of a municipality
    ("重庆市", "县", "重庆市"),
    ("北京市", "朝阳区", "北京市朝阳区"),  # a district is a place of its own
    ("宁夏回族自治区", "银川市", "宁夏回族自治区银川市"),
])
def test_place_name(province: str, city: str, shown: str) -> None:
    assert place_name(province, city) == shown
    assert Place(province, city, "110100").name == shown


def test_the_claim_forms_and_charts_name_a_municipality_once() -> None:
    """附件9 / 9-1 参保地 and the month's chart (by insured place): a Beijing worker at a Guangdong hospital."""
    assert insured_place("广东省", "北京市", "北京市") == "北京市"
    assert insured_place("广东省", "重庆市", "重庆市") == "重庆市"
    assert insured_place("广东省", "宁夏回族自治区", "银川市") == "宁夏回族自治区银川市"
    assert insured_place("广东省", "广东省", "广州市") == "广州市"  # same province: the city alone
