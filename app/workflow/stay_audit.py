"""A stored stay as the pre-audit sees it (`app.preaudit`'s `StayAudit`), and its findings.

`audit_stay(session, stay_id)`: the stay's records as `app.workflow.case_builder.stay_records` reads
them (every line, also those not classified yet), with the patient's consent (`patient_informed`),
the over-limit split of the stay's latest live settlement, the stay's settlements and their claims,
and the worker's devices configured in other stays. (A case file's: `app.preaudit.adapters`.)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import (
    Bucket,
    CatalogueItem,
    ChargeLine,
    ClaimEntry,
    MonthlyClaim,
    Settlement,
    SettlementKind,
    SettlementLine,
    Stay,
    StayStatus,
)
from app.preaudit.adapters import audit_diagnoses
from app.preaudit.engine import audit
from app.preaudit.model import (
    AuditCatalogueEntry,
    AuditLine,
    DeviceRecord,
    Finding,
    PriorClaim,
    PriorSettlement,
    StayAudit,
)
from app.preaudit.ruleset import RuleSet
from app.workflow.case_builder import stay_records
from app.workflow.device_fitting import fitted_devices


def stay_audit_from_db(session: Session, stay_id: int, *, stage: str | None = None,
                       criteria_met_on: dt.date | None = None, discharged_on: dt.date | None = None) -> StayAudit:
    """The stay as the pre-audit sees it. `stage` defaults to "claim" once the stay has a live settlement.

    `criteria_met_on` defaults to the stay's recorded `discharge_criteria_met_on` (003 §15);
    `discharged_on` stands for the stay's discharge date when the clerk has typed one but not settled yet."""
    records = stay_records(session, stay_id)
    case = records.case
    stay_row = session.execute(select(Stay.worker_id, Stay.discharge_criteria_met_on)
                               .where(Stay.id == stay_id)).one()
    if criteria_met_on is None:
        criteria_met_on = stay_row.discharge_criteria_met_on

    # The stay's settlements, their cancellations and their claims.
    s = Settlement.__table__.c
    rows = session.execute(select(s.id, s.kind, s.reverses_id, s.settled_on, s.fund_total_fen)  # Money: Decimal
                           .where(s.stay_id == stay_id).order_by(s.id)).all()
    cancelled = {row.reverses_id for row in rows if str(row.kind) == SettlementKind.CANCELLATION.value}
    prior = [PriorSettlement(row.id, row.settled_on, row.fund_total_fen, row.id in cancelled)
             for row in rows if str(row.kind) == SettlementKind.SETTLEMENT.value]
    settlement_ids = [p.settlement_id for p in prior]
    claims: list[PriorClaim] = []
    if settlement_ids:
        for entry, claim in session.execute(
                select(ClaimEntry, MonthlyClaim).join(MonthlyClaim, MonthlyClaim.id == ClaimEntry.claim_id)
                .where(ClaimEntry.settlement_id.in_(settlement_ids))):
            claims.append(PriorClaim(claim.batch_no, claim.month, entry.settlement_id, entry.fund_total))

    # The latest live settlement's split: what the fund was charged for each line.
    over_limit: dict[int, Decimal] = {}
    live = [p for p in prior if not p.cancelled]
    if live:
        for line_id, bucket, personal in session.execute(
                select(SettlementLine.charge_line_id, SettlementLine.bucket, SettlementLine.personal)
                .where(SettlementLine.settlement_id == live[-1].settlement_id)):
            if str(bucket) == Bucket.OVER_LIMIT.value:
                over_limit[line_id] = personal
            elif str(bucket) == Bucket.FUND.value:
                over_limit[line_id] = Decimal("0.00")

    catalogue_codes = {entry.code for entry in case.catalogue}
    min_years = _min_years(session, {e.code for e in case.catalogue if e.category == "device"})
    # A fitting on a 配置费用核付通知单: the insured place's 最低使用年限 as the notice states it
    # (000 §29, 001 §15), as its 最高支付限额 already is in `case.catalogue` (case_builder).
    min_years.update({device.code: device.min_years for device in fitted_devices(session, stay_id)})
    catalogue = tuple(AuditCatalogueEntry(e.code, e.name, e.category, e.price_limit, e.max_pay, e.per_day,
                                          min_years.get(e.code)) for e in case.catalogue)
    category_of = {e.code: e.category for e in case.catalogue}
    seq_of = {row.line_id: row.seq for row in records.lines}
    lines = []
    for row in records.lines:
        code = row.code if row.code is not None else row.his_code
        lines.append(AuditLine(
            row.seq, code, row.name, row.category or category_of.get(code, ""), row.charged_on, row.quantity,
            row.unit_price, row.amount, row.injury, row.diagnosis_code,
            seq_of.get(row.refund_of_id) if row.refund_of_id is not None else None,
            # A line outside the catalogue needs the patient told (003 §15); inside it, consent is moot.
            bool(row.patient_informed) if code not in catalogue_codes else None,
            over_limit.get(row.line_id)))

    return StayAudit(
        admitted=case.stay.admitted, discharged=discharged_on or case.stay.discharged, diagnoses=audit_diagnoses(case),
        catalogue=catalogue, lines=tuple(lines), criteria_met_on=criteria_met_on, prior_settlements=tuple(prior),
        prior_claims=tuple(claims), device_history=_device_history(session, stay_row.worker_id, stay_id),
        stage=stage or ("claim" if live else "discharge"), stay_id=stay_id)


def audit_stay(session: Session, stay_id: int, rules: RuleSet | None = None, *, stage: str | None = None,
               criteria_met_on: dt.date | None = None, discharged_on: dt.date | None = None) -> list[Finding]:
    """The findings for a stored stay (see `stay_audit_from_db`)."""
    return audit(stay_audit_from_db(session, stay_id, stage=stage, criteria_met_on=criteria_met_on,
                                    discharged_on=discharged_on), rules)


def _min_years(session: Session, codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    c = CatalogueItem.__table__.c
    return {code: years for code, years in session.execute(
        select(c.code, c.min_years).where(c.code.in_(sorted(codes)), c.min_years.is_not(None)))}


def _device_history(session: Session, worker_id: int, stay_id: int) -> tuple[DeviceRecord, ...]:
    """Devices configured for the worker in other settled stays, net of their refunds."""
    c = ChargeLine.__table__.c
    st = Stay.__table__.c
    rows = session.execute(
        select(ChargeLine.id, ChargeLine.code, ChargeLine.his_code, ChargeLine.name, ChargeLine.charged_on,
               ChargeLine.quantity, ChargeLine.refund_of_id)
        .join(Stay, Stay.id == ChargeLine.stay_id)
        .where(st.worker_id == worker_id, st.id != stay_id, c.category == "device",
               st.status.in_([StayStatus.SETTLED, StayStatus.PENDING_BACKFILL]))).all()
    net: dict[int, Decimal] = {}
    for row in rows:
        target = row.refund_of_id if row.refund_of_id is not None else row.id
        net[target] = net.get(target, Decimal(0)) + row.quantity
    return tuple(DeviceRecord(row.code or row.his_code, row.name, row.charged_on)
                 for row in rows if row.refund_of_id is None and net[row.id] > 0)
