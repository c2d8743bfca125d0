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
DETAIL_TITLE = "工伤保险费用结算明细表（住院/康复）"  # as §31 and the annex list; the form itself reads （医疗/康复）
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
    return f"{plain_money(value)}"


def plain_money(value: Decimal) -> Decimal:
    """Two places; a negated zero (a correction with no deduction) becomes 0.00, never -0.00."""
    return value.quantize(Decimal("0.01")) + ZERO


# --- the forms as tables: one column order for the PDF and the XLSX (`000 附件9 / 9-1 / 9-2`) ---

FORMS = ("9", "9-1", "9-2")
FORM_TITLES: dict[str, str] = {"9": SUMMARY_TITLE, "9-1": DETAIL_TITLE, "9-2": DEVICE_TITLE}
FOOTER_LABELS = ("受理", "审核", "决定", "机构签章")  # the signature line under each form
TOTAL_LABEL = "合计"
UNIT_LABEL = "单位：元"
REMARK_HEADING = "备注"  # not in the official forms: the correction rows' note, appended after their columns

# Column kinds: how a value is printed and which cell type the XLSX gives it.
TEXT, ID_NUMBER, COUNT, MONEY, DATE = "text", "id", "count", "money", "date"
_AMOUNT_COLUMNS = (("费用总额", MONEY), ("基金支付总额", MONEY), ("自付金额", MONEY), ("扣款金额", MONEY),
                   ("基金结算金额", MONEY))

Cell = str | int | Decimal | dt.date | None


@dataclass(frozen=True)
class Column:
    heading: str
    kind: str


@dataclass(frozen=True)
class FormTable:
    """One form as its renderers see it: columns in the official order, typed cells, the 合计 row.

    `total_span` is how many leading columns the 合计 label covers (the official forms merge them);
    `totals` has a value (or None, printed blank) for each column after those.
    """

    form: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total_span: int
    totals: tuple[Cell, ...]
    unit: bool  # 单位：元 in the header (附件9-1 and 9-2 print it; 附件9 does not)
    empty_text: str  # what an empty table says, so a blank form reads as "none", not "missing"


def form_label(form: str) -> str:
    return f"附件{form}"


def header_fields(header: FormHeader) -> tuple[tuple[tuple[str, Cell], ...], tuple[tuple[str, Cell], ...]]:
    """The header's two lines as the official forms place them: names and batch, then codes and date."""
    return (
        (("协议机构名称", header.institution_name), ("结算机构名称", header.agency_name),
         ("结算批次", header.batch_no)),
        (("协议机构编码", header.institution_code), ("结算机构编码", header.agency_code),
         ("生成日期", header.generated_on)),
    )


def _amount_cells(amounts: Amounts) -> tuple[Decimal, ...]:
    return (plain_money(amounts.total), plain_money(amounts.fund_total), plain_money(amounts.personal_total),
            plain_money(amounts.deduction), plain_money(amounts.fund_settled))


def _remark(correction: bool, note: str) -> str:
    return (note or CORRECTION_NOTE) if correction else note


def form_table(forms: ClaimForms, form: str) -> FormTable:
    """The form `form` ("9", "9-1" or "9-2") of `forms` as a table."""
    if form == "9":
        totals = forms.summary_totals
        return FormTable(
            form, SUMMARY_TITLE,
            (Column("序号", COUNT), Column("参保地", TEXT), Column("就医类别", TEXT), Column("人次", COUNT),
             *(Column(h, k) for h, k in _AMOUNT_COLUMNS)),
            tuple((r.seq, r.insured_place, r.care_label, r.person_times, *_amount_cells(r.amounts))
                  for r in forms.summary),
            3, (totals.person_times, *_amount_cells(totals.amounts)), False, "本批次无结算记录",
        )
    if form == "9-1":
        totals = forms.detail_totals
        return FormTable(
            form, DETAIL_TITLE,
            (Column("序号", COUNT), Column("参保地", TEXT), Column("姓名", TEXT), Column("身份证号码", ID_NUMBER),
             Column("就医类别", TEXT), Column("入院日期", DATE), Column("出院日期", DATE),
             Column("就医结算日期", DATE), *(Column(h, k) for h, k in _AMOUNT_COLUMNS), Column(REMARK_HEADING, TEXT)),
            tuple((r.seq, r.insured_place, r.name, r.id_number, r.care_label, r.admitted, r.discharged, r.settled,
                   *_amount_cells(r.amounts), _remark(r.correction, r.note)) for r in forms.details),
            8, (*_amount_cells(totals.amounts), None), True, "本批次无住院/康复结算",
        )
    if form == "9-2":
        totals = forms.device_totals
        return FormTable(
            form, DEVICE_TITLE,
            (Column("序号", COUNT), Column("参保地", TEXT), Column("姓名", TEXT), Column("身份证号码", ID_NUMBER),
             Column("辅助器具名称", TEXT), Column("配置时间", DATE), Column("最低使用年限", COUNT),
             Column("最高支付限额", MONEY), *(Column(h, k) for h, k in _AMOUNT_COLUMNS),
             Column(REMARK_HEADING, TEXT)),
            tuple((r.seq, r.insured_place, r.name, r.id_number, r.device_name, r.configured_on, r.min_years,
                   None if r.max_pay is None else plain_money(r.max_pay), *_amount_cells(r.amounts),
                   _remark(r.correction, r.note)) for r in forms.devices),
            8, (*_amount_cells(totals.amounts), None), True, "本批次无辅助器具配置结算",
        )
    raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")


# Characters Windows (or any system) refuses in a file name; the 9-1 title's "/" is one of them.
_UNSAFE_IN_FILE_NAMES = str.maketrans({c: "、" if c == "/" else "_" for c in '\\/:*?"<>|'})


def file_stem(batch_no: str, form: str) -> str:
    """`{batch}-附件9-工伤保险费用结算表`: the batch, the form's number and its title, safe as a file name."""
    if form not in FORM_TITLES:
        raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")
    return f"{batch_no.strip()}-{form_label(form)}-{FORM_TITLES[form]}".translate(_UNSAFE_IN_FILE_NAMES)
