"""The three monthly forms as XLSX workbooks (`000 附件9 / 9-1 / 9-2`), for the agency's import and the clerk's checks.

One sheet per workbook, named by the form (附件9 …): the title, the header's two lines (label and
value in cells of their own, 生成日期 a real date), the column headings, the rows, the 合计 row and
the signature line, laid out as the official forms are. Money is a number cell with format `0.00`
whose stored text is the exact `Decimal` (see `_cell`), dates are date cells (`yyyy-mm-dd`),
ID numbers are text, so Excel never shows 4.40802E+17 or drops a trailing X. The panes are frozen
below the headings and the headings repeat on every printed page.

As a spreadsheet shows and prints it (issue 23 §14; LibreOffice, Excel, WPS): 宋体 10 pt; long texts
(参保地, names, device lists, notes, the header's names) wrap, and every row that wraps has the height
its lines need, estimated here from the text and the column's width (`text_lines`: a spreadsheet does
not grow a row for wrapped text it only reads from a file); the columns are as wide as their numbers
(an amount or an ID number never shows as ###) and 结算批次 always has the width of its 20 characters;
an empty 备注 column is narrow. The print area is the form (title to signature line), on A4 landscape
as the official forms, fitted to one page across (as many down as it takes) with the page number at
the foot: about 8 pt as printed for the 14 columns of 附件9-1 and 9-2 (the PDF forms print 8 pt), 10 pt for
附件9. tests/claims/test_claim_forms_xlsx_render.py prints the files with LibreOffice and reads them back.

Written in openpyxl's write-only mode with named styles (row heights and the print set-up are set
before the rows are written, which that mode allows): 2,000 rows in about 1 s (most of it openpyxl's
pure-Python XML writer; styling cell by cell took twice as long).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from app.claims.forms import (
    COUNT,
    DATE,
    FOOTER_LABELS,
    ID_NUMBER,
    MONEY,
    REMARK_HEADING,
    TEXT,
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

# 宋体 (SimSun): what the agency's and the hospital's Excel/WPS show Chinese forms in. Where it is
# missing (LibreOffice on Linux) the system's CJK font stands in, with wider digits (DejaVu Sans):
# the widths below are measured for the wider of the two.
FONT_NAME = "宋体"
FONT_CHARSET = 134  # GB2312: Excel and WPS pick the Chinese face by it
FONT_FAMILY = 3  # "modern", as Excel records 宋体
SIZE, TITLE_SIZE = 10.0, 16.0

# Widths in Excel's character units (the width of a digit of the default font, Calibri 11): a CJK
# character of 宋体 10 pt is about 1.9 of them, a digit or Latin letter 0.95 in 宋体 and 1.15 in the
# fonts that stand in for it; each cell keeps about one unit for its padding.
CJK_UNITS, OTHER_UNITS, PADDING_UNITS = 2.0, 1.15, 1.0
BOLD_OTHER_UNITS = 1.25  # the 合计 row's bold digits
# A number's cell needs less (it never wraps; the unit above is rounded up to half a unit).
NUMBER_PADDING_UNITS = 0.6
# A line of 10 pt text and a row's margin above and below it, in points.
LINE_POINTS, ROW_PADDING_POINTS = 13.5, 3.0

# Text columns' widths, by heading; 附件9 (one row per 参保地) has room for wider ones. Number, date
# and ID columns are as wide as their widest value (`_widths`).
WIDTHS: dict[str, float] = {"序号": 5, "参保地": 12, "就医类别": 8, "姓名": 9, "辅助器具名称": 18, "最低使用年限": 7}
SUMMARY_WIDTHS: dict[str, float] = {"序号": 6, "参保地": 22, "就医类别": 14, "人次": 8}
MIN_KIND_WIDTHS: dict[str, float] = {MONEY: 11, DATE: 12, COUNT: 5, ID_NUMBER: 22}
MIN_SUMMARY_MONEY_WIDTH = 15
# 备注 holds only the correction rows' notes: wide enough for them to wrap on a few lines when there
# are any, and otherwise just its heading, so an empty column never narrows the rest of the sheet.
REMARK_WIDTH, EMPTY_REMARK_WIDTH = 16.0, 6.0

# Where the header's label / value pairs sit on each of its two lines (first and last column of the
# label, then of the value), across the width as in the official forms; by the table's width.
_NINE = ((1, 2, 3, 4), (5, 5, 6, 7), (8, 8, 9, 9))
HEADER_SPANS: dict[int, tuple[tuple[tuple[int, int, int, int], ...], ...]] = {
    9: (_NINE, _NINE),
    # 结算批次 over the last three columns (备注 may be narrow); below it 生成日期 leaves the last
    # column to 单位：元.
    14: (((1, 2, 3, 5), (6, 7, 8, 10), (11, 11, 12, 14)), ((1, 2, 3, 5), (6, 7, 8, 10), (11, 11, 12, 13))),
}
# The signature line's four labels, by the table's width.
FOOTER_COLUMNS: dict[int, tuple[int, ...]] = {9: (1, 4, 6, 8), 14: (1, 5, 9, 12)}
PAGE_NUMBER = "第 &P 页 共 &N 页"  # the footer of every printed page, as the PDF forms print it

_THIN = Side(style="thin")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTRE = Alignment(horizontal="center", vertical="center")
_CENTRE_WRAP = Alignment(horizontal="center", vertical="center", wrap_text=True)
_RIGHT = Alignment(horizontal="right", vertical="center")
_LEFT = Alignment(horizontal="left", vertical="center")
_LEFT_WRAP = Alignment(horizontal="left", vertical="center", wrap_text=True)

# Named styles, one per kind of cell: setting a cell's font, border and alignment one by one costs
# hashing each of them per cell (about 1 s for 2,000 rows); a named style is one lookup.
TITLE, LABEL, VALUE, VALUE_DATE, UNIT, HEADING, EMPTY = "表名", "表头项目", "表头内容", "表头日期", "单位", "列名", "无记录"
BODY_TEXT, BODY_REMARK, BODY_COUNT, BODY_DATE, BODY_ID, BODY_MONEY = (
    "文字", "备注", "数目", "日期", "身份证号码", "金额")
TOTAL_TEXT, TOTAL_MONEY, FOOTER = "合计", "合计金额", "签章栏"


def _styles() -> list[NamedStyle]:
    def style(name: str, alignment: Alignment, *, border: bool = True, bold: bool = False, size: float = SIZE,
              number_format: str = "General") -> NamedStyle:
        font = Font(name=FONT_NAME, charset=FONT_CHARSET, family=FONT_FAMILY, size=size, bold=bold)
        return NamedStyle(name=f"wi-{name}", font=font, alignment=alignment,
                          border=_BORDER if border else Border(), number_format=number_format)

    return [
        style(TITLE, _CENTRE, border=False, bold=True, size=TITLE_SIZE),
        style(LABEL, _RIGHT, border=False),
        # Codes and batch numbers are text; a long hospital name wraps (never shrunk to unreadable:
        # the row is as tall as its lines, and the batch's columns as wide as it).
        style(VALUE, _LEFT_WRAP, border=False, number_format=TEXT_FORMAT),
        style(VALUE_DATE, _LEFT, border=False, number_format=DATE_FORMAT),
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
    header = header_fields(forms.header)
    widths = _widths(table, header)
    workbook = Workbook(write_only=True)
    for named in _styles():
        workbook.add_named_style(named)
    sheet: Any = workbook.create_sheet(form_label(form))  # openpyxl's write-only sheet is untyped
    workbook.properties.title = f"{form_label(form)} {table.title} {forms.header.batch_no}"
    workbook.properties.creator = "wi-counter"
    last_row = FIRST_DATA_ROW + max(len(table.rows), 1) + 2  # the rows (or the one saying none), 合计, a gap
    _set_up_sheet(sheet, widths, last_row)

    # Merged ranges are recorded on the sheet and written after the rows (write-only mode allows it);
    # a row's height must be set before the row is written.
    _merge(sheet, TITLE_ROW, 1, width)
    sheet.row_dimensions[TITLE_ROW].height = TITLE_SIZE * 1.6
    sheet.append([_cell(sheet, table.title, TITLE)])
    for line, (row_number, fields) in enumerate(zip(HEADER_ROWS, header, strict=True)):
        spans = HEADER_SPANS[width][line]
        lines = max(text_lines(value, _span_width(widths, first, last))
                    for (_, value), (_, _, first, last) in zip(fields, spans, strict=True) if isinstance(value, str))
        sheet.row_dimensions[row_number].height = _height(lines)
        sheet.append(_header_row(sheet, width, row_number, fields, spans, unit=table.unit and line == 1))
    sheet.row_dimensions[HEADING_ROW].height = _height(max(
        text_lines(column.heading, column_width) for column, column_width in zip(table.columns, widths, strict=True)))
    sheet.append([_cell(sheet, column.heading, HEADING) for column in table.columns])

    styles = [BODY_REMARK if column.heading == REMARK_HEADING else _BODY_STYLES.get(column.kind, BODY_TEXT)
              for column in table.columns]
    # The columns whose text wraps: each row is as tall as its longest one's lines.
    wrapping = [(index, widths[index]) for index, column in enumerate(table.columns) if column.kind == TEXT]
    row_number = FIRST_DATA_ROW
    for row in table.rows:
        lines = max((text_lines(text, column_width) for index, column_width in wrapping
                     if isinstance(text := row[index], str) and text), default=1)
        sheet.row_dimensions[row_number].height = _height(lines)
        sheet.append([_cell(sheet, value, style) for value, style in zip(row, styles, strict=True)])
        row_number += 1
    if not table.rows:  # one merged row saying so: an empty form reads as "none", not "missing"
        _merge(sheet, row_number, 1, width)
        sheet.row_dimensions[row_number].height = _height(1)
        sheet.append([_cell(sheet, table.empty_text, EMPTY), *(_cell(sheet, None, EMPTY) for _ in range(width - 1))])
        row_number += 1

    # 合计: the label over the leading columns, as the official forms merge them.
    _merge(sheet, row_number, 1, table.total_span)
    sheet.row_dimensions[row_number].height = _height(1)
    totals = [_cell(sheet, TOTAL_LABEL, TOTAL_TEXT), *(_cell(sheet, None, TOTAL_TEXT)
                                                       for _ in range(table.total_span - 1))]
    for value, style in zip(table.totals, styles[table.total_span:], strict=True):
        totals.append(_cell(sheet, value, TOTAL_MONEY if style == BODY_MONEY else TOTAL_TEXT))
    sheet.append(totals)

    sheet.append([])
    footer: list[WriteOnlyCell | None] = [None] * width
    for label, column in zip(FOOTER_LABELS, FOOTER_COLUMNS[width], strict=True):
        footer[column - 1] = _cell(sheet, f"{label}：", FOOTER)
    sheet.row_dimensions[last_row].height = _height(1)
    sheet.append(footer)

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _merge(sheet: Any, row: int, first: int, last: int) -> None:
    if last > first:
        sheet.merged_cells.add(f"{get_column_letter(first)}{row}:{get_column_letter(last)}{row}")


def _set_up_sheet(sheet: Any, widths: Sequence[float], last_row: int) -> None:
    """Widths, frozen panes and print set-up: all before the first row (write-only mode needs that)."""
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = f"A{FIRST_DATA_ROW}"
    sheet.print_area = f"A1:{get_column_letter(len(widths))}{last_row}"  # the form, nothing beside it
    sheet.print_title_rows = f"{HEADING_ROW}:{HEADING_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as it takes
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    # Narrow side margins (10 mm, as the PDF forms): the 14 columns print larger.
    sheet.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    sheet.print_options.horizontalCentered = True
    sheet.oddFooter.center.text = PAGE_NUMBER
    sheet.oddFooter.center.font = f"{FONT_NAME},Regular"
    sheet.oddFooter.center.size = int(SIZE)


def _widths(table: FormTable, header: Sequence[Sequence[tuple[str, Cell]]]) -> list[float]:
    """Each column's width: text columns by heading; numbers, dates and ID numbers as wide as their
    widest value (a number that does not fit shows as ###); then widened where a header label, the
    batch number, a code or 单位：元 (none of which wraps) would not fit its cells."""
    named = {**WIDTHS, **SUMMARY_WIDTHS} if table.form == "9" else WIDTHS
    totals: list[Cell] = [None] * table.total_span + list(table.totals)
    widths: list[float] = []
    for index, column in enumerate(table.columns):
        if column.heading == REMARK_HEADING:
            widths.append(REMARK_WIDTH if any(row[index] for row in table.rows) else EMPTY_REMARK_WIDTH)
            continue
        width = named.get(column.heading, 0.0)
        if column.kind != TEXT:
            minimum = MIN_SUMMARY_MONEY_WIDTH if column.kind == MONEY and table.form == "9" else MIN_KIND_WIDTHS[column.kind]
            # Amounts are already two-place Decimals; a date prints as its 10 characters.
            longest = max((len(str(row[index])) for row in table.rows if row[index] is not None), default=0)
            total = len(str(totals[index])) if totals[index] is not None else 0  # printed bold
            width = max(width, minimum, _half_units(max(longest * OTHER_UNITS, total * BOLD_OTHER_UNITS)
                                                    + NUMBER_PADDING_UNITS))
        widths.append(width)
    for line, fields in enumerate(header):
        for (label, value), (label_from, label_to, value_from, value_to) in zip(
                fields, HEADER_SPANS[len(widths)][line], strict=True):
            _fit(widths, f"{label}：", label_from, label_to)
            if isinstance(value, dt.date):
                _fit(widths, f"{value:%Y-%m-%d}", value_from, value_to)
            elif isinstance(value, str) and not any(char == " " or _wide(char) for char in value):
                _fit(widths, value, value_from, value_to)  # a code or the batch number: one unbroken word
    if table.unit:
        _fit(widths, UNIT_LABEL, len(widths), len(widths))
    return widths


def _fit(widths: list[float], text: str, first: int, last: int) -> None:
    """Widen the last of columns first…last (1-based) so that `text` fits them on one line."""
    need = text_units(text) + PADDING_UNITS
    have = _span_width(widths, first, last)
    if need > have:
        widths[last - 1] += _half_units(need - have)


def _half_units(width: float) -> float:
    return math.ceil(width * 2) / 2


def _span_width(widths: Sequence[float], first: int, last: int) -> float:
    return sum(widths[first - 1:last])


def _height(lines: int) -> float:
    return ROW_PADDING_POINTS + LINE_POINTS * lines


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def text_units(text: str) -> float:
    """The width of `text` in column units (`CJK_UNITS` for a CJK character, `OTHER_UNITS` for others)."""
    return sum(CJK_UNITS if _wide(char) else OTHER_UNITS for char in text)


# A line never starts with closing punctuation nor ends with an opening one (spreadsheets keep them
# with their neighbour, which can push a character to the next line).
_NO_LINE_START = frozenset("、，。；：！？）》」』】〕”’…·%,.;:!?)]")
_NO_LINE_END = frozenset("（《「『【〔“‘([")


def _tokens(text: str) -> list[str]:
    """The pieces a line may break between: each CJK character, each run of other characters up to a
    space, each space; punctuation kept with the piece it may not be parted from."""
    raw: list[str] = []
    word = ""
    for char in text:
        if char == " " or _wide(char):
            if word:
                raw.append(word)
                word = ""
            raw.append(char)
        else:
            word += char
    if word:
        raw.append(word)
    tokens: list[str] = []
    for token in raw:
        if tokens and tokens[-1] != " " and token != " " and (
                token[0] in _NO_LINE_START or tokens[-1][-1] in _NO_LINE_END):
            tokens[-1] += token
        else:
            tokens.append(token)
    return tokens


@lru_cache(maxsize=8192)
def text_lines(text: str, width: float) -> int:
    """How many lines `text` takes wrapped in a cell `width` units wide, as a spreadsheet wraps it:
    between CJK characters and at spaces, a word longer than a line broken anywhere. Estimated on
    the wide side (CJK and digits as the widest fonts that show 宋体 draw them), so a row is never
    too short for its text; at worst it has room to spare."""
    available = max(width - PADDING_UNITS, OTHER_UNITS)
    lines = 0
    for paragraph in text.split("\n"):
        lines += 1
        used = 0.0
        for token in _tokens(paragraph):
            size = text_units(token)
            if token == " ":
                used += size  # a space at a line's end hangs over it
                continue
            if used and used + size > available:
                lines += 1
                used = 0.0
            if size > available:  # longer than a line: broken anywhere
                extra = math.ceil(size / available) - 1
                lines += extra
                size -= extra * available
            used += size
    return max(lines, 1)


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
