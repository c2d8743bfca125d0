"""Is a settlement the centre reports plausible? Checked before anything is stored or printed.

A verified reply proves who sent it, not that its figures make sense: a faulty or compromised
centre could report a negative personal payment, a fund share above the total, parts that do not
add up, or a value no money column can hold (which made recording it raise `OverflowError` on every
later try, wedging the outbox). `settlement_problems` names each such problem in Chinese; the
caller refuses the figures (a settlement is then reversed at the centre and left for review, see
`app.workflow.appliers`).
"""

from __future__ import annotations

from decimal import Decimal

from app.centre.gateway import CentreError, SettlementFigures
from app.rules.case import CATEGORIES
from app.rules.settlement import BUCKETS, FUND

# No one stay comes near this; it is also far inside the fen columns' 64-bit range.
LARGEST = Decimal("1e9")
_FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def _amount_problem(where: str, value: Decimal) -> str | None:
    if not value.is_finite() or abs(value) >= LARGEST:
        return f"{where}的金额超出合理范围（应小于 10 亿元）"
    if value != value.quantize(_FEN):
        return f"{where}的金额 {value} 超过两位小数"
    return None


class ImplausibleFigures(CentreError):
    """A (pre-)settlement whose figures cannot be believed: not shown, not stored."""


def checked(figures: SettlementFigures) -> SettlementFigures:
    """`figures` if plausible, else ImplausibleFigures naming the problems."""
    problems = settlement_problems(figures)
    if problems:
        raise ImplausibleFigures(describe(problems) + "。请联系结算中心核实，不要按此金额收费。")
    return figures


def settlement_problems(figures: SettlementFigures) -> list[str]:
    """Every reason the figures cannot be believed; empty when plausible."""
    problems: list[str] = []
    amounts: list[tuple[str, Decimal]] = [("合计", figures.total), ("基金支付合计", figures.fund_total),
                                          ("个人支付合计", figures.personal_total)]
    for bucket, row in figures.matrix.items():
        for category, value in row.items():
            amounts.append((f"结算矩阵 {bucket}/{category}", value))
    for item in figures.items:
        amounts.append((f"明细 {item.seq} 基金支付", item.fund))
        amounts.append((f"明细 {item.seq} 个人支付", item.personal))
    for where, value in amounts:
        problem = _amount_problem(where, value)
        if problem:
            problems.append(problem)
    if problems:
        return problems  # the sums below would mean nothing
    if figures.personal_total < 0:
        problems.append(f"个人支付合计为负（{figures.personal_total}）")
    if figures.fund_total < 0:
        problems.append(f"基金支付合计为负（{figures.fund_total}）")
    if figures.fund_total > figures.total:
        problems.append(f"基金支付合计 {figures.fund_total} 大于费用合计 {figures.total}")
    if figures.fund_total + figures.personal_total != figures.total:
        problems.append(f"基金支付 {figures.fund_total} 与个人支付 {figures.personal_total} 之和不等于合计 {figures.total}")
    rows = {bucket: sum((figures.matrix.get(bucket, {}).get(c, ZERO) for c in CATEGORIES), ZERO) for bucket in BUCKETS}
    for bucket, summed in rows.items():
        stated = figures.matrix.get(bucket, {}).get("total")
        if stated is not None and stated != summed:
            problems.append(f"结算矩阵 {bucket} 行合计 {stated} 不等于各类之和 {summed}")
        if summed < 0:
            problems.append(f"结算矩阵 {bucket} 行合计为负（{summed}）")
    if figures.matrix and sum(rows.values(), ZERO) != figures.total:
        problems.append(f"结算矩阵之和 {sum(rows.values(), ZERO)} 不等于合计 {figures.total}")
    if figures.matrix and rows[FUND] != figures.fund_total:
        problems.append(f"结算矩阵基金支付行 {rows[FUND]} 不等于基金支付合计 {figures.fund_total}")
    if figures.items:
        fund = sum((item.fund for item in figures.items), ZERO)
        whole = sum((item.fund + item.personal for item in figures.items), ZERO)
        if fund != figures.fund_total or whole != figures.total:
            problems.append(f"逐条明细之和（合计 {whole}，基金 {fund}）与结算合计不符")
    return problems


def describe(problems: list[str]) -> str:
    shown = "；".join(problems[:3])
    more = f"等 {len(problems)} 处" if len(problems) > 3 else ""
    return f"结算中心应答的结算金额不合理：{shown}{more}"
