"""The 费用与伤病分离 page's dialogs: a refused HIS file's bad rows, 归入诊断, 改判 with its reason,
手工录入 / 更正 / 退费 of a line, and the differences the centre's pre-settlement found.

Amounts and quantities are typed as text and read as `Decimal` (never a float spin box).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

from app.db.models import ChargeCategory
from app.workflow.catalogue import SEARCH_LIMIT, SEARCH_MAX_CHARS, CatalogueMatch, search_catalogue
from app.workflow.separation import LineDifference, LineView, StayDiagnosisView
from ui.operations import Operation
from ui.qt import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QCoreApplication,
    QDate,
    QDateEdit,
    QDialog,
    QFormLayout,
    QHeaderView,
    QLabel,
    QEvent,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QObject,
    QPlainTextEdit,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import ErrorLabel, dialog_buttons, heading

if TYPE_CHECKING:
    from app.bootstrap import CounterContext

CATEGORY_NAMES = {
    ChargeCategory.DRUG: "药品", ChargeCategory.TREATMENT: "诊疗项目", ChargeCategory.CONSUMABLE: "医用耗材",
    ChargeCategory.REHAB: "康复服务项目", ChargeCategory.DEVICE: "辅助器具",
}


def _tr(text: str) -> str:
    return QCoreApplication.translate("ChargesPage", text)


def to_qdate(value: dt.date) -> QDate:
    return QDate(value.year, value.month, value.day)


def to_date(value: QDate) -> dt.date:
    return dt.date(value.year(), value.month(), value.day())


def read_decimal(text: str, label: str, *, positive: bool = True, places: int = 4) -> Decimal:
    """A typed number as a Decimal; ValueError with the clerk's words when it is not one."""
    cleaned = text.strip().replace("，", "").replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(_tr("{label}应为数字，实际为“{text}”").format(label=label, text=text)) from None
    if not value.is_finite():
        raise ValueError(_tr("{label}应为数字").format(label=label))
    if positive and value <= 0:
        raise ValueError(_tr("{label}应大于零").format(label=label))
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(_tr("{label}最多 {n} 位小数").format(label=label, n=places))
    return value


def _table(parent: QWidget, headers: Sequence[str], rows: Sequence[Sequence[str]], name: str) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    for row, values in enumerate(rows):
        for column, value in enumerate(values):
            table.setItem(row, column, QTableWidgetItem(value))
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class RowProblemLike(Protocol):
    @property
    def row(self) -> int: ...
    @property
    def column(self) -> str | None: ...
    @property
    def message(self) -> str: ...


class BadRowsDialog(QDialog):
    """The HIS file was refused: every bad row with its row number and reason; nothing was imported."""

    def __init__(self, file_name: str, problems: Sequence[RowProblemLike], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("badRowsDialog")
        self.setWindowTitle(_tr("HIS 文件有误"))
        self.resize(720, 420)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(_tr("文件未导入：共 {n} 处问题").format(n=len(problems)), self, size=1.2))
        layout.addWidget(QLabel(_tr("{file} 中以下各行有误。改正后重新导入；在此之前没有导入任何明细。")
                                .format(file=file_name), self))
        self.table = _table(self, [_tr("行号"), _tr("列"), _tr("问题")],
                            [(str(p.row) if p.row else _tr("整个文件"), p.column or "", p.message) for p in problems],
                            "badRowsTable")
        layout.addWidget(self.table, 1)
        row, accept, quit_button = dialog_buttons(self, _tr("知道了"), "acceptButton")
        quit_button.hide()
        accept.clicked.connect(self.accept)
        layout.addLayout(row)


class DiagnosisDialog(QDialog):
    """归入诊断: the selected lines follow the chosen diagnosis of the stay."""

    def __init__(self, diagnoses: Sequence[StayDiagnosisView], count: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("diagnosisDialog")
        self.setWindowTitle(_tr("归入诊断"))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(_tr("将选中的 {n} 条明细归入诊断：").format(n=count), self))
        self.combo = QComboBox(self)
        self.combo.setObjectName("diagnosisChoice")
        for diagnosis in diagnoses:
            kind = _tr("工伤") if diagnosis.injury else _tr("非工伤")
            source = {"recognition": _tr("工伤认定"), "admitting": _tr("入院诊断"), "discharge": _tr("出院诊断")}
            self.combo.addItem(f"{diagnosis.code} {diagnosis.name}（{kind}，{source.get(diagnosis.source, '')}）",
                               diagnosis.code)
        layout.addWidget(self.combo)
        row, accept, quit_button = dialog_buttons(self, _tr("归入"), "acceptButton")
        accept.clicked.connect(self.accept)
        quit_button.clicked.connect(self.reject)
        layout.addLayout(row)

    @property
    def diagnosis_code(self) -> str:
        return str(self.combo.currentData())


