"""Keyboard first (issue 20 §6): the counter's F-keys work from any page, as clerks have them in HIS
modules; F1 opens help (the key map), not 关于."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from tests.ui.workflow_fixtures import WindowFactory, make_window  # noqa: F401 - fixture
from ui.main_window import MainWindow
from ui.qt import QApplication, QDialog, QLabel, Qt

pytestmark = pytest.mark.gui


def _press(qtbot: QtBot, window: MainWindow, key: Qt.Key) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    qtbot.keyClick(QApplication.focusWidget() or window, key)


def _current_title(window: MainWindow) -> str:
    return window.page_titles[window.stack.currentIndex()]


def test_f1_opens_help_with_the_key_map(qtbot: QtBot, demo_ctx: CounterContext, make_window: WindowFactory) -> None:  # noqa: F811
    window = make_window(demo_ctx, "cashier")
    _press(qtbot, window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget() or QApplication.activeWindow(), QDialog),
                    timeout=5000)
    dialog = window.findChild(QDialog, "helpDialog")
    assert dialog is not None and dialog.isVisible()
    text = "\n".join(label.text() for label in dialog.findChildren(QLabel))
    for key, action in (("F2", "读卡"), ("F3", "扫码"), ("F4", "登记"), ("F8", "结算"), ("F9", "打印"), ("F12", "下一位")):
        assert key in text and action in text, (key, action)
    assert "关于" not in dialog.windowTitle()
    dialog.close()


def test_f3_goes_to_admission_ready_for_the_scanner_and_f8_to_discharge(
        qtbot: QtBot, demo_ctx: CounterContext, make_window: WindowFactory) -> None:  # noqa: F811
    window = make_window(demo_ctx, "cashier")
    window.show_page(window.page_titles.index("住院一览"))
    _press(qtbot, window, Qt.Key.Key_F3)
    assert _current_title(window) == "入院登记"
    qtbot.waitUntil(lambda: window.admission_page.ecard_field.hasFocus(), timeout=5000)

    _press(qtbot, window, Qt.Key.Key_F8)
    assert _current_title(window) == "出院结算"

    _press(qtbot, window, Qt.Key.Key_F2)
    assert _current_title(window) == "读卡"


def test_f4_registers_only_when_registration_is_possible(
        qtbot: QtBot, demo_ctx: CounterContext, make_window: WindowFactory) -> None:  # noqa: F811
    window = make_window(demo_ctx, "cashier")
    page = window.admission_page
    clicks: list[bool] = []
    page.register_button.clicked.connect(lambda: clicks.append(True))
    _press(qtbot, window, Qt.Key.Key_F4)
    assert _current_title(window) == "入院登记"
    assert not page.register_button.isEnabled() and clicks == []  # nobody looked up: nothing registered
