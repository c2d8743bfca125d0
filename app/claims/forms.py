"""The content of the three monthly forms, money as `Decimal`, without PDF or XLSX.

- 附件9 《工伤保险费用结算表》: one row per 参保地 × 就医类别 (`SummaryRow`);
- 附件9-1 《工伤保险费用结算明细表（住院/康复）》: one row per claimed settlement of a stay (`DetailRow`);
- 附件9-2 《工伤保险费用结算明细表（辅助器具配置）》: one row per claimed device settlement (`DeviceRow`).

A correction (the cancellation of a settlement claimed in an earlier batch) is a row of its own
with negative amounts and 人次 −1, so the forms stay net and never silently drop it. The totals of
the three forms agree to the fen: 附件9's total is 附件9-1's plus 附件9-2's. `printing.claim_forms`
(PDF) and `app.claims.xlsx` (XLSX) lay these out and add nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal("0.00")

# 就医类别 by the stay's care (`000 附件9`).
CARE_LABELS: dict[str, str] = {"medical": "住院", "rehab": "康复", "device": "辅助器具配置"}

SUMMARY_TITLE = "工伤保险费用结算表"
DETAIL_TITLE = "工伤保险费用结算明细表（住院/康复）"
DEVICE_TITLE = "工伤保险费用结算明细表（辅助器具配置）"
CORRECTION_NOTE = "冲销"  # a cancelled settlement of an earlier batch, corrected in this one


@dataclass(frozen=True)
class FormHeader:
    institution_name: str  # 协议机构名称
    institution_code: str  # 协议机构编码
    agency_name: str  # 结算机构名称
    agency_code: str  # 结算机构编码
    batch_no: str  # 结算批次
    generated_on: dt.date  # 生成日期
    month: str  # YYYY-MM: the month claimed


@dataclass(frozen=True)
class Amounts:
    """The five money columns every form shares."""

    total: Decimal  # 费用总额
    fund_total: Decimal  # 基金支付总额
    personal_total: Decimal  # 自付金额
    deduction: Decimal  # 扣款金额
    fund_settled: Decimal  # 基金结算金额 = 基金支付总额 − 扣款金额


@dataclass(frozen=True)
class SummaryRow:
    seq: int
    insured_place: str  # 参保地
    care_label: str  # 就医类别
    person_times: int  # 人次 (corrections count −1)
    amounts: Amounts


@dataclass(frozen=True)
class DetailRow:
    seq: int
    insured_place: str
    name: str
    id_number: str  # 身份证号码, in full: the agency matches on it
    care_label: str
    admitted: dt.date
    discharged: dt.date | None
    settled: dt.date  # 就医结算日期 (a correction: the day it was cancelled)
    amounts: Amounts
    correction: bool
    note: str  # 冲销 of which batch, or ""


@dataclass(frozen=True)
class DeviceRow:
    seq: int
    insured_place: str
    name: str
    id_number: str
    device_name: str  # 辅助器具名称 (several devices of one settlement joined by 、)
    configured_on: dt.date  # 配置时间
    min_years: int | None  # 最低使用年限
    max_pay: Decimal | None  # 最高支付限额
    amounts: Amounts
    correction: bool
    note: str


@dataclass(frozen=True)
class Totals:
    person_times: int
    amounts: Amounts


@dataclass(frozen=True)
class ClaimForms:
    header: FormHeader
    summary: tuple[SummaryRow, ...]
    details: tuple[DetailRow, ...]
    devices: tuple[DeviceRow, ...]

    @property
    def summary_totals(self) -> Totals:
        return Totals(sum(r.person_times for r in self.summary), add_amounts(r.amounts for r in self.summary))

    @property
    def detail_totals(self) -> Totals:
        return Totals(sum(-1 if r.correction else 1 for r in self.details),
                      add_amounts(r.amounts for r in self.details))

    @property
    def device_totals(self) -> Totals:
        return Totals(sum(-1 if r.correction else 1 for r in self.devices),
                      add_amounts(r.amounts for r in self.devices))


def add_amounts(rows: Iterable[Amounts]) -> Amounts:
    total = fund = personal = deduction = settled = ZERO
    for row in rows:
        total += row.total
        fund += row.fund_total
        personal += row.personal_total
        deduction += row.deduction
        settled += row.fund_settled
    return Amounts(total, fund, personal, deduction, settled)


def money_text(value: Decimal) -> str:
    """Two places, no thousands separator: what the agency's forms print."""
    return f"{value.quantize(Decimal('0.01'))}"
