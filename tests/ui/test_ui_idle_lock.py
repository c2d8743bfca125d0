"""The counter locks itself after `session.idle_lock_minutes` without input (the Ctrl+L path)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.institution import InstitutionInfo
from app.operators import OperatorInfo
from app.settings import SESSION_IDLE_LOCK_MINUTES
from ui.main_window import MainWindow
from ui.qt import Qt

pytestmark = pytest.mark.gui

IDLE_MS = 300  # the tests' fraction of a minute


@pytest.fixture
def window(
    qtbot: QtBot,
    demo_ctx: CounterContext,
    operator_of: Callable[[CounterContext, str], OperatorInfo],
    institution_of: Callable[[CounterContext], InstitutionInfo | None],
) -> Iterator[MainWindow]:
    main = MainWindow(demo_ctx, operator_of(demo_ctx, "cashier"), institution_of(demo_ctx))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    yield main


def test_the_default_is_ten_minutes(window: MainWindow) -> None:
    assert SESSION_IDLE_LOCK_MINUTES.default == 10
    assert window.idle_lock.timeout_ms == 10 * 60_000


def test_an_idle_window_locks(qtbot: QtBot, window: MainWindow) -> None:
    window.idle_lock.set_timeout_ms(IDLE_MS)
    with qtbot.waitSignal(window.lock_requested, timeout=3000):
        pass


def test_input_keeps_the_window_unlocked(qtbot: QtBot, window: MainWindow) -> None:
    locked: list[bool] = []
    window.lock_requested.connect(lambda: locked.append(True))
    # A longer period here: a key every fifth of it keeps the window awake even when a loaded
    # machine (parallel test workers) stretches a wait to twice its length.
    idle_ms = 4 * IDLE_MS
    window.idle_lock.set_timeout_ms(idle_ms)
    started = time.monotonic()
    while time.monotonic() - started < 3 * idle_ms / 1000:  # three idle periods, with a key every fifth of one
        qtbot.keyClick(window.nav, Qt.Key.Key_Down)
        qtbot.wait(idle_ms // 5)
    assert locked == []
    with qtbot.waitSignal(window.lock_requested, timeout=3 * idle_ms):  # then it goes quiet, and locks
        pass


def test_no_lock_while_a_settlement_runs(qtbot: QtBot, window: MainWindow) -> None:
    settling = [True]
    window.settlement_in_progress = lambda: settling[0]
    locked: list[bool] = []
    window.lock_requested.connect(lambda: locked.append(True))
    window.idle_lock.set_timeout_ms(IDLE_MS)
    qtbot.wait(3 * IDLE_MS)
    assert locked == []
    settling[0] = False
    with qtbot.waitSignal(window.lock_requested, timeout=3000):
        pass


def test_zero_never_locks(qtbot: QtBot, window: MainWindow) -> None:
    locked: list[bool] = []
    window.lock_requested.connect(lambda: locked.append(True))
    window.idle_lock.set_timeout_ms(IDLE_MS)
    window.idle_lock.set_timeout_ms(0)
    qtbot.wait(3 * IDLE_MS)
    assert locked == []


def test_the_setting_is_read_when_settings_are_saved(window: MainWindow, demo_ctx: CounterContext) -> None:
    demo_ctx.settings.set(SESSION_IDLE_LOCK_MINUTES, 3)
    window.settings_page.settings_saved.emit()
    assert window.idle_lock.timeout_ms == 3 * 60_000
