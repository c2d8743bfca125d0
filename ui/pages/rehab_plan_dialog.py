"""The 出院结算 page's 康复方案 dialog: a rehab stay's plan (its reference, date and a summary) is
recorded and uploaded before the discharge settlement (`000 §30`, `app.workflow.rehab_plan`)."""

from __future__ import annotations

import datetime as dt

from ui.pages.workflow_widgets import to_date, to_qdate
from ui.qt import QDateEdit, QDialog, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget, Signal
from ui.widgets import ErrorLabel, dialog_buttons, heading


class RehabPlanDialog(QDialog):
    """Emits `submitted()` on 上传康复方案; the page records and uploads it, then closes the dialog or
    shows the reason here (`failed`)."""

    submitted = Signal()

    def __init__(self, today: dt.date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rehabPlanDialog")
        self.setWindowTitle(self.tr("康复方案"))
        self.setModal(True)
        self.resize(520, 360)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(self.tr("录入并上传康复方案"), self, "rehabPlanTitle", size=1.3))
        note = QLabel(self.tr("康复住院须在出院结算前上传康复方案（000 §30）。方案原件留存病案，此处录入编号、日期和摘要。"), self)
        note.setWordWrap(True)
        layout.addWidget(note)
        form = QFormLayout()
        self.document_edit = QLineEdit(self)
        self.document_edit.setObjectName("rehabPlanNo")
        self.document_edit.setMaxLength(64)
        form.addRow(self.tr("方案编号(&N)："), self.document_edit)
        self.date_edit = QDateEdit(self)
        self.date_edit.setObjectName("rehabPlanDate")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setDate(to_qdate(today))
        self.date_edit.setMaximumDate(to_qdate(today))
        form.addRow(self.tr("方案日期(&D)："), self.date_edit)
        self.summary_edit = QPlainTextEdit(self)
        self.summary_edit.setObjectName("rehabPlanSummary")
        self.summary_edit.setTabChangesFocus(True)
        self.summary_edit.setPlaceholderText(self.tr("康复目标、项目、频次和疗程，如：运动疗法、作业疗法，每日一次，两周"))
        form.addRow(self.tr("方案摘要(&S)："), self.summary_edit)
        layout.addLayout(form, 1)
        self.error_label = ErrorLabel(self, "rehabPlanError")
        layout.addWidget(self.error_label)
        row, self.submit_button, self.quit_button = dialog_buttons(self, self.tr("上传康复方案"), "submitRehabPlan")
        self.submit_button.clicked.connect(self._submit)
        self.quit_button.clicked.connect(self.reject)
        layout.addLayout(row)
        self.document_edit.setFocus()

    def document_no(self) -> str:
        return self.document_edit.text().strip()

    def summary(self) -> str:
        return self.summary_edit.toPlainText().strip()

    def drawn_up(self) -> dt.date:
        return to_date(self.date_edit.date())

    def _submit(self) -> None:
        if not self.document_no():
            self.error_label.show_error(self.tr("请填写康复方案编号。"))
            self.document_edit.setFocus()
            return
        if not self.summary():
            self.error_label.show_error(self.tr("请填写康复方案摘要。"))
            self.summary_edit.setFocus()
            return
        self.error_label.clear_error()
        self.submitted.emit()

    def set_busy(self, busy: bool) -> None:
        for widget in (self.submit_button, self.document_edit, self.date_edit, self.summary_edit):
            widget.setEnabled(not busy)

    def failed(self, message: str) -> None:
        self.set_busy(False)
        self.error_label.show_error(self.tr("康复方案未上传：{reason}").format(reason=message))
