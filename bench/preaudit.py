"""Pre-audit benchmark (issue 10): a 20,000-line stay, and a month of 1,000,000 lines (2,000 stays of 500).

Builds its own synthetic stays from the demo counter's catalogue (`resources/demo/catalogue.toml`):
bed, nursing and 诊查费 once a day (with a few days charged twice), drugs, tests (some repeated on a day),
dressings, consumables, items outside the catalogue with and without consent, lines on a non-injury
diagnosis, refunds, a few lines after discharge and devices. Then times `app.preaudit.audit` with the
shipped rules (the building of the input is not timed):

    python bench/preaudit.py [--stays N] [--lines-per-stay M]

Output (one figure per line):
    BENCH preaudit_stay_20000 123.4 ms (goal < 500)
    BENCH preaudit_month_1000000 12.3 s (goal < 20)
    BENCH preaudit_month_findings 12345 findings (information)
Exit status 0 when measured, 1 when it could not measure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.preaudit import (  # noqa: E402
    AuditCatalogueEntry,
    AuditDiagnosis,
    AuditLine,
    DeviceRecord,
    StayAudit,
    audit,
    default_ruleset,
)

CENT = Decimal("0.01")
DIAGNOSES = (AuditDiagnosis("S82.201", "胫骨骨折", True), AuditDiagnosis("I10", "原发性高血压", False),
             AuditDiagnosis("E11.900", "2型糖尿病", False))
DAILY = ("110900001", "111100002", "110200005")


def _decimal(text: object) -> Decimal | None:
    return None if text in (None, "none") else Decimal(str(text))


def load_catalogue() -> tuple[AuditCatalogueEntry, ...]:
    data = tomllib.loads((REPO / "resources" / "demo" / "catalogue.toml").read_text(encoding="utf-8"))
    return tuple(AuditCatalogueEntry(e["code"], e["name"], e["category"], _decimal(e["price_limit"]),
                                     _decimal(e["max_pay"]), bool(e["per_day"]),
                                     None if e["min_years"] == "none" else int(e["min_years"]))
                 for e in data["entries"])


def build_stay(catalogue: tuple[AuditCatalogueEntry, ...], lines: int, rng: random.Random) -> StayAudit:
    by_category: dict[str, list[AuditCatalogueEntry]] = {}
    for entry in catalogue:
        if not entry.per_day:
            by_category.setdefault(entry.category, []).append(entry)
    entries = {entry.code: entry for entry in catalogue}
    days = max(3, min(90, lines // 60))
    admitted = dt.date(2024, 3, 1)
    discharged = admitted + dt.timedelta(days=days)
    made: list[AuditLine] = []

    def add(entry: AuditCatalogueEntry | None, code: str, name: str, category: str, day: dt.date,
            quantity: Decimal, price: Decimal, **fields: object) -> None:
        amount = (quantity * price).quantize(CENT, rounding=ROUND_HALF_UP)
        made.append(AuditLine(len(made) + 1, code, name, category, day, quantity, price, amount,
                              diagnosis=fields.pop("diagnosis", "S82.201"), **fields))  # type: ignore[arg-type]

    # The daily items, once a day (twice on a few days: what the agency deducts).
    for offset in range(days):
        day = admitted + dt.timedelta(days=offset)
        for code in DAILY:
            entry = entries[code]
            limit = entry.price_limit or Decimal("10.00")
            add(entry, code, entry.name, entry.category, day, Decimal(1), limit)
            if rng.random() < 0.03:
                add(entry, code, entry.name, entry.category, day, Decimal(1), limit)
    weights = {"drug": 45, "treatment": 30, "consumable": 15, "rehab": 8, "device": 2}
    kinds = list(weights)
    while len(made) < lines:
        category = rng.choices(kinds, [weights[k] for k in kinds])[0]
        entry = rng.choice(by_category[category])
        day = admitted + dt.timedelta(days=rng.randrange(days + (2 if rng.random() < 0.01 else 0)))
        limit = entry.price_limit or entry.max_pay or Decimal(rng.randrange(5, 300))
        price = limit if rng.random() < 0.9 else (limit * Decimal("1.2")).quantize(CENT)
        quantity = Decimal(rng.choice((1, 1, 1, 2, 3, 10))) if category != "device" else Decimal(1)
        roll = rng.random()
        if roll < 0.03:  # outside the catalogue: 中医定向透药 and the like
            add(None, f"TZ{rng.randrange(9900, 9999)}", "目录外项目", category, day, quantity, price,
                consent=rng.random() < 0.5)
        elif roll < 0.06:  # on a non-injury diagnosis
            add(entry, entry.code, entry.name, category, day, quantity, price, diagnosis="I10")
        elif roll < 0.07:  # classed injury on a non-injury diagnosis
            add(entry, entry.code, entry.name, category, day, quantity, price, diagnosis="I10", injury=True)
        else:
            add(entry, entry.code, entry.name, category, day, quantity, price)
        if rng.random() < 0.02 and made[-1].quantity > 0:  # a refund of the line just made
            original = made[-1]
            add(entries.get(original.code), original.code, original.name, original.category,
                original.date + dt.timedelta(days=1), -original.quantity, original.unit_price,
                refund_of=original.seq, diagnosis=original.diagnosis)
    history = (DeviceRecord("FJ0101001", "小腿假肢（普通型）", dt.date(2022, 5, 1)),)
    return StayAudit(admitted=admitted, discharged=discharged, diagnoses=DIAGNOSES, catalogue=catalogue,
                     lines=tuple(made[:lines]), device_history=history)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stays", type=int, default=2000)
    parser.add_argument("--lines-per-stay", type=int, default=500)
    args = parser.parse_args()
    try:
        rules = default_ruleset()
        catalogue = load_catalogue()
        rng = random.Random(20240301)
        big = build_stay(catalogue, 20_000, rng)
        audit(big, rules)  # warm-up
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            findings = audit(big, rules)
            runs.append(time.perf_counter() - start)
        if not findings:
            print("preaudit bench: the 20,000-line stay gave no findings", file=sys.stderr)
            return 1
        month = [build_stay(catalogue, args.lines_per_stay, rng) for _ in range(args.stays)]
        total_lines = sum(len(stay.lines) for stay in month)
        start = time.perf_counter()
        found = sum(len(audit(stay, rules)) for stay in month)
        elapsed = time.perf_counter() - start
    except Exception as exc:  # could not measure
        print(f"preaudit bench failed: {exc!r}", file=sys.stderr)
        return 1
    print(f"BENCH preaudit_stay_20000 {statistics.median(runs) * 1000:.1f} ms (goal < 500)")
    print(f"BENCH preaudit_month_{total_lines} {elapsed:.1f} s (goal < 20)")
    print(f"BENCH preaudit_month_findings {found} findings (information)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
