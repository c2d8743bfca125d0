"""The 出院结算 page against the real sandbox centre: settle (upload, second check, settlement) with
the amount to collect in large type, print through the 结算单 page, cancellation by a reviewer
only and settling again; the centre down → 全额垫付 → 待补登记 → link back → 补登记, settled once."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.db.models import StayStatus
from app.operators import OperatorInfo
from app.slips import money_text
from tests.centre.client_fixtures import SandboxProcess
from tests.workflow.stay_fixtures import WANG_XIULAN_CARD, ZHANG_WEI_CARD
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
from ui.main_window import MainWindow
from ui.pages.discharge_page import DischargePage
from ui.qt import QFont, Qt

pytestmark = pytest.mark.gui

OperatorOf = Callable[[CounterContext, str], OperatorInfo]


def _settlements(sandbox: SandboxProcess) -> dict[str, int]:
    """The centre's own count of settlements by status (live, cancelled, reversed)."""
    return dict(sandbox.summary()["settlements"])


def _open(qtbot: QtBot, window: MainWindow, stay_id: int) -> DischargePage:
    page = window.discharge_page
    window.show_page(window.page_titles.index("出院结算"))
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.picker.current_stay_id() == stay_id, timeout=WAIT_MS)
    return page


def _status(page: DischargePage) -> StayStatus | None:
    stay = page.picker.current_stay()
    return stay.status if stay is not None else None


def _settle(qtbot: QtBot, window: MainWindow, page: DischargePage) -> None:
    qtbot.waitUntil(lambda: page.settle_button.isEnabled(), timeout=WAIT_MS)
    qtbot.mouseClick(page.settle_button, Qt.MouseButton.LeftButton)
    assert window.settlement_in_progress()  # the 读卡 page warns if the card is pulled now
    qtbot.waitUntil(lambda: not page.busy, timeout=CENTRE_WAIT_MS)
    assert not window.settlement_in_progress()


