"""The workflow's 伤病分离 callers tied to the one definition (`app.rules.classify`, `003 §15`).

For each row of the table of `tests/rules/test_classify.py` a stay is stored as the counter keeps it
(recognition diagnoses, admitting and discharge diagnoses, one charge line) and read back by every
place that decides a line's 伤病分离: the case builder (what the rules settle, what is left unclassified),
the 伤病分离 workspace (the bucket the page shows and the preview's matrix), and the discharge upload
(the flag the centre receives) with its readiness check. Each must give the one definition's answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_engine, make_session_factory
from app.db.migrate import upgrade
from app.db.models import ChargeLine, Diagnosis, DiagnosisRole, Role, Stay
from app.rules.case import parse_case
from app.rules.classify import FUND, NON_INJURY
from app.workflow import discharge
from app.workflow.case_builder import stay_records
from app.workflow.separation import workspace
from tests.rules.test_classify import TABLE, Row, _case_of, expected_injury
from tests.workflow.separation_helpers import operator, store_case


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def _store(session: Session, row: Row, index: int, created_by: int) -> int:
    document = _case_of([row])
    document["worker"]["id_number"] = "440802198001011233"
    document["stay"]["admission_no"] = f"ZY-CLASSIFY-{index:02d}"
    document["stay"]["registration_no"] = f"sa000d2020111700{index:04d}"
    document["filing"]["id"] = f"BA44010020200921{index:04d}"
    document["recognition"]["decision_no"] = f"穗人社工认〔2020〕{index:04d}号"
    stay_id = store_case(session, parse_case(document), created_by)  # the discharge markings
    for seq, (code, flag) in enumerate(row.admitting, start=50):
        session.add(Diagnosis(stay_id=stay_id, role=DiagnosisRole.ADMITTING, seq=seq, code=code,
                              name=f"诊断{code}", injury=flag))
    session.flush()
    session.expire_all()
    return stay_id


def test_every_workflow_caller_gives_the_one_definitions_answer(session: Session) -> None:
    cashier = operator(session, "cashier", Role.CASHIER)
    for index, row in enumerate(TABLE, start=1):
        expected = expected_injury(row)
        assert expected is row.expected, row.name
        stay_id = _store(session, row, index, cashier.id)

        records = stay_records(session, stay_id)  # the case builder
        if expected is None:
            assert records.unclassified == (1,), row.name
            assert records.case.items == (), row.name
        else:
            assert records.unclassified == (), row.name

        view = workspace(session, stay_id)  # the 伤病分离 page and its preview
        (line,) = view.lines
        assert line.bucket == {True: FUND, False: NON_INJURY, None: None}[expected], row.name

        stay = session.get(Stay, stay_id)
        assert stay is not None
        lines = discharge._line_rows(session, stay_id)
        (fee_line,) = discharge._fee_lines(session, stay, lines)  # what the centre receives
        assert fee_line.injury is expected, row.name
        unready = " ".join(discharge.readiness(session, stay_id))  # the discharge gate
        assert ("未区分伤病" in unready) is (expected is None), f"{row.name}: {unready}"
        assert session.scalars(select(ChargeLine.seq).where(ChargeLine.stay_id == stay_id)).all() == [1]
