"""The 入院登记 and 出院结算 pages when this counter's database fails around the centre's call (issue 21
§8): the clerk reads the storage failure's own message — that the centre registered / settled /
cancelled it, or that nothing was sent — never database text, and the page does not say 未登记 /
未结算 / 入院登记未改变 / 未补登记 when the centre did it.

The failure is made at the database boundary: SQLite's "database or disk is full" from the commit that
records the centre's answer, or from the write of the call before it is sent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.bootstrap import CounterContext
from app.sandbox.store import DATABASE_NAME
from app.composition import open_workflow_centre
from app.db.models import OutboxEntry, OutboxState
from app.operators import OperatorInfo
from devices.mock import MockBackend
from devices.virtual_card import VirtualCard
from tests.centre.client_fixtures import SandboxProcess
from tests.devices.people import ZHANG_WEI
from tests.ui.workflow_fixtures import (  # noqa: F401 - fixtures
    CENTRE_WAIT_MS,
    WAIT_MS,
    WindowFactory,
    add_charges,
    admit_through_service,
    centre_ctx,
    make_window,
    workflow_sandbox,
)
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD, centre_today
from tests.workflow.test_storage_failure import RAW
from app.workflow.discharge import issue_full_payment, settle_stay
from tests.ui.print_dialogs import answer
from ui.pages.admission_dialogs import RegistrationChangeDialog
from ui.pages.admission_page import AdmissionPage
from ui.qt import QApplication, Qt, QWidget, is_valid
from ui.reviewer_authorisation import ReviewerAuthorisationDialog

pytestmark = pytest.mark.gui

TypeText = Callable[[QWidget, str], None]
DISK_FULL = sqlite3.OperationalError("database or disk is full")


def _recorded(session: Session, operation: str) -> int:
    return int(session.scalar(select(func.count()).select_from(OutboxEntry).where(
        OutboxEntry.operation == operation, OutboxEntry.state == OutboxState.SUCCEEDED)) or 0)


@contextmanager
def disk_full_when_recording(ctx: CounterContext, operation: str) -> Iterator[None]:
    """The commit that records the centre's answer to the next call of `operation` meets a full disk (once)."""
    with ctx.transaction() as session:
        armed = [_recorded(session, operation)]

    def hook(session: Session) -> None:
        if armed and _recorded(session, operation) > armed[0]:
            armed.clear()
            raise OperationalError("COMMIT", {}, DISK_FULL)

    event.listen(Session, "before_commit", hook)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", hook)


