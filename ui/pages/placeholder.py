"""A page whose task is not built yet: its title, what it will do, and plainly that it is missing.

No fake controls: a clerk must not mistake a mock-up for a working function.
"""

from __future__ import annotations

from ui.qt import QFrame, QLabel, QVBoxLayout, QWidget
from ui.widgets import heading, notice


class PlaceholderPage(QWidget):
    """One class for every page not yet provided, parameterised by its title and description."""

    def __init__(self, title: str, description: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 24, 32, 24)
        layout.setSpacing(12)
        layout.addWidget(heading(title, self))

        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)

        about = QLabel(description, self)
        about.setObjectName("pageDescription")
        about.setWordWrap(True)
        layout.addWidget(about)

        layout.addWidget(notice(self.tr("此功能尚未提供"), self, object_name="notProvided"))
        layout.addStretch(1)
