"""The 费用与伤病分离 page driven through its real widgets on a demo counter (issue 6 item 3).

The split follows the recognition's injury diagnosis (`003 §15`, `000 六(二)`); out-of-catalogue
lines are marked for the duty to inform (`003 §15`); a HIS file with a bad row is refused whole.
The centre is the real sandbox over HTTP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.composition import open_counter_centre
from app.db.models import ChargeLine, Role
from app.operators import OperatorInfo
from app.rules.settlement import FUND, NON_INJURY, OVER_LIMIT
from app.secret_store import CENTRE_KEY, set_secret
from app.settings import CENTRE_READ_TIMEOUT_SECONDS, CENTRE_URL
from tests.centre.client_fixtures import SANDBOX_KEY, SandboxProcess, admission_of, centre_today, start_sandbox
from tests.workflow.separation_helpers import add_lines, operator, sync_local_catalogue, zhang_wei_stay
from app.workflow.code_map import set_mapping
from app.demo.his_samples import sample_lines, write_csv
from ui.pages.charges_dialogs import (
    BadRowsDialog,
    CodeMapDialog,
    DiagnosisDialog,
    DifferencesDialog,
    ManualLineDialog,
    OverrideDialog,
    RefundDialog,
    to_qdate,
)
from ui.pages.charges_page import ChargesPage
from ui.qt import QLabel, QPushButton, Qt, QWidget

TIMEOUT = 20_000


@pytest.fixture
def sandbox_centre(tmp_path: Path) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path / "sandbox-data")
    yield process
    process.stop()


@pytest.fixture
def counter(demo_ctx: CounterContext, sandbox_centre: SandboxProcess) -> CounterContext:
    """The demo counter talking to the sandbox (the demo hospital's key in the keyring)."""
    set_secret(CENTRE_KEY, SANDBOX_KEY)
    demo_ctx.settings.set(CENTRE_URL, sandbox_centre.url)
    demo_ctx.settings.set(CENTRE_READ_TIMEOUT_SECONDS, 5)
    return demo_ctx


def _admitted_stay(ctx: CounterContext, lines: int, admission_no: str) -> int:
    """张伟 admitted with the sandbox (S82.201 injury, I10 not), the local catalogue synced, `lines` lines."""
    client = open_counter_centre(ctx, ("cashier", "张收款"))
    try:
        registration = client.register_admission(admission_of(admission_no=admission_no))
        sync_local_catalogue(ctx, client)
    finally:
        client.close()
    with ctx.transaction() as session:
        clerk = operator(session, "cashier", Role.CASHIER)
        stay_id = zhang_wei_stay(session, clerk.id, admitted=centre_today(), registration_no=registration.registration_no,
                                 admission_no=admission_no)
        if lines:
            add_lines(session, stay_id, lines, clerk.id, day=centre_today())
            for his_code in ("HIS-03", "HIS-13"):  # confirmed outside the catalogue (003 §27): the lines may go up
                set_mapping(session, clerk, "1号窗口", his_code, None)
    return stay_id


def _page(qtbot: QtBot, ctx: CounterContext, actor: OperatorInfo, stay_id: int) -> ChargesPage:
    page = ChargesPage(ctx, actor)
    qtbot.addWidget(page)
    page.resize(1400, 900)
    page.show()
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.workspace is not None and page.workspace.stay_id == stay_id and not page.busy,
                    timeout=TIMEOUT)
    return page


def _click(qtbot: QtBot, widget: QWidget, name: str) -> None:
    button = widget.findChild(QPushButton, name)
    assert button is not None, name
    assert button.isEnabled(), f"{name} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _amount(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def _settled(qtbot: QtBot, page: ChargesPage) -> None:
    qtbot.waitUntil(lambda: not page.busy, timeout=TIMEOUT)


