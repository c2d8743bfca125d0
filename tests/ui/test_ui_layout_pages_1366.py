"""The other pages at 1366×768, maximised (issue 20 §5): 读卡, 入院登记, 住院一览 and 设置 with
realistic content — a holder with a filing and a verdict, a filled admission form, 30 stays with
long 科别 — keep what the clerk acts on inside the visible area, without scrolling, and no text cut.

Measured through the real main window on the tests' 1366×768 offscreen screen with the helpers of
`test_ui_layout_1366`; each page is saved to test-artifacts/layout-1366/ for a person to look at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.operators import OperatorInfo
from devices.mock import MockBackend
from devices.virtual_card import VirtualCard
from tests.devices.people import ZHANG_WEI
from tests.ui.artefacts import save_shot
from tests.ui.test_ui_layout_1366 import SHOTS, _maximised, clipped_headers, fully_visible, visible_rows
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    ZHENG_JUN,
    WindowFactory,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from ui.main_window import MainWindow
from ui.qt import QLabel, QWidget

pytestmark = pytest.mark.gui
OperatorOf = Callable[[CounterContext, str], OperatorInfo]
TypeText = Callable[[QWidget, str], None]

ZHENG_JUN_MASKED = "441900********0315"


def whole_text(label: QLabel) -> bool:
    """The label's whole text fits it: one line no wider than the label, wrapped lines no taller."""
    if not label.text():
        return True
    room = label.contentsRect()
    if label.wordWrap():
        return label.heightForWidth(label.width()) <= label.height()
    metrics = label.fontMetrics()
    lines = label.text().split("\n")
    return (max(metrics.horizontalAdvance(line) for line in lines) <= room.width()
            and len(lines) * metrics.lineSpacing() <= room.height() + metrics.leading())


def readable(label: QLabel) -> bool:
    """On screen whole, and its whole text inside it."""
    return fully_visible(label) and whole_text(label)


def _show(qtbot: QtBot, window: MainWindow, title: str) -> None:
    window.show_page(window.page_titles.index(title))
    qtbot.wait(300)


# --- 读卡 ---------------------------------------------------------------------------------------


def test_card_page_shows_the_holder_the_centre_status_and_the_verdict(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
) -> None:
    """郑军's filing names 广州, not 湛江: the 读卡 page, where the clerk is when the card goes in,
    shows his 工伤认定 / 备案 and the refusal with its next steps (000 §11, 003 §5)."""
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    _maximised(qtbot, window)
    page = window.card_page
    _show(qtbot, window, "读卡")
    backend.insert(VirtualCard(ZHENG_JUN))
    qtbot.waitUntil(lambda: page.values["name"].text() == "郑军", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "BA" in page.centre_label.text(), timeout=CENTRE_WAIT_MS)
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=CENTRE_WAIT_MS)
    qtbot.wait(300)
    save_shot(window, SHOTS, "读卡.png")

    assert readable(page.values["name"])
    assert ZHENG_JUN_MASKED in page.patient_label.text() and readable(page.patient_label)
    assert "工伤认定：" in page.centre_label.text() and "广州" in page.centre_label.text()
    assert readable(page.centre_label)
    assert page.verdict.headline.text().startswith("不予联网结算")
    assert page.verdict.next_steps.text().startswith("下一步：")
    for part in (page.verdict.headline, page.verdict.reasons, page.verdict.next_steps):
        assert readable(part), part.objectName()


# --- 入院登记 -------------------------------------------------------------------------------------


def _fill(qtbot: QtBot, window: MainWindow, type_text: TypeText, admission_no: str) -> None:
    page = window.admission_page
    qtbot.keyClicks(page.admission_no, admission_no)
    type_text(page.dept, "骨科一病区（创伤骨科与手外科联合病区）")
    qtbot.keyClicks(page.bed, "12")
    page.add_diagnosis("S82.201", "胫骨干骨折")
    page.add_diagnosis("I10", "原发性高血压")
    page.add_diagnosis("E11.900", "2型糖尿病不伴有并发症")
    page.add_diagnosis("S52.500", "桡骨下端骨折（右侧，闭合性，伴尺骨茎突骨折）")


