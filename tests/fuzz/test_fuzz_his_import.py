"""Hostile HIS exports (issue 9 item 5): whatever the HIS — or a damaged disk — puts in the file, the
reader returns checked rows or raises `HisFileInvalid` naming every problem in Chinese.

CSV rows of odd cells, any bytes, workbooks with cells of every type openpyxl writes, and a genuine
workbook's bytes damaged (the zip and its XML)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.demo import his_samples
from app.workflow.his_import import HisFileInvalid, ParsedHisFile, load_mapping, read_his_file
from tests.fuzz.strategies import ODD_TEXT
from tests.fuzz.support import fuzz_settings, judge, unexpected

pytestmark = pytest.mark.fuzz
TARGET = "his_import"
MAPPING = load_mapping()
HEADER = "明细流水号,项目编码,项目名称,费用类别,数量,单价,金额,费用日期,开单科室,医嘱组号,诊断编码,原明细流水号".split(",")
_FOLDER = tempfile.TemporaryDirectory(prefix="fuzz-his-")
_LINES = his_samples.sample_lines(6, start=dt.date(2026, 11, 2), unmatched=1, refunds=1)
GENUINE_XLSX = his_samples.write_xlsx(Path(_FOLDER.name) / "genuine.xlsx", _LINES, title="住院费用明细").read_bytes()
GENUINE_CSV = his_samples.csv_bytes(_LINES)


def _read(content: bytes, suffix: str = ".csv") -> ParsedHisFile | HisFileInvalid:
    path = Path(_FOLDER.name) / f"his{suffix}"
    path.write_bytes(content)
    outcome = judge(TARGET, lambda: read_his_file(path, MAPPING), HisFileInvalid)
    if isinstance(outcome, HisFileInvalid):
        if not outcome.problems or not all(p.message for p in outcome.problems):
            raise unexpected(TARGET, "HisFileInvalid without its problems")
    else:
        for row in outcome.rows:  # what was read is what the checks promise
            if row.amount != (row.quantity * row.unit_price).quantize(Decimal("0.01"), ROUND_HALF_UP):
                raise unexpected(TARGET, f"row {row.row}: amount {row.amount} ≠ quantity × price")
            if not (abs(row.quantity) < Decimal("1e9") and row.his_code and row.name):
                raise unexpected(TARGET, f"row {row.row} passed unchecked: {row}")
    return outcome


_CELL = st.one_of(st.text(max_size=12), st.sampled_from(["", "-1", "0", "1e5", "9" * 30, "1,234.5", "¥3", ".5",
                                                         "2026-02-30", "20261102", "西药", "材料", "MX001", *ODD_TEXT]))


@fuzz_settings(250)
@given(rows=st.lists(st.lists(_CELL, min_size=0, max_size=13), max_size=6), encoding=st.sampled_from(["gbk", "utf-8"]))
def test_csv_rows_of_odd_cells(rows: list[list[str]], encoding: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    _read(buffer.getvalue().encode(encoding, errors="replace"))


@fuzz_settings(200)
@given(st.one_of(
    st.binary(max_size=300),
    st.builds(lambda cut, junk: GENUINE_CSV[:cut] + junk, st.integers(0, len(GENUINE_CSV)), st.binary(max_size=20)),
))
@example(b'"unterminated quote,\r\n' * 3)
def test_any_bytes(content: bytes) -> None:
    _read(content)


# Cells as openpyxl writes them: every type a HIS workbook may hold (text without XML-illegal characters).
_xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_xlsx_cell = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=6), _xml_text, st.sampled_from([c for c in ODD_TEXT if c != "\x00"]),
    st.dates(dt.date(1900, 3, 1), dt.date(9999, 12, 31)), st.datetimes(dt.datetime(1900, 3, 1)),
    st.times(), st.timedeltas(dt.timedelta(0), dt.timedelta(days=1000)),
)


@fuzz_settings(120)
@given(st.lists(st.lists(_xlsx_cell, max_size=12), min_size=1, max_size=5), st.booleans())
def test_workbooks_with_cells_of_any_type(rows: list[list[Any]], with_header: bool) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    if with_header:
        sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    _read(buffer.getvalue(), ".xlsx")


def _damaged_member(name: str, change: bytes) -> bytes:
    """The genuine workbook with one member's XML replaced (a well-formed zip holding bad content)."""
    source = zipfile.ZipFile(io.BytesIO(GENUINE_XLSX))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, change if info.filename == name else source.read(info.filename))
    return out.getvalue()


_MEMBERS = sorted(zipfile.ZipFile(io.BytesIO(GENUINE_XLSX)).namelist())


@fuzz_settings(230)
@given(st.data())
def test_damaged_workbooks(data: st.DataObject) -> None:
    how = data.draw(st.sampled_from(["byte", "cut", "zero", "member"]), label="how")
    content = bytearray(GENUINE_XLSX)
    if how == "byte":
        for _ in range(data.draw(st.integers(1, 8))):
            content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
    elif how == "cut":
        content = content[: data.draw(st.integers(4, len(content) - 1))]
    elif how == "zero":
        start = data.draw(st.integers(0, len(content) - 1))
        content[start: start + data.draw(st.integers(1, 200))] = b"\x00" * 200
        content = content[: len(GENUINE_XLSX)]
    else:
        member = data.draw(st.sampled_from(_MEMBERS), label="member")
        original = zipfile.ZipFile(io.BytesIO(GENUINE_XLSX)).read(member)
        cut = data.draw(st.integers(0, len(original)))
        replacement = original[:cut] + data.draw(st.sampled_from(
            [b"", b"<", b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]>", b"\xff\xfe", b"<c r=\"A1\" t=\"n\"><v>x</v></c>",
             b"<c r=\"ZZZZZZ1\"><v>1</v></c>", b"<row r=\"-1\"/>", b"<c t=\"s\"><v>99999</v></c>",
             b"<c t=\"d\"><v>not a date</v></c>", b"<c t=\"e\"><v>#DIV/0!</v></c>"]))
        content = bytearray(_damaged_member(member, replacement))
    _read(bytes(content), ".xlsx")
