"""恢复后核对: after `wi-counter db restore`, the books against the centre and the slip archive (issue 21 B2).

Opened from 文件 → 恢复后核对 (Ctrl+K) or the main window's notice. A check still owed is run at once,
off the GUI thread (`app.workflow.restore_check.reconcile` through the counter's centre client); the
differences are listed, each one's full text in the pane below the table. Acknowledging them takes a
note and a reviewer: a reviewer signed in acknowledges directly; at a cashier's window the reviewer
types their own login and password (审核员授权, `ui.reviewer_authorisation`, no logout) and the
acknowledgement is recorded in the reviewer's name. Until then admission and settlement stay refused.
The centre unreachable: the check stays owed, the clerk is told so, and may try again.
"""

from __future__ import annotations

from typing import Any

from app.bootstrap import CounterContext
from app.centre.gateway import CentreError
from app.operators import OperatorInfo, Permission
from app.workflow.restore_check import (
    ACKNOWLEDGED,
    CLEAR,
    DIFFERENCES,
    PENDING,
    CheckReport,
    acknowledge,
    difference_count,
    latest,
)
from ui.operations import Executor, Operation, clerk_message
from ui.qt import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ErrorLabel, heading

COLUMNS = ("差异", "住院号", "就医登记号", "说明")
KIND_LABELS = {
    "registration_missing": "中心有登记，本机没有",
    "settlement_missing": "中心有结算，本机没有",
    "settlement_state": "结算状态不一致",
    "lines_differ": "上传明细不一致",
    "slip_unlogged": "结算单无打印记录",
    "slip_unlogged_more": "结算单无打印记录（其余）",
}


def run_restore_check(ctx: CounterContext, operator: OperatorInfo) -> CheckReport | None:
    """The owed check through this counter's centre client (run off the GUI thread)."""
    from app.composition import open_workflow_centre
    from app.workflow.restore_check import reconcile

    client = open_workflow_centre(ctx, operator)
    try:
        return reconcile(ctx, client, operator)
    finally:
        client.close()


