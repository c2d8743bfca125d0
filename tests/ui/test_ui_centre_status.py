"""The status bar's centre label: offline reported at once, online when the centre answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.operators import OperatorInfo
from app.settings import CENTRE_URL
from ui.qt import QLabel
from ui.status_bar import CounterStatusBar

pytestmark = pytest.mark.gui


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _centre_label(bar: CounterStatusBar) -> QLabel:
    label = bar.findChild(QLabel, "centreStatus")
    assert label is not None
    return label


def test_an_unreachable_centre_shows_offline_within_seconds(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo]
) -> None:
    demo_ctx.settings.set(CENTRE_URL, f"http://127.0.0.1:{_closed_port()}")
    started = time.monotonic()
    bar = CounterStatusBar(demo_ctx, operator_of(demo_ctx, "cashier"))
    qtbot.addWidget(bar)
    label = _centre_label(bar)
    qtbot.waitUntil(lambda: label.text() == "结算中心：无法连接（脱机）", timeout=5000)
    assert time.monotonic() - started < 3  # a refused connection is reported at once
    assert "127.0.0.1" in label.toolTip()


def test_a_counter_without_an_institution_says_not_configured(qtbot: QtBot, empty_ctx: CounterContext) -> None:
    from app.db.models import Role

    # A real (non-demo) counter with no institution yet: the label says what is missing.
    bar = CounterStatusBar(empty_ctx, OperatorInfo(id=1, login="admin", display_name="管理员", role=Role.ADMIN))
    qtbot.addWidget(bar)
    label = _centre_label(bar)
    qtbot.waitUntil(lambda: label.text() == "结算中心：未配置", timeout=5000)
    assert "本机构" in label.toolTip()
