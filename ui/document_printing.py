"""Printing a document from the window: the 结算单 (both copies) and the 全额垫付 receipt.

A document is the PDF that `printing/` renders, the same bytes that are archived. It goes
either straight to the printer (no dialog: the printer chosen in this window's print dialog,
else the remembered `slip.printer`, else the system's default printer) or through the
system's print dialog when the clerk asks for another printer. Each page is rasterised at
300 dpi with Qt PDF and painted on the printer page.

A print that cannot start or finish raises `PrintFailed` with the clerk's Chinese message;
callers log a print (`app.slips.commit_issue`) only after `PrintStation.print_pdf` returned,
so nothing is logged as printed that did not go to a printer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.bootstrap import CounterContext
from app.operators import OperatorInfo
from app.settings import SLIP_ARCHIVE_DIR, SLIP_PAPER, SLIP_PRINTER, Settings
from app.slips import PAPER_A4, IssuedSlip, SlipData, archive_folder, commit_issue, prepare_slip
from ui.operations import Executor, Operation
from ui.pages.workflow_widgets import error_text
from ui.qt import (
    QBuffer,
    QByteArray,
    QCoreApplication,
    QDialog,
    QIODevice,
    QObject,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfDocument,
    QPrintDialog,
    QPrinter,
    QPrinterInfo,
    QRect,
    QSize,
    QWidget,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

PRINT_DPI = 300  # rasterised for the printer at this resolution: sharp text, modest memory
SLIP_DOC_NAME = "工伤保险联网结算单"


def tr(text: str) -> str:
    return QCoreApplication.translate("DocumentPrinting", text)


class PrintFailed(Exception):
    """The document did not (completely) reach a printer; `message` says so to the clerk."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Document:
    """A rendered document: its PDF and how it is printed (paper as `slip.paper`, the job's name)."""

    pdf: bytes
    paper: str
    name: str


@dataclass(frozen=True)
class RenderedSlip:
    data: SlipData
    pdf: bytes


@dataclass(frozen=True)
class SlipPrinted:
    data: SlipData
    issued: IssuedSlip
    printer: str


def render_slip_pdf(data: SlipData, paper: str) -> bytes:
    """The slip in its stay's form (the profile's template: 附表3, Jilin's, the cross-province slip)."""
    from printing.templates import render_slip  # reportlab and the font load on first use

    return render_slip(data, paper=paper)


def set_up_page(printer: QPrinter, paper: str, name: str) -> None:
    """Paper and orientation as `slip.paper`; the documents carry their own margins."""
    if paper == PAPER_A4:
        printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        printer.setPageOrientation(QPageLayout.Orientation.Portrait)
    else:
        printer.setPageSize(QPageSize(QPageSize.PageSizeId.A5))
        printer.setPageOrientation(QPageLayout.Orientation.Landscape)
    printer.setFullPage(True)
    printer.setResolution(PRINT_DPI)
    printer.setDocName(name)


def describe(printer: QPrinter) -> str:
    """The printer as the print log and the clerk name it."""
    if printer.outputFormat() == QPrinter.OutputFormat.PdfFormat and printer.outputFileName():
        return tr("PDF 文件 {path}").format(path=printer.outputFileName())
    return printer.printerName()


