"""更正 / 撤销入院登记 in the real main window (issue 20 §3): the README demo's mistake, then its fix.

A cashier admits 张伟 leaving the 入院日期 at today (what the form offers), while the demo HIS export
(`resources/demo/his/张伟-住院费用.csv`) starts on 2026-11-20: the import is refused ("入院日期是否录错？")
and, before this, nothing in the window could correct the date. Now 更正登记 on the 入院登记 page asks
for the right date and the reason, a reviewer approves in place (审核员授权, no logout), the centre
registers the corrected admission (new 就医登记号), the file imports and the stay settles.
撤销登记 (the wrong person) is refused with what to do once the stay was settled.

Real widgets and dialogs, the sandbox centre over HTTP, the mock card reader (nothing here reads a
card). Screenshots at 1366×768 go to test-artifacts/admission-correction/.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.business_date import business_today
from app.bootstrap import CounterContext
from app.db.models import AuditEvent, Stay, StayStatus
from app.operators import OperatorInfo
from tests.centre.client_fixtures import SandboxProcess, centre_today
from tests.ui.artefacts import save_shot
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    WindowFactory,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from ui.main_window import MainWindow
from ui.pages.admission_dialogs import RegistrationChangeDialog
from ui.pages.admission_page import AdmissionPage
from ui.pages.charges_dialogs import BadRowsDialog
from ui.pages.workflow_widgets import to_qdate
from ui.qt import QApplication, QPushButton, Qt, QWidget, is_valid
from ui.reviewer_authorisation import ReviewerAuthorisationDialog

pytestmark = pytest.mark.gui

TypeText = Callable[[QWidget, str], None]
DEMO_HIS = Path(__file__).resolve().parents[2] / "resources" / "demo" / "his" / "张伟-住院费用.csv"
HIS_FIRST_DAY = dt.date(2026, 11, 20)  # the demo export's first charge (README)
SHOTS = "admission-correction"


def _click(qtbot: QtBot, button: QPushButton) -> None:
    assert button.isEnabled(), f"{button.objectName()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _modal(qtbot: QtBot, kind: type) -> QWidget:
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), kind), timeout=WAIT_MS)
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, kind)
    return dialog


def _closed(dialog: QWidget) -> bool:
    return not is_valid(dialog) or not dialog.isVisible()


def _admit_with_todays_date(qtbot: QtBot, window: MainWindow, type_text: TypeText) -> AdmissionPage:
    page = window.admission_page
    window.show_page(window.page_titles.index("入院登记"))
    qtbot.keyClicks(page.ecard_field, "ECARD-ZW-7F3A9C21")  # 张伟's e-card
    qtbot.keyClick(page.ecard_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.person is not None and page.admission_no.isEnabled(), timeout=CENTRE_WAIT_MS)
    qtbot.keyClicks(page.admission_no, "ZY-DEMO-1")
    type_text(page.dept, "骨科一病区")
    page.add_diagnosis("S82.201", "胫骨干骨折")
    assert page.admitted_on.date() == to_qdate(business_today())  # the mistake: the date left as offered
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    _click(qtbot, page.register_button)
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.outcome.registration_no, page.form_error.text()
    return page


def _import_demo_file(qtbot: QtBot, window: MainWindow, stay_id: int) -> None:
    charges = window.charges_page
    window.show_page(window.page_titles.index("费用与伤病分离"))
    charges.open_stay(stay_id)
    qtbot.waitUntil(lambda: charges.stay_id == stay_id and not charges.busy, timeout=WAIT_MS)
    charges.choose_file = lambda: str(DEMO_HIS)  # the file dialog's answer
    charges.last_dialog = None
    _click(qtbot, charges.import_button)
    qtbot.waitUntil(lambda: not charges.busy and (charges.last_dialog is not None
                                                  or "已导入" in charges.status_label.text()), timeout=WAIT_MS)


def _stay(ctx: CounterContext, stay_id: int) -> Stay:
    with ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None
        session.expunge(stay)
        return stay


def _lines(ctx: CounterContext, stay_id: int) -> int:
    from sqlalchemy import func

    from app.db.models import ChargeLine

    with ctx.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(ChargeLine).where(ChargeLine.stay_id == stay_id))
                   or 0)


def _self_pay_informed(ctx: CounterContext, cashier: OperatorInfo, stay_id: int, his_code: str) -> None:
    """The export's 院内制剂 is outside the catalogue: confirmed 自费 and the patient told (`003 §27`,
    `003 §15`) — the 费用与伤病分离 page's own steps, tested there; done here through its services."""
    from app.db.models import ChargeLine
    from app.workflow.charges import mark_informed
    from app.workflow.code_map import set_mapping

    with ctx.transaction() as session:
        set_mapping(session, cashier, ctx.counter_name, his_code, None, "院内制剂，目录外")
        ids = list(session.scalars(select(ChargeLine.id).where(ChargeLine.stay_id == stay_id,
                                                               ChargeLine.his_code == his_code)))
        mark_informed(session, cashier, ctx.counter_name, ids, True)


