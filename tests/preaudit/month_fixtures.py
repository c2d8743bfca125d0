"""Last month's stays with chosen charge lines, settled through the real sandbox centre, for the
month-end comparison tests (predicted vs deducted); and answered months written straight into the
database (`answered_month`) for the learning tests.

The demo people whose filings cover the whole of last month (`app.demo.month`) are admitted on
a day of last month, given the lines a test asks for, and settled on the month's last day. The settle
step is one function (`settle_admitted`), so that a guard added to settling later (acknowledged
pre-audit findings) is met in one place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select


from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import SettlementRequest
from app.demo.month import DEMO_PEOPLE, last_month_dates
from app.claims.service import build_claim
from app.db.models import (
    ChargeCategory,
    ChargeLine,
    ChargeSource,
    ClaimDeduction,
    ClaimEntry,
    ClaimStatus,
    Diagnosis,
    MonthlyClaim,
    PreauditPrediction,
    Settlement,
    Stay,
)
from app.operators import OperatorInfo
from app.workflow.admission import AdmissionForm, Identification, admit, centre_today, look_up
from app.workflow.discharge import upload_lines
from tests.claims.claim_fixtures import clerks, settle_stay


@dataclass(frozen=True)
class Line:
    seq: int
    code: str
    name: str
    category: ChargeCategory
    quantity: str
    price: str
    injury: bool = True  # linked to the injury diagnosis, else to 原发性高血压 (I10)


@dataclass(frozen=True)
class SettledStay:
    stay_id: int
    settlement_id: int
    registration_no: str
    admitted: dt.date


def admit_last_month(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, name: str,
                     lines: list[Line]) -> tuple[int, str, dt.date, dt.date]:
    """Admit `name` last month and give the stay `lines` (all dated the admission day)."""
    card, care = DEMO_PEOPLE[name]
    admitted, settled = last_month_dates(centre_today())
    identification = Identification("card", card)
    person = look_up(client, identification, actor)
    injury = person.recognitions[0].diagnoses[0]
    form = AdmissionForm(admission_no=f"ZY-PA-{card}", dept="骨科", bed="3床", admitted_on=admitted, care=care,
                         diagnoses=((injury.code, injury.name), ("I10", "原发性高血压")))
    outcome = admit(ctx, client, person, form, actor, identification)
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check.reasons
    with ctx.transaction() as session:
        injury_code = session.scalars(select(Diagnosis.code).where(
            Diagnosis.stay_id == outcome.stay_id, Diagnosis.injury.is_(True))).first() or injury.code
        for line in lines:
            session.add(ChargeLine(
                stay_id=outcome.stay_id, seq=line.seq, his_code=line.code, code=line.code, name=line.name,
                category=line.category, quantity=Decimal(line.quantity), unit_price=Decimal(line.price),
                amount=(Decimal(line.quantity) * Decimal(line.price)).quantize(Decimal("0.01")), charged_on=admitted,
                diagnosis_code=injury_code if line.injury else "I10", source=ChargeSource.MANUAL, created_by=actor.id))
    return outcome.stay_id, outcome.registration_no, admitted, settled


def settle_admitted(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, stay_id: int,
                    registration_no: str, settled: dt.date) -> int:
    """Upload the stay's lines and settle it with the centre; the local settlement's id.
    (The one place that settles: adapt here when settling needs acknowledged findings.)"""
    upload_lines(ctx, client, stay_id, actor)
    with ctx.transaction() as session:
        rehab = session.get(Stay, stay_id).care == "rehab"  # type: ignore[union-attr]
    if rehab:  # 000 §30: the rehab plan goes up before the discharge settlement
        from app.workflow.rehab_plan import record_rehab_plan

        assert record_rehab_plan(ctx, client, stay_id, f"KF-{stay_id}", "运动疗法", settled, actor,
                                 today=centre_today()).uploaded
    figures = client.settle(SettlementRequest(registration_no, settled, settled), stay_id=stay_id, operator_id=actor.id)
    with ctx.transaction() as session:
        settlement_id = session.scalars(select(Settlement.id).where(
            Settlement.centre_settlement_id == figures.settlement_id)).one()
    return settlement_id


def settle_last_month_with(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, name: str,
                           lines: list[Line]) -> SettledStay:
    stay_id, registration_no, admitted, settled = admit_last_month(ctx, client, actor, name, lines)
    return SettledStay(stay_id, settle_admitted(ctx, client, actor, stay_id, registration_no, settled),
                       registration_no, admitted)


def answered_month(ctx: CounterContext, month: str, lines: list[tuple[str, bool]]) -> int:
    """An answered claim for `month` (one settlement stored on the 15th) as if its predictions had been kept
    at upload and the agency had answered: `lines` are (rule predicted on line 1, 2, …, deducted?), each
    10.00. No sandbox: the rows are written as upload and answer would write them. The claim's id."""
    who = clerks(ctx)
    year, number = map(int, month.split("-"))
    with ctx.transaction() as session:
        settled = settle_stay(session, who.cashier.id, settled=dt.date(year, number, 15))
    claim = build_claim(ctx, month, who.reviewer, today=dt.date(year, number, 28) + dt.timedelta(days=10)).claim
    with ctx.transaction() as session:
        record = session.get(MonthlyClaim, claim.claim_id)
        record.status = ClaimStatus.ANSWERED
        entry_id = session.scalars(select(ClaimEntry.id).where(ClaimEntry.claim_id == claim.claim_id,
                                                               ClaimEntry.settlement_id == settled.id)).one()
        for seq, (rule, deducted) in enumerate(lines, start=1):
            session.add(PreauditPrediction(claim_entry_id=entry_id, seq=seq, rule=rule, amount_at_risk=Decimal("10.00"),
                                           message="预测"))
            if deducted:
                session.add(ClaimDeduction(claim_entry_id=entry_id, line_no=seq, amount=Decimal("10.00"), reason="扣款",
                                           notified_on=dt.date(year, number, 28), dispute_due=dt.date(year, number, 28)))
    return claim.claim_id
