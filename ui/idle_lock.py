"""Locking the counter after a while without keyboard or mouse input (`session.idle_lock_minutes`).

An application-wide event filter sees every input event, in every window and dialog, and
restarts one single-shot timer; when it fires the main window locks as on Ctrl+L. A lock
due while a settlement is running waits until it ends (its result must reach the clerk).
"""

from __future__ import annotations

from collections.abc import Callable

from ui.qt import QApplication, QEvent, QObject, QTimer

_INPUT_EVENTS = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
    QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate,
    QEvent.Type.TabletPress, QEvent.Type.Shortcut,
})
_BUSY_RETRY_MS = 5_000


class IdleLock(QObject):
    """Calls `lock` after `timeout_ms` without input; 0 turns it off. Stop it when its window goes."""

    def __init__(self, lock: Callable[[], None], timeout_ms: int, busy: Callable[[], bool] = lambda: False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = lock
        self._busy = busy
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._expired)
        self._installed = False
        self.set_timeout_ms(timeout_ms)

    @property
    def timeout_ms(self) -> int:
        return self._timeout_ms

    def set_timeout_ms(self, timeout_ms: int) -> None:
        self._timeout_ms = max(0, int(timeout_ms))
        application = QApplication.instance()
        if self._timeout_ms and not self._installed and application is not None:
            application.installEventFilter(self)
            self._installed = True
        if self._timeout_ms:
            self._timer.start(self._timeout_ms)
        else:
            self._timer.stop()

    def stop(self) -> None:
        self._timer.stop()
        application = QApplication.instance()
        if self._installed and application is not None:
            application.removeEventFilter(self)
        self._installed = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if self._timeout_ms and event.type() in _INPUT_EVENTS:
            self._timer.start(self._timeout_ms)
        return False  # only watching: every event goes on to its widget

    def _expired(self) -> None:
        if self._busy():
            self._timer.start(min(self._timeout_ms, _BUSY_RETRY_MS))
            return
        self.stop()
        self._lock()
