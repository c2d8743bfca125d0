"""Demo mode: a data folder of its own, seeded with a demo institution and operators.

Demo mode also holds one settled stay (the official sample slip's figures) so that the
结算单 page has a slip to preview and print, and its copy of the centre's catalogue
(`resources/demo/catalogue.toml`) as the local catalogue (a sample HIS export to import is `resources/demo/his/张伟-住院费用.csv`). Later issues add the virtual card and the
sandbox centre to the demo.
"""

from __future__ import annotations

import functools

import tomllib

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.db.identity import require_demo
from app.db.models import Institution, Operator, Role
from app.resources import resource_path

DEMO_PASSWORD = "demo1234"


def load_demo_data() -> dict[str, object]:
    with resource_path("demo", "demo.toml").open("rb") as handle:
        return tomllib.load(handle)


def seed_demo(session: Session, counter_name: str) -> bool:
    """Create the demo institution and operators if missing. Returns True when it added anything.

    Only into a database created as a demo: a site's database refuses (its operators would gain
    the demo accounts and their public password)."""
    require_demo(session, "当前数据库")
    data = load_demo_data()
    added = False
    institution = data["institution"]
    assert isinstance(institution, dict)
    if session.scalars(select(Institution).where(Institution.code == institution["code"])).first() is None:
        session.add(Institution(**institution))
        added = True
    operators = data["operators"]
    assert isinstance(operators, list)
    for entry in operators:
        if session.scalars(select(Operator).where(Operator.login == entry["login"])).first() is None:
            session.add(
                Operator(
                    login=entry["login"],
                    display_name=entry["display_name"],
                    role=Role(entry["role"]),
                    password_hash=_demo_password_hash(),
                )
            )
            added = True
    if added:
        session.flush()
        audit.record(session, "demo_seeded", operator_id=None, counter_name=counter_name)
    added = _seed_demo_settlement(session, counter_name) or added
    added = _seed_demo_catalogue(session) or added
    return added


@functools.cache
def _demo_password_hash() -> str:
    """One argon2 hash of the public demo password per process, for every demo account: hashing it
    anew for each account at each seeding cost 0.13 s an account, and the password is public."""
    return PasswordHasher().hash(DEMO_PASSWORD)


def _seed_demo_catalogue(session: Session) -> bool:
    """The demo counter's copy of the centre's catalogue (`resources/demo/catalogue.toml`) as the local one, so
    the demo matches HIS codes and previews (issue 6)."""
    from app.workflow.catalogue import seed_demo_catalogue

    return seed_demo_catalogue(session) > 0


def _seed_demo_settlement(session: Session, counter_name: str) -> bool:
    """One settled stay (the official sample slip's figures, `003 附表3`) for the 结算单 page."""
    import datetime as dt

    from app.demo.case_records import record_case_stay
    from app.db.models import MedicalRecordCompletion, Settlement
    from app.rules.case import read_case_file
    from app.rules.settlement import compute
    from app.slips import record_settlement

    if session.scalars(select(Settlement).limit(1)).first() is not None:
        return False
    cashier = session.scalars(select(Operator).where(Operator.login == "cashier")).first()
    reviewer = session.scalars(select(Operator).where(Operator.login == "reviewer")).first()
    if cashier is None:
        return False
    case = read_case_file(resource_path("demo", "sample-settlement.json"))
    assert case.stay.settled is not None
    stay = record_case_stay(session, case, cashier.id)
    settlement = record_settlement(
        session, stay, compute(case), operator_id=cashier.id, counter_name=counter_name,
        centre_settlement_id="DEMO-JS-0001", msgid="DEMO-0001",
        settled_at=dt.datetime.combine(case.stay.settled, dt.time(2, 30), tzinfo=dt.UTC),
        settled_on=case.stay.settled, reviewer_id=reviewer.id if reviewer is not None else None)
    # A sample from years ago: its 病案首页 was completed long since (003 §16), not a deadline to show.
    session.add(MedicalRecordCompletion(
        settlement_id=settlement.id, completed_by=cashier.id, counter_name=counter_name,
        completed_at=dt.datetime.combine(case.stay.settled + dt.timedelta(days=2), dt.time(2, 30), tzinfo=dt.UTC)))
    return True
