"""The card reader as Qt signals: the bridge from the device thread to the GUI thread.

`devices.monitor.DeviceMonitor` does every reader call on its own thread and reports each
event there. This bridge keeps those events in a locked list and wakes the GUI thread with
an argument-less queued signal (the lesson of ui/operations.py: no Python object travels
inside a queued Qt event); on the GUI thread it re-emits them as typed signals. Slots
connected to these signals therefore always run on the GUI thread, and the window never
waits for a card.
"""

from __future__ import annotations

import logging
import threading

from app.card_identity import CardError
from devices.backends import BackendChoice
from devices.monitor import DeviceMonitor, EventKind, MonitorEvent
from devices.transport import ReaderState
from ui.qt import QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)


class CardReaderService(QObject):
    """Owns the device monitor. Signals are emitted on the GUI thread only."""

    readers_changed = Signal()  # `readers` changed (a reader came or went, a card in or out)
    reader_attached = Signal(str)
    reader_removed = Signal(str)
    card_inserted = Signal(str)
    card_removed = Signal(str)
    reading = Signal(str)
    identity_read = Signal(object)  # CardIdentity
    read_failed = Signal(object)  # CardError
    service_unavailable = Signal(object)  # CardError

    _events_pending = Signal()

    def __init__(self, choice: BackendChoice, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.kind = choice.kind
        self.watched_reader = choice.reader_name
        self.readers: tuple[ReaderState, ...] = ()
        self.unavailable: CardError | None = None
        self._events: list[MonitorEvent] = []
        self._lock = threading.Lock()
        self._monitor = DeviceMonitor(choice.factory, self._on_device_thread, choice.reader_name, choice.reader)
        self._events_pending.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._stopped = False

    def start(self) -> None:
        self._monitor.start()

    def stop(self) -> None:
        """Stop the device thread (the window closes or is locked)."""
        if not self._stopped:
            self._stopped = True
            self._monitor.stop()

    @property
    def running(self) -> bool:
        return self._monitor.running

    def read_now(self) -> None:
        """Read the watched reader's card again; the result arrives as identity_read / read_failed."""
        self._monitor.read_now()

    def _on_device_thread(self, event: MonitorEvent) -> None:
        if self._stopped:
            return  # stopping: the window (and this object) may be about to go
        with self._lock:
            self._events.append(event)
        try:
            self._events_pending.emit()
        except RuntimeError:
            pass  # the Qt object is gone (window closed): nobody is listening

    @Slot()
    def _deliver(self) -> None:
        with self._lock:
            events, self._events = self._events, []
        for event in events:
            self._dispatch(event)

    def _dispatch(self, event: MonitorEvent) -> None:
        kind = event.kind
        if kind is EventKind.READERS:
            self.readers = event.readers
            self.unavailable = None
            self.readers_changed.emit()
        elif kind is EventKind.READER_ATTACHED:
            self.reader_attached.emit(event.reader)
        elif kind is EventKind.READER_REMOVED:
            self.reader_removed.emit(event.reader)
        elif kind is EventKind.CARD_INSERTED:
            self.card_inserted.emit(event.reader)
        elif kind is EventKind.CARD_REMOVED:
            self.card_removed.emit(event.reader)
        elif kind is EventKind.READING:
            self.reading.emit(event.reader)
        elif kind is EventKind.IDENTITY:
            self.identity_read.emit(event.identity)
        elif kind is EventKind.READ_FAILED:
            self.read_failed.emit(event.error)
        elif kind is EventKind.SERVICE_UNAVAILABLE:
            self.readers = ()
            self.unavailable = event.error
            self.service_unavailable.emit(event.error)
            self.readers_changed.emit()
