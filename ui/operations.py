"""Running work off the GUI thread: the one way to do it (after Anki's `QueryOp` and `TaskManager`).

The GUI thread only draws and reacts; database queries, password hashing, file and
network I/O run on a worker. Build an `Operation` with the widget it serves and the
work (a plain function, no Qt inside), add callbacks, and run it:

    Operation.transaction(self, ctx, lambda session: list_operators(session)) \\
        .success(self._show_operators).failure(self._show_error).run()

`success(result)` and `failure(exception)` are always called on the GUI thread. Without
`failure`, a `WiCounterError` is shown in a message box and anything else is logged and
reported generically. If the parent widget has been deleted by the time the result comes
back, the callbacks are dropped. Database work runs on one thread, in order (like Anki's
collection ops); other slow work (`Executor.BACKGROUND`) runs on a small pool.
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
import traceback
import weakref
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from app.db.failures import cause, is_storage_failure
from app.errors import WiCounterError
from ui.qt import (
    QCoreApplication,
    QMessageBox,
    QObject,
    Qt,
    QThread,
    QWidget,
    Signal,
    Slot,
    is_valid,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.bootstrap import CounterContext

log = logging.getLogger(__name__)

T = TypeVar("T")

DATABASE_THREAD_PREFIX = "wi-db"
BACKGROUND_THREAD_PREFIX = "wi-work"
BACKGROUND_WORKERS = 4


class Executor(enum.Enum):
    DATABASE = "database"  # one thread: database work is serialised
    BACKGROUND = "background"  # a small pool: I/O, network, anything slow but not the database



class TaskManager(QObject):
    """Owns the worker threads and brings results back to the GUI thread."""

    # Tells the GUI thread that closures wait in `_closures`. It carries no Python object:
    # results never travel inside a queued Qt event (Anki's TaskManager does the same).
    _closures_pending = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._database = ThreadPoolExecutor(max_workers=1, thread_name_prefix=DATABASE_THREAD_PREFIX)
        self._background = ThreadPoolExecutor(
            max_workers=BACKGROUND_WORKERS, thread_name_prefix=BACKGROUND_THREAD_PREFIX
        )
        # Strong references until delivered: an operation nobody else holds must still finish.
        self._in_flight: set[Operation[Any]] = set()
        self._closed = False
        self._closures: list[Callable[[], None]] = []
        self._closures_lock = threading.Lock()
        # Queued to this object (not to a free function): when the manager is deleted,
        # Qt drops whatever is still queued for it instead of calling into a dead object.
        self._closures_pending.connect(self._run_closures, Qt.ConnectionType.QueuedConnection)

    @property
    def in_flight(self) -> int:
        """Operations started and not yet delivered (tests wait for 0)."""
        return len(self._in_flight)

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, operation: Operation[T], executor: Executor) -> Future[T]:
        if self._closed:
            raise RuntimeError("TaskManager is shut down")
        pool = self._database if executor is Executor.DATABASE else self._background
        # Only `_in_flight` (GUI thread) holds the operation strongly; the worker gets weak references.
        # An operation's work and callbacks hold pages and their Python-owned Qt objects: had the worker
        # dropped the last reference after the GUI thread delivered, they would be destroyed on the
        # worker (`QObject::killTimer: Timers cannot be stopped from another thread`, then a crash).
        self._in_flight.add(operation)
        handle = weakref.ref(operation)
        future = pool.submit(_run_on_worker, handle)
        future.add_done_callback(partial(self._post, handle))
        return future

    def _post(self, handle: weakref.ref[Operation[Any]], future: Future[Any]) -> None:
        # Runs on the worker (or on the GUI thread if the future was already done).
        if self._closed:
            return  # shut down: its Qt object may already be deleted, and nobody is waiting
        with self._closures_lock:
            self._closures.append(partial(self._finish, handle, future))
        try:
            self._closures_pending.emit()
        except RuntimeError:
            pass  # deleted between the check and the emit: nobody is waiting either

    def _finish(self, handle: weakref.ref[Operation[Any]], future: Future[Any]) -> None:
        operation = handle()
        if operation is None:
            return
        self._in_flight.discard(operation)
        if self._closed:
            return  # results arriving after shutdown have no window to go to
        operation._deliver(future)

    @Slot()
    def _run_closures(self) -> None:
        with self._closures_lock:
            closures, self._closures = self._closures, []
        for closure in closures:
            closure()

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with `wait`, let queued work finish and join the threads.

        The Qt object is then deleted by Qt's event loop (`deleteLater`), never by Python's
        garbage collector while deliveries may still be queued for it.
        """
        self._closed = True
        self._database.shutdown(wait=wait)
        self._background.shutdown(wait=wait)
        self._in_flight.clear()
        with self._closures_lock:
            self._closures.clear()
        self.deleteLater()


