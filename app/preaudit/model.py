"""The pre-audit's input (`StayAudit`) and output (`Finding`): plain frozen dataclasses.

No database and no Qt: the adapters (`app.preaudit.adapters`) build a `StayAudit` from a case
file or from the counter's records, and the engine (`app.preaudit.engine`) judges it. Money is
`Decimal` throughout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

STAGES = ("discharge", "claim")


@dataclass(frozen=True, slots=True)
class AuditDiagnosis:
    """A diagnosis the stay's lines may follow; `injury` as the 伤病分离 marks it (the recognition's are injury)."""

    code: str
    name: str
    injury: bool


@dataclass(frozen=True, slots=True)
class AuditCatalogueEntry:
    code: str
    name: str
    category: str
    price_limit: Decimal | None = None
    max_pay: Decimal | None = None  # a device's 最高支付限额 per unit
    per_day: bool = False
    min_years: int | None = None  # a device's 最低使用年限


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One charge line. A refund has a negative quantity and `refund_of` = its original's seq.

    `injury`: the line's 伤病分离 flag (None: follow `diagnosis`). `consent`: the patient was told of an
    item outside the catalogue (`003 §15`); None when not recorded (case files). `over_limit`: the
    over-limit part recorded for the line (a stored settlement's split); None when not settled yet,
    when the settlement rules will split it.
    """

    seq: int
    code: str
    name: str
    category: str
    date: dt.date
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    injury: bool | None = None
    diagnosis: str | None = None
    refund_of: int | None = None
    consent: bool | None = None
    over_limit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriorSettlement:
    """A settlement already recorded for the stay; `cancelled` when a cancellation names it."""

    settlement_id: int
    settled_on: dt.date
    fund_total: Decimal
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class PriorClaim:
    """A settlement of the stay in a monthly claim (`batch_no`, `month` YYYY-MM)."""

    batch_no: str
    month: str
    settlement_id: int
    fund_total: Decimal


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device configured for the worker before (another stay): the replacement rule's history."""

    code: str
    name: str
    configured_on: dt.date


@dataclass(frozen=True)
class StayAudit:
    """Everything the rules look at for one stay.

    `stage`: "discharge" (before settling: any live prior settlement makes this one a second) or
    "claim" (before the monthly claim: the stay's settlements are already among `prior_settlements`).
    `criteria_met_on`: the day the patient met the discharge criteria, when the doctor recorded it.
    """

    admitted: dt.date
    discharged: dt.date | None
    diagnoses: tuple[AuditDiagnosis, ...]
    catalogue: tuple[AuditCatalogueEntry, ...]
    lines: tuple[AuditLine, ...]
    criteria_met_on: dt.date | None = None
    prior_settlements: tuple[PriorSettlement, ...] = ()
    prior_claims: tuple[PriorClaim, ...] = ()
    device_history: tuple[DeviceRecord, ...] = ()
    stage: str = "discharge"
    stay_id: int | None = None  # for the caller's reference only
    notes: tuple[str, ...] = field(default=())  # what the adapter could not know (shown with the findings)


@dataclass(frozen=True)
class Finding:
    """One line (or the stay, `seq` None) the agency is likely to deduct, and why.

    `amount_at_risk`: the fund part the agency would deduct, to the fen (0.00 when the risk is not the
    fund's, e.g. a self-pay item without consent). `source`: the seed article the rule rests on.
    """

    seq: int | None
    rule: str
    message: str
    source: str
    amount_at_risk: Decimal
    advice: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "rule": self.rule, "message": self.message, "source": self.source,
                "amount_at_risk": f"{self.amount_at_risk:.2f}", "advice": self.advice}


def total_at_risk(findings: list[Finding] | tuple[Finding, ...]) -> Decimal:
    """The stay's predicted deduction without counting a line twice.

    Several rules may flag the same line (a bed fee charged twice a day also exceeds the stay's days);
    the agency deducts it once, so a line counts with its largest finding. Stay-level findings add up.
    """
    per_line: dict[int, Decimal] = {}
    stay_level = Decimal("0.00")
    for finding in findings:
        if finding.seq is None:
            stay_level += finding.amount_at_risk
        elif finding.amount_at_risk > per_line.get(finding.seq, Decimal("-1")):
            per_line[finding.seq] = finding.amount_at_risk
    return sum(per_line.values(), stay_level)
