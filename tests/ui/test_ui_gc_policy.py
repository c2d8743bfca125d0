"""Python's cyclic garbage collector must never destroy Qt objects off the GUI thread (issue 20 §12).

A full suite run died with `QObject::killTimer: Timers cannot be stopped from another thread`
then a segfault: a reference cycle holding a Qt object was collected by whichever thread happened to
allocate past the collector's threshold — a database thread. The window owns the collector instead:
automatic collection off, collections run by a timer on the GUI thread (`ui.gc_policy`).
"""

from __future__ import annotations

import gc
import threading
import weakref

from pytestqt.qtbot import QtBot

from ui.gc_policy import GuiThreadCollector, gui_gc_policy
from ui.qt import QApplication, QObject, QTimer


class _Holder:
    """One half of a reference cycle that keeps a QObject with a running timer alive."""

    def __init__(self) -> None:
        self.me = self
        self.timer_owner = QObject()
        self.timer = QTimer(self.timer_owner)
        self.timer.start(60_000)


def _cycle_collected_on(qtbot: QtBot) -> list[str]:
    """Make an unreachable cycle on the GUI thread, then allocate heavily on a worker thread."""
    threads: list[str] = []
    holder = _Holder()
    weakref.finalize(holder, lambda: threads.append(threading.current_thread().name))
    del holder

    kept: list[list[int]] = []

    def allocate() -> None:
        # Containers kept alive, many times generation 0's threshold: with automatic collection on,
        # the collector would run right here, on this thread (as it did on a database thread).
        kept.extend([i] for i in range(gc.get_threshold()[0] * 50))

    worker = threading.Thread(target=allocate, name="wi-counter-db-test")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(threads), timeout=5_000)
    kept.clear()
    return threads


def test_cycles_with_qt_objects_are_collected_on_the_gui_thread(qtbot: QtBot, qapp: QApplication) -> None:
    assert gui_gc_policy() is not None, "the GUI's collector policy is installed with the application"
    assert not gc.isenabled(), "automatic (any-thread) collection is off while the window runs"
    threads = _cycle_collected_on(qtbot)
    assert threads == [threading.main_thread().name]


def test_policy_runs_every_generation_and_restores_on_uninstall(qtbot: QtBot, qapp: QApplication) -> None:
    collector = gui_gc_policy()
    assert isinstance(collector, GuiThreadCollector)
    before = collector.collections
    garbage = [[] for _ in range(gc.get_threshold()[0] * 3)]
    for item in garbage:
        item.append(item)  # cycles, so generation 0's count rises past its threshold
    del garbage
    qtbot.waitUntil(lambda: collector.collections > before, timeout=5_000)
    assert gc.get_count()[0] < gc.get_threshold()[0]
