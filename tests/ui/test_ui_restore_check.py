"""恢复后核对 in the window (issue 21 §2, B2): after `wi-counter db restore` of an older backup the
counter refuses admission and settlement until the books are checked against the centre and a
reviewer has seen the differences. A cashier at the counter meets that refusal; the window itself
shows that a check is owed, runs it, lists the differences and lets a reviewer acknowledge them in
place (审核员授权: the reviewer's own login and password, no logout), audited in the reviewer's name.

The real main window and dialogs, the real sandbox centre over HTTP; the restore is the one
`wi-counter db restore` makes (`app.db.backup.restore`, then the owed check and its audit entry) —
the centre not asked yet, as when the command could not reach it, so the window does the asking.
Screenshots at 1366×768 go to test-artifacts/restore-check/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app import audit
from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.composition import open_workflow_centre
from app.db import backup
from app.db.models import AuditEvent, RestoreCheck
from app.operators import OperatorInfo
from app.workflow.common import WorkflowError
from app.workflow.discharge import settle_stay
from app.workflow.restore_check import note_restore
from tests.centre.client_fixtures import SandboxProcess, centre_today
from tests.ui.artefacts import save_shot
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    WindowFactory,
    add_charges,
    admit_through_service,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD
from ui.main_window import MainWindow
from ui.qt import QApplication, QPushButton, Qt, QTimer, QWidget, is_valid
from ui.restore_check_dialog import RestoreCheckDialog
from ui.reviewer_authorisation import ReviewerAuthorisationDialog

pytestmark = pytest.mark.gui

ADMISSION_NO = "ZY-RESTORE-UI"
PASSWORD = "demo1234"  # the demo counter's operators
NOTE = "已在中心核实：ZY-RESTORE-UI 已结算，账目另行补记"
SHOTS = "restore-check"
TypeText = Callable[[QWidget, str], None]
D = TypeVar("D", bound=QWidget)


def _settle_and_print(ctx: CounterContext, cashier: OperatorInfo, admission_no: str) -> Path:
    """A stay settled and its slip printed (archived and logged as the 结算单 page does); the slip's file."""
    from printing.templates import render_slip

    from app.settings import SLIP_ARCHIVE_DIR
    from app.slips import archive_folder, commit_issue, prepare_slip

    stay_id = admit_through_service(ctx, cashier, ZHANG_WEI_CARD, admission_no)
    add_charges(ctx, cashier, stay_id)
    client: CentreClient = open_workflow_centre(ctx, cashier)
    try:
        settlement_id = settle_stay(ctx, client, stay_id, cashier, centre_today()).settlement_id
    finally:
        client.close()
    with ctx.transaction() as session:
        data = prepare_slip(session, settlement_id, cashier)
        return commit_issue(session, data, render_slip(data), operator_id=cashier.id, printer=None,
                            folder=archive_folder(ctx.settings.get(SLIP_ARCHIVE_DIR), ctx.paths.data_dir)).archive_path


def _restore(ctx: CounterContext, saved: Path) -> None:
    """What `wi-counter db restore` does to the books (app/cli/admin.py), the centre not yet asked."""
    result = backup.restore(ctx.engine, saved, ctx.paths.backup_dir, 5)
    with ctx.transaction() as session:
        audit.record(session, "db_restored", operator_id=None, counter_name=ctx.counter_name,
                     entity_type="database", entity_id=ctx.database_description,
                     detail={"file": str(saved), "admin": "admin", "safety_backup": str(result.safety_backup)})
        note_restore(session, str(saved))


@pytest.fixture
def restored_with_slip(centre_ctx: CounterContext, tmp_path: Path,  # noqa: F811 - the fixture above
                       operator_of: Callable[[CounterContext, str], OperatorInfo]) -> tuple[CounterContext, Path]:
    """Stay ZY-RESTORE-UI admitted and settled at the centre, its slip printed, after the backup was taken;
    then the backup restored (the slip's PDF stays in the archive, its print is not in the books)."""
    ctx = centre_ctx
    saved = backup.backup(ctx.engine, tmp_path / "backups")
    slip = _settle_and_print(ctx, operator_of(ctx, "cashier"), ADMISSION_NO)
    _restore(ctx, saved)
    return ctx, slip


@pytest.fixture
def restored(restored_with_slip: tuple[CounterContext, Path]) -> CounterContext:
    return restored_with_slip[0]


