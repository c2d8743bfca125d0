"""Small builders of `StayAudit`s for the pre-audit's rule tests."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.preaudit import AuditCatalogueEntry, AuditDiagnosis, AuditLine, Finding, StayAudit

ADMITTED = dt.date(2024, 3, 1)
DISCHARGED = dt.date(2024, 3, 10)  # 9 bed days (counted in, not out)

CATALOGUE = {
    entry.code: entry for entry in (
        AuditCatalogueEntry("110900001", "床位费（三人间）", "treatment", Decimal("45.00"), per_day=True),
        AuditCatalogueEntry("111100002", "Ⅱ级护理", "treatment", Decimal("18.00"), per_day=True),
        AuditCatalogueEntry("250100001", "血常规（五分类）", "treatment", Decimal("25.00")),
        AuditCatalogueEntry("120200002", "中换药", "treatment", Decimal("30.00")),
        AuditCatalogueEntry("210200001", "CT平扫（单部位）", "treatment", Decimal("180.00")),
        AuditCatalogueEntry("XJ01DC02", "注射用头孢呋辛钠", "drug", Decimal("8.50")),
        AuditCatalogueEntry("XC08CA01", "苯磺酸氨氯地平片", "drug", Decimal("0.80")),
        AuditCatalogueEntry("XA10AB01", "胰岛素注射液", "drug", Decimal("25.00")),
        AuditCatalogueEntry("FJ0301001", "普通轮椅", "device", None, Decimal("1200.00"), min_years=3),
        AuditCatalogueEntry("FJ0101001", "小腿假肢（普通型）", "device", None, Decimal("8000.00"), min_years=3),
        AuditCatalogueEntry("FJ0101002", "小腿假肢（硅胶套型）", "device", None, Decimal("15000.00")),
    )
}
DIAGNOSES = (
    AuditDiagnosis("S82.201", "胫骨骨折", True),
    AuditDiagnosis("I10", "原发性高血压", False),
)


def line(seq: int, code: str, day: dt.date | int, quantity: str = "1", price: str | None = None, **fields: Any) -> AuditLine:
    """A line of `code` on `day` (an int: that day of March 2024), priced at the catalogue's limit by default."""
    entry = CATALOGUE.get(code)
    if price is None:
        assert entry is not None and (entry.price_limit or entry.max_pay) is not None
        price = str(entry.price_limit or entry.max_pay)
    when = dt.date(2024, 3, day) if isinstance(day, int) else day
    q, p = Decimal(quantity), Decimal(price)
    fields.setdefault("diagnosis", "S82.201")
    return AuditLine(seq, code, fields.pop("name", entry.name if entry else f"目录外项目 {code}"),
                     fields.pop("category", entry.category if entry else "treatment"), when, q, p,
                     (q * p).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), **fields)


def stay(*lines: AuditLine, **fields: Any) -> StayAudit:
    fields.setdefault("admitted", ADMITTED)
    fields.setdefault("discharged", DISCHARGED)
    fields.setdefault("diagnoses", DIAGNOSES)
    fields.setdefault("catalogue", tuple(CATALOGUE.values()))
    return StayAudit(lines=tuple(lines), **fields)


def hits(findings: list[Finding], rule: str | None = None) -> list[tuple[int | None, str, str]]:
    """(seq, rule, amount) of each finding, of one rule if given."""
    return [(f.seq, f.rule, f"{f.amount_at_risk:.2f}") for f in findings if rule is None or f.rule == rule]
