"""The main window: pages, keys, menus, status bar, lock and quit."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from app import __version__
from app.bootstrap import CounterContext
from app.institution import InstitutionInfo
from app.operators import OperatorInfo
from ui.main_window import MainWindow
from ui.pages.admission_page import AdmissionPage
from ui.pages.card_page import CardPage
from ui.pages.claims_page import ClaimsPage
from ui.pages.discharge_page import DischargePage
from ui.pages.placeholder import PlaceholderPage
from ui.pages.slip_page import SlipPage
from ui.pages.settings_page import SettingsPage
from ui.pages.stays_page import StaysPage
from ui.qt import QApplication, QLabel, QMessageBox, Qt, QWidget

pytestmark = pytest.mark.gui

PAGES = ["读卡", "入院登记", "费用与伤病分离", "出院结算", "住院一览", "结算单", "月度结算", "设置"]
REAL_PAGES = ("读卡", "入院登记", "费用与伤病分离", "出院结算", "住院一览", "结算单", "月度结算")
NOT_PROVIDED = "此功能尚未提供"


def _label(widget: QWidget, name: str) -> QLabel:
    found = widget.findChild(QLabel, name)
    assert found is not None, f"no QLabel named {name}"
    return found


@pytest.fixture
def window(
    qtbot: QtBot,
    demo_ctx: CounterContext,
    operator_of: Callable[[CounterContext, str], OperatorInfo],
    institution_of: Callable[[CounterContext], InstitutionInfo | None],
) -> Iterator[MainWindow]:
    main = MainWindow(demo_ctx, operator_of(demo_ctx, "cashier"), institution_of(demo_ctx))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    main.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main, timeout=5000)
    yield main


def _label_texts(widget: object) -> list[str]:
    return [label.text() for label in widget.findChildren(QLabel)]  # type: ignore[attr-defined]


def test_pages_in_order(window: MainWindow) -> None:
    assert window.page_titles == PAGES
    assert [window.nav.item(i).text() for i in range(window.nav.count())] == PAGES
    assert window.current_page_title() == "读卡"


def test_ctrl_number_switches_pages(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page_title() == "费用与伤病分离"
    keys = [Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_4, Qt.Key.Key_5, Qt.Key.Key_6, Qt.Key.Key_7,
            Qt.Key.Key_8]
    for key, title in zip(keys, PAGES, strict=True):
        qtbot.keyClick(window, key, Qt.KeyboardModifier.ControlModifier)
        assert window.current_page_title() == title
        assert window.nav.currentItem().text() == title


def test_nav_tooltips_and_window_menu_name_the_keys(window: MainWindow) -> None:
    for number in range(1, len(PAGES) + 1):
        assert f"Ctrl+{number}" in window.nav.item(number - 1).toolTip()
        assert window.page_actions[number - 1].shortcut().toString() == f"Ctrl+{number}"
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus == ["文件(&F)", "窗口(&W)", "业务(&B)", "帮助(&H)"]
    assert [a.shortcut().toString() for a in window.counter_key_actions] == ["F2", "F3", "F4", "F8"]


def test_arrow_keys_move_through_the_navigation(qtbot: QtBot, window: MainWindow) -> None:
    window.nav.setFocus()
    qtbot.keyClick(window.nav, Qt.Key.Key_Down)
    qtbot.keyClick(window.nav, Qt.Key.Key_Down)
    assert window.current_page_title() == "费用与伤病分离"
    qtbot.keyClick(window.nav, Qt.Key.Key_Up)
    assert window.current_page_title() == "入院登记"


def test_placeholder_pages_say_not_provided(window: MainWindow) -> None:
    for index, title in enumerate(PAGES[:-1]):
        if title in REAL_PAGES:
            continue  # real pages (test_card_page_is_real, test_slip_page_is_real, test_workflow_pages_are_real)
        page = window.stack.widget(index)
        assert isinstance(page, PlaceholderPage)
        texts = _label_texts(page)
        assert title in texts
        assert NOT_PROVIDED in texts


def test_card_page_is_real(window: MainWindow) -> None:
    page = window.stack.widget(0)
    assert isinstance(page, CardPage)
    texts = _label_texts(page)
    assert "读卡" in texts
    assert not any(NOT_PROVIDED in text for text in texts)


def test_slip_page_is_real(window: MainWindow) -> None:
    page = window.stack.widget(PAGES.index("结算单"))
    assert isinstance(page, SlipPage)
    assert not any(NOT_PROVIDED in text for text in _label_texts(page))


def test_workflow_pages_are_real(window: MainWindow) -> None:
    for title, kind in (("入院登记", AdmissionPage), ("出院结算", DischargePage), ("住院一览", StaysPage),
                        ("月度结算", ClaimsPage)):
        page = window.stack.widget(PAGES.index(title))
        assert isinstance(page, kind)
        texts = _label_texts(page)
        assert title in texts
        assert not any(NOT_PROVIDED in text for text in texts)


def test_settings_page_is_real(window: MainWindow) -> None:
    page = window.stack.widget(PAGES.index("设置"))
    assert isinstance(page, SettingsPage)
    assert not any(NOT_PROVIDED in text for text in _label_texts(page))


def test_status_bar(qtbot: QtBot, window: MainWindow, demo_ctx: CounterContext) -> None:
    status = window.statusBar()
    operator = _label(status, "operatorStatus")
    assert operator.text() == "操作员：张收款（收款员）"
    reader = _label(status, "readerStatus")
    centre = _label(status, "centreStatus")
    # The reader depends on the machine (pcscd running or not): it says something definite.
    qtbot.waitUntil(lambda: reader.text() != "读卡器：检测中…", timeout=5000)
    assert reader.text().startswith("读卡器：")
    assert centre.text().startswith("结算中心：")  # its states: tests/ui/test_ui_centre_status.py
    database = _label(status, "databaseStatus")
    qtbot.waitUntil(lambda: database.text().endswith("正常"), timeout=5000)
    assert database.text() == f"数据库：{demo_ctx.database_description} 正常"
    assert demo_ctx.database_description.startswith("SQLite")


def test_status_bar_reports_a_lost_database(qtbot: QtBot, window: MainWindow, demo_ctx: CounterContext) -> None:
    database = _label(window.statusBar(), "databaseStatus")
    qtbot.waitUntil(lambda: database.text().endswith("正常"), timeout=5000)
    # Point the engine at a file that cannot be opened: the next check must say so.
    from sqlalchemy import create_engine

    original = demo_ctx.engine
    demo_ctx.engine = create_engine("sqlite:////nonexistent-folder/x.sqlite3")
    try:
        window.status.check_database()
        qtbot.waitUntil(lambda: database.text() == "数据库：连接失败", timeout=5000)
    finally:
        demo_ctx.engine.dispose()
        demo_ctx.engine = original


def test_title(window: MainWindow, demo_ctx: CounterContext) -> None:
    assert window.windowTitle() == f"工伤联网结算窗口 — 湛江市第一人民医院 — {demo_ctx.counter_name}（演示）"


def test_about_shows_the_version(qtbot: QtBot, window: MainWindow) -> None:
    window.about_action.trigger()  # 帮助 → 关于 (F1 is the key map: tests/ui/test_ui_keyboard.py)
    box = window.findChild(QMessageBox, "aboutBox")
    assert box is not None and box.isVisible()
    assert __version__ in box.informativeText()
    box.close()


def test_ctrl_l_requests_lock(qtbot: QtBot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.lock_requested, timeout=2000):
        qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)


def test_ctrl_q_closes(qtbot: QtBot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.closed, timeout=2000):
        qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()
