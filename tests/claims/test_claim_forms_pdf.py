"""The three monthly forms as PDF (`000 附件9`, `附件9-1`, `附件9-2`), read back with pdfplumber.

Titles, header fields, headings and footer are written here from the official forms (`000`
around its 附件9); every expected cell comes from the `ClaimForms` dataclasses directly. A value
counts only when it sits in its ruled cell under its heading (`tests.slip_reader` finds the cells
from the rules drawn), and no character may stick out of its cell. Each form is also written to
`test-artifacts/claim-forms/` as PDF and PNG for a person to look at.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

import printing.claim_forms as claim_forms_pdf
from app.claims.forms import Amounts, ClaimForms, Totals
from printing.claim_forms import export, render_pdf
from tests.claims.forms_factory import BATCH_NO, FOOTER, HEADER, HEADINGS, TITLES, claim_forms
from tests.slip_reader import Box, Copy, pdf_fonts, read_slip, to_png

ARTEFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "claim-forms"
A4_LANDSCAPE = (841.89, 595.28)
HEADER_TEXTS = [f"协议机构名称：{HEADER.institution_name}", f"结算机构名称：{HEADER.agency_name}",
                f"结算批次：{HEADER.batch_no}", f"协议机构编码：{HEADER.institution_code}",
                f"结算机构编码：{HEADER.agency_code}", f"生成日期：{HEADER.generated_on:%Y-%m-%d}"]
# 合计 covers 序号 … 就医类别 on 附件9, 序号 … 就医结算日期 / 最高支付限额 on 9-1 / 9-2 (`000 附件9`).
TOTAL_SPAN = {"9": 3, "9-1": 8, "9-2": 8}
EMPTY = {"9-2": "本批次无辅助器具配置结算"}


def _money(value: Decimal) -> str:
    return "0.00" if value == 0 else f"{value:.2f}"  # a negated zero is still 0.00


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _amounts(amounts: Amounts) -> list[str]:
    return [_money(a) for a in (amounts.total, amounts.fund_total, amounts.personal_total, amounts.deduction,
                                amounts.fund_settled)]


def _expected_rows(forms: ClaimForms, form: str) -> list[list[str]]:
    if form == "9":
        return [[str(r.seq), r.insured_place, r.care_label, str(r.person_times), *_amounts(r.amounts)]
                for r in forms.summary]
    if form == "9-1":
        return [[str(r.seq), r.insured_place, r.name, r.id_number, r.care_label, _date(r.admitted),
                 _date(r.discharged), _date(r.settled), *_amounts(r.amounts), r.note] for r in forms.details]
    return [[str(r.seq), r.insured_place, r.name, r.id_number, r.device_name, _date(r.configured_on),
             "" if r.min_years is None else str(r.min_years), "" if r.max_pay is None else _money(r.max_pay),
             *_amounts(r.amounts), r.note] for r in forms.devices]


def _totals(forms: ClaimForms, form: str) -> Totals:
    return {"9": forms.summary_totals, "9-1": forms.detail_totals, "9-2": forms.device_totals}[form]


def _squeeze(text: str) -> str:
    """Wrapped cells lose the space where a line breaks; compare without whitespace."""
    return "".join(text.split())


def _table(copy: Copy) -> list[list[Box]]:
    """The page's ruled cells as rows (top to bottom), each row's cells left to right."""
    rows: dict[float, list[Box]] = {}
    for cell in copy.cells:
        rows.setdefault(round(cell[1], 1), []).append(cell)
    return [sorted(rows[top]) for top in sorted(rows)]


def _check_no_overflow(copy: Copy) -> None:
    for char in copy.chars:
        centre_x, centre_y = (char["x0"] + char["x1"]) / 2, (char["top"] + char["bottom"]) / 2
        inside = [c for c in copy.cells if c[0] < centre_x < c[2] and c[1] < centre_y < c[3]]
        for x0, top, x1, bottom in inside:
            assert x0 - 0.3 <= char["x0"] and char["x1"] <= x1 + 0.3, f"{char['text']!r} sticks out sideways"
            assert top - 0.3 <= char["top"] and char["bottom"] <= bottom + 0.3, f"{char['text']!r} sticks out"


def _save(pdf: bytes, label: str) -> None:
    folder = ARTEFACTS / label  # a folder each: "附件9-*.png" would match 附件9-1's pages too
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    path = folder / f"{label}.pdf"
    path.write_bytes(pdf)
    to_png(path, folder / "page", dpi=60)


def _read_form(pdf: bytes, form: str) -> tuple[list[list[str]], list[str], list[Copy]]:
    """Every page checked for what repeats on it; the data rows of all pages and the 合计 row's texts."""
    document = read_slip(pdf)
    pages = document.copies
    assert all(abs(w - A4_LANDSCAPE[0]) < 0.1 and abs(h - A4_LANDSCAPE[1]) < 0.1 for w, h in document.page_sizes)
    data: list[list[str]] = []
    totals: list[str] = []
    for number, page in enumerate(pages, start=1):
        lines = page.lines()
        assert lines[0] == f"附件{form}"
        assert lines[1] == TITLES[form]
        for text in HEADER_TEXTS:  # the header, above the table, on every page
            assert page.line_top(text) < page.grid_top, text
        assert ("单位：元" in "".join(lines[2:4])) == (form != "9")
        assert page.line_top(f"第 {number} 页 共 {len(pages)} 页") > page.grid_bottom

        rows = _table(page)
        heading_cells = rows[0]
        assert [page.text_in(cell) for cell in heading_cells] == HEADINGS[form], f"headings on page {number}"
        _check_no_overflow(page)
        for row in rows[1:]:
            texts = [page.text_in(cell) for cell in row]
            if texts[0] == "合计":
                assert number == len(pages), "合计 closes the last page"
                # Merged over the leading columns, as the official forms.
                span = TOTAL_SPAN[form]
                assert abs(row[0][0] - heading_cells[0][0]) < 1 and abs(row[0][2] - heading_cells[span - 1][2]) < 1
                totals = texts[1:]
            else:
                assert len(row) == len(heading_cells), texts
                for cell, heading in zip(row, heading_cells, strict=True):
                    assert abs(cell[0] - heading[0]) < 1 and abs(cell[2] - heading[2]) < 1
                data.append(texts)
        footer_here = any(_squeeze("".join(FOOTER)) in _squeeze(line) for line in lines)
        assert footer_here == (number == len(pages)), f"signature line on page {number}"
        if footer_here:
            assert page.line_top("受理：") > page.grid_bottom
    assert totals, "no 合计 row"
    return data, totals, pages


