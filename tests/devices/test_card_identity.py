"""The checks on what a card says (app/card_identity.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from app.card_identity import (
    JSON_FIELDS,
    BlankCard,
    CardExpired,
    CardIdentity,
    MalformedCardData,
    PsamRequired,
)

GOOD = CardIdentity(
    region_code="440800", social_security_number="440802198503151236", card_number="A44080001",
    card_id="440800D1564134343038303030310000", name="张伟", sex="男", nation="01", birthplace="440802",
    birth_date=dt.date(1985, 3, 15), spec_version="3.00", issue_date=dt.date(2021, 6, 1),
    expiry_date=dt.date(2031, 6, 1),
)


def test_a_consistent_identity_passes() -> None:
    assert GOOD.verified() is GOOD
    assert GOOD.generation == 3


def test_wrong_check_digit_is_refused() -> None:
    with pytest.raises(MalformedCardData) as caught:
        dataclasses.replace(GOOD, social_security_number="440802198503151237").verified()
    assert caught.value.field == "社会保障号码"
    assert "校验位" in caught.value.message


def test_birth_date_must_match_the_id_number() -> None:
    with pytest.raises(MalformedCardData) as caught:
        dataclasses.replace(GOOD, birth_date=dt.date(1985, 3, 16)).verified()
    assert caught.value.field == "出生日期"


def test_sex_must_match_the_id_number() -> None:
    with pytest.raises(MalformedCardData) as caught:
        dataclasses.replace(GOOD, sex="女").verified()
    assert caught.value.field == "性别"


def test_blank_card() -> None:
    blank = dataclasses.replace(GOOD, social_security_number="", name="", card_number="")
    with pytest.raises(BlankCard):
        blank.verified()


def test_partly_unreadable_third_generation_card_needs_psam() -> None:
    with pytest.raises(PsamRequired) as caught:
        dataclasses.replace(GOOD, name="").verified()
    assert "姓名" in caught.value.message


def test_partly_empty_second_generation_card_is_malformed() -> None:
    with pytest.raises(MalformedCardData):
        dataclasses.replace(GOOD, name="", spec_version="2.00").verified()


def test_expiry_is_a_flag_and_a_refusal_only_on_request() -> None:
    expired = dataclasses.replace(GOOD, expiry_date=dt.date(2025, 6, 30))
    assert expired.verified() is expired  # still identifies the person
    assert expired.is_expired(dt.date(2025, 7, 1))
    assert not expired.is_expired(dt.date(2025, 6, 30))
    with pytest.raises(CardExpired) as caught:
        expired.require_not_expired(dt.date(2025, 7, 1))
    assert caught.value.message.startswith("卡已过有效期")


def test_json_has_the_fixed_field_names_and_iso_dates() -> None:
    document = GOOD.as_json()
    assert tuple(document) == JSON_FIELDS
    assert document["birth_date"] == "1985-03-15"
    assert document["expiry_date"] == "2031-06-01"
    assert document["generation"] == 3
