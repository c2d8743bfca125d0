"""The 月度结算 page: last month's figures and charts, building the claim, exporting the forms,
uploading with progress and cancel (a fake centre), the agency's answer, the deadlines (in the
page, the status bar and the navigation), the deductions and a dispute; a cashier's page is
read-only."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select, update

from app.bootstrap import CounterContext
from app.centre.gateway import ClaimReceipt, ClaimStatusReport
from app.claims.service import build_claim, list_claims, month_overview
from app.db.models import ClaimDeduction, ClaimEntry, ClaimStatus, DeductionDispute, MonthlyClaim
from app.operators import OperatorInfo
from app.slips import money_text
from tests.claims.claim_fixtures import medical_record_completed, seed_device_catalogue, settle_stay
from tests.ui.print_dialogs import answer
from tests.ui.workflow_fixtures import WAIT_MS, WindowFactory, make_window  # noqa: F401 - fixtures
from ui.pages.claims_chart import Bar
from ui.pages.claims_page import ClaimsPage
from ui.qt import Qt
from tests.signed_in import signed_in

pytestmark = pytest.mark.gui

TODAY = dt.date(2026, 12, 3)  # a Thursday: November has ended, its claim is due by 12-10
LAST_MONTH = "2026-11"
Operators = Callable[[CounterContext, str], OperatorInfo]


def _settle_month(ctx: CounterContext, operator_id: int) -> list[int]:
    """Four settlements in November (every care, three insured places), one in October; their
    details all uploaded, as the workflow does before it settles, and their 病案首页 completed
    (`003 §16`), so the only open deadlines are the claims'."""
    rows = [(dt.date(2026, 11, 5), "medical", "广州市"), (dt.date(2026, 11, 12), "rehab", "深圳市"),
            (dt.date(2026, 11, 20), "device", "长春市"), (dt.date(2026, 11, 24), "medical", "广州市"),
            (dt.date(2026, 10, 14), "medical", "湛江市")]
    with ctx.transaction() as session:
        seed_device_catalogue(session)
        settlements = [settle_stay(session, operator_id, settled=day, care=care, place=place)
                       for day, care, place in rows]
        for settlement in settlements:
            medical_record_completed(session, settlement, operator_id)
        return [settlement.id for settlement in settlements]


def _page(qtbot: QtBot, ctx: CounterContext, operator: OperatorInfo, **kwargs: object) -> ClaimsPage:
    page = ClaimsPage(ctx, operator, today=lambda: TODAY, **kwargs)  # type: ignore[arg-type]
    qtbot.addWidget(page)
    page.resize(1100, 900)
    page.show()
    qtbot.waitUntil(lambda: page.overview is not None and page.busy is None, timeout=WAIT_MS)
    return page


def _wait_idle(qtbot: QtBot, page: ClaimsPage) -> None:
    qtbot.waitUntil(lambda: page.busy is None, timeout=WAIT_MS)


def test_last_months_figures_and_charts(qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators) -> None:
    _settle_month(demo_ctx, operator_of(demo_ctx, "cashier").id)
    page = _page(qtbot, demo_ctx, operator_of(demo_ctx, "reviewer"))
    assert page.month == LAST_MONTH and page.month_combo.currentText() == "2026年11月"
    with demo_ctx.transaction() as session:
        overview = month_overview(session, LAST_MONTH)
    assert overview.settlements == 4
    assert page.month_label.text() == (
        f"本月出院结算 4 笔：医疗费总额 {money_text(overview.total)} 元，基金支付 {money_text(overview.fund_total)} 元，"
        f"个人支付 {money_text(overview.personal_total)} 元。")
    assert page.unclaimed_label.text().startswith("未申报结算：4 笔")
    # The charts draw what the overview says, bar for bar.
    assert page.category_chart.bars == tuple(Bar(b.label, None, b.total, b.fund_total) for b in overview.by_category)
    assert page.place_chart.bars == tuple(Bar(b.label, b.count, b.total, b.fund_total)
                                          for b in overview.by_insured_place)
    assert [bar.label for bar in page.place_chart.bars] == [b.label for b in overview.by_insured_place]
    assert {"广州市", "深圳市", "吉林省长春市"} == {bar.label for bar in page.place_chart.bars}
    guangzhou = next(bar for bar in page.place_chart.bars if bar.label == "广州市")
    assert guangzhou.count == 2
    # Each bar has its tooltip: hover its row once it has been drawn.
    page.place_chart.grab()
    row, first = page.place_chart._rows[0]
    assert page.place_chart.bar_at(row.center().x(), row.center().y()) == first
    assert f"医疗费总额 {money_text(first.total)} 元" in page.place_chart.bar_text(first)
    assert "人次" in page.place_chart.describe()
    # No claim yet: the status says so, the figures are blank.
    assert page.claim is None and page.status_label.text() == "尚未生成申请"
    assert page.figures["claimTotal"].text() == "—"

    # October: one settlement, no other.
    page.select_month("2026-10")
    qtbot.waitUntil(lambda: page.overview is not None and page.overview.month == "2026-10", timeout=WAIT_MS)
    assert page.month_label.text().startswith("本月出院结算 1 笔")
    assert [bar.label for bar in page.place_chart.bars] == ["湛江市"]