def test_import_refused_then_fixed_classify_override_and_the_centre_agrees(
        qtbot: QtBot, tmp_path: Path, counter: CounterContext,
        operator_of: Callable[[CounterContext, str], OperatorInfo], type_text: Callable[[QWidget, str], None]) -> None:
    """A GBK export with one bad row is refused whole (the dialog names the row); the fixed file is imported;
    a group of lines is put under the non-injury diagnosis I10 and one line overridden back to injury with a
    reason: the matrix's rows move (`003 §15`); the sandbox's pre-settlement agrees to the fen."""
    stay_id = _admitted_stay(counter, 0, "ZY-UI-1")
    page = _page(qtbot, counter, operator_of(counter, "reviewer"), stay_id)
    assert page.model.rowCount() == 0
    lines = sample_lines(120, start=centre_today(), days=1)
    good = write_csv(tmp_path / "住院费用.csv", lines)  # GBK, as most HIS export
    rows = good.read_bytes().decode("gbk").split("\r\n")
    cells = rows[3].split(",")
    cells[7] = "2026-13-45"  # file row 4 (header = row 1): no such date
    rows[3] = ",".join(cells)
    bad = tmp_path / "住院费用-有误.csv"
    bad.write_bytes("\r\n".join(rows).encode("gbk"))

    page.choose_file = lambda: str(bad)
    _click(qtbot, page, "importButton")
    qtbot.waitUntil(lambda: isinstance(page.last_dialog, BadRowsDialog), timeout=TIMEOUT)
    dialog = page.last_dialog
    listed = [(dialog.table.item(r, 0).text(), dialog.table.item(r, 2).text()) for r in range(dialog.table.rowCount())]
    assert [row for row, _ in listed] == ["4"] and "2026-13-45" in listed[0][1]
    _click(qtbot, dialog, "acceptButton")
    _settled(qtbot, page)
    with counter.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ChargeLine).where(ChargeLine.stay_id == stay_id)) == 0
    assert page.model.rowCount() == 0

    page.choose_file = lambda: str(good)
    _click(qtbot, page, "importButton")
    qtbot.waitUntil(lambda: page.model.rowCount() == 120 and not page.busy, timeout=TIMEOUT)
    assert "新增 120 条" in page.status_label.text()
    assert any(page.model.line(row).match_status == "unmatched" for row in range(120))  # hospital-only codes
    fund_before = page.matrix.cell_text(FUND, None)
    non_injury_before = page.matrix.cell_text(NON_INJURY, None)

    page.set_filter(page.dept_filter, "骨科")
    page.set_filter(page.bucket_filter, FUND)
    shown = page.model.rowCount()
    assert 2 < shown < 120 and all(page.model.line(row).dept == "骨科" for row in range(shown))
    page.table.selectRow(0)
    page.table.selectionModel().select(page.model.index(1, 0), page.table.selectionModel().SelectionFlag.Select
                                       | page.table.selectionModel().SelectionFlag.Rows)
    chosen_ids = page.selected_line_ids()
    assert len(chosen_ids) == 2
    _click(qtbot, page, "assignButton")
    dialog = page.last_dialog
    assert isinstance(dialog, DiagnosisDialog)
    dialog.combo.setCurrentIndex(dialog.combo.findData("I10"))
    _click(qtbot, dialog, "acceptButton")
    _settled(qtbot, page)
    assert "已将 2 条明细归入诊断 I10" in page.status_label.text()
    assert page.workspace is not None
    moved = [line for line in page.workspace.lines if line.line_id in chosen_ids]
    assert [(line.follows, line.bucket) for line in moved] == [("I10 原发性高血压", NON_INJURY)] * 2
    assert page.model.rowCount() == shown - 2  # they left the 基金 filter
    non_injury_after = page.matrix.cell_text(NON_INJURY, None)
    assert _amount(non_injury_after) > _amount(non_injury_before)
    assert _amount(page.matrix.cell_text(FUND, None)) < _amount(fund_before)

    page.set_filter(page.dept_filter, "__all__")
    page.set_filter(page.bucket_filter, NON_INJURY)
    in_catalogue = next(row for row in range(page.model.rowCount()) if not page.model.line(row).out_of_catalogue)
    page.table.selectRow(in_catalogue)
    chosen = page.selected_lines()
    assert len(chosen) == 1 and chosen[0].bucket == NON_INJURY
    _click(qtbot, page, "overrideButton")
    dialog = page.last_dialog
    assert isinstance(dialog, OverrideDialog)
    dialog.injury_radio.setChecked(True)
    _click(qtbot, dialog, "acceptButton")
    assert dialog.isVisible() and "理由" in dialog.error.text()  # no reason, no override
    type_text(dialog.reason_edit, "检验为骨折术后复查")
    _click(qtbot, dialog, "acceptButton")
    _settled(qtbot, page)
    line = next(line for line in page.workspace.lines if line.line_id == chosen[0].line_id)  # type: ignore[union-attr]
    assert line.bucket in (FUND, OVER_LIMIT) and line.override_reason == "检验为骨折术后复查" and line.override_approved
    assert _amount(page.matrix.cell_text(NON_INJURY, None)) < _amount(non_injury_after)

    page.set_filter(page.bucket_filter, "__all__")
    # 目录对照 (003 §27): the hospital-only codes confirmed outside the catalogue, so that every line may go up.
    while unmatched := [row for row in range(page.model.rowCount()) if page.model.line(row).match_status == "unmatched"]:
        page.table.selectRow(unmatched[0])
        _click(qtbot, page, "mapCodeButton")
        dialog = page.last_dialog
        assert isinstance(dialog, CodeMapDialog)
        dialog.outside.setChecked(True)
        _click(qtbot, dialog, "acceptButton")
        _settled(qtbot, page)
    page.discharge_date.setDate(to_qdate(centre_today()))  # the lines are dated the centre's today
    _click(qtbot, page, "preSettleButton")
    qtbot.waitUntil(lambda: page.last_differences is not None and not page.busy, timeout=60_000)
    assert page.last_differences == []
    assert "一致" in page.centre_label.text()
    assert page.last_figures is not None and page.workspace is not None and page.workspace.preview is not None
    assert page.last_figures.total == page.workspace.preview.total
    assert all(line.uploaded for line in page.workspace.lines)


