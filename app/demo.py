"""Demo mode: a data folder of its own, seeded with a demo institution and operators.

Later issues add the virtual card and the sandbox centre to the demo.
"""

from __future__ import annotations

import tomllib

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.db.models import Institution, Operator, Role
from app.resources import resource_path

DEMO_PASSWORD = "demo1234"


def load_demo_data() -> dict[str, object]:
    with resource_path("demo", "demo.toml").open("rb") as handle:
        return tomllib.load(handle)


def seed_demo(session: Session, counter_name: str) -> bool:
    """Create the demo institution and operators if missing. Returns True when it added anything."""
    data = load_demo_data()
    added = False
    institution = data["institution"]
    assert isinstance(institution, dict)
    if session.scalars(select(Institution).where(Institution.code == institution["code"])).first() is None:
        session.add(Institution(**institution))
        added = True
    hasher = PasswordHasher()
    operators = data["operators"]
    assert isinstance(operators, list)
    for entry in operators:
        if session.scalars(select(Operator).where(Operator.login == entry["login"])).first() is None:
            session.add(
                Operator(
                    login=entry["login"],
                    display_name=entry["display_name"],
                    role=Role(entry["role"]),
                    password_hash=hasher.hash(DEMO_PASSWORD),
                )
            )
            added = True
    if added:
        session.flush()
        audit.record(session, "demo_seeded", operator_id=None, counter_name=counter_name)
    return added