class OverrideDialog(QDialog):
    """改判: injury or non-injury against the diagnosis, with the reason (required, audited)."""

    def __init__(self, count: int, reviewer: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("overrideDialog")
        self.setWindowTitle(_tr("改判伤病分离"))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(_tr("将选中的 {n} 条明细改判为：").format(n=count), self))
        self.injury_radio = QRadioButton(_tr("工伤（基金按目录支付）"), self)
        self.injury_radio.setObjectName("injuryRadio")
        self.non_injury_radio = QRadioButton(_tr("非工伤（其他（非工伤伤情费用））"), self)
        self.non_injury_radio.setObjectName("nonInjuryRadio")
        self.non_injury_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.injury_radio)
        group.addButton(self.non_injury_radio)
        layout.addWidget(self.injury_radio)
        layout.addWidget(self.non_injury_radio)
        layout.addWidget(QLabel(_tr("改判理由（必填，记入审计）："), self))
        self.reason_edit = QPlainTextEdit(self)
        self.reason_edit.setObjectName("reasonEdit")
        self.reason_edit.setTabChangesFocus(True)
        self.reason_edit.setFixedHeight(80)
        layout.addWidget(self.reason_edit)
        if not reviewer:
            layout.addWidget(QLabel(_tr("收款员的改判须经审核员审核通过后才能结算。"), self))
        self.error = ErrorLabel(self)
        layout.addWidget(self.error)
        row, self.accept_button, quit_button = dialog_buttons(self, _tr("改判"), "acceptButton")
        self.accept_button.clicked.connect(self._accept)
        quit_button.clicked.connect(self.reject)
        layout.addLayout(row)

    @property
    def injury(self) -> bool:
        return self.injury_radio.isChecked()

    @property
    def reason(self) -> str:
        return self.reason_edit.toPlainText().strip()

    def _accept(self) -> None:
        if not self.reason:
            self.error.show_error(_tr("请填写改判理由。"))
            self.reason_edit.setFocus()
            return
        self.accept()


@dataclass(frozen=True)
class ManualLine:
    his_code: str
    name: str
    category: ChargeCategory | None
    quantity: Decimal
    unit_price: Decimal
    charged_on: dt.date
    dept: str | None
    diagnosis_code: str | None
    reason: str


