"""Stored settlements and their slips: recorded immutably, printed as 原件 then 补打 n, 已撤销 once
cancelled, every print logged and archived; the `wi-counter slip` and `settle --slip` commands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.business_date import business_today
from app.cli import main
from app.db.engine import make_engine, make_session_factory
from app.db.migrate import upgrade
from app.db.models import (
    Operator,
    PrintKind,
    PrintLog,
    Role,
    Settlement,
    SettlementLine,
    SettlementMatrixCell,
    Stay,
    StayStatus,
)
from app.demo import DEMO_PASSWORD
from app.errors import ImmutableRecordError
from app.operators import OperatorInfo
from app.slips import (
    MarkKind,
    SlipError,
    SlipMark,
    archive_file_name,
    archive_folder,
    commit_issue,
    log_print,
    next_mark,
    prepare_slip,
    print_history,
    recent_settlements,
    record_cancellation,
    record_settlement,
    slip_for_settlement,
)
from tests import factories
from tests.slip_reader import read_slip
from tests.signed_in import signed_in
from tests.signed_in import password_on_stdin

CASES = Path(__file__).parent / "cases"
SAMPLE = CASES / "guangdong-sample-slip.json"
NOW = dt.datetime(2020, 11, 17, 2, 30, tzinfo=dt.UTC)


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        yield session
        session.rollback()
    engine.dispose()


def _clerk(session: Session, login: str = "cashier", name: str = "张收款", role: Role = Role.CASHIER) -> OperatorInfo:
    record = Operator(login=login, display_name=name, role=role, password_hash="not-a-real-hash")
    session.add(record)
    session.flush()
    return signed_in(record)


def test_record_settlement_stores_matrix_lines_and_totals(session: Session) -> None:
    """`003 附表3`: the sample's matrix, stored cell by cell, adds up to 24184.00 = 22283.00 + 1901.00."""
    cashier = _clerk(session)
    settlement = factories.settled_case(session, SAMPLE, operator_id=cashier.id, msgid="M0001")
    session.commit()
    assert (settlement.total, settlement.fund_total, settlement.personal_total) == (
        Decimal("24184.00"), Decimal("22283.00"), Decimal("1901.00"))
    cells = {(c.bucket.value, c.category.value): c.amount for c in session.scalars(
        select(SettlementMatrixCell).where(SettlementMatrixCell.settlement_id == settlement.id))}
    assert len(cells) == 20
    assert cells[("fund", "consumable")] == Decimal("12003.00")
    assert cells[("over_limit", "treatment")] == Decimal("100.00")
    lines = session.scalars(select(SettlementLine).where(SettlementLine.settlement_id == settlement.id)).all()
    assert len(lines) == 20 and sum((line.fund for line in lines), Decimal(0)) == Decimal("22283.00")
    stay = session.get(Stay, settlement.stay_id)
    assert stay is not None and stay.status is StayStatus.SETTLED and stay.settlement_kind == "省内异地就医"

    settlement.total = Decimal("1.00")
    with pytest.raises(ImmutableRecordError):
        session.flush()


def test_a_stay_is_settled_once_until_cancelled(session: Session) -> None:
    from app.rules.case import read_case_file
    from app.rules.settlement import compute

    cashier = _clerk(session)
    settlement = factories.settled_case(session, SAMPLE, operator_id=cashier.id, msgid="M0001")
    stay = session.get(Stay, settlement.stay_id)
    assert stay is not None
    result = compute(read_case_file(SAMPLE))
    with pytest.raises(SlipError, match="已结算"):
        record_settlement(session, stay, result, operator_id=cashier.id, counter_name="1号窗口",
                          centre_settlement_id="JS2", msgid="M0002", settled_at=NOW)
    record_cancellation(session, settlement.id, operator_id=cashier.id, counter_name="1号窗口",
                        reason="结算信息有误", msgid="M0003", cancelled_at=NOW)
    assert stay.status is StayStatus.PENDING_SETTLEMENT
    again = record_settlement(session, stay, result, operator_id=cashier.id, counter_name="1号窗口",
                              centre_settlement_id="JS2", msgid="M0002", settled_at=NOW)
    assert again.id != settlement.id


