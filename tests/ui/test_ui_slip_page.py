"""The 结算单 page: list, preview in the PDF viewer, print (to a PDF-writing QPrinter: no printer
here), archive and log; 补打 n after the first print; 已撤销 after a cancellation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pdfplumber
import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.db.models import Operator, PrintKind, Settlement
from app.operators import OperatorInfo
from app.settings import SLIP_ARCHIVE_DIR, SLIP_PAPER, SLIP_PRINTER, Settings
from app.slips import print_history, record_cancellation
from tests.slip_reader import read_slip, to_png
from ui.pages.slip_page import SlipPage
from ui.qt import QDialog, QPrinter, QWidget

pytestmark = pytest.mark.gui

ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "slips"


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


def _pdf_printer(path: Path, page: SlipPage) -> QPrinter:
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(path))
    page.prepare_printer(printer)
    return printer


class _NamedPrinter(QPrinter):
    """A printer that reports a name, as a real one chosen in the dialog would (it writes a PDF)."""

    def printerName(self) -> str:  # noqa: N802 - Qt's name
        return "收费处-HP-1"


class _FakeDialog(QDialog):
    """Stands in for the system's print dialog: accepts (the clerk presses 打印) or cancels."""

    def __init__(self, printer: QPrinter, parent: QWidget, accept: bool, output: Path) -> None:
        super().__init__(parent)
        self.printer = printer
        self._accept = accept
        self._output = output

    def open(self) -> None:
        if self._accept:  # the clerk chose "print to file" in the dialog and pressed 打印
            self.printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
            self.printer.setOutputFileName(str(self._output))
            self.accept()
        else:
            self.reject()


def _open(qtbot: QtBot, page: SlipPage, settlement_id: int, mark: str) -> None:
    page.open_settlement(settlement_id)
    qtbot.waitUntil(lambda: page.current_slip is not None and mark in page.mark_label.text(), timeout=10_000)


def test_lists_previews_prints_archives_and_logs(qtbot: QtBot, page: SlipPage, demo_ctx: CounterContext,
                                                 tmp_path: Path) -> None:
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
    assert page.print_button.isEnabled()

    printed = tmp_path / "printed.pdf"
    page.print_to(_pdf_printer(printed, page))
    qtbot.waitUntil(lambda: page.last_issued is not None, timeout=10_000)
    assert page.last_issued is not None

    # What reached the "printer": one A4 sheet with the slip drawn on it.
    with pdfplumber.open(printed) as document:
        assert len(document.pages) == 1
        sheet = document.pages[0]
        assert (round(sheet.width), round(sheet.height)) == (595, 842)
        assert len(sheet.images) == 1
    to_png(printed, ARTEFACTS / "ui-printed", dpi=60)

    # The archive keeps the vector slip, named by 就医登记号 and date, marked as printed.
    archived = page.last_issued.archive_path
    assert archived.parent == tmp_path / "archive"
    assert archived.name == f"结算单_sa000d20201117000001_{dt.date.today():%Y%m%d}_原件.pdf"
    copy = read_slip(archived.read_bytes()).copies[0]
    assert "制单人：张收款" in "".join(copy.lines())
    assert copy.text_in(copy.at(copy.cell_with("药品费用"), copy.cell_with("工伤保险基金支付金额"))) == "5884.00"

    with demo_ctx.transaction() as session:
        history = print_history(session, settlement_id)
    assert [(h.kind, h.operator, h.printer) for h in history] == [(PrintKind.ORIGINAL, "张收款", f"PDF 文件 {printed}")]

    # The next print is a reprint, and the page says so before it is printed.
    qtbot.waitUntil(lambda: "补打（第 1 次）" in page.mark_label.text(), timeout=10_000)
    assert "补打（第 1 次）" in page.print_button.text()
    qtbot.waitUntil(lambda: page.table.item(0, 7) is not None and page.table.item(0, 7).text() == "已打印 1 次",
                    timeout=10_000)