class ManualLineDialog(QDialog):
    """手工录入 a line (or 更正 one: the same form filled with the line, only changes are sent)."""

    def __init__(self, diagnoses: Sequence[StayDiagnosisView], today: dt.date, parent: QWidget | None = None,
                 line: LineView | None = None, admitted_on: dt.date | None = None) -> None:
        super().__init__(parent)
        self.original = line
        self.admitted_on = admitted_on
        self.setObjectName("correctLineDialog" if line else "manualLineDialog")
        self.setWindowTitle(_tr("更正第 {seq} 条明细").format(seq=line.seq) if line else _tr("手工录入明细"))
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.his_code = QLineEdit(line.his_code if line else "", self)
        self.his_code.setObjectName("hisCodeEdit")
        self.name = QLineEdit(line.name if line else "", self)
        self.name.setObjectName("nameEdit")
        self.category = QComboBox(self)
        self.category.setObjectName("categoryCombo")
        self.category.addItem(_tr("（按目录）"), None)
        for category, label in CATEGORY_NAMES.items():
            self.category.addItem(_tr(label), category.value)
        if line and line.category is not None:
            self.category.setCurrentIndex(self.category.findData(line.category.value))
        self.quantity = QLineEdit(f"{line.quantity.normalize():f}" if line else "1", self)
        self.quantity.setObjectName("quantityEdit")
        self.unit_price = QLineEdit(f"{line.unit_price.normalize():f}" if line else "", self)
        self.unit_price.setObjectName("unitPriceEdit")
        self.charged_on = QDateEdit(to_qdate(line.charged_on if line else today), self)
        self.charged_on.setObjectName("chargedOnEdit")
        self.charged_on.setCalendarPopup(True)
        self.charged_on.setDisplayFormat("yyyy-MM-dd")
        self.dept = QLineEdit((line.dept or "") if line else "", self)
        self.dept.setObjectName("deptEdit")
        self.diagnosis = QComboBox(self)
        self.diagnosis.setObjectName("diagnosisCombo")
        self.diagnosis.addItem(_tr("（不关联）"), None)
        for diagnosis in diagnoses:
            self.diagnosis.addItem(diagnosis.label, diagnosis.code)
        if line and line.diagnosis_code:
            self.diagnosis.setCurrentIndex(max(0, self.diagnosis.findData(line.diagnosis_code)))
        self.reason = QLineEdit(self)
        self.reason.setObjectName("reasonEdit")
        form.addRow(_tr("HIS 项目编码"), self.his_code)
        form.addRow(_tr("项目名称"), self.name)
        form.addRow(_tr("费用类别"), self.category)
        form.addRow(_tr("数量"), self.quantity)
        form.addRow(_tr("单价（元）"), self.unit_price)
        form.addRow(_tr("费用日期"), self.charged_on)
        form.addRow(_tr("科室"), self.dept)
        form.addRow(_tr("关联诊断"), self.diagnosis)
        form.addRow(_tr("理由（记入审计）"), self.reason)
        layout.addLayout(form)
        self.error = ErrorLabel(self)
        layout.addWidget(self.error)
        row, accept, quit_button = dialog_buttons(self, _tr("保存"), "acceptButton")
        accept.clicked.connect(self._accept)
        quit_button.clicked.connect(self.reject)
        layout.addLayout(row)
        self.value: ManualLine | None = None

    def _accept(self) -> None:
        try:
            if not self.his_code.text().strip() or not self.name.text().strip():
                raise ValueError(_tr("请填写 HIS 项目编码和项目名称。"))
            quantity = read_decimal(self.quantity.text(), _tr("数量"))
            unit_price = read_decimal(self.unit_price.text(), _tr("单价"), positive=False)
            if unit_price < 0:
                raise ValueError(_tr("单价不能为负数；退费请用“退费”。"))
            if self.original is not None and not self.reason.text().strip():
                raise ValueError(_tr("更正明细须填写理由。"))
            if self.original is None:  # 手工录入: the charges service refuses the same (issue 20 §11)
                if not self.reason.text().strip():
                    raise ValueError(_tr("请填写理由：为什么医院信息系统没有这条明细（记入审计）。"))
                if not self.diagnosis.currentData():
                    raise ValueError(_tr("请选择关联诊断：伤病分离按诊断判断这条明细是否属于工伤。"))
                charged_on = to_date(self.charged_on.date())
                if self.admitted_on is not None and charged_on < self.admitted_on:
                    raise ValueError(_tr("费用日期 {day} 早于入院日期 {admitted}：请核对费用日期。").format(
                        day=charged_on.isoformat(), admitted=self.admitted_on.isoformat()))
        except ValueError as exc:
            self.error.show_error(str(exc))  # our own Chinese validation text
            return
        category = self.category.currentData()
        diagnosis = self.diagnosis.currentData()
        self.value = ManualLine(self.his_code.text().strip(), self.name.text().strip(),
                                ChargeCategory(category) if category else None, quantity, unit_price,
                                to_date(self.charged_on.date()), self.dept.text().strip() or None,
                                str(diagnosis) if diagnosis else None, self.reason.text().strip())
        self.accept()

    def changes(self) -> dict[str, Any]:
        """For 更正: the fields that differ from the line (ChargeLine attribute names)."""
        assert self.value is not None and self.original is not None
        line, value = self.original, self.value
        candidates: dict[str, tuple[Any, Any]] = {
            "his_code": (line.his_code, value.his_code), "name": (line.name, value.name),
            "category": (line.category, value.category), "quantity": (line.quantity, value.quantity),
            "unit_price": (line.unit_price, value.unit_price), "charged_on": (line.charged_on, value.charged_on),
            "dept": (line.dept, value.dept), "diagnosis_code": (line.diagnosis_code, value.diagnosis_code),
        }
        return {name: new for name, (old, new) in candidates.items() if old != new}


