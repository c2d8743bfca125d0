"""The three monthly forms as XLSX workbooks (`000 附件9 / 9-1 / 9-2`), for the agency's import and the clerk's checks.

One sheet per workbook, named by the form (附件9 …): the title, the header's two lines (label and
value in cells of their own, 生成日期 a real date), the column headings, the rows, the 合计 row and
the signature line, laid out as the official forms are. Money is a number cell with format `0.00`
whose stored text is the exact `Decimal` (see `_cell`), dates are date cells (`yyyy-mm-dd`),
ID numbers are text, so Excel never shows 4.40802E+17 or drops a trailing X. The panes are frozen
below the headings and the headings repeat on every printed page.

Written in openpyxl's write-only mode with named styles: 2,000 rows in about 0.9 s (most of it
openpyxl's pure-Python XML writer; styling cell by cell took twice as long).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from app.claims.forms import (
    COUNT,
    DATE,
    FOOTER_LABELS,
    ID_NUMBER,
    MONEY,
    REMARK_HEADING,
    TOTAL_LABEL,
    UNIT_LABEL,
    Cell,
    ClaimForms,
    FormTable,
    form_label,
    form_table,
    header_fields,
)
from app.textclean import printable, starts_formula

MONEY_FORMAT = "0.00"
DATE_FORMAT = "yyyy-mm-dd"
TEXT_FORMAT = "@"  # Excel keeps an ID number typed over this cell as text too

TITLE_ROW, HEADER_ROWS, HEADING_ROW = 1, (2, 3), 4
FIRST_DATA_ROW = HEADING_ROW + 1

# Column widths in Excel's character units, by heading (a heading not here takes its kind's width);
# 附件9 has room for a wider 参保地.
WIDTHS: dict[str, float] = {
    "序号": 6, "参保地": 16, "就医类别": 10, "人次": 8, "姓名": 10, "身份证号码": 21,
    "辅助器具名称": 24, "最低使用年限": 8, REMARK_HEADING: 44,
}
SUMMARY_WIDTHS: dict[str, float] = {"参保地": 22, "就医类别": 12}
KIND_WIDTHS: dict[str, float] = {MONEY: 15, DATE: 12, COUNT: 8, ID_NUMBER: 21}

# Where the header's label / value pairs sit on each of its two lines (first and last column of the
# label, then of the value), across the width as in the official forms; by the table's width.
_NINE = ((1, 2, 3, 4), (5, 5, 6, 7), (8, 8, 9, 9))
HEADER_SPANS: dict[int, tuple[tuple[tuple[int, int, int, int], ...], ...]] = {
    9: (_NINE, _NINE),
    # 结算批次 over the last two columns; below it 生成日期 leaves the last column to 单位：元.
    14: (((1, 2, 3, 5), (6, 7, 8, 10), (11, 12, 13, 14)), ((1, 2, 3, 5), (6, 7, 8, 10), (11, 12, 13, 13))),
}
# The signature line's four labels, by the table's width.
FOOTER_COLUMNS: dict[int, tuple[int, ...]] = {9: (1, 4, 6, 8), 14: (1, 5, 9, 12)}

_THIN = Side(style="thin")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTRE = Alignment(horizontal="center", vertical="center")
_CENTRE_WRAP = Alignment(horizontal="center", vertical="center", wrap_text=True)
_RIGHT = Alignment(horizontal="right", vertical="center")
_LEFT = Alignment(horizontal="left", vertical="center")
_LEFT_SHRINK = Alignment(horizontal="left", vertical="center", shrink_to_fit=True)

# Named styles, one per kind of cell: setting a cell's font, border and alignment one by one costs
# hashing each of them per cell (about 1 s for 2,000 rows); a named style is one lookup.
TITLE, LABEL, VALUE, VALUE_DATE, UNIT, HEADING, EMPTY = "表名", "表头项目", "表头内容", "表头日期", "单位", "列名", "无记录"
BODY_TEXT, BODY_REMARK, BODY_COUNT, BODY_DATE, BODY_ID, BODY_MONEY = (
    "文字", "备注", "数目", "日期", "身份证号码", "金额")
TOTAL_TEXT, TOTAL_MONEY, FOOTER = "合计", "合计金额", "签章栏"


def _styles() -> list[NamedStyle]:
    def style(name: str, alignment: Alignment, *, border: bool = True, bold: bool = False, size: float = 11,
              number_format: str = "General") -> NamedStyle:
        return NamedStyle(name=f"wi-{name}", font=Font(size=size, bold=bold), alignment=alignment,
                          border=_BORDER if border else Border(), number_format=number_format)

    return [
        style(TITLE, _CENTRE, border=False, bold=True, size=16),
        style(LABEL, _RIGHT, border=False),
        # Codes and batch numbers are text; a long hospital name shrinks rather than being cut off.
        style(VALUE, _LEFT_SHRINK, border=False, number_format=TEXT_FORMAT),
        style(VALUE_DATE, _LEFT_SHRINK, border=False, number_format=DATE_FORMAT),
        style(UNIT, _RIGHT, border=False),
        style(HEADING, _CENTRE_WRAP, bold=True),
        style(EMPTY, _CENTRE),
        style(BODY_TEXT, _CENTRE_WRAP),
        style(BODY_REMARK, Alignment(horizontal="left", vertical="center", wrap_text=True)),
        style(BODY_COUNT, _CENTRE),
        style(BODY_DATE, _CENTRE, number_format=DATE_FORMAT),
        style(BODY_ID, _CENTRE, number_format=TEXT_FORMAT),
        style(BODY_MONEY, _RIGHT, number_format=MONEY_FORMAT),
        style(TOTAL_TEXT, _CENTRE, bold=True),
        style(TOTAL_MONEY, _RIGHT, bold=True, number_format=MONEY_FORMAT),
        style(FOOTER, _LEFT, border=False),
    ]


_BODY_STYLES = {COUNT: BODY_COUNT, DATE: BODY_DATE, ID_NUMBER: BODY_ID, MONEY: BODY_MONEY}


def workbook_bytes(forms: ClaimForms, form: str) -> bytes:
    """The form `form` ("9", "9-1" or "9-2") of `forms` as an XLSX file's bytes."""
    table = form_table(forms, form)
    width = len(table.columns)
    workbook = Workbook(write_only=True)
    for named in _styles():
        workbook.add_named_style(named)
    sheet: Any = workbook.create_sheet(form_label(form))  # openpyxl's write-only sheet is untyped
    workbook.properties.title = f"{form_label(form)} {table.title} {forms.header.batch_no}"
    workbook.properties.creator = "wi-counter"
    _set_up_sheet(sheet, table)

    # Merged ranges are recorded on the sheet and written after the rows (write-only mode allows it).
    _merge(sheet, TITLE_ROW, 1, width)
    sheet.append([_cell(sheet, table.title, TITLE)])
    for line, (row_number, fields) in enumerate(zip(HEADER_ROWS, header_fields(forms.header), strict=True)):
        spans = HEADER_SPANS[width][line]
        sheet.append(_header_row(sheet, width, row_number, fields, spans, unit=table.unit and line == 1))
    sheet.append([_cell(sheet, column.heading, HEADING) for column in table.columns])

    styles = [BODY_REMARK if column.heading == REMARK_HEADING else _BODY_STYLES.get(column.kind, BODY_TEXT)
              for column in table.columns]
    for row in table.rows:
        sheet.append([_cell(sheet, value, style) for value, style in zip(row, styles, strict=True)])
    row_number = FIRST_DATA_ROW + len(table.rows)
    if not table.rows:  # one merged row saying so: an empty form reads as "none", not "missing"
        _merge(sheet, row_number, 1, width)
        sheet.append([_cell(sheet, table.empty_text, EMPTY), *(_cell(sheet, None, EMPTY) for _ in range(width - 1))])
        row_number += 1

    # 合计: the label over the leading columns, as the official forms merge them.
    _merge(sheet, row_number, 1, table.total_span)
    totals = [_cell(sheet, TOTAL_LABEL, TOTAL_TEXT), *(_cell(sheet, None, TOTAL_TEXT)
                                                       for _ in range(table.total_span - 1))]
    for value, style in zip(table.totals, styles[table.total_span:], strict=True):
        totals.append(_cell(sheet, value, TOTAL_MONEY if style == BODY_MONEY else TOTAL_TEXT))
    sheet.append(totals)

    sheet.append([])
    footer: list[WriteOnlyCell | None] = [None] * width
    for label, column in zip(FOOTER_LABELS, FOOTER_COLUMNS[width], strict=True):
        footer[column - 1] = _cell(sheet, f"{label}：", FOOTER)
    sheet.append(footer)

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _merge(sheet: Any, row: int, first: int, last: int) -> None:
    if last > first:
        sheet.merged_cells.add(f"{get_column_letter(first)}{row}:{get_column_letter(last)}{row}")