def test_reviewer_builds_the_claim_and_exports_the_forms(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators, tmp_path: Path,
) -> None:
    _settle_month(demo_ctx, operator_of(demo_ctx, "cashier").id)
    page = _page(qtbot, demo_ctx, operator_of(demo_ctx, "reviewer"))
    assert page.build_button.isEnabled() and not page.upload_button.isEnabled()
    qtbot.mouseClick(page.build_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.claim is not None, timeout=WAIT_MS)
    _wait_idle(qtbot, page)
    with demo_ctx.transaction() as session:
        [claim] = list_claims(session, LAST_MONTH)
    assert page.claim == claim
    assert claim.batch_no in page.batch_combo.currentText()
    assert page.batch_combo.currentText().startswith(f"{claim.batch_no}（第 1 批")
    assert page.status_label.text() == "已生成，未上传"
    assert page.message_label.text() == f"已生成结算批次 {claim.batch_no}：4 笔结算，人次 4。"
    assert page.figures["personTimes"].text() == "4"
    assert page.figures["claimTotal"].text() == f"{money_text(claim.total)} 元"
    assert page.figures["claimFund"].text() == f"{money_text(claim.fund_total)} 元"
    assert page.figures["claimPersonal"].text() == f"{money_text(claim.personal_total)} 元"
    assert page.figures["claimDeduction"].text() == "0.00 元"
    assert page.figures["claimFundSettled"].text() == f"{money_text(claim.fund_total)} 元"
    qtbot.waitUntil(lambda: page.unclaimed_label.text() == "未申报结算：0 笔。", timeout=WAIT_MS)
    assert page.upload_button.isEnabled() and page.export_button.isEnabled()
    assert not page.answer_button.isEnabled()

    # Building again changes nothing, and says so.
    qtbot.mouseClick(page.build_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.message_label.text().startswith("申请没有变化"), timeout=WAIT_MS)

    pytest.importorskip("printing.claim_forms")  # merged from its own branch
    out = tmp_path / "forms"
    out.mkdir()
    page.choose_folder = lambda: str(out)  # the folder dialog's answer
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(page.exported) == 6, timeout=30_000)
    _wait_idle(qtbot, page)
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 6 and all(name.startswith(claim.batch_no) for name in files)
    assert sorted(page.exported) == sorted(out.iterdir())
    assert sorted(p.suffix for p in out.iterdir()) == [".pdf"] * 3 + [".xlsx"] * 3
    assert page.message_label.text().startswith(f"已导出 6 个文件到 {out}")


def test_a_cashier_sees_the_page_read_only(qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators) -> None:
    _settle_month(demo_ctx, operator_of(demo_ctx, "cashier").id)
    build_claim(demo_ctx, LAST_MONTH, operator_of(demo_ctx, "reviewer"), today=TODAY)
    page = _page(qtbot, demo_ctx, operator_of(demo_ctx, "cashier"))
    qtbot.waitUntil(lambda: page.claim is not None, timeout=WAIT_MS)
    assert page.figures["personTimes"].text() == "4"  # cashiers see the figures
    for button in (page.build_button, page.export_button, page.upload_button, page.answer_button,
                   page.dispute_button):
        assert not button.isEnabled()
        assert button.toolTip() == "仅审核员可办理月度结算申报（当前角色：收款员）"
    read_only = page.findChild(type(page.month_label), "claimsReadOnly")
    assert read_only is not None and read_only.isVisible()
    page.build()  # even called directly, nothing happens
    assert page.busy is None
    assert page.month_combo.isEnabled() and page.refresh_button.isEnabled()


