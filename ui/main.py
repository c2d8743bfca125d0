"""Starting the window: `run_gui` (called by `wi-counter gui`) and the login cycle.

Order: open the counter (folders, settings, database), then first-run setup if the
institution or its administrator is missing, then the login dialog, then the main
window. Ctrl+L in the main window goes back to the login dialog for the next operator.
One event loop runs throughout; dialogs are opened, not exec()'d.

For the startup benchmark (`bench/startup.py`), two environment variables:
`WI_COUNTER_AUTOLOGIN=<login>` logs that demo operator in with the demo password (demo
mode only, never against real data), and `WI_COUNTER_EXIT_WHEN_SHOWN=1` prints
`WI_COUNTER_SHOWN <time.time()>` once the main window is up, then quits with 0; with
`WI_COUNTER_SCREENSHOT=<file.png>` too, it first saves the main window as drawn (offscreen as well:
the Windows build check reads its Chinese text back by OCR, `scripts/check-windows-build.sh`).

For the build check (`scripts/check-build.sh`), `WI_COUNTER_EXIT_WHEN_CARD_READ=1` waits
until the 读卡 page shows a card holder, prints `WI_COUNTER_CARD_READ <masked ID number>`
and quits with 0 (a failed read prints `WI_COUNTER_CARD_FAILED <reason>`, quits with 1).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from app.bootstrap import CounterContext, open_counter
from app.demo import DEMO_PASSWORD
from app.card_identity import CardError, CardIdentity
from app.errors import WiCounterError
from app.institution import InstitutionInfo
from app.masking import mask_id_number
from app.operators import (
    OperatorInfo,
    authenticate,
    institution_info,
    needs_first_run,
)
from app.resources import resource_path
from ui.first_run import FirstRunDialog
from ui.gc_policy import install_gui_gc_policy
from ui.login import LoginDialog
from ui.main_window import MainWindow
from ui.operations import Operation, show_failure, shutdown_task_manager
from ui.qt import (
    QApplication,
    QByteArray,
    QCoreApplication,
    QFont,
    QFontDatabase,
    QLibraryInfo,
    QLocale,
    QMessageBox,
    QMainWindow,
    QObject,
    QSettings,
    QTimer,
    QTranslator,
    Signal,
)

log = logging.getLogger(__name__)

AUTOLOGIN_ENV = "WI_COUNTER_AUTOLOGIN"
EXIT_WHEN_SHOWN_ENV = "WI_COUNTER_EXIT_WHEN_SHOWN"
SHOWN_MARKER = "WI_COUNTER_SHOWN"
SCREENSHOT_ENV = "WI_COUNTER_SCREENSHOT"
SCREENSHOT_SETTLE_MS = 1500  # the pages' first figures (status bar, lists) arrive from the database thread
EXIT_WHEN_CARD_READ_ENV = "WI_COUNTER_EXIT_WHEN_CARD_READ"
CARD_READ_MARKER = "WI_COUNTER_CARD_READ"
CARD_FAILED_MARKER = "WI_COUNTER_CARD_FAILED"

# First one installed wins: Windows, macOS, then the common Linux CJK fonts.
CJK_FONT_FAMILIES = (
    "Microsoft YaHei UI",
    "Microsoft YaHei",
    "PingFang SC",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
)
MIN_POINT_SIZE = 10.0
# WenQuanYi Micro Hei, the font every printed slip embeds (printing/fonts.py), shipped in resources/.
BUNDLED_CJK_FONT = ("fonts", "wqy-microhei.ttc")



def load_bundled_cjk_font() -> None:
    """Register the font the slips embed (resources/fonts/) with Qt, so a machine without a
    Chinese font (Windows without YaHei, a domestic Linux desktop, Wine) draws text, not boxes;
    an installed YaHei/Noto still wins (CJK_FONT_FAMILIES)."""
    try:
        path = resource_path(*BUNDLED_CJK_FONT)
    except WiCounterError as exc:
        log.warning("未加载程序自带的中文字体：%s", exc.message)
        return
    if QFontDatabase.addApplicationFont(str(path)) < 0:
        log.warning("未加载程序自带的中文字体 %s（Qt 无法读取）", path.name)


class _QtCatalogueGaps(QTranslator):
    """The few strings of Qt's own dialogs that qtbase's zh_CN catalogue leaves in English (the
    file dialog's Look in / Files of type, seen by a clerk importing a HIS file)."""

    STRINGS = {
        ("QFileDialog", "&Look in:"): "查找范围(&L)：",
        ("QFileDialog", "Files of &type:"): "文件类型(&T)：",
        ("QFileDialog", "Look in:"): "查找范围：",
        ("QFileDialog", "Files of type:"): "文件类型：",
    }

    def translate(self, context: str, source: str, disambiguation: str | None = None,  # noqa: D102
                  n: int = -1) -> str | None:
        # None (a null string) lets Qt ask the next catalogue; "" would be taken as the translation.
        return self.STRINGS.get((context, source))

    def isEmpty(self) -> bool:  # noqa: N802
        return False


def install_qt_translations(application: QApplication) -> list[QTranslator]:
    """Qt's own strings (确定, 取消, the file dialog, context menus) in Chinese, from the zh_CN
    qtbase catalogue in PySide6's translations folder; ours are written in Chinese. Returns the
    translators installed."""
    installed: list[QTranslator] = []
    translator = QTranslator(application)
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if translator.load(QLocale(QLocale.Language.Chinese, QLocale.Country.China), "qtbase", "_", folder):
        application.installTranslator(translator)
        installed.append(translator)
    else:
        log.warning("未找到 Qt 的中文翻译（%s 中的 qtbase_zh_CN），Qt 自带的对话框将显示英文", folder)
    gaps = _QtCatalogueGaps(application)
    application.installTranslator(gaps)  # installed last, asked first: only its own strings
    installed.append(gaps)
    return installed


def configure_application(application: QApplication) -> None:
    """Name, Chinese locale and translations, and a font that has the Chinese glyphs."""
    application.setApplicationName("wi-counter")
    application.setOrganizationName("wi-counter")
    # Before any worker thread starts: Qt objects in reference cycles die on the GUI thread only.
    install_gui_gc_policy(application)
    QLocale.setDefault(QLocale(QLocale.Language.Chinese, QLocale.Country.China))
    install_qt_translations(application)
    load_bundled_cjk_font()
    available = set(QFontDatabase.families())
    font = QFont(application.font())
    for family in CJK_FONT_FAMILIES:
        if family in available:
            font.setFamily(family)
            break
    if font.pointSizeF() < MIN_POINT_SIZE:
        font.setPointSizeF(MIN_POINT_SIZE)
    application.setFont(font)


def autologin_request(demo: bool) -> str | None:
    """The login named by WI_COUNTER_AUTOLOGIN, honoured in demo mode only."""
    login = os.environ.get(AUTOLOGIN_ENV, "").strip()
    if not login:
        return None
    if not demo:
        log.warning("忽略环境变量 %s：仅在演示模式下有效", AUTOLOGIN_ENV)
        return None
    return login


WINDOW_STATE_FILE = "window.ini"


def _window_settings(config_dir: Path) -> QSettings:
    # In the counter's own config folder (not Qt's per-user default): a demo, a test or a second
    # counter on the same PC each keep their own, and the file is user-only like the rest.
    return QSettings(str(config_dir / WINDOW_STATE_FILE), QSettings.Format.IniFormat)


def restore_window_geometry(window: QMainWindow, config_dir: Path) -> None:
    """Show the window as the clerk left it; the first time, maximised (1366×768 has no room to spare)."""
    saved = _window_settings(config_dir).value("main/geometry")
    if isinstance(saved, QByteArray) and not saved.isEmpty() and window.restoreGeometry(saved):
        window.show()
    else:
        # The screen's free area first: maximising is the window manager's to do, and where there is
        # none (a kiosk session, a bare X server) the window would keep its default 1280×720.
        screen = window.screen() or QApplication.primaryScreen()
        if screen is not None:
            window.setGeometry(screen.availableGeometry())
        window.showMaximized()


def save_window_geometry(window: QMainWindow, config_dir: Path) -> None:
    settings = _window_settings(config_dir)
    settings.setValue("main/geometry", window.saveGeometry())
    settings.sync()


class CounterSession(QObject):
    """The login cycle of one counter: first run → login → main window → (Ctrl+L) login …

    Emits `finished(exit_code)` when the operator quits.
    """

    finished = Signal(int)
    main_window_shown = Signal(object)

    def __init__(
        self,
        ctx: CounterContext,
        autologin: str | None = None,
        exit_when_shown: bool = False,
        exit_when_card_read: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._autologin = autologin
        self._exit_when_shown = exit_when_shown
        self._exit_when_card_read = exit_when_card_read
        self.first_run_dialog: FirstRunDialog | None = None
        self.login_dialog: LoginDialog | None = None
        self.window: MainWindow | None = None

    def start(self) -> None:
        Operation.transaction(self, self.ctx, needs_first_run).success(self._first_run_checked).failure(
            self._fatal
        ).run()

    def _first_run_checked(self, needed: bool) -> None:
        if needed:
            dialog = FirstRunDialog(self.ctx)
            dialog.accepted.connect(lambda: self.show_login(dialog.admin.login if dialog.admin else ""))
            dialog.rejected.connect(lambda: self.finish(0))
            self.first_run_dialog = dialog
            dialog.show()
        elif self._autologin is not None:
            login, counter_name = self._autologin, self.ctx.counter_name
            Operation.transaction(
                self, self.ctx, lambda session: authenticate(session, login, DEMO_PASSWORD, counter_name)
            ).success(self._logged_in).failure(self._autologin_failed).run()
        else:
            self.show_login()

    def _autologin_failed(self, error: BaseException) -> None:
        self.show_login(self._autologin or "")
        if self.login_dialog is not None and isinstance(error, WiCounterError):
            self.login_dialog.error_label.show_error(error.message)

    def show_login(self, login: str = "") -> None:
        dialog = LoginDialog(self.ctx, login=login)
        dialog.accepted.connect(lambda: self._logged_in(dialog.operator))
        dialog.rejected.connect(lambda: self.finish(0))
        self.login_dialog = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    def _logged_in(self, operator: OperatorInfo | None) -> None:
        if operator is None:
            return
        Operation.transaction(self, self.ctx, institution_info).success(
            lambda institution: self._open_main_window(operator, institution)
        ).failure(self._fatal).run()

    def _open_main_window(self, operator: OperatorInfo, institution: InstitutionInfo | None) -> None:
        window = MainWindow(self.ctx, operator, institution)
        window.lock_requested.connect(self.lock)
        window.closed.connect(lambda: save_window_geometry(window, self.ctx.paths.config_dir))
        window.closed.connect(lambda: self.finish(0))
        self.window = window
        restore_window_geometry(window, self.ctx.paths.config_dir)
        window.activateWindow()
        self._discard_dialogs()
        self.main_window_shown.emit(window)
        if self._exit_when_shown:
            # after one turn of the event loop (or, for a screenshot, once the pages have their figures)
            QTimer.singleShot(SCREENSHOT_SETTLE_MS if os.environ.get(SCREENSHOT_ENV) else 0, self._report_shown)
        if self._exit_when_card_read:
            window.card_page.identity_changed.connect(self._report_card_read)
            window.card_reader.read_failed.connect(self._report_card_failed)

    def _report_shown(self) -> None:
        shot = os.environ.get(SCREENSHOT_ENV)
        if shot and self.window is not None and not self.window.grab().save(shot, "PNG"):
            log.error("未能保存窗口截图 %s", shot)
            self.finish(1)
            return
        print(f"{SHOWN_MARKER} {time.time():.6f}", flush=True)
        self.finish(0)

    def _report_card_read(self, identity: CardIdentity | None) -> None:
        if identity is None:  # the page cleared (card out): keep waiting for a holder
            return
        masked = mask_id_number(identity.social_security_number)
        log.info("构建检查：读卡页已显示持卡人 %s", masked)
        print(f"{CARD_READ_MARKER} {masked}", flush=True)
        self.finish(0)

    def _report_card_failed(self, error: CardError) -> None:
        print(f"{CARD_FAILED_MARKER} {error.message}", flush=True)
        self.finish(1)

    def lock(self) -> None:
        window, self.window = self.window, None
        if window is not None:
            save_window_geometry(window, self.ctx.paths.config_dir)
        self.show_login()
        if window is not None:
            window.shutdown()
            window.hide()
            window.deleteLater()  # its late background results are dropped (ui.operations)

    def _discard_dialogs(self) -> None:
        for dialog in (self.first_run_dialog, self.login_dialog):
            if dialog is not None:
                dialog.hide()
                dialog.deleteLater()
        self.first_run_dialog = None
        self.login_dialog = None

    def _fatal(self, error: BaseException) -> None:
        # Nothing works without the database: say why, then quit once the clerk has read it.
        box = show_failure(None, error)
        box.finished.connect(lambda _result: self.finish(1))

    def finish(self, code: int) -> None:
        self.finished.emit(code)

    def close_all(self) -> None:
        """Hide every window of the session (at exit and in tests)."""
        self._discard_dialogs()
        if self.window is not None:
            save_window_geometry(self.window, self.ctx.paths.config_dir)
            self.window.shutdown()
            self.window.hide()
            self.window.deleteLater()
            self.window = None


def _excepthook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    # A bug in a slot must not pass silently: log it in full, tell the clerk in plain words.
    log.critical("未处理的异常", exc_info=(kind, error, trace))
    if QApplication.instance() is not None:
        show_failure(None, error if isinstance(error, Exception) else RuntimeError(str(error)))


def run_gui(home: Path | None, demo: bool, db_url: str | None, argv: Sequence[str] | None = None) -> int:
    """Open the counter window; returns the process exit status (0 done, 1 could not start)."""
    existing = QApplication.instance()
    application = existing if isinstance(existing, QApplication) else QApplication(list(argv or sys.argv))
    configure_application(application)
    try:
        # Before any window exists: nothing on screen can freeze while migrations run.
        ctx = open_counter(home=home, demo=demo, db_url=db_url)
    except WiCounterError as exc:
        QMessageBox.critical(None, QCoreApplication.translate("Startup", "无法启动工伤联网结算窗口"), exc.message)
        return 1
    except Exception:  # noqa: BLE001 - whatever breaks, the clerk gets a message, not a traceback
        log.exception("启动失败")
        QMessageBox.critical(
            None,
            QCoreApplication.translate("Startup", "无法启动工伤联网结算窗口"),
            QCoreApplication.translate("Startup", "启动时发生意外错误，详细信息已写入日志文件，请联系系统管理员。"),
        )
        return 1

    session = CounterSession(
        ctx,
        autologin=autologin_request(demo),
        exit_when_shown=os.environ.get(EXIT_WHEN_SHOWN_ENV) == "1",
        exit_when_card_read=os.environ.get(EXIT_WHEN_CARD_READ_ENV) == "1",
    )
    session.finished.connect(application.exit)
    quit_on_last_window = application.quitOnLastWindowClosed()
    # The session decides when to quit: between login dialog and main window no window is open.
    application.setQuitOnLastWindowClosed(False)
    previous_hook = sys.excepthook
    sys.excepthook = _excepthook
    try:
        session.start()
        status = application.exec()
    finally:
        sys.excepthook = previous_hook
        application.setQuitOnLastWindowClosed(quit_on_last_window)
        session.close_all()
        shutdown_task_manager(wait=True)
        ctx.close()
        log.info("wi-counter 退出")
    return status

