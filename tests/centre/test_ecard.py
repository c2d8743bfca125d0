"""The e-card (电子社保卡): the scanned token goes to the real sandbox centre untouched, and the
holder comes back in the shape of a card read (CARD.md: the token is opaque to the counter)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.bootstrap import CounterContext
from app.centre.ecard import ECARD_SOURCE, identity_from_person
from app.centre.gateway import CardInfo, CentreRefused, Person, Place
from app.composition import ecard_lookup
from tests.centre.client_fixtures import ZHANG_WEI, counter, sandbox  # noqa: F401 - fixtures

ZHANG_WEI_TOKEN = "ECARD-ZW-7F3A9C21"  # resources/sandbox/workers.toml


def test_the_centre_resolves_a_token_to_the_holder(counter: CounterContext) -> None:
    identity = ecard_lookup(counter, ("cashier", "张收款"))(ZHANG_WEI_TOKEN)
    assert identity.source == ECARD_SOURCE
    assert (identity.name, identity.sex, identity.social_security_number) == ("张伟", "男", ZHANG_WEI)
    assert identity.birth_date == dt.date(1985, 3, 15)
    assert identity.card_id == "" and identity.spec_version == ""  # chip-only fields are not invented


def test_an_unknown_token_is_refused_in_chinese(counter: CounterContext) -> None:
    with pytest.raises(CentreRefused) as refused:
        ecard_lookup(counter, ("cashier", "张收款"))("ECARD-NOT-A-TOKEN")
    assert "电子社保卡" in refused.value.message


def test_a_person_without_a_card_record_takes_birth_date_and_sex_from_the_id_number() -> None:
    person = Person(
        social_security_number="440106199007224565", name="李娜", sex="", birth_date=None, category="在职",
        insured_place=Place("广东省", "广州市", "440100"), card=None, insurance_active=True,
        contribution_ok=True, insurance_status="正常参保", profile="guangdong-intra", recognitions=(), filings=(),
    )
    identity = identity_from_person(person)
    assert (identity.birth_date, identity.sex, identity.region_code) == (dt.date(1990, 7, 22), "女", "440100")
    with_card = identity_from_person(
        Person(**{**person.__dict__, "card": CardInfo("B44010002", "440100", dt.date(2030, 1, 1))})
    )
    assert (with_card.card_number, with_card.expiry_date) == ("B44010002", dt.date(2030, 1, 1))