def test_a_cashiers_override_waits_for_approval_and_the_reviewer_sees_the_button(
        qtbot: QtBot, counter: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo],
        type_text: Callable[[QWidget, str], None]) -> None:
    stay_id = _admitted_stay(counter, 20, "ZY-UI-2")
    cashier_page = _page(qtbot, counter, operator_of(counter, "cashier"), stay_id)
    # A cashier sees 审核通过 (it asks for a reviewer's password in place, issue 20); nothing waits yet.
    assert cashier_page.approve_button.isVisible()
    cashier_page.table.selectRow(0)
    assert not cashier_page.approve_button.isEnabled()
    _click(qtbot, cashier_page, "overrideButton")
    dialog = cashier_page.last_dialog
    assert isinstance(dialog, OverrideDialog)
    type_text(dialog.reason_edit, "非骨折相关用药")
    _click(qtbot, dialog, "acceptButton")
    _settled(qtbot, cashier_page)
    assert "待审核员审核" in cashier_page.status_label.text()
    problems = [cashier_page.problems_list.item(i).text() for i in range(cashier_page.problems_list.count())]
    assert any("1 条改判等待审核员审核" in p for p in problems)

    reviewer_page = _page(qtbot, counter, operator_of(counter, "reviewer"), stay_id)
    assert reviewer_page.approve_button.isVisible()
    reviewer_page.set_filter(reviewer_page.bucket_filter, NON_INJURY)
    reviewer_page.table.selectAll()
    _click(qtbot, reviewer_page, "approveButton")
    _settled(qtbot, reviewer_page)
    assert "已审核通过 1 条改判" in reviewer_page.status_label.text()


