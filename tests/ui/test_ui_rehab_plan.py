"""The 出院结算 page and a rehab stay (`000 §30`: 康复方案 up before the discharge settlement): the
readiness list names the missing plan and offers 康复方案…; the plan recorded in the dialog goes up to
the real sandbox centre and the stay is no longer held for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.operators import OperatorInfo
from app.workflow.admission import centre_today
from tests.centre.client_fixtures import SandboxProcess
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    WindowFactory,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from ui.qt import Qt

pytestmark = pytest.mark.gui

OperatorOf = Callable[[CounterContext, str], OperatorInfo]
REHAB_CARD = "K11010018"  # 赵建华: a rehab stay among the sandbox's demo people


def _rehab_stay(ctx: CounterContext, operator: OperatorInfo) -> int:
    from app.workflow.admission import Identification, look_up
    from app.composition import open_workflow_centre
    from tests.workflow.stay_fixtures import add_lines, admit_worker, form

    client = open_workflow_centre(ctx, operator)
    try:
        injury = look_up(client, Identification("card", REHAB_CARD), operator).recognitions[0].diagnoses[0]
        _, outcome = admit_worker(ctx, client, operator, REHAB_CARD, form(
            "ZY-KF-UI", admitted=centre_today() - dt.timedelta(days=5), care="rehab",
            diagnoses=((injury.code, injury.name), ("I10", "原发性高血压"))))
    finally:
        client.close()
    assert outcome.stay_id is not None, outcome.check
    add_lines(ctx, outcome.stay_id, operator, 4, injury_code=injury.code, day=centre_today() - dt.timedelta(days=2))
    return outcome.stay_id


def test_the_readiness_list_offers_the_rehab_plan_and_uploads_it(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
    workflow_sandbox: SandboxProcess, type_text: Callable[[object, str], None],  # noqa: F811
) -> None:
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = _rehab_stay(centre_ctx, cashier)
    window = make_window(centre_ctx, "cashier")
    page = window.discharge_page
    window.show_page(window.page_titles.index("出院结算"))
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.picker.current_stay_id() == stay_id, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "康复方案" in page.readiness_label.text(), timeout=WAIT_MS)
    assert "000 §30" in page.readiness_label.text()
    assert not page.settle_button.isEnabled()
    assert page.rehab_plan_button.isVisible() and page.rehab_plan_button.isEnabled()

    qtbot.mouseClick(page.rehab_plan_button, Qt.MouseButton.LeftButton)
    dialog = page.rehab_plan_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.text() == "请填写康复方案编号。"  # nothing typed: nothing sent
    qtbot.keyClicks(dialog.document_edit, "KF-UI-001")
    type_text(dialog.summary_edit, "运动疗法、作业疗法，每日一次，两周")
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.rehab_plan_dialog is None, timeout=CENTRE_WAIT_MS)
    assert "已上传" in page.progress_label.text()
    qtbot.waitUntil(lambda: "康复方案" not in page.readiness_label.text()
                    and page.readiness_label.text() != "正在检查…", timeout=WAIT_MS)
    assert not page.rehab_plan_button.isVisible()
    # The centre holds the plan: its 2307 applied once.
    rows = workflow_sandbox.admin("GET", "/admin/calls")["calls"]
    assert sum(1 for c in rows if c["infno"] == "2307" and c["outcome"] == "applied") == 1
