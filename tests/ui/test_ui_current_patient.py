"""One current patient in the window (issue 20, item 2): the real main window, the real 入院登记 page
and the real sandbox centre, the mock reader for the cards.

The two sequences of the issue could register the wrong person: 王秀兰 read, then 陈敏's card (the
centre refuses its expired card, 2002) left 王秀兰 on the form with 登记 enabled; so did 周强's
e-card followed by an unknown token. A failed or different lookup now forgets the previous person
at once, and 登记 re-checks that the form's person is the one just looked up. The pages follow the
person: a successful lookup puts the worker's open stay on 出院结算 and 费用与伤病分离.

Screenshots of the admission page at 1366×768 go to test-artifacts/current-patient/.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.business_date import business_today
from ui.pages.workflow_widgets import to_qdate
from app.bootstrap import CounterContext
from app.db.models import Stay, Worker
from app.operators import OperatorInfo
from devices.mock import MockBackend
from devices.virtual_card import CardPerson, VirtualCard
from tests.centre.client_fixtures import SandboxProcess, centre_today
from tests.devices.people import ZHANG_WEI
from tests.ui.artefacts import save_shot
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    WindowFactory,
    admit_through_service,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from ui.main_window import MainWindow
from ui.pages.admission_page import AdmissionPage
from ui.qt import QLineEdit, Qt, QWidget

pytestmark = pytest.mark.gui

TypeText = Callable[[QWidget, str], None]
CARDS = Path(__file__).resolve().parents[2] / "resources" / "demo" / "cards"
SHOTS = "current-patient"

WANG_XIULAN_SSN = "220102197801092349"
ZHOU_QIANG_SSN = "440604197906230278"


def _small_screen(window: MainWindow) -> None:
    window.resize(1366, 768)  # the commonest counter screen


def _scan(qtbot: QtBot, field: QLineEdit, token: str) -> None:
    qtbot.keyClicks(field, token)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def _fill(qtbot: QtBot, page: AdmissionPage, type_text: TypeText, admission_no: str) -> None:
    qtbot.keyClicks(page.admission_no, admission_no)
    type_text(page.dept, "骨科一病区")
    page.add_diagnosis("S32.000", "腰椎骨折")


def _stays_of(ctx: CounterContext, ssn: str) -> list[str]:
    with ctx.transaction() as session:
        return list(session.scalars(select(Stay.admission_no).join(Worker, Worker.id == Stay.worker_id)
                                    .where(Worker.social_security_number == ssn)))


def _try_to_register(qtbot: QtBot, page: AdmissionPage, type_text: TypeText) -> None:
    """What a clerk does after the refusal: fill the form again (if it lets them) and press 登记."""
    if page.admission_no.isEnabled() and not page.admission_no.text():
        _fill(qtbot, page, type_text, "ZY-WRONG-2")
    qtbot.mouseClick(page.register_button, Qt.MouseButton.LeftButton)
    qtbot.wait(300)
    qtbot.waitUntil(lambda: not page.registration_label.text().startswith("正在"), timeout=CENTRE_WAIT_MS)


def _lookup_done(page: AdmissionPage) -> bool:
    """The centre answered (here: refused) the lookup just started."""
    return not page.lookup_message.isHidden() and not page.person_label.text().startswith("正在")


def _assert_nobody_on_the_form(page: AdmissionPage) -> None:
    assert page.person is None and page.identification is None
    assert page.verdict.check is None and page.verdict.headline.text() == "尚未核验"
    assert not page.register_button.isEnabled()
    assert page.admission_no.text() == "" and page.dept.text() == "" and page.diagnoses.rowCount() == 0
    assert page.admitted_on.date() == to_qdate(business_today()) and not page.emergency.isChecked()
    assert not page.admission_no.isEnabled()
    assert page.recognitions_label.text() == "" and page.filings_label.text() == ""


def test_an_ecard_then_a_refused_card_forgets_the_first_person_and_cannot_register_her(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
) -> None:
    """王秀兰's e-card on the 读卡 page, her form filled and judged 准予; then 陈敏's card (expired:
    the centre refuses the card number, 2002)."""
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    _small_screen(window)
    page = window.admission_page
    _scan(qtbot, window.card_page.scan_field, "ECARD-WXL-5C1D7A90")
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    assert page.person is not None and page.person.name == "王秀兰"
    window.show_page(window.page_titles.index("入院登记"))
    _fill(qtbot, page, type_text, "ZY-WRONG-1")
    page.emergency.setChecked(True)  # no filing yet: admitted as an emergency (back-filing later)
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    assert page.verdict.headline.text().startswith("准予联网结算")
    assert page.register_button.isEnabled()
    save_shot(window, SHOTS, "1a-wang-xiulan-looked-up.png")

    backend.insert(VirtualCard(CardPerson.load(CARDS / "chen-min.json")))
    qtbot.waitUntil(lambda: "陈敏" in page.card_label.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: _lookup_done(page), timeout=CENTRE_WAIT_MS)
    save_shot(window, SHOTS, "1b-chen-min-refused.png")
    assert page.person_label.text() == "未查到"
    assert "过期" in page.lookup_message.text() or "卡" in page.lookup_message.text()

    _try_to_register(qtbot, page, type_text)
    assert _stays_of(centre_ctx, WANG_XIULAN_SSN) == []
    save_shot(window, SHOTS, "1c-after-trying-to-register.png")
    _assert_nobody_on_the_form(page)
    assert window.current_patient.patient is None


def test_an_ecard_then_an_unknown_token_forgets_the_first_person(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
) -> None:
    """周强's e-card scanned into the 入院登记 page, form filled (admitted within his filing's dates,
    so it would be allowed); then a token the centre does not know."""
    window = make_window(centre_ctx, "cashier")
    _small_screen(window)
    window.show_page(window.page_titles.index("入院登记"))
    page = window.admission_page
    _scan(qtbot, page.ecard_field, "ECARD-ZQ-3D6F0B77")
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    _fill(qtbot, page, type_text, "ZY-WRONG-1")
    admitted = centre_today() - dt.timedelta(days=20)
    page.admitted_on.setDate(page.admitted_on.date().fromString(admitted.isoformat(), "yyyy-MM-dd"))
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    assert page.register_button.isEnabled()
    save_shot(window, SHOTS, "2a-zhou-qiang-looked-up.png")

    _scan(qtbot, page.ecard_field, "ECARD-XX-00000000")
    qtbot.waitUntil(lambda: _lookup_done(page), timeout=CENTRE_WAIT_MS)
    save_shot(window, SHOTS, "2b-unknown-token.png")
    assert page.person_label.text() == "未查到"

    _try_to_register(qtbot, page, type_text)
    assert _stays_of(centre_ctx, ZHOU_QIANG_SSN) == []
    _assert_nobody_on_the_form(page)


def test_an_unknown_token_on_the_card_page_forgets_the_person_there_too(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
) -> None:
    window = make_window(centre_ctx, "cashier")
    card_page, page = window.card_page, window.admission_page
    _scan(qtbot, card_page.scan_field, "ECARD-ZQ-3D6F0B77")
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    assert card_page.values["name"].text() == "周强"
    # The verdict 入院登记 previews for him shows on the 读卡 page too (admitted today: his filing has ended).
    qtbot.waitUntil(lambda: card_page.verdict.check is not None, timeout=WAIT_MS)
    assert card_page.verdict.check is page.verdict.check
    assert card_page.verdict.headline.text().startswith("不予联网结算")
    _scan(qtbot, card_page.scan_field, "ECARD-XX-00000000")
    qtbot.waitUntil(lambda: card_page.identity is None, timeout=CENTRE_WAIT_MS)
    assert card_page.values["name"].text() == ""
    qtbot.waitUntil(lambda: page.person is None, timeout=WAIT_MS)
    assert window.current_patient.patient is None
    assert not page.register_button.isEnabled()
    assert card_page.verdict.check is None and card_page.verdict.headline.text() == "尚未核验"


def test_register_checks_the_form_is_the_person_just_looked_up(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
) -> None:
    """Whatever leaves a stale person on the page (here: the window's current patient changed under
    it), 登记 refuses and says what to do."""
    window = make_window(centre_ctx, "cashier")
    page = window.admission_page
    _scan(qtbot, page.ecard_field, "ECARD-ZQ-3D6F0B77")
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    _fill(qtbot, page, type_text, "ZY-WRONG-3")
    window.current_patient.blockSignals(True)  # the page is not told: as if a signal got lost
    window.current_patient.clear()
    window.current_patient.blockSignals(False)
    page.register()
    assert page.form_error.text() == "当前患者已变更：请重新读卡或扫码查询后再登记。"
    qtbot.wait(300)
    assert _stays_of(centre_ctx, ZHOU_QIANG_SSN) == []


def test_pages_follow_the_card_to_the_workers_open_stay(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: Callable[[CounterContext, str], OperatorInfo],  # noqa: F811
) -> None:
    """张伟 has an open stay; 王秀兰 was admitted after him (the latest stay). 张伟's card in: 出院结算
    and 费用与伤病分离 show his stay, not the latest; an unknown e-card afterwards shows none."""
    cashier = operator_of(centre_ctx, "cashier")
    zhang = admit_through_service(centre_ctx, cashier, "A44080001", "ZY-FOLLOW-ZW",
                                  admitted_on=centre_today() - dt.timedelta(days=6))
    wang = admit_through_service(centre_ctx, cashier, "C22010003", "ZY-FOLLOW-WXL",
                                 admitted_on=centre_today() - dt.timedelta(days=1), emergency=True)
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    _small_screen(window)
    discharge, charges = window.discharge_page, window.charges_page
    qtbot.waitUntil(lambda: discharge.picker.count() > 0, timeout=WAIT_MS)
    assert discharge.picker.stays[0].stay_id == wang  # the latest-admitted comes first in the list
    assert discharge.picker.current_stay_id() is None  # nobody's stay until a worker is identified

    backend.insert(VirtualCard(ZHANG_WEI))
    qtbot.waitUntil(lambda: window.current_patient.patient is not None
                    and window.current_patient.patient.stay_id == zhang, timeout=CENTRE_WAIT_MS)
    window.show_page(window.page_titles.index("出院结算"))
    qtbot.waitUntil(lambda: discharge.picker.current_stay_id() == zhang, timeout=WAIT_MS)
    assert "张伟" in discharge.stay_label.text()
    save_shot(window, SHOTS, "3a-discharge-follows-zhang-wei.png")
    window.show_page(window.page_titles.index("费用与伤病分离"))
    qtbot.waitUntil(lambda: charges.stay_id == zhang, timeout=WAIT_MS)
    assert "张伟" in charges.stay_combo.currentText()
    assert "张伟" in window.card_page.patient_label.text() and "ZY-FOLLOW-ZW" in window.card_page.patient_label.text()
    window.show_page(window.page_titles.index("读卡"))
    save_shot(window, SHOTS, "3c-card-page-current-patient.png")

    # The clerk may still pick another stay: the list is searched by any part of an item.
    search, edit = charges.stay_combo.completer(), charges.stay_combo.lineEdit()
    assert search is not None and edit is not None
    window.show_page(window.page_titles.index("费用与伤病分离"))
    charges.stay_combo.setFocus()
    edit.clear()
    qtbot.keyClicks(edit, "follow-wxl")
    qtbot.waitUntil(lambda: search.completionCount() == 1, timeout=WAIT_MS)
    assert "王秀兰" in search.currentCompletion()
    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    edit.editingFinished.emit()
    assert charges.stay_id == zhang and "张伟" in charges.stay_combo.currentText()

    _scan(qtbot, window.admission_page.ecard_field, "ECARD-XX-00000000")
    qtbot.waitUntil(lambda: _lookup_done(window.admission_page), timeout=CENTRE_WAIT_MS)
    assert window.current_patient.patient is None
    qtbot.waitUntil(lambda: discharge.picker.current_stay_id() is None and charges.stay_id is None, timeout=WAIT_MS)
    window.show_page(window.page_titles.index("出院结算"))
    save_shot(window, SHOTS, "3b-discharge-after-a-failed-lookup.png")


def test_next_patient_after_registering_clears_the_person_everywhere(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
) -> None:
    """登记 → the new stay is the patient's open stay on 出院结算; 下一位 (F12) → nobody anywhere, the
    e-card field waits for the next scan."""
    window = make_window(centre_ctx, "cashier")
    _small_screen(window)
    window.show_page(window.page_titles.index("入院登记"))
    page = window.admission_page
    _scan(qtbot, page.ecard_field, "ECARD-ZW-7F3A9C21")
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    qtbot.keyClicks(page.admission_no, "ZY-NEXT-1")
    type_text(page.dept, "骨科一病区")
    page.add_diagnosis("S82.201", "胫骨干骨折")
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    qtbot.mouseClick(page.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.outcome.stay_id is not None
    stay_id = page.outcome.stay_id
    qtbot.waitUntil(lambda: window.current_patient.patient is not None
                    and window.current_patient.patient.stay_id == stay_id, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.discharge_page.picker.current_stay_id() == stay_id, timeout=WAIT_MS)
    assert page.ecard_field.hasFocus()  # ready for the next scan
    qtbot.keyClick(page.ecard_field, Qt.Key.Key_Return)  # a stray Enter: nothing goes
    assert page.registration_label.text().startswith("已登记") and window.current_patient.patient is not None
    # The 读卡 page shows the verdict registered on, no longer the preview.
    assert window.card_page.verdict.check is page.outcome.check and not window.card_page.verdict.preview
    save_shot(window, SHOTS, "4a-registered.png")

    qtbot.keyClick(window, Qt.Key.Key_F12)
    assert window.current_patient.patient is None
    assert page.registration_label.text() == "尚未登记" and page.person_label.text() == "尚未查询"
    _assert_nobody_on_the_form(page)
    assert window.card_page.identity is None and window.card_page.patient_label.text().startswith("当前患者：无")
    assert window.card_page.verdict.check is None and window.card_page.verdict.headline.text() == "尚未核验"
    assert window.current_page_title() == "入院登记" and page.ecard_field.hasFocus()
    qtbot.waitUntil(lambda: window.discharge_page.picker.current_stay_id() is None, timeout=WAIT_MS)
    save_shot(window, SHOTS, "4b-next-patient.png")


def test_the_stay_list_is_searched_by_name_or_number(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: Callable[[CounterContext, str], OperatorInfo],  # noqa: F811
) -> None:
    """出院结算's stay list: typing part of a 住院号 (or a name, a 就医登记号) offers only the matches."""
    cashier = operator_of(centre_ctx, "cashier")
    zhang = admit_through_service(centre_ctx, cashier, "A44080001", "ZY-SEARCH-ZW")
    admit_through_service(centre_ctx, cashier, "C22010003", "ZY-SEARCH-WXL", emergency=True)
    window = make_window(centre_ctx, "cashier")
    _small_screen(window)
    window.show_page(window.page_titles.index("出院结算"))
    picker = window.discharge_page.picker
    qtbot.waitUntil(lambda: picker.count() >= 2, timeout=WAIT_MS)
    edit, popup = picker.lineEdit(), picker.search.popup()
    assert edit is not None and popup is not None
    picker.setFocus()
    qtbot.keyClicks(edit, "search-zw")  # part of a 住院号, any case
    qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
    assert picker.search.completionCount() == 1
    assert "张伟" in picker.search.currentCompletion()
    save_shot(window, SHOTS, "5-stay-search.png")
    save_shot(popup, SHOTS, "5-stay-search-popup.png")  # a window of its own: not in the window's grab
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: picker.current_stay_id() == zhang, timeout=WAIT_MS)
    assert "张伟" in window.discharge_page.stay_label.text()

    stay = picker.current_stay()
    assert stay is not None and stay.registration_no
    edit.clear()
    qtbot.keyClicks(edit, stay.registration_no)  # a 就医登记号
    qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
    assert picker.search.completionCount() == 1 and "张伟" in picker.search.currentCompletion()
    qtbot.keyClick(popup, Qt.Key.Key_Escape)

    edit.clear()
    qtbot.keyClicks(edit, "nobody-here")
    edit.editingFinished.emit()  # leaving the field: what shows is what is chosen
    assert picker.currentText() == picker.itemText(picker.currentIndex()) and picker.current_stay_id() == zhang


