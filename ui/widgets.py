"""Small widgets shared by the dialogs and pages (kept here so every page looks the same)."""

from __future__ import annotations

from ui.qt import QFont, QLabel, QWidget

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


def heading(text: str, parent: QWidget | None = None, object_name: str = "pageTitle", size: float = 1.5) -> QLabel:
    """A page or dialog title: the application font, larger and bold."""
    label = QLabel(text, parent)
    label.setObjectName(object_name)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * size)
    font.setBold(True)
    label.setFont(font)
    return label


def notice(text: str, parent: QWidget | None = None, object_name: str = "notice") -> QLabel:
    """A plain statement the clerk must not miss (a missing function, a read-only form)."""
    label = QLabel(text, parent)
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {NOTICE_COLOUR}; font-weight: bold;")
    return label