def test_cancellation_is_a_new_row_with_negated_amounts(session: Session) -> None:
    cashier = _clerk(session)
    settlement = factories.settled_case(session, SAMPLE, operator_id=cashier.id, msgid="M0001")
    cancellation = record_cancellation(session, settlement.id, operator_id=cashier.id, counter_name="1号窗口",
                                       reason="病人要求重新结算", msgid="M0009", cancelled_at=NOW)
    assert cancellation.reverses_id == settlement.id
    assert (cancellation.total, cancellation.fund_total) == (Decimal("-24184.00"), Decimal("-22283.00"))
    cells = session.scalars(select(SettlementMatrixCell).where(SettlementMatrixCell.settlement_id == cancellation.id))
    assert sum((c.amount for c in cells), Decimal(0)) == Decimal("-24184.00")
    with pytest.raises(SlipError, match="已经撤销"):
        record_cancellation(session, settlement.id, operator_id=cashier.id, counter_name="1号窗口",
                            reason="再撤一次", msgid="M0010", cancelled_at=NOW)


def test_slip_of_a_stored_settlement_prints_what_was_stored(session: Session) -> None:
    cashier = _clerk(session)
    reviewer = _clerk(session, "reviewer", "李审核", Role.REVIEWER)
    settlement = factories.settled_case(session, SAMPLE, operator_id=cashier.id, msgid="M0001",
                                        reviewer_id=reviewer.id)
    data = slip_for_settlement(session, settlement.id, issuer="王制单", print_date=dt.date(2021, 4, 1))
    assert (data.payee, data.reviewer, data.issuer) == ("张收款", "李审核", "王制单")
    assert (data.name, data.sex, data.insured_place, data.social_security_no) == (
        "姚某某", "女", "广东省广州市", "440802198001011241")
    assert (data.registration_no, data.admission_no, data.dept, data.stay_days) == (
        "sa000d20201117000001", "016357002", "骨关节病区", 50)
    assert (data.institution_name, data.institution_place, data.hospital_level) == ("湛江市第一人民医院", "湛江市", "三级")
    assert data.settled_on == dt.date(2020, 11, 17) and data.settlement_kind == "省内异地就医"
    assert data.mark == SlipMark(MarkKind.ORIGINAL)
    assert data.totals_sentence() == "合计本次：总费用 24184.00 元，工伤保险基金支付金额 22283.00 元，个人支付金额 1901.00 元"