def _admission_page_in_view(window: MainWindow) -> list[str]:
    """What the clerk fills in and acts on that is not wholly on screen (names)."""
    page = window.admission_page
    required = (page.admission_no, page.dept, page.admitted_on, page.care, page.recognition, page.filing,
                page.diagnoses, page.register_button, page.next_button)
    hidden = [widget.objectName() for widget in required if not fully_visible(widget)]
    hidden += [part.objectName() for part in (page.verdict.headline, page.verdict.reasons, page.verdict.next_steps)
               if not part.isHidden() and not readable(part)]
    return hidden


def test_admission_page_keeps_the_form_the_verdict_and_the_registration_in_view(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
) -> None:
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    _maximised(qtbot, window)
    page = window.admission_page
    _show(qtbot, window, "入院登记")
    backend.insert(VirtualCard(ZHANG_WEI))
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    _fill(qtbot, window, type_text, "ZY-LAYOUT-ADM-1")
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    qtbot.wait(300)
    save_shot(window, SHOTS, "入院登记-预览.png")
    assert page.verdict.headline.text().startswith("准予联网结算")
    assert _admission_page_in_view(window) == []

    page.register_button.click()
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    qtbot.wait(300)
    save_shot(window, SHOTS, "入院登记-已登记.png")
    assert page.outcome is not None and page.outcome.registration_no
    assert page.outcome.registration_no in page.registration_label.text()
    assert readable(page.registration_label)
    assert readable(page.verdict.headline)


def test_admission_page_shows_a_refusal_its_reasons_and_next_steps_with_the_form(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
) -> None:
    """The longest verdict the sandbox gives at admission, 郑军's wrong-city filing (000 §11, 003 §5),
    with four admitting diagnoses."""
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    _maximised(qtbot, window)
    page = window.admission_page
    _show(qtbot, window, "入院登记")
    backend.insert(VirtualCard(ZHENG_JUN))
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    _fill(qtbot, window, type_text, "ZY-LAYOUT-ADM-2")
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    page.register_button.click()
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    qtbot.wait(300)
    save_shot(window, SHOTS, "入院登记-不予登记.png")
    assert page.verdict.headline.text().startswith("不予联网结算")
    assert page.verdict.next_steps.isVisible()
    assert _admission_page_in_view(window) == []
    assert readable(page.registration_label)


# --- 住院一览 -------------------------------------------------------------------------------------

LONG_DEPTS = (
    "骨科一病区（创伤骨科、手足显微外科与骨与关节感染专科联合病区，含日间手术中心）",
    "康复医学科二病区（工伤康复与职业康复中心）",
    "烧伤整形外科（烧伤重症监护与创面修复病区）",
    "神经外科三病区（颅脑创伤与脊髓损伤专科病区）",
)


def _thirty_stays(ctx: CounterContext) -> None:
    """30 stays of 30 workers, every status, long 科别 and names (a Uyghur name with its dot), money on
    the settled ones."""
    from app.db.models import Care, Institution, Operator, Stay, StayStatus, Worker
    from sqlalchemy import select
    from tests import factories

    statuses = (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT, StayStatus.SETTLED, StayStatus.CANCELLED,
                StayStatus.PENDING_BACKFILL)
    with ctx.transaction() as session:
        hospital = session.scalars(select(Institution)).first()
        clerk = session.scalars(select(Operator).where(Operator.login == "cashier")).one()
        assert hospital is not None
        for n in range(30):
            name = "阿卜杜热合曼·买买提明" if n % 3 == 0 else f"欧阳{'建国'[n % 2]}{n:02d}"
            worker = Worker(social_security_number=f"440802198001{n + 1:02d}112{n % 10}", name=name, sex="男",
                            insured_province="广东省", insured_city="湛江市", insured_city_code="440800")
            session.add(worker)
            session.flush()
            status = statuses[n % len(statuses)]
            admitted = dt.date(2026, 10, 1) + dt.timedelta(days=n)
            stay = Stay(worker_id=worker.id, institution_id=hospital.id, profile="local", care=Care.MEDICAL,
                        admission_no=f"ZY2026{n:06d}", dept=LONG_DEPTS[n % len(LONG_DEPTS)],
                        registration_no=f"ZY44080020261{n:03d}00000{n:02d}" if status != StayStatus.CANCELLED
                        else None,
                        admitted_on=admitted, created_by=clerk.id, status=status,
                        discharged_on=admitted + dt.timedelta(days=12) if status == StayStatus.SETTLED else None)
            session.add(stay)
            session.flush()
            if status == StayStatus.SETTLED:
                factories.settlement(session, stay, msgid=f"H44080100001202611030{n:09d}")


