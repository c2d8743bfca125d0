"""A canary for the Qt binding itself.

PySide6 6.12.0 on Python 3.11 drops one reference to `None` on every call of a Qt method
that returns nothing (`setText`, `show`…). From Python 3.12 `None` is immortal and nothing
happens; on 3.11 its count reaches zero after a few thousand calls and the interpreter
aborts ("none_dealloc: deallocating None"), mid-session at the counter or at exit. 6.11.2
is not affected. This test fails plainly instead, naming the binding.
"""

from __future__ import annotations

import sys

import pytest

from ui.qt import QLabel, QtCore

pytestmark = pytest.mark.gui

CALLS = 500


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 (PEP 683)")
def test_qt_calls_keep_none_alive(qapp: object) -> None:
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        label.setText("x")
    lost = before - sys.getrefcount(None)
    assert lost < CALLS // 10, (
        f"PySide6 (Qt {QtCore.qVersion()}) / Python {sys.version.split()[0]}: {lost} references to None lost in "
        f"{CALLS} Qt calls; the program would abort after a few thousand. Use a PySide6 without this bug "
        "(6.11.2 is fine; 6.12.0 is not) or Python 3.12+."
    )
