"""The 入院登记 page's dialogs: 更正入院登记 (a new 入院日期 and / or admitting diagnoses) and
撤销入院登记 (the wrong person), each with its reason (issue 20 §3).

The dialog only collects what is to change and why; the page then asks for a reviewer's approval
(`ui.reviewer_authorisation`, unless a reviewer is signed in) and calls
`app.workflow.admission_correction` off the GUI thread.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ui.pages.workflow_widgets import to_date, to_qdate
from ui.qt import (
    QAbstractItemView,
    QDateEdit,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import ErrorLabel, dialog_buttons, heading, notice

if TYPE_CHECKING:
    from app.workflow.admission_correction import RegistrationView


class RegistrationChangeDialog(QDialog):
    """更正入院登记 (`cancel=False`) or 撤销入院登记 (`cancel=True`) of one registration.

    Accepted only with a reason and, for a correction, a change; then `admitted_on`, `diagnoses`
    (None: unchanged) and `reason` say what to do."""

    def __init__(self, view: RegistrationView, *, cancel: bool, next_is_authorisation: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.cancel = cancel
        self.setObjectName("registrationCancelDialog" if cancel else "registrationCorrectionDialog")
        title = self.tr("撤销入院登记") if cancel else self.tr("更正入院登记")
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(title, self, "dialogTitle", 1.2))
        facts = QFormLayout()
        for label, value in ((self.tr("工伤职工："), f"{view.name}（{view.masked_id}）"),
                             (self.tr("住院号："), view.admission_no),
                             (self.tr("就医登记号："), view.registration_no or "—"),
                             (self.tr("登记的入院日期："), view.admitted_on.isoformat()),
                             (self.tr("登记的入院诊断："), "；".join(f"{c} {n}" for c, n in view.diagnoses) or "—")):
            shown = QLabel(value, self)
            shown.setWordWrap(True)
            facts.addRow(QLabel(label, self), shown)
        layout.addLayout(facts)

        self.date_edit: QDateEdit | None = None
        self.diagnoses_table: QTableWidget | None = None
        if cancel:
            layout.addWidget(notice(self.tr(
                "撤销后，结算中心的这次就医登记作废，本次住院标为“已撤销”。登记错人时：撤销后读取正确患者的社保卡，"
                "用同一住院号重新登记；被错登记的人以后仍可正常登记。"), self, "cancelNotice"))
        else:
            layout.addWidget(notice(self.tr(
                "更正经结算中心办理：先撤销原登记，再按更正后的内容重新登记，取得新的就医登记号。"), self,
                "correctionNotice"))
            form = QFormLayout()
            self.date_edit = QDateEdit(self)
            self.date_edit.setObjectName("correctedAdmittedOn")
            self.date_edit.setCalendarPopup(True)
            self.date_edit.setDisplayFormat("yyyy-MM-dd")
            self.date_edit.setDate(to_qdate(view.admitted_on))
            date_label = QLabel(self.tr("正确的入院日期(&T)："), self)
            date_label.setBuddy(self.date_edit)
            form.addRow(date_label, self.date_edit)
            layout.addLayout(form)
            caption = QLabel(self.tr("入院诊断（ICD-10 编码和名称）(&G)："), self)
            layout.addWidget(caption)
            table = QTableWidget(0, 2, self)
            table.setObjectName("correctedDiagnoses")
            table.setHorizontalHeaderLabels([self.tr("诊断编码"), self.tr("诊断名称")])
            table.verticalHeader().setVisible(False)
            table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
            table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.setMinimumHeight(110)
            caption.setBuddy(table)
            self.diagnoses_table = table
            for code, name in view.diagnoses:
                self.add_diagnosis(code, name)
            layout.addWidget(table)
            row = QHBoxLayout()
            add = QPushButton(self.tr("增加诊断(&I)"), self)
            add.setObjectName("addCorrectedDiagnosis")
            add.setAutoDefault(False)
            add.clicked.connect(lambda: self.add_diagnosis("", "", edit=True))
            remove = QPushButton(self.tr("删除所选诊断(&M)"), self)
            remove.setObjectName("removeCorrectedDiagnosis")
            remove.setAutoDefault(False)
            remove.clicked.connect(self._remove_diagnosis)
            row.addWidget(add)
            row.addWidget(remove)
            row.addStretch(1)
            layout.addLayout(row)

        self.error = ErrorLabel(self, "changeError")
        reason_form = QFormLayout()
        self.reason_edit = QLineEdit(self)
        self.reason_edit.setObjectName("changeReason")
        self.reason_edit.setPlaceholderText(
            self.tr("必填：如 登记错人，住院号为另一患者") if cancel else self.tr("必填：如 入院日期录错，HIS 入院日期为…"))
        reason_label = QLabel(self.tr("原因(&Y)："), self)
        reason_label.setBuddy(self.reason_edit)
        reason_form.addRow(reason_label, self.reason_edit)
        self.reason_edit.textChanged.connect(lambda _text: self.error.clear_error())
        layout.addLayout(reason_form)
        layout.addWidget(self.error)
        action = self.tr("撤销登记") if cancel else self.tr("更正登记")
        accept_text = self.tr("下一步：审核员授权(&S)…") if next_is_authorisation else action + self.tr("(&S)")
        buttons, self.accept_button, self.quit_button = dialog_buttons(self, accept_text, "acceptButton")
        self.accept_button.clicked.connect(self._accept)
        self.quit_button.clicked.connect(self.reject)
        layout.addLayout(buttons)
        (self.date_edit or self.reason_edit).setFocus()
        self.resize(620, self.sizeHint().height())

    # --- the diagnoses ---------------------------------------------------------------------------

    def add_diagnosis(self, code: str, name: str, *, edit: bool = False) -> None:
        table = self.diagnoses_table
        assert table is not None
        row = table.rowCount()
        table.insertRow(row)
        table.setItem(row, 0, QTableWidgetItem(code))
        table.setItem(row, 1, QTableWidgetItem(name))
        if edit:
            table.setCurrentCell(row, 0)
            table.setFocus()
            item = table.item(row, 0)
            if item is not None:
                table.editItem(item)

    def _remove_diagnosis(self) -> None:
        table = self.diagnoses_table
        assert table is not None
        rows = sorted({index.row() for index in table.selectedIndexes()}, reverse=True)
        if not rows and table.currentRow() >= 0:
            rows = [table.currentRow()]
        for row in rows:
            table.removeRow(row)

    def diagnosis_rows(self) -> tuple[tuple[str, str], ...]:
        table = self.diagnoses_table
        if table is None:
            return ()
        rows = []
        for row in range(table.rowCount()):
            code_item, name_item = table.item(row, 0), table.item(row, 1)
            code = code_item.text().strip().upper() if code_item is not None else ""
            name = name_item.text().strip() if name_item is not None else ""
            if code or name:
                rows.append((code, name))
        return tuple(rows)

    # --- what was asked for ----------------------------------------------------------------------

    @property
    def reason(self) -> str:
        return self.reason_edit.text().strip()

    @property
    def admitted_on(self) -> dt.date | None:
        """The corrected 入院日期, None when unchanged (or cancelling)."""
        if self.date_edit is None:
            return None
        chosen = to_date(self.date_edit.date())
        return None if chosen == self.view.admitted_on else chosen

    @property
    def diagnoses(self) -> tuple[tuple[str, str], ...] | None:
        """The corrected admitting diagnoses, None when unchanged (or cancelling)."""
        if self.diagnoses_table is None:
            return None
        rows = self.diagnosis_rows()
        return None if rows == tuple((c.upper(), n) for c, n in self.view.diagnoses) else rows

    def change_summary(self) -> list[tuple[str, str]]:
        """What the reviewer is asked to approve, in the clerk's words."""
        view = self.view
        rows = [(self.tr("工伤职工："), f"{view.name}（{view.masked_id}）"),
                (self.tr("住院号 / 就医登记号："), f"{view.admission_no} / {view.registration_no or '—'}")]
        if self.cancel:
            rows.append((self.tr("办理："), self.tr("撤销入院登记（结算中心的就医登记作废）")))
        else:
            if self.admitted_on is not None:
                rows.append((self.tr("入院日期："), f"{view.admitted_on} → {self.admitted_on}"))
            if self.diagnoses is not None:
                rows.append((self.tr("入院诊断："), "；".join(f"{c} {n}" for c, n in view.diagnoses) + " → "
                             + "；".join(f"{c} {n}" for c, n in self.diagnoses)))
        rows.append((self.tr("原因："), self.reason))
        return rows

    def _accept(self) -> None:
        if not self.reason:
            self.error.show_error(self.tr("请填写原因（将记入审计日志）。"))
            self.reason_edit.setFocus()
            return
        if not self.cancel:
            rows = self.diagnosis_rows()
            if not rows:
                self.error.show_error(self.tr("请至少填写一个入院诊断。"))
                return
            if any(not code or not name for code, name in rows):
                self.error.show_error(self.tr("每条入院诊断都要有编码和名称。"))
                return
            if self.admitted_on is None and self.diagnoses is None:
                self.error.show_error(self.tr("入院日期和入院诊断都没有改变：请改正有误的内容。"))
                return
        self.error.clear_error()
        self.accept()