class PrintStation(QObject):
    """The window's printers: the one chosen in the print dialog is kept for the next prints of
    this session (with its paper tray and other choices), and its name is remembered in the
    settings for the next start."""

    def __init__(self, ctx: CounterContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.chosen: QPrinter | None = None

    # --- which printer ----------------------------------------------------------------------

    def direct_printer(self, document: Document) -> QPrinter:
        """The printer for a print without a dialog; PrintFailed when there is none to use."""
        printer = self.chosen
        if printer is None:
            name = self._ctx.settings.get(SLIP_PRINTER) or QPrinterInfo.defaultPrinterName()
            if not name:
                raise PrintFailed(tr("未设置打印机，也没有系统默认打印机：请按“选择打印机…”选一台打印机（选定后会记住）。"))
            info = QPrinterInfo.printerInfo(name)
            if info.isNull():
                raise PrintFailed(tr("打印机“{name}”不可用（未连接、已关机或已删除）：请检查打印机，"
                                     "或按“选择打印机…”另选一台。").format(name=name))
            printer = QPrinter(info, QPrinter.PrinterMode.HighResolution)
        set_up_page(printer, document.paper, document.name)
        return printer

    def choose_printer(self, parent: QWidget, document: Document, title: str) -> QPrinter | None:
        """The system's print dialog, the current printer preselected; None when cancelled."""
        printer = self.chosen  # the dialog starts from the last choice (printer, tray, file)
        if printer is None:
            printer = QPrinter(QPrinter.PrinterMode.HighResolution)
            remembered = self._ctx.settings.get(SLIP_PRINTER)
            if remembered:
                printer.setPrinterName(remembered)  # ignored by Qt when that printer is gone
        set_up_page(printer, document.paper, document.name)
        dialog = QPrintDialog(printer, parent)
        dialog.setWindowTitle(title)
        # exec(), not open(): Windows shows its native print dialog only modally, and
        # PySide6's QPrintDialog.open() needs a receiver (issue 20: it raised TypeError).
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        dialog.deleteLater()
        if not accepted:
            return None
        self.chosen = printer
        name = printer.printerName()
        if name and printer.outputFormat() != QPrinter.OutputFormat.PdfFormat:
            self._remember(name)
        return printer

    def _remember(self, name: str) -> None:
        settings = self._ctx.settings
        if settings.get(SLIP_PRINTER) == name:
            return
        settings.set(SLIP_PRINTER, name)
        path = settings.path

        def write() -> None:
            on_disk = Settings.load(path)  # re-read: keep what others changed meanwhile
            on_disk.set(SLIP_PRINTER, name)
            on_disk.save()

        Operation(self, write, executor=Executor.BACKGROUND).run()

    # --- painting ---------------------------------------------------------------------------

    def print_pdf(self, printer: QPrinter, pdf: bytes) -> str:
        """Paint every page of `pdf` on `printer`; returns the printer's description."""
        where = describe(printer) or tr("默认打印机")
        buffer = QBuffer()
        buffer.setData(QByteArray(pdf))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        document = QPdfDocument()
        document.load(buffer)
        if document.status() != QPdfDocument.Status.Ready or document.pageCount() == 0:
            raise PrintFailed(tr("待打印的文件无法读取，未打印。请重新预览后再打印。"))
        painter = QPainter()
        if not painter.begin(printer):
            raise PrintFailed(tr("无法在打印机“{name}”上开始打印（打印机未就绪或无法写入），未打印。"
                                 "请检查打印机后重试，或按“选择打印机…”另选一台。").format(name=where))
        complete = True
        try:
            for page in range(document.pageCount()):
                if page > 0 and not printer.newPage():
                    complete = False
                    break
                # The page's own size, scaled to the paper without distortion, from the top-left corner.
                viewport = painter.viewport()
                points = document.pagePointSize(page)
                scale = min(viewport.width() / points.width(), viewport.height() / points.height())
                size = QSize(round(points.width() * scale), round(points.height() * scale))
                painter.drawImage(QRect(viewport.topLeft(), size), document.render(page, size))
        finally:
            painter.end()
        if not complete or printer.printerState() in (QPrinter.PrinterState.Error, QPrinter.PrinterState.Aborted):
            raise PrintFailed(tr("打印机“{name}”未能打印完整，请检查打印机，取出已打出的纸张后重新打印。").format(name=where))
        log.info("已送打印：%s，%s 页", printer.docName(), document.pageCount())
        return where

    def print_document(self, parent: QWidget, document: Document, *, choose: bool, title: str) -> str | None:
        """Print on the direct printer, or on one chosen in the dialog (None: the clerk cancelled)."""
        printer = self.choose_printer(parent, document, title) if choose else self.direct_printer(document)
        if printer is None:
            return None
        return self.print_pdf(printer, document.pdf)

    # --- the slip: print, then archive and log -----------------------------------------------------

    def print_slip(self, owner: QWidget, operator: OperatorInfo, rendered: RenderedSlip, *, choose: bool,
                   done: Callable[[SlipPrinted], object], failed: Callable[[str], object]) -> bool:
        """Print the rendered slip (both copies), then archive its PDF and log the print on the
        database thread. False when nothing was sent: `failed` has been told why (an empty message
        when the clerk cancelled the print dialog)."""
        document = Document(rendered.pdf, self._ctx.settings.get(SLIP_PAPER), tr(SLIP_DOC_NAME))
        try:
            where = self.print_document(owner, document, choose=choose, title=tr("打印结算单"))
        except PrintFailed as failure:
            log.warning("结算单未打印：结算记录 %s，%s", rendered.data.settlement_id, failure.message)
            failed(failure.message)
            return False
        if where is None:
            failed("")  # the clerk cancelled the dialog: nothing printed, nothing to say
            return False
        operator_id = operator.id
        folder = archive_folder(self._ctx.settings.get(SLIP_ARCHIVE_DIR), self._ctx.paths.data_dir)
        Operation.transaction(
            owner, self._ctx,
            lambda session: commit_issue(session, rendered.data, rendered.pdf, operator_id=operator_id,
                                         printer=where, folder=folder),
        ).success(lambda issued: done(SlipPrinted(rendered.data, issued, where))).failure(
            lambda error: failed(tr("已送打印，但未能记录打印：{reason}").format(reason=error_text(error)))).run()
        return True

    def print_settlement(self, owner: QWidget, operator: OperatorInfo, settlement_id: int, *, choose: bool,
                         done: Callable[[SlipPrinted], object], failed: Callable[[str], object]) -> None:
        """The settlement's slip as its next print (原件, 补打 n or 已撤销), rendered on the database
        thread, then printed as `print_slip`."""
        paper = self._ctx.settings.get(SLIP_PAPER)

        def work(session: Session) -> RenderedSlip:
            data = prepare_slip(session, settlement_id, operator)
            return RenderedSlip(data, render_slip_pdf(data, paper))

        Operation.transaction(owner, self._ctx, work).success(
            lambda rendered: self.print_slip(owner, operator, rendered, choose=choose, done=done, failed=failed)
        ).failure(lambda error: failed(error_text(error))).run()
