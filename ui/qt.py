"""The one module in `ui` that imports the Qt binding (Anki's `aqt.qt` pattern).

Everything else in `ui` (and its tests) imports Qt names from here, so moving to another
binding or version means changing this file only. Add a name here when a module needs it.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QLibraryInfo,
    QLocale,
    QObject,
    QThread,
    QTimer,
    QTranslator,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QInputMethodEvent,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
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
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QStatusBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid as is_valid  # False once the C++ object behind a wrapper is deleted

__all__ = [
    "QAbstractItemView", "QAction", "QActionGroup", "QApplication", "QCheckBox", "QCloseEvent",
    "QComboBox", "QCoreApplication", "QDialog", "QDialogButtonBox", "QEvent", "QFont",
    "QFontDatabase", "QFormLayout", "QFrame", "QGroupBox", "QGuiApplication", "QHBoxLayout",
    "QHeaderView", "QInputMethodEvent", "QKeySequence", "QLabel", "QLibraryInfo", "QLineEdit", "QListWidget",
    "QListWidgetItem", "QLocale", "QMainWindow", "QMessageBox", "QObject", "QPushButton",
    "QScrollArea", "QShowEvent", "QSizePolicy", "QSpinBox", "QStackedWidget", "QStatusBar",
    "QTableWidget", "QTableWidgetItem", "QThread", "QTimer", "QTranslator", "QVBoxLayout",
    "QWidget", "Qt", "QtCore", "QtGui", "QtWidgets", "Signal", "Slot", "is_valid",
]