def test_differences_with_the_centre_are_listed_line_by_line(
        qtbot: QtBot, counter: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo]) -> None:
    """A local catalogue price limit that differs from the centre's: the pre-settlement's disagreement is shown
    for each line it touches, never hidden."""
    stay_id = _admitted_stay(counter, 10, "ZY-UI-3")
    with counter.transaction() as session:
        from app.db.models import CatalogueItem

        item = session.scalars(select(CatalogueItem).where(CatalogueItem.code == "XJ01DC02")).one()
        item.price_limit = Decimal("8.00")  # the centre's limit is 8.50: seq 1 and 6 (8.50 each) differ
    page = _page(qtbot, counter, operator_of(counter, "cashier"), stay_id)
    page.discharge_date.setDate(to_qdate(centre_today()))
    _click(qtbot, page, "preSettleButton")
    qtbot.waitUntil(lambda: page.last_differences is not None and not page.busy, timeout=60_000)
    assert page.last_differences
    dialog = page.last_dialog
    assert isinstance(dialog, DifferencesDialog)
    rows = {(dialog.table.item(r, 0).text(), dialog.table.item(r, 1).text()) for r in range(dialog.table.rowCount())}
    assert {("1", "分类"), ("1", "基金支付"), ("6", "分类"), ("6", "个人支付")} <= rows
    assert ("汇总", "超限价自付金额·药品费用") in rows
    assert all(seq in ("汇总", "1", "6") for seq, _ in rows)  # nothing else differs
    assert "不一致" in page.centre_label.text()


def test_lines_table_has_no_item_widgets_and_holds_a_big_stay(
        qtbot: QtBot, counter: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo]) -> None:
    with counter.transaction() as session:
        clerk = operator(session, "cashier", Role.CASHIER)
        stay_id = zhang_wei_stay(session, clerk.id, admitted=dt.date(2026, 11, 1), admission_no="ZY-UI-BIG")
        add_lines(session, stay_id, 20_000, clerk.id, day=dt.date(2026, 11, 2))
    page = _page(qtbot, counter, operator_of(counter, "cashier"), stay_id)
    assert page.model.rowCount() == 20_000
    page.table.scrollToBottom()
    last = page.model.line(page.model.rowCount() - 1)
    assert last.seq == 20_000
    with counter.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ChargeLine).where(ChargeLine.stay_id == stay_id)) \
            == 20_000