class RestoreCheckDialog(QDialog):
    """Emits `changed()` after the check ran or was acknowledged (the main window's notice follows)."""

    changed = Signal()
    MESSAGE_COLUMN = 3

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("restoreCheckDialog")
        self.setWindowTitle(self.tr("恢复后核对"))
        self.resize(980, 600)  # fits a 1366×768 screen with the window's frame
        self._ctx = ctx
        self._operator = operator
        self.report: CheckReport | None = None
        self.loaded = False
        self.busy = False
        self._asked = False  # the owed check is run once on opening; again only on 与结算中心核对
        self.last_dialog: QDialog | None = None

        layout = QVBoxLayout(self)
        layout.addWidget(heading(self.tr("恢复后核对：本机账目与结算中心、结算单存档"), self, "restoreCheckTitle", 1.3))
        explain = QLabel(self.tr(
            "数据库从备份恢复后，本机账目中没有备份之后办理的登记、结算和打印。程序向结算中心查询备份之后本院的登记、"
            "结算，并查看结算单存档，列出本机账目中没有或不一致的。为避免同一次住院重复登记、重复结算，"
            "核对完成且审核员确认差异之前，不能办理入院登记和结算；中心已有登记的住院号以后也不能再次登记。"), self)
        explain.setWordWrap(True)
        layout.addWidget(explain)
        self.summary_label = QLabel("", self)
        self.summary_label.setObjectName("restoreCheckSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.summary_label)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.table = QTableWidget(0, len(COLUMNS), splitter)
        self.table.setObjectName("restoreDifferences")
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.MESSAGE_COLUMN, QHeaderView.ResizeMode.Stretch)  # what the reviewer reads
        self.table.itemSelectionChanged.connect(self._show_detail)
        self.detail = QPlainTextEdit(splitter)
        self.detail.setObjectName("restoreDifferenceDetail")
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText(self.tr("选中一行，在此查看该差异的全文。"))
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter, 1)

        note_label = QLabel(self.tr("确认说明(&N)（如何处理了这些差异，必填）："), self)
        self.note_edit = QPlainTextEdit(self)
        self.note_edit.setObjectName("restoreCheckNote")
        self.note_edit.setPlaceholderText(self.tr("如：已在中心核实，该住院已结算，账目另行补记"))
        self.note_edit.setMaximumHeight(64)
        self.note_edit.setTabChangesFocus(True)
        self.note_edit.textChanged.connect(self._update_buttons)
        note_label.setBuddy(self.note_edit)
        layout.addWidget(note_label)
        layout.addWidget(self.note_edit)
        self.error = ErrorLabel(self, "restoreCheckError")
        layout.addWidget(self.error)

        buttons = QHBoxLayout()
        self.reconcile_button = QPushButton(self.tr("与结算中心核对(&R)"), self)
        self.reconcile_button.setObjectName("restoreReconcileButton")
        self.reconcile_button.setAutoDefault(False)
        self.reconcile_button.clicked.connect(self.reconcile)
        self.reviewer_here = operator.can(Permission.RECONCILE)
        self.acknowledge_button = QPushButton(
            self.tr("确认差异(&A)") if self.reviewer_here else self.tr("确认差异（审核员授权）(&A)…"), self)
        self.acknowledge_button.setObjectName("restoreAcknowledgeButton")
        self.acknowledge_button.setAutoDefault(False)
        self.acknowledge_button.clicked.connect(self.acknowledge)
        close_button = QPushButton(self.tr("关闭(&C)"), self)
        close_button.setObjectName("closeButton")
        close_button.setAutoDefault(False)
        close_button.clicked.connect(self.accept)
        buttons.addWidget(self.reconcile_button)
        buttons.addStretch(1)
        buttons.addWidget(self.acknowledge_button)
        buttons.addWidget(close_button)
        layout.addLayout(buttons)
        self._update_buttons()
        self.reload()

    # --- the check as it stands ---------------------------------------------------------

    def reload(self) -> None:
        Operation.transaction(self, self._ctx, latest).success(self._loaded).failure(self._failed).run()

    def _loaded(self, report: CheckReport | None) -> None:
        self.loaded = True
        self._show(report)
        if report is not None and report.status == PENDING and not self._asked:
            self.reconcile()  # owed: ask the centre now, the clerk need not press anything

    def _show(self, report: CheckReport | None) -> None:
        self.report = report
        differences: list[dict[str, Any]] = list(report.differences) if report is not None else []
        self.table.setRowCount(len(differences))
        for row, difference in enumerate(differences):
            kind = str(difference.get("kind", ""))
            cells = (self.tr(KIND_LABELS.get(kind, kind)), str(difference.get("admission_no") or "—"),
                     str(difference.get("registration_no") or "—"), str(difference.get("message", "")))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == self.MESSAGE_COLUMN:
                    item.setToolTip(text)
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()
        self.detail.clear()
        self.summary_label.setText(self._summary(report))
        self._update_buttons()

    def _summary(self, report: CheckReport | None) -> str:
        if report is None:
            return self.tr("本数据库没有从备份恢复过，无需核对。")
        count = difference_count(report.differences)
        if report.status == PENDING:
            return self.tr("尚未与结算中心核对：暂不能办理入院登记和结算。")
        if report.status == CLEAR:
            return self.tr("已核对：备份之后结算中心没有本机账目中缺少的登记或结算，结算单存档也都有打印记录，可以继续办理。")
        if report.status == DIFFERENCES:
            return self.tr("核对发现 {count} 处差异，须审核员查看、在结算中心处理并确认；"
                           "确认之前暂不能办理入院登记和结算。").format(count=count)
        if report.status == ACKNOWLEDGED:
            return self.tr("审核员已确认这 {count} 处差异，可以继续办理；中心已有登记的住院号不能再次登记。").format(count=count)
        return report.status

    def _show_detail(self) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        if len(rows) != 1 or self.report is None:
            self.detail.clear()
            return
        difference = self.report.differences[rows.pop()]
        kind = str(difference.get("kind", ""))
        lines = [self.tr(KIND_LABELS.get(kind, kind)), str(difference.get("message", ""))]
        if difference.get("file"):
            lines.append(self.tr("存档文件：{name}").format(name=difference["file"]))
        self.detail.setPlainText("\n".join(lines))

    def _update_buttons(self) -> None:
        status = self.report.status if self.report is not None else None
        self.reconcile_button.setEnabled(not self.busy and status == PENDING)
        self.acknowledge_button.setEnabled(not self.busy and status == DIFFERENCES
                                           and bool(self.note_edit.toPlainText().strip()))
        self.note_edit.setEnabled(status == DIFFERENCES)
        if status == DIFFERENCES and not self.note_edit.toPlainText().strip():
            self.acknowledge_button.setToolTip(self.tr("请先写明如何处理了这些差异"))
        else:
            self.acknowledge_button.setToolTip("")

    # --- asking the centre ---------------------------------------------------------------

    def reconcile(self) -> None:
        """与结算中心核对: the owed check, off the GUI thread."""
        if self.busy:
            return
        self._asked = True
        self.busy = True
        self._update_buttons()
        self.error.clear_error()
        self.summary_label.setText(self.tr("正在与结算中心核对…"))
        ctx, operator = self._ctx, self._operator
        Operation(self, lambda: run_restore_check(ctx, operator), executor=Executor.BACKGROUND) \
            .success(self._reconciled).failure(self._reconcile_failed).run()

    def _reconciled(self, report: CheckReport | None) -> None:
        self.busy = False
        self.changed.emit()
        if report is None:  # no longer owed (checked meanwhile, e.g. by an admission): as it stands now
            self.reload()
            return
        self._show(report)

    def _reconcile_failed(self, error: BaseException) -> None:
        self.busy = False
        self._show(self.report)
        if isinstance(error, CentreError):
            self.error.show_error(self.tr(
                "未能与结算中心核对（{reason}）。核对完成并经审核员确认之前，本机仍不能办理入院登记和结算；"
                "结算中心可以连接后，请按“与结算中心核对”重试。").format(reason=clerk_message(error)))
        else:
            self.error.show_error(clerk_message(error))

    # --- the reviewer's acknowledgement ------------------------------------------------------

    def acknowledge(self) -> None:
        """确认差异: the reviewer signed in acknowledges; at a cashier's window, 审核员授权 first."""
        from ui.reviewer_authorisation import ReviewerAuthorisationDialog

        note = self.note_edit.toPlainText().strip()
        if self.busy or self.report is None or self.report.status != DIFFERENCES:
            return
        if not note:
            self.error.show_error(self.tr("请写明如何处理了这些差异（确认说明不能为空）。"))
            self.note_edit.setFocus()
            return
        if self.reviewer_here:
            self._acknowledge(self._operator, note)
            return
        count = difference_count(self.report.differences)
        summary = ((self.tr("差异"), self.tr("{count} 处（见恢复后核对的列表）").format(count=count)),
                   (self.tr("确认说明"), note))
        authorisation = ReviewerAuthorisationDialog(self._ctx, (), self._operator, self, Permission.RECONCILE,
                                                    summary=summary, what=self.tr("确认恢复后核对的差异"))

        def approved() -> None:
            reviewer = authorisation.reviewer
            assert reviewer is not None
            self._acknowledge(reviewer, note)

        authorisation.accepted.connect(approved)
        authorisation.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_dialog = authorisation
        authorisation.open()  # not exec(): no nested event loop

    def _acknowledge(self, reviewer: OperatorInfo, note: str) -> None:
        ctx, cashier = self._ctx, self._operator
        self.busy = True
        self._update_buttons()
        self.error.clear_error()
        Operation(self, lambda: acknowledge(ctx, reviewer, note, at_session_of=cashier.login),
                  executor=Executor.DATABASE).success(self._acknowledged).failure(self._failed).run()

    def _acknowledged(self, report: CheckReport) -> None:
        self.busy = False
        self.note_edit.clear()
        self._show(report)
        self.changed.emit()

    def _failed(self, error: BaseException) -> None:
        self.busy = False
        self._update_buttons()
        self.error.show_error(clerk_message(error))
