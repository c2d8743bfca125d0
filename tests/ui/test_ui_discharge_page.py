"""The 出院结算 page against the real sandbox centre: settle (upload, second check, settlement) with
the amount to collect in large type; print both copies (F9 on the printer in use, 选择打印机…
through Qt's real print dialog, driven from a timer and printing to a PDF file), 补打, 已撤销;
cancellation by a reviewer only, confirmed with the amounts, and settling again; the centre down
→ 全额垫付 (confirmed, its receipt printed) → 待补登记 → link back → 补登记, settled once."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.db.models import PrintKind, StayStatus
from app.operators import OperatorInfo
from app.receipts import full_payment_amount
from app.slips import money_text, print_history
from tests.slip_reader import to_png
from tests.ui.artefacts import ARTEFACTS, save_shot
from tests.ui.print_dialogs import answer, pdf_text, picture_likeness, print_to_file
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
from ui.qt import QFont, QMessageBox, Qt

pytestmark = pytest.mark.gui
SAME_PICTURE = 0.6  # a printed page vs its document: 0.75–0.93; vs another document ≈ 0.1 (print_dialogs.py)

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
    workflow_sandbox: SandboxProcess, tmp_path: Path,  # noqa: F811
) -> None:
    """Settle; print both copies (F9, the real print dialog), reprint; a reviewer cancels after
    confirming the amounts (issue 20: one key cancelled), prints the 已撤销 copy; settle again."""
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

    # 打印结算单 (F9): no printer set up and none on the system: said so, nothing logged.
    settlement_id = outcome.settlement_id
    assert page.print_button.isEnabled() and page.print_button.text() == "打印结算单(&P)  F9"
    _activate(qtbot, window)
    qtbot.keyClick(page, Qt.Key.Key_F9)
    qtbot.waitUntil(lambda: not page.error_label.isHidden() and not page.printing, timeout=WAIT_MS)
    assert page.error_label.text().startswith("结算单未打印：未设置打印机，也没有系统默认打印机"), page.error_label.text()
    assert _prints(centre_ctx, settlement_id) == []

    # 选择打印机…: Qt's print dialog; the clerk prints to a PDF file; both copies, logged as 原件.
    printed = tmp_path / "slip.pdf"
    dialog = print_to_file(printed)
    qtbot.mouseClick(page.choose_printer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_printed is not None, timeout=WAIT_MS)
    assert [type(d).__name__ for d in dialog.seen] == ["QPrintDialog"]
    assert _prints(centre_ctx, settlement_id) == [PrintKind.ORIGINAL]
    archived = page.last_printed.issued.archive_path
    assert picture_likeness(printed, archived) > SAME_PICTURE
    text = pdf_text(archived)
    assert text.count("协议机构留存") == 1 and text.count("工伤职工留存") == 1  # both copies
    assert text.count("张伟") == 2
    for amount in (outcome.total, outcome.fund_total, outcome.personal_total):
        assert text.count(money_text(amount)) >= 2, amount
    assert page.print_label.text() == f"已打印结算单原件（两联，PDF 文件 {printed}），已存档。"
    to_png(printed, ARTEFACTS / "discharge" / "slip-printed", dpi=60)

    # F9 again: the 补打 on the printer just chosen, no dialog.
    page.last_printed = None
    _activate(qtbot, window)
    assert page.print_button.isEnabled(), page.error_label.text()
    qtbot.keyClick(page, Qt.Key.Key_F9)
    qtbot.waitUntil(lambda: page.last_printed is not None, timeout=WAIT_MS)
    assert _prints(centre_ctx, settlement_id) == [PrintKind.ORIGINAL, PrintKind.REPRINT]
    assert picture_likeness(printed, page.last_printed.issued.archive_path) > SAME_PICTURE
    assert "补打（第 1 次）" in pdf_text(page.last_printed.issued.archive_path)
    window.resize(1366, 768)
    save_shot(window, "discharge", "discharge-printed-1366x768.png")

    # 预览: the 结算单 page with this settlement previewed.
    qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)
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
    # Asked first, with the amounts; Enter answers 取消 (the default), nothing is cancelled.
    reviewer_window.resize(1366, 768)
    asked = answer(None, shot=ARTEFACTS / "discharge" / "confirm-cancel-1366x768.png")
    qtbot.keyClick(review.cancel_reason, Qt.Key.Key_Return)
    assert len(asked.seen) == 1
    box = asked.seen[0]
    assert isinstance(box, QMessageBox) and box.windowTitle() == "确认撤销结算"
    assert box.defaultButton().text() == "取消"
    assert f"医疗费总额 {money_text(outcome.total)} 元" in box.text()
    assert f"个人支付 {money_text(outcome.personal_total)} 元" in box.text()
    assert "wrong dept" in box.informativeText()
    assert not review.busy and _status(review) is StayStatus.SETTLED
    assert _settlements(workflow_sandbox)["live"] == 1
    answer("撤销结算")
    qtbot.keyClick(review.cancel_reason, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not review.busy and _status(review) in (StayStatus.PENDING_SETTLEMENT,
                                                                      StayStatus.ADMITTED), timeout=CENTRE_WAIT_MS)
    assert review.progress_label.text().startswith("已撤销结算"), review.error_label.text()

    # The 已撤销 copy, from the same page, through the dialog.
    assert review.print_button.text() == "打印已撤销结算单(&P)  F9" and review.print_button.isEnabled()
    cancelled = tmp_path / "cancelled.pdf"
    print_to_file(cancelled)
    qtbot.mouseClick(review.choose_printer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: review.last_printed is not None, timeout=WAIT_MS)
    assert _prints(centre_ctx, settlement_id) == [PrintKind.ORIGINAL, PrintKind.REPRINT, PrintKind.CANCELLED]
    assert picture_likeness(cancelled, review.last_printed.issued.archive_path) > SAME_PICTURE
    assert pdf_text(review.last_printed.issued.archive_path).count("已撤销") >= 2

    # Settled again: a new settlement, the first one stays cancelled.
    qtbot.waitUntil(lambda: review.readiness_label.text().startswith("可以结算"), timeout=WAIT_MS)
    _settle(qtbot, reviewer_window, review)
    again = review.outcome
    assert again is not None, review.error_label.text()
    assert again.settlement_id != outcome.settlement_id
    assert again.total == outcome.total
    assert _settlements(workflow_sandbox) == {"live": 1, "cancelled": 1, "reversed": 0}


def _prints(ctx: CounterContext, settlement_id: int) -> list[PrintKind]:
    with ctx.transaction() as session:
        return [record.kind for record in print_history(session, settlement_id)]


def _stay_total(ctx: CounterContext, stay_id: int) -> Decimal:
    with ctx.transaction() as session:
        return full_payment_amount(session, stay_id)


def _activate(qtbot: QtBot, window: MainWindow) -> None:
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=WAIT_MS)


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


def test_centre_down_full_payment_then_backfill_refunds_nothing_and_settles_nothing(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
    workflow_sandbox: SandboxProcess, tmp_path: Path,  # noqa: F811
) -> None:
    """全额垫付 while the centre is down (confirmed with the amount, its receipt printed), 补登记 when
    it is back: nothing refunded at the window, nothing settled; the worker claims at the insured
    place with the receipt (003 §17, 000 §34)."""
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

    # Asked first, with the amount; 取消 is the default: Enter pays nothing in full.
    total = _stay_total(centre_ctx, stay_id)
    window.resize(1366, 768)
    asked = answer(None, shot=ARTEFACTS / "discharge" / "confirm-full-payment-1366x768.png")
    qtbot.mouseClick(page.full_payment_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(asked.seen) == 1, timeout=WAIT_MS)
    box = asked.seen[0]
    assert isinstance(box, QMessageBox) and box.windowTitle() == "确认全额垫付"
    assert box.defaultButton().text() == "取消"
    assert f"向患者收取医疗费总额 {money_text(total)} 元" in box.text()
    assert "003 §17" in box.informativeText()
    assert "退还基金支付部分" not in box.informativeText() and "不退还任何款项" in box.informativeText()
    assert "回参保地经办机构报销" in box.informativeText()
    assert "退还基金支付部分" not in page.outage_label.text() and "回参保地" in page.outage_label.text()
    assert page.receipt is None and _status(page) is not StayStatus.PENDING_BACKFILL

    answer("全额垫付并打印收据")
    qtbot.mouseClick(page.full_payment_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.receipt is not None, timeout=WAIT_MS)
    assert page.receipt is not None and page.receipt[1] == total
    assert page.personal_amount.text() == f"{money_text(page.receipt[1])} 元"  # collect the whole bill
    qtbot.waitUntil(lambda: _status(page) is StayStatus.PENDING_BACKFILL, timeout=WAIT_MS)
    assert not page.settle_button.isEnabled()
    # The receipt went to print at once; with no printer here that failed, and it says so.
    qtbot.waitUntil(lambda: not page.error_label.isHidden(), timeout=WAIT_MS)
    number = page.receipt[0]
    assert page.error_label.text().startswith(f"全额垫付收据 {number} 已开具，但未打印：未设置打印机")
    assert page.print_button.text() == "打印全额垫付收据(&P)  F9" and page.print_button.isEnabled()
    printed = tmp_path / "receipt.pdf"
    print_to_file(printed)
    qtbot.mouseClick(page.choose_printer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_receipt_pdf is not None, timeout=WAIT_MS)
    document = tmp_path / "receipt-document.pdf"
    document.write_bytes(page.last_receipt_pdf)
    assert picture_likeness(printed, document) > SAME_PICTURE
    text = pdf_text(document)
    assert text.count("工伤保险医疗费用全额垫付收据") == 2 and "工伤职工收执" in text
    assert text.count("张伟") == 2 and text.count(f"人民币 {money_text(total)} 元") == 2 and number in text
    assert "".join(text.split()).count("由参保地经办机构按规定零星报销给付（003§17）") == 2
    # The settlement figures as the slip would show them, for the claim at the insured place (003 §17).
    assert "".join(text.split()).count("按结算单测算：工伤保险基金支付") == 2
    assert "退还工伤保险基金支付部分" not in "".join(text.split())
    assert page.print_label.text() == f"已打印全额垫付收据 {number}（两联，PDF 文件 {printed}）。"
    to_png(printed, ARTEFACTS / "discharge" / "receipt-printed", dpi=60)
    save_shot(window, "discharge", "full-payment-receipt-1366x768.png")

    # 打印费用清单: every line of the stay, for the claim at the insured place, on the same printer.
    assert page.charge_list_button.isEnabled()
    qtbot.mouseClick(page.charge_list_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_charge_list_pdf is not None, timeout=WAIT_MS)
    assert page.last_charge_list_pdf is not None
    listed_document = tmp_path / "charge-list-document.pdf"
    listed_document.write_bytes(page.last_charge_list_pdf)
    assert picture_likeness(printed, listed_document) > SAME_PICTURE  # the chosen printer writes `printed`
    listed_text = pdf_text(listed_document)
    assert "住院费用清单" in listed_text and "张伟" in listed_text and "ZY-UI-DIS-2" in listed_text
    assert listed_text.count("合计") == 1 and money_text(total) in listed_text.split("合计")[1]
    assert page.print_label.text().startswith("已打印住院费用清单（")

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
    assert page.backfill_outcome is not None, page.error_label.text()
    # The big figure is what the worker paid and claims at the insured place; nothing goes back.
    assert page.result_caption.text() == "已全额垫付（凭收据回参保地报销，窗口不退还）："
    assert page.personal_amount.text() == f"{money_text(total)} 元"
    assert page.fund_amount.text() == "0.00 元"
    said = page.settlement_label.text() + page.progress_label.text()
    assert "不退还任何款项" in said and "回参保地经办机构申请报销（003 §17）" in said
    assert "退还患者" not in said and "退还基金支付部分" not in said
    assert not page.backfill_button.isEnabled() and not page.settle_button.isEnabled()
    qtbot.waitUntil(lambda: page.readiness_label.text().startswith("已全额垫付并已补登记"), timeout=WAIT_MS)
    assert "不再联网结算" in page.readiness_label.text()
    assert _status(page) is StayStatus.PENDING_BACKFILL  # paid in full for good: never settled directly
    assert _settlements(workflow_sandbox)["live"] == 0  # the fund pays the hospital nothing (003 §17)
    save_shot(window, "discharge", "backfilled-1366x768.png")


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
