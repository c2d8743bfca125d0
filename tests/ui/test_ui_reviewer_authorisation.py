"""审核员授权 in place (issue 20 §4): a cashier's 改判 waits for a reviewer (`003 §15`: the split follows the
recognition's injury diagnosis; a change against it is a reviewer's decision). The reviewer approves at the
cashier's window by typing their own login and password into the 审核员授权 dialog, which shows the line, the
cashier's reason and the amount — no logout. Wrong passwords count toward the lockout as at login; a cashier's
own credentials are refused; the audit names the reviewer and the cashier's session it was given at.

Driven through the real main window, the real dialog (found as the application's active modal widget) and
the real services; the centre is the sandbox over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.db.models import AuditEvent, ChargeLine, Operator
from app.operators import OperatorInfo
from app.slips import money_text
from tests.ui.artefacts import save_shot
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    WindowFactory,
    add_charges,
    admit_through_service,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD
from ui.main_window import MainWindow
from ui.pages.charges_dialogs import OverrideDialog
from ui.pages.charges_page import AWAITING_APPROVAL, ChargesPage
from ui.qt import QApplication, QLineEdit, QPushButton, Qt, QTimer, QWidget, is_valid
from ui.reviewer_authorisation import PendingApprovalsDialog, ReviewerAuthorisationDialog

WAIT_MS = 15_000
PASSWORD = "demo1234"  # the demo counter's operators
REASON = "复查用药与骨折无关"
TypeText = Callable[[QWidget, str], None]


def _click(qtbot: QtBot, widget: QWidget, name: str) -> None:
    button = widget.findChild(QPushButton, name)
    assert button is not None, name
    assert button.isVisible() and button.isEnabled(), f"{name} is not usable"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _charges(qtbot: QtBot, window: MainWindow, stay_id: int) -> ChargesPage:
    page = window.charges_page
    window.show_page(window.page_titles.index("费用与伤病分离"))
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.stay_id == stay_id and page.workspace is not None and not page.busy,
                    timeout=WAIT_MS)
    return page


def _override_first_line(qtbot: QtBot, page: ChargesPage, type_text: TypeText, row: int) -> int:
    page.table.selectRow(row)
    line_id = page.selected_lines()[0].line_id
    _click(qtbot, page, "overrideButton")
    dialog = page.last_dialog
    assert isinstance(dialog, OverrideDialog)
    type_text(dialog.reason_edit, REASON)
    _click(qtbot, dialog, "acceptButton")
    qtbot.waitUntil(lambda: not page.busy and "待审核员审核" in page.status_label.text(), timeout=WAIT_MS)
    return line_id


D = TypeVar("D", bound=QWidget)


def _modal(qtbot: QtBot, kind: type[D]) -> D:
    found: list[D] = []

    def look() -> None:  # from a timer, as a clerk would meet it: whatever modal window is up
        widget = QApplication.activeModalWidget()
        if isinstance(widget, kind) and widget.isVisible():
            found.append(widget)

    def seen() -> bool:
        QTimer.singleShot(0, look)
        return bool(found)

    qtbot.waitUntil(seen, timeout=WAIT_MS)
    return found[0]


def _closed(dialog: QWidget) -> bool:
    return not is_valid(dialog) or not dialog.isVisible()  # deleted on close


def _authorise(qtbot: QtBot, dialog: ReviewerAuthorisationDialog, login: str, password: str) -> None:
    dialog.login_edit.clear()
    dialog.password_edit.clear()
    qtbot.keyClicks(dialog.login_edit, login)
    qtbot.keyClicks(dialog.password_edit, password)
    _click(qtbot, dialog, "authoriseButton")
    qtbot.waitUntil(lambda: _closed(dialog) or not dialog.busy, timeout=WAIT_MS)


def _approver(ctx: CounterContext, line_id: int) -> int | None:
    with ctx.transaction() as session:
        line = session.get(ChargeLine, line_id)
        assert line is not None
        return line.override_approved_by


def _failed_logins(ctx: CounterContext, login: str) -> int:
    with ctx.transaction() as session:
        return session.scalars(select(Operator.failed_logins).where(Operator.login == login)).one()


def test_a_reviewer_approves_a_cashiers_override_at_the_cashiers_window(
        qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
        operator_of: Callable[[CounterContext, str], OperatorInfo], type_text: TypeText) -> None:
    ctx = centre_ctx
    cashier, reviewer = operator_of(ctx, "cashier"), operator_of(ctx, "reviewer")
    stay_id = admit_through_service(ctx, cashier, ZHANG_WEI_CARD, "ZY-AUTH-1")
    add_charges(ctx, cashier, stay_id)
    window = make_window(ctx, "cashier")
    window.resize(1366, 768)
    page = _charges(qtbot, window, stay_id)

    line_id = _override_first_line(qtbot, page, type_text, 0)
    line = next(line for line in page.workspace.lines if line.line_id == line_id)  # type: ignore[union-attr]
    assert line.awaiting_approval

    # The 待审核 filter of the lines table, and the 待审核 list: the cashier's reason in a column of its own.
    page.set_filter(page.bucket_filter, AWAITING_APPROVAL)
    assert page.model.rowCount() == 1 and page.model.line(0).line_id == line_id
    assert page.pending_button.text() == "待审核(1)"
    _click(qtbot, page, "pendingButton")
    listing = _modal(qtbot, PendingApprovalsDialog)
    assert listing.table.rowCount() == 1
    headers = [listing.table.horizontalHeaderItem(c).text() for c in range(listing.table.columnCount())]
    assert listing.table.item(0, headers.index("改判理由")).text() == REASON
    assert listing.table.item(0, headers.index("改判人")).text() == cashier.display_name
    assert listing.table.item(0, headers.index("金额")).text() == money_text(line.amount)
    save_shot(window, "reviewer-authorisation", "charges-page-awaiting-1366x768.png")
    save_shot(listing, "reviewer-authorisation", "pending-list.png")
    _click(qtbot, listing, "quitButton")
    qtbot.waitUntil(lambda: _closed(listing), timeout=WAIT_MS)

    # A cashier at the counter: 审核通过 is there and opens the 审核员授权 dialog (no logout).
    page.table.selectRow(0)
    _click(qtbot, page, "approveButton")
    dialog = _modal(qtbot, ReviewerAuthorisationDialog)
    assert dialog.windowTitle() == "审核员授权"
    cells = [dialog.table.item(0, c).text() for c in range(dialog.table.columnCount())]
    assert str(line.seq) in cells and line.name in cells and money_text(line.amount) in cells
    assert REASON in cells and cashier.display_name in cells
    assert money_text(line.amount) in dialog.amount_label.text()
    assert dialog.password_edit.echoMode() == QLineEdit.EchoMode.Password
    dialog.resize(dialog.sizeHint())
    save_shot(dialog, "reviewer-authorisation", "dialog.png")

    # A wrong password: refused, counted toward the lockout, nothing approved.
    before = _failed_logins(ctx, "reviewer")
    _authorise(qtbot, dialog, "reviewer", "not-the-password")
    assert dialog.isVisible() and "密码错误" in dialog.error.text()
    assert dialog.password_edit.text() == ""
    assert _failed_logins(ctx, "reviewer") == before + 1
    assert _approver(ctx, line_id) is None

    # A cashier's own credentials: a correct password, but no right to approve.
    _authorise(qtbot, dialog, "cashier", PASSWORD)
    assert dialog.isVisible() and "无权" in dialog.error.text()
    assert _approver(ctx, line_id) is None
    save_shot(dialog, "reviewer-authorisation", "dialog-refused.png")

    # The reviewer's password: approved in the reviewer's name, the cashier still at the window.
    _authorise(qtbot, dialog, "reviewer", PASSWORD)
    qtbot.waitUntil(lambda: _closed(dialog), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not page.busy and "已审核通过 1 条改判" in page.status_label.text(), timeout=WAIT_MS)
    assert _approver(ctx, line_id) == reviewer.id
    assert window.operator.login == "cashier"
    assert page.pending_button.text() == "待审核(0)"
    assert page.model.rowCount() == 0  # the 待审核 filter shows none left
    with ctx.transaction() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "classification_override_approved")
                                .order_by(AuditEvent.id.desc())).first()
        assert event is not None
        assert event.operator_id == reviewer.id
        assert event.detail["at_session_of"] == "cashier"
        assert event.detail["seqs"] == str(line.seq)
        login = session.scalars(select(AuditEvent).where(AuditEvent.action == "login",
                                                         AuditEvent.operator_id == reviewer.id)
                                .order_by(AuditEvent.id.desc())).first()
        assert login is not None and login.detail == {"channel": "reviewer_authorisation"}
    save_shot(window, "reviewer-authorisation", "charges-page-approved-1366x768.png")


def test_cancelling_the_authorisation_changes_nothing(
        qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
        operator_of: Callable[[CounterContext, str], OperatorInfo], type_text: TypeText) -> None:
    ctx = centre_ctx
    cashier = operator_of(ctx, "cashier")
    stay_id = admit_through_service(ctx, cashier, ZHANG_WEI_CARD, "ZY-AUTH-2")
    add_charges(ctx, cashier, stay_id)
    window = make_window(ctx, "cashier")
    page = _charges(qtbot, window, stay_id)
    line_id = _override_first_line(qtbot, page, type_text, 1)
    page.table.selectAll()  # the selection holds lines not waiting too: only the waiting one is shown
    _click(qtbot, page, "approveButton")
    dialog = _modal(qtbot, ReviewerAuthorisationDialog)
    assert dialog.table.rowCount() == 1
    _click(qtbot, dialog, "quitButton")
    qtbot.waitUntil(lambda: _closed(dialog), timeout=WAIT_MS)
    # From the 待审核 list as well: 审核通过… there leads to the same 审核员授权.
    _click(qtbot, page, "pendingButton")
    listing = _modal(qtbot, PendingApprovalsDialog)
    _click(qtbot, listing, "approveChosenButton")
    dialog = _modal(qtbot, ReviewerAuthorisationDialog)
    assert dialog.table.rowCount() == 1 and dialog.items[0].line_id == line_id
    qtbot.keyClicks(dialog.login_edit, "reviewer")
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    _click(qtbot, dialog, "quitButton")
    qtbot.waitUntil(lambda: _closed(dialog), timeout=WAIT_MS)
    qtbot.wait(200)
    assert not page.busy
    assert _approver(ctx, line_id) is None
    assert page.pending_button.text() == "待审核(1)"
