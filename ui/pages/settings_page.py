"""设置: the counter's settings, the institution, where files are, and (for admins) operators.

The form is built from `app.settings.ALL_SETTINGS`, so a setting declared there appears
here with no change to this file. Values are checked by `Setting.parse` / `validate`;
only operators with `Permission.CHANGE_SETTINGS` may edit. Writing the file and talking
to the database happen off the GUI thread (`ui.operations`).
"""

from __future__ import annotations

import html

from typing import Any, TypeAlias

from app.rules.case import place_name
from app.bootstrap import CounterContext
from app.db.models import Role
from app.errors import ConfigurationError, WiCounterError
from app.operators import (
    MIN_PASSWORD_LENGTH,
    InstitutionInfo,
    OperatorInfo,
    Permission,
    create_operator,
    list_operators,
)
from app.settings import ALL_SETTINGS, Setting, setting_by_key
from app.settings_changes import save_setting_changes
from ui.operations import Executor, Operation, show_failure, clerk_message
from ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ErrorLabel, heading, notice

SettingWidget: TypeAlias = QLineEdit | QSpinBox | QCheckBox | QComboBox

_INT_LIMIT = 2_147_483_647  # QSpinBox holds a C int


def _describe_secret_store() -> str:
    # Imported here: keyring probes the system's backends (D-Bus…), slow enough for a worker.
    from app.secret_store import describe_store

    return describe_store()


def _selectable(text: str, parent: QWidget, name: str) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class SettingsForm(QGroupBox):
    """One row per declared setting; 保存 validates all, then writes the file."""

    saved = Signal()

    def __init__(self, ctx: CounterContext, actor: OperatorInfo, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("本窗口设置"), parent)
        self.setObjectName("settingsForm")
        self._ctx = ctx
        self._actor = actor
        editable = actor.can(Permission.CHANGE_SETTINGS)
        self._editable = editable
        self.fields: dict[str, SettingWidget] = {}
        # What each field showed when the form was built or last saved: only fields the clerk
        # changed are written, so a setting changed elsewhere meanwhile (the printer chosen in the
        # print dialog) is not overwritten with the stale value still shown here.
        self._shown: dict[str, Any] = {}
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        for spec in ALL_SETTINGS:
            widget = self._make_field(spec, ctx.settings.get(spec))
            self._shown[spec.key] = ctx.settings.get(spec)
            widget.setObjectName(f"setting:{spec.key}")
            widget.setToolTip(spec.description)
            label = QLabel(self.tr("{label}：").format(label=spec.label), self)
            label.setToolTip(spec.description)
            label.setBuddy(widget)
            form.addRow(label, widget)
            self.fields[spec.key] = widget
        layout.addLayout(form)
        layout.addWidget(
            QLabel(self.tr("数据库和日志设置在重新启动程序后生效。"), self)
        )
        if not editable:
            layout.addWidget(
                notice(self.tr("只有管理员可以修改设置；以下内容仅供查看。"), self, object_name="readOnlyNote")
            )
        # 保存 and what it answers: the page keeps this bar in view below the scrolled form (the
        # form is taller than a 1366×768 screen, issue 20 §5); only editors have anything in it.
        self.action_bar = QWidget(self)
        self.action_bar.setObjectName("settingsActions")
        actions = QVBoxLayout(self.action_bar)
        actions.setContentsMargins(0, 0, 0, 0)
        self.error_label = ErrorLabel(self.action_bar, object_name="settingsError")
        actions.addWidget(self.error_label)
        self.result_label = QLabel(self.action_bar)
        self.result_label.setObjectName("settingsResult")
        row = QHBoxLayout()
        self.save_button = QPushButton(self.tr("保存设置(&S)"), self.action_bar)
        self.save_button.setObjectName("saveSettings")
        self.save_button.clicked.connect(self.save)
        row.addWidget(self.save_button)
        row.addWidget(self.result_label, 1)
        actions.addLayout(row)
        self.action_bar.setVisible(editable)
        layout.addWidget(self.action_bar)

    def _make_field(self, spec: Setting[Any], value: Any) -> SettingWidget:
        widget: SettingWidget
        if spec.choices is not None:
            widget = QComboBox(self)
            labels = spec.choice_labels or tuple(str(choice) for choice in spec.choices)
            for choice, label in zip(spec.choices, labels, strict=True):
                widget.addItem(label, choice)
            widget.setCurrentIndex(max(0, widget.findData(value)))
            widget.setEnabled(self._editable)
        elif spec.kind is bool:
            widget = QCheckBox(self)
            widget.setChecked(bool(value))
            widget.setEnabled(self._editable)
        elif spec.kind is int:
            widget = QSpinBox(self)
            widget.setRange(spec.minimum if spec.minimum is not None else -_INT_LIMIT, _INT_LIMIT)
            widget.setValue(int(value))
            widget.setReadOnly(not self._editable)
            widget.setMinimumWidth(120)
        else:
            widget = QLineEdit(str(value), self)
            widget.setReadOnly(not self._editable)
            widget.setMinimumWidth(480)
            if spec.default:
                widget.setPlaceholderText(self.tr("默认：{default}").format(default=spec.default))
            else:
                widget.setPlaceholderText(self.tr("留空则使用默认值"))
        return widget

    def _value(self, spec: Setting[Any]) -> Any:
        """The field's value, checked by the setting itself (ConfigurationError when wrong)."""
        widget = self.fields[spec.key]
        if isinstance(widget, QComboBox):
            return spec.validate(widget.currentData())
        if isinstance(widget, QCheckBox):
            return spec.validate(widget.isChecked())
        if isinstance(widget, QSpinBox):
            return spec.validate(widget.value())
        return spec.parse(widget.text())

    def save(self) -> None:
        if not self._editable:
            return
        errors: list[str] = []
        changes: dict[str, Any] = {}
        for spec in ALL_SETTINGS:
            try:
                value = self._value(spec)
            except ConfigurationError as exc:
                errors.append(exc.message)
                continue
            if value != self._shown[spec.key]:
                changes[spec.key] = value
        self.result_label.clear()
        if errors:
            self.error_label.show_error("\n".join(errors))
            return
        self.error_label.clear_error()
        if not changes:
            self.result_label.setText(self.tr("设置没有改动。"))
            return
        ctx = self._ctx
        actor = self._actor

        def write() -> dict[str, Any]:
            save_setting_changes(ctx, changes, actor)  # permission checked and change audited there
            return changes

        self.save_button.setEnabled(False)
        Operation(self, write, executor=Executor.DATABASE).success(self._saved).failure(self._failed).run()

    def _saved(self, changes: dict[str, Any]) -> None:
        self.save_button.setEnabled(True)
        for key, value in changes.items():
            self._ctx.settings.set(setting_by_key(key), value)
            self._shown[key] = value
        self.result_label.setText(self.tr("已保存。"))
        self.saved.emit()

    def _failed(self, error: BaseException) -> None:
        self.save_button.setEnabled(True)
        if isinstance(error, WiCounterError):
            self.error_label.show_error(error.message)
        elif isinstance(error, OSError):
            self.error_label.show_error(self.tr("无法写入设置文件：{error}").format(error=clerk_message(error)))
        else:
            show_failure(self, error)