def test_prints_go_original_then_reprint_counts_then_cancelled(session: Session, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    cashier = _clerk(session)
    settlement = factories.settled_case(session, SAMPLE, operator_id=cashier.id, msgid="M0001")
    marks = []
    for printer in ("HP LaserJet 1号", "HP LaserJet 1号", "Epson LQ-630K"):
        data = prepare_slip(session, settlement.id, cashier, print_date=dt.date(2021, 4, 1))
        marks.append(data.mark)
        commit_issue(session, data, b"%PDF-1.4 test", operator_id=cashier.id, printer=printer, folder=archive)
    assert marks == [SlipMark(MarkKind.ORIGINAL), SlipMark(MarkKind.REPRINT, 1), SlipMark(MarkKind.REPRINT, 2)]
    history = print_history(session, settlement.id)
    assert [(h.kind, h.reprint_no, h.printer, h.operator) for h in history] == [
        (PrintKind.ORIGINAL, 0, "HP LaserJet 1号", "张收款"), (PrintKind.REPRINT, 1, "HP LaserJet 1号", "张收款"),
        (PrintKind.REPRINT, 2, "Epson LQ-630K", "张收款")]
    assert all(h.printed_at.tzinfo is not None for h in history)

    cancellation = record_cancellation(session, settlement.id, operator_id=cashier.id, counter_name="1号窗口",
                                       reason="结算信息有误", msgid="M0002", cancelled_at=NOW)
    # Asking by the cancellation's id or by the original's gives the original, marked 已撤销.
    for settlement_id in (settlement.id, cancellation.id):
        data = prepare_slip(session, settlement_id, cashier)
        assert data.mark == SlipMark(MarkKind.CANCELLED, 3)
        assert data.settlement_id == settlement.id and data.total == Decimal("24184.00")
        assert data.cancelled_on == NOW.astimezone().date()
    commit_issue(session, data, b"%PDF-1.4 test", operator_id=cashier.id, printer="HP", folder=archive)
    session.commit()  # the archive files take their names once the prints are on record
    assert next_mark(session, settlement.id) == SlipMark(MarkKind.CANCELLED, 4)
    assert print_history(session, settlement.id)[-1].kind is PrintKind.CANCELLED
    names = sorted(path.name for path in archive.iterdir())
    assert names == ["结算单_sa000d20201117000001_20210401_原件.pdf",
                     "结算单_sa000d20201117000001_20210401_补打1.pdf",
                     "结算单_sa000d20201117000001_20210401_补打2.pdf",
                     f"结算单_sa000d20201117000001_{business_today():%Y%m%d}_已撤销.pdf"]


def test_a_stale_mark_is_refused_and_leaves_no_archive_file(session: Session, tmp_path: Path) -> None:
    """Two counters preview the same slip; the second to print must not log a second 原件."""
    archive = tmp_path / "archive"
    cashier = _clerk(session)
    settlement = factories.settled_case(session, SAMPLE, operator_id=cashier.id, msgid="M0001")
    first = prepare_slip(session, settlement.id, cashier)
    second = prepare_slip(session, settlement.id, cashier)
    commit_issue(session, first, b"%PDF first", operator_id=cashier.id, printer="P1", folder=archive)
    session.commit()
    with pytest.raises(SlipError, match="其他窗口"):
        commit_issue(session, second, b"%PDF second", operator_id=cashier.id, printer="P2", folder=archive)
    assert [p.read_bytes() for p in archive.iterdir()] == [b"%PDF first"]
    assert session.scalar(select(func.count()).select_from(PrintLog)) == 1


def test_the_database_refuses_two_prints_with_one_count(session: Session) -> None:
    cashier = _clerk(session)
    settlement = factories.settled_case(session, SAMPLE, operator_id=cashier.id, msgid="M0001")
    session.add(PrintLog(settlement_id=settlement.id, kind=PrintKind.ORIGINAL, reprint_no=0, operator_id=cashier.id))
    session.flush()
    session.add(PrintLog(settlement_id=settlement.id, kind=PrintKind.REPRINT, reprint_no=0, operator_id=cashier.id))
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        session.flush()


def test_a_preview_is_never_logged(session: Session) -> None:
    from app.rules.case import read_case_file
    from app.rules.settlement import compute
    from app.slips import slip_from_case

    cashier = _clerk(session)
    case = read_case_file(SAMPLE)
    with pytest.raises(SlipError, match="预结算"):
        log_print(session, slip_from_case(case, compute(case)), operator_id=cashier.id, printer="P", archive_path=None)


def test_unknown_settlement_is_a_clear_error(session: Session) -> None:
    cashier = _clerk(session)
    with pytest.raises(SlipError, match="没有编号为 999 的结算记录"):
        prepare_slip(session, 999, cashier)


def test_recent_settlements_mask_the_id_number(session: Session) -> None:
    cashier = _clerk(session)
    first = factories.settled_case(session, SAMPLE, operator_id=cashier.id, msgid="M0001")
    record_cancellation(session, first.id, operator_id=cashier.id, counter_name="1号窗口", reason="错",
                        msgid="M0002", cancelled_at=NOW)
    second = factories.settled_case(session, CASES / "device-max-pay.json", operator_id=cashier.id, msgid="M0003")
    listed = recent_settlements(session)
    assert [s.id for s in listed] == [second.id, first.id]  # newest first; the cancellation row is not listed
    assert listed[1].cancelled and not listed[0].cancelled
    assert listed[1].masked_id == "440802********1241"
    assert listed[1].total == Decimal("24184.00")


def test_archive_name_and_folder(tmp_path: Path) -> None:
    from dataclasses import replace

    from app.rules.case import read_case_file
    from app.rules.settlement import compute
    from app.slips import slip_from_case

    case = read_case_file(SAMPLE)
    data = replace(slip_from_case(case, compute(case), dt.date(2021, 4, 1)), mark=SlipMark(MarkKind.REPRINT, 3),
                   settlement_id=7)
    assert archive_file_name(data) == "结算单_sa000d20201117000001_20210401_补打3.pdf"
    assert archive_file_name(replace(data, registration_no="")) == "结算单_结算7_20210401_补打3.pdf"
    assert archive_file_name(replace(data, registration_no="a/b c")) == "结算单_a_b_c_20210401_补打3.pdf"
    assert "440802198001011241" not in archive_file_name(data)
    assert archive_folder("", tmp_path) == tmp_path / "slips"
    assert archive_folder(str(tmp_path / "共享"), Path("/elsewhere")) == tmp_path / "共享"


# --- the commands -----------------------------------------------------------------------


def _demo_settlement(home: Path) -> int:
    """The demo counter's sample settlement (`app.demo`: the official sample's figures)."""
    from app.bootstrap import open_counter

    context = open_counter(home=home, demo=True)
    try:
        with context.transaction() as session:
            return session.scalars(select(Settlement.id)).one()
    finally:
        context.close()


def test_cli_slip_issues_original_then_reprint(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    settlement_id = _demo_settlement(home)
    first, second = tmp_path / "first.pdf", tmp_path / "second.pdf"
    base = ["--home", str(home), "--demo", "--password-stdin"]
    password_on_stdin(monkeypatch, DEMO_PASSWORD)
    assert main(["slip", str(settlement_id), "--out", str(first), "--operator", "cashier", *base]) == 0
    password_on_stdin(monkeypatch, DEMO_PASSWORD)
    assert main(["slip", str(settlement_id), "--out", str(second), "--operator", "reviewer", *base]) == 0
    output = capsys.readouterr().out
    assert "补打（第 1 次）" in output

    original, reprint = read_slip(first.read_bytes()), read_slip(second.read_bytes())
    for copy in original.copies:
        lines = "".join(copy.lines())
        assert "补打" not in lines and "预结算" not in lines
        assert "制单人：张收款" in lines and "收款人：张收款" in lines
        assert copy.text_in(copy.at(copy.cell_with("医用耗材费用"), copy.cell_with("工伤保险基金支付金额"))) == "12003.00"
    for copy in reprint.copies:
        assert "补打（第 1 次）" in copy.lines()[0]
        assert "制单人：李审核" in "".join(copy.lines())

    from app.paths import resolve_paths

    archived = sorted((resolve_paths(home, demo=True).data_dir / "slips").iterdir())
    assert [p.name.rsplit("_", 1)[1] for p in archived] == ["原件.pdf", "补打1.pdf"]
    assert archived[0].read_bytes() == first.read_bytes()

    from app.bootstrap import open_counter

    context = open_counter(home=home, demo=True)
    try:
        with context.transaction() as session:
            history = print_history(session, settlement_id)
    finally:
        context.close()
    assert [(h.kind, h.operator, h.printer) for h in history] == [
        (PrintKind.ORIGINAL, "张收款", f"PDF 文件 {first}"), (PrintKind.REPRINT, "李审核", f"PDF 文件 {second}")]


def test_cli_slip_refuses_unknown_operator_and_settlement(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    settlement_id = _demo_settlement(home)
    base = ["--home", str(home), "--demo", "--password-stdin"]
    password_on_stdin(monkeypatch, DEMO_PASSWORD)
    assert main(["slip", str(settlement_id), "--operator", "nobody", *base]) == 1
    assert "登录名或密码错误" in capsys.readouterr().err  # an unknown login: the same answer as a wrong password
    password_on_stdin(monkeypatch, DEMO_PASSWORD)
    assert main(["slip", "999", "--operator", "cashier", *base]) == 1
    assert "没有编号为 999 的结算记录" in capsys.readouterr().err


def test_cli_slip_names_who_prints_when_several_operators_could(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    settlement_id = _demo_settlement(home)
    base = ["--home", str(home), "--demo", "--password-stdin"]
    monkeypatch.delenv("WI_COUNTER_OPERATOR", raising=False)
    assert main(["slip", str(settlement_id), *base]) == 1
    error = capsys.readouterr().err
    assert "请用 --operator 指定制单人" in error and "cashier" in error
    monkeypatch.setenv("WI_COUNTER_OPERATOR", "cashier")
    password_on_stdin(monkeypatch, DEMO_PASSWORD)
    out = tmp_path / "slip.pdf"
    assert main(["slip", str(settlement_id), "--out", str(out), *base]) == 0
    assert "制单人：张收款" in "".join(read_slip(out.read_bytes()).copies[0].lines())


def test_cli_settle_slip_renders_the_preview(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "preview.pdf"
    assert main(["settle", str(SAMPLE), "--slip", str(out), "--paper", "A5横向"]) == 0
    assert "预结算单" in capsys.readouterr().out
    slip = read_slip(out.read_bytes())
    assert slip.pages == 2
    for copy in slip.copies:
        assert "预结算（非正式结算单）" in copy.lines()[0]
        copy.cell_with("合计本次：总费用 24184.00 元，工伤保险基金支付金额 22283.00 元，个人支付金额 1901.00 元")


def test_cli_settle_slip_of_an_invalid_case_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "preview.pdf"
    assert main(["settle", str(CASES / "invalid-unknown-key.json"), "--slip", str(out)]) == 2
    assert not out.exists()


@pytest.mark.parametrize("name", ["guangdong-sample-slip", "guangdong-on-the-spot-filed"])
def test_stored_settlement_slip_reads_back_cell_by_cell(session: Session, name: str) -> None:
    """A stored settlement prints the same figures as its case (`003 附表3`), with its signers. (A cross-province
    stay prints the 001 §35 slip: `tests/test_slip_cross_province_pdf.py`.)"""
    import json

    from printing.templates import render_slip
    from tests.test_slip_pdf import _check_copy

    cashier = _clerk(session)
    reviewer = _clerk(session, "reviewer", "李审核", Role.REVIEWER)
    settlement = factories.settled_case(session, CASES / f"{name}.json", operator_id=cashier.id, msgid="M0001",
                                        reviewer_id=reviewer.id)
    session.add(PrintLog(settlement_id=settlement.id, kind=PrintKind.ORIGINAL, reprint_no=0, operator_id=cashier.id))
    session.flush()
    data = prepare_slip(session, settlement.id, reviewer, print_date=dt.date(2021, 4, 1))
    document = json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))
    expected = json.loads((CASES / f"{name}.expected.json").read_text(encoding="utf-8"))["settle"]
    slip = read_slip(render_slip(data))
    for copy in slip.copies:
        _check_copy(copy, document, expected)
        assert "补打（第 1 次）" in copy.lines()[0]
        lines = "".join(copy.lines())
        assert "收款人：张收款" in lines and "审核人：李审核" in lines and "制单人：李审核" in lines


def test_archive_folder_setting_must_be_absolute() -> None:
    from app.errors import ConfigurationError
    from app.settings import SLIP_ARCHIVE_DIR

    with pytest.raises(ConfigurationError, match="完整路径"):
        SLIP_ARCHIVE_DIR.parse("slips")
    assert SLIP_ARCHIVE_DIR.parse("") == ""
    assert SLIP_ARCHIVE_DIR.parse("/srv/结算单") == "/srv/结算单"


def test_archived_slips_are_private_files(tmp_path: Path) -> None:
    import os
    import stat
    from dataclasses import replace

    from app.rules.case import read_case_file
    from app.rules.settlement import compute
    from app.slips import archive_slip, slip_from_case

    case = read_case_file(SAMPLE)
    data = replace(slip_from_case(case, compute(case)), mark=SlipMark(MarkKind.ORIGINAL), settlement_id=1)
    first = archive_slip(tmp_path / "archive", data, b"%PDF one")
    second = archive_slip(tmp_path / "archive", data, b"%PDF two")
    assert first != second and first.read_bytes() == b"%PDF one" and second.read_bytes() == b"%PDF two"
    assert second.name.endswith("_原件_2.pdf")
    if os.name == "posix":
        assert stat.S_IMODE(first.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "archive").stat().st_mode) == 0o700
