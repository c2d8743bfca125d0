"""The 月度结算 page's 预审 box (issue 10, part B): the claim's predicted deductions per stay and in total
before upload, the month's precision and recall per rule after the agency's answer (the real sandbox
centre, `003 §19` machine rules then hand audit, `003 §20` deductions), and the rules the agency keeps
contradicting with a reviewer's 停用 action; a cashier sees the figures but not the action."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.composition import open_workflow_centre
from app.db.models import ChargeCategory
from app.operators import OperatorInfo
from app.preaudit.ruleset import site_ruleset
from tests.ui.print_dialogs import answer
from tests.preaudit.month_fixtures import Line, answered_month, settle_last_month_with
from tests.ui.workflow_fixtures import CENTRE_WAIT_MS, WAIT_MS, centre_ctx, workflow_sandbox  # noqa: F401 - fixtures
from tests.ui.artefacts import save_shot
from ui.pages.claims_page import ClaimsPage
from ui.qt import QTableWidget, Qt, QWidget

pytestmark = pytest.mark.gui
Operators = Callable[[CounterContext, str], OperatorInfo]
T, D = ChargeCategory.TREATMENT, ChargeCategory.DRUG


def _rows(table: QTableWidget) -> list[list[str]]:
    return [[table.item(row, column).text() for column in range(table.columnCount())] for row in range(table.rowCount())]


def _shot(page: ClaimsPage, name: str) -> None:
    save_shot(page.preaudit_box, "preaudit", name)


def test_predicted_deductions_before_upload_then_precision_and_recall_after_the_answer(
    qtbot: QtBot, centre_ctx: CounterContext, workflow_sandbox, operator_of: Operators,  # noqa: F811
) -> None:
    cashier, reviewer = operator_of(centre_ctx, "cashier"), operator_of(centre_ctx, "reviewer")
    client = open_workflow_centre(centre_ctx, cashier)
    try:
        settle_last_month_with(centre_ctx, client, cashier, "黄丽", [
            Line(1, "XJ01DC02", "注射用头孢呋辛钠", D, "6", "8.50"),
            Line(2, "110900001", "床位费（三人间）", T, "1", "40.00"),
            Line(3, "110900001", "床位费（三人间）", T, "1", "40.00")])
        settle_last_month_with(centre_ctx, client, cashier, "赵建华", [
            Line(1, "120200002", "中换药", T, "1", "30.00"), Line(2, "120200002", "中换药", T, "1", "30.00")])
        settle_last_month_with(centre_ctx, client, cashier, "周强", [
            Line(1, "XM01AH01", "塞来昔布胶囊", D, "10", "3.80"), Line(2, "XJ01DC02", "注射用头孢呋辛钠", D, "2", "8.50")])
    finally:
        client.close()

    page = ClaimsPage(centre_ctx, reviewer)
    qtbot.addWidget(page)
    page.resize(1280, 1000)
    page.show()
    box = page.preaudit_box
    qtbot.waitUntil(lambda: page.overview is not None and page.busy is None, timeout=CENTRE_WAIT_MS)
    assert box.summary.text() == "生成申请后，这里显示每笔结算的预计扣款。" and not box.prediction_table.isVisible()

    qtbot.mouseClick(page.build_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: box.view is not None and box.view.prediction is not None, timeout=CENTRE_WAIT_MS)
    assert box.summary.text() == "上传前预审：预计经办机构扣款 70.00 元；2/3 笔结算有扣款风险（每条明细只计一次）。"
    assert box.prediction_table.isVisible() and not box.accuracy_table.isVisible()
    rows = _rows(box.prediction_table)
    assert [row[:4] for row in rows] == [["黄丽", rows[0][1], "40.00 元", "按日收费项目一天超过一次"],
                                         ["赵建华", rows[1][1], "30.00 元", "同一项目同日重复"]]
    assert rows[0][1].strip() and rows[0][1] != "—"  # the stay's 就医登记号
    assert "明细 3：" in box.prediction_table.item(0, 4).toolTip()
    _shot(page, "preaudit-before-upload.png")

    workflow_sandbox.admin("POST", "/admin/hand-audit", {"items": [
        {"code": "XM01AH01", "reason": "与工伤伤情无关，不予支付"}]})
    try:
        answer("上传")  # the confirmation before an upload (issue 20 §11)
        qtbot.mouseClick(page.upload_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.last_upload is not None and page.busy is None, timeout=CENTRE_WAIT_MS)
        qtbot.waitUntil(lambda: page.answer_button.isEnabled(), timeout=CENTRE_WAIT_MS)
        qtbot.mouseClick(page.answer_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.last_answer is not None and page.busy is None, timeout=CENTRE_WAIT_MS)
    finally:
        workflow_sandbox.admin("POST", "/admin/hand-audit", {"items": []})
    qtbot.waitUntil(lambda: box.view is not None and box.view.comparison is not None, timeout=CENTRE_WAIT_MS)
    # The bed's excess predicted and deducted; the dressing predicted, not deducted; celecoxib deducted by
    # hand, predicted by nothing and named by no rule.
    assert box.summary.text() == (
        "本月审核结果与预审对比：命中 1 条，误报 1 条，漏报 1 条；准确率 50%，召回率 50%。"
        "经办机构扣款中预审命中 40.00 元，未预测 38.00 元；预测未扣 30.00 元。")
    assert box.accuracy_table.isVisible() and not box.prediction_table.isVisible()
    assert _rows(box.accuracy_table) == [
        ["按日收费项目一天超过一次", "1", "0", "0", "100%", "100%", "40.00", "0.00", "0.00"],
        ["同一项目同日重复", "0", "1", "0", "0%", "—", "0.00", "30.00", "0.00"],
    ]
    [[item, line_no, amount, reason]] = _rows(box.unpredicted_table)
    assert (item, line_no, amount) == ("塞来昔布胶囊", "1", "38.00 元") and "与工伤伤情无关" in reason
    assert not box.contradicted_table.isVisible()  # one month is no pattern
    _shot(page, "preaudit-after-answer.png")


TODAY = dt.date(2026, 12, 3)
THREE_MONTHS = {  # repeated_same_day contradicted in September and October (003 §15 rules, 003 §20 deductions)
    "2026-09": [("repeated_same_day", False), ("repeated_same_day", False), ("daily_limit", True)],
    "2026-10": [("repeated_same_day", False), ("repeated_same_day", False), ("daily_limit", True)],
    "2026-11": [("repeated_same_day", True), ("daily_limit", True)],
}


def _page(qtbot: QtBot, ctx: CounterContext, operator: OperatorInfo) -> ClaimsPage:
    page = ClaimsPage(ctx, operator, today=lambda: TODAY)
    qtbot.addWidget(page)
    page.resize(1280, 1000)
    page.show()
    qtbot.waitUntil(lambda: page.preaudit_box.view is not None and page.preaudit_box.view.comparison is not None,
                    timeout=WAIT_MS)
    return page


def test_a_reviewer_switches_off_a_rule_the_agency_keeps_contradicting(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators, type_text: Callable[[QWidget, str], None],
) -> None:
    for month, lines in THREE_MONTHS.items():
        answered_month(demo_ctx, month, lines)
    page = _page(qtbot, demo_ctx, operator_of(demo_ctx, "reviewer"))
    box = page.preaudit_box
    assert page.month == "2026-11"
    assert _rows(box.accuracy_table)[0][:6] == ["按日收费项目一天超过一次", "1", "0", "0", "100%", "100%"]
    assert box.contradicted_table.isVisible() and box.adjust_button.isVisible()
    [[rule, state, explanation, suggestion]] = _rows(box.contradicted_table)
    assert rule == "同一项目同日重复（repeated_same_day）" and state == "启用"
    assert "近 3 个已审核月份中有 2 个月" in explanation and "这几个月共预测 4 条，实际扣款 0 条" in explanation
    assert "核对此规则的参数" in suggestion  # November confirmed it once: adjust rather than drop
    assert box.adjust_button.isEnabled() and box.adjust_button.text() == "停用规则(&J)…"
    _shot(page, "preaudit-contradicted.png")

    qtbot.mouseClick(box.adjust_button, Qt.MouseButton.LeftButton)
    dialog = box.adjust_dialog
    assert dialog is not None and dialog.windowTitle() == "停用预审规则"
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)  # no reason: refused here
    assert dialog.error_label.text() == "请填写调整理由。"
    type_text(dialog.reason_edit, "经办机构两个月未按此规则扣款")
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: box.adjust_dialog is None, timeout=WAIT_MS)
    assert box.message.text().startswith("已停用预审规则“同一项目同日重复”")
    assert not site_ruleset(demo_ctx.paths.config_dir).enabled("repeated_same_day")
    qtbot.waitUntil(lambda: box.contradicted_table.item(0, 1) is not None
                    and box.contradicted_table.item(0, 1).text() == "已停用", timeout=WAIT_MS)
    assert box.adjust_button.text() == "启用规则(&J)…"


def test_a_cashier_sees_the_comparison_but_not_the_rules_to_adjust(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators,
) -> None:
    for month, lines in THREE_MONTHS.items():
        answered_month(demo_ctx, month, lines)
    page = _page(qtbot, demo_ctx, operator_of(demo_ctx, "cashier"))
    box = page.preaudit_box
    assert box.accuracy_table.isVisible() and box.accuracy_table.rowCount() == 2
    assert not box.contradicted_table.isVisible() and not box.adjust_button.isVisible()
    box.open_adjust()  # even called directly, nothing opens
    assert box.adjust_dialog is None