class OperatorsPanel(QGroupBox):
    """操作员: the table of operators and a form to add one (admins only)."""

    def __init__(self, ctx: CounterContext, actor: OperatorInfo, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("操作员"), parent)
        self.setObjectName("operatorsPanel")
        self._ctx = ctx
        self._actor = actor
        layout = QVBoxLayout(self)

        self.table = QTableWidget(0, 3, self)
        self.table.setObjectName("operatorsTable")
        self.table.setHorizontalHeaderLabels([self.tr("登录名"), self.tr("姓名"), self.tr("角色")])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(140)
        layout.addWidget(self.table)

        layout.addWidget(heading(self.tr("新增操作员"), self, object_name="newOperatorTitle", size=1.0))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.login_edit = QLineEdit(self)
        self.login_edit.setObjectName("newLogin")
        self.login_edit.setMaxLength(32)
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("newName")
        self.name_edit.setMaxLength(64)
        self.name_edit.setPlaceholderText(self.tr("打印在结算单的收款人、制单人栏"))
        self.role_combo = QComboBox(self)
        self.role_combo.setObjectName("newRole")
        for role in (Role.CASHIER, Role.REVIEWER, Role.ADMIN):
            self.role_combo.addItem(role.label, role.value)  # Qt would turn the StrEnum into a plain str
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("newPassword")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(self.tr("至少 {n} 位").format(n=MIN_PASSWORD_LENGTH))
        self.confirm_edit = QLineEdit(self)
        self.confirm_edit.setObjectName("newPasswordConfirm")
        self.confirm_edit.setEchoMode(QLineEdit.EchoMode.Password)
        for field in (self.login_edit, self.name_edit, self.role_combo, self.password_edit, self.confirm_edit):
            field.setMinimumWidth(300)
        form.addRow(self.tr("登录名："), self.login_edit)
        form.addRow(self.tr("姓名："), self.name_edit)
        form.addRow(self.tr("角色："), self.role_combo)
        form.addRow(self.tr("密码："), self.password_edit)
        form.addRow(self.tr("确认密码："), self.confirm_edit)
        layout.addLayout(form)
        self.error_label = ErrorLabel(self, object_name="operatorError")
        layout.addWidget(self.error_label)
        row = QHBoxLayout()
        self.add_button = QPushButton(self.tr("新增操作员(&A)"), self)
        self.add_button.setObjectName("addOperator")
        self.add_button.clicked.connect(self.add_operator)
        self.result_label = QLabel(self)
        self.result_label.setObjectName("operatorResult")
        row.addWidget(self.add_button)
        row.addWidget(self.result_label, 1)
        layout.addLayout(row)
        self.reload()

    def reload(self) -> None:
        Operation.transaction(self, self._ctx, list_operators).success(self._show_operators).run()

    def _show_operators(self, operators: list[OperatorInfo]) -> None:
        self.table.setRowCount(len(operators))
        for row, operator in enumerate(operators):
            for column, text in enumerate((operator.login, operator.display_name, operator.role_label)):
                self.table.setItem(row, column, QTableWidgetItem(text))

    def add_operator(self) -> None:
        login = self.login_edit.text().strip()
        name = self.name_edit.text().strip()
        role = Role(self.role_combo.currentData())
        password = self.password_edit.text()
        self.result_label.clear()
        if password != self.confirm_edit.text():
            self.error_label.show_error(self.tr("两次输入的密码不一致"))
            return
        self.error_label.clear_error()
        self.add_button.setEnabled(False)
        actor, counter_name = self._actor, self._ctx.counter_name
        Operation.transaction(
            self,
            self._ctx,
            lambda session: create_operator(session, actor, login, name, role, password, counter_name),
        ).success(self._added).failure(self._failed).run()

    def _added(self, operator: OperatorInfo) -> None:
        self.add_button.setEnabled(True)
        for edit in (self.login_edit, self.name_edit, self.password_edit, self.confirm_edit):
            edit.clear()
        self.result_label.setText(
            self.tr("已新增{role} {name}（{login}）。").format(
                role=operator.role_label, name=operator.display_name, login=operator.login
            )
        )
        self.reload()

    def _failed(self, error: BaseException) -> None:
        self.add_button.setEnabled(True)
        if isinstance(error, WiCounterError):
            self.error_label.show_error(error.message)
        else:
            show_failure(self, error)


