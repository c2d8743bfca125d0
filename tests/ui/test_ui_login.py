"""The login dialog: refusals stay in the dialog, a right password returns the operator."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.db.models import Role
from ui.login import LoginDialog
from ui.qt import QDialog, QLabel, Qt

pytestmark = pytest.mark.gui


def _dialog(qtbot: QtBot, ctx: CounterContext) -> LoginDialog:
    dialog = LoginDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_wrong_password_shows_error_and_stays(qtbot: QtBot, demo_ctx: CounterContext) -> None:
    dialog = _dialog(qtbot, demo_ctx)
    qtbot.keyClicks(dialog.login_edit, "cashier")
    qtbot.keyClicks(dialog.password_edit, "wrong-password")
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=10_000)
    assert dialog.error_label.text() == "登录名或密码错误"
    assert dialog.isVisible() and dialog.operator is None
    assert dialog.password_edit.text() == ""
    assert dialog.login_button.isEnabled()


def test_right_password_returns_operator(qtbot: QtBot, demo_ctx: CounterContext) -> None:
    dialog = _dialog(qtbot, demo_ctx)
    qtbot.keyClicks(dialog.login_edit, "cashier")
    qtbot.keyClicks(dialog.password_edit, "demo1234")
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.operator is not None
    assert (dialog.operator.login, dialog.operator.display_name, dialog.operator.role) == (
        "cashier", "张收款", Role.CASHIER,
    )


def test_enter_in_password_field_logs_in(qtbot: QtBot, demo_ctx: CounterContext) -> None:
    dialog = _dialog(qtbot, demo_ctx)
    qtbot.keyClicks(dialog.login_edit, "reviewer")
    qtbot.keyClicks(dialog.password_edit, "demo1234")
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.operator is not None and dialog.operator.role == Role.REVIEWER


def test_empty_fields_are_refused_without_asking_the_database(qtbot: QtBot, demo_ctx: CounterContext) -> None:
    dialog = _dialog(qtbot, demo_ctx)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.text() == "请输入登录名和密码"


def test_demo_mode_shows_the_demo_accounts(qtbot: QtBot, demo_ctx: CounterContext) -> None:
    dialog = _dialog(qtbot, demo_ctx)
    assert "（演示）" in dialog.windowTitle()
    hint = dialog.findChild(QLabel, "demoHint")
    assert hint is not None
    assert hint.text() == "演示账号：admin / cashier / reviewer，密码均为 demo1234"


def test_no_demo_hint_on_a_real_counter(qtbot: QtBot, empty_ctx: CounterContext) -> None:
    dialog = _dialog(qtbot, empty_ctx)
    assert dialog.findChild(QLabel, "demoHint") is None
    assert "演示" not in dialog.windowTitle()
