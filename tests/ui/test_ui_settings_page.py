"""The 设置 page: settings form, institution, folders, and operator management."""

from __future__ import annotations

import tomllib
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.db.models import Role
from app.institution import InstitutionInfo
from app.operators import OperatorInfo, list_operators
from app.secret_store import describe_store
from app.settings import ALL_SETTINGS, CARD_BACKEND, COUNTER_NAME, LOG_LEVEL, Setting, Settings
from ui.pages.settings_page import SettingsPage
from ui.qt import QCheckBox, QComboBox, QLabel, QLineEdit, QSpinBox, Qt, QWidget
from tests.signed_in import signed_in

pytestmark = pytest.mark.gui

TypeText = Callable[[QWidget, str], None]


def _label(widget: QWidget, name: str) -> QLabel:
    found = widget.findChild(QLabel, name)
    assert found is not None, f"no QLabel named {name}"
    return found


def _cell(panel: object, row: int, column: int) -> str:
    item = panel.table.item(row, column)  # type: ignore[attr-defined]
    assert item is not None
    return str(item.text())


@pytest.fixture
def page_for(
    qtbot: QtBot,
    demo_ctx: CounterContext,
    operator_of: Callable[[CounterContext, str], OperatorInfo],
    institution_of: Callable[[CounterContext], InstitutionInfo | None],
) -> Callable[[str], SettingsPage]:
    def make(login: str) -> SettingsPage:
        page = SettingsPage(demo_ctx, operator_of(demo_ctx, login), institution_of(demo_ctx))
        qtbot.addWidget(page)
        page.resize(900, 700)
        page.show()
        qtbot.waitExposed(page)
        return page

    return make


def _field(page: SettingsPage, key: str) -> QWidget:
    return page.form.fields[key]


def test_form_has_one_field_per_setting(page_for: Callable[[str], SettingsPage]) -> None:
    page = page_for("admin")
    assert list(page.form.fields) == [spec.key for spec in ALL_SETTINGS]
    assert isinstance(_field(page, "counter.name"), QLineEdit)
    assert isinstance(_field(page, "logging.level"), QComboBox)
    assert isinstance(_field(page, "logging.keep_files"), QSpinBox)
    for spec in ALL_SETTINGS:
        assert _field(page, spec.key).toolTip() == spec.description


def test_choices_read_as_words_and_save_as_their_codes(page_for: Callable[[str], SettingsPage]) -> None:
    """Issue 20 §8: 设置 showed raw codes (`pcsc`, `wi-counter-json`); a clerk reads what each means,
    the code kept in brackets for IT, and the saved value is still the code."""
    page = page_for("admin")
    backend = _field(page, "card.backend")
    assert isinstance(backend, QComboBox)
    assert [backend.itemText(i) for i in range(backend.count())] == [
        "系统智能卡服务直接读卡（pcsc）", "厂商读卡驱动库（vendor，iReadCardBas）"]
    interface = _field(page, "centre.interface")
    assert isinstance(interface, QComboBox) and interface.currentText() == "本程序的 JSON 接口（wi-counter-json）"
    itype = _field(page, "card.vendor_itype")
    assert isinstance(itype, QComboBox) and itype.currentText() == "3 自动（接触式优先）"
    backend.setCurrentIndex(1)
    assert page.form._value(CARD_BACKEND) == "vendor"
    for spec in ALL_SETTINGS:
        if spec.choices is not None and spec.choice_labels is not None:
            assert len(spec.choice_labels) == len(spec.choices), spec.key


def test_every_kind_of_setting_gets_its_widget(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, demo_ctx: CounterContext
) -> None:
    from ui.pages import settings_page

    flag = Setting("printing.preview", bool, True, "打印前预览", "打印结算单前先显示预览。")
    monkeypatch.setattr(settings_page, "ALL_SETTINGS", (*ALL_SETTINGS, flag))
    form = settings_page.SettingsForm(demo_ctx, signed_in(OperatorInfo(1, "admin", "管理员", Role.ADMIN)))
    qtbot.addWidget(form)
    box = form.fields["printing.preview"]
    assert isinstance(box, QCheckBox) and box.isChecked()
    box.setChecked(False)
    assert form._value(flag) is False