def test_lines_by_hand_correct_refund_and_the_duty_to_inform(
        qtbot: QtBot, counter: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo],
        type_text: Callable[[QWidget, str], None]) -> None:
    """手工录入, 更正, 退费 through their dialogs (each audited by the charges service); 已告知患者 on an
    out-of-catalogue line clears its reminder (`003 §15`)."""
    with counter.transaction() as session:
        clerk = operator(session, "cashier", Role.CASHIER)
        stay_id = zhang_wei_stay(session, clerk.id, admitted=dt.date(2026, 11, 1), admission_no="ZY-UI-HAND")
        add_lines(session, stay_id, 10, clerk.id, day=dt.date(2026, 11, 2))
    page = _page(qtbot, counter, operator_of(counter, "cashier"), stay_id)

    _click(qtbot, page, "addLineButton")
    dialog = page.last_dialog
    assert isinstance(dialog, ManualLineDialog)
    type_text(dialog.his_code, "XB01AC06")
    type_text(dialog.name, "阿司匹林肠溶片")
    dialog.quantity.setText("10")
    type_text(dialog.unit_price, "0.50")
    dialog.charged_on.setDate(to_qdate(dt.date(2026, 11, 3)))
    dialog.diagnosis.setCurrentIndex(dialog.diagnosis.findData("S82.201"))
    type_text(dialog.reason, "HIS 漏传，按医嘱单补录")
    _click(qtbot, dialog, "acceptButton")
    _settled(qtbot, page)
    assert page.workspace is not None and len(page.workspace.lines) == 11
    added = page.workspace.lines[-1]
    assert (added.seq, added.code, added.amount, added.bucket) == (11, "XB01AC06", Decimal("5.00"), FUND)

    page.table.selectRow(10)
    _click(qtbot, page, "correctButton")
    dialog = page.last_dialog
    assert isinstance(dialog, ManualLineDialog) and dialog.original is not None and dialog.original.seq == 11
    dialog.quantity.setText("8")
    type_text(dialog.reason, "数量录错")
    _click(qtbot, dialog, "acceptButton")
    _settled(qtbot, page)
    assert page.workspace.lines[-1].amount == Decimal("4.00")

    page.table.selectRow(10)
    _click(qtbot, page, "refundButton")
    dialog = page.last_dialog
    assert isinstance(dialog, RefundDialog)
    dialog.quantity.setText("3")
    type_text(dialog.reason, "患者退药")
    _click(qtbot, dialog, "acceptButton")
    _settled(qtbot, page)
    refund = page.workspace.lines[-1]
    assert (refund.quantity, refund.refund_of_seq, refund.amount) == (Decimal("-3"), 11, Decimal("-1.50"))
    assert "退费，随原明细序号 11" in refund.reason

    outside = next(row for row in range(page.model.rowCount()) if page.model.line(row).out_of_catalogue)
    assert page.model.data(page.model.index(outside, 14)) == "目录外·未告知"
    page.table.selectRow(outside)
    _click(qtbot, page, "informedButton")
    _settled(qtbot, page)
    assert page.model.data(page.model.index(outside, 14)) == "目录外·已告知"
    assert "已记录 1 条目录外明细已告知患者" in page.status_label.text()

    # 目录对照 (003 §27): the unmatched HIS code confirmed outside the catalogue, for every line using it.
    unmatched = next(row for row in range(page.model.rowCount()) if page.model.line(row).match_status == "unmatched")
    his_code = page.model.line(unmatched).his_code
    page.table.selectRow(unmatched)
    _click(qtbot, page, "mapCodeButton")
    dialog = page.last_dialog
    assert isinstance(dialog, CodeMapDialog)
    _click(qtbot, dialog, "acceptButton")
    assert dialog.isVisible() and "目录编码" in dialog.error.text()  # neither a code nor 目录外 chosen
    dialog.outside.setChecked(True)
    _click(qtbot, dialog, "acceptButton")
    _settled(qtbot, page)
    assert all(line.match_status == "self_pay" for line in page.workspace.lines if line.his_code == his_code)
    problems = [page.problems_list.item(i).text() for i in range(page.problems_list.count())]
    assert not any("尚未对照目录" in p for p in problems)


def test_imported_lines_go_up_in_the_background_and_the_page_counts_them(
        qtbot: QtBot, tmp_path: Path, counter: CounterContext, sandbox_centre: SandboxProcess,
        operator_of: Callable[[CounterContext, str], OperatorInfo]) -> None:
    """Issue 25: after an import the final lines go up through the outbox while the clerk works on; the
    page shows what the centre holds, what waits (unmatched, 003 §27) and what it refused. The daily
    run (centre.upload_daily_at) sends what became final since."""
    from app.settings import CENTRE_UPLOAD_DAILY_AT
    from app.workflow.line_upload import upload_counts

    stay_id = _admitted_stay(counter, 0, "ZY-UI-25")
    page = _page(qtbot, counter, operator_of(counter, "cashier"), stay_id)
    page.choose_file = lambda: str(write_csv(tmp_path / "住院费用.csv", sample_lines(60, start=centre_today(), days=1)))
    _click(qtbot, page, "importButton")
    qtbot.waitUntil(lambda: page.model.rowCount() == 60 and not page.busy and page.uploads_running == 0,
                    timeout=TIMEOUT)
    with counter.transaction() as session:
        counts = upload_counts(session, stay_id)
    assert counts.uploaded > 0 and counts.pending > 0 and counts.uploaded + counts.pending == 60
    assert sandbox_centre.summary()["live_lines"] == counts.uploaded
    expected = f"结算中心：已上传 {counts.uploaded} 条，待上传 {counts.pending} 条"
    qtbot.waitUntil(lambda: page.upload_label.text() == expected, timeout=TIMEOUT)
    assert "已上传结算中心" in page.status_label.text()

    # The unmatched codes are confirmed outside the catalogue: the daily run sends their lines, once a day.
    with counter.transaction() as session:
        clerk = operator(session, "cashier", Role.CASHIER)
        for his_code in ("HZ-9001", "HZ-9002", "HZ-9003"):
            set_mapping(session, clerk, "1号窗口", his_code, None)
    counter.settings.set(CENTRE_UPLOAD_DAILY_AT, "02:00")
    assert not page.upload_daily_if_due(dt.datetime.combine(centre_today(), dt.time(1, 59)))
    assert page.upload_daily_if_due(dt.datetime.combine(centre_today(), dt.time(2, 0)))
    qtbot.waitUntil(lambda: page.uploads_running == 0, timeout=TIMEOUT)
    assert not page.upload_daily_if_due(dt.datetime.combine(centre_today(), dt.time(23, 0)))  # once a day
    with counter.transaction() as session:
        after = upload_counts(session, stay_id)
    assert after.uploaded > counts.uploaded and after.uploaded + after.pending == 60
    assert sandbox_centre.summary()["live_lines"] == after.uploaded
    expected = f"结算中心：已上传 {after.uploaded} 条，待上传 {after.pending} 条"
    qtbot.waitUntil(lambda: page.upload_label.text() == expected, timeout=TIMEOUT)


