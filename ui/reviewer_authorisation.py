"""审核员授权: a reviewer approves at the cashier's window, without the cashier logging out (issue 20 §4).

The dialog shows what is to be approved (the lines, what they were set to, the cashier's reason and who gave
it, the amount at stake) and takes the reviewer's own login and password. The password is checked by
`app.operators.authenticate` on the database thread, exactly as at login: a wrong password is counted and
locks the account after as many failures. The operator who signed in must hold the permission asked for
(a cashier's own password does not approve). On success the dialog returns that reviewer's authenticated
operator object; the page then calls the service in the reviewer's name, so the audit names the reviewer.
Cancelling changes nothing.

`PendingApprovalsDialog` is the 待审核 list: every override of the stay still waiting for a reviewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from app.operators import OperatorInfo, Permission, authenticate
from app.slips import money_text
from app.workflow.separation import PendingApproval
from ui.operations import Operation, clerk_message
from ui.qt import (
    QAbstractItemView,
    QCoreApplication,
    QDialog,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import ErrorLabel, dialog_buttons, heading

if TYPE_CHECKING:
    from app.bootstrap import CounterContext

CHANNEL = "reviewer_authorisation"  # the audit's login event says the password was given in this dialog
HEADERS = ("序号", "项目名称", "金额", "改判为", "改判理由", "改判人")
REASON_COLUMN = 4


def _tr(text: str) -> str:
    return QCoreApplication.translate("ReviewerAuthorisation", text)


def _set_to(item: PendingApproval) -> str:
    if item.injury is None:
        return ""
    return _tr("工伤") if item.injury else _tr("非工伤")


def pending_table(items: Sequence[PendingApproval], parent: QWidget) -> QTableWidget:
    """The overrides as rows; the reason gets the room left (it is what the reviewer reads)."""
    table = QTableWidget(len(items), len(HEADERS), parent)
    table.setObjectName("pendingTable")
    table.setHorizontalHeaderLabels([_tr(h) for h in HEADERS])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setWordWrap(True)
    for row, item in enumerate(items):
        cells = (str(item.seq), item.name, money_text(item.amount), _set_to(item), item.reason, item.overridden_by)
        for column, text in enumerate(cells):
            cell = QTableWidgetItem(text)
            if column in (0, 2):
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(row, column, cell)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(REASON_COLUMN, QHeaderView.ResizeMode.Stretch)
    table.resizeRowsToContents()
    return table


def amount_at_stake(items: Sequence[PendingApproval]) -> Decimal:
    return sum((item.amount for item in items), Decimal("0.00"))


class ReviewerAuthorisationDialog(QDialog):
    """The reviewer's login and password for the overrides shown. `reviewer` is set once accepted."""

    def __init__(self, ctx: CounterContext, items: Sequence[PendingApproval], cashier: OperatorInfo,
                 parent: QWidget | None = None, permission: Permission = Permission.OVERRIDE_CLASSIFICATION,
                 *, summary: Sequence[tuple[str, str]] = (), what: str | None = None) -> None:
        """`items`: the overrides to approve. Or, for another act (更正 / 撤销入院登记), no items and a
        `summary` of (label, value) rows the reviewer checks — the cashier's reason among them — and
        `what` names the act in the introduction."""
        super().__init__(parent)
        self.setObjectName("reviewerAuthorisationDialog")
        self.setWindowTitle(_tr("审核员授权"))
        self._ctx = ctx
        self._permission = permission
        self._pending = 0
        self.reviewer: OperatorInfo | None = None
        self.items = tuple(items)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(_tr("审核员授权"), self, "dialogTitle", 1.2))
        if summary:
            text = _tr("{what}须经审核员同意。请审核员核对下列内容和原因，在此输入本人的登录名和密码"
                       "（本窗口的操作员 {name} 无须退出登录）。").format(what=what or permission.label,
                                                                      name=cashier.display_name)
        else:
            text = _tr("下列改判须经审核员审核通过。请审核员核对明细和改判理由，在此输入本人的登录名和密码"
                       "（本窗口的操作员 {name} 无须退出登录）。").format(name=cashier.display_name)
        intro = QLabel(text, self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = pending_table(self.items, self)
        self.table.setMinimumWidth(640)
        layout.addWidget(self.table, 1)
        self.amount_label = QLabel(_tr("共 {n} 条明细，涉及金额合计 ¥{amount}").format(
            n=len(self.items), amount=money_text(amount_at_stake(self.items))), self)
        self.amount_label.setObjectName("amountLabel")
        self.amount_label.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.amount_label)
        self.summary_labels: list[QLabel] = []
        if summary:
            self.table.hide()
            self.amount_label.hide()
            rows = QFormLayout()
            for caption, value in summary:
                shown = QLabel(value, self)
                shown.setWordWrap(True)
                shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                shown.setStyleSheet("font-weight: bold;")
                self.summary_labels.append(shown)
                rows.addRow(QLabel(caption, self), shown)
            layout.addLayout(rows)
            self.setMinimumWidth(560)  # the change reads on one line or two, not as a column of words
        form = QFormLayout()
        self.login_edit = QLineEdit(self)
        self.login_edit.setObjectName("reviewerLoginEdit")
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("reviewerPasswordEdit")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        for text, edit in ((_tr("审核员登录名(&L)"), self.login_edit), (_tr("密码(&P)"), self.password_edit)):
            label = QLabel(text, self)
            label.setBuddy(edit)  # Alt+L / Alt+P reach the fields
            form.addRow(label, edit)
        layout.addLayout(form)
        self.error = ErrorLabel(self)
        layout.addWidget(self.error)
        row_layout, self.authorise_button, self.quit_button = dialog_buttons(self, _tr("授权审核通过(&A)"),
                                                                             "authoriseButton")
        self.authorise_button.clicked.connect(self._authorise)
        self.quit_button.clicked.connect(self.reject)
        layout.addLayout(row_layout)
        self.login_edit.setFocus()

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def _authorise(self) -> None:
        login, password = self.login_edit.text().strip(), self.password_edit.text()
        if not login or not password:
            self.error.show_error(_tr("请审核员输入本人的登录名和密码。"))
            (self.login_edit if not login else self.password_edit).setFocus()
            return
        self.error.clear_error()
        self._pending += 1
        self.authorise_button.setEnabled(False)
        ctx = self._ctx
        Operation.transaction(self, ctx, lambda session: authenticate(session, login, password, ctx.counter_name,
                                                                     channel=CHANNEL)) \
            .success(self._signed_in).failure(self._refused).run()

    def _done(self) -> None:
        self._pending -= 1
        self.authorise_button.setEnabled(True)
        self.password_edit.clear()  # never kept beyond one try

    def _signed_in(self, operator: OperatorInfo) -> None:
        self._done()
        if not operator.can(self._permission):
            self.error.show_error(_tr("{name}（{role}）无权{action}，须由审核员输入本人的登录名和密码。").format(
                name=operator.display_name, role=operator.role_label, action=self._permission.label))
            self.login_edit.selectAll()
            self.login_edit.setFocus()
            return
        self.reviewer = operator
        self.accept()

    def _refused(self, error: BaseException) -> None:
        self._done()
        self.error.show_error(_tr("未授权：") + clerk_message(error))
        self.password_edit.setFocus()

    def reject(self) -> None:
        if self.busy:
            return  # the password is being checked: its answer decides
        super().reject()


class PendingApprovalsDialog(QDialog):
    """待审核: the stay's overrides waiting for a reviewer, the reason in its own column.

    Accepting it (审核通过…) hands the chosen lines (all when none is chosen) to the page's approval."""

    def __init__(self, items: Sequence[PendingApproval], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pendingApprovalsDialog")
        self.setWindowTitle(_tr("待审核的改判"))
        self.items = tuple(items)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(_tr("本次住院等待审核员审核的改判：{n} 条，涉及金额合计 ¥{amount}").format(
            n=len(self.items), amount=money_text(amount_at_stake(self.items))), self))
        self.table = pending_table(self.items, self)
        self.table.setMinimumWidth(720)
        layout.addWidget(self.table, 1)
        if not self.items:
            layout.addWidget(QLabel(_tr("没有等待审核的改判。"), self))
        row, self.approve_button, quit_button = dialog_buttons(self, _tr("审核通过(&A)…"), "approveChosenButton")
        self.approve_button.setEnabled(bool(self.items))
        self.approve_button.clicked.connect(self.accept)
        quit_button.clicked.connect(self.reject)
        layout.addLayout(row)
        self.resize(820, 360)

    @property
    def chosen_line_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.items[row].line_id for row in rows] or [item.line_id for item in self.items]