def test_the_readme_demo_mistake_is_corrected_in_the_window_and_the_stay_settles(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, workflow_sandbox: SandboxProcess,  # noqa: F811
    type_text: TypeText, operator_of: Callable[[CounterContext, str], OperatorInfo],
) -> None:
    if centre_today() <= HIS_FIRST_DAY:
        pytest.skip("the demo export's dates are not in the past on this machine's date")
    window = make_window(centre_ctx, "cashier")
    window.resize(1366, 768)  # the commonest counter screen
    page = _admit_with_todays_date(qtbot, window, type_text)
    stay_id = page.outcome.stay_id  # type: ignore[union-attr]
    assert stay_id is not None
    old_number = page.outcome.registration_no  # type: ignore[union-attr]

    # --- the demo file is refused: its charges start before the admission date
    _import_demo_file(qtbot, window, stay_id)
    refused = window.charges_page.last_dialog
    assert isinstance(refused, BadRowsDialog)
    reasons = [refused.table.item(r, refused.table.columnCount() - 1).text() for r in range(refused.table.rowCount())]
    assert any("早于入院日期" in text and "入院日期是否录错" in text and "更正登记" in text for text in reasons)
    refused.accept()
    assert _lines(centre_ctx, stay_id) == 0  # nothing imported

    # --- 更正登记 on the 入院登记 page: the right date and the reason
    window.show_page(window.page_titles.index("入院登记"))
    qtbot.waitUntil(lambda: page.correct_button.isEnabled(), timeout=WAIT_MS)
    assert "ZY-DEMO-1" in page.registration_stay_label.text() and old_number in page.registration_stay_label.text()
    assert page.correct_button.text() == "更正登记(&O)…" and page.cancel_registration_button.text() == "撤销登记(&Z)…"
    label = page.registration_stay_label  # both lines shown once laid out (not clipped at 1366×768)
    qtbot.waitUntil(lambda: label.height() >= label.sizeHint().height(), timeout=WAIT_MS)
    assert page.correct_button.visibleRegion().boundingRect().size() == page.correct_button.size()  # no scrolling
    save_shot(window, SHOTS, "1-admission-page-1366x768.png")
    _click(qtbot, page.correct_button)
    dialog = _modal(qtbot, RegistrationChangeDialog)
    assert isinstance(dialog, RegistrationChangeDialog) and dialog.windowTitle() == "更正入院登记"
    assert dialog.date_edit is not None and dialog.date_edit.date() == to_qdate(business_today())
    assert dialog.diagnosis_rows() == (("S82.201", "胫骨干骨折"),)
    _click(qtbot, dialog.accept_button)  # no reason yet
    assert dialog.isVisible() and "原因" in dialog.error.text()
    dialog.date_edit.setDate(to_qdate(HIS_FIRST_DAY))
    dialog.add_diagnosis("I10", "原发性高血压")  # forgotten at admission: the export's ZW0024 follows it
    type_text(dialog.reason_edit, "入院日期录错：HIS 入院日期为 2026-11-20")
    save_shot(dialog, SHOTS, "2-correction-dialog.png")
    _click(qtbot, dialog.accept_button)

    # --- the reviewer approves at the cashier's window: the change and the reason are shown
    authorisation = _modal(qtbot, ReviewerAuthorisationDialog)
    assert isinstance(authorisation, ReviewerAuthorisationDialog)
    shown = [label.text() for label in authorisation.summary_labels]
    assert f"{business_today()} → {HIS_FIRST_DAY}" in shown
    assert "S82.201 胫骨干骨折 → S82.201 胫骨干骨折；I10 原发性高血压" in shown
    assert "入院日期录错：HIS 入院日期为 2026-11-20" in shown
    save_shot(authorisation, SHOTS, "3-reviewer-authorisation.png")
    qtbot.keyClicks(authorisation.login_edit, "cashier")  # a cashier's own password does not approve
    qtbot.keyClicks(authorisation.password_edit, "demo1234")
    _click(qtbot, authorisation.authorise_button)
    qtbot.waitUntil(lambda: not authorisation.busy and "无权" in authorisation.error.text(), timeout=WAIT_MS)
    authorisation.login_edit.clear()
    qtbot.keyClicks(authorisation.login_edit, "reviewer")
    qtbot.keyClicks(authorisation.password_edit, "demo1234")
    _click(qtbot, authorisation.authorise_button)
    qtbot.waitUntil(lambda: _closed(authorisation), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "已更正入院登记" in page.correction_status.text()
                    or page.correction_message.isVisible(), timeout=CENTRE_WAIT_MS)
    assert "已更正入院登记" in page.correction_status.text(), page.correction_message.text()
    stay = _stay(centre_ctx, stay_id)
    assert stay.admitted_on == HIS_FIRST_DAY and stay.registration_no and stay.registration_no != old_number
    reviewer = operator_of(centre_ctx, "reviewer")
    assert stay.registration_no in page.correction_status.text() and old_number in page.correction_status.text()
    assert reviewer.display_name in page.correction_status.text()
    assert page.registration_label.text() == f"已登记　就医登记号：{stay.registration_no}"
    qtbot.waitUntil(lambda: HIS_FIRST_DAY.isoformat() in page.registration_stay_label.text(), timeout=WAIT_MS)
    # The registered form shows the registration as corrected.
    assert page.admitted_on.date() == to_qdate(HIS_FIRST_DAY)
    assert page.diagnosis_rows() == (("S82.201", "胫骨干骨折"), ("I10", "原发性高血压"))
    save_shot(window, SHOTS, "4-admission-page-corrected-1366x768.png")
    with centre_ctx.transaction() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "registration_corrected")).one()
        assert event.operator_id == reviewer.id and event.detail["at_session_of"] == "cashier"
        assert event.detail["reason"] == "入院日期录错：HIS 入院日期为 2026-11-20"
    assert workflow_sandbox.summary()["registrations"]["cancelled"] == 1

    # --- the same file imports now, and the stay settles
    _import_demo_file(qtbot, window, stay_id)
    charges = window.charges_page
    assert charges.last_dialog is None, charges.error.text()
    assert "已导入" in charges.status_label.text() and _lines(centre_ctx, stay_id) > 0
    _self_pay_informed(centre_ctx, operator_of(centre_ctx, "cashier"), stay_id, "HZ-9001")
    discharge = window.discharge_page
    window.show_page(window.page_titles.index("出院结算"))
    discharge.reload(select=stay_id)
    qtbot.waitUntil(lambda: discharge.picker.current_stay_id() == stay_id, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: discharge.settle_button.isEnabled(), timeout=CENTRE_WAIT_MS)
    _click(qtbot, discharge.settle_button)
    qtbot.waitUntil(lambda: not discharge.busy, timeout=CENTRE_WAIT_MS)
    assert discharge.outcome is not None, discharge.error_label.text()
    assert _stay(centre_ctx, stay_id).status is StayStatus.SETTLED
    assert workflow_sandbox.summary()["settlements"]["live"] == 1

    # --- once settled, 撤销登记 / 更正登记 are refused, and the page says what to do
    window.show_page(window.page_titles.index("入院登记"))
    page.current_patient.refresh_stay()
    qtbot.waitUntil(lambda: page.registration is None, timeout=WAIT_MS)  # no open stay any more
    assert not page.correct_button.isEnabled() and not page.cancel_registration_button.isEnabled()
    assert "须先由审核员撤销结算" in page.registration_stay_label.text()
    save_shot(window, SHOTS, "8-admission-page-settled-1366x768.png")