def test_a_long_status_after_an_import_does_not_widen_the_page_past_1366(
        qtbot: QtBot, tmp_path: Path, counter: CounterContext,
        operator_of: Callable[[CounterContext, str], OperatorInfo]) -> None:
    """Issue 20 §5: the status line (the file's name, the counts, the upload's outcome) has no break; as
    the label's width it widened the page past the screen (2,600 px in bench/workflow.py), so the right
    columns and buttons went off a 1366 px screen. The line takes the width it is given, the whole text
    is its tooltip."""
    stay_id = _admitted_stay(counter, 0, "ZY-UI-WIDE")
    page = _page(qtbot, counter, operator_of(counter, "cashier"), stay_id)
    page.resize(1366, 700)
    name = "张伟-住院费用明细-2026年住院期间全部项目-骨关节病区-HIS导出.csv"
    page.choose_file = lambda: str(write_csv(tmp_path / name, sample_lines(60, start=centre_today(), days=1)))
    _click(qtbot, page, "importButton")
    qtbot.waitUntil(lambda: page.model.rowCount() == 60 and not page.busy and page.uploads_running == 0,
                    timeout=TIMEOUT)
    qtbot.waitUntil(lambda: page.upload_label.text().startswith("结算中心"), timeout=TIMEOUT)
    qtbot.wait(100)  # the layout settles
    assert name in page.status_label.text() and "已上传结算中心" in page.status_label.text()
    assert page.minimumSizeHint().width() <= 1366
    assert page.width() == 1366
    assert page.status_label.toolTip() == page.status_label.text()
    # What shows is cut with "…" where the pane ends (cut mid-character it read as another text).
    label = page.status_label
    shown = QLabel.text(label)
    assert shown != label.text() and shown.endswith("…") and label.text().startswith(shown[:-1])
    assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
    assert page.upload_label.visibleRegion().boundingRect().width() >= page.upload_label.sizeHint().width()


