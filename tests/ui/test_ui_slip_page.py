"""The 结算单 page: list, preview in the PDF viewer, print through Qt's real print dialog (driven
from a timer; the clerk's "print to file" choice, there is no printer here) or straight to the
printer in use, archive and log; 补打 n after the first print; 已撤销 after a cancellation; a
print that fails says so and is not logged."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pdfplumber
import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.business_date import business_today
from app.bootstrap import CounterContext
from app.db.models import Operator, PrintKind, Settlement
from app.operators import OperatorInfo
from app.settings import SLIP_ARCHIVE_DIR, SLIP_PAPER, SLIP_PRINTER
from app.slips import print_history, record_cancellation
from tests.slip_reader import read_slip, to_png
from tests.ui.print_dialogs import cancel_dialog, is_blank, pdf_text, picture_likeness, print_to_file
from ui.pages.slip_page import SlipPage
from ui.qt import Qt

pytestmark = pytest.mark.gui

ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "slips"
SAME_PICTURE = 0.6  # a printed page vs its document: 0.75–0.93; vs another document ≈ 0.1; 3 px off ≈ 0.5


def _settle(ctx: CounterContext) -> int:
    """The demo counter's settled stay (`app.demo` seeds the official sample's figures)."""
    with ctx.transaction() as session:
        return session.scalars(select(Settlement.id)).one()


@pytest.fixture
def page(qtbot: QtBot, demo_ctx: CounterContext,
         operator_of: Callable[[CounterContext, str], OperatorInfo], tmp_path: Path) -> SlipPage:
    demo_ctx.settings.set(SLIP_ARCHIVE_DIR, str(tmp_path / "archive"))
    widget = SlipPage(demo_ctx, operator_of(demo_ctx, "cashier"))
    qtbot.addWidget(widget)
    return widget


def _open(qtbot: QtBot, page: SlipPage, settlement_id: int, mark: str) -> None:
    page.open_settlement(settlement_id)
    qtbot.waitUntil(lambda: page.current_slip is not None and mark in page.mark_label.text(), timeout=10_000)


def _history(ctx: CounterContext, settlement_id: int) -> list[PrintKind]:
    with ctx.transaction() as session:
        return [h.kind for h in print_history(session, settlement_id)]


def _archived(tmp_path: Path) -> list[str]:
    folder = tmp_path / "archive"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_lists_previews_prints_through_the_real_dialog_archives_and_logs(
        qtbot: QtBot, page: SlipPage, demo_ctx: CounterContext, tmp_path: Path) -> None:
    """选择打印机… opens Qt's own print dialog; the clerk prints to a PDF file; both copies reach
    it, the archive keeps the vector slip and the print is logged as 原件 (issue 20: the dialog
    raised TypeError and nothing printed)."""
    settlement_id = _settle(demo_ctx)
    page.reload()
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=10_000)
    assert page.table.item(0, 2).text() == "姚某某"
    assert page.table.item(0, 3).text() == "440802********1241"  # masked in the list
    assert page.table.item(0, 6).text() == "24184.00"

    page.table.selectRow(0)
    page._open_selected()
    qtbot.waitUntil(lambda: page.current_slip is not None, timeout=10_000)
    assert "本次打印：原件" in page.mark_label.text()
    assert page.document.pageCount() == 1  # A4: both copies on one sheet
    assert page.print_button.isEnabled() and page.choose_button.isEnabled()

    printed = tmp_path / "printed.pdf"
    dialog = print_to_file(printed)
    qtbot.mouseClick(page.choose_button, Qt.MouseButton.LeftButton)
    assert [type(d).__name__ for d in dialog.seen] == ["QPrintDialog"]
    assert dialog.texts == ["打印结算单"]
    qtbot.waitUntil(lambda: page.last_issued is not None, timeout=10_000)
    assert page.last_issued is not None
    assert _history(demo_ctx, settlement_id) == [PrintKind.ORIGINAL]

    # What reached the "printer": one A4 sheet carrying the slip as drawn (rasterised at 300 dpi),
    # the same picture as the archived vector slip whose text is read back.
    with pdfplumber.open(printed) as document:
        assert len(document.pages) == 1
        sheet = document.pages[0]
        assert (round(sheet.width), round(sheet.height)) == (595, 842)
        assert len(sheet.images) == 1
    to_png(printed, ARTEFACTS / "ui-printed", dpi=60)
    archived = page.last_issued.archive_path
    assert archived.parent == tmp_path / "archive"
    assert archived.name == f"结算单_sa000d20201117000001_{business_today():%Y%m%d}_原件.pdf"
    assert not is_blank(printed)
    assert picture_likeness(printed, archived) > SAME_PICTURE
    text = pdf_text(archived)
    assert text.count("广东省工伤保险联网结算单") == 2  # both copies
    assert "协议机构留存" in text and "工伤职工留存" in text
    assert text.count("姚某某") == 2 and text.count("24184.00") >= 2
    copy = read_slip(archived.read_bytes()).copies[0]
    assert "制单人：张收款" in "".join(copy.lines())
    assert copy.text_in(copy.at(copy.cell_with("药品费用"), copy.cell_with("工伤保险基金支付金额"))) == "5884.00"
    with demo_ctx.transaction() as session:
        history = print_history(session, settlement_id)
    assert [(h.kind, h.operator, h.printer) for h in history] == [(PrintKind.ORIGINAL, "张收款", f"PDF 文件 {printed}")]
    assert f"PDF 文件 {printed}" in page.result_label.text()

    # The next print is a reprint, and the page says so before it is printed.
    qtbot.waitUntil(lambda: "补打（第 1 次）" in page.mark_label.text(), timeout=10_000)
    assert "补打（第 1 次）" in page.print_button.text()
    qtbot.waitUntil(lambda: page.table.item(0, 7) is not None and page.table.item(0, 7).text() == "已打印 1 次",
                    timeout=10_000)

    # 打印 (no dialog): the 补打 on the printer chosen a moment ago.
    page.last_issued = None
    qtbot.mouseClick(page.print_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_issued is not None, timeout=10_000)
    assert _history(demo_ctx, settlement_id) == [PrintKind.ORIGINAL, PrintKind.REPRINT]
    reprint = page.last_issued.archive_path
    assert reprint.name.endswith("_补打1.pdf")
    assert picture_likeness(printed, reprint) > SAME_PICTURE
    assert "补打（第 1 次）" in pdf_text(reprint)


def test_a_cancelled_dialog_prints_and_logs_nothing(qtbot: QtBot, page: SlipPage, demo_ctx: CounterContext,
                                                   tmp_path: Path) -> None:
    settlement_id = _settle(demo_ctx)
    _open(qtbot, page, settlement_id, "原件")
    dialog = cancel_dialog()
    qtbot.mouseClick(page.choose_button, Qt.MouseButton.LeftButton)
    assert len(dialog.seen) == 1
    assert _history(demo_ctx, settlement_id) == []
    assert _archived(tmp_path) == []
    assert page.print_button.isEnabled() and page.error_label.isHidden()


def test_an_unusable_remembered_printer_says_so_and_logs_nothing(qtbot: QtBot, page: SlipPage,
                                                                 demo_ctx: CounterContext, tmp_path: Path) -> None:
    demo_ctx.settings.set(SLIP_PRINTER, "收费处-HP-9")  # remembered, since unplugged
    settlement_id = _settle(demo_ctx)
    _open(qtbot, page, settlement_id, "原件")
    qtbot.mouseClick(page.print_button, Qt.MouseButton.LeftButton)
    assert not page.error_label.isHidden()
    assert page.error_label.text().startswith("打印机“收费处-HP-9”不可用")
    assert "选择打印机" in page.error_label.text()
    assert _history(demo_ctx, settlement_id) == [] and _archived(tmp_path) == []
    assert page.print_button.isEnabled()  # try again once the printer is back


def test_a_printer_that_cannot_start_says_so_and_logs_nothing(qtbot: QtBot, page: SlipPage,
                                                              demo_ctx: CounterContext, tmp_path: Path) -> None:
    """The printer chosen earlier cannot start the job (here: its output folder has gone)."""
    settlement_id = _settle(demo_ctx)
    _open(qtbot, page, settlement_id, "原件")
    folder = tmp_path / "out"
    folder.mkdir()
    print_to_file(folder / "first.pdf")
    qtbot.mouseClick(page.choose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_issued is not None and "补打" in page.print_button.text(), timeout=10_000)
    shutil.rmtree(folder)
    qtbot.mouseClick(page.print_button, Qt.MouseButton.LeftButton)
    assert page.error_label.text().startswith("无法在打印机“PDF 文件")
    assert "未打印" in page.error_label.text()
    assert _history(demo_ctx, settlement_id) == [PrintKind.ORIGINAL]  # the 补打 was not logged
    assert [n for n in _archived(tmp_path) if "补打" in n] == []


def test_a5_landscape_prints_two_sheets(qtbot: QtBot, page: SlipPage, demo_ctx: CounterContext,
                                        tmp_path: Path) -> None:
    demo_ctx.settings.set(SLIP_PAPER, "A5横向")
    settlement_id = _settle(demo_ctx)
    _open(qtbot, page, settlement_id, "原件")
    assert page.document.pageCount() == 2
    printed = tmp_path / "a5.pdf"
    print_to_file(printed)
    qtbot.mouseClick(page.choose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_issued is not None, timeout=10_000)
    with pdfplumber.open(printed) as document:
        assert [(round(p.width), round(p.height)) for p in document.pages] == [(595, 420), (595, 420)]
    assert picture_likeness(printed, page.last_issued.archive_path) > SAME_PICTURE
    pages = pdf_text(page.last_issued.archive_path).split("\f")
    assert "协议机构留存" in pages[0] and "工伤职工留存" in pages[1]


def test_a_cancelled_settlement_previews_and_prints_as_cancelled(qtbot: QtBot, page: SlipPage,
                                                                 demo_ctx: CounterContext, tmp_path: Path) -> None:
    settlement_id = _settle(demo_ctx)
    with demo_ctx.transaction() as session:
        reviewer = session.scalars(select(Operator).where(Operator.login == "reviewer")).one()
        record_cancellation(session, settlement_id, operator_id=reviewer.id, counter_name="1号窗口",
                            reason="结算信息有误", msgid="M0002", cancelled_at=dt.datetime.now(dt.UTC))
    _open(qtbot, page, settlement_id, "已撤销")
    assert "已撤销" in page.print_button.text()
    printed = tmp_path / "cancelled.pdf"
    print_to_file(printed)
    qtbot.mouseClick(page.choose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_issued is not None, timeout=10_000)
    assert _history(demo_ctx, settlement_id) == [PrintKind.CANCELLED]
    assert page.last_issued.archive_path.name.endswith("_已撤销.pdf")
    assert pdf_text(page.last_issued.archive_path).count("已撤销") >= 2  # both copies marked
    assert picture_likeness(printed, page.last_issued.archive_path) > SAME_PICTURE
    page.reload()
    qtbot.waitUntil(lambda: page.table.rowCount() == 1 and page.table.item(0, 7).text() == "已撤销", timeout=10_000)


def test_an_unknown_settlement_says_so(qtbot: QtBot, page: SlipPage) -> None:
    page.id_edit.setValue(4242)
    page.open_button.click()
    qtbot.waitUntil(lambda: not page.error_label.isHidden(), timeout=10_000)
    assert "没有编号为 4242 的结算记录" in page.error_label.text()
    assert not page.print_button.isEnabled()
