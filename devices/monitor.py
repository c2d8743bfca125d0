"""Watching the readers on one dedicated device thread (Electrum's `_hwd_comms_executor`).

Every call into the reader back end — listing readers, waiting for changes, reading a
card — runs on the one thread `DeviceMonitor` owns; `PcscBackend` itself refuses calls
from any other thread. When a card is inserted into the watched reader, its identity is
read at once on the same thread. What happens is reported to `listener(event)` on the
device thread; the GUI's bridge (`ui/card_reader.py`) carries it to the GUI thread. No Qt
here.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from app.card_identity import CardError, CardIdentity, ReaderNotFound
from app.masking import mask_id_number
from devices.card_protocol import read_identity
from devices.transport import ReaderBackend, ReaderState

log = logging.getLogger(__name__)

T = TypeVar("T")

DEVICE_THREAD_NAME = "wi-device"
WAIT_SLICE = 0.2  # seconds a status wait may block queued jobs and stop()
RETRY_BACKEND = 2.0  # seconds between attempts to reach a missing smart-card service


class EventKind(enum.Enum):
    READERS = "readers"  # the reader list or a card's presence changed: see `readers`
    READER_ATTACHED = "reader-attached"
    READER_REMOVED = "reader-removed"
    CARD_INSERTED = "card-inserted"
    CARD_REMOVED = "card-removed"
    READING = "reading"
    IDENTITY = "identity"
    READ_FAILED = "read-failed"
    SERVICE_UNAVAILABLE = "service-unavailable"


@dataclass(frozen=True)
class MonitorEvent:
    kind: EventKind
    reader: str = ""
    readers: tuple[ReaderState, ...] = ()
    identity: CardIdentity | None = None
    error: CardError | None = None


Listener = Callable[[MonitorEvent], None]
BackendFactory = Callable[[], ReaderBackend]
Reader = Callable[[ReaderBackend, str | None], CardIdentity]


def read_card(backend: ReaderBackend, reader: str | None) -> CardIdentity:
    """The default read: the APDU protocol over the back end's transport."""
    with backend.connect(reader) as transport:
        return read_identity(transport)