@pytest.fixture
def disk_full_when_writing(centre_ctx: CounterContext) -> Iterator[None]:  # noqa: F811
    """The write of the 入院登记 call (before it is sent) meets a full disk."""
    def disk_full(conn: object, cursor: object, statement: str, parameters: object, context: object,
                  executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX_ENTRY") and "'2401'" in repr(parameters):
            raise OperationalError(statement, {}, DISK_FULL)

    event.listen(centre_ctx.engine, "before_cursor_execute", disk_full)
    try:
        yield
    finally:
        event.remove(centre_ctx.engine, "before_cursor_execute", disk_full)


def _at_centre(sandbox: SandboxProcess, infno: str) -> list[str]:
    connection = sqlite3.connect(sandbox.data / DATABASE_NAME)
    try:
        return [row[0] for row in connection.execute("SELECT outcome FROM call WHERE infno = ?", (infno,))]
    finally:
        connection.close()


def _register(qtbot: QtBot, window_factory: WindowFactory, ctx: CounterContext, type_text: TypeText,
              admission_no: str) -> AdmissionPage:
    backend = MockBackend()
    window = window_factory(ctx, "cashier", backend=backend)
    page = window.admission_page
    window.show_page(window.page_titles.index("入院登记"))
    backend.insert(VirtualCard(ZHANG_WEI))
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    qtbot.keyClicks(page.admission_no, admission_no)
    type_text(page.dept, "骨科一病区")
    qtbot.keyClicks(page.bed, "12")
    page.add_diagnosis("S82.201", "胫骨干骨折")
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    qtbot.mouseClick(page.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(page.form_error.text()), timeout=CENTRE_WAIT_MS)
    return page


def test_the_page_says_the_centre_registered_the_stay_when_the_database_fails_recording_it(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    with disk_full_when_recording(centre_ctx, "admission"):
        page = _register(qtbot, make_window, centre_ctx, type_text, "ZY-UI-DISK-1")
    shown = page.form_error.text()
    assert "磁盘空间已满" in shown and "结算中心已办理这笔入院登记" in shown and "重新启动" in shown, shown
    assert not any(word.lower() in shown.lower() for word in RAW), shown
    label = page.registration_label.text()
    assert not label.startswith("未登记") and "未能保存" in label, label  # the centre did register it
    assert _at_centre(workflow_sandbox, "2401") == ["applied"]


def test_the_page_says_nothing_was_sent_when_the_database_fails_before_the_call(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
    workflow_sandbox: SandboxProcess, disk_full_when_writing: None,  # noqa: F811
) -> None:
    page = _register(qtbot, make_window, centre_ctx, type_text, "ZY-UI-DISK-2")
    shown = page.form_error.text()
    assert "磁盘空间已满" in shown and "结算中心未办理" in shown, shown
    assert not any(word.lower() in shown.lower() for word in RAW), shown
    assert page.registration_label.text().startswith("未登记")
    assert _at_centre(workflow_sandbox, "2401") == []


def test_the_discharge_page_says_the_centre_settled_not_that_it_did_not_when_the_database_fails_recording_it(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
    operator_of: Callable[[CounterContext, str], OperatorInfo], workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-DISK-3")
    add_charges(centre_ctx, cashier, stay_id)
    window = make_window(centre_ctx, "cashier")
    page = window.discharge_page
    window.show_page(window.page_titles.index("出院结算"))
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.settle_button.isEnabled(), timeout=WAIT_MS)
    with disk_full_when_recording(centre_ctx, "settlement"):
        qtbot.mouseClick(page.settle_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not page.busy, timeout=CENTRE_WAIT_MS)
    shown = page.error_label.text()
    assert "结算中心已办理这笔出院结算" in shown and "请勿让患者重复缴费" in shown, shown
    assert not shown.startswith("未结算"), shown  # the centre has settled: the clerk must not read 未结算
    assert not any(word.lower() in shown.lower() for word in RAW), shown
    assert _at_centre(workflow_sandbox, "2304") == ["applied"]


def _modal(qtbot: QtBot, kind: type) -> QWidget:
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), kind), timeout=WAIT_MS)
    dialog = QApplication.activeModalWidget()
    assert dialog is not None and isinstance(dialog, kind)
    return dialog


