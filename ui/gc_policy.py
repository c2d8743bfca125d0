"""Who runs Python's cyclic garbage collector while the window is open: the GUI thread, always.

With automatic collection on, a collection runs in whichever thread happens to allocate past the
collector's threshold. When a reference cycle holds a Qt object (a widget, a timer, a model), that
thread destroys it: off the GUI thread Qt warns `Timers cannot be stopped from another thread` and
may crash the process (issue 20 §12 saw a segfault in a full test run). So the window switches
automatic collection off and collects on the GUI thread instead, from a timer, generation by
generation with the thresholds Python would have used. The classic recipe for Qt programs; written
here because no maintained library packages it.

The burst helpers (`in_burst_transaction`, `cyclic_gc_paused`, …) save and restore the enabled
state, so they never switch automatic collection back on under this policy.
"""

from __future__ import annotations

import gc
import logging

from ui.qt import QCoreApplication, QObject, QTimer

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 500

_installed: GuiThreadCollector | None = None


class GuiThreadCollector(QObject):
    """Collects on the GUI thread every CHECK_INTERVAL_MS when a generation is over its threshold."""

    def __init__(self, parent: QObject, interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.collections = 0
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(interval_ms)

    def check(self) -> None:
        counts = gc.get_count()
        thresholds = gc.get_threshold()
        generation = -1
        # Like CPython: the oldest generation whose count passed its threshold is collected
        # (with the younger ones); a threshold of 0 means that generation is never collected.
        for index in range(3):
            if thresholds[index] and counts[index] > thresholds[index]:
                generation = index
        if generation < 0:
            return
        gc.collect(generation)
        self.collections += 1

    def uninstall(self) -> None:
        self._timer.stop()
        if self._was_enabled:
            gc.enable()


def install_gui_gc_policy(application: QCoreApplication) -> GuiThreadCollector:
    """Install the policy once per application (called where the QApplication is configured)."""
    global _installed
    if _installed is not None and _installed.parent() is application:
        return _installed
    _installed = GuiThreadCollector(application)
    log.debug("循环垃圾回收改由界面线程执行")
    return _installed


def gui_gc_policy() -> GuiThreadCollector | None:
    return _installed
