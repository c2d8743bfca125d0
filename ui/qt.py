"""The one module in `ui` that imports the Qt binding (Anki's `aqt.qt` pattern).

Everything else in `ui` (and its tests) imports Qt names from here, so moving to another
binding or version means changing this file only. Add a name here when a module needs it.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QCoreApplication,
    QDate,
    QIODevice,
    QLibraryInfo,
    QLocale,
    QObject,
    Qt,
    QThread,
    QTimer,
    QRect,
    QSettings,
    QSize,
    QTranslator,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QFont,
    QFontDatabase,
    QInputMethodEvent,
    QKeySequence,
    QPageLayout,
    QPageSize,
    QPainter,
    QResizeEvent,
)
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QBoxLayout,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QStatusBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import (
    isValid as is_valid,  # False once the C++ object behind a wrapper is deleted
)

__all__ = [
    "is_valid", "QAbstractItemView", "QAction", "QActionGroup", "QApplication", "QBoxLayout", "QBuffer", "QByteArray",
    "QCheckBox", "QIODevice", "QPageLayout", "QPageSize", "QPainter", "QPdfDocument", "QPdfView", "QResizeEvent",
    "QPrintDialog", "QPrinter", "QRect", "QSize", "QSplitter",
    "QCloseEvent", "QComboBox", "QDate", "QDateEdit", "QProgressBar",
    "QCoreApplication", "QDialog", "QFont", "QFontDatabase",
    "QFormLayout", "QFrame", "QGroupBox", "QHBoxLayout", "QHeaderView", "QInputMethodEvent",
    "QKeySequence", "QLabel", "QLibraryInfo", "QLineEdit", "QListWidget", "QListWidgetItem",
    "QLocale", "QMainWindow", "QMessageBox", "QObject", "QPushButton", "QScrollArea", "QSpinBox",
    "QStackedWidget", "QStatusBar", "Qt", "QTableWidget", "QTableWidgetItem", "QtCore", "QtGui",
    "QThread", "QTimer", "QTranslator", "QtWidgets", "QVBoxLayout", "QWidget", "Signal", "Slot",
]

# --- names for the 费用与伤病分离 page (issue 6; kept in their own block so parallel edits merge) ---
# QDate / QDateEdit may also be imported above by another page: importing a name twice is harmless.
from PySide6.QtCore import (  # noqa: E402
    QAbstractTableModel,
    QDate,
    QElapsedTimer,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
)
from PySide6.QtGui import QBrush, QColor, QShowEvent  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QButtonGroup,
    QDateEdit,
    QDialogButtonBox,
    QFileDialog,
    QPlainTextEdit,
    QRadioButton,
    QSizePolicy,
    QTableView,
)

__all__ += [
    "QAbstractTableModel", "QBrush", "QButtonGroup", "QColor", "QDate", "QDateEdit", "QDialogButtonBox",
    "QElapsedTimer", "QFileDialog", "QModelIndex", "QModelRoleData", "QModelRoleDataSpan", "QPersistentModelIndex",
    "QPlainTextEdit", "QRadioButton", "QShowEvent", "QSizePolicy", "QTableView",
]

# --- names for the 月度结算 page (issue 8; its own block so parallel edits merge) ---
from PySide6.QtCore import QEvent, QPointF, QRectF  # noqa: E402
from PySide6.QtGui import (  # noqa: E402
    QFontMetrics,
    QHelpEvent,
    QIcon,
    QMouseEvent,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import QGridLayout, QToolTip  # noqa: E402

__all__ += [
    "QEvent", "QFontMetrics", "QGridLayout", "QHelpEvent", "QIcon", "QMouseEvent", "QPaintEvent", "QPen",
    "QPixmap", "QPointF", "QPolygonF", "QRectF", "QToolTip",
]

# --- names for printing from the window (issue 20; its own block so parallel edits merge) ---
from PySide6.QtGui import QShortcut  # noqa: E402
from PySide6.QtPrintSupport import QPrinterInfo  # noqa: E402

__all__ += ["QPrinterInfo", "QShortcut"]

# --- names for the current patient and the stay search (issue 20; its own block so parallel edits merge) ---
from PySide6.QtWidgets import QCompleter  # noqa: E402

__all__ += ["QCompleter"]

# --- names for the 伤病分离 lines table's model (issue 20's GUI stall; its own block so parallel edits merge) ---
from PySide6.QtGui import QStandardItemModel  # noqa: E402

__all__ += ["QStandardItemModel"]
