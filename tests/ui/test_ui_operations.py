"""ui.operations: work runs off the GUI thread, results come back on it, or not at all."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

import pytest
from pytestqt.qtbot import QtBot

from app.errors import WiCounterError
from ui.operations import (
    BACKGROUND_THREAD_PREFIX,
    DATABASE_THREAD_PREFIX,
    Executor,
    Operation,
    TaskManager,
    shutdown_task_manager,
)
from ui.qt import QApplication, QMessageBox, QObject, QThread, QTimer, QWidget, is_valid

pytestmark = pytest.mark.gui


def _visible_message_boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def test_event_loop_stays_responsive_and_success_runs_on_gui_thread(qtbot: QtBot, qapp: QApplication) -> None:
    parent = QObject()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    worker_thread: list[str] = []
    delivered: list[tuple[int, bool]] = []

    def work() -> int:
        worker_thread.append(threading.current_thread().name)
        time.sleep(0.5)
        return 42

    def success(result: int) -> None:
        delivered.append((result, QThread.currentThread() == qapp.thread()))

    timer.start()
    started = time.monotonic()
    Operation(parent, work).success(success).run()
    qtbot.waitUntil(lambda: bool(delivered), timeout=5000)
    finished = time.monotonic()
    timer.stop()

    during = [t for t in ticks if started <= t <= finished]
    assert len(during) >= 20, f"{len(during)} timer ticks in {finished - started:.2f} s: the GUI thread was blocked"
    assert delivered == [(42, True)]
    assert worker_thread[0].startswith(DATABASE_THREAD_PREFIX)


def test_failure_delivered_on_gui_thread(qtbot: QtBot, qapp: QApplication) -> None:
    parent = QObject()
    failures: list[tuple[BaseException, bool]] = []
    successes: list[object] = []

    def work() -> None:
        raise WiCounterError("读卡失败")

    Operation(parent, work).success(successes.append).failure(
        lambda error: failures.append((error, QThread.currentThread() == qapp.thread()))
    ).run()
    qtbot.waitUntil(lambda: bool(failures), timeout=5000)
    error, on_gui_thread = failures[0]
    assert isinstance(error, WiCounterError) and error.message == "读卡失败"
    assert on_gui_thread
    assert successes == []


def test_callbacks_dropped_when_parent_deleted(qtbot: QtBot, tasks: TaskManager) -> None:
    parent = QWidget()
    release = threading.Event()
    called: list[object] = []

    def work() -> None:
        release.wait(5)
        raise RuntimeError("nobody should hear this")

    Operation(parent, work).success(called.append).failure(called.append).run()
    Operation(parent, lambda: release.wait(5)).success(called.append).run()
    parent.deleteLater()
    qtbot.waitUntil(lambda: not is_valid(parent), timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: tasks.in_flight == 0, timeout=5000)
    qtbot.wait(50)  # any stray delivery would have run by now
    assert called == []
    assert _visible_message_boxes() == []  # nor the default failure handler


def test_default_failure_handler_shows_chinese_message(qtbot: QtBot, tasks: TaskManager) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)

    def work() -> None:
        raise WiCounterError("结算中心未响应，请稍后重试")

    Operation(parent, work).run()
    qtbot.waitUntil(lambda: bool(_visible_message_boxes()), timeout=5000)
    box = _visible_message_boxes()[0]
    assert box.text() == "结算中心未响应，请稍后重试"
    box.close()


def test_unexpected_error_is_logged_and_reported_generically(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)

    def work() -> None:
        raise ZeroDivisionError("boom")

    with caplog.at_level(logging.ERROR, logger="ui.operations"):
        Operation(parent, work).run()
        qtbot.waitUntil(lambda: bool(_visible_message_boxes()), timeout=5000)
    box = _visible_message_boxes()[0]
    assert "意外错误" in box.text() and "boom" not in box.text()
    assert any(record.exc_info and record.exc_info[0] is ZeroDivisionError for record in caplog.records)
    box.close()


def test_database_work_is_serialised_background_work_is_not(qtbot: QtBot) -> None:
    parent = QObject()
    spans: list[tuple[float, float, str]] = []

    def database_work() -> None:
        start = time.monotonic()
        time.sleep(0.05)
        spans.append((start, time.monotonic(), threading.current_thread().name))

    for _ in range(3):
        Operation(parent, database_work).run()
    # Two background jobs that each wait for the other: only finish if they run side by side.
    barrier = threading.Barrier(2, timeout=5)
    names: list[str] = []
    for _ in range(2):
        Operation(parent, barrier.wait, executor=Executor.BACKGROUND).success(
            lambda _index: names.append(str(_index))
        ).run()
    qtbot.waitUntil(lambda: len(spans) == 3 and len(names) == 2, timeout=5000)
    spans.sort()
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:], strict=False))
    assert {name for _, _, name in spans} == {spans[0][2]}  # one database thread


def test_run_off_the_gui_thread_is_refused() -> None:
    parent = QObject()
    errors: list[BaseException] = []

    def start_from_worker() -> None:
        try:
            Operation(parent, lambda: None).run()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=start_from_worker)
    thread.start()
    thread.join(5)
    assert len(errors) == 1


def test_shutdown_finishes_queued_work_and_joins_threads(qtbot: QtBot) -> None:
    parent = QObject()
    finished: list[int] = []

    def slow(number: int) -> None:
        time.sleep(0.05)
        finished.append(number)

    for number in range(3):
        Operation(parent, partial(slow, number)).run()
    Operation(parent, lambda: time.sleep(0.05), executor=Executor.BACKGROUND).run()
    shutdown_task_manager(wait=True)
    assert finished == [0, 1, 2]
    prefixes = (DATABASE_THREAD_PREFIX, BACKGROUND_THREAD_PREFIX)
    assert not [t for t in threading.enumerate() if t.name.startswith(prefixes)]


class _Owned:
    """Stands for a page's Python-owned Qt object (a timer without a parent): freed where its last
    reference goes."""

    def __init__(self, freed_on: list[str]) -> None:
        self.timer = QTimer()
        self._freed_on = freed_on

    def __del__(self) -> None:
        self._freed_on.append(threading.current_thread().name)


@pytest.mark.parametrize("fails", [False, True], ids=["success", "failure"])
def test_what_an_operation_holds_is_let_go_on_the_gui_thread(
        qtbot: QtBot, tasks: TaskManager, fails: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20 §12: a full run died with `QObject::killTimer: Timers cannot be stopped from another
    thread`. The worker dropped the last reference to an operation it had finished (its work, its
    callbacks, the error's frames) after the GUI thread had delivered the result: a page's
    Python-owned timer was destroyed on the database thread. Everything an operation holds must go
    on the GUI thread, however the threads interleave."""
    post = TaskManager._post

    def descheduled_after_posting(self: TaskManager, *args: object) -> None:
        post(self, *args)
        time.sleep(0.1)  # the worker loses the CPU here: the GUI thread delivers first

    monkeypatch.setattr(TaskManager, "_post", descheduled_after_posting)
    for _ in range(5):  # the interleaving differs from run to run: try it many times
        freed_on: list[str] = []
        parent = QWidget()
        delivered = threading.Event()
        _start_holding(parent, _Owned(freed_on), fails, delivered)  # nothing here keeps the object
        qtbot.waitUntil(delivered.is_set, timeout=5000)
        qtbot.waitUntil(lambda: tasks.in_flight == 0, timeout=5000)
        qtbot.waitUntil(lambda: bool(freed_on), timeout=5000)
        assert freed_on == [threading.main_thread().name]
        parent.deleteLater()


def _start_holding(parent: QWidget, owned: _Owned, fails: bool, delivered: threading.Event) -> None:
    """An operation whose work and callbacks are the only holders of `owned`."""

    def work() -> int:
        if owned and fails:
            raise WiCounterError("结算中心无应答")
        return 1

    def done(_: object) -> None:
        assert owned is not None
        delivered.set()

    Operation(parent, work).success(done).failure(done).run()