def _set_up_sheet(sheet: Any, table: FormTable) -> None:
    """Widths, frozen panes and print set-up: all before the first row (write-only mode needs that)."""
    for index, column in enumerate(table.columns, start=1):
        widths = {**WIDTHS, **SUMMARY_WIDTHS} if table.form == "9" else WIDTHS
        width = widths.get(column.heading) or KIND_WIDTHS.get(column.kind, 12)
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = f"A{FIRST_DATA_ROW}"
    sheet.print_title_rows = f"{HEADING_ROW}:{HEADING_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as it takes
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _header_row(sheet: Any, width: int, row_number: int, fields: Iterable[tuple[str, Cell]],
                spans: Iterable[tuple[int, int, int, int]], unit: bool) -> list[WriteOnlyCell | None]:
    cells: list[WriteOnlyCell | None] = [None] * width
    for (label, value), (label_from, label_to, value_from, value_to) in zip(fields, spans, strict=True):
        _merge(sheet, row_number, label_from, label_to)
        _merge(sheet, row_number, value_from, value_to)
        cells[label_from - 1] = _cell(sheet, f"{label}：", LABEL)
        cells[value_from - 1] = _cell(sheet, value, VALUE_DATE if isinstance(value, dt.date) else VALUE)
    if unit:
        cells[width - 1] = _cell(sheet, UNIT_LABEL, UNIT)
    return cells


def _cell(sheet: Any, value: Cell, style: str) -> WriteOnlyCell:
    if isinstance(value, str):
        # Names and codes come from the HIS and the centre: no control character (openpyxl refuses them,
        # which failed the whole export), no bidi override; and never a formula ("=HYPERLINK(…)").
        value = printable(value)
    cell = WriteOnlyCell(sheet, value=value)
    cell.style = f"wi-{style}"
    if isinstance(value, str) and starts_formula(value):
        cell.data_type = "s"  # text, not the formula openpyxl makes of a leading "="
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    if isinstance(value, Decimal):
        # openpyxl writes a Decimal through float ("%.16g"), which stores 9999.97 as 9999.969999999999
        # for about one amount in twenty. The cell stays a number cell; its stored text is the Decimal's.
        cell._value = f"{value:f}"
    return cell