def test_admin_changes_counter_name(
    qtbot: QtBot, page_for: Callable[[str], SettingsPage], demo_ctx: CounterContext, type_text: TypeText
) -> None:
    page = page_for("admin")
    name = _field(page, "counter.name")
    assert isinstance(name, QLineEdit)
    name.clear()
    type_text(name, "3号窗口")
    level = _field(page, "logging.level")
    assert isinstance(level, QComboBox)
    level.setCurrentIndex(level.findData("DEBUG"))
    assert level.currentText() == "详细（DEBUG）"
    with qtbot.waitSignal(page.settings_saved, timeout=5000):
        qtbot.mouseClick(page.form.save_button, Qt.MouseButton.LeftButton)
    assert page.form.result_label.text() == "已保存。"
    with demo_ctx.settings.path.open("rb") as handle:
        on_disk = tomllib.load(handle)
    assert on_disk["counter"]["name"] == "3号窗口"
    assert on_disk["logging"]["level"] == "DEBUG"
    assert Settings.load(demo_ctx.settings.path).get(COUNTER_NAME) == "3号窗口"
    assert demo_ctx.counter_name == "3号窗口"
    assert demo_ctx.settings.get(LOG_LEVEL) == "DEBUG"


def test_saving_keeps_a_setting_changed_elsewhere_meanwhile(
    qtbot: QtBot, page_for: Callable[[str], SettingsPage], demo_ctx: CounterContext, type_text: TypeText
) -> None:
    from app.settings import SLIP_PRINTER

    page = page_for("admin")
    # The 结算单 page remembers the printer chosen in the print dialog while this form is open.
    demo_ctx.settings.set(SLIP_PRINTER, "财务室打印机")
    demo_ctx.settings.save()
    name = _field(page, "counter.name")
    assert isinstance(name, QLineEdit)
    name.clear()
    type_text(name, "5号窗口")
    with qtbot.waitSignal(page.settings_saved, timeout=5000):
        qtbot.mouseClick(page.form.save_button, Qt.MouseButton.LeftButton)
    on_disk = Settings.load(demo_ctx.settings.path)
    assert on_disk.get(COUNTER_NAME) == "5号窗口"
    assert on_disk.get(SLIP_PRINTER) == "财务室打印机"
    assert demo_ctx.settings.get(SLIP_PRINTER) == "财务室打印机"


def test_invalid_value_shows_error_and_saves_nothing(
    qtbot: QtBot, page_for: Callable[[str], SettingsPage], demo_ctx: CounterContext
) -> None:
    page = page_for("admin")
    before = demo_ctx.settings.path.read_bytes() if demo_ctx.settings.path.exists() else None
    name = _field(page, "counter.name")
    assert isinstance(name, QLineEdit)
    name.clear()
    keep = _field(page, "logging.keep_files")
    assert isinstance(keep, QSpinBox)
    keep.setValue(3)  # a valid change alongside: must not be saved either
    qtbot.mouseClick(page.form.save_button, Qt.MouseButton.LeftButton)
    assert page.form.error_label.isVisible()
    assert "窗口名称）：不能为空" in page.form.error_label.text()
    qtbot.wait(100)
    after = demo_ctx.settings.path.read_bytes() if demo_ctx.settings.path.exists() else None
    assert after == before
    assert demo_ctx.counter_name == "1号窗口"


def test_spin_box_keeps_to_the_setting_minimum(page_for: Callable[[str], SettingsPage]) -> None:
    page = page_for("admin")
    keep = _field(page, "logging.keep_files")
    assert isinstance(keep, QSpinBox)
    keep.setValue(0)
    assert keep.value() == 1


def test_cashier_sees_read_only_fields(page_for: Callable[[str], SettingsPage]) -> None:
    page = page_for("cashier")
    for widget in page.form.fields.values():
        if isinstance(widget, (QLineEdit, QSpinBox)):
            assert widget.isReadOnly()
        elif isinstance(widget, (QComboBox, QCheckBox)):
            assert not widget.isEnabled()
    assert not page.form.save_button.isVisible()
    note = _label(page, "readOnlyNote")
    assert note is not None and note.isVisible()
    assert page.operators is None


