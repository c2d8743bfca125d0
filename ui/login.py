"""The login dialog: who is at the counter.

Checking the password (Argon2, tens of milliseconds by design) runs on the database
worker, so the dialog stays responsive; a refusal is shown in the dialog, in red.
"""

from __future__ import annotations

from app.bootstrap import CounterContext
from app.demo import DEMO_PASSWORD
from app.errors import WiCounterError
from app.operators import OperatorInfo, authenticate
from ui.operations import Operation, show_failure
from ui.qt import (
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import ErrorLabel, dialog_buttons, heading


class LoginDialog(QDialog):
    """Asks for a login and password; on success `operator` holds who logged in."""

    def __init__(self, ctx: CounterContext, parent: QWidget | None = None, login: str = "") -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.operator: OperatorInfo | None = None
        title = self.tr("登录 — 工伤联网结算窗口")
        if ctx.demo:
            title += self.tr("（演示）")
        self.setWindowTitle(title)
        self.setMinimumWidth(380)

        layout = QVBoxLayout(self)
        layout.addWidget(heading(self.tr("工伤联网结算窗口"), self, object_name="loginTitle", size=1.3))
        counter = QLabel(ctx.counter_name, self)
        counter.setObjectName("counterName")
        layout.addWidget(counter)

        form = QFormLayout()
        self.login_edit = QLineEdit(login, self)
        self.login_edit.setObjectName("login")
        self.login_edit.setMaxLength(32)
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow(self.tr("登录名(&U)："), self.login_edit)
        form.addRow(self.tr("密码(&P)："), self.password_edit)
        layout.addLayout(form)

        if ctx.demo:
            hint = QLabel(
                self.tr("演示账号：admin / cashier / reviewer，密码均为 {password}").format(password=DEMO_PASSWORD),
                self,
            )
            hint.setObjectName("demoHint")
            hint.setWordWrap(True)
            layout.addWidget(hint)

        self.error_label = ErrorLabel(self)
        layout.addWidget(self.error_label)

        buttons, self.login_button, self.quit_button = dialog_buttons(self, self.tr("登录"), "loginButton")
        layout.addLayout(buttons)

        self.login_button.clicked.connect(self._submit)
        self.quit_button.clicked.connect(self.reject)
        (self.password_edit if login else self.login_edit).setFocus()

    def _submit(self) -> None:
        login = self.login_edit.text().strip()
        password = self.password_edit.text()
        if not login or not password:
            self.error_label.show_error(self.tr("请输入登录名和密码"))
            (self.login_edit if not login else self.password_edit).setFocus()
            return
        self._set_busy(True)
        counter_name = self._ctx.counter_name
        Operation.transaction(
            self, self._ctx, lambda session: authenticate(session, login, password, counter_name)
        ).success(self._logged_in).failure(self._refused).run()

    def _set_busy(self, busy: bool) -> None:
        self.login_button.setEnabled(not busy)
        self.login_edit.setEnabled(not busy)
        self.password_edit.setEnabled(not busy)
        if busy:
            self.error_label.clear_error()
        self.login_button.setText(self.tr("正在登录…") if busy else self.tr("登录"))

    def _logged_in(self, operator: OperatorInfo) -> None:
        self._set_busy(False)
        self.operator = operator
        self.accept()

    def _refused(self, error: BaseException) -> None:
        self._set_busy(False)
        if not isinstance(error, WiCounterError):
            show_failure(self, error)  # not a refusal but a fault (database gone…): logged
            return
        self.error_label.show_error(error.message)
        self.password_edit.clear()
        self.password_edit.setFocus()