def test_print_dialog_accepted_prints_reprint_cancelled_prints_nothing(qtbot: QtBot, page: SlipPage,
                                                                      demo_ctx: CounterContext,
                                                                      tmp_path: Path) -> None:
    settlement_id = _settle(demo_ctx)
    _open(qtbot, page, settlement_id, "原件")
    output = tmp_path / "dialog.pdf"
    page.dialog_factory = lambda printer, parent: _FakeDialog(printer, parent, False, output)
    page.print_with_dialog()
    assert not output.exists()
    with demo_ctx.transaction() as session:
        assert print_history(session, settlement_id) == []

    page.dialog_factory = lambda printer, parent: _FakeDialog(printer, parent, True, output)
    page.print_with_dialog()
    qtbot.waitUntil(lambda: page.last_issued is not None, timeout=10_000)
    assert output.exists()
    with demo_ctx.transaction() as session:
        assert [h.kind for h in print_history(session, settlement_id)] == [PrintKind.ORIGINAL]


def test_the_chosen_printer_is_remembered(qtbot: QtBot, page: SlipPage, demo_ctx: CounterContext,
                                          tmp_path: Path) -> None:
    settlement_id = _settle(demo_ctx)
    _open(qtbot, page, settlement_id, "原件")
    printer = _NamedPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(tmp_path / "named.pdf"))
    page.prepare_printer(printer)
    page.print_to(printer)
    qtbot.waitUntil(lambda: page.last_issued is not None, timeout=10_000)
    assert demo_ctx.settings.get(SLIP_PRINTER) == "收费处-HP-1"
    qtbot.waitUntil(lambda: Settings.load(demo_ctx.settings.path).get(SLIP_PRINTER) == "收费处-HP-1", timeout=10_000)
    with demo_ctx.transaction() as session:
        assert print_history(session, settlement_id)[0].printer == "收费处-HP-1"


def test_a5_landscape_prints_two_sheets(qtbot: QtBot, page: SlipPage, demo_ctx: CounterContext,
                                        tmp_path: Path) -> None:
    demo_ctx.settings.set(SLIP_PAPER, "A5横向")
    settlement_id = _settle(demo_ctx)
    _open(qtbot, page, settlement_id, "原件")
    assert page.document.pageCount() == 2
    printed = tmp_path / "a5.pdf"
    page.print_to(_pdf_printer(printed, page))
    qtbot.waitUntil(lambda: page.last_issued is not None, timeout=10_000)
    with pdfplumber.open(printed) as document:
        assert [(round(p.width), round(p.height)) for p in document.pages] == [(595, 420), (595, 420)]


def test_a_cancelled_settlement_previews_as_cancelled(qtbot: QtBot, page: SlipPage, demo_ctx: CounterContext) -> None:
    settlement_id = _settle(demo_ctx)
    with demo_ctx.transaction() as session:
        reviewer = session.scalars(select(Operator).where(Operator.login == "reviewer")).one()
        record_cancellation(session, settlement_id, operator_id=reviewer.id, counter_name="1号窗口",
                            reason="结算信息有误", msgid="M0002", cancelled_at=dt.datetime.now(dt.UTC))
    _open(qtbot, page, settlement_id, "已撤销")
    assert "已撤销" in page.print_button.text()
    page.reload()
    qtbot.waitUntil(lambda: page.table.rowCount() == 1 and page.table.item(0, 7).text() == "已撤销", timeout=10_000)


def test_an_unknown_settlement_says_so(qtbot: QtBot, page: SlipPage) -> None:
    page.id_edit.setValue(4242)
    page.open_button.click()
    qtbot.waitUntil(lambda: not page.error_label.isHidden(), timeout=10_000)
    assert "没有编号为 4242 的结算记录" in page.error_label.text()
    assert not page.print_button.isEnabled()
