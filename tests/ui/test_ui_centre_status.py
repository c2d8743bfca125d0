"""The status bar's centre label: offline reported at once, online when the centre answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.operators import OperatorInfo
from app.settings import CENTRE_URL
from ui.qt import QLabel
from ui.status_bar import CounterStatusBar
from tests.signed_in import signed_in

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
    bar = CounterStatusBar(empty_ctx, signed_in(OperatorInfo(id=1, login="admin", display_name="管理员", role=Role.ADMIN)))
    qtbot.addWidget(bar)
    label = _centre_label(bar)
    qtbot.waitUntil(lambda: label.text() == "结算中心：未配置", timeout=5000)
    assert "本机构" in label.toolTip()


def test_queued_work_is_counted_while_offline(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo]
) -> None:
    """补登记 kept while the centre is down shows beside the offline state (`003 §17`)."""
    import datetime as dt

    from app.composition import open_counter_centre
    from app.centre.gateway import Operation, SettlementRequest

    demo_ctx.settings.set(CENTRE_URL, f"http://127.0.0.1:{_closed_port()}")
    client = open_counter_centre(demo_ctx)
    client.queue(Operation.SETTLEMENT, SettlementRequest("ZY-OFFLINE-1", dt.date(2026, 11, 30)))
    client.close()
    bar = CounterStatusBar(demo_ctx, operator_of(demo_ctx, "cashier"))
    qtbot.addWidget(bar)
    label = _centre_label(bar)
    qtbot.waitUntil(lambda: label.text() == "结算中心：无法连接（脱机），1 笔待补登记", timeout=5000)


def test_online_then_offline_with_the_real_sandbox(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo],
    tmp_path: Path,
) -> None:
    from app.secret_store import CENTRE_KEY, set_secret
    from tests.centre.client_fixtures import SANDBOX_KEY, start_sandbox

    sandbox = start_sandbox(tmp_path / "sandbox")
    try:
        set_secret(CENTRE_KEY, SANDBOX_KEY)
        demo_ctx.settings.set(CENTRE_URL, sandbox.url)
        bar = CounterStatusBar(demo_ctx, operator_of(demo_ctx, "cashier"))
        qtbot.addWidget(bar)
        label = _centre_label(bar)
        qtbot.waitUntil(lambda: label.text() == "结算中心：已连接", timeout=10000)
        sandbox.stop()
        started = time.monotonic()
        bar.check_centre()
        qtbot.waitUntil(lambda: label.text() == "结算中心：无法连接（脱机）", timeout=5000)
        assert time.monotonic() - started < 3
    finally:
        sandbox.stop()
