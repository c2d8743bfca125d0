"""The three monthly forms as XLSX (`000 附件9`, `附件9-1`, `附件9-2`), read back with openpyxl.

The expected titles, header fields, headings and footer are written here from the official forms
(`000` around its 附件9), and every expected cell from the `ClaimForms` dataclasses directly, not
from the code under test's table model. Money must come back equal as `Decimal` to the fen, ID
numbers as text, dates as dates.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from app.claims.forms import Amounts, ClaimForms, Totals
from app.claims.xlsx import workbook_bytes
from tests.claims.forms_factory import (
    DETAIL_HEADINGS,
    DEVICE_HEADINGS,
    DEVICE_TITLE,
    FOOTER,
    HEADER_FIELDS,
    HEADINGS,
    TITLES,
    claim_forms,
)

HEADING_ROW = 4


def _sheet(forms: ClaimForms, form: str) -> Worksheet:
    workbook = load_workbook(io.BytesIO(workbook_bytes(forms, form)))
    assert workbook.sheetnames == [f"附件{form}"]
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    return sheet


def _amounts(amounts: Amounts) -> list[Decimal]:
    return [amounts.total, amounts.fund_total, amounts.personal_total, amounts.deduction, amounts.fund_settled]


def _expected_rows(forms: ClaimForms, form: str) -> list[list[Any]]:
    if form == "9":
        return [[r.seq, r.insured_place, r.care_label, r.person_times, *_amounts(r.amounts)] for r in forms.summary]
    if form == "9-1":
        return [[r.seq, r.insured_place, r.name, r.id_number, r.care_label, r.admitted, r.discharged, r.settled,
                 *_amounts(r.amounts), r.note or None] for r in forms.details]
    return [[r.seq, r.insured_place, r.name, r.id_number, r.device_name, r.configured_on, r.min_years, r.max_pay,
             *_amounts(r.amounts), r.note or None] for r in forms.devices]


def _totals(forms: ClaimForms, form: str) -> Totals:
    return {"9": forms.summary_totals, "9-1": forms.detail_totals, "9-2": forms.device_totals}[form]


def _values(sheet: Worksheet, row: int) -> list[Any]:
    return [cell.value for cell in sheet[row]][: len(HEADINGS[_form_of(sheet)])]


def _form_of(sheet: Worksheet) -> str:
    return sheet.title.removeprefix("附件")


def _check_cell(cell: Any, expected: Any, where: str) -> None:
    if isinstance(expected, Decimal):
        # A number cell shown with two places, equal to the fen (never a float's 9999.969999999999).
        assert cell.data_type == "n" and cell.number_format == "0.00", where
        assert isinstance(cell.value, (int, float)), where
        assert Decimal(repr(cell.value)) == expected, (where, cell.value, expected)
    elif isinstance(expected, dt.date):
        assert cell.is_date and cell.number_format == "yyyy-mm-dd", where
        assert cell.value.date() == expected, where
    elif isinstance(expected, str) and re.fullmatch(r"[0-9]{17}[0-9X]", expected):
        # An ID number: text, so Excel neither shows 4.40802E+17 nor drops the last digits.
        assert cell.data_type == "s" and cell.number_format == "@", where
        assert cell.value == expected, where
    else:
        assert cell.value == expected, (where, cell.value, expected)


def _header(sheet: Worksheet) -> dict[str, Any]:
    """Each header label with the first value right of it, on rows 2 and 3."""
    found: dict[str, Any] = {}
    for row in (2, 3):
        cells = list(sheet[row])
        for index, cell in enumerate(cells):
            if isinstance(cell.value, str) and cell.value.endswith("："):
                value = next((c for c in cells[index + 1:] if c.value is not None), None)
                found[cell.value.removesuffix("：")] = value
    return found


@pytest.mark.parametrize("form", ["9", "9-1", "9-2"])
def test_form_reads_back_cell_by_cell(form: str) -> None:
    forms = claim_forms(details=40, devices=8)
    sheet = _sheet(forms, form)
    width = len(HEADINGS[form])

    assert sheet["A1"].value == TITLES[form]
    assert f"A1:{get_column_letter(width)}1" in {str(r) for r in sheet.merged_cells.ranges}
    header = _header(sheet)
    assert set(header) == set(HEADER_FIELDS)
    for label, expected in HEADER_FIELDS.items():
        _check_cell(header[label], expected, label)
    assert header["结算批次"].data_type == "s" and header["协议机构编码"].data_type == "s"
    unit = [c.value for row in (2, 3) for c in sheet[row] if c.value == "单位：元"]
    assert unit == (["单位：元"] if form != "9" else [])

    assert _values(sheet, HEADING_ROW) == HEADINGS[form]
    assert sheet.freeze_panes == f"A{HEADING_ROW + 1}"  # the headings stay in view
    assert sheet.print_title_rows == f"${HEADING_ROW}:${HEADING_ROW}"  # and repeat on printed pages

    expected_rows = _expected_rows(forms, form)
    for offset, expected in enumerate(expected_rows):
        row = HEADING_ROW + 1 + offset
        cells = list(sheet[row])[:width]
        for heading, cell, value in zip(HEADINGS[form], cells, expected, strict=True):
            _check_cell(cell, value, f"row {offset + 1} {heading}")

    # 合计: the label merged over the leading columns (as the official forms), then the totals.
    totals_row = HEADING_ROW + 1 + len(expected_rows)
    span = 3 if form == "9" else 8
    assert sheet.cell(totals_row, 1).value == "合计"
    assert f"A{totals_row}:{get_column_letter(span)}{totals_row}" in {
        str(r) for r in sheet.merged_cells.ranges}
    totals = _totals(forms, form)
    expected_totals: list[Any] = ([totals.person_times] if form == "9" else []) + _amounts(totals.amounts)
    first_total = 4 if form == "9" else 9
    for offset, value in enumerate(expected_totals):
        _check_cell(sheet.cell(totals_row, first_total + offset), value, f"合计 {offset}")
    footer = [c.value for c in sheet[totals_row + 2] if c.value is not None]
    assert footer == FOOTER
    assert sheet.max_row == totals_row + 2


def test_totals_agree_across_the_three_forms() -> None:
    """附件9's 合计 is 附件9-1's plus 附件9-2's, to the fen, as the sheets say."""
    forms = claim_forms(details=40, devices=8)
    sums = {}
    for form, first in (("9", 5), ("9-1", 9), ("9-2", 9)):
        sheet = _sheet(forms, form)
        row = next(r for r in range(HEADING_ROW + 1, sheet.max_row + 1) if sheet.cell(r, 1).value == "合计")
        sums[form] = [Decimal(repr(sheet.cell(row, first + i).value)) for i in range(5)]
    assert sums["9"] == [a + b for a, b in zip(sums["9-1"], sums["9-2"], strict=True)]


