"""The electronic social security card (电子社保卡): the scanned QR text is an opaque token that
only the centre can resolve (CARD.md: its format is not public), so the counter never parses it.

The 读卡 page shows what the centre says about the holder in the same form as a card read, so
the rest of the counter handles both alike; `source="ecard"` tells them apart. The lookup the page
calls is `app.composition.ecard_lookup`.
"""

from __future__ import annotations

from app import idnumber
from app.card_identity import CardIdentity
from app.centre.gateway import Person

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