def _modal(qtbot: QtBot, kind: type[D]) -> D:
    found: list[D] = []

    def look() -> None:  # from a timer, as a clerk would meet it: whatever modal window is up
        widget = QApplication.activeModalWidget()
        if isinstance(widget, kind) and widget.isVisible():
            found.append(widget)

    def seen() -> bool:
        QTimer.singleShot(0, look)
        return bool(found)

    qtbot.waitUntil(seen, timeout=WAIT_MS)
    return found[0]


def _click(qtbot: QtBot, button: QPushButton) -> None:
    assert button.isVisible() and button.isEnabled(), f"{button.objectName()} is not usable"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _closed(dialog: QWidget) -> bool:
    return not is_valid(dialog) or not dialog.isVisible()


def _authorise(qtbot: QtBot, dialog: ReviewerAuthorisationDialog, login: str) -> None:
    dialog.login_edit.clear()
    dialog.password_edit.clear()
    qtbot.keyClicks(dialog.login_edit, login)
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    _click(qtbot, dialog.authorise_button)
    qtbot.waitUntil(lambda: _closed(dialog) or not dialog.busy, timeout=WAIT_MS)


def _from_menu(window: MainWindow) -> RestoreCheckDialog:
    [file_menu] = [a.menu() for a in window.menuBar().actions() if a.text() == "文件(&F)"]
    [action] = [a for a in file_menu.actions() if a.text() == "恢复后核对(&R)…"]
    action.trigger()
    dialog = window.restore_check_dialog
    assert isinstance(dialog, RestoreCheckDialog) and dialog.isVisible()
    return dialog


def _status(ctx: CounterContext) -> str:
    with ctx.transaction() as session:
        check = session.scalars(select(RestoreCheck).order_by(RestoreCheck.id.desc())).first()
        assert check is not None
        return check.status


def test_a_cashier_sees_the_restore_check_and_a_reviewer_acknowledges_it_at_the_cashiers_window(
        qtbot: QtBot, restored_with_slip: tuple[CounterContext, Path], make_window: WindowFactory,  # noqa: F811
        operator_of: Callable[[CounterContext, str], OperatorInfo], type_text: TypeText) -> None:
    ctx, slip = restored_with_slip
    cashier, reviewer = operator_of(ctx, "cashier"), operator_of(ctx, "reviewer")
    window = make_window(ctx, "cashier")
    window.resize(1366, 768)  # the commonest counter screen

    # At start: the window says a check is owed, and why admission and settlement wait.
    qtbot.waitUntil(lambda: window.restore_banner.isVisible(), timeout=WAIT_MS)
    assert "恢复" in window.restore_label.text() and "核对" in window.restore_label.text()
    save_shot(window, SHOTS, "main-window-check-owed-1366x768.png")

    # From the notice: the dialog asks the centre and lists what the books lack.
    _click(qtbot, window.restore_button)
    dialog = window.restore_check_dialog
    assert isinstance(dialog, RestoreCheckDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.report is not None and dialog.report.status == "differences",
                    timeout=CENTRE_WAIT_MS)
    messages = [dialog.table.item(row, dialog.MESSAGE_COLUMN).text() for row in range(dialog.table.rowCount())]
    assert any(ADMISSION_NO in m and "本机账目中没有" in m for m in messages), messages
    assert not any("440802198503151236" in m for m in messages)  # ID numbers masked
    row = next(r for r, m in enumerate(messages) if ADMISSION_NO in m)
    dialog.table.selectRow(row)
    assert messages[row] in dialog.detail.toPlainText()
    # The slip printed after the backup: in the archive, not in the restored print log.
    kinds = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    slip_row = kinds.index("结算单无打印记录")
    assert slip.name in messages[slip_row] and ADMISSION_NO in messages[slip_row]
    dialog.table.selectRow(slip_row)
    assert slip.name in dialog.detail.toPlainText()
    save_shot(dialog, SHOTS, "restore-check-dialog.png")
    # The main window's notice followed: differences wait for a reviewer.
    qtbot.waitUntil(lambda: "审核员" in window.restore_label.text(), timeout=WAIT_MS)
    with pytest.raises(WorkflowError, match="审核员"):
        admit_through_service(ctx, cashier, ZHANG_WEI_CARD, "ZY-RESTORE-UI-2")

    # The note is required; the cashier's own password does not acknowledge.
    assert not dialog.acknowledge_button.isEnabled()
    type_text(dialog.note_edit, NOTE)
    _click(qtbot, dialog.acknowledge_button)
    authorisation = _modal(qtbot, ReviewerAuthorisationDialog)
    save_shot(authorisation, SHOTS, "reviewer-authorisation.png")
    _authorise(qtbot, authorisation, "cashier")
    assert authorisation.isVisible() and "无权" in authorisation.error.text()
    assert _status(ctx) == "differences"

    # The reviewer types their own login and password: acknowledged in the reviewer's name, no logout.
    _authorise(qtbot, authorisation, "reviewer")
    qtbot.waitUntil(lambda: _closed(authorisation), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: dialog.report is not None and dialog.report.status == "acknowledged", timeout=WAIT_MS)
    assert _status(ctx) == "acknowledged"
    with ctx.transaction() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "restore_differences_acknowledged")).one()
        assert event.operator_id == reviewer.id
        assert event.detail["note"] == NOTE and event.detail["at_session_of"] == cashier.login
        check = session.scalars(select(RestoreCheck)).one()
        assert check.acknowledged_by == reviewer.id
    assert window.operator.login == "cashier"  # the cashier stayed signed in

    # The notice goes, and admission works again (the 住院号 the centre holds stays refused).
    qtbot.waitUntil(lambda: not window.restore_banner.isVisible(), timeout=WAIT_MS)
    with pytest.raises(WorkflowError, match=f"住院号 {ADMISSION_NO} 在结算中心已有就医登记"):
        admit_through_service(ctx, cashier, ZHANG_WEI_CARD, ADMISSION_NO)
    admit_through_service(ctx, cashier, ZHANG_WEI_CARD, "ZY-RESTORE-UI-2")