def test_settle_print_cancel_by_a_reviewer_and_settle_again(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-DIS-1")
    add_charges(centre_ctx, cashier, stay_id)
    window = make_window(centre_ctx, "cashier")
    page = _open(qtbot, window, stay_id)
    qtbot.waitUntil(lambda: page.readiness_label.text().startswith("可以结算"), timeout=WAIT_MS)

    _settle(qtbot, window, page)
    outcome = page.outcome
    assert outcome is not None, page.error_label.text()
    assert outcome.fund_total + outcome.personal_total == outcome.total
    assert page.personal_amount.text() == f"{money_text(outcome.personal_total)} 元"
    assert page.fund_amount.text() == f"{money_text(outcome.fund_total)} 元"
    assert page.total_amount.text() == f"{money_text(outcome.total)} 元"
    # Large type: the amount to collect is the biggest text on the page.
    assert page.personal_amount.font().pointSizeF() >= 3 * QFont().pointSizeF()
    assert page.verdict.headline.text().startswith("准予联网结算")  # the second check, shown
    assert page.progress_label.text() == "结算完成"
    qtbot.waitUntil(lambda: _status(page) is StayStatus.SETTLED, timeout=WAIT_MS)
    assert _settlements(workflow_sandbox)["live"] == 1

    # A cashier cannot cancel (the service refuses too: tests of app.workflow.discharge).
    assert not page.cancel_button.isEnabled() and page.cancel_button.toolTip() == "仅审核员可撤销结算"

    # 打印结算单: the 结算单 page with this settlement previewed.
    assert page.print_button.isEnabled()
    qtbot.mouseClick(page.print_button, Qt.MouseButton.LeftButton)
    assert window.current_page_title() == "结算单"
    qtbot.waitUntil(lambda: window.slip_page.current_slip is not None, timeout=WAIT_MS)
    slip = window.slip_page.current_slip
    assert slip is not None and slip.settlement_id == outcome.settlement_id

    reviewer_window = make_window(centre_ctx, "reviewer")
    review = _open(qtbot, reviewer_window, stay_id)
    qtbot.waitUntil(lambda: review.cancel_button.isEnabled(), timeout=WAIT_MS)
    qtbot.mouseClick(review.cancel_button, Qt.MouseButton.LeftButton)
    assert review.error_label.text() == "撤销结算必须填写原因。"
    qtbot.keyClicks(review.cancel_reason, "wrong dept")
    qtbot.keyClick(review.cancel_reason, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not review.busy and _status(review) in (StayStatus.PENDING_SETTLEMENT,
                                                                      StayStatus.ADMITTED), timeout=CENTRE_WAIT_MS)
    assert review.progress_label.text().startswith("已撤销结算"), review.error_label.text()

    # Settled again: a new settlement, the first one stays cancelled.
    qtbot.waitUntil(lambda: review.readiness_label.text().startswith("可以结算"), timeout=WAIT_MS)
    _settle(qtbot, reviewer_window, review)
    again = review.outcome
    assert again is not None, review.error_label.text()
    assert again.settlement_id != outcome.settlement_id
    assert again.total == outcome.total
    assert _settlements(workflow_sandbox) == {"live": 1, "cancelled": 1, "reversed": 0}


def _wait_for_centre(sandbox: SandboxProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{sandbox.url}/health", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the sandbox did not listen again")


def test_centre_down_full_payment_then_backfill_settles_once(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    """全额垫付 while the centre is down, 补登记 when it is back, never settled twice (003 §17)."""
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-DIS-2")
    add_charges(centre_ctx, cashier, stay_id)
    window = make_window(centre_ctx, "cashier")
    page = _open(qtbot, window, stay_id)
    qtbot.waitUntil(lambda: page.readiness_label.text().startswith("可以结算"), timeout=WAIT_MS)
    assert not page.full_payment_button.isEnabled() or page.centre_online is False

    workflow_sandbox.arm("refuse_connections", seconds=6)
    time.sleep(0.5)
    _settle(qtbot, window, page)
    assert page.outcome is None
    assert page.error_label.text().startswith("结算中心无法连接"), page.error_label.text()
    assert page.full_payment_button.isEnabled()

    qtbot.mouseClick(page.full_payment_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.receipt is not None, timeout=WAIT_MS)
    assert page.receipt is not None
    assert page.personal_amount.text() == f"{money_text(page.receipt[1])} 元"  # collect the whole bill
    qtbot.waitUntil(lambda: _status(page) is StayStatus.PENDING_BACKFILL, timeout=WAIT_MS)
    assert not page.settle_button.isEnabled()

    _wait_for_centre(workflow_sandbox)
    window.status.check_centre()  # the periodic probe, now
    qtbot.waitUntil(lambda: page.centre_online is True, timeout=WAIT_MS)
    stays = window.stays_page
    qtbot.waitUntil(lambda: stays.backfill_button.isVisible() or not stays.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: stays.awaiting_backfill == [stay_id], timeout=WAIT_MS)
    assert "结算中心已恢复连接" in stays.backfill_label.text()

    qtbot.waitUntil(lambda: page.backfill_button.isEnabled(), timeout=WAIT_MS)
    qtbot.mouseClick(page.backfill_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.busy, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None, page.error_label.text()
    qtbot.waitUntil(lambda: _status(page) is StayStatus.SETTLED, timeout=WAIT_MS)
    assert not page.backfill_button.isEnabled()
    assert _settlements(workflow_sandbox)["live"] == 1  # once, whatever was queued during the outage


def test_a_refused_second_check_shows_why_and_settles_nothing(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    """王秀兰 (Jilin) came in as an emergency without a filing; not back-filed by discharge, the
    second check refuses (002 经办规程 §15): the verdict, its source and the next steps are shown."""
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, WANG_XIULAN_CARD, "ZY-UI-DIS-3", emergency=True)
    add_charges(centre_ctx, cashier, stay_id)
    window = make_window(centre_ctx, "cashier")
    page = _open(qtbot, window, stay_id)
    _settle(qtbot, window, page)
    assert page.outcome is None
    assert page.verdict.headline.text().startswith("不予联网结算")
    assert "002 经办规程 §15" in page.verdict.reasons.text()
    assert not page.verdict.next_steps.isHidden()
    assert page.error_label.text().startswith("未结算：出院结算前再次核验备案未通过")
    assert not page.full_payment_button.isEnabled()  # the centre is up: no 全额垫付 instead
    assert _settlements(workflow_sandbox)["live"] == 0
