"""The three monthly forms' XLSX as a spreadsheet program shows and prints them (issue 23 §14).

openpyxl reads back what the file says; this reads what a clerk sees. Each workbook of a realistic
month (a 40-character device list, an 18-character 参保地, a long minority name, a correction's note,
and on 附件9-2 a 备注 column with nothing in it) is opened by LibreOffice headless and printed to PDF
(`soffice --convert-to pdf`: the sheet's own print set-up, as Excel and WPS use it), then read back with
pdfplumber as the PDF forms' test reads them: which text sits in which ruled cell. A value counts only
when the whole of it is in its own cell under its heading (a wrapped cell that spills into the next
row, or text cut off, fails), every page is A4 landscape as the official forms are (`000 附件9`), the
headings repeat on every page, nothing is printed outside the table's columns, and no text is shrunk
below 8 pt (the PDF forms' cell size), so an empty 备注 or a wide column cannot shrink the sheet.

Skipped when LibreOffice is not installed, unless `WI_COUNTER_REQUIRE_SOFFICE` is set (scripts/test.sh
and so CI set it): then a missing `soffice` fails. Each run uses a LibreOffice profile of its own, so
parallel test workers never share one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from app.claims.forms import ClaimForms
from app.claims.xlsx import workbook_bytes
from tests.claims.forms_factory import FOOTER, HEADER, HEADINGS, TITLES, claim_forms, summary_of
from tests.slip_reader import Box, Copy, read_slip, to_png

pytestmark = pytest.mark.soffice

REQUIRE_SOFFICE_ENV = "WI_COUNTER_REQUIRE_SOFFICE"
ARTEFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "claim-forms-xlsx"
A4_LANDSCAPE = (841.89, 595.30)
MIN_TEXT_SIZE = 8.0  # points, as printed: the PDF forms' cells (printing/claim_forms.py SIZE_CELL)

# A prefecture's full name, a name of 13 characters, 40 characters of devices joined by 、.
LONG_PLACE = "新疆维吾尔自治区克孜勒苏柯尔克孜自治州"
LONG_NAME = "阿依古丽·买买提江·艾合买提"
LONG_DEVICE = "小腿假肢（碳纤维储能脚）、硅胶内衬套、膝踝足矫形器（可调）、铝合金肘拐、普通轮椅"
HEADER_TEXTS = [f"协议机构名称：{HEADER.institution_name}", f"结算机构名称：{HEADER.agency_name}",
                f"结算批次：{HEADER.batch_no}", f"协议机构编码：{HEADER.institution_code}",
                f"结算机构编码：{HEADER.agency_code}", f"生成日期：{HEADER.generated_on:%Y-%m-%d}"]
FORMS = ("9", "9-1", "9-2")


def _soffice() -> str:
    found = shutil.which("soffice")
    if found is None:
        if os.environ.get(REQUIRE_SOFFICE_ENV):
            pytest.fail(f"LibreOffice (soffice) is not installed, and {REQUIRE_SOFFICE_ENV} is set")
        pytest.skip("LibreOffice (soffice) is not installed")
    return found


def _month() -> ClaimForms:
    """60 stays over two pages of 附件9-1, with long texts; 附件9-2 without a correction, so 备注 is empty."""
    base = claim_forms(details=60, devices=6)
    details = list(base.details)
    details[0] = dataclasses.replace(details[0], insured_place=LONG_PLACE, name=LONG_NAME)
    details[4] = dataclasses.replace(details[4], insured_place=LONG_PLACE)
    devices = [row for row in base.devices if not row.correction]
    devices[1] = dataclasses.replace(devices[1], device_name=LONG_DEVICE, name=LONG_NAME, insured_place=LONG_PLACE)
    assert len(LONG_DEVICE) == 40 and not any(row.note for row in devices)
    return ClaimForms(base.header, summary_of(details, devices), tuple(details), tuple(devices))


def _money(value: Decimal) -> str:
    return "0.00" if value == 0 else f"{value:.2f}"


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _expected_rows(forms: ClaimForms, form: str) -> list[list[str]]:
    def amounts(a: object) -> list[str]:
        assert dataclasses.is_dataclass(a)
        return [_money(getattr(a, f.name)) for f in dataclasses.fields(a)]

    if form == "9":
        return [[str(r.seq), r.insured_place, r.care_label, str(r.person_times), *amounts(r.amounts)]
                for r in forms.summary]
    if form == "9-1":
        return [[str(r.seq), r.insured_place, r.name, r.id_number, r.care_label, _date(r.admitted),
                 _date(r.discharged), _date(r.settled), *amounts(r.amounts), r.note] for r in forms.details]
    return [[str(r.seq), r.insured_place, r.name, r.id_number, r.device_name, _date(r.configured_on),
             "" if r.min_years is None else str(r.min_years), "" if r.max_pay is None else _money(r.max_pay),
             *amounts(r.amounts), r.note] for r in forms.devices]


def _squeeze(text: str) -> str:
    """A wrapped line loses the space where it breaks; compare without whitespace."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[ClaimForms, dict[str, bytes], dict[str, Path]]:
    """The month's three workbooks and the PDFs LibreOffice prints of them (one conversion for all)."""
    soffice = _soffice()
    forms = _month()
    folder = tmp_path_factory.mktemp("xlsx-in-libreoffice")
    books = {form: workbook_bytes(forms, form) for form in FORMS}
    paths = []
    for form, data in books.items():
        path = folder / f"form-{form}.xlsx"
        path.write_bytes(data)
        paths.append(str(path))
    profile = (folder / "libreoffice-profile").as_uri()  # never the user's, never another worker's
    result = subprocess.run(
        [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(folder), *paths],
        capture_output=True, text=True, timeout=120,
    )
    pdfs = {form: folder / f"form-{form}.pdf" for form in FORMS}
    assert result.returncode == 0 and all(p.exists() for p in pdfs.values()), result.stdout + result.stderr
    for form, pdf in pdfs.items():  # for a person to look at
        target = ARTEFACTS / f"附件{form}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy(pdf, target / f"附件{form}.pdf")
        to_png(target / f"附件{form}.pdf", target / "page", dpi=60)
    return forms, books, pdfs