def _deadline_rows(page: ClaimsPage) -> list[list[str]]:
    table = page.deadline_table
    return [[table.item(row, column).text() for column in range(table.columnCount())] for row in range(table.rowCount())]


def test_the_overdue_list_and_the_windows_warning(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators, make_window: WindowFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """October's settlement is unclaimed past 11-10 (003 §21): overdue, in red; November's claim is
    due 12-10, five working days away: open but not yet a warning."""
    _settle_month(demo_ctx, operator_of(demo_ctx, "cashier").id)
    monkeypatch.setattr("ui.pages.claims_page.business_today", lambda: TODAY)
    window = make_window(demo_ctx, "cashier")
    page = window.claims_page
    status = window.status.deadline_label
    qtbot.waitUntil(lambda: status.isVisible(), timeout=WAIT_MS)
    assert status.text() == "月度结算：1 项已逾期"
    assert "2026年10月 月度结算申请（1 笔未申报）" in status.toolTip() and "003 §21" in status.toolTip()
    item = window.nav.item(window.page_titles.index("月度结算"))
    assert item.text() == "月度结算" and not item.icon().isNull()
    assert "月度结算：1 项已逾期" in item.toolTip() and "Ctrl+7" in item.toolTip()

    rows = _deadline_rows(page)
    assert rows == [
        ["2026-11-10", "逾期 17 个工作日", "2026年10月 月度结算申请（1 笔未申报）", "003 §21"],
        ["2026-12-10", "剩 5 个工作日", "2026年11月 月度结算申请（4 笔未申报）", "003 §21"],
    ]
    overdue = page.deadline_table.item(0, 1)
    assert overdue.foreground().color().name() == "#c62828" and overdue.font().bold()
    assert page.deadline_table.item(1, 1).font().bold() is False
    assert page.deadline_summary.text() == "未办事项 2 项：已逾期 1 项，即将到期 0 项。"

    # A click on the warning opens the page.
    qtbot.mouseClick(status, Qt.MouseButton.LeftButton)
    assert window.current_page_title() == "月度结算"

    # Claiming October (a reviewer, at another counter) clears the warning once the page looks again.
    build_claim(demo_ctx, "2026-10", operator_of(demo_ctx, "reviewer"), today=TODAY)
    with demo_ctx.transaction() as session:
        session.execute(update(MonthlyClaim).values(status=ClaimStatus.UPLOADED))
    page.reload()
    qtbot.waitUntil(lambda: not status.isVisible(), timeout=WAIT_MS)
    assert item.icon().isNull() and "已逾期" not in item.toolTip()
    assert [row[2] for row in _deadline_rows(page)] == ["2026年11月 月度结算申请（4 笔未申报）"]


def _deductions(ctx: CounterContext, reviewer: OperatorInfo) -> tuple[int, int]:
    """November claimed and answered, with two deductions: one notified today (open for dispute,
    due in 2 working days: a warning), one notified long ago (its window closed)."""
    from app.claims.calendar import load_calendar

    calendar = load_calendar(None)
    claim = build_claim(ctx, LAST_MONTH, reviewer, today=TODAY).claim
    with ctx.transaction() as session:
        record = session.get(MonthlyClaim, claim.claim_id)
        assert record is not None
        record.status = ClaimStatus.ANSWERED
        entries = session.scalars(select(ClaimEntry).where(ClaimEntry.claim_id == claim.claim_id)
                                  .order_by(ClaimEntry.id)).all()
        open_one = ClaimDeduction(claim_entry_id=entries[0].id, line_no=3, item_code="XB01AC06",
                                  item_name="阿司匹林肠溶片", amount=Decimal("15.00"), reason="与工伤无关的用药",
                                  notified_on=TODAY - dt.timedelta(days=12),
                                  dispute_due=calendar.add_working_days(TODAY, 2))
        closed = ClaimDeduction(claim_entry_id=entries[1].id, line_no=0, item_code=None, item_name=None,
                                amount=Decimal("20.00"), reason="超出备案范围",
                                notified_on=dt.date(2026, 11, 2), dispute_due=dt.date(2026, 11, 16))
        session.add_all([open_one, closed])
        session.flush()
        return open_one.id, closed.id


def test_deductions_and_a_dispute(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators,
    type_text: Callable[[object, str], None], tmp_path: Path,
) -> None:
    """`003 §20`: the dispute is recorded and sent online; with the centre unreachable (this demo
    counter has no sandbox running) it is 待提交, never shown as 已提交, and stays a deadline."""
    _settle_month(demo_ctx, operator_of(demo_ctx, "cashier").id)
    reviewer = operator_of(demo_ctx, "reviewer")
    open_id, closed_id = _deductions(demo_ctx, reviewer)
    page = _page(qtbot, demo_ctx, reviewer)
    qtbot.waitUntil(lambda: len(page.deductions) == 2, timeout=WAIT_MS)
    table = page.deduction_table
    cells = [[table.item(row, column).text() for column in range(table.columnCount())] for row in range(2)]
    by_item = {row[3]: row for row in cells}
    aspirin = by_item["阿司匹林肠溶片（明细 3）"]
    assert aspirin[1].startswith("工友") and "********" in aspirin[2]  # the ID number masked
    assert aspirin[4:] == ["15.00", "与工伤无关的用药", aspirin[6]]
    assert aspirin[6].startswith("还剩 2 个工作日")
    assert by_item["整笔结算"][6] == "异议期已过（2026-11-16 截止）"
    assert page.deduction_count.text() == "共 2 笔扣款，合计 35.00 元"
    # The dispute deadline is in the list of deadlines, due soon.
    assert any("阿司匹林肠溶片 扣款 15.00 元的异议" in row[2] and row[1].startswith("即将到期")
               for row in _deadline_rows(page))

    assert not page.dispute_button.isEnabled()  # nothing chosen yet
    page.select_deduction(closed_id)
    assert not page.dispute_button.isEnabled() and "异议期限已过" in page.dispute_button.toolTip()
    page.select_deduction(open_id)
    assert page.dispute_button.isEnabled()
    qtbot.mouseClick(page.dispute_button, Qt.MouseButton.LeftButton)
    dialog = page.dispute_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.deduction.deduction_id == open_id

    # Nothing typed: the dialog says what is missing and records nothing.
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.text() == "请填写异议理由（情况说明）。"
    type_text(dialog.statement_edit, "患者伤后高血压加重，用药见医嘱")
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.text() == "请至少附上一份证据材料。"
    front_page, ct = tmp_path / "病案首页.pdf", tmp_path / "CT-0312.jpg"
    front_page.write_bytes(b"%PDF-1.4 front page")
    ct.write_bytes(b"JPEG CT")
    dialog.choose_files = lambda: [str(front_page), str(ct)]
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert [dialog.evidence_list.item(i).text() for i in range(dialog.evidence_list.count())] == [
        "病案首页.pdf", "CT-0312.jpg"]
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.dispute_dialog is None, timeout=WAIT_MS)
    with demo_ctx.transaction() as session:
        dispute = session.scalars(select(DeductionDispute)).one()
        assert (dispute.deduction_id, dispute.evidence, dispute.filed_by) == (
            open_id, ["病案首页.pdf", "CT-0312.jpg"], reviewer.id)
        assert dispute.statement == "患者伤后高血压加重，用药见医嘱"
        assert dispute.state == "pending"  # the centre never received it
    assert "尚未送达经办机构" in page.message_label.text() and "已提交" not in page.message_label.text()
    qtbot.waitUntil(lambda: any(d.dispute is not None for d in page.deductions), timeout=WAIT_MS)
    page.select_deduction(open_id)
    # Not received: it may be sent again, and it is still a deadline to meet.
    assert page.dispute_button.isEnabled() and page.dispute_button.toolTip() == "异议尚未被经办机构受理，可重新提交"
    row = next(r for r in range(2) if table.item(r, 3).text().startswith("阿司匹林"))
    assert "待提交" in table.item(row, 6).text() and "已提交" not in table.item(row, 6).text()
    assert any("阿司匹林" in row[2] for row in _deadline_rows(page))


