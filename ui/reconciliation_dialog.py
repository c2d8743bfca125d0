"""对账差异: the day-end reconciliation's differences, for a reviewer to deal with one by one.

Opened from the status bar's "对账：N 笔差异待处理" (or 文件 → 日终对账). Anyone may look and run
today's reconciliation; recording how a difference was dealt with needs the reviewer's
`处理对账差异` permission (the service checks it too)."""

from __future__ import annotations

import datetime as dt

from app.bootstrap import CounterContext
from app.centre.reconciliation import DayResult, OpenDifference, list_differences, review_difference
from app.operators import OperatorInfo, Permission
from ui.operations import Executor, Operation, clerk_message
from ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ErrorLabel, heading

COLUMNS = ("业务日期", "差异", "报文编号", "就医登记号", "中心金额", "本机金额", "处理情况")


def _amounts(amounts: dict[str, str] | None) -> str:
    if not amounts:
        return "—"
    return f"{amounts['total']}（基金 {amounts['fund_total']}）"


def run_reconciliation(ctx: CounterContext, operator: OperatorInfo, day: dt.date) -> DayResult:
    """One day's reconciliation through this counter's centre client (run off the GUI thread)."""
    from app.centre.reconciliation import DayEndReconciler
    from app.composition import open_workflow_centre

    client = open_workflow_centre(ctx, operator)
    try:
        return DayEndReconciler(ctx.sessions, client, ctx.counter_name).run(day, operator)
    finally:
        client.close()


class ReconciliationDialog(QDialog):
    """Emits `changed()` after a review is recorded or a reconciliation has run."""

    changed = Signal()

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reconciliationDialog")
        self.setWindowTitle(self.tr("日终对账"))
        self.resize(900, 480)
        self._ctx = ctx
        self._operator = operator
        self.differences: list[OpenDifference] = []
        self.last_result: DayResult | None = None

        layout = QVBoxLayout(self)
        layout.addWidget(heading(self.tr("日终对账：差异一览"), self, "reconciliationTitle", size=1.3))
        explain = QLabel(self.tr(
            "每天结束时与结算中心对账：先对总账（笔数、金额），不一致再逐笔对明细。"
            "下列差异需审核员核实后处理（补记、冲正或请中心更正），并记录处理情况。"), self)
        explain.setWordWrap(True)
        layout.addWidget(explain)
        self.summary_label = QLabel("", self)
        self.summary_label.setObjectName("reconciliationSummary")
        layout.addWidget(self.summary_label)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("reconciliationTable")
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)

        self.show_all = QCheckBox(self.tr("显示已处理的(&A)"), self)
        self.show_all.toggled.connect(self.reload)
        layout.addWidget(self.show_all)
        note_label = QLabel(self.tr("处理情况(&N)："), self)
        self.note_edit = QPlainTextEdit(self)
        self.note_edit.setObjectName("reconciliationNote")
        self.note_edit.setPlaceholderText(self.tr("如：已按报文编号补记；已冲正；中心已更正金额"))
        self.note_edit.setMaximumHeight(70)
        self.note_edit.setTabChangesFocus(True)
        self.note_edit.textChanged.connect(self._update_buttons)
        note_label.setBuddy(self.note_edit)
        layout.addWidget(note_label)
        layout.addWidget(self.note_edit)
        self.error_label = ErrorLabel(self)
        layout.addWidget(self.error_label)

        buttons = QHBoxLayout()
        self.run_button = QPushButton(self.tr("立即对账（今天）(&R)"), self)
        self.run_button.setObjectName("reconcileNow")
        self.run_button.clicked.connect(self.reconcile_today)
        self.review_button = QPushButton(self.tr("记录处理情况(&S)"), self)
        self.review_button.setObjectName("recordReview")
        self.review_button.clicked.connect(self.record_review)
        self.can_review = operator.can(Permission.RECONCILE)
        if not self.can_review:
            self.review_button.setToolTip(self.tr("只有审核员可以记录对账差异的处理情况"))
        close_button = QPushButton(self.tr("关闭"), self)
        close_button.clicked.connect(self.accept)
        buttons.addWidget(self.run_button)
        buttons.addStretch(1)
        buttons.addWidget(self.review_button)
        buttons.addWidget(close_button)
        layout.addLayout(buttons)
        self.busy = False
        self.reload()

    def reload(self) -> None:
        open_only = not self.show_all.isChecked()
        Operation.transaction(self, self._ctx, lambda session: list_differences(session, open_only=open_only)) \
            .success(self._show).run()

    def _show(self, differences: list[OpenDifference]) -> None:
        self.differences = differences
        self.table.setRowCount(len(differences))
        for row, d in enumerate(differences):
            cells = (d.business_date.isoformat(), d.label, d.msgid, d.registration_no or "—",
                     _amounts(d.centre_amounts), _amounts(d.counter_amounts),
                     (d.review_note or "") if d.reviewed else self.tr("待处理"))
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        waiting = sum(1 for d in differences if not d.reviewed)
        text = (self.tr("待处理差异 {count} 笔").format(count=waiting) if waiting
                else self.tr("没有待处理的对账差异。"))
        if self.last_result is not None:
            day = self.last_result.business_date.isoformat()
            text = (self.tr("{day} 对账一致。").format(day=day) if self.last_result.agrees
                    else self.tr("{day} 对账不一致。").format(day=day)) + text
        self.summary_label.setText(text)
        self._update_buttons()

    def selected(self) -> OpenDifference | None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return self.differences[rows.pop()] if len(rows) == 1 else None

    def _update_buttons(self) -> None:
        difference = self.selected()
        self.review_button.setEnabled(
            self.can_review and not self.busy and difference is not None and not difference.reviewed
            and bool(self.note_edit.toPlainText().strip()))
        self.run_button.setEnabled(not self.busy)

    def record_review(self) -> None:
        difference = self.selected()
        if difference is None:
            return
        note = self.note_edit.toPlainText()
        ctx, operator = self._ctx, self._operator
        self.error_label.clear_error()
        Operation.transaction(
            self, ctx, lambda session: review_difference(session, difference.id, operator, note, ctx.counter_name)
        ).success(self._reviewed).failure(self._failed).run()

    def _reviewed(self, _: None) -> None:
        self.note_edit.clear()
        self.changed.emit()
        self.reload()

    def reconcile_today(self) -> None:
        from app.centre import wire

        self.busy = True
        self._update_buttons()
        self.summary_label.setText(self.tr("正在与结算中心对账…"))
        ctx, operator = self._ctx, self._operator
        Operation(self, lambda: run_reconciliation(ctx, operator, wire.now().date()), executor=Executor.BACKGROUND) \
            .success(self._reconciled).failure(self._failed).run()

    def _reconciled(self, result: DayResult) -> None:
        self.busy = False
        self.last_result = result
        self.error_label.clear_error()
        self.changed.emit()
        self.reload()

    def _failed(self, error: BaseException) -> None:
        self.busy = False
        self._update_buttons()
        self.error_label.show_error(clerk_message(error))
