"""Small widgets shared by the dialogs and pages (kept here so every page looks the same)."""

from __future__ import annotations

from ui.qt import (
    QBoxLayout,
    QCoreApplication,
    QFont,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QResizeEvent,
    QSizePolicy,
    Qt,
    QWidget,
)

ERROR_COLOUR = "#c62828"  # readable red on the light window background
NOTICE_COLOUR = "#8a5a00"  # dark amber: "not provided", "read-only" notes


class ErrorLabel(QLabel):
    """An inline error in red, hidden while there is nothing to say."""

    def __init__(self, parent: QWidget | None = None, object_name: str = "errorLabel") -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWordWrap(True)
        self.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.hide()

    def show_error(self, text: str) -> None:
        self.setText(text)
        self.setVisible(bool(text))

    def clear_error(self) -> None:
        self.setText("")
        self.hide()


class StatusLine(QLabel):
    """One line of status (a file's name, counts, an outcome): it takes the width it is given, the whole
    text is its tooltip. As a label's preferred width such a line (no break in it) widened the page past
    a 1366 px screen (issue 20 §5); a fixed single line also keeps the page's height from changing with it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(1)
        self._full = ""

    def setText(self, text: str) -> None:  # noqa: N802
        self._full = text
        self.setToolTip(text)
        self._show()

    def text(self) -> str:
        """The whole text, as set (what shows may end in "…")."""
        return self._full

    def clear(self) -> None:
        self.setText("")

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._show()

    def _show(self) -> None:
        # A single line cut by the pane ends in "…" (cut mid-character it read as a different text);
        # a wrapping one shows the whole text.
        shown = self._full if self.wordWrap() or not self._full else self.fontMetrics().elidedText(
            self._full, Qt.TextElideMode.ElideRight, max(self.contentsRect().width(), 1))
        if shown != super().text():
            super().setText(shown)


def heading(text: str, parent: QWidget | None = None, object_name: str = "pageTitle", size: float = 1.5) -> QLabel:
    """A page or dialog title: the application font, larger and bold."""
    label = QLabel(text, parent)
    label.setObjectName(object_name)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * size)
    font.setBold(True)
    label.setFont(font)
    return label


def add_page_title(layout: QBoxLayout, title: str, parent: QWidget) -> None:
    """A page's title and the rule under it, at the top of `layout`."""
    layout.addWidget(heading(title, parent))
    line = QFrame(parent)
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    layout.addWidget(line)


def notice(text: str, parent: QWidget | None = None, object_name: str = "notice") -> QLabel:
    """A plain statement the clerk must not miss (a missing function, a read-only form)."""
    label = QLabel(text, parent)
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {NOTICE_COLOUR}; font-weight: bold;")
    return label


def dialog_buttons(parent: QWidget, accept_text: str, accept_name: str) -> tuple[QHBoxLayout, QPushButton, QPushButton]:
    """The dialogs' button row, right-aligned: the default (Enter) action, then 退出 (Esc).

    Returns the layout and the two buttons; the caller connects them.
    """
    row = QHBoxLayout()
    row.addStretch(1)
    accept = QPushButton(accept_text, parent)
    accept.setObjectName(accept_name)
    accept.setDefault(True)  # Enter in any field triggers it
    accept.setAutoDefault(True)
    quit_button = QPushButton(QCoreApplication.translate("Dialog", "退出"), parent)
    quit_button.setObjectName("quitButton")
    quit_button.setAutoDefault(False)
    row.addWidget(accept)
    row.addWidget(quit_button)
    return row, accept, quit_button