def test_code_mapping_finds_the_catalogue_item_by_name_from_the_keyboard(
        qtbot: QtBot, counter: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo],
        type_text: Callable[[QWidget, str], None]) -> None:
    """目录对照 (003 §27, issue 20 §11): the clerk finds the catalogue item by what it is called, starting
    from the HIS item's own name; ↓ picks, Enter saves; Enter in the search box never saves a code
    nobody chose; every pending line of that HIS code takes the mapping and the page says only those."""
    with counter.transaction() as session:
        clerk = operator(session, "cashier", Role.CASHIER)
        stay_id = zhang_wei_stay(session, clerk.id, admitted=dt.date(2026, 11, 1), admission_no="ZY-UI-MAP")
        add_lines(session, stay_id, 10, clerk.id, day=dt.date(2026, 11, 2))
    page = _page(qtbot, counter, operator_of(counter, "cashier"), stay_id)
    assert page.workspace is not None
    unmatched = next(row for row in range(page.model.rowCount()) if page.model.line(row).match_status == "unmatched")
    line = page.model.line(unmatched)
    # The clerk's words (issue 20 §8): the table's 序号, not the file format's "seq".
    problems = [page.problems_list.item(i).text() for i in range(page.problems_list.count())]
    assert any("尚未对照目录" in p and f"序号 {line.seq}" in p for p in problems), problems
    assert not any("seq" in p for p in problems), problems
    page.table.selectRow(unmatched)
    _click(qtbot, page, "mapCodeButton")
    dialog = page.last_dialog
    assert isinstance(dialog, CodeMapDialog)
    # Opened on the HIS name: the catalogue item of that name is listed at once.
    assert dialog.search.text() == line.name and dialog.focusWidget() is dialog.search
    qtbot.waitUntil(lambda: dialog.shown_for == line.name, timeout=TIMEOUT)
    assert any(line.name in dialog.matches.item(i).text() for i in range(dialog.matches.count()))

    dialog.search.clear()
    type_text(dialog.search, "头孢曲松")
    qtbot.keyClick(dialog.search, Qt.Key.Key_Return)  # the search runs; nothing is saved
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.shown_for == "头孢曲松", timeout=TIMEOUT)
    assert dialog.matches.count() == 1 and "注射用头孢曲松钠" in dialog.matches.item(0).text() and "限价 6.20 元" in dialog.matches.item(0).text()
    assert "找到 1 项" in dialog.search_hint.text()
    assert dialog.catalogue_code.text() == ""  # listed, not chosen
    qtbot.keyClick(dialog.search, Qt.Key.Key_Down)
    assert dialog.focusWidget() is dialog.matches and dialog.catalogue_code.text() == "XJ01DD04"
    qtbot.keyClick(dialog.matches, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT)
    _settled(qtbot, page)
    same_code = [row for row in page.workspace.lines if row.his_code == line.his_code]
    assert same_code and all(row.code == "XJ01DD04" and row.match_status != "unmatched" for row in same_code)
    assert f"已保存目录对照 {line.his_code}：{len(same_code)} 条未上传明细按此对照" in page.status_label.text()

    # Nothing in the catalogue by that name: the clerk is told so and what to do.
    page.table.selectRow(unmatched)
    _click(qtbot, page, "mapCodeButton")
    dialog = page.last_dialog
    assert isinstance(dialog, CodeMapDialog)
    dialog.search.clear()
    type_text(dialog.search, "不存在的项目名")
    dialog.run_search()
    qtbot.waitUntil(lambda: "没有名称含“不存在的项目名”" in dialog.search_hint.text(), timeout=TIMEOUT)
    assert dialog.matches.count() == 0
    dialog.reject()


def test_every_button_of_the_page_is_reached_from_the_keyboard(
        qtbot: QtBot, counter: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo]) -> None:
    """Issue 20 §6: a mnemonic (Alt+letter) or a shortcut on every button of 费用与伤病分离, no letter
    used twice on the page nor taken from the menu bar's 文件(F) 窗口(W) 业务(B) 帮助(H)."""
    import re

    with counter.transaction() as session:
        clerk = operator(session, "cashier", Role.CASHIER)
        stay_id = zhang_wei_stay(session, clerk.id, admitted=dt.date(2026, 11, 1), admission_no="ZY-UI-KEYS")
    page = _page(qtbot, counter, operator_of(counter, "cashier"), stay_id)
    letters: list[str] = []
    for button in page.findChildren(QPushButton):
        found = re.search(r"&(\w)", button.text())
        assert found or not button.shortcut().isEmpty(), f"{button.objectName()} {button.text()!r}: no key"
        if found:
            letters.append(found.group(1).upper())
    assert len(letters) == len(set(letters)), sorted(letters)
    assert not set(letters) & {"F", "W", "B", "H"}, sorted(letters)
