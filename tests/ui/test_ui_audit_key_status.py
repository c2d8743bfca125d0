"""The status bar says when this counter's keyring lacks the audit key of a keyed trail (issue 22 §4)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app import audit
from app.bootstrap import CounterContext
from app.operators import OperatorInfo
from app.secret_store import AUDIT_KEY, SERVICE
from tests.conftest import MemoryKeyring
from ui.qt import QLabel
from ui.status_bar import CounterStatusBar

pytestmark = pytest.mark.gui


def _labels(qtbot: QtBot, ctx: CounterContext, operator: OperatorInfo) -> tuple[CounterStatusBar, QLabel, QLabel]:
    bar = CounterStatusBar(ctx, operator)
    qtbot.addWidget(bar)
    bar.show()
    label, database = bar.findChild(QLabel, "auditKeyStatus"), bar.findChild(QLabel, "databaseStatus")
    assert label is not None and database is not None
    return bar, label, database


@pytest.mark.parametrize("key_present", [True, False])
def test_a_missing_audit_key_is_shown_in_the_status_bar(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo],
    memory_keyring: MemoryKeyring, key_present: bool,
) -> None:
    with demo_ctx.transaction() as session:  # the trail is keyed (the key made on first use)
        audit.record(session, "test_action", operator_id=None, counter_name="1号窗口")
    if not key_present:
        del memory_keyring.secrets[(SERVICE, AUDIT_KEY)]
    _bar, label, database = _labels(qtbot, demo_ctx, operator_of(demo_ctx, "cashier"))
    qtbot.waitUntil(lambda: "正常" in database.text(), timeout=5000)
    if key_present:
        qtbot.wait(200)
        assert not label.isVisible()
    else:
        qtbot.waitUntil(label.isVisible, timeout=5000)
        assert label.text() == "审计密钥缺失" and "密钥备份" in label.toolTip()