def _authorise_as_reviewer(qtbot: QtBot) -> list[str]:
    """The reviewer signs in at the cashier's window; returns what the dialog showed them."""
    authorisation = _modal(qtbot, ReviewerAuthorisationDialog)
    assert isinstance(authorisation, ReviewerAuthorisationDialog)
    shown = [label.text() for label in authorisation.summary_labels]
    qtbot.keyClicks(authorisation.login_edit, "reviewer")
    qtbot.keyClicks(authorisation.password_edit, "demo1234")
    _click(qtbot, authorisation.authorise_button)
    qtbot.waitUntil(lambda: _closed(authorisation), timeout=WAIT_MS)
    return shown


def test_the_wrong_person_is_cancelled_in_the_window_and_the_right_one_registered(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, workflow_sandbox: SandboxProcess,  # noqa: F811
    type_text: TypeText,
) -> None:
    """张伟 registered under 周强's 住院号: 撤销登记 (a reviewer approves), then 周强 with that 住院号."""
    window = make_window(centre_ctx, "cashier")
    window.resize(1366, 768)
    page = _admit_with_todays_date(qtbot, window, type_text)
    wrong_stay = page.outcome.stay_id  # type: ignore[union-attr]
    assert wrong_stay is not None
    qtbot.waitUntil(lambda: page.cancel_registration_button.isEnabled(), timeout=WAIT_MS)
    _click(qtbot, page.cancel_registration_button)
    dialog = _modal(qtbot, RegistrationChangeDialog)
    assert isinstance(dialog, RegistrationChangeDialog) and dialog.windowTitle() == "撤销入院登记"
    assert dialog.date_edit is None  # nothing to change: only the reason
    type_text(dialog.reason_edit, "登记错人：住院号 ZY-DEMO-1 为周强")
    save_shot(dialog, SHOTS, "6-cancel-dialog.png")
    _click(qtbot, dialog.accept_button)
    shown = _authorise_as_reviewer(qtbot)
    assert any("撤销入院登记" in text for text in shown) and "登记错人：住院号 ZY-DEMO-1 为周强" in shown
    qtbot.waitUntil(lambda: "已撤销" in page.correction_status.text() or page.correction_message.isVisible(),
                    timeout=CENTRE_WAIT_MS)
    assert "入院登记已撤销" in page.correction_status.text(), page.correction_message.text()
    assert "同一住院号重新登记" in page.correction_status.text()
    save_shot(window, SHOTS, "7-admission-page-cancelled-1366x768.png")
    assert _stay(centre_ctx, wrong_stay).status is StayStatus.CANCELLED
    assert workflow_sandbox.summary()["registrations"] == {"open": 0, "settled": 0, "cancelled": 1, "reversed": 0, "paid_in_full": 0}

    # 周强 (his filing: today-40 … today-5) takes the 住院号.
    qtbot.keyClicks(page.ecard_field, "ECARD-ZQ-3D6F0B77")
    qtbot.keyClick(page.ecard_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.person is not None and page.person.name == "周强" and page.admission_no.isEnabled(),
                    timeout=CENTRE_WAIT_MS)
    assert page.correction_status.isHidden()  # what was said was about 张伟
    qtbot.keyClicks(page.admission_no, "ZY-DEMO-1")
    type_text(page.dept, "骨科一病区")
    page.admitted_on.setDate(to_qdate(centre_today() - dt.timedelta(days=10)))
    page.add_diagnosis("S62.300", "掌骨骨折")
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    _click(qtbot, page.register_button)
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.outcome.registration_no, page.form_error.text()
    assert page.outcome.stay_id == wrong_stay  # the 住院号's row, now 周强's
    assert workflow_sandbox.summary()["registrations"] == {"open": 1, "settled": 0, "cancelled": 1, "reversed": 0, "paid_in_full": 0}
