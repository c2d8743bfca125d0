"""Widgets the workflow pages share: the filing verdict, the big amount, a stay picker, progress
from a worker thread, and the centre link as the pages see it.

Kept apart from the pages so 入院登记, 住院一览 and 出院结算 show a verdict, an amount or a
stay in exactly the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from app.db.failures import StorageFailure, is_storage_failure
from app.errors import WiCounterError
from app.slips import money_text
from ui.operations import clerk_message
from ui.qt import (
    QComboBox,
    QCompleter,
    QCoreApplication,
    QDate,
    QFont,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QObject,
    QScrollArea,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ERROR_COLOUR, NOTICE_COLOUR

if TYPE_CHECKING:
    from app.workflow.admission import CheckResult
    from app.workflow.stays import StaySummary

log = logging.getLogger(__name__)

OK_COLOUR = "#1b5e20"  # dark green: allowed, settled


def tr(text: str) -> str:
    return QCoreApplication.translate("Workflow", text)


def error_text(error: BaseException) -> str:
    """The clerk's words for a failure: the typed error's own Chinese message, else a generic one
    (and the details in the log)."""
    if isinstance(error, WiCounterError):
        return error.message
    message = getattr(error, "message", None)
    if isinstance(message, str) and message:
        return message
    if is_storage_failure(error):  # this counter's database: its cause, as the other windows say it
        return clerk_message(error)
    log.error("工作流程操作出错", exc_info=(type(error), error, error.__traceback__))
    return tr("发生了意外错误，操作未完成。详细信息已写入日志文件，请联系系统管理员。")


def sent_but_unrecorded(error: BaseException) -> bool:
    """The call reached the centre but this counter's database could not record the answer: the
    centre did (or may have done) the work, so the page must not say 未登记 / 未结算 (issue 21 §8)."""
    return isinstance(error, StorageFailure) and error.sent


def is_centre_unreachable(error: BaseException) -> bool:
    """The centre could not be reached (not: it answered with a refusal)."""
    from app.centre.gateway import CentreUnavailable

    return isinstance(error, CentreUnavailable)


def to_date(value: QDate) -> dt.date:
    return dt.date(value.year(), value.month(), value.day())


def to_qdate(value: dt.date) -> QDate:
    return QDate(value.year, value.month, value.day)


def two_columns(owner: QWidget, outer: QVBoxLayout, left_stretch: int, right_stretch: int) -> tuple[QWidget, QVBoxLayout, QVBoxLayout]:
    """The workflow pages' body: a frameless scroll area holding two columns, so a small screen
    scrolls instead of squeezing the forms. Returns the body (the parent for the columns' widgets)
    and the two column layouts."""
    scroll = QScrollArea(owner)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    outer.addWidget(scroll, 1)
    body = QWidget(scroll)
    scroll.setWidget(body)
    columns = QHBoxLayout(body)
    columns.setContentsMargins(0, 0, 0, 0)
    left = QVBoxLayout()
    right = QVBoxLayout()
    columns.addLayout(left, left_stretch)
    columns.addLayout(right, right_stretch)
    return body, left, right


class VerdictPanel(QGroupBox):
    """A filing check's verdict: allowed or refused, every reason with its source, and the next steps.

    Emits `changed()` after each change, so another panel can show the same (`mirror`)."""

    changed = Signal()

    def __init__(self, title: str, parent: QWidget | None = None, object_name: str = "verdictPanel") -> None:
        super().__init__(title, parent)
        self.setObjectName(object_name)
        layout = QVBoxLayout(self)
        self.headline = QLabel(self)
        self.headline.setObjectName("verdictHeadline")
        font = QFont(self.headline.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.headline.setFont(font)
        self.headline.setWordWrap(True)
        layout.addWidget(self.headline)
        self.reasons = QLabel(self)
        self.reasons.setObjectName("verdictReasons")
        self.reasons.setWordWrap(True)
        self.reasons.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.reasons)
        self.next_steps = QLabel(self)
        self.next_steps.setObjectName("verdictNextSteps")
        self.next_steps.setWordWrap(True)
        self.next_steps.setStyleSheet(f"color: {NOTICE_COLOUR}; font-weight: bold;")
        layout.addWidget(self.next_steps)
        self.check: CheckResult | None = None
        self.preview = False
        self.message: tuple[str, bool] | None = None  # what show_message said instead of a verdict
        self.clear()

    def clear(self) -> None:
        self._clear()
        self.changed.emit()

    def _clear(self) -> None:
        self.check = None
        self.preview = False
        self.message = None
        self.headline.setText(tr("尚未核验"))
        self.headline.setStyleSheet("")
        self.reasons.setText("")
        self.reasons.hide()
        self.next_steps.setText("")
        self.next_steps.hide()

    def show_message(self, text: str, *, error: bool = False) -> None:
        """No verdict, but something to say instead (checking…, the centre cannot be reached)."""
        self._clear()
        self.message = (text, error)
        self.headline.setText(text)
        self.headline.setStyleSheet(f"color: {ERROR_COLOUR};" if error else "")
        self.changed.emit()

    def mirror(self, source: VerdictPanel) -> None:
        """Show whatever `source` shows, from now on (the 读卡 page shows 入院登记's verdict)."""
        def copy() -> None:
            if source.check is not None:
                self.show_check(source.check, preview=source.preview)
            elif source.message is not None:
                self.show_message(source.message[0], error=source.message[1])
            else:
                self.clear()

        source.changed.connect(copy)
        copy()

    def show_check(self, check: CheckResult, *, preview: bool = False) -> None:
        self.check = check
        self.preview = preview
        self.message = None
        kind = check.settlement_kind or tr("工伤保险")
        if check.allowed:
            text = tr("准予联网结算（{kind}）").format(kind=kind)
            colour = OK_COLOUR
        else:
            text = tr("不予联网结算（{kind}）").format(kind=kind)
            colour = ERROR_COLOUR
        if preview:
            text += tr("　— 预览，登记时再次核验并保存")
        self.headline.setText(text)
        self.headline.setStyleSheet(f"color: {colour};")
        lines = []
        for reason in check.reasons:
            mark = tr("【不通过】") if reason.blocking else tr("【提示】")
            # The step is listed once under 下一步; here only what is the case.
            step = getattr(reason, "next_step", "")
            fact = reason.message[: -len(step)] if step and reason.message.endswith(step) else reason.message
            lines.append(tr("{mark}{message}（依据：{source}）").format(
                mark=mark, message=fact, source=reason.source or tr("未注明")))
        if not lines:
            lines.append(tr("各项核验均通过。"))
        self.reasons.setText("\n".join(lines))
        self.reasons.show()
        if check.next_steps:
            self.next_steps.setText(tr("下一步：") + "\n" + "\n".join(f"• {step}" for step in check.next_steps))
            self.next_steps.show()
        else:
            self.next_steps.setText("")
            self.next_steps.hide()
        self.changed.emit()


class AmountLabel(QLabel):
    """Money the clerk must not misread: large, bold, two decimal places, 元."""

    def __init__(self, parent: QWidget | None = None, object_name: str = "amount", size: float = 3.0) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * size)
        font.setBold(True)
        self.setFont(font)
        self.amount: Decimal | None = None

    def set_amount(self, amount: Decimal | None) -> None:
        self.amount = amount
        self.setText("—" if amount is None else tr("{amount} 元").format(amount=money_text(amount)))


def stay_text(stay: StaySummary) -> str:
    registration = stay.registration_no or tr("未登记")
    return tr("{name}　{masked}　住院号 {no}　就医登记号 {reg}　{dept}　[{status}]").format(
        name=stay.name, masked=stay.masked_id, no=stay.admission_no, reg=registration, dept=stay.dept,
        status=stay.status_label)


STAY_SEARCH_HINT = "输入姓名、住院号或就医登记号查找"


def make_searchable(combo: QComboBox, placeholder: str = STAY_SEARCH_HINT) -> QCompleter:
    """Let the clerk type any part of an item (a name, a 住院号, a 就医登记号) and pick from the matches.

    The combo becomes editable without ever adding what is typed; text that matches nothing is put
    back to the chosen item when the field is left, so what shows is always what is selected."""
    combo.setEditable(True)
    combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    completer = QCompleter(combo.model(), combo)
    completer.setFilterMode(Qt.MatchFlag.MatchContains)
    completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
    combo.setCompleter(completer)
    edit = combo.lineEdit()
    assert edit is not None  # an editable combo has its line edit
    edit.setPlaceholderText(tr(placeholder))

    def put_back() -> None:
        index = combo.currentIndex()
        shown = combo.itemText(index) if index >= 0 else ""
        if edit.text() != shown:
            edit.setText(shown)

    edit.editingFinished.connect(put_back)
    return completer


class StayPicker(QComboBox):
    """Choose a stay: each item says who, which 住院号 / 就医登记号 and the status; typing filters.

    Nothing is chosen until the clerk or the window's current patient chooses: a default stay would be
    somebody else's (issue 20)."""

    def __init__(self, parent: QWidget | None = None, object_name: str = "stayPicker") -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setMinimumContentsLength(40)
        self._stays: list[StaySummary] = []
        self.search = make_searchable(self)

    @property
    def stays(self) -> list[StaySummary]:
        return list(self._stays)

    def set_stays(self, stays: Sequence[StaySummary], keep: int | None = None) -> None:
        """Fill the list; keep the stay `keep` (or the one shown) selected when it is still there."""
        wanted = keep if keep is not None else self.current_stay_id()
        self.blockSignals(True)
        try:
            self.clear()
            self._stays = list(stays)
            for stay in self._stays:
                self.addItem(stay_text(stay), stay.stay_id)
            index = next((i for i, stay in enumerate(self._stays) if stay.stay_id == wanted), -1)
            self.setCurrentIndex(index)
        finally:
            self.blockSignals(False)
        self.currentIndexChanged.emit(self.currentIndex())

    def current_stay(self) -> StaySummary | None:
        index = self.currentIndex()
        return self._stays[index] if 0 <= index < len(self._stays) else None

    def current_stay_id(self) -> int | None:
        stay = self.current_stay()
        return stay.stay_id if stay is not None else None

    def select_none(self) -> None:
        self.setCurrentIndex(-1)

    def select_stay(self, stay_id: int) -> bool:
        for index, stay in enumerate(self._stays):
            if stay.stay_id == stay_id:
                self.setCurrentIndex(index)
                return True
        return False


class ProgressRelay(QObject):
    """Progress reported on a worker thread, shown on the GUI thread.

    The worker calls `report(...)` (a locked assignment, no Qt); a timer on the GUI thread hands
    the latest report to `show`. Nothing travels inside a queued Qt event (ui/operations.py).
    """

    def __init__(self, show: Callable[[str, int, int], None], parent: QObject | None = None,
                 interval_ms: int = 100) -> None:
        super().__init__(parent)
        self._show = show
        self._lock = threading.Lock()
        self._latest: tuple[str, int, int] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.flush)

    def start(self) -> None:
        with self._lock:
            self._latest = None
        self._timer.start()

    def report(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._latest = (stage, done, total)

    def flush(self) -> None:
        with self._lock:
            latest, self._latest = self._latest, None
        if latest is not None:
            self._show(*latest)

    def stop(self) -> None:
        self._timer.stop()
        self.flush()