@pytest.mark.parametrize("form", ["9", "9-1", "9-2"])
def test_form_reads_back_cell_by_cell(form: str) -> None:
    forms = claim_forms(details=45, devices=24)
    pdf = render_pdf(forms, form)
    _save(pdf, f"附件{form}")
    data, totals, pages = _read_form(pdf, form)
    assert len(pages) == {"9": 1, "9-1": 3, "9-2": 2}[form]

    expected = _expected_rows(forms, form)
    assert [[_squeeze(t) for t in row] for row in data] == [[_squeeze(t) for t in row] for row in expected]
    total = _totals(forms, form)
    expected_totals = ([str(total.person_times)] if form == "9" else []) + _amounts(total.amounts)
    if form != "9":
        expected_totals.append("")  # 备注 stays blank on the 合计 row
    assert totals == expected_totals


def test_a_long_month_paginates_with_the_headings_on_every_page() -> None:
    forms = claim_forms(details=230, devices=0)
    data, totals, pages = _read_form(render_pdf(forms, "9-1"), "9-1")
    assert len(pages) >= 10
    assert [int(row[0]) for row in data] == list(range(1, 231))  # every row once, in order
    assert totals[:5] == _amounts(forms.detail_totals.amounts)


def test_correction_rows_say_what_they_cancel() -> None:
    forms = claim_forms(details=45, devices=24)
    for form, rows in (("9-1", forms.details), ("9-2", forms.devices)):
        data, _, _ = _read_form(render_pdf(forms, form), form)
        for row in rows:
            if row.correction:
                printed = data[row.seq - 1]
                assert _squeeze(printed[-1]) == _squeeze(row.note) and "冲销" in printed[-1]
                assert printed[8].startswith("-") and printed[11] == "0.00"  # never -0.00


