"""The window prints a cross-province stay's slip as its profile says (issue 23 §12): 出院结算's
打印结算单 (选择打印机…, Qt's real print dialog printing to a PDF file) and the 结算单 page both give
the 工伤保险跨省异地就医费用结算单 (`001 §35`), never Guangdong's 附表3, archived and logged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.db.models import PrintKind
from app.operators import OperatorInfo
from app.settings import SLIP_ARCHIVE_DIR
from app.slips import print_history
from tests import factories
from tests.slip_reader import read_slip, to_png
from tests.ui.artefacts import ARTEFACTS
from tests.ui.print_dialogs import pdf_text, picture_likeness, print_to_file
from tests.ui.workflow_fixtures import WAIT_MS, WindowFactory, make_window  # noqa: F401 - fixtures
from ui.pages.slip_page import SlipPage
from ui.qt import Qt

pytestmark = pytest.mark.gui

CASES = Path(__file__).resolve().parents[1] / "cases"
BEIJING = CASES / "beijing-cross-slip.json"
SAME_PICTURE = 0.6  # a printed page vs its document (tests/ui/print_dialogs.py)
OperatorOf = Callable[[CounterContext, str], OperatorInfo]


def _store_beijing_settlement(ctx: CounterContext, cashier: OperatorInfo) -> tuple[int, int]:
    with ctx.transaction() as session:
        settlement = factories.settled_case(session, BEIJING, operator_id=cashier.id, msgid="M-UI-BJ-1")
        return settlement.stay_id, settlement.id


def _settle_json() -> dict[str, str]:
    return json.loads(BEIJING.with_name("beijing-cross-slip.expected.json").read_text(encoding="utf-8"))["settle"]  # type: ignore[no-any-return]


def _check_cross_slip(pdf: bytes) -> None:
    settled = _settle_json()
    slip = read_slip(pdf)
    assert len(slip.copies) == 2
    for copy in slip.copies:
        text = "".join(copy.lines())
        assert "工伤保险跨省异地就医费用结算单" in text and "广东省工伤保险联网结算单" not in text
        assert copy.text_in(copy.right_of(copy.cell_with("患者姓名"))) == "赵某某"
        assert copy.text_in(copy.right_of(copy.cell_with("就医地"))) == "北京市"
        assert copy.text_in(copy.right_of(copy.cell_with("总费用"))) == settled["total"]
        assert copy.text_in(copy.right_of(copy.cell_with("基金支付合计"))) == settled["fund_total"]
        assert copy.text_in(copy.right_of(copy.cell_with("个人现金支付"))) == settled["personal_total"]
        assert "制单人：张收款" in text


def test_discharge_page_prints_the_cross_province_slip(
        qtbot: QtBot, demo_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
        operator_of: OperatorOf, tmp_path: Path) -> None:
    demo_ctx.settings.set(SLIP_ARCHIVE_DIR, str(tmp_path / "archive"))
    cashier = operator_of(demo_ctx, "cashier")
    stay_id, settlement_id = _store_beijing_settlement(demo_ctx, cashier)
    window = make_window(demo_ctx, "cashier")
    page = window.discharge_page
    window.show_page(window.page_titles.index("出院结算"))
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.picker.current_stay_id() == stay_id, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.settlement_id == settlement_id and page.print_button.isEnabled(), timeout=WAIT_MS)

    printed = tmp_path / "printed.pdf"
    dialog = print_to_file(printed)
    qtbot.mouseClick(page.choose_printer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_printed is not None, timeout=WAIT_MS)
    assert [type(d).__name__ for d in dialog.seen] == ["QPrintDialog"]
    assert page.last_printed is not None
    archived = page.last_printed.issued.archive_path
    assert picture_likeness(printed, archived) > SAME_PICTURE  # what reached the printer is the slip
    assert pdf_text(archived).count("工伤保险跨省异地就医费用结算单") == 2
    _check_cross_slip(archived.read_bytes())
    to_png(printed, ARTEFACTS / "discharge" / "cross-province-printed", dpi=60)
    with demo_ctx.transaction() as session:
        assert [h.kind for h in print_history(session, settlement_id)] == [PrintKind.ORIGINAL]


def test_slip_page_previews_the_cross_province_slip(
        qtbot: QtBot, demo_ctx: CounterContext, operator_of: OperatorOf, tmp_path: Path) -> None:
    demo_ctx.settings.set(SLIP_ARCHIVE_DIR, str(tmp_path / "archive"))
    cashier = operator_of(demo_ctx, "cashier")
    _, settlement_id = _store_beijing_settlement(demo_ctx, cashier)
    page = SlipPage(demo_ctx, cashier)
    qtbot.addWidget(page)
    page.open_settlement(settlement_id)
    qtbot.waitUntil(lambda: page.current_slip is not None and "原件" in page.mark_label.text(), timeout=10_000)
    assert page.current_slip is not None and page.current_slip.template == "cross-province"
    assert page._current is not None
    _check_cross_slip(page._current.pdf)  # the very PDF the page shows and would print