def _run_on_worker(handle: weakref.ref[Operation[T]]) -> T:
    """The worker's side of an operation: its work, holding nothing once it returns or raises."""
    operation = handle()
    if operation is None:
        raise CancelledError()  # dropped at shutdown before it started
    work = operation._work
    del operation
    try:
        return work()
    except BaseException as error:
        # The error goes back to the GUI thread, but not its frames: a frame keeps its function (the
        # work's closure) alive, and the worker may be the last to let go of the error. The stack
        # travels as text, in a note the log prints with the error.
        error.add_note("后台线程调用栈 / worker stack:\n" + "".join(traceback.format_exception(error)).rstrip())
        _drop_frames(error)
        raise
    finally:
        del work


def _drop_frames(error: BaseException) -> None:
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending.extend((current.__cause__, current.__context__))


_manager: TaskManager | None = None
_manager_lock = threading.Lock()


GUI_SWITCH_INTERVAL_S = 0.001


def task_manager() -> TaskManager:
    """The program's task manager, created on first use (a QApplication must exist)."""
    global _manager
    with _manager_lock:
        if _manager is None or _manager.closed:
            # The GUI thread must win the GIL back quickly from a busy worker (a 20,000-line import):
            # at CPython's default 5 ms each Python slot can wait that long, and a burst of slots
            # stalled the window for 150 ms (bench/workflow.py). 1 ms keeps it under 100 ms.
            sys.setswitchinterval(min(sys.getswitchinterval(), GUI_SWITCH_INTERVAL_S))
            # Owned by the application (Qt deletes it), not by this Python reference.
            _manager = TaskManager(QCoreApplication.instance())
        return _manager


def shutdown_task_manager(wait: bool = True) -> None:
    """At exit and after each test: finish or drop pending work, join the worker threads."""
    global _manager
    with _manager_lock:
        manager, _manager = _manager, None
    if manager is not None:
        manager.shutdown(wait=wait)


def _on_gui_thread() -> bool:
    application = QCoreApplication.instance()
    return application is not None and QThread.currentThread() is application.thread()


def clerk_message(error: BaseException) -> str:
    """What a clerk reads about a failure: the program's own Chinese message, never an exception's
    class, URL or raw text (those go to the log, for the IT person)."""
    if isinstance(error, WiCounterError):
        return error.message
    log.error("意外错误", exc_info=(type(error), error, error.__traceback__))
    if is_storage_failure(error):  # this counter's database, not a program error (issue 21 §8)
        return QCoreApplication.translate(
            "Operation", "{cause}，操作未完成，未保存的内容没有写入。请排除故障（清理磁盘空间或恢复数据库服务）后重试；"
            "与结算中心的交易在下次办理或重新启动时会先按报文编号查询结果，不会重复办理。").format(cause=cause(error))
    return QCoreApplication.translate(
        "Operation", "发生了意外错误，操作未完成。详细信息已写入日志文件，请联系系统管理员。"
    )


def show_failure(parent: QObject | None, error: BaseException) -> QMessageBox:
    """The default failure handler: the error's Chinese message, or a generic one (and the log)."""
    if isinstance(error, WiCounterError):
        log.warning("操作未完成：%s", error.message)
    text = clerk_message(error)
    window = parent if isinstance(parent, QWidget) and is_valid(parent) else None
    title = QCoreApplication.translate("Operation", "操作未完成")
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, window)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()  # not exec(): no nested event loop
    return box


class Operation(Generic[T]):
    """Work for a worker thread, with callbacks on the GUI thread. See the module docstring."""

    def __init__(
        self, parent: QObject, work: Callable[[], T], *, executor: Executor = Executor.DATABASE
    ) -> None:
        self._parent = parent
        self._work = work
        self._executor = executor
        self._success: Callable[[T], object] | None = None
        self._failure: Callable[[BaseException], object] | None = None

    @classmethod
    def transaction(
        cls, parent: QObject, ctx: CounterContext, work: Callable[[Session], T]
    ) -> Operation[T]:
        """Database work in one transaction (commit at the end, rollback on error).

        `work` must return plain values (dataclasses, str…), never objects bound to the session.
        """

        def unit() -> T:
            with ctx.transaction() as session:
                return work(session)

        return cls(parent, unit, executor=Executor.DATABASE)

    def success(self, callback: Callable[[T], object]) -> Operation[T]:
        self._success = callback
        return self

    def failure(self, callback: Callable[[BaseException], object]) -> Operation[T]:
        self._failure = callback
        return self

    def run(self) -> Future[T]:
        """Start the work; call from the GUI thread. The future is for tests and shutdown only."""
        if not _on_gui_thread():
            raise RuntimeError("Operation.run() must be called on the GUI thread")
        return task_manager().submit(self, self._executor)

    def _deliver(self, future: Future[T]) -> None:
        if future.cancelled():
            return
        if not is_valid(self._parent):
            log.debug("后台操作结果已丢弃：所属窗口已关闭")
            return
        error = future.exception()
        if error is None:
            if self._success is not None:
                self._success(future.result())
        elif self._failure is not None:
            self._failure(error)
        else:
            show_failure(self._parent, error)