def test_stays_page_keeps_the_search_the_headers_12_rows_and_the_status_in_view(
    qtbot: QtBot, demo_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
) -> None:
    _thirty_stays(demo_ctx)
    window = make_window(demo_ctx, "cashier")
    _maximised(qtbot, window)
    page = window.stays_page
    _show(qtbot, window, "住院一览")
    page.reload()
    qtbot.waitUntil(lambda: page.table.rowCount() >= 31, timeout=WAIT_MS)
    qtbot.wait(300)
    save_shot(window, SHOTS, "住院一览.png")
    assert fully_visible(page.search) and fully_visible(page.status_filter)
    header = page.table.horizontalHeader()
    assert clipped_headers(header) == []
    assert visible_rows(page.table) >= 12
    status = 7
    left = header.sectionViewportPosition(status)
    assert 0 <= left and left + header.sectionSize(status) <= header.viewport().width(), "状态 off-screen"
    assert page.table.horizontalScrollBar().maximum() == 0 or not page.table.horizontalScrollBar().isVisible()
    assert readable(page.count_label)


# --- 设置 ---------------------------------------------------------------------------------------


def test_settings_page_cuts_no_label_and_shows_the_save_button(
    qtbot: QtBot, demo_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
) -> None:
    """An administrator's 设置: every group (本窗口设置, 本机构, 本机, 操作员)."""
    window = make_window(demo_ctx, "admin")
    _maximised(qtbot, window)
    page = window.settings_page
    _show(qtbot, window, "设置")
    assert page.operators is not None
    qtbot.waitUntil(lambda: page.operators is not None and page.operators.table.rowCount() >= 3, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.secret_store_label.text() != "检查中…", timeout=WAIT_MS)
    qtbot.wait(300)
    save_shot(window, SHOTS, "设置.png")
    cut = [label.text() for label in page.findChildren(QLabel) if label.isVisible() and not whole_text(label)]
    assert cut == []
    assert fully_visible(page.form.save_button)
    assert clipped_headers(page.operators.table.horizontalHeader()) == []


# --- 月度结算 -------------------------------------------------------------------------------------


def test_claims_page_keeps_the_figures_the_buttons_the_deadlines_and_the_dispute_in_view(
    qtbot: QtBot, demo_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
) -> None:
    """A reviewer's November claim, answered with two deductions: the claim's figures and status,
    生成 / 导出 / 上传 / 查询, the deadlines (003 §20, §21) and 提出异议 without scrolling."""
    from tests.ui.test_ui_claims_page import TODAY, _deductions, _settle_month
    from ui.pages.claims_page import ClaimsPage

    _settle_month(demo_ctx, operator_of(demo_ctx, "cashier").id)
    reviewer = operator_of(demo_ctx, "reviewer")
    open_id, _closed = _deductions(demo_ctx, reviewer)
    window = make_window(demo_ctx, "reviewer")
    _maximised(qtbot, window)
    index = window.page_titles.index("月度结算")
    page = ClaimsPage(demo_ctx, reviewer, today=lambda: TODAY)  # the window's page on the tests' fixed day
    window.stack.removeWidget(window.claims_page)
    window.stack.insertWidget(index, page)
    window.show_page(index)
    qtbot.waitUntil(lambda: len(page.deductions) == 2 and page.busy is None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.deadline_summary.text() != "正在检查…", timeout=WAIT_MS)
    assert page.select_deduction(open_id)
    qtbot.wait(300)
    save_shot(window, SHOTS, "月度结算.png")
    figures = [name for name, label in page.figures.items() if label.text() == "—" or not readable(label)]
    assert figures == []
    assert readable(page.status_label) and readable(page.deadline_summary)
    for button in (page.build_button, page.export_button, page.upload_button, page.answer_button,
                   page.dispute_button):
        assert fully_visible(button), button.objectName()
    assert fully_visible(page.deadline_table) and clipped_headers(page.deadline_table.horizontalHeader()) == []
    assert readable(page.deduction_detail)
