"""The settlement computation: each charge line into one bucket, the slip's matrix.

Pure: a `Case` in, a `SettlementResult` out (`../shared/CASES.md`). Buckets, in order:
1. not an injury item (flag, or the linked diagnosis is a non-injury one) → non_injury
   (其他（非工伤伤情费用）, `003 §15`, `000 六(二)`);
2. not in the catalogue → self_pay (自费, `003 §3 §15`);
3. unit price above the catalogue's price limit (or a device above its payment limit) →
   the fund pays quantity × limit, the rest is over_limit (超限价自付, `003 §3`, `001 §15`);
4. otherwise → fund (工伤保险基金支付).
A refund line follows the line it refunds. Each line's figures are rounded half-up to the
fen; totals are sums of rounded lines, so the slip always adds up.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Any, NamedTuple

from app.rules.case import CATEGORIES, Case, CatalogueEntry, ChargeItem, InvalidCase, Problem, round_money
from app.rules.classify import (
    BUCKETS,
    FUND,
    NON_INJURY,
    OVER_LIMIT,
    SELF_PAY,
    LineRule,
    diagnosis_injury,
    line_injury,
    line_rule,
    split_line,
)

__all__ = ["BUCKETS", "BUCKET_LABELS", "CATEGORY_LABELS", "FUND", "NON_INJURY", "OVER_LIMIT", "SELF_PAY",
           "LineResult", "SettlementResult", "case_diagnosis_injury", "compute"]

BUCKET_LABELS = {
    FUND: "工伤保险基金支付金额",
    OVER_LIMIT: "超限价自付金额",
    SELF_PAY: "自费金额",
    NON_INJURY: "其他（非工伤伤情费用）",
}
CATEGORY_LABELS = {
    "drug": "药品费用",
    "treatment": "诊疗项目费用",
    "consumable": "医用耗材费用",
    "rehab": "康复服务项目费用",
    "device": "辅助器具费用",
}
ZERO = Decimal("0.00")


class LineResult(NamedTuple):
    """How one line was settled. A tuple: 20,000-line stays are settled in a blink."""

    seq: int
    bucket: str
    category: str
    amount: Decimal
    fund: Decimal
    personal: Decimal
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "bucket": self.bucket, "fund": _money(self.fund),
                "personal": _money(self.personal), "reason": self.reason}


@dataclass(frozen=True)
class SettlementResult:
    settlement_kind: str
    matrix: dict[str, dict[str, Decimal]]  # bucket → category → amount
    lines: tuple[LineResult, ...]

    def row_total(self, bucket: str) -> Decimal:
        return sum(self.matrix[bucket].values(), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((self.row_total(bucket) for bucket in BUCKETS), ZERO)

    @property
    def fund_total(self) -> Decimal:
        return self.row_total(FUND)

    @property
    def personal_total(self) -> Decimal:
        return self.total - self.fund_total

    def as_json(self) -> dict[str, Any]:
        matrix = {
            bucket: {**{c: _money(self.matrix[bucket][c]) for c in CATEGORIES}, "total": _money(self.row_total(bucket))}
            for bucket in BUCKETS
        }
        return {
            "settlement_kind": self.settlement_kind,
            "matrix": matrix,
            "total": _money(self.total),
            "fund_total": _money(self.fund_total),
            "personal_total": _money(self.personal_total),
            "items": [line.as_json() for line in self.lines],
        }


def _money(value: Decimal) -> str:
    return f"{round_money(value):.2f}"


@dataclass(frozen=True)
class _Classification:
    """A line's rule (`app.rules.classify.line_rule`) with the reasons the slip's lines give."""

    rule: LineRule
    reason: str
    over_limit_reason: str = ""


def case_diagnosis_injury(case: Case) -> dict[str, bool]:
    """The case's diagnoses as 伤病分离 weighs them (`app.rules.classify.diagnosis_injury`, `003 §15`)."""
    recognition = case.recognition.diagnoses if case.recognition else ()
    return diagnosis_injury((d.code for d in recognition), ((d.code, d.injury) for d in case.stay.diagnoses))


