"""Small defects seen on the clerk's walk (issue 20 §11): each shown through the real window."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.operators import OperatorInfo
from app.preaudit.model import Finding
from app.workflow.discharge_review import DischargeReview, ReviewItem
from tests.ui.workflow_fixtures import WAIT_MS, WindowFactory, centre_ctx, make_window, workflow_sandbox  # noqa: F401
from ui.widgets import ERROR_COLOUR

pytestmark = pytest.mark.gui
OperatorOf = Callable[[CounterContext, str], OperatorInfo]


def _zero_review(stay_id: int) -> DischargeReview:
    """A self-pay item without the patient's consent: a risk, but not the fund's money (0.00)."""
    finding = Finding(seq=3, rule="out_of_catalogue_uninformed", message="目录外项目未告知患者",
                      source="003 §15", amount_at_risk=Decimal("0.00"), advice="告知患者并记录")
    return DischargeReview(stay_id=stay_id, items=(ReviewItem(finding, "目录外项目未告知", "high", "高", None),))


def test_a_predicted_deduction_of_zero_is_not_a_red_warning(
    qtbot: QtBot, demo_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
) -> None:
    """预计扣款 ¥0.00 was shown in red on 出院结算 and 费用与伤病分离: zero is not a warning."""
    window = make_window(demo_ctx, "cashier")
    discharge = window.discharge_page
    discharge._review_generation = 1
    discharge._show_review(_zero_review(1), None, 1)
    amount = discharge.preaudit_table.item(0, 2)
    assert amount.text() == "¥0.00"
    assert amount.foreground().color().name() != ERROR_COLOUR
    assert ERROR_COLOUR not in discharge.preaudit_summary.styleSheet()
    assert "¥0.00" not in discharge.preaudit_summary.text()
    assert "待确认" in discharge.preaudit_summary.text()  # still to be confirmed before settling

    charges = window.charges_page
    charges._review_generation = 1
    charges.stay_id = 1
    charges._show_review(_zero_review(1), 1)
    assert ERROR_COLOUR not in charges.preaudit_label.styleSheet()
    assert "¥0.00" not in charges.preaudit_label.text()


def test_the_matrix_total_says_what_it_leaves_out(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
) -> None:
    """A line with a hospital-only code is not classified yet: the matrix total leaves it out, and says so."""
    import datetime as dt

    from app.workflow.charges import add_line
    from tests.centre.client_fixtures import centre_today
    from tests.ui.workflow_fixtures import add_charges, admit_through_service
    from tests.workflow.stay_fixtures import ZHANG_WEI_CARD

    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-SMALL-1")
    add_charges(centre_ctx, cashier, stay_id)
    with centre_ctx.transaction() as session:
        add_line(session, cashier, "窗口1", stay_id, his_code="HOSP-ONLY-77", name="院内自制敷料", category=None,
                 quantity=Decimal("2"), unit_price=Decimal("2.80"), charged_on=centre_today() - dt.timedelta(days=1),
                 diagnosis_code="S82.101", reason="HIS 漏传")
    window = make_window(centre_ctx, "cashier")
    page = window.charges_page
    window.show_page(window.page_titles.index("费用与伤病分离"))
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.workspace is not None and page.workspace.stay_id == stay_id, timeout=WAIT_MS)
    assert any(line.bucket is None for line in page.workspace.lines)
    assert "另有 1 条未分类明细共 5.60 元未计入合计" in page.totals_label.text()


def test_manual_entry_refuses_no_reason_no_diagnosis_and_a_date_before_admission(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: OperatorOf,
) -> None:
    """手工录入 took a line with no reason, no diagnosis and a date before the admission: each is
    refused in Chinese naming the field, in the dialog, and by the charges service."""
    import datetime as dt

    from app.db.models import Role
    from app.workflow.charges import add_line
    from app.workflow.common import WorkflowError
    from tests.workflow.separation_helpers import add_lines, operator, zhang_wei_stay
    from ui.pages.charges_dialogs import ManualLineDialog
    from ui.pages.charges_page import ChargesPage
    from ui.pages.workflow_widgets import to_qdate
    from ui.qt import QPushButton, Qt

    with demo_ctx.transaction() as session:
        clerk = operator(session, "cashier2", Role.CASHIER)
        stay_id = zhang_wei_stay(session, clerk.id, admitted=dt.date(2026, 11, 1), admission_no="ZY-SMALL-HAND")
        add_lines(session, stay_id, 3, clerk.id, day=dt.date(2026, 11, 2))
    actor = operator_of(demo_ctx, "cashier2")
    page = ChargesPage(demo_ctx, actor)
    qtbot.addWidget(page)
    page.show()
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.workspace is not None and not page.busy, timeout=WAIT_MS)
    qtbot.mouseClick(page.findChild(QPushButton, "addLineButton"), Qt.MouseButton.LeftButton)
    dialog = page.last_dialog
    assert isinstance(dialog, ManualLineDialog)
    dialog.his_code.setText("XB01AC06")
    dialog.name.setText("阿司匹林肠溶片")
    dialog.unit_price.setText("0.50")
    dialog.charged_on.setDate(to_qdate(dt.date(2026, 11, 3)))
    accept = dialog.findChild(QPushButton, "acceptButton")

    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "理由" in dialog.error.text()
    dialog.reason.setText("HIS 漏传")
    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "关联诊断" in dialog.error.text()
    dialog.diagnosis.setCurrentIndex(dialog.diagnosis.findData("S82.201"))
    dialog.charged_on.setDate(to_qdate(dt.date(2026, 10, 30)))
    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "费用日期" in dialog.error.text() and "2026-11-01" in dialog.error.text()

    # The service refuses the same, whoever calls it.
    values = dict(his_code="XB01AC06", name="阿司匹林肠溶片", category=None, quantity=Decimal("1"),
                  unit_price=Decimal("0.5"), charged_on=dt.date(2026, 11, 3), diagnosis_code="S82.201",
                  reason="HIS 漏传")
    for field, bad, word in (("reason", " ", "理由"), ("diagnosis_code", None, "关联诊断"),
                             ("charged_on", dt.date(2026, 10, 30), "费用日期")):
        with pytest.raises(WorkflowError, match=word), demo_ctx.transaction() as session:
            add_line(session, actor, "窗口1", stay_id, **{**values, field: bad})  # type: ignore[arg-type]


def test_a_settled_stay_reopened_shows_the_check_that_was_done(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, operator_of: OperatorOf,  # noqa: F811
) -> None:
    """A settled stay opened again (a new window, the next day) showed 出院备案复核 尚未核验."""
    from tests.ui.workflow_fixtures import CENTRE_WAIT_MS, add_charges, admit_through_service
    from tests.workflow.stay_fixtures import ZHANG_WEI_CARD

    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-SMALL-2")
    add_charges(centre_ctx, cashier, stay_id)
    first = make_window(centre_ctx, "cashier")
    page = first.discharge_page
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.settle_button.isEnabled(), timeout=WAIT_MS)
    page.settle_button.click()
    qtbot.waitUntil(lambda: not page.busy, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.verdict.headline.text().startswith("准予联网结算")
    first.close()

    again = make_window(centre_ctx, "cashier").discharge_page
    again.open_stay(stay_id)
    qtbot.waitUntil(lambda: again.picker.current_stay_id() == stay_id and again.settlement_id is not None,
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: again.verdict.check is not None, timeout=WAIT_MS)
    assert again.verdict.headline.text().startswith("准予联网结算"), again.verdict.headline.text()
    assert "核验于" in again.verdict.reasons.text()


def test_the_monthly_claim_upload_asks_first(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: OperatorOf,
) -> None:
    """上传 sent the month's claim to the agency on one click: now it asks, naming the batch and the
    amounts; 取消 (the default) sends nothing."""
    from app.claims.service import build_claim
    from app.slips import money_text
    from tests.ui.print_dialogs import answer
    from tests.ui.test_ui_claims_page import LAST_MONTH, TODAY, FakeCentre, _page, _settle_month
    from ui.qt import Qt

    _settle_month(demo_ctx, operator_of(demo_ctx, "cashier").id)
    reviewer = operator_of(demo_ctx, "reviewer")
    claim = build_claim(demo_ctx, LAST_MONTH, reviewer, today=TODAY).claim
    centre = FakeCentre(chunks=1)
    page = _page(qtbot, demo_ctx, reviewer, open_client=lambda ctx, operator: centre)
    qtbot.waitUntil(lambda: page.claim is not None, timeout=WAIT_MS)

    asked = answer("取消")
    qtbot.mouseClick(page.upload_button, Qt.MouseButton.LeftButton)
    [box] = asked.seen
    text = box.text() + box.informativeText()
    assert claim.batch_no in text and money_text(claim.fund_total) in text and f"{claim.person_times} 人次" in text
    qtbot.wait(200)
    assert centre.calls == [] and page.busy is None

    answer("上传")
    qtbot.mouseClick(page.upload_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_upload is not None and page.last_upload.completed, timeout=WAIT_MS)


def test_the_card_page_shows_the_recognition_and_the_filing(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
) -> None:
    """The 读卡 page showed who, but not the 工伤认定 or the 备案 the centre holds; an unknown token
    clears them with the person."""
    from tests.ui.workflow_fixtures import CENTRE_WAIT_MS
    from ui.qt import Qt

    window = make_window(centre_ctx, "cashier")
    card_page = window.card_page
    qtbot.keyClicks(card_page.scan_field, "ECARD-ZW-7F3A9C21")  # 张伟: local, filed at this hospital
    qtbot.keyClick(card_page.scan_field, Qt.Key.Key_Return)
    admission = window.admission_page
    qtbot.waitUntil(lambda: admission.person is not None, timeout=CENTRE_WAIT_MS)
    person = admission.person
    assert person is not None and person.recognitions and person.filings
    text = card_page.centre_label.text()
    assert card_page.centre_label.isVisible()
    assert "工伤认定" in text and person.recognitions[0].decision_no in text
    assert "备案" in text and person.filings[0].id in text

    qtbot.keyClicks(card_page.scan_field, "ECARD-XX-00000000")
    qtbot.keyClick(card_page.scan_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: admission.person is None, timeout=CENTRE_WAIT_MS)
    assert person.recognitions[0].decision_no not in card_page.centre_label.text()