class RefundDialog(QDialog):
    """退费: part or all of a line, as a new line with a negative quantity pointing at it."""

    def __init__(self, line: LineView, today: dt.date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("refundDialog")
        self.setWindowTitle(_tr("退费：第 {seq} 条明细").format(seq=line.seq))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(_tr("{name}：数量 {quantity}，单价 {price}").format(
            name=line.name, quantity=f"{line.quantity.normalize():f}", price=f"{line.unit_price.normalize():f}"),
            self))
        form = QFormLayout()
        self.quantity = QLineEdit(f"{line.quantity.normalize():f}", self)
        self.quantity.setObjectName("quantityEdit")
        self.charged_on = QDateEdit(to_qdate(today), self)
        self.charged_on.setObjectName("chargedOnEdit")
        self.charged_on.setCalendarPopup(True)
        self.charged_on.setDisplayFormat("yyyy-MM-dd")
        self.reason = QLineEdit(self)
        self.reason.setObjectName("reasonEdit")
        form.addRow(_tr("退费数量"), self.quantity)
        form.addRow(_tr("退费日期"), self.charged_on)
        form.addRow(_tr("理由（必填）"), self.reason)
        layout.addLayout(form)
        self.error = ErrorLabel(self)
        layout.addWidget(self.error)
        row, accept, quit_button = dialog_buttons(self, _tr("退费"), "acceptButton")
        accept.clicked.connect(self._accept)
        quit_button.clicked.connect(self.reject)
        layout.addLayout(row)
        self.refund_quantity = Decimal("0")

    def _accept(self) -> None:
        try:
            self.refund_quantity = read_decimal(self.quantity.text(), _tr("退费数量"))
            if not self.reason.text().strip():
                raise ValueError(_tr("退费须填写理由。"))
        except ValueError as exc:
            self.error.show_error(str(exc))  # our own Chinese validation text
            return
        self.accept()

    @property
    def refund_date(self) -> dt.date:
        return to_date(self.charged_on.date())


class DifferencesDialog(QDialog):
    """The centre's pre-settlement differs from the preview: each cell and line, side by side."""

    def __init__(self, differences: Sequence[LineDifference], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("differencesDialog")
        self.setWindowTitle(_tr("中心预结算与本地预览不一致"))
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(_tr("共 {n} 处不一致").format(n=len(differences)), self, size=1.2))
        rows = [(str(d.seq) if d.seq else _tr("汇总"), d.field, d.local, d.centre) for d in differences]
        self.table = _table(self, [_tr("明细序号"), _tr("项目"), _tr("本地预览"), _tr("中心预结算")], rows,
                            "differencesTable")
        layout.addWidget(self.table, 1)
        row, accept, quit_button = dialog_buttons(self, _tr("知道了"), "acceptButton")
        quit_button.hide()
        accept.clicked.connect(self.accept)
        layout.addLayout(row)


def _price(value: Decimal) -> str:
    """A unit price as the catalogue prints it: yuan and fen, more places only where it has them."""
    cents = value.quantize(Decimal("0.01"))
    return f"{cents:f}" if cents == value else f"{value.normalize():f}"