def test_institution_folders_and_secret_store(
    qtbot: QtBot, page_for: Callable[[str], SettingsPage], demo_ctx: CounterContext
) -> None:
    page = page_for("reviewer")
    assert _label(page, "institutionName").text() == "湛江市第一人民医院"
    assert _label(page, "institutionCode").text() == "H44080100001"
    assert _label(page, "institutionLevel").text() == "三级甲等"
    assert _label(page, "dataDir").text() == str(demo_ctx.paths.data_dir)
    assert _label(page, "logDir").text() == str(demo_ctx.paths.log_dir)
    store = _label(page, "secretStore")
    qtbot.waitUntil(lambda: store.text() != "检查中…", timeout=5000)
    assert store.text() == describe_store()


def _fill_operator(type_text: TypeText, page: SettingsPage, login: str, name: str, role: Role, password: str) -> None:
    panel = page.operators
    assert panel is not None
    type_text(panel.login_edit, login)
    type_text(panel.name_edit, name)
    panel.role_combo.setCurrentIndex(panel.role_combo.findData(role.value))
    type_text(panel.password_edit, password)
    type_text(panel.confirm_edit, password)


def test_admin_adds_a_reviewer(
    qtbot: QtBot, page_for: Callable[[str], SettingsPage], demo_ctx: CounterContext, type_text: TypeText
) -> None:
    page = page_for("admin")
    panel = page.operators
    assert panel is not None
    qtbot.waitUntil(lambda: panel.table.rowCount() == 3, timeout=5000)
    _fill_operator(type_text, page, "zhaomin", "赵敏", Role.REVIEWER, "review-2024")
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 4, timeout=10_000)
    assert "赵敏" in panel.result_label.text()
    with demo_ctx.transaction() as session:
        added = [o for o in list_operators(session) if o.login == "zhaomin"]
    assert [(o.display_name, o.role) for o in added] == [("赵敏", Role.REVIEWER)]
    rows = {_cell(panel, row, 0): _cell(panel, row, 2) for row in range(4)}
    assert rows["zhaomin"] == "审核员"
    assert panel.login_edit.text() == "" and panel.password_edit.text() == ""


def test_duplicate_login_is_refused_inline(
    qtbot: QtBot, page_for: Callable[[str], SettingsPage], demo_ctx: CounterContext, type_text: TypeText
) -> None:
    page = page_for("admin")
    panel = page.operators
    assert panel is not None
    _fill_operator(type_text, page, "cashier", "另一个张收款", Role.CASHIER, "another-pass")
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.error_label.isVisible(), timeout=10_000)
    assert panel.error_label.text() == "登录名 cashier 已被使用"
    assert panel.add_button.isEnabled()
    with demo_ctx.transaction() as session:
        assert len(list_operators(session)) == 3


def test_mismatched_passwords_for_new_operator(
    qtbot: QtBot, page_for: Callable[[str], SettingsPage], type_text: TypeText
) -> None:
    page = page_for("admin")
    panel = page.operators
    assert panel is not None
    _fill_operator(type_text, page, "liuyang", "刘洋", Role.CASHIER, "cashier-pass")
    type_text(panel.confirm_edit, "x")
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    assert panel.error_label.text() == "两次输入的密码不一致"


def test_the_counter_check_runs_the_doctors_checks_on_the_page(page_for: Callable[[str], SettingsPage],
                                                               qtbot: QtBot) -> None:
    """Issue 24 §5: the same checks as `wi-counter doctor`, from the 设置 page, without blocking the window."""
    from ui.qt import QPushButton

    page = page_for("cashier")  # anyone at the counter may look; nothing is changed
    button = page.findChild(QPushButton, "runDoctor")
    assert button is not None and button.isEnabled() and "&" in button.text()
    button.click()
    result = _label(page, "doctorResult")
    qtbot.waitUntil(lambda: "共 12 项" in result.text(), timeout=60_000)
    text = result.text()
    for topic in ("读卡器", "结算中心", "数据库", "密钥环", "打印机", "测试页", "节假日安排", "磁盘空间"):
        assert topic in text
    assert "正常" in text
    assert button.isEnabled()