class DeviceMonitor:
    """Owns the device thread: watches readers and reads inserted cards.

    `reader_name` chooses the reader whose cards are read automatically (None: the first).
    `reader` may replace the APDU read (the vendor-driver back end reads through its DLL).
    """

    def __init__(
        self,
        backend_factory: BackendFactory,
        listener: Listener,
        reader_name: str | None = None,
        reader: Reader = read_card,
        wait_slice: float = WAIT_SLICE,
    ) -> None:
        self._factory = backend_factory
        self._listener = listener
        self._reader_name = reader_name or None
        self._read = reader
        self._wait_slice = wait_slice
        self._jobs: queue.SimpleQueue[tuple[Callable[[ReaderBackend], Any], Future[Any]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=DEVICE_THREAD_NAME, daemon=True)
        self._backend: ReaderBackend | None = None
        self._known: list[ReaderState] = []
        self._said_unavailable = False
        self._announced = False  # the first state is reported even when it is "no reader"

    # --- any thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and release the back end; waits at most `timeout` seconds."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def submit(self, job: Callable[[ReaderBackend], T]) -> Future[T]:
        """Run `job(backend)` on the device thread; the future fails with ReaderNotFound if no
        back end can be reached."""
        future: Future[T] = Future()
        if self._stop.is_set():
            future.set_exception(RuntimeError("device monitor stopped"))
            return future
        self._jobs.put((job, future))
        return future

    def read_now(self) -> Future[CardIdentity]:
        """Read the card in the watched reader again (the 读卡 button)."""
        return self.submit(lambda backend: self._read_and_report(backend, self._watched_reader()))

    # --- device thread ---------------------------------------------------------------------

    def _emit(self, event: MonitorEvent) -> None:
        try:
            self._listener(event)
        except Exception:  # a faulty listener must not stop the monitoring
            log.exception("读卡事件处理出错")

    def _watched_reader(self) -> str | None:
        names = [state.name for state in self._known]
        if self._reader_name is not None:
            return self._reader_name
        return names[0] if names else None

    def _read_and_report(self, backend: ReaderBackend, reader: str | None) -> CardIdentity:
        self._emit(MonitorEvent(EventKind.READING, reader or ""))
        try:
            identity = self._read(backend, reader)
        except CardError as error:
            log.info("读卡失败：%s", error.message)
            self._emit(MonitorEvent(EventKind.READ_FAILED, reader or "", error=error))
            raise
        except Exception as unexpected:
            log.exception("读卡时出现意外错误")
            failure = CardError("读卡时出现意外错误，详细信息已写入日志文件")
            self._emit(MonitorEvent(EventKind.READ_FAILED, reader or "", error=failure))
            raise failure from unexpected
        log.info("已读卡：%s", mask_id_number(identity.social_security_number))
        self._emit(MonitorEvent(EventKind.IDENTITY, reader or "", identity=identity))
        return identity

    def _run_jobs(self, backend: ReaderBackend | None) -> None:
        while True:
            try:
                job, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if backend is None:
                    raise ReaderNotFound("智能卡服务未运行")
                future.set_result(job(backend))
            except BaseException as exc:  # delivered to whoever waits on the future
                future.set_exception(exc)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._backend is None and not self._open_backend():
                    self._run_jobs(None)
                    self._stop.wait(RETRY_BACKEND)
                    continue
                backend = self._backend
                assert backend is not None
                self._run_jobs(backend)
                try:
                    now = backend.wait_for_change(self._known, self._wait_slice)
                except CardError as error:
                    log.warning("读卡器监视中断：%s", error.message)
                    self._drop_backend(error)
                    continue
                except Exception:
                    log.exception("读卡器监视出现意外错误")
                    self._drop_backend(ReaderNotFound())
                    continue
                if now != self._known or not self._announced:
                    self._changed(backend, now)
        finally:
            self._close_backend()
            self._run_jobs(None)

    def _open_backend(self) -> bool:
        try:
            self._backend = self._factory()
            return True
        except CardError as error:
            if self._known or not self._said_unavailable:
                self._known = []
                self._said_unavailable = True
                self._emit(MonitorEvent(EventKind.SERVICE_UNAVAILABLE, error=error))
            return False

    def _drop_backend(self, error: CardError) -> None:
        self._close_backend()
        self._said_unavailable = True
        self._announced = False
        self._known = []
        self._emit(MonitorEvent(EventKind.SERVICE_UNAVAILABLE, error=error))

    def _close_backend(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:
                log.debug("释放读卡器资源出错", exc_info=True)

    def _changed(self, backend: ReaderBackend, now: list[ReaderState]) -> None:
        self._said_unavailable = False
        self._announced = True
        before = {state.name: state for state in self._known}
        after = {state.name: state for state in now}
        self._known = list(now)
        self._emit(MonitorEvent(EventKind.READERS, readers=tuple(now)))
        for name in before.keys() - after.keys():
            if before[name].card_present:
                self._emit(MonitorEvent(EventKind.CARD_REMOVED, name))
            self._emit(MonitorEvent(EventKind.READER_REMOVED, name))
        for name in after.keys() - before.keys():
            self._emit(MonitorEvent(EventKind.READER_ATTACHED, name))
        watched = self._watched_reader()
        for name, state in after.items():
            previous = before.get(name)
            was_present = previous is not None and previous.card_present
            # Present before and after with card events in between: another card is in.
            swapped = (
                was_present and state.card_present and previous is not None
                and state.card_events != previous.card_events
            )
            if state.card_present == was_present and not swapped:
                continue
            if was_present:
                self._emit(MonitorEvent(EventKind.CARD_REMOVED, name))
            if not state.card_present:
                continue
            self._emit(MonitorEvent(EventKind.CARD_INSERTED, name))
            if name == watched:
                try:
                    self._read_and_report(backend, name)
                except CardError:
                    pass  # reported as READ_FAILED
