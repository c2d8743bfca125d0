"""The login cycle (first run → login → main window → Ctrl+L → login) and `run_gui`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.card_identity import CardIdentity, NotSocialSecurityCard
from ui.main import (
    AUTOLOGIN_ENV,
    CARD_FAILED_MARKER,
    CARD_READ_MARKER,
    EXIT_WHEN_SHOWN_ENV,
    CounterSession,
    autologin_request,
    run_gui,
)
from ui.main_window import MainWindow
from ui.qt import QApplication, QLabel, QMessageBox, Qt, QTimer, QWidget

pytestmark = pytest.mark.gui

TypeText = Callable[[QWidget, str], None]


@pytest.fixture
def session_of(qtbot: QtBot) -> Iterator[Callable[..., CounterSession]]:
    made: list[CounterSession] = []

    def make(ctx: CounterContext, autologin: str | None = None) -> CounterSession:
        session = CounterSession(ctx, autologin=autologin)
        made.append(session)
        return session

    yield make
    for session in made:
        session.close_all()


def _log_in(qtbot: QtBot, session: CounterSession, login: str) -> MainWindow:
    dialog = session.login_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.login_edit.setText(login)
    qtbot.keyClicks(dialog.password_edit, "demo1234")
    with qtbot.waitSignal(session.main_window_shown, timeout=10_000) as shown:
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    window = shown.args[0]
    assert isinstance(window, MainWindow) and window.isVisible()
    return window


def test_login_then_lock_hands_over_to_the_next_operator(
    qtbot: QtBot, demo_ctx: CounterContext, session_of: Callable[..., CounterSession]
) -> None:
    session = session_of(demo_ctx)
    session.start()
    qtbot.waitUntil(lambda: session.login_dialog is not None and session.login_dialog.isVisible(), timeout=5000)
    first = _log_in(qtbot, session, "cashier")
    assert first.operator.login == "cashier"
    assert session.login_dialog is None

    first.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is first, timeout=5000)
    qtbot.keyClick(first, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert not first.isVisible()
    qtbot.waitUntil(lambda: session.login_dialog is not None and session.login_dialog.isVisible(), timeout=5000)

    second = _log_in(qtbot, session, "reviewer")
    status = second.statusBar().findChild(QLabel, "operatorStatus")
    assert status is not None and status.text() == "操作员：李审核（审核员）"


def test_quitting_at_login_finishes(
    qtbot: QtBot, demo_ctx: CounterContext, session_of: Callable[..., CounterSession]
) -> None:
    session = session_of(demo_ctx)
    session.start()
    qtbot.waitUntil(lambda: session.login_dialog is not None and session.login_dialog.isVisible(), timeout=5000)
    assert session.login_dialog is not None
    with qtbot.waitSignal(session.finished, timeout=2000) as finished:
        qtbot.mouseClick(session.login_dialog.quit_button, Qt.MouseButton.LeftButton)
    assert finished.args == [0]


def test_a_new_counter_starts_with_first_run(
    qtbot: QtBot, empty_ctx: CounterContext, session_of: Callable[..., CounterSession], type_text: TypeText
) -> None:
    session = session_of(empty_ctx)
    session.start()
    qtbot.waitUntil(lambda: session.first_run_dialog is not None and session.first_run_dialog.isVisible(), timeout=5000)
    dialog = session.first_run_dialog
    assert dialog is not None
    for edit, text in (
        (dialog.code_edit, "H44010100007"), (dialog.name_edit, "广州市工伤康复医院"),
        (dialog.province_edit, "广东省"), (dialog.city_edit, "广州市"), (dialog.city_code_edit, "440100"),
        (dialog.login_edit, "wangli"), (dialog.display_name_edit, "王丽"),
        (dialog.password_edit, "s3cret-pass"), (dialog.confirm_edit, "s3cret-pass"),
    ):
        type_text(edit, text)
    qtbot.mouseClick(dialog.done_button, Qt.MouseButton.LeftButton)
    # Then the login dialog, with the new administrator's login filled in.
    qtbot.waitUntil(lambda: session.login_dialog is not None and session.login_dialog.isVisible(), timeout=10_000)
    login = session.login_dialog
    assert login is not None and login.login_edit.text() == "wangli"
    qtbot.keyClicks(login.password_edit, "s3cret-pass")
    with qtbot.waitSignal(session.main_window_shown, timeout=10_000) as shown:
        qtbot.keyClick(login.password_edit, Qt.Key.Key_Return)
    window = shown.args[0]
    assert window.windowTitle() == "工伤联网结算窗口 — 广州市工伤康复医院 — 1号窗口"


def test_autologin_only_in_demo_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTOLOGIN_ENV, "admin")
    assert autologin_request(demo=True) == "admin"
    assert autologin_request(demo=False) is None
    monkeypatch.delenv(AUTOLOGIN_ENV)
    assert autologin_request(demo=True) is None


def test_autologin_failure_falls_back_to_the_login_dialog(
    qtbot: QtBot, demo_ctx: CounterContext, session_of: Callable[..., CounterSession]
) -> None:
    session = session_of(demo_ctx, autologin="nobody")
    session.start()
    qtbot.waitUntil(lambda: session.login_dialog is not None and session.login_dialog.isVisible(), timeout=10_000)
    assert session.login_dialog is not None
    assert session.login_dialog.error_label.text() == "登录名或密码错误"


def test_run_gui_demo_autologin_exits_when_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(AUTOLOGIN_ENV, "cashier")
    monkeypatch.setenv(EXIT_WHEN_SHOWN_ENV, "1")
    assert run_gui(home=tmp_path / "gui-home", demo=True, db_url=None) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("WI_COUNTER_SHOWN ")]
    assert len(lines) == 1
    float(lines[0].split()[1])


def test_run_gui_saves_the_window_as_drawn_for_the_windows_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """WI_COUNTER_SCREENSHOT: the main window saved as drawn, offscreen too (issue 24 §2: the Windows
    build check reads its Chinese text back from this picture)."""
    from ui.main import SCREENSHOT_ENV
    from PySide6.QtGui import QImage

    shot = tmp_path / "window.png"
    monkeypatch.setenv(AUTOLOGIN_ENV, "cashier")
    monkeypatch.setenv(EXIT_WHEN_SHOWN_ENV, "1")
    monkeypatch.setenv(SCREENSHOT_ENV, str(shot))
    assert run_gui(home=tmp_path / "gui-home", demo=True, db_url=None) == 0
    assert any(line.startswith("WI_COUNTER_SHOWN ") for line in capsys.readouterr().out.splitlines())
    image = QImage(str(shot))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 500
    # drawn, not blank: the navigation's and the pages' texts make many distinct shades
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20


def test_run_gui_reports_a_bad_database_and_returns_1(tmp_path: Path, qtbot: QtBot) -> None:
    shown: list[str] = []

    def read_and_close_the_box() -> None:  # the real message box, as the clerk sees it
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            shown.append(box.text())
            box.accept()
        else:
            QTimer.singleShot(50, read_and_close_the_box)

    QTimer.singleShot(50, read_and_close_the_box)
    assert run_gui(home=tmp_path / "bad", demo=False, db_url="oracle://nowhere/db") == 1
    assert shown and "不支持的数据库类型" in shown[0]


def _card_of_zhang_wei() -> CardIdentity:
    return CardIdentity(
        region_code="440800", social_security_number="440802198503151236", card_number="A44080001", card_id="",
        name="张伟", sex="男", nation=None, birthplace=None, birth_date=dt.date(1985, 3, 15),
        spec_version="3.00", issue_date=None, expiry_date=None,
    )


def test_exit_when_card_read_waits_for_a_holder_then_prints_the_masked_id(
    qtbot: QtBot, demo_ctx: CounterContext, capsys: pytest.CaptureFixture[str]
) -> None:
    """The build check's hook (scripts/check-build.sh): exits 0 once the 读卡 page shows a holder."""
    session = CounterSession(demo_ctx, autologin="cashier", exit_when_card_read=True)
    try:
        with qtbot.waitSignal(session.main_window_shown, timeout=10_000) as shown:
            session.start()
        window: MainWindow = shown.args[0]
        finished: list[int] = []
        session.finished.connect(finished.append)
        window.card_page.show_identity(None)  # a card pulled out is not a read: keep waiting
        assert finished == []
        with qtbot.waitSignal(session.finished, timeout=5000) as done:
            window.card_page.show_identity(_card_of_zhang_wei())
        assert done.args == [0]
        out = capsys.readouterr().out
        assert f"{CARD_READ_MARKER} 440802********1236" in out.splitlines()
        assert "440802198503151236" not in out
    finally:
        session.close_all()


