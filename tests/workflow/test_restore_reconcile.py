"""After `wi-counter db restore` of an older backup, the counter never settles a stay twice
(issue 21 B2, item 2): the restore reconciles with the centre (5201, what the centre holds for
this institution since the backup's time) and refuses admission and settlement until a reviewer
has seen the differences; a 住院号 the centre holds a registration for is never admitted again.

The real sandbox centre over HTTP, the real `wi-counter db restore` (the administrator signs in
with the password), a counter on its own SQLite file (restore is SQLite's; PostgreSQL uses pg_restore).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.cli import main
from app.composition import open_workflow_centre
from app.db import backup
from app.db.models import Operator, Role
from app.operators import OperatorInfo
from app.workflow.common import WorkflowError
from app.workflow.discharge import settle_stay
from tests.centre.client_fixtures import SandboxProcess, make_counter, sandbox  # noqa: F401 - fixture
from tests.signed_in import TEST_PASSWORD_HASH, password_on_stdin, signed_in
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD, ZHENG_JUN_CARD, add_lines, admit_worker, centre_today, form

ADMISSION_NO = "ZY-RESTORE-1"


def _operators(ctx: CounterContext) -> dict[str, OperatorInfo]:
    made = {}
    with ctx.transaction() as session:
        for login, name, role in (("admin", "王管理", Role.ADMIN), ("cashier", "张收款", Role.CASHIER),
                                  ("reviewer", "李审核", Role.REVIEWER)):
            record = Operator(login=login, display_name=name, role=role, password_hash=TEST_PASSWORD_HASH)
            session.add(record)
            session.flush()
            made[login] = signed_in(record)
    return made


def _actor(ctx: CounterContext, login: str) -> OperatorInfo:
    with ctx.transaction() as session:
        return signed_in(session.scalars(select(Operator).where(Operator.login == login)).one())


def _settle_new_stay(ctx: CounterContext, cashier: OperatorInfo, card: str, admission_no: str) -> int:
    client = open_workflow_centre(ctx, cashier)
    try:
        _, outcome = admit_worker(ctx, client, cashier, card, form(admission_no))
        assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
        add_lines(ctx, outcome.stay_id, cashier, 4)
        return settle_stay(ctx, client, outcome.stay_id, cashier, centre_today()).settlement_id
    finally:
        client.close()


@pytest.fixture
def restored(isolated_home: Path, sandbox: SandboxProcess,  # noqa: F811 - the fixture above
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CounterContext, SandboxProcess]]:
    """Stay A settled at the centre after the backup was taken; then the backup restored."""
    ctx = make_counter(isolated_home, "", sandbox.url)
    operators = _operators(ctx)
    saved = backup.backup(ctx.engine, isolated_home / "backups")  # before stay A was admitted and settled
    _settle_new_stay(ctx, operators["cashier"], ZHANG_WEI_CARD, ADMISSION_NO)
    assert sandbox.summary()["settlements"]["live"] == 1
    ctx.close()

    password_on_stdin(monkeypatch)
    assert main(["db", "restore", str(saved), "--operator", "admin", "--password-stdin"]) == 0

    ctx = make_counter(isolated_home, "", sandbox.url)
    yield ctx, sandbox
    ctx.close()


def test_re_admitting_and_settling_the_same_stay_after_a_restore_never_settles_it_twice(
        restored: tuple[CounterContext, SandboxProcess]) -> None:
    ctx, centre = restored
    cashier = _actor(ctx, "cashier")
    with pytest.raises(WorkflowError) as refused:
        _settle_new_stay(ctx, cashier, ZHANG_WEI_CARD, ADMISSION_NO)
    assert "恢复" in refused.value.message and "审核员" in refused.value.message
    assert centre.summary()["settlements"]["live"] == 1  # one stay, one live settlement at the centre


def _run_cli(monkeypatch: pytest.MonkeyPatch, *arguments: str) -> int:
    password_on_stdin(monkeypatch)
    return main([*arguments, "--password-stdin"])


def test_the_restore_lists_what_the_centre_holds_and_only_a_reviewer_lets_work_go_on(
        restored: tuple[CounterContext, SandboxProcess], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    ctx, centre = restored
    capsys.readouterr()
    assert _run_cli(monkeypatch, "db", "restore-check", "--operator", "cashier") == 1  # differences unreviewed
    listed = capsys.readouterr().out
    assert ADMISSION_NO in listed and "本机账目中没有" in listed and "440802198503151236" not in listed  # masked
    # A cashier may look, not acknowledge.
    assert _run_cli(monkeypatch, "db", "restore-check", "--operator", "cashier", "--acknowledge", "看过了") == 1
    assert "无权" in capsys.readouterr().err
    cashier = _actor(ctx, "cashier")
    with pytest.raises(WorkflowError, match="审核员"):
        _settle_new_stay(ctx, cashier, ZHANG_WEI_CARD, "ZY-RESTORE-2")

    assert _run_cli(monkeypatch, "db", "restore-check", "--operator", "reviewer",
                    "--acknowledge", "已在中心核实：ZY-RESTORE-1 已结算，账目另行补记") == 0
    with ctx.transaction() as session:
        from app.db.models import AuditEvent
        events = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("restore_%"))).all()
    assert events == ["restore_reconciled", "restore_differences_acknowledged"]

    # The stay the centre holds is never admitted again; other work goes on.
    with pytest.raises(WorkflowError, match=f"住院号 {ADMISSION_NO} 在结算中心已有就医登记"):
        _settle_new_stay(ctx, cashier, ZHANG_WEI_CARD, ADMISSION_NO)
    _settle_new_stay(ctx, cashier, ZHANG_WEI_CARD, "ZY-RESTORE-2")
    assert centre.summary()["settlements"]["live"] == 2  # stay A once, the new stay once


def test_a_restore_while_the_centre_is_down_keeps_work_waiting_until_the_centre_is_asked(
        isolated_home: Path, sandbox: SandboxProcess,  # noqa: F811 - the fixture above
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.centre.client_fixtures import start_sandbox

    ctx = make_counter(isolated_home, "", sandbox.url)
    operators = _operators(ctx)
    client = open_workflow_centre(ctx, operators["cashier"])
    _, outcome = admit_worker(ctx, client, operators["cashier"], ZHANG_WEI_CARD, form(ADMISSION_NO))
    client.close()
    assert outcome.stay_id is not None
    saved = backup.backup(ctx.engine, isolated_home / "backups")  # admitted, not yet settled
    add_lines(ctx, outcome.stay_id, operators["cashier"], 4)
    client = open_workflow_centre(ctx, operators["cashier"])
    settle_stay(ctx, client, outcome.stay_id, operators["cashier"], centre_today())
    client.close()
    ctx.close()
    sandbox.stop()
    capsys.readouterr()

    assert _run_cli(monkeypatch, "db", "restore", str(saved), "--operator", "admin") == 0
    assert "未能与结算中心核对" in capsys.readouterr().err
    ctx = make_counter(isolated_home, "", sandbox.url)
    try:
        cashier = _actor(ctx, "cashier")
        client = open_workflow_centre(ctx, cashier)
        try:
            with pytest.raises(WorkflowError, match="尚未与本机账目核对"):  # the centre down: nothing is known
                settle_stay(ctx, client, outcome.stay_id, cashier, centre_today())
        finally:
            client.close()
        again = start_sandbox(sandbox.data, sandbox.port)
        try:
            client = open_workflow_centre(ctx, cashier)
            try:
                # The centre answers: the check runs before the work, and finds stay A settled there.
                with pytest.raises(WorkflowError, match="审核员"):
                    settle_stay(ctx, client, outcome.stay_id, cashier, centre_today())
            finally:
                client.close()
            assert again.summary()["settlements"]["live"] == 1
        finally:
            again.stop()
    finally:
        ctx.close()
    with_ctx = make_counter(isolated_home, "", sandbox.url)
    try:
        from app.workflow.restore_check import latest
        with with_ctx.transaction() as session:
            report = latest(session)
        assert report is not None and [d["kind"] for d in report.differences] == ["settlement_missing", "lines_differ"]
    finally:
        with_ctx.close()


def test_a_restore_of_books_the_centre_agrees_with_lets_work_go_on_at_once(
        isolated_home: Path, sandbox: SandboxProcess,  # noqa: F811 - the fixture above
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = make_counter(isolated_home, "", sandbox.url)
    operators = _operators(ctx)
    _settle_new_stay(ctx, operators["cashier"], ZHANG_WEI_CARD, ADMISSION_NO)
    saved = backup.backup(ctx.engine, isolated_home / "backups")  # after everything
    ctx.close()
    capsys.readouterr()
    assert _run_cli(monkeypatch, "db", "restore", str(saved), "--operator", "admin") == 0
    assert "已与结算中心核对" in capsys.readouterr().out
    ctx = make_counter(isolated_home, "", sandbox.url)
    try:
        _settle_new_stay(ctx, _actor(ctx, "cashier"), ZHANG_WEI_CARD, "ZY-RESTORE-2")
        assert sandbox.summary()["settlements"]["live"] == 2
    finally:
        ctx.close()


@pytest.mark.postgres
def test_a_postgresql_database_restored_with_pg_restore_is_checked_once_the_administrator_says_so(
        isolated_home: Path, tmp_path: Path, sandbox: SandboxProcess,  # noqa: F811 - the fixture above
        postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The books before: stay A settled at the centre, not in the (restored) PostgreSQL books.
    first = make_counter(tmp_path / "before", "", sandbox.url)
    _settle_new_stay(first, _operators(first)["cashier"], ZHANG_WEI_CARD, ADMISSION_NO)
    first.close()
    ctx = make_counter(isolated_home, postgres_url, sandbox.url)
    try:
        _operators(ctx)
        capsys.readouterr()
        assert _run_cli(monkeypatch, "--db", postgres_url, "db", "restore-check", "--restored", "wi-counter.dump",
                        "--operator", "cashier") == 1  # the administrator's
        assert "无权" in capsys.readouterr().err
        assert _run_cli(monkeypatch, "--db", postgres_url, "db", "restore-check", "--restored", "wi-counter.dump",
                        "--operator", "admin") == 1
        assert ADMISSION_NO in capsys.readouterr().out
        with pytest.raises(WorkflowError, match="审核员"):
            _settle_new_stay(ctx, _actor(ctx, "cashier"), ZHANG_WEI_CARD, ADMISSION_NO)
        assert sandbox.summary()["settlements"]["live"] == 1
    finally:
        ctx.close()


def _issue_slip(ctx: CounterContext, cashier: OperatorInfo, settlement_id: int) -> Path:
    """The slip printed and archived as the 结算单 page does it: the PDF in the archive, the print logged."""
    from printing.templates import render_slip

    from app.settings import SLIP_ARCHIVE_DIR
    from app.slips import archive_folder, commit_issue, prepare_slip

    folder = archive_folder(ctx.settings.get(SLIP_ARCHIVE_DIR), ctx.paths.data_dir)
    with ctx.transaction() as session:
        data = prepare_slip(session, settlement_id, cashier)
        issued = commit_issue(session, data, render_slip(data), operator_id=cashier.id, printer="测试打印机",
                              folder=folder)
    assert issued.archive_path.is_file()
    return issued.archive_path


def _restore_check(ctx: CounterContext) -> list[dict[str, object]]:
    from app.workflow.restore_check import latest

    with ctx.transaction() as session:
        report = latest(session)
    assert report is not None
    return report.differences


def test_slips_archived_after_the_backup_are_listed_when_the_restored_books_lack_their_print(
        isolated_home: Path, sandbox: SandboxProcess,  # noqa: F811 - the fixture above
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = make_counter(isolated_home, "", sandbox.url)
    operators = _operators(ctx)
    saved = backup.backup(ctx.engine, isolated_home / "backups")
    settlement_id = _settle_new_stay(ctx, operators["cashier"], ZHANG_WEI_CARD, ADMISSION_NO)
    original = _issue_slip(ctx, operators["cashier"], settlement_id)
    reprint = _issue_slip(ctx, operators["cashier"], settlement_id)  # 补打1
    ctx.close()
    capsys.readouterr()

    assert _run_cli(monkeypatch, "db", "restore", str(saved), "--operator", "admin") == 0
    printed = capsys.readouterr().out
    assert original.name in printed and reprint.name in printed
    ctx = make_counter(isolated_home, "", sandbox.url)
    try:
        slips = [d for d in _restore_check(ctx) if d["kind"] == "slip_unlogged"]
        assert sorted(str(d["file"]) for d in slips) == sorted([original.name, reprint.name])
        # The name tells the 就医登记号; the centre's registration tells the 住院号 the books lack.
        assert all(d["admission_no"] == ADMISSION_NO and ADMISSION_NO in str(d["message"]) for d in slips)
        assert all("打印记录" in str(d["message"]) for d in slips)
        # Unreviewed differences: work waits for a reviewer as for the centre's.
        with pytest.raises(WorkflowError, match="审核员"):
            _settle_new_stay(ctx, _actor(ctx, "cashier"), ZHANG_WEI_CARD, "ZY-RESTORE-2")
    finally:
        ctx.close()


def test_the_unlogged_slips_listed_are_bounded_and_the_rest_counted(
        isolated_home: Path, sandbox: SandboxProcess,  # noqa: F811 - the fixture above
        monkeypatch: pytest.MonkeyPatch) -> None:
    from app.workflow import restore_check

    ctx = make_counter(isolated_home, "", sandbox.url)
    operators = _operators(ctx)
    saved = backup.backup(ctx.engine, isolated_home / "backups")
    settlement_id = _settle_new_stay(ctx, operators["cashier"], ZHANG_WEI_CARD, ADMISSION_NO)
    for _ in range(3):
        _issue_slip(ctx, operators["cashier"], settlement_id)
    ctx.close()
    monkeypatch.setattr(restore_check, "SLIPS_LISTED", 1)
    assert _run_cli(monkeypatch, "db", "restore", str(saved), "--operator", "admin") == 0
    ctx = make_counter(isolated_home, "", sandbox.url)
    try:
        differences = _restore_check(ctx)
        assert [d["kind"] for d in differences if str(d["kind"]).startswith("slip_")] == \
            ["slip_unlogged", "slip_unlogged_more"]
        more = next(d for d in differences if d["kind"] == "slip_unlogged_more")
        assert more["count"] == 2 and "另有 2 个" in str(more["message"])
        assert restore_check.difference_count(differences) == len(differences) - 1 + 2
    finally:
        ctx.close()


def test_slips_whose_print_the_restored_books_hold_are_no_difference(
        isolated_home: Path, sandbox: SandboxProcess,  # noqa: F811 - the fixture above
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = make_counter(isolated_home, "", sandbox.url)
    operators = _operators(ctx)
    settlement_id = _settle_new_stay(ctx, operators["cashier"], ZHANG_WEI_CARD, ADMISSION_NO)
    archived = _issue_slip(ctx, operators["cashier"], settlement_id)
    saved = backup.backup(ctx.engine, isolated_home / "backups")  # the print logged in the backup
    (archived.parent / f".{archived.stem}_9.pdf.part").write_bytes(b"%PDF-1.4 being written")  # not a slip yet
    ctx.close()
    capsys.readouterr()
    assert _run_cli(monkeypatch, "db", "restore", str(saved), "--operator", "admin") == 0
    assert "已与结算中心核对" in capsys.readouterr().out
    ctx = make_counter(isolated_home, "", sandbox.url)
    try:
        assert _restore_check(ctx) == []
    finally:
        ctx.close()


def test_a_slip_printed_after_the_backup_of_a_settlement_the_books_hold_is_listed(
        isolated_home: Path, sandbox: SandboxProcess,  # noqa: F811 - the fixture above
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = make_counter(isolated_home, "", sandbox.url)
    operators = _operators(ctx)
    settlement_id = _settle_new_stay(ctx, operators["cashier"], ZHANG_WEI_CARD, ADMISSION_NO)
    saved = backup.backup(ctx.engine, isolated_home / "backups")  # settled, the slip not yet printed
    printed = _issue_slip(ctx, operators["cashier"], settlement_id)
    ctx.close()
    assert _run_cli(monkeypatch, "db", "restore", str(saved), "--operator", "admin") == 0
    ctx = make_counter(isolated_home, "", sandbox.url)
    try:
        differences = _restore_check(ctx)
        assert [d["kind"] for d in differences] == ["slip_unlogged"]  # the centre agrees with the books
        [slip] = differences
        assert slip["file"] == printed.name and slip["admission_no"] == ADMISSION_NO
        assert "“原件”而不是“补打”" in str(slip["message"])  # what printing it again would do
    finally:
        ctx.close()
