"""Card holders for the device tests (valid GB 11643 ID numbers, as in resources/demo/cards/)."""

from __future__ import annotations

import datetime as dt

from devices.virtual_card import CardPerson

ZHANG_WEI = CardPerson(
    name="张伟", sex="男", social_security_number="440802198503151236", birth_date=dt.date(1985, 3, 15),
    region_code="440800", card_number="A44080001", generation=3, birthplace="440802",
    issue_date=dt.date(2021, 6, 1), expiry_date=dt.date(2031, 6, 1),
)
LI_NA = CardPerson(
    name="李娜", sex="女", social_security_number="440106199007224565", birth_date=dt.date(1990, 7, 22),
    region_code="440100", card_number="B44010002", generation=2, birthplace="440106",
    issue_date=dt.date(2016, 9, 1), expiry_date=dt.date(2026, 12, 31),
)
CHEN_MIN = CardPerson(
    name="陈敏", sex="女", social_security_number="440803199211300085", birth_date=dt.date(1992, 11, 30),
    region_code="440800", card_number="D44080004", generation=2, birthplace="440803",
    issue_date=dt.date(2015, 6, 30), expiry_date=dt.date(2025, 6, 30),
)
