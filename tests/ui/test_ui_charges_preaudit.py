"""The 费用与伤病分离 page's pre-audit (issue 10, part B): a badge per line with its severity colour and
the finding's rule, message, article and advice in the tooltip, and the filter 仅显示可能扣款; the audit
runs off the GUI thread after the workspace is shown. A per-day item twice on one day (`003 §15`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.db.models import ChargeCategory, ChargeLine, ChargeSource
from app.operators import OperatorInfo
from tests.centre.client_fixtures import SandboxProcess, centre_today
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    WAIT_MS,
    add_charges,
    admit_through_service,
    centre_ctx,
    workflow_sandbox,
)
from tests.ui.artefacts import save_shot
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD
from ui.pages.charges_model import AMOUNT_COLUMN, PREAUDIT_COLUMN
from ui.pages.charges_page import ChargesPage
from ui.pages.preaudit_widgets import SEVERITY_COLOURS
from ui.qt import QModelRoleData, Qt

pytestmark = pytest.mark.gui

OperatorOf = Callable[[CounterContext, str], OperatorInfo]


def _row_of(page: ChargesPage, seq: int) -> int:
    return next(row for row in range(page.model.rowCount()) if page.model.line(row).seq == seq)


def test_a_badge_on_each_line_likely_deducted_and_the_filter_shows_only_those(
    qtbot: QtBot, centre_ctx: CounterContext, operator_of: OperatorOf,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-PA-3")
    add_charges(centre_ctx, cashier, stay_id)  # seq 1-8: nothing the pre-audit flags
    day = centre_today() - dt.timedelta(days=2)
    with centre_ctx.transaction() as session:  # 住院诊查费, a per-day item, twice on one day (003 §15)
        for seq in (101, 102):
            session.add(ChargeLine(stay_id=stay_id, seq=seq, his_code="110200005", code="110200005", name="住院诊查费",
                                   category=ChargeCategory.TREATMENT, quantity=Decimal("1"),
                                   unit_price=Decimal("20.00"), amount=Decimal("20.00"), charged_on=day,
                                   diagnosis_code="S82.201", source=ChargeSource.MANUAL, created_by=cashier.id))
    page = ChargesPage(centre_ctx, cashier)
    qtbot.addWidget(page)
    page.resize(1400, 900)
    page.show()
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.review is not None and page.review.stay_id == stay_id, timeout=WAIT_MS)
    assert page.model.rowCount() == 10

    flagged = page.model.index(_row_of(page, 102), PREAUDIT_COLUMN)
    assert page.model.headerData(PREAUDIT_COLUMN, Qt.Orientation.Horizontal) == "预审"
    header = page.table.horizontalHeader()  # shown beside 金额, not past the right edge
    assert header.visualIndex(PREAUDIT_COLUMN) == header.visualIndex(AMOUNT_COLUMN) + 1
    assert page.model.data(flagged) == "可能扣款 ¥20.00"
    assert page.model.data(flagged, Qt.ItemDataRole.ForegroundRole).color().name() == SEVERITY_COLOURS["high"]
    tooltip = page.model.data(flagged, Qt.ItemDataRole.ToolTipRole)
    rule = page.review.items[0]
    assert rule.title in tooltip and "003 §15" in tooltip and rule.finding.message in tooltip
    assert f"建议：{rule.finding.advice}" in tooltip
    for seq in (1, 101):  # the first of the day is paid; the drug lines are fine
        assert page.model.data(page.model.index(_row_of(page, seq), PREAUDIT_COLUMN)) is None
    assert "1 条明细可能被经办机构扣款" in page.preaudit_label.text() and "¥20.00" in page.preaudit_label.text()

    # The view paints through multiData (one call per cell): it answers as data() does, role for role.
    roles = [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole,
             Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.DecorationRole]
    for row in range(page.model.rowCount()):
        for column in range(page.model.columnCount()):
            index = page.model.index(row, column)
            for role in roles:
                entry = QModelRoleData(role)
                page.model.multiData(index, entry)
                assert entry.data() == page.model.data(index, role), (row, column, role)
    save_shot(page, "preaudit", "charges-badges.png")
    page.likely_deducted_check.setChecked(True)
    save_shot(page, "preaudit", "charges-likely-deducted.png")
    assert [page.model.line(row).seq for row in range(page.model.rowCount())] == [102]
    assert page.shown_label.text() == "显示 1 / 10 条"
    page.likely_deducted_check.setChecked(False)
    assert page.model.rowCount() == 10
