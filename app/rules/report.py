"""Readable Chinese summaries of a verdict and a settlement, for the command line."""

from __future__ import annotations

from app.rules.case import CATEGORIES
from app.rules.settlement import BUCKET_LABELS, BUCKETS, CATEGORY_LABELS, SettlementResult, _money
from app.rules.verdict import ADMISSION, Verdict

STAGE_LABELS = {ADMISSION: "入院登记核验", "discharge": "出院结算核验"}


def verdict_text(verdict: Verdict) -> str:
    outcome = "可以直接结算" if verdict.allowed else "不能直接结算"
    lines = [
        f"{STAGE_LABELS[verdict.stage]}（核验日期 {verdict.check_date.isoformat()}）：{outcome}",
        f"结算类别：{verdict.settlement_kind}",
    ]
    if verdict.reasons:
        lines.append("原因：")
        for reason in verdict.reasons:
            tag = "阻止" if reason.blocking else "提示"
            lines.append(f"  [{tag}] {reason.code}：{reason.message}（依据 {reason.source}）")
    else:
        lines.append("核验通过，无需提示的事项。")
    return "\n".join(lines)


def _pad(text: str, width: int) -> str:
    # CJK characters take two columns in a terminal.
    shown = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
    return " " * max(0, width - shown) + text


def settlement_text(result: SettlementResult) -> str:
    headers = [CATEGORY_LABELS[c] for c in CATEGORIES] + ["合计"]
    label_width = 24
    lines = [f"结算类别（备注）：{result.settlement_kind}    金额单位：元",
             _pad("", label_width) + "".join(_pad(h, 20) for h in headers)]
    for bucket in BUCKETS:
        cells = [_money(result.matrix[bucket][c]) for c in CATEGORIES] + [_money(result.row_total(bucket))]
        label = BUCKET_LABELS[bucket]
        lines.append(label + _pad("", label_width - sum(2 if ord(ch) > 0x2E80 else 1 for ch in label))
                     + "".join(_pad(cell, 20) for cell in cells))
    lines.append(
        f"合计本次：总费用 {_money(result.total)} 元，工伤保险基金支付金额 {_money(result.fund_total)} 元，"
        f"个人支付金额 {_money(result.personal_total)} 元"
    )
    return "\n".join(lines)
