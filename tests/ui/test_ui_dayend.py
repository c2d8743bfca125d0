"""日结 in the window (issue 20 §10): 文件 → 日结… opens the cashier's 收款员日结单 for today; the
date picker shows another day; 选择打印机… prints it through Qt's real print dialog to a PDF file,
whose text is the report. A cashier cannot pick another operator; a reviewer can.
Screenshots at 1366×768 go to test-artifacts/dayend/."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.business_date import business_today
from app.bootstrap import CounterContext
from app.db.models import Settlement
from app.institution import InstitutionInfo
from app.operators import OperatorInfo
from tests.slip_reader import to_png
from tests.ui.artefacts import ARTEFACTS, save_shot
from tests.ui.print_dialogs import pdf_text, picture_likeness, print_to_file
from ui.dayend_dialog import DayEndDialog
from ui.main_window import MainWindow
from ui.qt import QApplication, QDate, Qt

pytestmark = pytest.mark.gui

WAIT_MS = 10_000
SAME_PICTURE = 0.6  # a printed page vs its document: 0.75–0.93; vs another document ≈ 0.1 (print_dialogs.py)


def _window(qtbot: QtBot, ctx: CounterContext, operator: OperatorInfo, institution: InstitutionInfo | None) -> MainWindow:
    main = MainWindow(ctx, operator, institution)
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    main.resize(1366, 768)  # the commonest counter screen
    return main


def _from_file_menu(window: MainWindow) -> DayEndDialog:
    [file_menu] = [a.menu() for a in window.menuBar().actions() if a.text() == "文件(&F)"]
    [action] = [a for a in file_menu.actions() if a.text() == "日结(&J)…"]
    action.trigger()
    dialog = window.day_end_dialog
    assert isinstance(dialog, DayEndDialog) and dialog.isVisible()
    return dialog


def _rows(dialog: DayEndDialog) -> dict[str, tuple[str, str]]:
    table = dialog.table
    return {table.item(r, 0).text().strip(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}


def test_day_end_from_the_menu_shows_and_prints_the_cashiers_day(
    qtbot: QtBot, tmp_path: Path, demo_ctx: CounterContext,
    operator_of: Callable[[CounterContext, str], OperatorInfo],
    institution_of: Callable[[CounterContext], InstitutionInfo | None],
) -> None:
    with demo_ctx.transaction() as session:
        settlement = session.scalars(select(Settlement)).one()  # the demo's sample, by 张收款
        day, personal = settlement.settled_at.astimezone().date(), settlement.personal_total
    window = _window(qtbot, demo_ctx, operator_of(demo_ctx, "cashier"), institution_of(demo_ctx))

    dialog = _from_file_menu(window)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=WAIT_MS)
    assert dialog.report is not None and dialog.report.day == business_today()
    assert _rows(dialog)["应交现金合计"] == ("", "0.00")
    assert not dialog.operator_combo.isEnabled()  # a cashier sees only their own day

    dialog.date_edit.setDate(QDate(day.year, day.month, day.day))
    qtbot.waitUntil(lambda: dialog.report is not None and dialog.report.day == day, timeout=WAIT_MS)
    rows = _rows(dialog)
    assert rows["联网结算（收取个人支付）"] == ("1", f"{personal:,.2f}")
    assert rows["应交现金合计"] == ("", f"{personal:,.2f}")
    assert dialog.cash_label.text() == f"应交现金：¥{personal:,.2f}"
    assert "张收款（cashier）" in dialog.header_label.text()
    shot = save_shot(dialog, "dayend", "dayend-dialog-1366x768.png")
    assert shot.is_file()

    # 选择打印机…: Qt's own print dialog, printing to a PDF file, through the window's print station.
    printed = tmp_path / "日结单.pdf"
    driver = print_to_file(printed)
    qtbot.mouseClick(dialog.choose_printer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.last_printed is not None, timeout=WAIT_MS)
    assert [type(d).__name__ for d in driver.seen] == ["QPrintDialog"] and not driver.errors
    assert dialog.print_label.text() == f"已打印日结单（PDF 文件 {printed}）。"
    assert window.print_station.chosen is not None  # the next print goes to the same printer
    # The printer gets a 300 dpi picture of the document's page: the same picture, and the document's text.
    document = tmp_path / "document.pdf"
    assert dialog.last_pdf is not None
    document.write_bytes(dialog.last_pdf)
    assert picture_likeness(printed, document) > SAME_PICTURE
    text = pdf_text(document)
    for expected in ("收款员日结单", "收款员：张收款（cashier）", f"{day.year}年{day.month:02d}月{day.day:02d}日",
                     "收款员签字：", "财务签收：", "打印时间："):
        assert expected in text, expected
    [cash] = [line for line in text.splitlines() if "应交现金合计" in line]
    assert cash.split()[-1] == f"{personal:,.2f}"
    to_png(printed, ARTEFACTS / "dayend" / "dayend-printed", dpi=60)
    dialog.close()


def test_a_reviewer_may_pick_another_operators_day(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo],
    institution_of: Callable[[CounterContext], InstitutionInfo | None],
) -> None:
    window = _window(qtbot, demo_ctx, operator_of(demo_ctx, "reviewer"), institution_of(demo_ctx))
    dialog = window.open_day_end()
    qtbot.waitUntil(lambda: dialog.operator_combo.count() > 1, timeout=WAIT_MS)
    assert dialog.operator_combo.isEnabled()
    index = dialog.operator_combo.findText("张收款（cashier）")
    assert index > 0
    dialog.operator_combo.setCurrentIndex(index)
    qtbot.waitUntil(lambda: dialog.report is not None and dialog.report.operator_login == "cashier", timeout=WAIT_MS)
    assert "张收款（cashier）" in dialog.header_label.text()
    assert QApplication.activeModalWidget() is None
    dialog.close()
