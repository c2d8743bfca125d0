"""The 月度结算 page against the real sandbox centre, as a reviewer uses it at month end: last
month's stays settled through the workflow, 生成申请, 上传, 查询审核结果, and the agency's deduction
shown with its dispute deadline (`000 §31`, `003 §20`)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.demo.month import seed_demo_month
from app.composition import open_workflow_centre
from app.operators import OperatorInfo
from tests.ui.print_dialogs import answer
from tests.ui.workflow_fixtures import CENTRE_WAIT_MS, centre_ctx, workflow_sandbox  # noqa: F401 - fixtures
from ui.pages.claims_page import ClaimsPage
from ui.qt import Qt

pytestmark = pytest.mark.gui


def test_a_reviewer_claims_last_month_and_sees_the_deduction(
    qtbot: QtBot, centre_ctx: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo],  # noqa: F811
) -> None:
    cashier, reviewer = operator_of(centre_ctx, "cashier"), operator_of(centre_ctx, "reviewer")
    client = open_workflow_centre(centre_ctx, cashier)
    try:
        assert seed_demo_month(centre_ctx, client, cashier) == 3
    finally:
        client.close()

    page = ClaimsPage(centre_ctx, reviewer)
    qtbot.addWidget(page)
    page.resize(1280, 900)
    page.show()
    qtbot.waitUntil(lambda: page.overview is not None and page.busy is None, timeout=CENTRE_WAIT_MS)
    assert page.overview is not None and page.overview.settlements == 3 and page.overview.unclaimed == 3

    qtbot.mouseClick(page.build_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.claim is not None and page.busy is None, timeout=CENTRE_WAIT_MS)
    assert page.claim is not None and page.claim.person_times == 3
    batch = page.claim.batch_no

    assert page.upload_button.isEnabled()
    answer("上传")  # the confirmation, with the batch and the amounts
    qtbot.mouseClick(page.upload_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_upload is not None and page.busy is None, timeout=CENTRE_WAIT_MS)
    assert page.last_upload is not None and page.last_upload.completed
    assert (page.last_upload.chunks_done, page.last_upload.chunks) == (1, 1)

    qtbot.waitUntil(lambda: page.status_label.text().startswith("已上传，待审核"), timeout=CENTRE_WAIT_MS)
    assert page.answer_button.isEnabled()
    qtbot.mouseClick(page.answer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_answer is not None and page.busy is None, timeout=CENTRE_WAIT_MS)
    assert page.last_answer is not None and page.last_answer.problems == ()
    qtbot.waitUntil(lambda: len(page.deductions) == 1, timeout=CENTRE_WAIT_MS)
    (bed,) = page.deductions
    # 黄丽's bed charged twice on one day: the excess is deducted (003 §15), disputable for 10
    # working days (003 §20).
    assert bed.name == "黄丽" and bed.item_name == "床位费" and bed.amount == Decimal("40.00")
    assert bed.batch_no == batch and bed.disputable and bed.working_days_left == 10
    assert page.claim is not None and page.claim.deduction_total == Decimal("40.00")
    assert page.claim.fund_settled_total == page.claim.fund_total - Decimal("40.00")