def test_the_admission_page_does_not_say_unchanged_when_the_centre_cancelled_the_registration(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
    workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    backend = MockBackend()
    window = make_window(centre_ctx, "cashier", backend=backend)
    page = window.admission_page
    window.show_page(window.page_titles.index("入院登记"))
    backend.insert(VirtualCard(ZHANG_WEI))
    qtbot.waitUntil(lambda: page.person is not None, timeout=CENTRE_WAIT_MS)
    qtbot.keyClicks(page.admission_no, "ZY-UI-DISK-4")
    type_text(page.dept, "骨科一病区")
    page.add_diagnosis("S82.201", "胫骨干骨折")
    qtbot.waitUntil(lambda: page.verdict.check is not None, timeout=WAIT_MS)
    qtbot.mouseClick(page.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.outcome is not None, timeout=CENTRE_WAIT_MS)
    assert page.outcome is not None and page.outcome.registration_no, page.form_error.text()

    qtbot.waitUntil(lambda: page.cancel_registration_button.isEnabled(), timeout=WAIT_MS)
    qtbot.mouseClick(page.cancel_registration_button, Qt.MouseButton.LeftButton)
    dialog = _modal(qtbot, RegistrationChangeDialog)
    assert isinstance(dialog, RegistrationChangeDialog)
    type_text(dialog.reason_edit, "登记错人")
    with disk_full_when_recording(centre_ctx, "admission_cancel"):
        qtbot.mouseClick(dialog.accept_button, Qt.MouseButton.LeftButton)
        authorisation = _modal(qtbot, ReviewerAuthorisationDialog)
        assert isinstance(authorisation, ReviewerAuthorisationDialog)
        qtbot.keyClicks(authorisation.login_edit, "reviewer")
        qtbot.keyClicks(authorisation.password_edit, "demo1234")
        qtbot.mouseClick(authorisation.authorise_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not is_valid(authorisation) or not authorisation.isVisible(), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: page.correction_message.isVisible(), timeout=CENTRE_WAIT_MS)
    shown = page.correction_message.text()
    assert "结算中心已办理这笔撤销入院登记" in shown and "重新启动" in shown, shown
    assert not any(word.lower() in shown.lower() for word in RAW), shown
    status = page.correction_status.text()
    assert "未改变" not in status, status  # the centre did cancel it
    assert _at_centre(workflow_sandbox, "2404") == ["applied"]


def test_the_discharge_page_does_not_say_not_backfilled_when_the_centre_registered_the_backfill(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory,  # noqa: F811
    operator_of: Callable[[CounterContext, str], OperatorInfo], workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-DISK-5")
    add_charges(centre_ctx, cashier, stay_id)
    issue_full_payment(centre_ctx, stay_id, cashier, centre_today())  # paid in full while the centre was down
    window = make_window(centre_ctx, "cashier")
    page = window.discharge_page
    window.show_page(window.page_titles.index("出院结算"))
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.backfill_button.isEnabled(), timeout=WAIT_MS)
    with disk_full_when_recording(centre_ctx, "full_payment_registration"):
        qtbot.mouseClick(page.backfill_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not page.busy, timeout=CENTRE_WAIT_MS)
    shown = page.error_label.text()
    assert "结算中心已办理这笔全额垫付补登记" in shown, shown
    assert not shown.startswith("未补登记"), shown  # the centre has it: the clerk must not read 未补登记
    assert not any(word.lower() in shown.lower() for word in RAW), shown
    assert _at_centre(workflow_sandbox, "2306") == ["applied"]


def test_the_discharge_page_does_not_say_not_cancelled_when_the_centre_cancelled_the_settlement(
    qtbot: QtBot, centre_ctx: CounterContext, make_window: WindowFactory, type_text: TypeText,  # noqa: F811
    operator_of: Callable[[CounterContext, str], OperatorInfo], workflow_sandbox: SandboxProcess,  # noqa: F811
) -> None:
    cashier = operator_of(centre_ctx, "cashier")
    stay_id = admit_through_service(centre_ctx, cashier, ZHANG_WEI_CARD, "ZY-UI-DISK-6")
    add_charges(centre_ctx, cashier, stay_id)
    client = open_workflow_centre(centre_ctx, cashier)
    try:
        settle_stay(centre_ctx, client, stay_id, cashier, centre_today())
    finally:
        client.close()
    window = make_window(centre_ctx, "reviewer")
    page = window.discharge_page
    window.show_page(window.page_titles.index("出院结算"))
    page.open_stay(stay_id)
    qtbot.waitUntil(lambda: page.cancel_button.isEnabled(), timeout=WAIT_MS)
    type_text(page.cancel_reason, "收费有误")
    with disk_full_when_recording(centre_ctx, "settlement_cancel"):
        answer("撤销结算")
        qtbot.keyClick(page.cancel_reason, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: page.busy, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: not page.busy, timeout=CENTRE_WAIT_MS)
    shown = page.error_label.text()
    assert "结算中心已办理这笔撤销结算" in shown, shown
    assert not shown.startswith("未撤销"), shown  # the centre has cancelled it
    assert not any(word.lower() in shown.lower() for word in RAW), shown
    assert _at_centre(workflow_sandbox, "2305") == ["applied"]
