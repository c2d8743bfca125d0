"""日结 (issue 20 §10): the 收款员日结单 on screen and on paper, from 文件 → 日结….

Shows today's report of the signed-in operator (another date from the date picker). A reviewer
or administrator may pick another operator; a cashier sees only their own (the service checks it
too). 打印 goes through the window's `PrintStation` like the 全额垫付 receipt: the printer in use,
or one chosen in the system's print dialog.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from app.business_date import business_today
from app.bootstrap import CounterContext
from app.operators import OperatorInfo, Permission, list_operators
from app.slips import PAPER_A4
from app.workflow.dayend import DayEndReport, day_end_report
from ui.document_printing import Document, PrintFailed, PrintStation
from ui.operations import Operation
from ui.pages.workflow_widgets import error_text, to_qdate
from ui.qt import (
    QAbstractItemView,
    QComboBox,
    QDate,
    QDateEdit,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import ErrorLabel, heading

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

COLUMNS = ("项目", "笔数", "金额（元）")


class DayEndDialog(QDialog):
    def __init__(self, ctx: CounterContext, operator: OperatorInfo, station: PrintStation,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dayEndDialog")
        self.setWindowTitle(self.tr("日结"))
        self.resize(640, 560)
        self._ctx = ctx
        self._operator = operator
        self._station = station
        self.report: DayEndReport | None = None
        self.last_printed: str | None = None
        self.last_pdf: bytes | None = None  # the document last printed (the printer gets a picture of it)

        layout = QVBoxLayout(self)
        layout.addWidget(heading(self.tr("收款员日结单"), self, "dayEndTitle", size=1.3))
        choose = QHBoxLayout()
        date_label = QLabel(self.tr("日期(&D)："), self)
        self.date_edit = QDateEdit(to_qdate(business_today()), self)
        self.date_edit.setObjectName("dayEndDate")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setMaximumDate(to_qdate(business_today()))
        date_label.setBuddy(self.date_edit)
        choose.addWidget(date_label)
        choose.addWidget(self.date_edit)
        choose.addSpacing(16)
        who_label = QLabel(self.tr("收款员(&O)："), self)
        self.operator_combo = QComboBox(self)
        self.operator_combo.setObjectName("dayEndOperator")
        self.operator_combo.addItem(f"{operator.display_name}（{operator.login}）", operator.id)
        # Only a reviewer or administrator may look at someone else's day.
        self.operator_combo.setEnabled(operator.can(Permission.VIEW_OTHERS_DAY_END))
        who_label.setBuddy(self.operator_combo)
        choose.addWidget(who_label)
        choose.addWidget(self.operator_combo, 1)
        layout.addLayout(choose)

        self.header_label = QLabel("", self)
        self.header_label.setObjectName("dayEndHeader")
        layout.addWidget(self.header_label)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("dayEndTable")
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)
        self.cash_label = QLabel("", self)
        self.cash_label.setObjectName("dayEndCash")
        font = self.cash_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.cash_label.setFont(font)
        layout.addWidget(self.cash_label)
        note = QLabel(self.tr("应交现金 = 联网结算收取的个人支付 + 全额垫付收取 − 撤销结算退还（补登记不退款，003 §17）。"
                              "打印后与现金一并上交财务。"), self)
        note.setWordWrap(True)
        layout.addWidget(note)
        self.error_label = ErrorLabel(self)
        layout.addWidget(self.error_label)
        self.print_label = QLabel("", self)
        self.print_label.setObjectName("dayEndPrinted")
        self.print_label.setWordWrap(True)
        layout.addWidget(self.print_label)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.print_button = QPushButton(self.tr("打印(&P)"), self)
        self.print_button.setObjectName("dayEndPrint")
        self.print_button.clicked.connect(lambda: self.print_report(choose=False))
        self.choose_printer_button = QPushButton(self.tr("选择打印机(&S)…"), self)
        self.choose_printer_button.setObjectName("dayEndChoosePrinter")
        self.choose_printer_button.clicked.connect(lambda: self.print_report(choose=True))
        close = QPushButton(self.tr("关闭(&C)"), self)
        close.clicked.connect(self.reject)
        for button in (self.print_button, self.choose_printer_button, close):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self._set_printable(False)

        self.date_edit.dateChanged.connect(lambda _: self.reload())
        self.operator_combo.currentIndexChanged.connect(lambda _: self.reload())
        if self.operator_combo.isEnabled():
            self._load_operators()
        self.reload()

    # --- loading ------------------------------------------------------------------------------

    def _load_operators(self) -> None:
        Operation.transaction(self, self._ctx, list_operators).success(self._show_operators).failure(
            lambda error: self.error_label.show_error(error_text(error))).run()

    def _show_operators(self, operators: list[OperatorInfo]) -> None:
        self.operator_combo.blockSignals(True)
        for other in operators:
            if other.id != self._operator.id:
                self.operator_combo.addItem(f"{other.display_name}（{other.login}）", other.id)
        self.operator_combo.blockSignals(False)

    def day(self) -> dt.date:
        picked = self.date_edit.date()
        return dt.date(picked.year(), picked.month(), picked.day())

    def reload(self) -> None:
        actor, whose, day = self._operator, int(self.operator_combo.currentData()), self.day()
        self._set_printable(False)
        self.error_label.clear_error()

        def work(session: Session) -> DayEndReport:
            return day_end_report(session, actor, whose, day)

        Operation.transaction(self, self._ctx, work).success(self._show).failure(self._failed).run()

    def _show(self, report: DayEndReport) -> None:
        if (report.operator_id, report.day) != (int(self.operator_combo.currentData()), self.day()):
            return  # an older answer: the clerk has picked another day or person meanwhile
        self.report = report
        self.header_label.setText(self.tr("{institution}　窗口：{counter}　收款员：{name}（{login}）　日期：{day}").format(
            institution=report.institution_name, counter=self._ctx.counter_name, name=report.operator_name,
            login=report.operator_login, day=report.day.isoformat())
            + (f"\n{report.audit_head_text}" if report.audit_head_text else ""))
        rows = report.rows()
        self.table.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row == len(rows) - 1:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
        self.cash_label.setText(self.tr("应交现金：¥{amount}").format(amount=_yuan(report.cash_total)))
        self._set_printable(True)

    def _failed(self, error: BaseException) -> None:
        self.report = None
        self.table.setRowCount(0)
        self.cash_label.setText("")
        self.error_label.show_error(self.tr("日结单未能生成：{reason}").format(reason=error_text(error)))

    def _set_printable(self, printable: bool) -> None:
        self.print_button.setEnabled(printable)
        self.choose_printer_button.setEnabled(printable)

    # --- printing -----------------------------------------------------------------------------

    def print_report(self, *, choose: bool) -> None:
        report = self.report
        if report is None:
            return
        from printing.dayend import render  # reportlab and the font load on first use

        pdf = render(report, self._ctx.counter_name)
        document = Document(pdf, PAPER_A4, self.tr("收款员日结单 {name} {day}").format(
            name=report.operator_name, day=report.day.isoformat()))
        self.error_label.clear_error()
        try:
            where = self._station.print_document(self, document, choose=choose, title=self.tr("打印日结单"))
        except PrintFailed as failure:
            self.error_label.show_error(self.tr("日结单未打印：{reason}").format(reason=failure.message))
            return
        if where is None:
            return  # the clerk cancelled the print dialog
        self.last_printed, self.last_pdf = where, pdf
        self.print_label.setText(self.tr("已打印日结单（{printer}）。").format(printer=where))


def _yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"
