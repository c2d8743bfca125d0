"""The 入院登记 page against the real sandbox centre: the card read on the 读卡 page brings the
holder here, the centre's person and the filing verdict are shown, 登记 registers the stay
(就医登记号); a wrong-city filing is refused with its reasons and next steps; only reviewers
may type a social security number (with a reason); an e-card token; the centre unreachable."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.db.models import Stay
from devices.mock import MockBackend
from devices.virtual_card import VirtualCard
from tests.centre.client_fixtures import SandboxProcess
from tests.devices.people import ZHANG_WEI
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    ZHENG_JUN,
    WindowFactory,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from ui.pages.admission_page import AdmissionPage
from ui.qt import Qt, QWidget

pytestmark = pytest.mark.gui

TypeText = Callable[[QWidget, str], None]


def _fill(qtbot: QtBot, page: AdmissionPage, type_text: TypeText, admission_no: str) -> None:
    qtbot.keyClicks(page.admission_no, admission_no)
    type_text(page.dept, "骨科一病区")
    qtbot.keyClicks(page.bed, "12")
    page.add_diagnosis("S82.201", "胫骨干骨折")
    page.add_diagnosis("I10", "原发性高血压")


def _stays(ctx: CounterContext, admission_no: str) -> list[tuple[str, str | None]]:
    """The stays of this 住院号 (the demo counter has stays of its own)."""
    with ctx.transaction() as session:
        return [(s.admission_no, s.registration_no)
                for s in session.scalars(select(Stay).where(Stay.admission_no == admission_no))]


def test_a_card_read_brings_the_holder_and_enter_registers_the_stay(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
) -> None:
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    page = window.admission_page
    backend.insert(VirtualCard(ZHANG_WEI))
    # Read on the 读卡 page; the admission page looks the holder up at the centre by itself.
    qtbot.waitUntil(lambda: "张伟" in page.card_label.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    assert "张伟" in page.person_label.text()
    assert "440802********1236" in page.person_label.text()  # masked on screen
    assert page.recognitions_label.text() not in ("", "无工伤认定记录")
    window.show_page(window.page_titles.index("入院登记"))

    _fill(qtbot, page, type_text, "ZY-UI-ADM-1")
    # Each admitting diagnosis is marked against the recognition's diagnoses.
    assert page.diagnoses.item(0, 2).text().startswith("工伤")
    assert page.diagnoses.item(1, 2).text() == "非工伤"
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    assert page.verdict.headline.text().startswith("准予联网结算")

    qtbot.keyClick(page.bed, Qt.Key.Key_Return)  # Enter with nothing missing registers
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.outcome.stay_id is not None and not page.outcome.offline
    registration = page.outcome.registration_no
    assert registration and registration in page.registration_label.text()
    assert _stays(centre_ctx, "ZY-UI-ADM-1") == [("ZY-UI-ADM-1", registration)]
    assert not page.register_button.isEnabled()  # registered: not twice


def test_a_wrong_city_filing_is_refused_with_every_reason_and_the_next_steps(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
) -> None:
    """郑军's filing names 广州 as the place of treatment, not 湛江 (000 §11; next steps 003 §5)."""
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    page = window.admission_page
    window.show_page(window.page_titles.index("入院登记"))
    backend.insert(VirtualCard(ZHENG_JUN))
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    assert "广州" in page.filings_label.text()
    _fill(qtbot, page, type_text, "ZY-UI-ADM-2")
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    assert page.verdict.headline.text().startswith("不予联网结算")  # seen before 登记

    qtbot.mouseClick(page.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.outcome.stay_id is None and not page.outcome.check.allowed
    reasons = page.verdict.reasons.text()
    assert "【不通过】" in reasons and "依据：" in reasons
    check = page.outcome.check
    # Each reason's fact beside its article; its next step listed once, under 下一步 (issue 23 §6).
    assert all(reason.message.removesuffix(reason.next_step) in reasons and reason.source in reasons
               for reason in check.reasons)
    steps = page.verdict.next_steps.text()
    assert page.verdict.next_steps.isVisible() and steps.startswith("下一步：")
    assert all(step in steps and step not in reasons for step in check.next_steps)
    assert "粤省事" in steps  # 郑军 is a Guangdong worker: the provincial online services (003 §5, §10)
    assert page.registration_label.text().startswith("未登记")
    assert _stays(centre_ctx, "ZY-UI-ADM-2") == []


def test_typing_a_number_is_for_reviewers_with_a_reason(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
) -> None:
    cashier = make_window(centre_ctx, "cashier").admission_page
    assert not cashier.typed_field.isEnabled() and not cashier.typed_button.isEnabled()
    assert "仅审核员" in cashier.typed_field.toolTip()

    page = make_window(centre_ctx, "reviewer").admission_page
    qtbot.keyClicks(page.typed_field, "440802198503151236")
    qtbot.keyClick(page.typed_field, Qt.Key.Key_Return)  # on to the reason
    qtbot.mouseClick(page.typed_button, Qt.MouseButton.LeftButton)
    assert page.lookup_message.text() == "手工输入社会保障号码必须填写原因（将记入审计日志）。"
    assert page.person is None
    type_text(page.typed_reason, "社保卡损坏")
    qtbot.keyClick(page.typed_reason, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    assert page.person is not None and page.person.name == "张伟"
    assert page.identification is not None and page.identification.kind == "typed"
    assert page.identification.reason == "社保卡损坏"


def test_an_ecard_token_scanned_into_the_page(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
) -> None:
    page = make_window(centre_ctx, "cashier").admission_page
    qtbot.keyClicks(page.ecard_field, "ECARD-ZW-7F3A9C21")
    qtbot.keyClick(page.ecard_field, Qt.Key.Key_Return)
    assert page.ecard_field.text() == ""  # single use
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    assert page.person is not None and page.person.social_security_number == "440802198503151236"
    assert page.identification is not None and page.identification.kind == "ecard"


def test_the_page_says_when_the_centre_cannot_be_reached(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
) -> None:
    from app.settings import CENTRE_URL
    from tests.centre.client_fixtures import free_port

    centre_ctx.settings.set(CENTRE_URL, f"http://127.0.0.1:{free_port()}")
    window = make_window(centre_ctx, "cashier")
    window.show_page(window.page_titles.index("入院登记"))
    page = window.admission_page
    qtbot.keyClicks(page.ecard_field, "ECARD-ZW-7F3A9C21")
    qtbot.keyClick(page.ecard_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.lookup_message.isVisible(), timeout=WAIT_MS)
    assert page.lookup_message.text().startswith("结算中心无法连接")
    assert page.person is None and not page.register_button.isEnabled()


def test_registered_offline_when_the_centre_drops_and_rechecked_when_it_is_back(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    """The stay is kept and its registration queued; when the link returns it is sent and the filing
    checked again (issue 6 item 5)."""
    window = make_window(centre_ctx, "cashier")
    window.show_page(window.page_titles.index("入院登记"))
    page = window.admission_page
    qtbot.keyClicks(page.ecard_field, "ECARD-ZW-7F3A9C21")
    qtbot.keyClick(page.ecard_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    _fill(qtbot, page, type_text, "ZY-UI-ADM-OFF")
    workflow_sandbox.arm("refuse_connections", seconds=4)
    time.sleep(0.3)
    qtbot.mouseClick(page.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.outcome.offline and page.outcome.stay_id is not None
    assert page.registration_label.text().startswith("已脱机登记")
    assert page.offline_label.isVisible() and "结算中心无法连接" in page.offline_label.text()
    assert _stays(centre_ctx, "ZY-UI-ADM-OFF") == [("ZY-UI-ADM-OFF", None)]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _listening(workflow_sandbox):
        time.sleep(0.2)
    stays = window.stays_page
    qtbot.waitUntil(lambda: not stays._rechecking, timeout=CENTRE_WAIT_MS)  # the check at start-up
    stays.last_recheck = None
    stays.set_centre_online(False)
    stays.set_centre_online(True)  # what the status bar's probe reports when the link is back
    qtbot.waitUntil(lambda: stays.last_recheck is not None, timeout=CENTRE_WAIT_MS)
    assert stays.last_recheck is not None and [check.allowed for check in stays.last_recheck] == [True]
    [(_, registration)] = _stays(centre_ctx, "ZY-UI-ADM-OFF")
    assert registration  # the queued registration reached the centre


def _listening(sandbox: SandboxProcess) -> bool:
    try:
        return httpx.get(f"{sandbox.url}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False
