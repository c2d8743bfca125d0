"""The first start of a counter: our institution and its first administrator.

Shown until both exist (`app.operators.needs_first_run`). Everything the clerk gets
wrong is said in the dialog, in red, in Chinese; the dialog never closes on an error.
"""

from __future__ import annotations

from app.bootstrap import CounterContext
from app.errors import WiCounterError
from app.institution import InstitutionInfo
from app.operators import (
    MIN_PASSWORD_LENGTH,
    OperatorInfo,
    complete_first_run,
)
from ui.operations import Operation, show_failure
from ui.qt import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import ErrorLabel, dialog_buttons, heading

# 医院等级 as printed on the settlement slip; the combo stays editable for others (e.g. 未定级).
HOSPITAL_LEVELS = (
    "三级甲等", "三级乙等", "三级丙等",
    "二级甲等", "二级乙等", "二级丙等",
    "一级甲等", "一级乙等", "一级丙等",
    "未定级",
)


class FirstRunDialog(QDialog):
    """Creates the institution and the first administrator; on success `admin` is set."""

    def __init__(self, ctx: CounterContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.admin: OperatorInfo | None = None
        self.setWindowTitle(self.tr("初始设置 — 工伤联网结算窗口"))
        self.setMinimumWidth(560)

        layout = QVBoxLayout(self)
        layout.addWidget(heading(self.tr("初始设置"), self, object_name="firstRunTitle", size=1.3))
        intro = QLabel(
            self.tr("本窗口第一次启动。请填写本医疗机构的信息（打印在结算单上），并设置第一位管理员。"), self
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        institution = QGroupBox(self.tr("本医疗机构"), self)
        form = QFormLayout(institution)
        self.code_edit = self._line_edit("institutionCode", 12, self.tr("12 位字母或数字"))
        self.name_edit = self._line_edit("institutionName", 128, self.tr("如：湛江市第一人民医院"))
        self.province_edit = self._line_edit("province", 32, self.tr("如：广东省"))
        self.city_edit = self._line_edit("city", 32, self.tr("如：湛江市"))
        self.city_code_edit = self._line_edit("cityCode", 6, self.tr("6 位数字，如：440800"))
        self.level_combo = QComboBox(self)
        self.level_combo.setObjectName("level")
        self.level_combo.setEditable(True)
        self.level_combo.addItems(list(HOSPITAL_LEVELS))
        self.direct_check = QCheckBox(self.tr("开通联网直接结算"), self)
        self.direct_check.setObjectName("directSettlement")
        self.direct_check.setChecked(True)
        form.addRow(self.tr("机构编码："), self.code_edit)
        form.addRow(self.tr("医疗机构名称："), self.name_edit)
        form.addRow(self.tr("省份："), self.province_edit)
        form.addRow(self.tr("城市："), self.city_edit)
        form.addRow(self.tr("城市行政区划代码："), self.city_code_edit)
        form.addRow(self.tr("医院等级："), self.level_combo)
        form.addRow("", self.direct_check)
        layout.addWidget(institution)

        admin = QGroupBox(self.tr("第一位管理员"), self)
        admin_form = QFormLayout(admin)
        self.login_edit = self._line_edit("adminLogin", 32, self.tr("字母、数字、下划线，如：wangli"))
        self.display_name_edit = self._line_edit("adminName", 64, self.tr("打印在结算单上"))
        self.password_edit = self._line_edit(
            "password", 128, self.tr("至少 {n} 位").format(n=MIN_PASSWORD_LENGTH), secret=True
        )
        self.confirm_edit = self._line_edit("confirmPassword", 128, self.tr("再输入一次"), secret=True)
        admin_form.addRow(self.tr("登录名："), self.login_edit)
        admin_form.addRow(self.tr("姓名："), self.display_name_edit)
        admin_form.addRow(self.tr("密码："), self.password_edit)
        admin_form.addRow(self.tr("确认密码："), self.confirm_edit)
        layout.addWidget(admin)

        self.error_label = ErrorLabel(self)
        layout.addWidget(self.error_label)

        buttons, self.done_button, self.quit_button = dialog_buttons(self, self.tr("完成设置"), "finishButton")
        layout.addLayout(buttons)

        self.done_button.clicked.connect(self._submit)
        self.quit_button.clicked.connect(self.reject)
        self.code_edit.setFocus()

    def _line_edit(self, name: str, max_length: int, placeholder: str, secret: bool = False) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setObjectName(name)
        edit.setMaxLength(max_length)
        edit.setPlaceholderText(placeholder)
        if secret:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
        return edit

    def institution(self) -> InstitutionInfo:
        return InstitutionInfo(
            code=self.code_edit.text().strip(),
            name=self.name_edit.text().strip(),
            province=self.province_edit.text().strip(),
            city=self.city_edit.text().strip(),
            city_code=self.city_code_edit.text().strip(),
            level=self.level_combo.currentText().strip(),
            direct_settlement=self.direct_check.isChecked(),
        )

    def _submit(self) -> None:
        institution = self.institution()
        problems = list(institution.problems())
        login = self.login_edit.text().strip()
        display_name = self.display_name_edit.text().strip()
        password = self.password_edit.text()
        if not login:
            problems.append(self.tr("请填写管理员登录名"))
        if password != self.confirm_edit.text():
            problems.append(self.tr("两次输入的密码不一致"))
        if problems:
            self.error_label.show_error("\n".join(problems))
            return
        self._set_busy(True)
        counter_name = self._ctx.counter_name
        Operation.transaction(
            self,
            self._ctx,
            lambda session: complete_first_run(session, institution, login, display_name, password, counter_name),
        ).success(self._done).failure(self._failed).run()

    def _set_busy(self, busy: bool) -> None:
        self.done_button.setEnabled(not busy)
        self.done_button.setText(self.tr("正在保存…") if busy else self.tr("完成设置"))
        if busy:
            self.error_label.clear_error()

    def _done(self, admin: OperatorInfo) -> None:
        self._set_busy(False)
        self.admin = admin
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self._set_busy(False)
        if isinstance(error, WiCounterError):
            self.error_label.show_error(error.message)
        else:
            show_failure(self, error)
