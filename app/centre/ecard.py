"""The electronic social security card (电子社保卡): the scanned QR text is an opaque token that
only the centre can resolve (CARD.md: its format is not public), so the counter never parses it.

The 读卡 page shows what the centre says about the holder in the same form as a card read, so
the rest of the counter handles both alike; `source="ecard"` tells them apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app import idnumber
from app.card_identity import CardIdentity
from app.centre.gateway import Person, PersonKey

if TYPE_CHECKING:
    from app.bootstrap import CounterContext

ECARD_SOURCE = "ecard"
_SEX_NAMES = {"1": "男", "2": "女", "男": "男", "女": "女"}


def identity_from_person(person: Person) -> CardIdentity:
    """The centre's person, shaped like a card read. The e-card has no chip, so the chip-only
    fields (卡识别码, 规范版本, 民族, 出生地) stay empty rather than invented."""
    ssn = person.social_security_number
    birth = person.birth_date or idnumber.birth_date(ssn)
    card = person.card
    return CardIdentity(
        region_code=card.issuing_region if card is not None else person.insured_place.city_code,
        social_security_number=ssn,
        card_number=card.number if card is not None else "",
        card_id="",
        name=person.name,
        sex=_SEX_NAMES.get(person.sex, person.sex) or idnumber.sex(ssn),
        nation=None,
        birthplace=None,
        birth_date=birth,
        spec_version="",
        issue_date=None,
        expiry_date=card.valid_until if card is not None else None,
        source=ECARD_SOURCE,
    )


def ecard_lookup(ctx: CounterContext, operator: tuple[str, str]) -> Callable[[str], CardIdentity]:
    """A lookup for the 读卡 page's scan field: token → the holder, asked of the centre.

    Runs on a worker thread (the page's `Operation`); each call opens and closes its own client
    so no HTTP connection is shared between threads.
    """

    def lookup(token: str) -> CardIdentity:
        from app.centre.client import open_centre

        client = open_centre(ctx, operator)
        try:
            return identity_from_person(client.find_person(PersonKey.ECARD_TOKEN, token))
        finally:
            client.close()

    return lookup