def test_exit_when_card_read_fails_with_the_readers_reason(
    qtbot: QtBot, demo_ctx: CounterContext, capsys: pytest.CaptureFixture[str]
) -> None:
    session = CounterSession(demo_ctx, autologin="cashier", exit_when_card_read=True)
    try:
        with qtbot.waitSignal(session.main_window_shown, timeout=10_000) as shown:
            session.start()
        window: MainWindow = shown.args[0]
        with qtbot.waitSignal(session.finished, timeout=5000) as done:
            window.card_reader.read_failed.emit(NotSocialSecurityCard())
        assert done.args == [1]
        assert f"{CARD_FAILED_MARKER} {NotSocialSecurityCard().message}" in capsys.readouterr().out.splitlines()
    finally:
        session.close_all()


def test_window_starts_maximised_and_keeps_its_size_across_logins(
    qtbot: QtBot, demo_ctx: CounterContext, session_of: Callable[..., CounterSession]
) -> None:
    """Issue 20 §5: the window starts maximised (1366×768 has no room to spare) and a size the
    clerk chose survives Ctrl+L and the next login, and the next start of the program."""
    session = session_of(demo_ctx)
    session.start()
    qtbot.waitUntil(lambda: session.login_dialog is not None and session.login_dialog.isVisible(), timeout=5000)
    first = _log_in(qtbot, session, "cashier")
    assert first.windowState() & Qt.WindowState.WindowMaximized

    screen = first.screen().availableGeometry()
    assert (screen.width(), screen.height()) == (1366, 768)
    chosen = (1100, 650)
    first.showNormal()
    first.setGeometry(screen.x() + 20, screen.y() + 20, *chosen)
    qtbot.waitUntil(lambda: (first.width(), first.height()) == chosen, timeout=5000)
    session.lock()
    qtbot.waitUntil(lambda: session.login_dialog is not None and session.login_dialog.isVisible(), timeout=5000)
    second = _log_in(qtbot, session, "reviewer")
    assert not second.windowState() & Qt.WindowState.WindowMaximized
    assert (second.width(), second.height()) == chosen

    second.showMaximized()
    session.close_all()
    again = session_of(demo_ctx)
    again.start()
    qtbot.waitUntil(lambda: again.login_dialog is not None and again.login_dialog.isVisible(), timeout=5000)
    third = _log_in(qtbot, again, "cashier")
    assert third.windowState() & Qt.WindowState.WindowMaximized