def _table(page: Copy) -> list[list[Box]]:
    rows: dict[float, list[Box]] = {}
    for cell in page.cells:
        rows.setdefault(round(cell[1], 1), []).append(cell)
    return [sorted(rows[top]) for top in sorted(rows)]


def _check_no_overflow(page: Copy) -> None:
    for char in page.chars:
        centre_x, centre_y = (char["x0"] + char["x1"]) / 2, (char["top"] + char["bottom"]) / 2
        for x0, top, x1, bottom in (c for c in page.cells if c[0] < centre_x < c[2] and c[1] < centre_y < c[3]):
            assert x0 - 0.5 <= char["x0"] and char["x1"] <= x1 + 0.5, f"{char['text']!r} sticks out sideways"
            assert top - 0.5 <= char["top"] and char["bottom"] <= bottom + 0.5, f"{char['text']!r} sticks out"


def _read(pdf: Path, form: str) -> tuple[list[list[str]], list[str], list[Copy], list[Box]]:
    """Every page checked for what it must show; the data rows of all pages, the 合计 row, the pages."""
    document = read_slip(pdf.read_bytes())
    assert all(abs(w - A4_LANDSCAPE[0]) < 1 and abs(h - A4_LANDSCAPE[1]) < 1 for w, h in document.page_sizes), (
        f"附件{form} is not on A4 landscape: {document.page_sizes}")
    pages = document.copies
    data: list[list[str]] = []
    totals: list[str] = []
    headings: list[Box] = []
    for number, page in enumerate(pages, start=1):
        lines = [_squeeze(line) for line in page.lines()]
        small = sorted({(c["text"], round(c["size"], 1)) for c in page.chars if c["size"] < MIN_TEXT_SIZE})
        assert not small, f"附件{form} page {number}: text printed below {MIN_TEXT_SIZE} pt: {small[:10]}"
        rows = _table(page)
        headings = rows[0]
        assert [_squeeze(page.text_in(c)) for c in headings] == HEADINGS[form], f"headings on page {number}"
        left, right = headings[0][0], headings[-1][2]
        outside = [c["text"] for c in page.chars if c["x0"] < left - 1 or c["x1"] > right + 1]
        assert not outside, f"printed outside the table's columns on page {number}: {''.join(outside)}"
        assert f"第{number}页共{len(pages)}页" in lines, f"page number on page {number}: {lines[-3:]}"
        if number == 1:
            assert lines[0] == TITLES[form]
            header = "".join(line for line in lines[1:4])
            for text in HEADER_TEXTS:
                assert _squeeze(text) in header, (text, lines[1:4])
            assert ("单位：元" in header) == (form != "9")
        _check_no_overflow(page)
        for row in rows[1:]:
            texts = [_squeeze(page.text_in(cell)) for cell in row]
            if texts[0] == "合计":
                assert number == len(pages), "合计 closes the last page"
                totals = texts[1:]
            else:
                assert len(row) == len(headings), texts
                for cell, heading in zip(row, headings, strict=True):  # each value under its heading
                    assert abs(cell[0] - heading[0]) < 1 and abs(cell[2] - heading[2]) < 1
                data.append(texts)
        footer = _squeeze("".join(FOOTER))
        assert any(footer in line for line in lines) == (number == len(pages)), f"signature line, page {number}"
    assert totals, "no 合计 row"
    return data, totals, pages, headings