class SettingsPage(QWidget):
    """The 设置 page: the groups scroll (longer than a small counter screen); 保存设置 stays in
    view in a bar below them."""

    settings_saved = Signal()

    def __init__(
        self,
        ctx: CounterContext,
        operator: OperatorInfo,
        institution: InstitutionInfo | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.title = self.tr("设置")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(self.scroll_area, 1)
        body = QWidget(self.scroll_area)
        body.setMaximumWidth(1000)  # long lines are hard to read on a wide screen
        layout = QVBoxLayout(body)
        layout.setContentsMargins(32, 24, 32, 24)
        layout.setSpacing(16)
        layout.addWidget(heading(self.title, body))

        self.form = SettingsForm(ctx, operator, body)
        self.form.saved.connect(self.settings_saved)
        layout.addWidget(self.form)

        layout.addWidget(self._institution_box(institution, body))

        system = QGroupBox(self.tr("本机"), body)
        system_form = QFormLayout(system)
        self.secret_store_label = _selectable(self.tr("检查中…"), system, "secretStore")
        system_form.addRow(self.tr("密钥存储："), self.secret_store_label)
        system_form.addRow(self.tr("数据文件夹："), _selectable(str(ctx.paths.data_dir), system, "dataDir"))
        system_form.addRow(self.tr("日志文件夹："), _selectable(str(ctx.paths.log_dir), system, "logDir"))
        system_form.addRow(self.tr("数据库："), _selectable(ctx.database_description, system, "databaseDescription"))
        # The same checks as `wi-counter doctor` (issue 24 §5), for the IT person at a new counter.
        self.doctor_button = QPushButton(self.tr("本机检查(&K)"), system)
        self.doctor_button.setObjectName("runDoctor")
        self.doctor_button.setToolTip(self.tr("检查读卡器、结算中心及时钟、数据库、密钥、打印机、节假日安排、磁盘空间"))
        self.doctor_button.clicked.connect(self._run_doctor)
        system_form.addRow(self.doctor_button)
        self.doctor_result = QLabel(system)
        self.doctor_result.setObjectName("doctorResult")
        self.doctor_result.setWordWrap(True)
        self.doctor_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        system_form.addRow(self.doctor_result)
        self._ctx = ctx
        layout.addWidget(system)

        self.operators: OperatorsPanel | None = None
        if operator.can(Permission.MANAGE_OPERATORS):
            self.operators = OperatorsPanel(ctx, operator, body)
            layout.addWidget(self.operators)
        layout.addStretch(1)
        self.scroll_area.setWidget(body)

        bar = QFrame(self)
        bar.setObjectName("settingsBar")
        bar.setFrameShape(QFrame.Shape.NoFrame)
        bar_layout = QVBoxLayout(bar)
        bar_layout.setContentsMargins(32, 0, 32, 12)
        rule = QFrame(bar)
        rule.setFrameShape(QFrame.Shape.HLine)
        rule.setFrameShadow(QFrame.Shadow.Sunken)
        bar_layout.addWidget(rule)
        bar_layout.addWidget(self.form.action_bar)  # moved out of the scrolled form, into view
        bar.setVisible(not self.form.action_bar.isHidden())
        outer.addWidget(bar)

        Operation(self, _describe_secret_store, executor=Executor.BACKGROUND).success(
            self.secret_store_label.setText
        ).failure(lambda error: self.secret_store_label.setText(self.tr("无法检查：{error}").format(error=clerk_message(error)))).run()

    def _run_doctor(self) -> None:
        from app import doctor
        from devices.cli import reader_finding
        from printing.test_page import render
        from ui.printer_check import printers

        found_printers = printers()  # Qt's print system is asked on the GUI thread
        probes = doctor.OuterProbes(reader=reader_finding, printers=lambda: found_printers, test_page=render)
        checks = doctor.standard_checks(self._ctx.paths, self._ctx.settings, None, probes)
        self.doctor_button.setEnabled(False)
        self.doctor_result.setText(self.tr("检查中…"))
        Operation(self, lambda: doctor.run(checks), executor=Executor.BACKGROUND).success(
            self._doctor_done).failure(self._doctor_failed).run()

    def _doctor_done(self, findings: list[Any]) -> None:
        from app.doctor import Level

        colours = {Level.OK: "#1b7a1b", Level.WARNING: "#9a6700", Level.ERROR: "#b3261e"}
        rows = []
        for finding in findings:
            todo = f"<br>&nbsp;&nbsp;→ {html.escape(finding.todo)}" if finding.todo else ""
            rows.append(f'<span style="color:{colours[finding.level]}"><b>[{finding.level.label}]</b></span> '
                        f"{html.escape(finding.topic)}：{html.escape(finding.found)}{todo}")
        errors = sum(1 for finding in findings if finding.level is Level.ERROR)
        warnings = sum(1 for finding in findings if finding.level is Level.WARNING)
        rows.append(self.tr("共 {n} 项：错误 {e}，注意 {w}。").format(n=len(findings), e=errors, w=warnings))
        self.doctor_result.setText("<br>".join(rows))
        self.doctor_button.setEnabled(True)

    def _doctor_failed(self, error: BaseException) -> None:
        self.doctor_result.setText(self.tr("检查未完成：{error}").format(error=clerk_message(error)))
        self.doctor_button.setEnabled(True)

    def _institution_box(self, institution: InstitutionInfo | None, parent: QWidget) -> QGroupBox:
        box = QGroupBox(self.tr("本机构"), parent)
        box.setObjectName("institutionBox")
        form = QFormLayout(box)
        if institution is None:
            form.addRow(QLabel(self.tr("尚未设置"), box))
            return box
        form.addRow(self.tr("医疗机构名称："), _selectable(institution.name, box, "institutionName"))
        form.addRow(self.tr("机构编码："), _selectable(institution.code, box, "institutionCode"))
        form.addRow(
            self.tr("所在地："),
            _selectable(f"{place_name(institution.province, institution.city)}（{institution.city_code}）", box,
                        "institutionCity"),
        )
        form.addRow(self.tr("医院等级："), _selectable(institution.level, box, "institutionLevel"))
        direct = self.tr("已开通") if institution.direct_settlement else self.tr("未开通")
        form.addRow(self.tr("联网直接结算："), _selectable(direct, box, "directSettlement"))
        return box
