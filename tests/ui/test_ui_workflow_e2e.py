"""The whole counter workflow in the window, end to end: the real widgets, the sandbox centre over
HTTP, and the 社保卡 through pcscd + vsmartcard's vpcd reader (issue 6).

郑军's filing names 广州, not 湛江: refused at admission with the reasons and the next steps
(000 §11, 003 §5). 张伟 is admitted (就医登记号), his HIS export (GBK CSV) is refused whole for a bad
row and then imported fixed, a line is reclassified with a reason (a cashier's override waits for
a reviewer, 003 §15), the stay is settled (upload, second check, settlement), the slip printed
through Qt's real print dialog, the settlement cancelled by a reviewer (confirmed with the amounts)
and settled again. 刘洋's discharge meets a centre that
refuses connections (the sandbox's fault injection): 全额垫付 (confirmed, its receipt printed), 待补登记, and when the link is back
the 住院一览 page offers 补登记, which reports the stay as paid in full and settles nothing (003 §17).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.db.models import Stay, StayStatus
from app.slips import money_text
from app.demo.his_samples import csv_bytes, sample_lines
from devices.backends import BackendChoice
from devices.monitor import read_card
from devices.pcsc import PcscBackend
from devices.virtual_card import CardPerson
from tests.centre.client_fixtures import SandboxProcess, centre_today
from tests.devices.conftest import InsertCard, pcscd, vpcd_card  # noqa: F401 - fixtures
from tests.devices.people import ZHANG_WEI
from tests.ui.print_dialogs import answer, pdf_text, picture_likeness, print_to_file
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    ZHENG_JUN,
    WindowFactory,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from ui.card_reader import CardReaderService
from ui.main_window import MainWindow
from ui.pages.admission_page import AdmissionPage
from ui.pages.charges_dialogs import BadRowsDialog, OverrideDialog
from ui.pages.discharge_page import DischargePage
from ui.pages.workflow_widgets import to_qdate
from ui.qt import QApplication, QInputMethodEvent, QPushButton, Qt, QWidget

pytestmark = pytest.mark.gui

LIU_YANG = CardPerson(
    name="刘洋", sex="男", social_security_number="440802198805120638", birth_date=dt.date(1988, 5, 12),
    region_code="440800", card_number="K44080011", generation=3, birthplace="440802",
    issue_date=dt.date(2024, 5, 12), expiry_date=dt.date(2034, 5, 12),
)
TypeText = Callable[[QWidget, str], None]


def _commit_text(widget: QWidget, text: str) -> None:
    """Chinese arrives through the input method (QTest types ASCII only)."""
    event = QInputMethodEvent("", [])
    event.setCommitString(text)
    QApplication.sendEvent(widget, event)


def _type_diagnosis(qtbot: QtBot, page: AdmissionPage, code: str, name: str) -> None:
    """增加诊断: the code cell opens for typing; Tab to the name; Enter commits."""
    qtbot.mouseClick(page.add_diagnosis_button, Qt.MouseButton.LeftButton)
    editor = QApplication.focusWidget()
    assert editor is not None
    qtbot.keyClicks(editor, code)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    row = page.diagnoses.rowCount() - 1
    name_item = page.diagnoses.item(row, 1)
    assert name_item is not None
    page.diagnoses.editItem(name_item)
    editor = QApplication.focusWidget()
    assert editor is not None
    _commit_text(editor, name)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.diagnosis_rows()[-1:] == ((code, name),), timeout=WAIT_MS)


def _admission_form(qtbot: QtBot, page: AdmissionPage, type_text: TypeText, admission_no: str,
                    admitted: dt.date) -> None:
    qtbot.keyClicks(page.admission_no, admission_no)
    type_text(page.dept, "骨科一病区")
    qtbot.keyClicks(page.bed, "12")
    page.admitted_on.setDate(to_qdate(admitted))
    _type_diagnosis(qtbot, page, "S82.201", "胫骨干骨折")
    _type_diagnosis(qtbot, page, "I10", "原发性高血压")


def _his_files(folder: Path, prefix: str, start: dt.date) -> tuple[Path, Path]:
    """The HIS export as GBK CSV: one copy with a bad quantity in file row 3, and the fixed one."""
    lines = sample_lines(12, start=start, days=2, seed=7, unmatched=0, refunds=0, line_id_prefix=prefix)
    good = csv_bytes(lines, encoding="gbk")
    rows = good.decode("gbk").split("\r\n")
    cells = rows[2].split(",")
    cells[4] = "两盒"  # 数量 is not a number
    rows[2] = ",".join(cells)
    bad_path = folder / f"{prefix}-住院费用-有误.csv"
    bad_path.write_bytes("\r\n".join(rows).encode("gbk"))
    good_path = folder / f"{prefix}-住院费用.csv"
    good_path.write_bytes(good)
    return bad_path, good_path


def _click(qtbot: QtBot, button: QPushButton) -> None:
    assert button.isEnabled(), f"{button.objectName()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _stay_status(ctx: CounterContext, stay_id: int) -> StayStatus:
    with ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None
        return stay.status


def _live_settlements(sandbox: SandboxProcess) -> int:
    return int(sandbox.summary()["settlements"]["live"])


def _import_his(qtbot: QtBot, window: MainWindow, stay_id: int, folder: Path, prefix: str, start: dt.date) -> None:
    charges = window.charges_page
    window.show_page(window.page_titles.index("费用与伤病分离"))
    charges.open_stay(stay_id)
    qtbot.waitUntil(lambda: charges.stay_id == stay_id and not charges.busy, timeout=WAIT_MS)
    bad, good = _his_files(folder, prefix, start)
    charges.choose_file = lambda: str(bad)  # the file dialog's answer
    _click(qtbot, charges.import_button)
    qtbot.waitUntil(lambda: isinstance(charges.last_dialog, BadRowsDialog), timeout=WAIT_MS)
    dialog = charges.last_dialog
    assert [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())] == ["3"]
    dialog.accept()
    with window_ctx(window).transaction() as session:
        assert not session.get(Stay, stay_id).charge_lines  # type: ignore[union-attr]  # nothing half-imported
    charges.choose_file = lambda: str(good)
    _click(qtbot, charges.import_button)
    qtbot.waitUntil(lambda: "已导入" in charges.status_label.text() and not charges.busy, timeout=WAIT_MS)
    assert "新增 12 条" in charges.status_label.text()


def window_ctx(window: MainWindow) -> CounterContext:
    return window._ctx  # noqa: SLF001 - the test reads what the window wrote


def _activate(qtbot: QtBot, window: MainWindow) -> None:
    """Back to this window (another window or a dialog had the focus): its shortcuts work again."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT_MS)


