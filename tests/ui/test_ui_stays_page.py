"""The 住院一览 page: stays with their status, searched by name, ID number, 住院号 or 就医登记号,
ID numbers masked in the list, a double-click opens the stay; the 补登记 offer follows the link."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.business_date import business_today
from app.bootstrap import CounterContext
from app.operators import OperatorInfo
from tests.centre.client_fixtures import ZHANG_WEI
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    WAIT_MS,
    WindowFactory,
    add_charges,
    admit_through_service,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from ui.pages.stays_page import StaysPage
from ui.qt import QApplication, QInputMethodEvent, Qt

pytestmark = pytest.mark.gui

LIU_YANG = "440802198805120638"  # local, no filing needed (docs/sandbox-centre.md)
LIU_YANG_CARD = "K44080011"


def _names(page: StaysPage) -> list[str]:
    return [page.table.item(row, 0).text() for row in range(page.table.rowCount())]


def _cells(page: StaysPage) -> list[str]:
    return [page.table.item(row, column).text()
            for row in range(page.table.rowCount()) for column in range(page.table.columnCount())]


def _search(qtbot: QtBot, page: StaysPage, text: str, expected: list[str]) -> None:
    page.search.clear()
    if text.isascii():
        qtbot.keyClicks(page.search, text)
    else:  # Chinese arrives through the input method (QTest types ASCII only)
        event = QInputMethodEvent("", [])
        event.setCommitString(text)
        QApplication.sendEvent(page.search, event)
    qtbot.keyClick(page.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: _names(page) == expected, timeout=WAIT_MS)


def test_search_status_masking_and_double_click(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
    operator_of: Callable[[CounterContext, str], OperatorInfo],
) -> None:
    cashier = operator_of(centre_ctx, "cashier")
    zhang = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-LIST-1")
    liu = admit_through_service(centre_ctx, cashier, LIU_YANG_CARD, "ZY-UI-LIST-2")
    window = make_window(centre_ctx, "cashier")
    page = window.stays_page
    window.show_page(window.page_titles.index("住院一览"))
    page.reload()
    # The demo counter has a settled stay of its own (the sample slip's).
    qtbot.waitUntil(lambda: {"刘洋", "张伟"} <= set(_names(page)), timeout=WAIT_MS)
    cells = _cells(page)
    assert "440802********1236" in cells and ZHANG_WEI not in " ".join(cells)  # masked in the list
    registration = next(s.registration_no for s in page.stays if s.stay_id == zhang)
    assert registration

    _search(qtbot, page, "张伟", ["张伟"])
    _search(qtbot, page, LIU_YANG, ["刘洋"])  # the full ID number finds the stay
    _search(qtbot, page, "ZY-UI-LIST-1", ["张伟"])
    _search(qtbot, page, registration, ["张伟"])
    _search(qtbot, page, "nobody", [])
    assert page.count_label.text() == "共 0 次住院"

    page.search.clear()
    page.status_filter.setCurrentIndex(page.status_filter.findText("在院"))
    qtbot.waitUntil(lambda: sorted(_names(page)) == ["刘洋", "张伟"], timeout=WAIT_MS)
    assert [page.table.item(row, 7).text() for row in range(2)] == ["在院", "在院"]
    page.status_filter.setCurrentIndex(page.status_filter.findText("已结算"))
    qtbot.waitUntil(lambda: len(_names(page)) == 1 and "张伟" not in _names(page), timeout=WAIT_MS)
    assert page.table.item(0, 7).text() == "已结算"
    page.status_filter.setCurrentIndex(page.status_filter.findText("在院"))
    qtbot.waitUntil(lambda: len(_names(page)) == 2, timeout=WAIT_MS)

    # Double-click 刘洋's row: the stay opens where it is dealt with.
    row = _names(page).index("刘洋")
    rect = page.table.visualItemRect(page.table.item(row, 0))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    # 在院: charges are still coming in, so the 费用与伤病分离 page opens it.
    qtbot.waitUntil(lambda: window.current_page_title() == "费用与伤病分离", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.charges_page.stay_id == liu, timeout=WAIT_MS)


def test_backfill_is_offered_only_when_the_link_is_back(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
    operator_of: Callable[[CounterContext, str], OperatorInfo],
) -> None:
    """Stays paid in full while the centre was down wait for 补登记 (003 §17)."""
    import datetime as dt

    from app.workflow.discharge import issue_full_payment

    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-LIST-3")
    add_charges(centre_ctx, cashier, stay_id)
    issue_full_payment(centre_ctx, stay_id, cashier, business_today())
    window = make_window(centre_ctx, "cashier")
    page = window.stays_page
    window.show_page(window.page_titles.index("住院一览"))
    # the window probes the (running) sandbox when it opens; let that answer land first, or it
    # would put the link back up just after the test takes it down
    qtbot.waitUntil(lambda: window.status.centre_online is not None, timeout=WAIT_MS)
    page.set_centre_online(False)
    qtbot.waitUntil(lambda: page.awaiting_backfill == [stay_id], timeout=WAIT_MS)
    assert page.backfill_label.isVisible() and not page.backfill_button.isVisible()
    assert "恢复连接后即可办理" in page.backfill_label.text()
    row = next(row for row, stay in enumerate(page.stays) if stay.stay_id == stay_id)
    assert page.table.item(row, 7).text() == "待补登记"
    page.set_centre_online(True)
    qtbot.waitUntil(lambda: page.backfill_button.isVisible(), timeout=WAIT_MS)
    assert page.backfill_button.isEnabled()
    assert page.backfill_label.text().startswith("结算中心已恢复连接：1 次住院")


def test_guangdong_backfill_shows_due_today_then_overdue(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
    operator_of: Callable[[CounterContext, str], OperatorInfo],
) -> None:
    """003 §17: 故障排除当日 … 向省集中系统做补登记处理 — the list says due today the day the link came
    back, overdue after; the offer says nothing is refunded."""
    import datetime as dt

    from sqlalchemy import update

    from app.db.models import FullPaymentReceipt
    from app.composition import open_workflow_centre
    from app.workflow.discharge import issue_full_payment
    from tests.workflow.stay_fixtures import add_lines, admit_worker, centre_today, form

    cashier = operator_of(centre_ctx, "cashier")
    client = open_workflow_centre(centre_ctx, cashier)
    try:  # 李娜: insured in 广州, filed for this hospital (guangdong-intra)
        _, admitted = admit_worker(centre_ctx, client, cashier, "B44010002",
                                   form("ZY-UI-LIST-GD", diagnoses=(("S62.300", "掌骨骨折"), ("I10", "原发性高血压"))))
    finally:
        client.close()
    stay_id = admitted.stay_id
    assert stay_id is not None
    add_lines(centre_ctx, stay_id, cashier, 5, injury_code="S62.300")
    issue_full_payment(centre_ctx, stay_id, cashier, centre_today())
    window = make_window(centre_ctx, "cashier")
    page = window.stays_page
    window.show_page(window.page_titles.index("住院一览"))
    # The window's first probe finds the centre answering: the fault is cleared today.
    qtbot.waitUntil(lambda: window.status.centre_online is True, timeout=WAIT_MS)
    page.set_centre_online(True)
    page.reload()

    def status_cell() -> str:
        row = next((row for row, stay in enumerate(page.stays) if stay.stay_id == stay_id), None)
        item = page.table.item(row, 7) if row is not None else None
        return item.text() if item is not None else ""

    qtbot.waitUntil(lambda: status_cell() == "待补登记（今日须办理）", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.backfill_button.isVisible(), timeout=WAIT_MS)
    offer = page.backfill_label.text()
    assert "今日须补登记（003 §17）" in offer and "不退还任何款项" in offer and "退还垫付款" not in offer
    # A day later it is overdue.
    with centre_ctx.transaction() as session:
        session.execute(update(FullPaymentReceipt).where(FullPaymentReceipt.stay_id == stay_id)
                        .values(fault_cleared_on=centre_today() - dt.timedelta(days=1)))
    page.reload()
    qtbot.waitUntil(lambda: status_cell() == "待补登记（已逾期）", timeout=WAIT_MS)
    row = next(row for row, stay in enumerate(page.stays) if stay.stay_id == stay_id)
    assert "补登记已逾期" in page.table.item(row, 7).toolTip()
    assert "补登记已逾期" in page.backfill_label.text()