class CodeMapDialog(QDialog):
    """目录对照 (`003 §27`): the HIS code of the selected line → a catalogue code, or confirmed outside the
    catalogue (自费). Applies to every not-yet-uploaded line with this HIS code in the open stays.

    The catalogue is searched by name (or code) as the clerk types, starting from the HIS item's own
    name: nobody knows the catalogue's codes by heart. ↓ goes to the list, Enter takes the first
    match, Enter on a match saves it."""

    SEARCH_DELAY_MS = 250

    def __init__(self, line: LineView, ctx: CounterContext | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeMapDialog")
        self.setWindowTitle(_tr("目录对照"))
        self.setMinimumWidth(620)
        self._ctx = ctx
        self._searches = 0  # the latest search's number: an older answer arriving late is dropped
        self.shown_for: str | None = None  # the text whose matches the list shows
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(_tr("HIS 项目 {code} {name}").format(code=line.his_code, name=line.name), self))
        form = QFormLayout()
        self.search = QLineEdit(self)
        self.search.setObjectName("catalogueSearchEdit")
        self.search.setPlaceholderText(_tr("输入项目名称的一部分或目录编码，如：换药"))
        self.search.setMaxLength(SEARCH_MAX_CHARS)
        self.search.installEventFilter(self)
        self.matches = QListWidget(self)
        self.matches.setObjectName("catalogueMatches")
        self.matches.setMinimumHeight(180)
        self.matches.currentItemChanged.connect(self._take_match)
        self.matches.itemActivated.connect(self._take_match)
        self.search_hint = QLabel(self)
        self.search_hint.setObjectName("catalogueSearchHint")
        self.search_hint.setWordWrap(True)
        self.catalogue_code = QLineEdit(line.code or "", self)
        self.catalogue_code.setObjectName("catalogueCodeEdit")
        self.catalogue_code.setPlaceholderText(_tr("工伤保险目录编码（从上面的查找结果中选择，或直接填写）"))
        self.catalogue_code.setMaxLength(64)
        self.outside = QCheckBox(_tr("确认为目录外项目（自费，须告知患者）"), self)
        self.outside.setObjectName("outsideCheck")
        self.outside.toggled.connect(self._outside_toggled)
        self.note = QLineEdit(self)
        self.note.setObjectName("noteEdit")
        self.note.setMaxLength(200)
        form.addRow(_tr("查找目录(&F)"), self.search)
        form.addRow("", self.matches)
        form.addRow("", self.search_hint)
        form.addRow(_tr("目录编码"), self.catalogue_code)
        form.addRow("", self.outside)
        form.addRow(_tr("备注"), self.note)
        layout.addLayout(form)
        self.error = ErrorLabel(self)
        layout.addWidget(self.error)
        row, accept, quit_button = dialog_buttons(self, _tr("保存对照"), "acceptButton")
        accept.clicked.connect(self._accept)
        quit_button.clicked.connect(self.reject)
        layout.addLayout(row)
        self.his_code = line.his_code
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.run_search)
        self.search.textEdited.connect(lambda _text: self._timer.start())
        if ctx is None:
            self.search.setEnabled(False)
            self.matches.setEnabled(False)
        else:
            self.search.setText(line.name)  # the HIS name is where the clerk would start
            self.search.selectAll()
            self.run_search()
        self.search.setFocus()

    def run_search(self) -> None:
        """Look the typed words up in the local catalogue (on the database thread)."""
        if self._ctx is None:
            return
        self._timer.stop()
        self._searches += 1
        number, text = self._searches, self.search.text()
        if not text.strip():
            self._show_matches(number, text, [])
            return
        Operation.transaction(self, self._ctx, lambda session: search_catalogue(session, text)) \
            .success(lambda found: self._show_matches(number, text, found)).run()

    def _show_matches(self, number: int, text: str, found: list[CatalogueMatch]) -> None:
        if number != self._searches:
            return
        self.shown_for = text
        self.matches.blockSignals(True)  # filling the list is not the clerk choosing
        self.matches.clear()
        for match in found:
            price = "" if match.price_limit is None else _tr("限价 {price} 元").format(price=_price(match.price_limit))
            item = QListWidgetItem("  ".join(part for part in (
                match.code, match.name, CATEGORY_NAMES.get(match.category, ""), match.unit or "", price) if part))
            item.setData(Qt.ItemDataRole.UserRole, match.code)
            self.matches.addItem(item)
        self.matches.blockSignals(False)
        words = text.strip()
        if not words:
            self.search_hint.setText(_tr("输入项目名称或编码查找目录。"))
        elif not found:
            self.search_hint.setText(_tr("目录中没有名称含“{words}”的有效项目：少输几个字再试，"
                                         "或确认为目录外项目。").format(words=words))
        elif len(found) >= SEARCH_LIMIT:
            self.search_hint.setText(_tr("找到 {n} 项以上，只列出前 {n} 项：请多输几个字缩小范围。").format(n=len(found)))
        else:
            self.search_hint.setText(_tr("找到 {n} 项：用 ↓ 选择，回车保存。").format(n=len(found)))

    def _take_match(self, item: QListWidgetItem | None, *_previous: object) -> None:
        if item is None or self.outside.isChecked():
            return
        self.catalogue_code.setText(str(item.data(Qt.ItemDataRole.UserRole)))

    def _outside_toggled(self, checked: bool) -> None:
        self.catalogue_code.setEnabled(not checked)
        self.matches.setEnabled(not checked and self._ctx is not None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        # In the search box ↓ goes to the matches and Enter takes the first one; Enter must not save
        # the dialog from the search box before a match was chosen.
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.matches.count():
                if self._timer.isActive():
                    self.run_search()
                    return True
                self.matches.setCurrentRow(max(self.matches.currentRow(), 0))
                self.matches.setFocus()
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.run_search()
                return True
        return super().eventFilter(watched, event)

    @property
    def chosen_code(self) -> str | None:
        return None if self.outside.isChecked() else self.catalogue_code.text().strip()

    def _accept(self) -> None:
        if not self.outside.isChecked() and not self.catalogue_code.text().strip():
            self.error.show_error(_tr("请填写目录编码，或勾选“确认为目录外项目”。"))
            return
        self.accept()