class FakeCentre:
    """Stands in for the centre client: records calls, sends chunks, honours should_stop, and
    keeps what it received (like the outbox) so a second upload resumes."""

    def __init__(self, chunks: int = 4, pause_after: int = 2) -> None:
        self.chunks = chunks
        self.pause_after = pause_after
        self.delivered: set[int] = set()
        self.calls: list[object] = []
        self.closed = 0
        self.paused = threading.Event()  # set when it waits after chunk `pause_after`
        self.go_on = threading.Event()

    def resolve_open(self) -> None:
        self.calls.append("resolve_open")

    def upload_claim(self, claim_no: str, period: str, settlement_ids: list[str], *, operator_id: int | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> ClaimReceipt:
        self.calls.append(("upload", claim_no, period, len(settlement_ids)))
        assert progress is not None and should_stop is not None
        progress(len(self.delivered), self.chunks)
        for number in range(1, self.chunks + 1):
            if number in self.delivered:
                continue
            if should_stop():
                return ClaimReceipt(claim_no, self.chunks, tuple(sorted(self.delivered)), "stopped")
            self.delivered.add(number)
            progress(len(self.delivered), self.chunks)
            if number == self.pause_after and not self.go_on.is_set():
                self.paused.set()
                assert self.go_on.wait(10)
        return ClaimReceipt(claim_no, self.chunks, tuple(sorted(self.delivered)), "submitted")

    def claim_status(self, claim_no: str) -> ClaimStatusReport:
        self.calls.append(("status", claim_no))
        return ClaimStatusReport(claim_no, LAST_MONTH, "audited", self.chunks, tuple(range(1, self.chunks + 1)), (),
                                 Decimal("0.00"), Decimal("0.00"))

    def close(self) -> None:
        self.closed += 1


def test_upload_progress_cancel_resume_and_answer(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators,
) -> None:
    _settle_month(demo_ctx, operator_of(demo_ctx, "cashier").id)
    reviewer = operator_of(demo_ctx, "reviewer")
    claim = build_claim(demo_ctx, LAST_MONTH, reviewer, today=TODAY).claim
    centre = FakeCentre()
    opened: list[str] = []

    def open_client(ctx: CounterContext, operator: OperatorInfo) -> FakeCentre:
        opened.append(operator.login)
        return centre

    page = _page(qtbot, demo_ctx, reviewer, open_client=open_client)
    qtbot.waitUntil(lambda: page.claim is not None, timeout=WAIT_MS)
    assert page.upload_button.text() == "上传(&U)" and page.upload_button.isEnabled()
    answer("上传")  # the confirmation (issue 20 §11); 继续上传 below does not ask again
    qtbot.mouseClick(page.upload_button, Qt.MouseButton.LeftButton)
    assert centre.paused.wait(10)
    qtbot.waitUntil(lambda: page.progress_label.text() == "分片 2/4", timeout=WAIT_MS)
    assert page.progress.isVisible() and (page.progress.value(), page.progress.maximum()) == (2, 4)
    assert page.progress.text() == "分片 2/4"
    assert page.cancel_button.isVisible() and page.cancel_button.isEnabled()
    assert not page.build_button.isEnabled() and not page.month_combo.isEnabled()

    qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    assert not page.cancel_button.isEnabled()
    assert page.progress_label.text() == "正在停止：当前分片上传完后暂停…"
    centre.go_on.set()  # chunk 2's reply arrives; the upload stops before chunk 3
    qtbot.waitUntil(lambda: page.last_upload is not None, timeout=WAIT_MS)
    _wait_idle(qtbot, page)
    assert page.last_upload is not None and page.last_upload.stopped
    assert (page.last_upload.chunks_done, page.last_upload.chunks) == (2, 4)
    assert page.message_label.text() == (
        "上传已暂停：已上传 2/4 个分片。按“继续上传”从中断处继续，已上传的分片不会重复。")
    assert not page.progress.isVisible() and not page.cancel_button.isVisible()
    qtbot.waitUntil(lambda: page.upload_button.text() == "继续上传(&U)", timeout=WAIT_MS)
    assert page.status_label.text() == "上传中（可续传），已上传分片 2/4"
    assert centre.delivered == {1, 2} and centre.closed == 1

    qtbot.mouseClick(page.upload_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_upload is not None and page.last_upload.completed, timeout=WAIT_MS)
    _wait_idle(qtbot, page)
    assert centre.delivered == {1, 2, 3, 4} and centre.closed == 2
    assert centre.calls == ["resolve_open", ("upload", claim.batch_no, LAST_MONTH, 4)] * 2
    assert page.message_label.text() == f"上传完成：结算批次 {claim.batch_no} 共 4 个分片，等待经办机构审核。"
    qtbot.waitUntil(lambda: page.status_label.text().startswith("已上传，待审核"), timeout=WAIT_MS)
    assert not page.upload_button.isEnabled() and page.answer_button.isEnabled()

    qtbot.mouseClick(page.answer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_answer is not None, timeout=WAIT_MS)
    _wait_idle(qtbot, page)
    assert page.message_label.text().startswith(f"审核结果（结算批次 {claim.batch_no}）：已审核；扣款 0 条")
    # The fake answers with no lines: the page shows where the answer and the claim disagree.
    assert page.problems_label.isVisible() and "中心的审核结果中没有结算记录" in page.problems_label.text()
    qtbot.waitUntil(lambda: page.status_label.text().startswith("已审核"), timeout=WAIT_MS)
    assert opened == ["reviewer"] * 3 and centre.closed == 3


def test_a_refused_build_is_said_on_the_page(qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators) -> None:
    """September has no settlement: the service refuses, the page says why in Chinese."""
    page = _page(qtbot, demo_ctx, operator_of(demo_ctx, "reviewer"))
    page.select_month("2026-09")
    qtbot.waitUntil(lambda: page.overview is not None and page.overview.month == "2026-09", timeout=WAIT_MS)
    assert page.category_chart.bars == () and page.place_chart.bars == ()
    assert page.category_chart.describe() == "按费用类别：本月没有出院结算"
    qtbot.mouseClick(page.build_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.error_label.isVisible(), timeout=WAIT_MS)
    assert page.error_label.text() == "未生成申请：2026-09 没有可申报的结算记录（该月没有出院结算，或都已申报）"
    assert page.busy is None and page.build_button.isEnabled()


def test_a_database_without_the_institution_is_said_not_crashed(qtbot: QtBot, empty_ctx: CounterContext) -> None:
    from app.db.models import Role

    page = ClaimsPage(empty_ctx, signed_in(OperatorInfo(1, "reviewer", "李审核", Role.REVIEWER)), today=lambda: TODAY)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.error_label.isVisible(), timeout=WAIT_MS)
    assert page.error_label.text() == "未能读取月度结算：数据库中还没有登记本机构，不能生成月度结算申请"
    qtbot.waitUntil(lambda: page.deadline_summary.text() == "没有未办的截止事项。", timeout=WAIT_MS)
    assert not page.build_button.isEnabled() and page.busy is None