def test_correction_rows_are_negative_and_say_which_batch() -> None:
    forms = claim_forms(details=40, devices=8)
    for form, rows in (("9-1", forms.details), ("9-2", forms.devices)):
        sheet = _sheet(forms, form)
        corrections = [r for r in rows if r.correction]
        assert corrections, "the factory must include a correction"
        for correction in corrections:
            row = HEADING_ROW + correction.seq
            assert sheet.cell(row, 14).value == correction.note and "冲销" in correction.note
            assert Decimal(repr(sheet.cell(row, 9).value)) < 0
            # A negated zero deduction is stored as 0, never -0.
            assert sheet.cell(row, 12).value == 0 and not str(sheet.cell(row, 12).value).startswith("-")


def test_money_is_stored_as_its_exact_decimal_text() -> None:
    """openpyxl on its own writes Decimal through "%.16g" (9999.97 → 9999.969999999999)."""
    forms = claim_forms(details=300, devices=30)
    for form in ("9", "9-1", "9-2"):
        with zipfile.ZipFile(io.BytesIO(workbook_bytes(forms, form))) as archive:
            xml = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
        numbers = re.findall(r"<v>([^<]*)</v>", xml)
        assert numbers
        assert [n for n in numbers if not re.fullmatch(r"-?[0-9]+(\.[0-9]{2})?", n)] == []
        assert "-0.00" not in numbers
    stored = set(numbers)
    assert {f"{r.amounts.total:.2f}" for r in forms.devices} <= stored


def test_columns_fit_their_contents() -> None:
    """Numbers, dates and ID numbers fit their column on one line (a number that does not shows as ###
    in Excel and LibreOffice); 备注 wraps its notes in a modest width and, when a month has none, stays
    narrow, so it never shrinks the printed sheet (issue 23 §14; printed: test_claim_forms_xlsx_render)."""
    forms = claim_forms(details=300, devices=5)  # rows of over 1,000,000.00 and a 合计 of more digits
    sheet = _sheet(forms, "9-1")
    widths = {heading: sheet.column_dimensions[get_column_letter(index)].width
              for index, heading in enumerate(DETAIL_HEADINGS, start=1)}
    assert widths["身份证号码"] >= 19  # 18 digits
    assert widths["就医结算日期"] >= 11
    for index, heading in enumerate(DETAIL_HEADINGS[8:13], start=9):
        longest = max(len(f"{cell.value:.2f}") for (cell,) in sheet.iter_rows(
            min_row=HEADING_ROW + 1, max_row=sheet.max_row - 2, min_col=index, max_col=index))
        assert widths[heading] >= longest + 1, heading  # a digit is one unit; the cell's padding
    assert 14 <= widths["备注"] <= 20
    without_notes = _sheet(claim_forms(details=1, devices=1), "9-1")  # one row: no correction
    assert without_notes.column_dimensions["N"].width <= 10


def test_a_month_without_device_settlements_still_has_its_form() -> None:
    """附件9-2 with no rows: title, header, headings, a row saying so, 合计 0.00, the footer."""
    forms = claim_forms(details=5, devices=0)
    sheet = _sheet(forms, "9-2")
    assert sheet["A1"].value == DEVICE_TITLE
    assert _values(sheet, HEADING_ROW) == DEVICE_HEADINGS
    assert sheet.cell(HEADING_ROW + 1, 1).value == "本批次无辅助器具配置结算"
    totals_row = HEADING_ROW + 2
    assert sheet.cell(totals_row, 1).value == "合计"
    for column in range(9, 14):
        _check_cell(sheet.cell(totals_row, column), Decimal("0.00"), f"合计 {column}")
    assert [c.value for c in sheet[totals_row + 2] if c.value is not None] == FOOTER
