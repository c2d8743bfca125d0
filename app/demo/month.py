"""Last month's settlements for the demo counter (and the tests), made through the real workflow
against the sandbox centre, so the 月度结算 page has a month to claim, upload and see audited.

Three of the sandbox's demo people have filings that cover the whole of last month whatever day it
is (`resources/sandbox/workers.toml`): 黄丽 (深圳, long-term residence until 10 days ago: admitted
within its validity, `000 §12`), 赵建华 (北京, long-term, 康复) and 周强 (佛山, referral until 5 days
ago). Each is admitted on a day of last month, given charge lines, and settled on the month's last
day. 黄丽's bed is charged twice on one day, which the sandbox's audit deducts (`003 §15`), so the
demo shows a deduction to dispute.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import exists, select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import SettlementRequest
from app.db.models import (
    ChargeCategory,
    ChargeLine,
    ChargeSource,
    Diagnosis,
    Settlement,
    SettlementKind,
    Stay,
)
from app.operators import OperatorInfo
from app.workflow.admission import AdmissionForm, Identification, admit, centre_today, look_up
from app.workflow.common import WorkflowError
from app.workflow.discharge import upload_lines
from app.workflow.rehab_plan import record_rehab_plan

# name → (card number, care)
DEMO_PEOPLE: dict[str, tuple[str, str]] = {
    "黄丽": ("K44030012", "medical"),
    "赵建华": ("K11010018", "rehab"),
    "周强": ("K44060013", "medical"),
}
BED_TWICE = "黄丽"


def last_month_dates(today: dt.date) -> tuple[dt.date, dt.date]:
    """An admission and a settlement date in the previous month. The admission is no earlier than
    39 days ago (the demo people's filings began 50 days ago or earlier) and, since a month has at
    least 28 days, no later than 28 days ago (黄丽's and 周强's filings ended 10 and 5 days ago)."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return max(last.replace(day=1), today - dt.timedelta(days=39)), last


def _lines(stay_id: int, injury_code: str, day: dt.date, actor: OperatorInfo, bed_twice: bool) -> list[ChargeLine]:
    def line(seq: int, code: str, name: str, category: ChargeCategory, quantity: str, price: str,
             diagnosis: str = injury_code) -> ChargeLine:
        amount = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"))
        return ChargeLine(stay_id=stay_id, seq=seq, his_code=code, code=code, name=name, category=category,
                          quantity=Decimal(quantity), unit_price=Decimal(price), amount=amount, charged_on=day,
                          diagnosis_code=diagnosis, source=ChargeSource.MANUAL, created_by=actor.id)

    lines = [
        line(1, "XJ01DC02", "头孢呋辛钠注射液", ChargeCategory.DRUG, "6", "9.80"),
        line(2, "XB01AC06", "阿司匹林肠溶片", ChargeCategory.DRUG, "30", "0.50", diagnosis="I10"),
        line(3, "110900001", "床位费", ChargeCategory.TREATMENT, "1", "40.00"),
    ]
    if bed_twice:
        lines.append(line(4, "110900001", "床位费", ChargeCategory.TREATMENT, "1", "40.00"))
    return lines


def settle_last_month(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, name: str, *,
                      bed_twice: bool = False, today: dt.date | None = None) -> int:
    """Admit `name` last month, give the stay its lines, settle it on the month's last day;
    returns the local settlement's id."""
    card, care = DEMO_PEOPLE[name]
    admitted, settled = last_month_dates(today or centre_today())
    identification = Identification("card", card)
    person = look_up(client, identification, actor)
    recognition = person.recognitions[0]
    injury = recognition.diagnoses[0]
    form = AdmissionForm(admission_no=f"ZY-{card}-{settled:%Y%m}", dept="骨科", bed="3床", admitted_on=admitted,
                         care=care, diagnoses=((injury.code, injury.name), ("I10", "原发性高血压")))
    outcome = admit(ctx, client, person, form, actor, identification)
    if outcome.stay_id is None or outcome.registration_no is None:
        raise WorkflowError(f"{name} 未能入院登记：" + "；".join(r.message for r in outcome.check.reasons))
    with ctx.transaction() as session:
        injury_code = session.scalars(select(Diagnosis.code).where(
            Diagnosis.stay_id == outcome.stay_id, Diagnosis.injury.is_(True))).first() or injury.code
        session.add_all(_lines(outcome.stay_id, injury_code, admitted, actor, bed_twice))
    upload_lines(ctx, client, outcome.stay_id, actor)
    if care == "rehab":
        # 000 §30: the rehab plan goes up before the discharge settlement.
        plan = record_rehab_plan(ctx, client, outcome.stay_id, f"KF-{card}-{settled:%Y%m}",
                                 "康复评定后制定：运动疗法、作业疗法，每日一次，为期两周", admitted, actor,
                                 today=today or centre_today())
        if not plan.uploaded:
            raise WorkflowError(f"{name} 的康复方案未能上传：{plan.refusal}")
    figures = client.settle(SettlementRequest(outcome.registration_no, settled, settled),
                            stay_id=outcome.stay_id, operator_id=actor.id)
    with ctx.transaction() as session:
        settlement_id = session.scalars(select(Settlement.id).where(
            Settlement.centre_settlement_id == figures.settlement_id)).first()
        if settlement_id is None:
            raise WorkflowError(f"{name} 的结算未记录到本机（中心结算号 {figures.settlement_id}）")
        return settlement_id


def seed_demo_month(ctx: CounterContext, client: CentreClient, actor: OperatorInfo,
                    today: dt.date | None = None) -> int:
    """Settle the demo people last month unless last month already has settlements; returns how
    many were settled now."""
    admitted, settled = last_month_dates(today or centre_today())
    with ctx.transaction() as session:
        present = session.scalar(select(exists().where(
            Settlement.kind == SettlementKind.SETTLEMENT, Settlement.settled_on >= settled.replace(day=1),
            Settlement.settled_on <= settled)))
        open_stays = session.scalar(select(exists().where(Stay.admission_no.like(f"ZY-%-{settled:%Y%m}"),
                                                          Stay.status != "settled")))
    if present or open_stays:
        return 0
    for name in DEMO_PEOPLE:
        settle_last_month(ctx, client, actor, name, bed_twice=name == BED_TWICE, today=today)
    return len(DEMO_PEOPLE)