def test_beijing_lists_the_agencys_20th_and_keeps_the_calendar_warning(
        qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators) -> None:
    """`000 §31` / `001 §33`: in Beijing the hospital uploads promptly (及时); the 20th is the district
    agency's date, shown as such — never overdue, never a warning. The deadlines of December reach
    2027, whose 调休 arrangement is not imported: the page says so, and still says so after the
    hourly look at the deadlines."""
    from app.settings import CLAIMS_PROFILE

    demo_ctx.settings.set(CLAIMS_PROFILE, "beijing-cross")
    _settle_month(demo_ctx, operator_of(demo_ctx, "cashier").id)
    page = _page(qtbot, demo_ctx, operator_of(demo_ctx, "reviewer"))
    qtbot.waitUntil(lambda: page.deadline_table.rowCount() == 2, timeout=WAIT_MS)
    assert _deadline_rows(page) == [
        ["2026-11-20", "经办机构日期，本院应及时申请", "2026年10月 经办机构上传月度结算信息", "001 §33"],
        ["2026-12-21", "经办机构日期，本院应及时申请", "2026年11月 经办机构上传月度结算信息", "001 §33"],
    ]
    assert "经办机构于11月20日前上传月度结算信息" in page.deadline_table.item(0, 1).toolTip()
    assert not page.deadline_table.item(0, 1).font().bold()
    assert page.deadline_summary.text() == "未办事项 2 项：已逾期 0 项，即将到期 0 项。"
    assert page.deadline_error.isVisible() and "2027 年的调休安排" in page.deadline_error.text()
    page.check_deadlines()
    qtbot.wait(300)
    qtbot.waitUntil(lambda: page.deadline_table.rowCount() == 2, timeout=WAIT_MS)
    assert page.deadline_error.isVisible() and "2027 年的调休安排" in page.deadline_error.text()
