"""入院登记 of a device fitting (辅助器具配置, issue 23 §8) through the real page against the real
sandbox centre: with 就医类别 辅助器具配置 the page asks for the 配置费用核付通知单号, looks the notice
up at the centre and shows its devices with the insured place's 最高支付限额 and 最低使用年限
(`001 §34`, `000 §29`, `001 §15`); an expired notice is refused with its reason and article before
and at 登记; a valid one registers the fitting with the notice recorded on the stay."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.db.models import FittedDevice, Stay
from devices.mock import MockBackend
from devices.virtual_card import CardPerson, VirtualCard
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    WindowFactory,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from ui.qt import Qt, QWidget

pytestmark = pytest.mark.gui

# 韩磊: Beijing-insured, device filing to 湛江, four notices (docs/sandbox-centre.md).
HAN_LEI = CardPerson(
    name="韩磊", sex="男", social_security_number="110108198803125316", birth_date=dt.date(1988, 3, 12),
    region_code="110100", card_number="K11010033", generation=3, birthplace="110108",
    issue_date=dt.date(2026, 3, 12), expiry_date=dt.date(2036, 3, 12),
)
VALID, EXPIRED = "HF110100202600001", "HF110100202600002"


def test_a_device_fitting_checks_the_notice_shows_its_devices_and_refuses_an_expired_one(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
    type_text: Callable[[QWidget, str], None],
) -> None:
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    page = window.admission_page
    window.show_page(window.page_titles.index("入院登记"))
    backend.insert(VirtualCard(HAN_LEI))
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    assert not page.notice_no.isVisible()  # only for a device fitting

    qtbot.keyClicks(page.admission_no, "FJ-UI-1")
    type_text(page.dept, "假肢矫形")
    page.add_diagnosis("S82.201", "胫骨干骨折")
    page.care.setFocus()
    page.care.setCurrentIndex(page.care.findData("device"))
    assert page.notice_no.isVisible() and page.notice_button.isVisible()
    assert page.notice_label.buddy() is page.notice_no and "(&P)" in page.notice_label.text()
    assert "(&V)" in page.notice_button.text()
    # Not judged without its notice (001 §34): the preview says so.
    qtbot.waitUntil(lambda: page.verdict.check is not None and not page.verdict.check.allowed, timeout=WAIT_MS)
    assert "尚未核对配置费用核付通知单" in page.verdict.reasons.text()

    # An expired notice: refused on lookup, in the verdict, and at 登记, with the article (Beijing: 001 §34).
    qtbot.keyClicks(page.notice_no, EXPIRED)
    qtbot.mouseClick(page.notice_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "不能按此通知单配置" in page.notice_items.text(), timeout=CENTRE_WAIT_MS)
    assert "腋拐（FJ0302002）× 1：最高支付限额 120.00 元/件，最低使用年限 3 年" in page.notice_items.text()
    qtbot.waitUntil(lambda: page.verdict.check is not None
                    and any(r.code == "NOTICE_EXPIRED" for r in page.verdict.check.reasons), timeout=WAIT_MS)
    assert page.verdict.headline.text().startswith("不予联网结算")
    qtbot.mouseClick(page.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.outcome.stay_id is None
    reasons = page.verdict.reasons.text()
    assert EXPIRED in reasons and "已过期" in reasons and "001 §34" in reasons
    assert page.registration_label.text().startswith("未登记")

    # The valid one: Enter in the field looks it up; its devices and Beijing's limits are shown.
    page.notice_no.selectAll()
    qtbot.keyClicks(page.notice_no, VALID)
    qtbot.keyClick(page.notice_no, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "未使用）" in page.notice_items.text(), timeout=CENTRE_WAIT_MS)
    items = page.notice_items.text()
    assert "（北京市，" in items and "北京市北京市" not in items and "不能按此通知单配置" not in items
    assert "普通轮椅（FJ0301001）× 1：最高支付限额 1000.00 元/件，最低使用年限 4 年" in items
    qtbot.waitUntil(lambda: page.verdict.check is not None and page.verdict.check.allowed, timeout=WAIT_MS)
    qtbot.mouseClick(page.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.outcome.stay_id is not None, page.verdict.reasons.text()
    assert page.outcome.registration_no and page.outcome.registration_no in page.registration_label.text()
    with centre_ctx.transaction() as session:
        stay = session.scalars(select(Stay).where(Stay.admission_no == "FJ-UI-1")).one()
        assert stay.notice_no == VALID and stay.care.value == "device"
        assert {d.code: d.min_years for d in session.scalars(
            select(FittedDevice).where(FittedDevice.stay_id == stay.id))} == {"FJ0302002": 3, "FJ0301001": 4}


def test_a_refused_fitting_keeps_the_notice_the_verdict_and_the_form_in_view_at_1366(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
    type_text: Callable[[QWidget, str], None],
) -> None:
    from tests.ui.artefacts import save_shot
    from tests.ui.test_ui_layout_1366 import SHOTS, _maximised, fully_visible
    from tests.ui.test_ui_layout_pages_1366 import _admission_page_in_view, readable

    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    _maximised(qtbot, window)
    page = window.admission_page
    window.show_page(window.page_titles.index("入院登记"))
    backend.insert(VirtualCard(HAN_LEI))
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    qtbot.keyClicks(page.admission_no, "FJ-UI-2")
    type_text(page.dept, "假肢矫形")
    page.add_diagnosis("S82.201", "胫骨干骨折")
    page.care.setCurrentIndex(page.care.findData("device"))
    qtbot.keyClicks(page.notice_no, VALID)
    qtbot.keyClick(page.notice_no, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "普通轮椅" in page.notice_items.text(), timeout=CENTRE_WAIT_MS)
    page.notice_no.selectAll()
    qtbot.keyClicks(page.notice_no, EXPIRED)  # the two-line notice shown, then the refused one
    qtbot.keyClick(page.notice_no, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "不能按此通知单配置" in page.notice_items.text(), timeout=CENTRE_WAIT_MS)
    page.register_button.click()
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    qtbot.wait(300)
    save_shot(window, SHOTS, "入院登记-辅助器具核付通知单已过期.png")
    assert _admission_page_in_view(window) == []
    assert fully_visible(page.notice_no) and fully_visible(page.notice_button)
    assert readable(page.notice_items) and readable(page.registration_label)
