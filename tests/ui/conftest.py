"""Fixtures for the GUI tests: a temporary counter per test and worker threads joined at
teardown (the Vorta pattern: nothing leaks from one test to the next).

Run offscreen: `QT_QPA_PLATFORM=offscreen python -m pytest tests/ui`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext, open_counter
from app.institution import InstitutionInfo
from app.operators import OperatorInfo, institution_info, list_operators
from tests.signed_in import signed_in

from devices.monitor import DEVICE_THREAD_NAME
from ui.gc_policy import install_gui_gc_policy
from ui.operations import (
    BACKGROUND_THREAD_PREFIX,
    DATABASE_THREAD_PREFIX,
    TaskManager,
    shutdown_task_manager,
    task_manager,
)
from ui.qt import QApplication, QInputMethodEvent, QWidget

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_STARTUP_SWITCHES = ("WI_COUNTER_AUTOLOGIN", "WI_COUNTER_EXIT_WHEN_SHOWN", "WI_COUNTER_EXIT_WHEN_CARD_READ")


def _worker_threads() -> list[threading.Thread]:
    # The card reader's device thread too: a window must stop it when it goes.
    prefixes = (DATABASE_THREAD_PREFIX, BACKGROUND_THREAD_PREFIX, DEVICE_THREAD_NAME)
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefixes) and thread.is_alive()]


@pytest.fixture(autouse=True)
def _no_startup_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's switches (autologin, exit when shown) are off unless a test sets them.

    The home folder and the in-memory keyring come from tests/conftest.py.
    """
    for name in _STARTUP_SWITCHES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True, scope="session")
def _gui_thread_collector(qapp: QApplication) -> Iterator[None]:
    """The window's garbage-collection policy (ui.gc_policy), as `wi-counter gui` installs it:
    cycles holding Qt objects are collected on the GUI thread only, never by a worker thread."""
    collector = install_gui_gc_policy(qapp)
    yield
    collector.uninstall()


@pytest.fixture(autouse=True)
def tasks(qapp: object) -> Iterator[TaskManager]:
    """The task manager of this test; shut down and its threads joined afterwards."""
    manager = task_manager()
    yield manager
    shutdown_task_manager(wait=True)
    leftover = _worker_threads()
    assert not leftover, f"worker threads still running after shutdown: {leftover}"


def _open(home: Path, demo: bool) -> Iterator[CounterContext]:
    ctx = open_counter(home=home, demo=demo)
    yield ctx
    # Work still queued may use the engine: finish it before disposing of the engine.
    shutdown_task_manager(wait=True)
    ctx.close()


@pytest.fixture
def demo_ctx(tmp_path: Path) -> Iterator[CounterContext]:
    """A demo counter (institution and operators admin / cashier / reviewer, password demo1234)."""
    yield from _open(tmp_path / "home", demo=True)


@pytest.fixture
def empty_ctx(tmp_path: Path) -> Iterator[CounterContext]:
    """A real (non-demo) counter on its first start: no institution, no operator."""
    yield from _open(tmp_path / "home", demo=False)


@pytest.fixture
def operator_of() -> Callable[[CounterContext, str], OperatorInfo]:
    """Looks up an operator as after login (tests may read the database directly)."""

    def find(ctx: CounterContext, login: str) -> OperatorInfo:
        with ctx.transaction() as session:
            return signed_in(next(o for o in list_operators(session) if o.login == login))

    return find


@pytest.fixture
def institution_of() -> Callable[[CounterContext], InstitutionInfo | None]:
    def find(ctx: CounterContext) -> InstitutionInfo | None:
        with ctx.transaction() as session:
            return institution_info(session)

    return find


@pytest.fixture
def type_text(qtbot: QtBot) -> Callable[[QWidget, str], None]:
    """Types into a widget as a clerk would: ASCII key by key, Chinese as an input-method commit.

    (QTest can only synthesise ASCII key presses; Chinese always arrives through the IME.)
    """

    def type_into(widget: QWidget, text: str) -> None:
        for run_is_ascii, run in _runs(text):
            if run_is_ascii:
                qtbot.keyClicks(widget, run)
            else:
                event = QInputMethodEvent("", [])
                event.setCommitString(run)
                QApplication.sendEvent(widget, event)

    return type_into


def _runs(text: str) -> list[tuple[bool, str]]:
    runs: list[tuple[bool, str]] = []
    for char in text:
        ascii_char = char.isascii()
        if runs and runs[-1][0] == ascii_char:
            runs[-1] = (ascii_char, runs[-1][1] + char)
        else:
            runs.append((ascii_char, char))
    return runs