def test_the_centre_unreachable_leaves_the_check_pending_with_a_chinese_message(
        qtbot: QtBot, restored: CounterContext, make_window: WindowFactory,  # noqa: F811
        workflow_sandbox: SandboxProcess) -> None:  # noqa: F811
    ctx = restored
    workflow_sandbox.stop()
    window = make_window(ctx, "cashier")
    qtbot.waitUntil(lambda: window.restore_banner.isVisible(), timeout=WAIT_MS)
    dialog = _from_menu(window)
    qtbot.waitUntil(lambda: not dialog.busy and bool(dialog.error.text()), timeout=CENTRE_WAIT_MS)
    text = dialog.error.text()
    assert "结算中心" in text and "http" not in text.lower() and "Error" not in text, text
    assert _status(ctx) == "pending"
    assert not dialog.acknowledge_button.isEnabled()
    assert dialog.reconcile_button.isEnabled()  # try again once the centre answers
    assert window.restore_banner.isVisible()


def test_a_counter_never_restored_shows_no_notice(
        qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory) -> None:  # noqa: F811
    window = make_window(centre_ctx, "cashier")
    dialog = _from_menu(window)
    qtbot.waitUntil(lambda: dialog.loaded and not dialog.busy, timeout=WAIT_MS)
    assert "没有从备份恢复" in dialog.summary_label.text()
    assert not window.restore_banner.isVisible()
    assert not dialog.acknowledge_button.isEnabled()


def test_a_reviewer_signed_in_acknowledges_from_the_keyboard(
        qtbot: QtBot, restored: CounterContext, make_window: WindowFactory,  # noqa: F811
        operator_of: Callable[[CounterContext, str], OperatorInfo], type_text: TypeText) -> None:
    ctx = restored
    reviewer = operator_of(ctx, "reviewer")
    window = make_window(ctx, "reviewer")
    qtbot.waitUntil(lambda: window.restore_banner.isVisible(), timeout=WAIT_MS)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)  # 文件 → 恢复后核对… (Ctrl+K)
    dialog = window.restore_check_dialog
    assert isinstance(dialog, RestoreCheckDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.report is not None and dialog.report.status == "differences",
                    timeout=CENTRE_WAIT_MS)
    type_text(dialog.note_edit, NOTE)
    assert "审核员授权" not in dialog.acknowledge_button.text()  # a reviewer's own acknowledgement
    _click(qtbot, dialog.acknowledge_button)
    qtbot.waitUntil(lambda: dialog.report is not None and dialog.report.status == "acknowledged", timeout=WAIT_MS)
    with ctx.transaction() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "restore_differences_acknowledged")).one()
        assert event.operator_id == reviewer.id and "at_session_of" not in event.detail
    qtbot.waitUntil(lambda: not window.restore_banner.isVisible(), timeout=WAIT_MS)
