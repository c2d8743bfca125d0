"""The 出院结算 page's pre-audit (issue 10, part B) against the real sandbox centre: the findings with
their total and advice, 结算 refused until each is acknowledged with a reason (dialog), the
acknowledgement written with its audit event, then settled; the 达到出院标准日期 recorded here
drives `after_discharge_criteria` (`003 §15`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.db.models import AuditEvent, ChargeCategory, ChargeLine, ChargeSource, PreauditAcknowledgement, Stay
from app.operators import OperatorInfo
from tests.centre.client_fixtures import SandboxProcess, centre_today
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    WindowFactory,
    add_charges,
    admit_through_service,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from tests.ui.artefacts import save_shot
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD
from ui.main_window import MainWindow
from ui.pages.discharge_page import DischargePage
from ui.pages.preaudit_widgets import AcknowledgeDialog
from ui.qt import Qt

pytestmark = pytest.mark.gui

OperatorOf = Callable[[CounterContext, str], OperatorInfo]


def _consultation_twice(ctx: CounterContext, operator: OperatorInfo, stay_id: int, day: dt.date) -> None:
    """住院诊查费 (a per-day item) twice on one day: the agency pays one (003 §15)."""
    with ctx.transaction() as session:
        for seq in (101, 102):
            session.add(ChargeLine(stay_id=stay_id, seq=seq, his_code="110200005", code="110200005", name="住院诊查费",
                                   category=ChargeCategory.TREATMENT, quantity=Decimal("1"),
                                   unit_price=Decimal("20.00"), amount=Decimal("20.00"), charged_on=day,
                                   diagnosis_code="S82.201", source=ChargeSource.MANUAL, created_by=operator.id))


def _open(qtbot: QtBot, window: MainWindow, stay_id: int) -> DischargePage:
    page = window.discharge_page
    window.show_page(window.page_titles.index("出院结算"))
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.picker.current_stay_id() == stay_id, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.review is not None, timeout=WAIT_MS)
    return page


def test_settling_waits_for_each_finding_to_be_acknowledged_with_a_reason(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-PA-1")
    add_charges(centre_ctx, cashier, stay_id)
    _consultation_twice(centre_ctx, cashier, stay_id, centre_today() - dt.timedelta(days=2))
    window = make_window(centre_ctx, "cashier")
    page = _open(qtbot, window, stay_id)
    qtbot.waitUntil(lambda: page.readiness_label.text().startswith("费用明细已就绪"), timeout=WAIT_MS)
    assert "1 项待确认" in page.readiness_label.text()

    assert page.preaudit_table.rowCount() == 1
    assert [page.preaudit_table.item(0, column).text() for column in range(4)] == [
        "102", "高", "¥20.00", "按日收费项目一天超过一次（003 §15）"]
    assert page.preaudit_table.item(0, 4).text() == "待确认"
    assert "预计扣款合计 ¥20.00" in page.preaudit_summary.text() and "1 项待确认" in page.preaudit_summary.text()
    assert "建议" in page.preaudit_table.item(0, 3).toolTip()
    assert not page.settle_button.isEnabled()
    save_shot(window, "preaudit", "discharge-pending.png")
    page.settle()  # refused here, and by the service behind it
    assert "序号 102" in page.error_label.text() and "¥20.00" in page.error_label.text()
    assert page.outcome is None

    qtbot.mouseClick(page.acknowledge_button, Qt.MouseButton.LeftButton)
    dialog = page.last_dialog
    assert isinstance(dialog, AcknowledgeDialog) and "序号 102" in dialog.findChild(type(page.preaudit_summary),
                                                                                    "acknowledgeItems").text()
    qtbot.mouseClick(dialog.accept_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "原因" in dialog.error.text()  # no reason, no acknowledgement
    dialog.reason_edit.setPlainText("医嘱两次查房，已与科室核实")
    save_shot(dialog, "preaudit", "discharge-acknowledge-dialog.png")
    qtbot.mouseClick(dialog.accept_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.review is not None and page.review.ready, timeout=WAIT_MS)
    assert page.preaudit_table.item(0, 4).text().startswith("已确认：")
    with centre_ctx.transaction() as session:
        rows = session.scalars(select(PreauditAcknowledgement).where(PreauditAcknowledgement.stay_id == stay_id)).all()
        assert [(r.rule, r.seq, r.amount_at_risk, r.reason, r.operator_id) for r in rows] == [
            ("daily_limit", 102, Decimal("20.00"), "医嘱两次查房，已与科室核实", cashier.id)]
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "preaudit_acknowledged")).all()
        assert [(e.entity_id, e.detail["seq"], e.detail["reason"]) for e in events] == [
            (str(stay_id), 102, "医嘱两次查房，已与科室核实")]

    qtbot.waitUntil(lambda: page.settle_button.isEnabled(), timeout=WAIT_MS)
    assert page.readiness_label.text().startswith("可以结算")
    qtbot.mouseClick(page.settle_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.busy, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None, page.error_label.text()


def test_the_criteria_date_recorded_on_the_page_shows_the_costs_after_it(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    """003 §15: costs after the day the patient met the discharge criteria are deducted."""
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-PA-2")
    add_charges(centre_ctx, cashier, stay_id, count=2)  # dated two days ago
    window = make_window(centre_ctx, "cashier")
    page = _open(qtbot, window, stay_id)
    assert page.review is not None and page.review.items == ()
    assert page.criteria_label.text() == "未记录"

    met_on = centre_today() - dt.timedelta(days=3)
    page.criteria_date.setDate(page.criteria_date.date().fromString(met_on.isoformat(), "yyyy-MM-dd"))
    qtbot.mouseClick(page.record_criteria_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.review is not None and bool(page.review.items), timeout=WAIT_MS)
    assert {item.finding.rule for item in page.review.items} == {"after_discharge_criteria"}
    assert page.criteria_label.text() == f"已记录：{met_on.isoformat()}"
    assert not page.settle_button.isEnabled()
    with centre_ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.discharge_criteria_met_on == met_on

    qtbot.mouseClick(page.clear_criteria_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.review is not None and page.review.items == (), timeout=WAIT_MS)
    assert page.criteria_label.text() == "未记录"