def test_a_card_read_while_registering_is_looked_up_after_the_registration(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    """王秀兰's 登记 is under way (the centre slow to answer) when 陈敏's card goes in: 王秀兰 is
    registered as the clerk asked, then 陈敏 is looked up (refused) and nobody is left on the form."""
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    page = window.admission_page
    _scan(qtbot, page.ecard_field, "ECARD-WXL-5C1D7A90")
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    _fill(qtbot, page, type_text, "ZY-WHILE-1")
    page.emergency.setChecked(True)
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    workflow_sandbox.arm("delay", "2401", seconds=2)  # the admission call
    qtbot.mouseClick(page.register_button, Qt.MouseButton.LeftButton)
    assert page.busy
    backend.insert(VirtualCard(CardPerson.load(CARDS / "chen-min.json")))
    qtbot.waitUntil(lambda: "陈敏" in page.card_label.text(), timeout=WAIT_MS)
    assert page.busy and page.person is not None and page.person.name == "王秀兰"  # the form's person, until done

    qtbot.waitUntil(lambda: not page.busy, timeout=CENTRE_WAIT_MS)
    qtbot.waitUntil(lambda: _lookup_done(page), timeout=CENTRE_WAIT_MS)
    assert _stays_of(centre_ctx, WANG_XIULAN_SSN) == ["ZY-WHILE-1"]
    _assert_nobody_on_the_form(page)
    assert page.person_label.text() == "未查到" and window.current_patient.patient is None