@pytest.mark.parametrize("form", FORMS)
def test_libreoffice_prints_every_cell_whole_in_its_own_row(
        form: str, rendered: tuple[ClaimForms, dict[str, bytes], dict[str, Path]]) -> None:
    forms, _, pdfs = rendered
    data, totals, pages, _ = _read(pdfs[form], form)
    expected = [[_squeeze(text) for text in row] for row in _expected_rows(forms, form)]
    assert data == expected
    if form == "9-1":
        assert len(pages) >= 2  # so the headings' repeat is checked on a second page
    total = {"9": forms.summary_totals, "9-1": forms.detail_totals, "9-2": forms.device_totals}[form]
    amounts = [_money(getattr(total.amounts, f.name)) for f in dataclasses.fields(total.amounts)]
    assert totals == ([str(total.person_times)] if form == "9" else []) + amounts + ([] if form == "9" else [""])


@pytest.mark.parametrize(("form", "text"), [
    pytest.param("9", LONG_PLACE, id="9-place"), pytest.param("9-1", LONG_PLACE, id="9-1-place"),
    pytest.param("9-1", LONG_NAME, id="9-1-name"), pytest.param("9-2", LONG_DEVICE, id="9-2-device")])
def test_long_texts_wrap_within_their_row(
        form: str, text: str, rendered: tuple[ClaimForms, dict[str, bytes], dict[str, Path]]) -> None:
    """The wrapped cell holds its whole text on two or more lines, and its row is tall enough for them."""
    _, _, pdfs = rendered
    _, _, pages, _ = _read(pdfs[form], form)
    found = [(page, cell) for page in pages for cell in page.cells if _squeeze(page.text_in(cell)) == text]
    assert found, f"{text} is not whole in any cell of 附件{form}"
    for page, (x0, top, x1, bottom) in found:
        chars = [c for c in page.chars if x0 < (c["x0"] + c["x1"]) / 2 < x1 and top < (c["top"] + c["bottom"]) / 2 < bottom]
        assert len({round(c["top"]) for c in chars}) >= 2, f"{text} was not wrapped"
        assert all(top <= c["top"] and c["bottom"] <= bottom for c in chars)


def test_the_batch_number_is_legible(rendered: tuple[ClaimForms, dict[str, bytes], dict[str, Path]]) -> None:
    """结算批次 on one line at the header's size: never shrunk to fit a narrow cell, never cut."""
    _, _, pdfs = rendered
    for form in FORMS:
        page = read_slip(pdfs[form].read_bytes()).copies[0]
        line = next(line for line in page.lines() if HEADER.batch_no in line)
        assert f"结算批次：{HEADER.batch_no}" in _squeeze(line)
        label_size = next(c["size"] for c in page.chars if c["text"] == "批")
        digits = [c for c in page.chars if c["text"] == "H" and abs(c["top"] - page.line_top(HEADER.batch_no)) < 2]
        assert digits and all(abs(c["size"] - label_size) < 0.1 for c in digits), form


def test_an_empty_remark_column_stays_narrow(rendered: tuple[ClaimForms, dict[str, bytes], dict[str, Path]]) -> None:
    """附件9-2 of a month without corrections: 备注 is printed, empty and no wider than an amount."""
    _, _, pdfs = rendered
    _, _, _, headings = _read(pdfs["9-2"], "9-2")
    remark, amount = headings[-1], headings[8]
    assert remark[2] - remark[0] <= amount[2] - amount[0]


@pytest.mark.parametrize("form", FORMS)
def test_the_print_area_is_the_form(form: str, rendered: tuple[ClaimForms, dict[str, bytes], dict[str, Path]]) -> None:
    """The title to the signature line, over the form's columns; the headings repeat, the width fits one page."""
    forms, books, _ = rendered
    sheet = load_workbook(io.BytesIO(books[form])).active
    assert sheet is not None
    last_column = get_column_letter(len(HEADINGS[form]))
    rows = {"9": len(forms.summary), "9-1": len(forms.details), "9-2": len(forms.devices)}[form]
    last_row = 4 + rows + 1 + 2  # headings, rows, 合计, a blank line, the signature line
    assert sheet.print_area == f"'附件{form}'!$A$1:${last_column}${last_row}"
    assert sheet.page_setup.orientation == "landscape" and int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4)
    assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
