"""The 月度结算 page's dialogs: 提出异议 on one deduction (`003 §20`, `002 经办规程 §23`), and a reviewer's
switch of a pre-audit rule the agency keeps contradicting (`app.claims.preaudit_month`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.slips import money_text
from ui.qt import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ErrorLabel, dialog_buttons, heading

if TYPE_CHECKING:
    from app.claims.deductions import DeductionView
    from app.claims.preaudit_month import ContradictedRule


class DisputeDialog(QDialog):
    """提出异议: the deduction, the hospital's statement and its evidence files (names kept only).

    Emits `submitted()` when the clerk presses 提交异议; the page records it and closes the dialog,
    or shows the refusal here (`failed`)."""

    submitted = Signal()

    def __init__(self, deduction: DeductionView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("disputeDialog")
        self.setWindowTitle(self.tr("提出扣款异议"))
        self.setModal(True)
        self.resize(560, 460)
        self.deduction = deduction
        self._evidence: list[str] = []
        self._names: list[str] = []  # shown; `_evidence` keeps the paths, in the same order
        # The file dialog's answer (tests replace it).
        self.choose_files: Callable[[], list[str]] = self._choose_files_with_dialog

        layout = QVBoxLayout(self)
        layout.addWidget(heading(self.tr("提出扣款异议"), self, "disputeTitle", size=1.3))
        facts = QFormLayout()
        item = deduction.item_name or self.tr("整笔结算")
        facts.addRow(self.tr("结算批次："), QLabel(deduction.batch_no, self))
        facts.addRow(self.tr("工伤职工："), QLabel(f"{deduction.name}　{deduction.masked_id}", self))
        facts.addRow(self.tr("扣款项目："), QLabel(item, self))
        facts.addRow(self.tr("扣款金额："), QLabel(self.tr("{amount} 元").format(amount=money_text(deduction.amount)), self))
        reason = QLabel(deduction.reason, self)
        reason.setWordWrap(True)
        facts.addRow(self.tr("扣款原因："), reason)
        deadline = QLabel(deduction.deadline_text, self)
        deadline.setObjectName("disputeDeadline")
        facts.addRow(self.tr("异议期限："), deadline)
        layout.addLayout(facts)

        statement_label = QLabel(self.tr("异议理由（情况说明）(&S)："), self)
        self.statement_edit = QPlainTextEdit(self)
        self.statement_edit.setObjectName("disputeStatement")
        self.statement_edit.setPlaceholderText(self.tr("说明该项费用属于工伤医疗费用的理由，对应的病案、检查或医嘱"))
        self.statement_edit.setTabChangesFocus(True)
        statement_label.setBuddy(self.statement_edit)
        layout.addWidget(statement_label)
        layout.addWidget(self.statement_edit, 1)

        evidence_label = QLabel(self.tr("证据材料（病案材料、影像资料、情况说明等；向经办机构报送文件名和校验值，"
                                        "文件本身按经办机构要求送交）："), self)
        evidence_label.setWordWrap(True)
        layout.addWidget(evidence_label)
        evidence_row = QHBoxLayout()
        self.evidence_list = QListWidget(self)
        self.evidence_list.setObjectName("disputeEvidence")
        self.evidence_list.setMaximumHeight(110)
        evidence_row.addWidget(self.evidence_list, 1)
        evidence_buttons = QVBoxLayout()
        self.add_button = QPushButton(self.tr("添加文件(&A)…"), self)
        self.add_button.setObjectName("addEvidence")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(lambda: self.add_evidence(self.choose_files()))
        self.remove_button = QPushButton(self.tr("移除(&R)"), self)
        self.remove_button.setObjectName("removeEvidence")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self.remove_selected)
        evidence_buttons.addWidget(self.add_button)
        evidence_buttons.addWidget(self.remove_button)
        evidence_buttons.addStretch(1)
        evidence_row.addLayout(evidence_buttons)
        layout.addLayout(evidence_row)

        self.error_label = ErrorLabel(self, "disputeError")
        layout.addWidget(self.error_label)
        row, self.submit_button, self.quit_button = dialog_buttons(self, self.tr("提交异议"), "submitDispute")
        self.submit_button.clicked.connect(self._submit)
        self.quit_button.clicked.connect(self.reject)
        layout.addLayout(row)
        self.statement_edit.setFocus()

    def _choose_files_with_dialog(self) -> list[str]:
        paths, _filter = QFileDialog.getOpenFileNames(self, self.tr("选择证据材料"), str(Path.home()),
                                                      self.tr("所有文件 (*)"))
        return list(paths)

    def add_evidence(self, paths: Sequence[str]) -> None:
        for raw in paths:
            # The list shows the name; the path is kept to take the file's SHA-256 when it is sent (003 §20).
            name = Path(str(raw).replace("\\", "/")).name.strip()
            if name and name not in self._names:
                self._names.append(name)
                self._evidence.append(str(raw))
                self.evidence_list.addItem(name)

    def remove_selected(self) -> None:
        row = self.evidence_list.currentRow()
        if 0 <= row < len(self._evidence):
            del self._evidence[row]
            del self._names[row]
            self.evidence_list.takeItem(row)

    def statement(self) -> str:
        return self.statement_edit.toPlainText().strip()

    def evidence(self) -> list[str]:
        return list(self._evidence)

    def _submit(self) -> None:
        if not self.statement():
            self.error_label.show_error(self.tr("请填写异议理由（情况说明）。"))
            self.statement_edit.setFocus()
            return
        if not self._evidence:
            self.error_label.show_error(self.tr("请至少附上一份证据材料。"))
            self.add_button.setFocus()
            return
        self.error_label.clear_error()
        self.submitted.emit()

    def set_busy(self, busy: bool) -> None:
        for widget in (self.submit_button, self.add_button, self.remove_button, self.statement_edit):
            widget.setEnabled(not busy)

    def failed(self, message: str) -> None:
        self.set_busy(False)
        self.error_label.show_error(self.tr("未记录异议：{reason}").format(reason=message))


class RuleAdjustDialog(QDialog):
    """停用 / 启用 a pre-audit rule in the site's rules copy: the rule, why the agency contradicts it, and the
    reviewer's reason (kept in the audit trail). Emits `submitted()`; the page saves and closes it."""

    submitted = Signal()

    def __init__(self, rule: ContradictedRule, enable: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ruleAdjustDialog")
        self.rule = rule
        self.enable = enable
        title = self.tr("启用预审规则") if enable else self.tr("停用预审规则")
        self.setWindowTitle(title)
        self.setModal(True)
        self.resize(560, 320)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(title, self, "ruleAdjustTitle", size=1.3))
        facts = QFormLayout()
        facts.addRow(self.tr("规则："), QLabel(f"{rule.title}（{rule.rule}）", self))
        explanation = QLabel(rule.explanation, self)
        explanation.setWordWrap(True)
        facts.addRow(self.tr("情况："), explanation)
        suggestion = QLabel(rule.suggestion, self)
        suggestion.setWordWrap(True)
        facts.addRow(self.tr("建议："), suggestion)
        layout.addLayout(facts)
        note = QLabel(self.tr("只修改本院的规则副本（配置文件夹 preaudit/rules.json），程序自带的规则文件不变。"), self)
        note.setWordWrap(True)
        layout.addWidget(note)
        reason_label = QLabel(self.tr("调整理由(&R)："), self)
        self.reason_edit = QLineEdit(self)
        self.reason_edit.setObjectName("ruleAdjustReason")
        reason_label.setBuddy(self.reason_edit)
        layout.addWidget(reason_label)
        layout.addWidget(self.reason_edit)
        self.error_label = ErrorLabel(self, "ruleAdjustError")
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        row, self.submit_button, self.quit_button = dialog_buttons(self, title, "submitRuleAdjust")
        self.submit_button.clicked.connect(self._submit)
        self.quit_button.clicked.connect(self.reject)
        layout.addLayout(row)
        self.reason_edit.setFocus()

    def reason(self) -> str:
        return self.reason_edit.text().strip()

    def _submit(self) -> None:
        if not self.reason():
            self.error_label.show_error(self.tr("请填写调整理由。"))
            return
        self.error_label.clear_error()
        self.submitted.emit()

    def set_busy(self, busy: bool) -> None:
        for widget in (self.submit_button, self.reason_edit):
            widget.setEnabled(not busy)

    def failed(self, message: str) -> None:
        self.set_busy(False)
        self.error_label.show_error(self.tr("未能调整规则：{reason}").format(reason=message))
