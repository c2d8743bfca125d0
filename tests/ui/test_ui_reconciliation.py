"""日终对账 in the window, against the real sandbox: a difference found, shown in the status bar,
refused to a cashier and dealt with by a reviewer (issue 9 §6)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.sandbox.store import DATABASE_NAME
from app.operators import OperatorInfo
from tests.centre.client_fixtures import SandboxProcess, centre_today
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    WAIT_MS,
    WindowFactory,
    add_charges,
    admit_through_service,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD
from ui.qt import Qt

pytestmark = pytest.mark.gui


def test_a_difference_is_shown_refused_to_a_cashier_and_dealt_with_by_a_reviewer(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
    operator_of: Callable[[CounterContext, str], OperatorInfo],
) -> None:
    from app.composition import open_workflow_centre
    from app.workflow.discharge import settle_stay

    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-REC-1")
    add_charges(centre_ctx, cashier, stay_id)
    client = open_workflow_centre(centre_ctx, cashier)
    try:
        settle_stay(centre_ctx, client, stay_id, cashier, centre_today())
    finally:
        client.close()
    # The centre lost the settlement (as if reversed there): the counter's books now differ.
    with sqlite3.connect(workflow_sandbox.data / DATABASE_NAME, isolation_level=None) as centre:
        centre.execute("UPDATE settlement SET status = 'reversed'")

    window = make_window(centre_ctx, "cashier")
    assert not window.status.reconciliation_label.isVisible()
    dialog = window.open_reconciliation()
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.last_result is not None and len(dialog.differences) == 1, timeout=WAIT_MS)
    assert dialog.last_result is not None and not dialog.last_result.agrees
    assert dialog.table.item(0, 1).text() == "本机有、中心无（结算）"
    assert dialog.table.item(0, 6).text() == "待处理"
    qtbot.waitUntil(lambda: window.status.reconciliation_label.isVisible(), timeout=WAIT_MS)
    assert window.status.reconciliation_label.text() == "对账：1 笔差异待处理"
    dialog.table.selectRow(0)
    dialog.note_edit.setPlainText("已核对")
    assert not dialog.review_button.isEnabled()  # a cashier may look, not deal with it
    dialog.close()

    reviewing = make_window(centre_ctx, "reviewer")
    qtbot.waitUntil(lambda: reviewing.status.reconciliation_label.isVisible(), timeout=WAIT_MS)
    qtbot.mouseClick(reviewing.status.reconciliation_label, Qt.MouseButton.LeftButton)
    review = reviewing.reconciliation_dialog
    qtbot.waitUntil(lambda: len(review.differences) == 1, timeout=WAIT_MS)
    review.table.selectRow(0)
    assert not review.review_button.isEnabled()  # no note yet
    review.note_edit.setPlainText("中心已冲正，已重新结算")
    assert review.review_button.isEnabled()
    qtbot.mouseClick(review.review_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: review.differences == [], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not reviewing.status.reconciliation_label.isVisible(), timeout=WAIT_MS)
    assert "没有待处理的对账差异" in review.summary_label.text()
