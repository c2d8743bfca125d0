"""`wi-counter claims build --month --out` on a stored month: the XLSX files read back with
openpyxl and the PDFs' text agree with the database, to the fen (`000 附件9`, `附件9-1`, `附件9-2`);
`claims list` / `status --local`; bad input refused with exit 2."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pdfplumber
import pytest
from sqlalchemy import func, select

from app.cli import main
from app.db.models import Settlement, Stay, Worker
from tests.claims.claim_fixtures import cancel, clerks, open_test_counter, seed_device_catalogue, settle_stay
from tests.signed_in import password_on_stdin


def _month(db_url: str) -> dict[str, object]:
    ctx = open_test_counter(db_url)
    try:
        who = clerks(ctx)
        with ctx.transaction() as session:
            seed_device_catalogue(session)
            for day, care, place in ((2, "medical", "广州市"), (5, "rehab", "深圳市"), (9, "device", "长春市"),
                                     (12, "medical", "广州市"), (20, "medical", "湛江市")):
                settle_stay(session, who.cashier.id, settled=dt.date(2026, 11, day), care=care, place=place)
            dropped = settle_stay(session, who.cashier.id, settled=dt.date(2026, 11, 25))
            cancel(session, dropped, who.reviewer.id, dt.date(2026, 11, 26))  # cancelled before claiming
        with ctx.transaction() as session:
            live = select(Settlement).where(Settlement.kind == "settlement", ~Settlement.id.in_(
                select(Settlement.reverses_id).where(Settlement.reverses_id.is_not(None)))).subquery()
            totals = session.execute(select(func.count(), func.sum(live.c.total_fen), func.sum(live.c.fund_total_fen),
                                            func.sum(live.c.personal_total_fen))).one()
            people = session.execute(select(Worker.name, Worker.social_security_number)
                                     .join(Stay, Stay.worker_id == Worker.id)
                                     .join(live, live.c.stay_id == Stay.id)).all()
    finally:
        ctx.close()
    count, total, fund, personal = totals
    return {"count": count, "total": total, "fund": fund, "personal": personal, "people": people}


def _total_row(sheet) -> list[object]:  # type: ignore[no-untyped-def]
    for row in sheet.iter_rows(values_only=True):
        if row and row[0] == "合计":
            return [v for v in row if isinstance(v, (int, float, Decimal))]
    raise AssertionError(f"no 合计 row in {sheet.title}")


def test_build_writes_forms_that_agree_with_the_database(db_url: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _month(db_url)
    out = tmp_path / "forms"
    password_on_stdin(monkeypatch)
    assert main(["--db", db_url, "claims", "build", "--month", "2026-11", "--out", str(out),
                 "--operator", "reviewer1", "--password-stdin", "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["person_times"] == expected["count"] == 5
    assert Decimal(built["total"]) == expected["total"] and Decimal(built["fund_total"]) == expected["fund"]
    assert len(built["files"]) == 6 and all(Path(p).is_file() for p in built["files"])

    batch = built["batch_no"]
    summary = openpyxl.load_workbook(next(out.glob(f"{batch}-附件9-工伤*.xlsx")), read_only=True).active
    person_times, total, fund, personal, deduction, settled = _total_row(summary)
    assert person_times == 5
    assert [Decimal(str(v)).quantize(Decimal("0.01")) for v in (total, fund, personal)] == [
        expected["total"], expected["fund"], expected["personal"]]
    assert Decimal(str(settled)).quantize(Decimal("0.01")) == expected["fund"]
    # 附件9-1 (住院/康复) and 附件9-2 (辅助器具配置) add up to 附件9.
    detail = openpyxl.load_workbook(next(out.glob(f"{batch}-附件9-1-*.xlsx")), read_only=True).active
    device = openpyxl.load_workbook(next(out.glob(f"{batch}-附件9-2-*.xlsx")), read_only=True).active
    assert (Decimal(str(_total_row(detail)[0])) + Decimal(str(_total_row(device)[0]))).quantize(
        Decimal("0.01")) == expected["total"]
    ids = {str(cell) for row in detail.iter_rows(values_only=True) for cell in row if cell}
    ids |= {str(cell) for row in device.iter_rows(values_only=True) for cell in row if cell}
    for name, id_number in expected["people"]:
        assert name in ids and id_number in ids  # the full ID, as text: the agency matches on it

    with pdfplumber.open(next(out.glob(f"{batch}-附件9-工伤*.pdf"))) as pdf:
        text = "".join(page.extract_text() for page in pdf.pages)
    assert "工伤保险费用结算表" in text and batch in text
    assert f"{expected['total']:.2f}" in text and f"{expected['fund']:.2f}" in text
    with pdfplumber.open(next(out.glob(f"{batch}-附件9-1-*.pdf"))) as pdf:
        text = "".join(page.extract_text() for page in pdf.pages)
    for name, id_number in expected["people"]:
        if name in text:
            assert id_number in text

    # Building again: the same claim, nothing added (000 §31).
    password_on_stdin(monkeypatch)
    assert main(["--db", db_url, "claims", "build", "--month", "2026-11", "--operator", "reviewer1",
                 "--password-stdin", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["batch_no"] == batch and again["added"] == 0 and not again["created"]
    assert main(["--db", db_url, "claims", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["batch_no"] == batch and listed["status"] == "draft"
    assert main(["--db", db_url, "claims", "status", batch, "--local", "--operator", "reviewer1"]) == 0
    assert "已生成，未上传" in capsys.readouterr().out


def test_bad_input_is_named(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", db_url, "claims", "build", "--month", "2026-1"]) == 2
    assert "2026-1" in capsys.readouterr().err
    assert main(["--db", db_url, "claims", "list", "--month", "11/2026"]) == 2
    _month(db_url)
    assert main(["--db", db_url, "claims", "status", "NO-SUCH-BATCH", "--local", "--operator", "reviewer1"]) == 1
    assert "NO-SUCH-BATCH" in capsys.readouterr().err


def test_deadlines_command_lists_the_agencys_date_and_the_years_without_their_arrangement(
        db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`000 §31` / `001 §33`: in Beijing the hospital uploads promptly; the 20th is the district
    agency's date, listed as the agency's and never overdue. The days counted reach 2027, whose 调休
    arrangement is not imported: the output says so (DOMAIN "Uploads and their deadlines")."""
    from app.centre import wire
    from app.settings import CLAIMS_PROFILE

    ctx = open_test_counter(db_url)
    try:
        who = clerks(ctx)
        with ctx.transaction() as session:
            settle_stay(session, who.cashier.id, settled=dt.date(2026, 11, 12))
        ctx.settings.set(CLAIMS_PROFILE, "beijing-cross")
        ctx.settings.save()
    finally:
        ctx.close()
    monkeypatch.setattr(wire, "now", lambda: dt.datetime(2026, 12, 28, 10, 0, tzinfo=wire.CHINA_TZ))
    assert main(["--db", db_url, "claims", "deadlines", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["profile"] == "beijing-cross"
    assert "2027 年的调休安排" in listed["calendar_warning"]
    (agency,) = [d for d in listed["deadlines"] if d["kind"] == "agency_month"]
    # Sun 20 Dec 2026 → Mon 21 Dec (民法典 第二百零三条); seen on the 28th: the agency's date, not overdue.
    assert (agency["due"], agency["state"], agency["source"]) == ("2026-12-21", "agency", "001 §33")
    assert not [d for d in listed["deadlines"] if d["kind"] == "claim"]
    assert main(["--db", db_url, "claims", "deadlines"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("注意：2027 年的调休安排")
    assert "经办机构日期\t2026年11月 经办机构上传月度结算信息\t001 §33" in out


def test_medical_record_command_marks_with_the_operators_password(
        db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """003 §16: 病案首页可在7天内补齐 — marked from the command line by a signed-in cashier; the deadline
    leaves `claims deadlines`; a wrong password or a second mark changes nothing."""
    import io

    from app.centre import wire

    ctx = open_test_counter(db_url)
    try:
        who = clerks(ctx)
        with ctx.transaction() as session:
            settlement_id = settle_stay(session, who.cashier.id, settled=dt.date(2026, 12, 4), serial=730001).id
    finally:
        ctx.close()
    monkeypatch.setattr(wire, "now", lambda: dt.datetime(2026, 12, 7, 10, 0, tzinfo=wire.CHINA_TZ))
    assert main(["--db", db_url, "claims", "deadlines", "--json"]) == 0
    (record,) = [d for d in json.loads(capsys.readouterr().out)["deadlines"] if d["kind"] == "medical_record"]
    assert (record["due"], record["source"]) == ("2026-12-11", "003 §16") and "ZY730001" in record["subject"]

    monkeypatch.setattr("sys.stdin", io.StringIO("not-the-password\n"))
    assert main(["--db", db_url, "claims", "medical-record", str(settlement_id), "--operator", "cashier1",
                 "--password-stdin"]) == 1
    assert "密码" in capsys.readouterr().err
    password_on_stdin(monkeypatch)
    assert main(["--db", db_url, "claims", "medical-record", str(settlement_id), "--operator", "cashier1",
                 "--password-stdin"]) == 0
    assert "病案首页已补齐（张收款）" in capsys.readouterr().out
    assert main(["--db", db_url, "claims", "deadlines", "--json"]) == 0
    assert not [d for d in json.loads(capsys.readouterr().out)["deadlines"] if d["kind"] == "medical_record"]
    password_on_stdin(monkeypatch)
    assert main(["--db", db_url, "claims", "medical-record", str(settlement_id), "--operator", "cashier1",
                 "--password-stdin"]) == 1
    assert "不需要再登记" in capsys.readouterr().err