def test_a_month_without_device_settlements_still_prints_its_form() -> None:
    forms = claim_forms(details=5, devices=0)
    pdf = render_pdf(forms, "9-2")
    _save(pdf, "附件9-2-empty")
    document = read_slip(pdf)
    assert document.pages == 1
    page = document.copies[0]
    rows = _table(page)
    assert [page.text_in(c) for c in rows[0]] == HEADINGS["9-2"]
    assert [page.text_in(c) for c in rows[1]] == [EMPTY["9-2"]]
    assert [page.text_in(c) for c in rows[2]] == ["合计", "0.00", "0.00", "0.00", "0.00", "0.00", ""]
    assert page.line_top("受理：") > page.grid_bottom


def test_the_font_is_embedded(tmp_path: Path) -> None:
    path = tmp_path / "form.pdf"
    path.write_bytes(render_pdf(claim_forms(details=5, devices=2), "9-1"))
    fonts = pdf_fonts(path)
    assert fonts and all(f.embedded and f.subset and f.unicode for f in fonts)


def test_unknown_form_is_refused() -> None:
    with pytest.raises(ValueError):
        render_pdf(claim_forms(details=2, devices=0), "9-3")


# --- export ------------------------------------------------------------------------------------

EXPECTED_FILES = sorted(
    f"{BATCH_NO}-{name}{suffix}"
    for name in ("附件9-工伤保险费用结算表", "附件9-1-工伤保险费用结算明细表（住院、康复）",  # "/" cannot be in a name
                 "附件9-2-工伤保险费用结算明细表（辅助器具配置）")
    for suffix in (".pdf", ".xlsx")
)


def test_export_writes_the_six_files(tmp_path: Path) -> None:
    out_dir = tmp_path / "claims" / "2024-05"  # created when missing
    paths = export(claim_forms(details=12, devices=3), out_dir)
    assert sorted(p.name for p in paths) == EXPECTED_FILES
    assert sorted(p.name for p in out_dir.iterdir()) == EXPECTED_FILES  # nothing else, no temporary files
    for path in paths:
        head = path.read_bytes()[:4]
        assert head == (b"%PDF" if path.suffix == ".pdf" else b"PK\x03\x04")

    # Again for the same batch (a rebuilt claim): the files are replaced, still six.
    export(claim_forms(details=14, devices=3), out_dir)
    assert sorted(p.name for p in out_dir.iterdir()) == EXPECTED_FILES


def test_export_leaves_nothing_when_a_form_fails_to_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = claim_forms_pdf.render_pdf

    def failing(forms: ClaimForms, form: str) -> bytes:
        if form == "9-2":
            raise RuntimeError("renderer broke")
        return original(forms, form)

    monkeypatch.setattr(claim_forms_pdf, "render_pdf", failing)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "earlier.txt").write_text("kept")
    with pytest.raises(RuntimeError, match="renderer broke"):
        export(claim_forms(details=12, devices=3), out_dir)
    assert [p.name for p in out_dir.iterdir()] == ["earlier.txt"]


def test_export_leaves_no_half_written_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills while the fourth file is written: no temporary file, no file of this export."""
    calls = []
    real_fsync = claim_forms_pdf.os.fsync

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(claim_forms_pdf.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        export(claim_forms(details=12, devices=3), tmp_path)
    assert list(tmp_path.iterdir()) == []
