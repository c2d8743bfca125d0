"""The first start of a real counter: the institution and the first administrator."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.db.models import Role
from app.operators import current_institution, list_operators, needs_first_run
from ui.first_run import FirstRunDialog
from ui.qt import QDialog, Qt, QWidget

pytestmark = pytest.mark.gui

TypeText = Callable[[QWidget, str], None]


def _dialog(qtbot: QtBot, ctx: CounterContext) -> FirstRunDialog:
    dialog = FirstRunDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def _fill(
    type_text: TypeText, dialog: FirstRunDialog, password: str = "s3cret-pass", confirm: str = "s3cret-pass"
) -> None:
    type_text(dialog.code_edit, "H44010100007")
    type_text(dialog.name_edit, "广州市工伤康复医院")
    type_text(dialog.province_edit, "广东省")
    type_text(dialog.city_edit, "广州市")
    type_text(dialog.city_code_edit, "440100")
    dialog.level_combo.setCurrentText("三级甲等")
    type_text(dialog.login_edit, "wangli")
    type_text(dialog.display_name_edit, "王丽")
    type_text(dialog.password_edit, password)
    type_text(dialog.confirm_edit, confirm)


def test_starts_with_first_run_needed(empty_ctx: CounterContext) -> None:
    with empty_ctx.transaction() as session:
        assert needs_first_run(session)


def test_mismatched_passwords_then_success_creates_admin(
    qtbot: QtBot, empty_ctx: CounterContext, type_text: TypeText
) -> None:
    dialog = _dialog(qtbot, empty_ctx)
    _fill(type_text, dialog, confirm="s3cret-pasz")
    qtbot.mouseClick(dialog.done_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.isVisible()
    assert "两次输入的密码不一致" in dialog.error_label.text()
    assert dialog.isVisible()

    dialog.confirm_edit.clear()
    type_text(dialog.confirm_edit, "s3cret-pass")
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.mouseClick(dialog.done_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.admin is not None and dialog.admin.login == "wangli"

    with empty_ctx.transaction() as session:
        operators = list_operators(session)
        institution = current_institution(session)
        assert not needs_first_run(session)
        assert institution is not None and institution.name == "广州市工伤康复医院"
        assert institution.city_code == "440100" and institution.level == "三级甲等"
    assert [(o.login, o.display_name, o.role) for o in operators] == [("wangli", "王丽", Role.ADMIN)]


def test_institution_problems_shown_inline(qtbot: QtBot, empty_ctx: CounterContext, type_text: TypeText) -> None:
    dialog = _dialog(qtbot, empty_ctx)
    _fill(type_text, dialog)
    dialog.code_edit.setText("H4401")
    dialog.city_code_edit.setText("44A1")
    qtbot.mouseClick(dialog.done_button, Qt.MouseButton.LeftButton)
    text = dialog.error_label.text()
    assert "机构编码应为 12 位字母或数字" in text
    assert "城市行政区划代码应为 6 位数字" in text
    assert dialog.isVisible()


def test_service_errors_shown_inline_not_raised(qtbot: QtBot, empty_ctx: CounterContext, type_text: TypeText) -> None:
    dialog = _dialog(qtbot, empty_ctx)
    _fill(type_text, dialog, password="short", confirm="short")
    qtbot.mouseClick(dialog.done_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=10_000)
    assert "密码至少 8 位" in dialog.error_label.text()
    assert dialog.isVisible() and dialog.done_button.isEnabled()
    with empty_ctx.transaction() as session:
        assert needs_first_run(session)
        assert list_operators(session) == []
