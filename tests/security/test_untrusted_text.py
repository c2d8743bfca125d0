"""Untrusted text never reaches a document as a formula, a control or a bidi character (issue 22 item 6).

Found: a name or code starting with `=` became a live formula in the 附件9-1/9-2 XLSX; control and
right-to-left characters from the HIS or the centre were stored, printed on the slip, and one of them
made the month's claim export fail for everyone (openpyxl's IllegalCharacterError).

Paths tested: a real HIS file → the stay's lines → the settlement → the month's claim → its exported
XLSX and PDF, and the slip's PDF; a worker's name from the centre (the sandbox behind a tampering proxy)
→ the counter's records.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from pathlib import Path

import pdfplumber
import pytest
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import PersonKey
from app.claims.service import build_claim, claim_forms
from app.db.models import ChargeLine, Stay, Worker
from app.operators import OperatorInfo
from app.rules.settlement import compute
from app.slips import prepare_slip, record_settlement
from app.workflow.case_builder import case_for_stay
from app.workflow.his_import import HisFileInvalid, import_his_file, load_mapping, read_his_file
from printing.claim_forms import export
from printing.templates import render_slip
from app.demo.case_records import record_case_stay
from app.rules.case import parse_case
from tests.claims.claim_fixtures import clerks, id_number, open_test_counter, seed_device_catalogue
from tests.rules.base_case import base_case, item
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.centre.client_fixtures import ZHANG_WEI
# After the star import: this module's counter talks to the centre through the tampering proxy.
from tests.security.tampering_proxy import TamperingProxy, counter, proxy  # noqa: E402, F401, F811

HEADER = "明细流水号,项目编码,项目名称,费用类别,数量,单价,金额,费用日期,开单科室,医嘱组号,诊断编码,原明细流水号"
FORMULA = '=HYPERLINK("http://evil.example/x","腋拐")'
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
SETTLED = dt.date(2026, 11, 20)


def _his_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "费用.csv"
    path.write_bytes(("\r\n".join([HEADER, *rows]) + "\r\n").encode("utf-8"))
    return path


@pytest.mark.parametrize(("row", "column", "point"), [
    ('MX1,XB01AC06,阿司匹林\u202e肠溶片,西药,1,0.50,0.50,2026-11-12,骨科,YZ1,S82.201,', "项目名称", "U+202E"),
    ('MX1,XB01AC06\x07,阿司匹林肠溶片,西药,1,0.50,0.50,2026-11-12,骨科,YZ1,S82.201,', "项目编码", "U+0007"),
    ('MX1,XB01AC06,阿司匹林肠溶片,西药,1,0.50,0.50,2026-11-12,骨\u2066科,YZ1,S82.201,', "开单科室", "U+2066"),
    ('MX1,XB01AC06,阿司匹林肠溶片,西药,1,0.50,0.50,2026-11-12,骨科,Y\x85Z1,S82.201,', "医嘱组号", "U+0085"),
])
def test_the_his_import_refuses_a_row_with_control_or_bidi_characters(
        tmp_path: Path, row: str, column: str, point: str) -> None:
    with pytest.raises(HisFileInvalid) as refused:
        read_his_file(_his_file(tmp_path, row), load_mapping("default"))
    assert [(p.row, p.column) for p in refused.value.problems] == [(2, column)]
    assert point in refused.value.message and "控制字符" in refused.value.message


@pytest.fixture
def ctx(db_url: str):  # type: ignore[no-untyped-def]
    context = open_test_counter(db_url)
    yield context
    context.close()


def _settle_with_his_device_line(session: Session, operator: OperatorInfo, tmp_path: Path) -> int:
    """A device stay whose crutches come from a HIS file, named with a formula; settled as the workflow
    does (the stay's records → the rules' case → the settlement)."""
    seed_device_catalogue(session)
    admitted = SETTLED - dt.timedelta(days=10)
    document = base_case()  # as tests.claims.claim_fixtures.settle_stay, with the HIS file's lines
    document["worker"].update(name="赵六", id_number=id_number(9001),
                              insured_place={"province": "广东省", "city": "广州市", "city_code": "440100"})
    document["recognition"]["injury_date"] = (admitted - dt.timedelta(days=3)).isoformat()
    document["filing"].update(approved_on=(admitted - dt.timedelta(days=2)).isoformat(),
                              valid_from=(admitted - dt.timedelta(days=2)).isoformat(),
                              filed_on=(admitted - dt.timedelta(days=2)).isoformat(),
                              valid_to=(SETTLED + dt.timedelta(days=100)).isoformat(),
                              care=["medical", "rehab", "device"])
    document["stay"].update(care="device", admission_no="ZY-TEXT-1", registration_no="REG-TEXT-1",
                            admitted=admitted.isoformat(), discharged=SETTLED.isoformat(), settled=SETTLED.isoformat())
    document["items"] = [item(1, "XJ01DC02", "drug", "2", "10.00", "20.00", date=admitted.isoformat(),
                              name="头孢呋辛钠注射液")]
    stay = record_case_stay(session, parse_case(document), operator.id)
    parsed = read_his_file(_his_file(
        tmp_path,
        f'MX2,F0301,"{FORMULA.replace(chr(34), chr(34) * 2)}",辅助器具,1,150.00,150.00,{admitted},骨科,YZ2,S62.300,',
    ), load_mapping("default"))
    import_his_file(session, stay.id, parsed, operator, "1号窗口", "default")
    session.execute(update(ChargeLine).where(ChargeLine.stay_id == stay.id).values(
        uploaded_at=dt.datetime.combine(SETTLED, dt.time(1, 0), tzinfo=dt.UTC)))
    session.expire_all()
    case = case_for_stay(session, stay.id)
    stay = session.get(Stay, stay.id)
    assert stay is not None
    settlement = record_settlement(
        session, stay, compute(case), operator_id=operator.id, counter_name="1号窗口",
        centre_settlement_id="JS-HOSTILE-1", msgid=f"H44080100001{SETTLED:%Y%m%d}10309999",
        settled_at=dt.datetime.combine(SETTLED, dt.time(2, 30), tzinfo=dt.UTC), settled_on=SETTLED,
    )
    # The worker's name as a centre sent it before replies were cleaned: a bell and a right-to-left override.
    session.execute(update(Worker).where(Worker.id == stay.worker_id).values(name="赵\x07六\u202e"))
    return settlement.id


def test_his_and_centre_text_reaches_the_claim_forms_and_the_slip_only_as_printable_text(
        ctx: CounterContext, tmp_path: Path) -> None:
    who = clerks(ctx)
    with ctx.transaction() as session:
        settlement_id = _settle_with_his_device_line(session, who.cashier, tmp_path)

    claim = build_claim(ctx, "2026-11", who.reviewer, today=dt.date(2026, 12, 3)).claim
    with ctx.transaction() as session:
        forms = claim_forms(session, claim.claim_id)
    written = export(forms, tmp_path / "claim")  # failed with IllegalCharacterError on the bell

    devices = next(p for p in written if p.name.endswith(".xlsx") and "9-2" in p.name)
    sheet = load_workbook(devices).worksheets[0]
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    device = next(cell for cell in cells if isinstance(cell.value, str) and "HYPERLINK" in cell.value)
    assert device.value == FORMULA and device.data_type == "s"  # the text, not a formula
    assert device.quotePrefix  # and Excel keeps it text when the cell is edited
    for path in written:  # 附件9 sums by place; 9-2 lists device stays by worker (9-1 the others: none here)
        named = "9-2" in path.name
        if path.suffix == ".xlsx":
            texts = [c.value for r in load_workbook(path).worksheets[0].iter_rows() for c in r
                     if isinstance(c.value, str)]
            assert not any(UNSAFE.search(t) for t in texts), path.name
            assert ("赵六" in texts) is named, path.name
        else:
            with pdfplumber.open(path) as pdf:
                text = "".join(char["text"] for page in pdf.pages for char in page.chars)
            assert not UNSAFE.search(text) and ("赵六" in text) is named, path.name

    with ctx.transaction() as session:
        slip = render_slip(prepare_slip(session, settlement_id, who.cashier))
    with pdfplumber.open(io.BytesIO(slip)) as pdf:
        text = "".join(char["text"] for page in pdf.pages for char in page.chars)
    assert "赵六" in text and not UNSAFE.search(text)


def test_centre_text_is_cleaned_at_the_boundary_and_logged(
        counter: CounterContext, wf_client: CentreClient, proxy: TamperingProxy,
        caplog: pytest.LogCaptureFixture) -> None:
    def hostile_name(output: dict[str, object]) -> None:
        person = output["person"]
        assert isinstance(person, dict)
        person["name"] = "张\u202e伟\x07"

    proxy.tamper[wire.Transaction.PERSON_LOOKUP.value] = hostile_name
    with caplog.at_level(logging.WARNING, logger="app.centre.wire"):
        person = wf_client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ZHANG_WEI)
    assert person.name == "张伟"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "output.person.name" in logged and "U+202E" in logged and ZHANG_WEI not in logged


def test_a_formula_or_control_character_in_an_xlsx_cell_is_text(tmp_path: Path) -> None:
    """The writer on its own, for text stored before the boundary checks (every formula start)."""
    from dataclasses import replace

    from app.claims.xlsx import workbook_bytes
    from tests.claims.forms_factory import claim_forms as sample_forms

    forms = sample_forms(details=4, devices=6)
    starts = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"]
    devices = tuple(replace(row, device_name=f"{start}器具\x0b") for row, start in zip(forms.devices, starts,
                                                                                      strict=False))
    forms = replace(forms, devices=devices)
    sheet = load_workbook(io.BytesIO(workbook_bytes(forms, "9-2"))).worksheets[0]
    names = [c for r in sheet.iter_rows() for c in r if isinstance(c.value, str) and c.value.endswith("器具")]
    assert len(names) == 6
    for cell in names:
        assert cell.data_type == "s" and not UNSAFE.search(cell.value)
        assert cell.quotePrefix == cell.value.startswith(("=", "+", "-", "@"))  # a tab became a space
