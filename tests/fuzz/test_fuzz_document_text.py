"""Any text into a document (issue 22 item 6): whatever a name or code holds, the month's XLSX is written,
each such cell reads back as text with no control or bidi character and never as a formula; and any
ID number is masked whatever surrounds it (issue 22 item 7)."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openpyxl import load_workbook

from app.claims.xlsx import workbook_bytes
from app.masking import mask_ids_in_text
from tests.claims.forms_factory import claim_forms
from tests.fuzz.strategies import ODD_TEXT
from tests.fuzz.support import fuzz_settings, record, unexpected

pytestmark = pytest.mark.fuzz
TARGET = "document_text"
FORMS = claim_forms(details=2, devices=1)
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

texts = st.one_of(st.text(max_size=40), st.sampled_from(ODD_TEXT),
                  st.builds(lambda start, rest: start + rest, st.sampled_from(["=", "+", "-", "@", "\t", "\r"]),
                            st.text(max_size=20)))


@fuzz_settings(150)
@given(name=texts, device=texts)
@example(name="张\x07三\u202e", device='=HYPERLINK("http://x","y")')
@example(name="\r=1+1", device="@SUM(A1:A9)")
def test_any_text_reaches_the_xlsx_as_text(name: str, device: str) -> None:
    row = replace(FORMS.devices[0], name=name, device_name=device)
    sheet = load_workbook(io.BytesIO(workbook_bytes(replace(FORMS, devices=(row,)), "9-2"))).worksheets[0]
    for cell in (c for r in sheet.iter_rows() for c in r):
        if cell.data_type == "f":
            raise unexpected(TARGET, f"a formula in {cell.coordinate}: {cell.value!r}")
        if isinstance(cell.value, str) and UNSAFE.search(cell.value):
            raise unexpected(TARGET, f"a control or bidi character in {cell.coordinate}: {cell.value!r}")
    record(TARGET, "valid")


@fuzz_settings(300)
@given(id_number=st.from_regex(r"\A[1-9][0-9]{16}[0-9Xx]\Z"),
       before=st.text(alphabet="abcXYZ:：号ID -", max_size=4), after=st.text(alphabet="abcxyzX:。 -", max_size=4))
def test_an_id_is_masked_whatever_touches_it(id_number: str, before: str, after: str) -> None:
    masked = mask_ids_in_text(f"{before}{id_number}{after}")
    if id_number[6:14] in masked:
        raise unexpected("masking", f"the birth date shows in {masked!r}")
    record("masking", "valid")
