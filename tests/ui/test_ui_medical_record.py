"""病案首页补齐 in the window (`003 §16`: 病案首页可在7天内补齐): the 月度结算 page lists each Guangdong
settlement whose 病案首页 is not marked, a cashier marks it there (病案首页已补齐) or on the 结算单
page, and the row leaves the deadlines — through the real main window, its pages and the database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.db.models import AuditEvent
from app.masking import mask_id_number
from app.operators import OperatorInfo
from tests.claims.claim_fixtures import id_number, settle_stay
from tests.ui.workflow_fixtures import WAIT_MS, WindowFactory, make_window  # noqa: F401 - fixtures
from ui.qt import QLabel, QPushButton, Qt, QWidget

pytestmark = pytest.mark.gui

TODAY = dt.date(2026, 9, 29)  # the day after the deadline of a Friday 18 Sep settlement (中秋节 moved it)
Operators = Callable[[CounterContext, str], OperatorInfo]


def _mnemonics(page: QWidget) -> list[str]:
    texts = [b.text() for b in page.findChildren(QPushButton)] + [label.text() for label in page.findChildren(QLabel)]
    return [m.upper() for text in texts for m in re.findall(r"&(\w)", text)]


def _rows(table) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_a_cashier_marks_the_medical_record_and_the_deadline_goes(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Operators, make_window: WindowFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cashier = operator_of(demo_ctx, "cashier")
    with demo_ctx.transaction() as session:
        first = settle_stay(session, cashier.id, settled=dt.date(2026, 9, 18), name="周病案", serial=720001).id
        second = settle_stay(session, cashier.id, settled=dt.date(2026, 9, 22), name="沈首页", serial=720002).id
    monkeypatch.setattr("ui.pages.claims_page.business_today", lambda: TODAY)
    window = make_window(demo_ctx, "cashier")
    page = window.claims_page
    qtbot.waitUntil(lambda: any(w.deadline.kind == "medical_record" for w in page.watched), timeout=WAIT_MS)

    # Listed with the 住院号, the patient (ID masked), the due date and the article; overdue in red.
    records = [row for row in _rows(page.deadline_table) if "病案首页待补齐" in row[2]]
    assert [row[0] for row in records] == ["2026-09-28", "2026-09-29"]
    assert records[0][1] == "逾期 1 个工作日" and records[1][1] == "今天截止"
    assert records[0][2].startswith(f"住院号 ZY720001 周病案（{mask_id_number(id_number(720001))}）")
    assert id_number(720001) not in records[0][2] and records[0][3] == "003 §16"
    assert "1 项已逾期" in window.status.deadline_label.text()

    # The button's letter is the page's own (申报月份 has &M here); nothing to mark until a row is chosen.
    assert page.medical_record_button.text() == "病案首页已补齐(&B)"
    assert _mnemonics(page).count("B") == 1
    assert not page.medical_record_button.isEnabled()
    assert page.select_deadline(first)
    assert page.medical_record_button.isEnabled()
    qtbot.mouseClick(page.medical_record_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(w.deadline.settlement_id != first for w in page.watched), timeout=WAIT_MS)
    assert page.deadline_message.text() == "已登记：住院号 ZY720001 周病案 的病案首页已补齐。"
    assert [w.deadline.settlement_id for w in page.watched if w.deadline.kind == "medical_record"] == [second]
    qtbot.waitUntil(lambda: "已逾期" not in window.status.deadline_label.text()
                    or not window.status.deadline_label.isVisible(), timeout=WAIT_MS)

    # The 结算单 page: the list says which 病案首页 is still open; 病案首页已补齐(&M) marks the chosen one.
    slips = window.slip_page
    window.show_page(window.stack.indexOf(slips))
    slips.listed = None  # the list as it is now, after the mark on the other page
    slips.reload()
    qtbot.waitUntil(lambda: slips.listed is not None, timeout=WAIT_MS)
    assert slips.medical_record_button.isVisible() and slips.medical_record_button.text() == "病案首页已补齐(&M)"
    assert _mnemonics(slips).count("M") == 1
    assert (slips.medical_record_state(first), slips.medical_record_state(second)) == ("已补齐", "待补齐")
    assert slips.select_settlement(first) and not slips.medical_record_button.isEnabled()  # already marked
    assert slips.select_settlement(second) and slips.medical_record_button.isEnabled()
    qtbot.keyClick(slips, Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)  # the mnemonic
    qtbot.waitUntil(lambda: slips.list_message.text() == "已登记：住院号 ZY720002 沈首页 的病案首页已补齐。",
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: slips.medical_record_state(second) == "已补齐", timeout=WAIT_MS)
    assert slips.selected_settlement_id() == second and not slips.medical_record_button.isEnabled()
    assert slips.medical_record_button.toolTip() == "所选结算的病案首页：已补齐"
    # The 月度结算 page heard of it: no 病案首页 left on its list.
    qtbot.waitUntil(lambda: not any(w.deadline.kind == "medical_record" for w in page.watched), timeout=WAIT_MS)
    with demo_ctx.transaction() as session:
        marked = session.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "medical_record_completed")
                                 .order_by(AuditEvent.id)).all()
    assert marked == [str(first), str(second)]