def _discharge(qtbot: QtBot, window: MainWindow, stay_id: int) -> DischargePage:
    page = window.discharge_page
    _activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page_title() == "出院结算"
    page.reload(select=stay_id)
    qtbot.waitUntil(lambda: page.picker.current_stay_id() == stay_id, timeout=WAIT_MS)
    return page


def _settle(qtbot: QtBot, window: MainWindow, page: DischargePage) -> None:
    qtbot.waitUntil(lambda: page.settle_button.isEnabled(), timeout=WAIT_MS)
    _click(qtbot, page.settle_button)
    assert window.settlement_in_progress()  # pulling the card now makes the 读卡 page warn
    qtbot.waitUntil(lambda: not page.busy, timeout=CENTRE_WAIT_MS)
    assert not window.settlement_in_progress()


def test_the_whole_workflow_in_the_window(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, workflow_sandbox: SandboxProcess,  # noqa: F811
    pcscd: str, vpcd_card: InsertCard, type_text: TypeText, tmp_path: Path,  # noqa: F811
) -> None:
    window = make_window(centre_ctx, "cashier", CardReaderService(BackendChoice(PcscBackend, read_card, pcscd, "pcsc")))
    admission = window.admission_page
    admitted = centre_today() - dt.timedelta(days=3)

    # --- 郑军: refused at admission (his filing is for 广州), with reasons, sources and next steps
    card = vpcd_card(ZHENG_JUN)
    qtbot.waitUntil(lambda: window.card_page.identity is not None, timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page() is admission
    qtbot.waitUntil(lambda: admission.person is not None and admission.person.name == "郑军", timeout=CENTRE_WAIT_MS)
    _admission_form(qtbot, admission, type_text, "ZY-E2E-0", admitted)
    qtbot.waitUntil(lambda: admission.verdict.check is not None, timeout=WAIT_MS)
    assert admission.verdict.headline.text().startswith("不予联网结算")
    _click(qtbot, admission.register_button)
    qtbot.waitUntil(lambda: admission.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert admission.outcome is not None and admission.outcome.stay_id is None
    assert "【不通过】" in admission.verdict.reasons.text() and "依据：" in admission.verdict.reasons.text()
    # Change the filing's place online on the spot, as Guangdong words it (003 §6, §12; issue 23 §6).
    assert "粤省事" in admission.verdict.next_steps.text() and "003 §6" in admission.verdict.next_steps.text()
    card.remove()
    qtbot.waitUntil(lambda: admission.card_identity is None, timeout=WAIT_MS)

    # --- 张伟: admitted, 就医登记号 shown
    card = vpcd_card(ZHANG_WEI)
    qtbot.waitUntil(lambda: admission.person is not None and admission.person.name == "张伟", timeout=CENTRE_WAIT_MS)
    assert admission.admission_no.text() == ""  # another worker: a fresh form
    _admission_form(qtbot, admission, type_text, "ZY-E2E-1", admitted)
    assert admission.diagnoses.item(0, 2).text().startswith("工伤")
    assert admission.diagnoses.item(1, 2).text() == "非工伤"
    qtbot.keyClick(admission.bed, Qt.Key.Key_Return)  # Enter: nothing missing, so 登记
    qtbot.waitUntil(lambda: admission.outcome is not None, timeout=CENTRE_WAIT_MS)
    outcome = admission.outcome
    assert outcome is not None and outcome.stay_id is not None and outcome.registration_no
    assert outcome.registration_no in admission.registration_label.text()
    zhang = outcome.stay_id

    # --- charges: a GBK HIS export with a bad row is refused whole; the fixed one imports
    _import_his(qtbot, window, zhang, tmp_path, "ZW", admitted)

    # --- 伤病分离: the cashier reclassifies a line with a reason; it waits for a reviewer
    charges = window.charges_page
    charges.table.selectRow(0)
    line_id = charges.selected_line_ids()[0]
    _click(qtbot, charges.override_button)
    dialog = charges.last_dialog
    assert isinstance(dialog, OverrideDialog)
    was_injury = charges.selected_lines()[0].injury
    (dialog.non_injury_radio if was_injury else dialog.injury_radio).setChecked(True)  # the other way
    type_text(dialog.reason_edit, "医嘱注明与本次工伤相关")
    accept = dialog.findChild(QPushButton, "acceptButton")
    assert accept is not None
    _click(qtbot, accept)
    qtbot.waitUntil(lambda: "待审核员审核" in charges.status_label.text() and not charges.busy, timeout=WAIT_MS)

    discharge = _discharge(qtbot, window, zhang)
    qtbot.waitUntil(lambda: "审核员批准" in discharge.readiness_label.text(), timeout=WAIT_MS)
    assert not discharge.settle_button.isEnabled()  # why is said on the page

    reviewer = make_window(centre_ctx, "reviewer")
    review_charges = reviewer.charges_page
    reviewer.show_page(reviewer.page_titles.index("费用与伤病分离"))
    review_charges.open_stay(zhang)
    qtbot.waitUntil(lambda: review_charges.stay_id == zhang and review_charges.workspace is not None
                    and not review_charges.busy, timeout=WAIT_MS)
    row = next(r for r in range(review_charges.model.rowCount()) if review_charges.model.line(r).line_id == line_id)
    review_charges.table.selectRow(row)
    _click(qtbot, review_charges.approve_button)
    qtbot.waitUntil(lambda: "已审核通过 1 条改判" in review_charges.status_label.text(), timeout=WAIT_MS)

    # --- discharge: upload, second check, settlement; the amount to collect, large
    discharge.reload(select=zhang)
    qtbot.waitUntil(lambda: discharge.readiness_label.text().startswith("可以结算"), timeout=WAIT_MS)
    _settle(qtbot, window, discharge)
    settled = discharge.outcome
    assert settled is not None, discharge.error_label.text()
    assert discharge.verdict.headline.text().startswith("准予联网结算")
    assert discharge.personal_amount.text() == f"{money_text(settled.personal_total)} 元"
    assert settled.fund_total + settled.personal_total == settled.total
    assert _live_settlements(workflow_sandbox) == 1

    # --- 打印结算单: both copies through Qt's print dialog (to a PDF file here), logged and archived
    qtbot.waitUntil(lambda: discharge.choose_printer_button.isEnabled(), timeout=WAIT_MS)
    print_to_file(tmp_path / "slip.pdf")
    _click(qtbot, discharge.choose_printer_button)
    qtbot.waitUntil(lambda: discharge.last_printed is not None, timeout=WAIT_MS)
    assert discharge.last_printed is not None
    assert discharge.last_printed.data.settlement_id == settled.settlement_id
    assert picture_likeness(tmp_path / "slip.pdf", discharge.last_printed.issued.archive_path) > 0.6
    assert pdf_text(discharge.last_printed.issued.archive_path).count("张伟") == 2  # both copies

    # --- a reviewer cancels (with a reason); the stay is settled again
    assert not discharge.cancel_button.isEnabled()  # not the cashier's to do
    review = _discharge(qtbot, reviewer, zhang)
    qtbot.waitUntil(lambda: review.cancel_button.isEnabled(), timeout=WAIT_MS)
    type_text(review.cancel_reason, "出院日期录入有误")
    answer("撤销结算")  # asked first, with the amounts
    qtbot.keyClick(review.cancel_reason, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not review.busy and review.progress_label.text().startswith("已撤销结算"),
                    timeout=CENTRE_WAIT_MS)
    assert _stay_status(centre_ctx, zhang) is StayStatus.PENDING_SETTLEMENT
    discharge = _discharge(qtbot, window, zhang)
    _settle(qtbot, window, discharge)
    again = discharge.outcome
    assert again is not None and again.settlement_id != settled.settlement_id, discharge.error_label.text()
    assert workflow_sandbox.summary()["settlements"] == {"live": 1, "cancelled": 1, "reversed": 0}
    card.remove()
    qtbot.waitUntil(lambda: admission.card_identity is None, timeout=WAIT_MS)

    # --- 刘洋: the centre goes down at discharge → 全额垫付 → 待补登记 → link back → 补登记, once
    card = vpcd_card(LIU_YANG)
    _activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: admission.person is not None and admission.person.name == "刘洋", timeout=CENTRE_WAIT_MS)
    _admission_form(qtbot, admission, type_text, "ZY-E2E-2", admitted)
    qtbot.keyClick(admission.bed, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: admission.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert admission.outcome is not None and admission.outcome.stay_id is not None, admission.form_error.text()
    liu = admission.outcome.stay_id
    _import_his(qtbot, window, liu, tmp_path, "LY", admitted)

    discharge = _discharge(qtbot, window, liu)
    qtbot.waitUntil(lambda: discharge.readiness_label.text().startswith("可以结算"), timeout=WAIT_MS)
    workflow_sandbox.arm("refuse_connections", seconds=6)
    time.sleep(0.3)
    _settle(qtbot, window, discharge)
    assert discharge.outcome is None
    assert discharge.error_label.text().startswith("结算中心无法连接"), discharge.error_label.text()
    answer("全额垫付并打印收据")  # asked first, with the amount
    _click(qtbot, discharge.full_payment_button)
    qtbot.waitUntil(lambda: discharge.receipt is not None, timeout=WAIT_MS)
    # Printed at once on the printer chosen for the slip: two copies with the amount paid in full.
    qtbot.waitUntil(lambda: discharge.last_receipt_pdf is not None, timeout=WAIT_MS)
    assert discharge.print_label.text().startswith(f"已打印全额垫付收据 {discharge.receipt[0]}")
    assert discharge.receipt is not None
    assert discharge.personal_amount.text() == f"{money_text(discharge.receipt[1])} 元"  # the whole bill
    assert _stay_status(centre_ctx, liu) is StayStatus.PENDING_BACKFILL

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{workflow_sandbox.url}/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    window.status.check_centre()  # the periodic probe, now: the link is back
    stays = window.stays_page
    _activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page() is stays
    qtbot.waitUntil(lambda: stays.backfill_button.isVisible() and stays.awaiting_backfill == [liu], timeout=WAIT_MS)
    assert stays.backfill_label.text().startswith("结算中心已恢复连接：1 次住院")
    _click(qtbot, stays.backfill_button)
    qtbot.waitUntil(lambda: len(stays.last_backfill) == 1 and not stays.backfill_button.isVisible(),
                    timeout=CENTRE_WAIT_MS)
    assert stays.last_backfill[0].stay_id == liu
    # 补登记 reports 刘洋's stay as paid in full: never settled directly, nothing refunded (003 §17).
    assert _stay_status(centre_ctx, liu) is StayStatus.PENDING_BACKFILL
    assert stays.last_backfill[0].refund_to_worker == 0
    assert _live_settlements(workflow_sandbox) == 1  # 张伟's second settlement only
    with centre_ctx.transaction() as session:
        statuses = dict(session.execute(select(Stay.admission_no, Stay.status)
                                        .where(Stay.admission_no.in_(["ZY-E2E-0", "ZY-E2E-1", "ZY-E2E-2"]))).all())
    assert statuses == {"ZY-E2E-1": StayStatus.SETTLED, "ZY-E2E-2": StayStatus.PENDING_BACKFILL}  # 郑军: no stay
