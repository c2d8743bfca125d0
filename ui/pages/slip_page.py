"""结算单: preview, print, reprint (补打 n) and archive the slip of a stored settlement.

The page lists the latest settlements (or opens one by its number), shows the slip exactly
as it will print (the PDF in Qt's PDF viewer, with the next print's mark: 原件, 补打 n or
已撤销) and prints both copies (`ui.document_printing`): 打印 on the printer in use without a
dialog, 选择打印机… through the system's print dialog. After each print the PDF is kept in the
archive folder and the print logged (`app.slips.commit_issue`); a print that failed is not
logged. Where the profile sets a 病案首页 deadline (Guangdong, `003 §16`) 病案首页已补齐 is enabled for a
chosen settlement whose 病案首页 is still open (its tooltip says 待补齐 / 已补齐), and 病案首页已补齐 records it for the chosen settlement
(`app.workflow.medical_record`). Database work and rendering run off the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.bootstrap import CounterContext
from app.errors import WiCounterError
from app.operators import OperatorInfo, Permission
from app.settings import SLIP_PAPER
from app.slips import IssuedSlip, SettlementSummary, SlipData, money_text, prepare_slip, recent_settlements
from ui.document_printing import PrintStation, RenderedSlip, SlipPrinted, render_slip_pdf
from ui.operations import Operation, clerk_message, show_failure
from ui.pdf_view import FitWidthPdfView
from ui.qt import (
    QAbstractItemView,
    QBuffer,
    QByteArray,
    QHBoxLayout,
    QHeaderView,
    QFontMetrics,
    QIODevice,
    QLabel,
    QPdfDocument,
    QPushButton,
    QSpinBox,
    QSplitter,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ERROR_COLOUR, ErrorLabel, StatusLine, heading

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.workflow.medical_record import Completion

_COLUMNS = ("编号", "结算日期", "姓名", "社会保障号", "就医登记号", "备注", "合计（元）", "状态")


def _status(summary: SettlementSummary) -> str:
    if summary.cancelled:
        return "已撤销"
    return f"已打印 {summary.prints} 次" if summary.prints else "未打印"


@dataclass(frozen=True)
class _Listed:
    """The list as read in one transaction: the settlements, and their 病案首页 where it is tracked."""

    summaries: list[SettlementSummary]
    tracked: bool  # the profile sets a 病案首页 deadline (003 §16)
    completed: frozenset[int]  # settlements whose 病案首页 is marked complete


def _list(ctx: CounterContext, session: Session) -> _Listed:
    from app.workflow.medical_record import completions, counter_profile, is_tracked

    summaries = recent_settlements(session)
    tracked = is_tracked(counter_profile(ctx))
    done = completions(session, [s.id for s in summaries]) if tracked else {}
    return _Listed(summaries, tracked, frozenset(done))


class SlipPage(QWidget):
    """The 结算单 page. `printed` is emitted after a print was archived and logged."""

    printed = Signal()
    medical_record_marked = Signal()

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None,
                 station: PrintStation | None = None) -> None:
        super().__init__(parent)
        self.title = self.tr("结算单")
        self.station = station if station is not None else PrintStation(ctx, self)
        self.setObjectName("slipPage")
        self._ctx = ctx
        self._operator = operator
        self._current: RenderedSlip | None = None
        self.listed: _Listed | None = None
        self._marking = False
        self._buffer: QBuffer | None = None
        self.last_issued: IssuedSlip | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 16)
        layout.addWidget(heading(self.title, self))

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        layout.addWidget(splitter, 1)

        left = QWidget(splitter)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 8, 0)
        left_layout.addWidget(QLabel(self.tr("最近的结算（双击预览）："), left))
        self.table = QTableWidget(0, len(_COLUMNS), left)
        self.table.setObjectName("settlementsTable")
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in _COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(QFontMetrics(header.font()).horizontalAdvance("编号") + 16)
        # 备注 (a remark such as 省内异地就医) gives way first, elided, so 合计 and 状态 stay in view.
        header.setSectionResizeMode(_COLUMNS.index("备注"), QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.itemActivated.connect(lambda _item: self._open_selected())  # double-click or Enter
        self.table.itemSelectionChanged.connect(self._update_medical_record_button)
        left_layout.addWidget(self.table, 1)

        by_id = QHBoxLayout()
        by_id.addWidget(QLabel(self.tr("结算记录编号："), left))
        self.id_edit = QSpinBox(left)
        self.id_edit.setObjectName("settlementId")
        self.id_edit.setRange(1, 2_147_483_647)
        by_id.addWidget(self.id_edit)
        self.open_button = QPushButton(self.tr("预览(&V)"), left)
        self.open_button.setObjectName("openSlip")
        self.open_button.clicked.connect(lambda: self.open_settlement(self.id_edit.value()))
        by_id.addWidget(self.open_button)
        self.refresh_button = QPushButton(self.tr("刷新列表(&R)"), left)
        self.refresh_button.setObjectName("refreshSettlements")
        self.refresh_button.clicked.connect(self.reload)
        by_id.addWidget(self.refresh_button)
        by_id.addStretch(1)
        # 003 §16: 病案首页可在7天内补齐 — the chosen settlement's, once the records office completed it.
        self.medical_record_button = QPushButton(self.tr("病案首页已补齐(&M)"), left)
        self.medical_record_button.setObjectName("markMedicalRecordSlip")
        self.medical_record_button.setToolTip(self.tr("选中的结算病案首页补齐后按此登记（出院结算后7天内，003 §16）"))
        self.medical_record_button.setEnabled(False)
        self.medical_record_button.hide()  # shown where the profile sets the deadline
        self.medical_record_button.clicked.connect(self.mark_medical_record)
        by_id.addWidget(self.medical_record_button)
        left_layout.addLayout(by_id)
        self.list_message = QLabel("", left)
        self.list_message.setObjectName("slipListMessage")
        self.list_message.setWordWrap(True)
        self.list_message.hide()
        left_layout.addWidget(self.list_message)

        right = QWidget(splitter)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(8, 0, 0, 0)
        self.mark_label = QLabel(self.tr("请选择一条结算记录。"), right)
        self.mark_label.setObjectName("slipMark")
        self.mark_label.setWordWrap(True)
        right_layout.addWidget(self.mark_label)
        # The preview (PDFium) is made on the first slip shown, not with the page: the window then opens
        # and works where PDFium cannot start (it stops the process under Wine 8, issue 24), and starts sooner.
        self._preview_layout = right_layout
        self._preview_placeholder = QLabel(self.tr("选择一条结算记录后，在此预览结算单。"), right)
        self._preview_placeholder.setObjectName("slipPreviewPlaceholder")
        self._preview_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        right_layout.addWidget(self._preview_placeholder, 1)
        self._document: QPdfDocument | None = None
        self._viewer: FitWidthPdfView | None = None
        self.error_label = ErrorLabel(right, object_name="slipError")
        right_layout.addWidget(self.error_label)
        buttons = QHBoxLayout()
        # The archive path has no break: as a preferred width it pushed the splitter and hid the list's
        # 状态 column at 1366 px after each print (StatusLine takes the width it is given).
        self.result_label = StatusLine(right)
        self.result_label.setObjectName("slipResult")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons.addWidget(self.result_label, 1)
        self.print_button = QPushButton(self.tr("打印(&P)"), right)
        self.print_button.setObjectName("printSlip")
        self.print_button.setToolTip(self.tr("在当前打印机上打印（两联），不弹出打印对话框"))
        self.print_button.setEnabled(False)
        self.print_button.clicked.connect(self.print_direct)
        buttons.addWidget(self.print_button)
        self.choose_button = QPushButton(self.tr("选择打印机(&L)…"), right)
        self.choose_button.setObjectName("choosePrinterSlip")
        self.choose_button.setToolTip(self.tr("在系统打印对话框中选择打印机后打印；选定的打印机会被记住"))
        self.choose_button.setEnabled(False)
        self.choose_button.clicked.connect(self.print_with_dialog)
        buttons.addWidget(self.choose_button)
        right_layout.addLayout(buttons)
        # The list gets the room its columns need (状态 included) at 1366×768; the preview fits to
        # its width whatever is left (issue 20 §5).
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([3000, 2000])

        if not operator.can(Permission.PRINT_SLIP):
            for button in (self.print_button, self.choose_button):
                button.setToolTip(self.tr("当前角色无权打印结算单"))
        self.reload()

    # --- the list ---------------------------------------------------------------------

    def reload(self) -> None:
        ctx = self._ctx
        Operation.transaction(self, ctx, lambda session: _list(ctx, session)).success(self._show_list).run()

    def _show_list(self, listed: _Listed) -> None:
        self.listed = listed
        summaries = listed.summaries
        selected = self.selected_settlement_id()
        self.table.setRowCount(len(summaries))
        for row, summary in enumerate(summaries):
            values = (str(summary.id), summary.settled_on.strftime("%Y-%m-%d"), summary.name, summary.masked_id,
                      summary.registration_no, summary.settlement_kind, money_text(summary.total),
                      self.tr(_status(summary)))
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, summary.id)
                if column == 6:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
            if summary.id == selected:
                self.table.selectRow(row)
        self.medical_record_button.setVisible(listed.tracked)
        self._update_medical_record_button()

    def selected_settlement_id(self) -> int | None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        return int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def select_settlement(self, settlement_id: int) -> bool:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and int(item.data(Qt.ItemDataRole.UserRole)) == settlement_id:
                self.table.selectRow(row)
                return True
        return False

    def medical_record_state(self, settlement_id: int) -> str:
        """"待补齐" / "已补齐" / "" (cancelled, not listed, or no deadline in this region)."""
        listed = self.listed
        summary = next((s for s in listed.summaries if s.id == settlement_id), None) if listed is not None else None
        if listed is None or not listed.tracked or summary is None or summary.cancelled:
            return ""
        return self.tr("已补齐") if settlement_id in listed.completed else self.tr("待补齐")

    def _update_medical_record_button(self) -> None:
        listed, chosen = self.listed, self.selected_settlement_id()
        summary = next((s for s in listed.summaries if s.id == chosen), None) if listed is not None else None
        # The list has no room for another column at 1366×768: the chosen row's state is on the button.
        state = self.medical_record_state(chosen) if chosen is not None else ""
        self.medical_record_button.setToolTip(
            self.tr("所选结算的病案首页：{state}").format(state=state) if state else
            self.tr("选中的结算病案首页补齐后按此登记（出院结算后7天内，003 §16）"))
        self.medical_record_button.setEnabled(
            not self._marking and listed is not None and listed.tracked and summary is not None
            and not summary.cancelled and summary.id not in listed.completed
            and self._operator.can(Permission.SETTLE))

    def mark_medical_record(self) -> None:
        """The chosen settlement's 病案首页 is complete (003 §16): recorded and audited."""
        settlement_id = self.selected_settlement_id()
        if settlement_id is None or self._marking or not self.medical_record_button.isEnabled():
            return
        ctx, operator = self._ctx, self._operator

        def work() -> Completion:
            from app.workflow.medical_record import mark_completed

            return mark_completed(ctx, settlement_id, operator)

        def done(completion: Completion) -> None:
            self._marking = False
            self.list_message.setStyleSheet("")
            self.list_message.setText(self.tr("已登记：住院号 {no} {name} 的病案首页已补齐。").format(
                no=completion.admission_no, name=completion.name))
            self.list_message.show()
            self.medical_record_marked.emit()
            self.reload()

        def failed(error: BaseException) -> None:
            self._marking = False
            self.list_message.setStyleSheet(f"color: {ERROR_COLOUR};")
            message = error.message if isinstance(error, WiCounterError) else clerk_message(error)
            self.list_message.setText(self.tr("未登记病案首页补齐：{reason}").format(reason=message))
            self.list_message.show()
            self.reload()

        self._marking = True
        self._update_medical_record_button()
        Operation(self, work).success(done).failure(failed).run()

    def _open_selected(self) -> None:
        row = self.table.currentRow()
        if row < 0:
            return
        item = self.table.item(row, 0)
        if item is not None:
            self.open_settlement(int(item.data(Qt.ItemDataRole.UserRole)))

    # --- preview --------------------------------------------------------------------------

    def open_settlement(self, settlement_id: int) -> None:
        """Preview the slip as its next print will be (原件, 补打 n or 已撤销)."""
        self.error_label.clear_error()
        self._set_print_enabled(False)
        operator = self._operator
        paper = self._ctx.settings.get(SLIP_PAPER)

        def work(session: Session) -> RenderedSlip:
            data = prepare_slip(session, settlement_id, operator)
            return RenderedSlip(data, render_slip_pdf(data, paper))

        Operation.transaction(self, self._ctx, work).success(self._show_slip).failure(self._failed).run()

    @property
    def document(self) -> QPdfDocument:
        """The preview's document, made (with its view, in the placeholder's place) on first use."""
        if self._document is None:
            self._document = QPdfDocument(self)
            holder = self._preview_placeholder.parentWidget()
            assert holder is not None  # the right-hand pane
            viewer = FitWidthPdfView(holder)  # not Qt's FitToWidth: it can loop for ever (ui/pdf_view.py)
            viewer.setObjectName("slipPreview")
            viewer.setDocument(self._document)
            self._preview_layout.replaceWidget(self._preview_placeholder, viewer)
            self._preview_placeholder.hide()
            self._preview_placeholder.deleteLater()
            self._viewer = viewer
        return self._document

    @property
    def viewer(self) -> FitWidthPdfView:
        self.document  # noqa: B018 - made with the document
        assert self._viewer is not None
        return self._viewer

    def _show_slip(self, rendered: RenderedSlip) -> None:
        self._current = rendered
        buffer = QBuffer(self)
        buffer.setData(QByteArray(rendered.pdf))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self.document.load(buffer)
        if self._buffer is not None:
            self._buffer.deleteLater()
        self._buffer = buffer  # QPdfDocument reads from it: keep it alive while shown
        data = rendered.data
        mark = data.mark.label or self.tr("原件")
        self.mark_label.setText(self.tr("结算记录 {id}：{name}，就医登记号 {reg}。本次打印：{mark}").format(
            id=data.settlement_id, name=data.name, reg=data.registration_no or self.tr("（无）"), mark=mark))
        self.print_button.setText(self.tr("打印 {mark}(&P)").format(mark=mark))
        self._set_print_enabled(self._operator.can(Permission.PRINT_SLIP))

    @property
    def current_slip(self) -> SlipData | None:
        return self._current.data if self._current is not None else None

    # --- printing -------------------------------------------------------------------------

    def print_direct(self) -> None:
        """Both copies on the printer in use (chosen this session, else remembered, else the default)."""
        self._print(choose=False)

    def print_with_dialog(self) -> None:
        """The system's print dialog, the remembered printer preselected; print, then archive and log."""
        self._print(choose=True)

    def _print(self, *, choose: bool) -> None:
        rendered = self._current
        if rendered is None or not self._operator.can(Permission.PRINT_SLIP):
            return
        self.error_label.clear_error()
        self.result_label.setText("")
        if self.station.print_slip(self, self._operator, rendered, choose=choose, done=self._issued,
                                   failed=self._print_failed):
            self._set_print_enabled(False)  # until the print is logged: never the same mark twice

    def _set_print_enabled(self, enabled: bool) -> None:
        for button in (self.print_button, self.choose_button):
            button.setEnabled(enabled)

    def _print_failed(self, message: str) -> None:
        self._set_print_enabled(self._current is not None and self._operator.can(Permission.PRINT_SLIP))
        if message:
            self.error_label.show_error(message)

    def _issued(self, printed: SlipPrinted) -> None:
        self.last_issued = printed.issued
        data = printed.data
        what = data.mark.label or self.tr("原件")
        self.result_label.setText(self.tr("已打印{what}（{printer}），已存档：{path}").format(
            what=what, printer=printed.printer, path=printed.issued.archive_path))
        self.printed.emit()
        self.reload()
        if data.settlement_id is not None:
            self.open_settlement(data.settlement_id)  # the next print will be 补打: show it so

    def _failed(self, error: BaseException) -> None:
        self._set_print_enabled(self._current is not None and self._operator.can(Permission.PRINT_SLIP))
        if isinstance(error, WiCounterError):
            self.error_label.show_error(error.message)
        else:
            show_failure(self, error)