def _classify(item: ChargeItem, injury: bool, catalogue: dict[str, CatalogueEntry],
              names: dict[str, str]) -> _Classification:
    entry = catalogue.get(item.code)
    rule = line_rule(injury, entry is not None, entry.price_limit if entry else None, entry.max_pay if entry else None)
    if rule.bucket == NON_INJURY:
        if item.injury is False:
            return _Classification(rule, "已标记为非工伤项目（伤病分离）")
        assert item.diagnosis is not None
        name = names.get(item.diagnosis)
        label = f"{item.diagnosis} {name}" if name else item.diagnosis
        return _Classification(rule, f"关联诊断 {label} 为非工伤诊断（伤病分离）")
    if rule.bucket == SELF_PAY:
        return _Classification(rule, f"项目 {item.code} 不在工伤保险目录内，自费")
    kind = rule.limit_kind
    return _Classification(rule, "工伤保险目录内项目，由工伤保险基金支付",
                           f"单价超过{kind} {rule.limit}，基金按{kind}支付，超出部分自付")


def _refuse_unclassified(case: Case, unclassified: list[int]) -> InvalidCase:
    positions = {item.seq: index for index, item in enumerate(case.items)}
    return InvalidCase(
        [Problem(f"$.items[{positions[seq]}].diagnosis",
                 f"明细序号 {seq} 未标记伤病分离（injury 为 null），且关联诊断缺失或不是本次住院的诊断，无法判定")
         for seq in sorted(unclassified)],
        sorted(unclassified),
    )


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """The computation allocates a tuple per line and no cycles; left on, the cyclic
    collector would re-walk the whole case many times and double the time of a big stay."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compute(case: Case) -> SettlementResult:
    """Split the stay's charges; raises InvalidCase naming every unclassified line."""
    with _without_cyclic_gc():
        return _compute(case)


def _compute(case: Case) -> SettlementResult:
    diagnoses = case_diagnosis_injury(case)
    names = {d.code: d.name for d in (case.recognition.diagnoses if case.recognition else ())}
    names.update({d.code: d.name for d in case.stay.diagnoses})
    catalogue = {entry.code: entry for entry in case.catalogue}
    by_seq: dict[int, ChargeItem] = {}  # filled at the first refund
    unclassified: list[int] = []
    # Lines alike in what decides their bucket are classified once (HIS stays repeat the same items).
    rules: dict[tuple[bool | None, str | None, str], _Classification] = {}
    cells = [ZERO] * (len(BUCKETS) * len(CATEGORIES))
    column = {category: index for index, category in enumerate(CATEGORIES)}
    row = {bucket: index * len(CATEGORIES) for index, bucket in enumerate(BUCKETS)}
    fund_row = row[FUND]
    lines: list[LineResult] = []
    append = lines.append
    new_line = tuple.__new__  # LineResult's own constructor costs a Python call per line
    for item in sorted(case.items, key=attrgetter("seq")):
        refund_of = item.refund_of
        if refund_of is None:
            original = item
        else:
            if not by_seq:
                by_seq = {line.seq: line for line in case.items}
            original = by_seq[refund_of]
        key = (original.injury, original.diagnosis, original.code)
        rule = rules.get(key)
        if rule is None:
            injury = line_injury(original.injury, original.diagnosis, diagnoses)
            if injury is None:
                if refund_of is None:
                    unclassified.append(item.seq)
                continue
            rule = rules[key] = _classify(original, injury, catalogue, names)
        category = original.category
        # A refund follows its original: its bucket, and the original's unit price against the limit.
        bucket, fund, personal = split_line(rule.rule, original.unit_price, item.quantity, item.amount)
        reason = rule.over_limit_reason if bucket == OVER_LIMIT else rule.reason
        index = column[category]
        cells[fund_row + index] += fund
        cells[row[bucket] + index] += personal
        if refund_of is not None:
            reason = f"退费，随原明细序号 {original.seq}：{reason}"
        append(new_line(LineResult, (item.seq, bucket, category, item.amount, fund, personal, reason)))
    if unclassified:
        raise _refuse_unclassified(case, unclassified)
    matrix = {bucket: {category: cells[row[bucket] + column[category]] for category in CATEGORIES}
              for bucket in BUCKETS}
    return SettlementResult(case.profile.settlement_kind, matrix, tuple(lines))
