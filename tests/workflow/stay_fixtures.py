"""Fixtures for the stay's life with the centre (admission, discharge, 补登记): the real sandbox
centre over HTTP (`tests.centre.client_fixtures`), a counter on SQLite or PostgreSQL, a cashier
and a reviewer, and helpers that admit a worker and give the stay its charge lines.

Import into a test module: `from tests.workflow.stay_fixtures import *  # noqa: F403`.
Charge lines are created directly (catalogue codes of resources/demo/catalogue.toml).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import Operation, OutcomeState, Person, SettlementFigures
from app.composition import open_workflow_centre
from app.db.models import (
    ChargeCategory,
    ChargeLine,
    ChargeSource,
    HisCodeMap,
    Operator,
    Role,
    Settlement,
    SettlementLine,
    SettlementMatrixCell,
)
from app.operators import OperatorInfo
from app.workflow.admission import AdmissionForm, AdmissionOutcome, Identification, admit, look_up
from app.workflow.catalogue import seed_demo_catalogue
from tests.centre.client_fixtures import (  # noqa: F401 - fixtures re-exported
    SandboxProcess,
    centre_today,
    counter,
    sandbox,
)
from tests.signed_in import TEST_PASSWORD_HASH, signed_in

__all__ = [
    "SandboxProcess", "add_lines", "admit_worker", "assert_matches_centre", "cashier", "centre_today", "counter", "form", "reviewer",
    "sandbox", "wf_client", "ZHANG_WEI_CARD", "ZHENG_JUN_CARD", "WANG_XIULAN_CARD", "ZHOU_QIANG_CARD",
]

# Card numbers of the sandbox's demo people (resources/sandbox/workers.toml).
ZHANG_WEI_CARD = "A44080001"  # 张伟: local, filing names this hospital
ZHENG_JUN_CARD = "K44190015"  # 郑军: filing for 广州, not 湛江 (wrong city)
WANG_XIULAN_CARD = "C22010003"  # 王秀兰: Jilin, no filing (emergency back-filing)
ZHOU_QIANG_CARD = "K44060013"  # 周强: filing valid from today-40 to today-5


def _operator(ctx: CounterContext, login: str, name: str, role: Role) -> OperatorInfo:
    with ctx.transaction() as session:
        record = Operator(login=login, display_name=name, role=role, password_hash=TEST_PASSWORD_HASH)
        session.add(record)
        session.flush()
        return signed_in(record)


@pytest.fixture
def cashier(counter: CounterContext) -> OperatorInfo:
    return _operator(counter, "cashier", "张收款", Role.CASHIER)


@pytest.fixture
def reviewer(counter: CounterContext) -> OperatorInfo:
    return _operator(counter, "reviewer", "李审核", Role.REVIEWER)


@pytest.fixture
def wf_client(counter: CounterContext, cashier: OperatorInfo) -> Iterator[CentreClient]:
    client = open_workflow_centre(counter, cashier)
    yield client
    client.close()


def form(admission_no: str = "ZY-WF-1", *, admitted: dt.date | None = None, emergency: bool = False,
         diagnoses: tuple[tuple[str, str], ...] = (("S82.201", "胫骨干骨折"), ("I10", "原发性高血压")),
         care: str = "medical") -> AdmissionForm:
    return AdmissionForm(admission_no=admission_no, dept="骨关节病区", bed="12床", admitted_on=admitted or centre_today(),
                         care=care, diagnoses=diagnoses, emergency=emergency)


def admit_worker(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, card: str,
                 admission: AdmissionForm) -> tuple[Person, AdmissionOutcome]:
    identification = Identification("card", card)
    person = look_up(client, identification, actor)
    return person, admit(ctx, client, person, admission, actor, identification)


def add_lines(ctx: CounterContext, stay_id: int, actor: OperatorInfo, count: int, *,
              injury_code: str = "S82.201", illness_code: str = "I10", first_seq: int = 1,
              day: dt.date | None = None) -> Decimal:
    """`count` drug lines (every 5th for the illness), plus one over its price limit and one
    confirmed outside the catalogue (自费); returns their total.

    The counter's local catalogue is the sandbox's, as at a counter that has synced it: without it
    every line would look outside the catalogue to the pre-audit (未记录告知, 003 §15)."""
    day = day or centre_today()
    total = Decimal("0.00")
    with ctx.transaction() as session:
        seed_demo_catalogue(session)  # a no-op once the table has entries
        for seq in range(first_seq, first_seq + count):
            line = ChargeLine(stay_id=stay_id, seq=seq, his_code="XB01AC06", code="XB01AC06", name="阿司匹林肠溶片",
                              category=ChargeCategory.DRUG, quantity=Decimal("30"), unit_price=Decimal("0.50"),
                              amount=Decimal("15.00"), charged_on=day,
                              diagnosis_code=illness_code if seq % 5 == 0 else injury_code,
                              source=ChargeSource.MANUAL, created_by=actor.id)
            session.add(line)
            total += line.amount
        seq = first_seq + count
        # Above the price limit of 0.50: the fund pays the limit, the rest is 超限价自付.
        session.add(ChargeLine(stay_id=stay_id, seq=seq, his_code="XB01AC06", code="XB01AC06", name="阿司匹林肠溶片",
                               category=ChargeCategory.DRUG, quantity=Decimal("10"), unit_price=Decimal("0.80"),
                               amount=Decimal("8.00"), charged_on=day, diagnosis_code=injury_code,
                               source=ChargeSource.MANUAL, created_by=actor.id))
        # Confirmed outside the catalogue (code map row without a catalogue code, 003 §27): 自费.
        if session.scalars(select(HisCodeMap).where(HisCodeMap.his_code == "HIS-ZF-001")).first() is None:
            session.add(HisCodeMap(his_code="HIS-ZF-001", his_name="进口敷料", catalogue_code=None,
                                   note="目录外，已告知", updated_by=actor.id))
        session.add(ChargeLine(stay_id=stay_id, seq=seq + 1, his_code="HIS-ZF-001", code=None, name="进口敷料",
                               category=ChargeCategory.CONSUMABLE, quantity=Decimal("2"),
                               unit_price=Decimal("50.00"), amount=Decimal("100.00"), charged_on=day,
                               diagnosis_code=injury_code, source=ChargeSource.MANUAL, created_by=actor.id,
                               patient_informed=True))
        total += Decimal("108.00")
    return total


def _centre_figures(client: CentreClient, msgid: str) -> SettlementFigures:
    outcome = client.centre.query_outcome(msgid, Operation.SETTLEMENT)
    assert outcome.state is OutcomeState.APPLIED
    figures: SettlementFigures = outcome.result
    return figures


def assert_matches_centre(ctx: CounterContext, client: CentreClient, settlement_id: int) -> None:
    """The stored settlement equals, cell by cell and line by line, what the centre recorded."""
    with ctx.transaction() as session:
        settlement = session.get(Settlement, settlement_id)
        assert settlement is not None
        figures = _centre_figures(client, settlement.msgid)
        assert settlement.centre_settlement_id == figures.settlement_id
        assert (settlement.total, settlement.fund_total, settlement.personal_total) == (
            figures.total, figures.fund_total, figures.personal_total)
        cells = {(c.bucket.value, c.category.value): c.amount for c in session.scalars(
            select(SettlementMatrixCell).where(SettlementMatrixCell.settlement_id == settlement_id))}
        assert cells == {(b, c): amount for b, row in figures.matrix.items() for c, amount in row.items()
                         if c != "total"}
        lines = {line.seq: (sl.bucket.value, sl.fund, sl.personal) for sl, line in session.execute(
            select(SettlementLine, ChargeLine).join(ChargeLine, ChargeLine.id == SettlementLine.charge_line_id)
            .where(SettlementLine.settlement_id == settlement_id))}
        assert lines == {i.seq: (i.bucket, i.fund, i.personal) for i in figures.items}
