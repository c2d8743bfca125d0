"""What the 出院结算 and 费用与伤病分离 pages share about the pre-audit (`app.workflow.discharge_review`):
the severity colours, a finding's badge and tooltip text, and the dialog that takes the clerk's reason
for settling findings as they stand (each acknowledgement is audited by the service)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from app.workflow.discharge_review import ReviewItem
from ui.qt import QCoreApplication, QDialog, QLabel, QPlainTextEdit, QVBoxLayout, QWidget
from ui.widgets import ErrorLabel, dialog_buttons

# Colours readable on the light window background, strongest for what the agency deducts most surely.
SEVERITY_COLOURS = {"high": "#c62828", "medium": "#b26a00", "low": "#5f6b7a"}
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _tr(text: str) -> str:
    return QCoreApplication.translate("Preaudit", text)


def strongest(items: Sequence[ReviewItem]) -> str:
    """The most severe of the items' severities ("low" for none)."""
    return min((item.severity for item in items), key=lambda s: SEVERITY_ORDER.get(s, 3), default="low")


def badge_text(items: Sequence[ReviewItem]) -> str:
    """A line's badge: "可能扣款 ¥12.50" (its largest finding, as the agency deducts a line once)."""
    if not items:
        return ""
    largest = max((item.finding.amount_at_risk for item in items), default=Decimal("0.00"))
    return _tr("可能扣款 ¥{amount}").format(amount=f"{largest:.2f}")


def item_text(item: ReviewItem) -> str:
    """One finding for a tooltip or a list: title, risk, amount, message, source and advice."""
    finding = item.finding
    return _tr("【{severity}】{title}（{source}）预计扣款 ¥{amount}\n{message}\n建议：{advice}").format(
        severity=item.severity_label, title=item.title, source=finding.source,
        amount=f"{finding.amount_at_risk:.2f}", message=finding.message, advice=finding.advice)


def tooltip_text(items: Sequence[ReviewItem]) -> str:
    return "\n\n".join(item_text(item) for item in items)


class AcknowledgeDialog(QDialog):
    """确认预审提示: the findings to settle as they stand, and the clerk's reason (required, audited)."""

    def __init__(self, items: Sequence[ReviewItem], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("acknowledgeDialog")
        self.setWindowTitle(_tr("确认预审提示"))
        self.items = tuple(items)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(_tr("以下 {n} 项将按现状结算，经办机构审核时可能扣款：").format(n=len(self.items)), self))
        listing = QLabel("\n".join(f"• {_tr('序号')} {item.seq_label}　{item.title}　¥{item.finding.amount_at_risk:.2f}"
                                   for item in self.items), self)
        listing.setObjectName("acknowledgeItems")
        listing.setWordWrap(True)
        layout.addWidget(listing)
        layout.addWidget(QLabel(_tr("确认原因（必填，记入审计；如：已与主治医生核实）："), self))
        self.reason_edit = QPlainTextEdit(self)
        self.reason_edit.setObjectName("reasonEdit")
        self.reason_edit.setTabChangesFocus(True)
        self.reason_edit.setFixedHeight(80)
        layout.addWidget(self.reason_edit)
        self.error = ErrorLabel(self)
        layout.addWidget(self.error)
        row, self.accept_button, quit_button = dialog_buttons(self, _tr("确认"), "acceptButton")
        self.accept_button.clicked.connect(self._accept)
        quit_button.clicked.connect(self.reject)
        layout.addLayout(row)

    @property
    def reason(self) -> str:
        return self.reason_edit.toPlainText().strip()

    def _accept(self) -> None:
        if not self.reason:
            self.error.show_error(_tr("请填写确认原因。"))
            self.reason_edit.setFocus()
            return
        self.accept()
