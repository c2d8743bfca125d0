"""The main window of a logged-in operator: navigation on the left, one page per task.

Every action has a key: Ctrl+1 … Ctrl+8 for the pages (the 窗口 menu and the nav
tooltips say which), arrow keys in the navigation list, Ctrl+L to lock (the next
operator logs in), Ctrl+Q to quit, F12 for 下一位 (the next patient), F2/F3/F4/F8 for
读卡/扫码/登记/结算 from any page, Ctrl+K for 恢复后核对, F1 for help (the key map).

After a database restore (issue 21 B2) a notice above the pages says the check is owed or its
differences wait for a reviewer; it opens 恢复后核对 (`ui.restore_check_dialog`), and goes once
the check is clear or acknowledged.

The window owns the one current patient (`ui.current_patient`): the 读卡, 入院登记,
费用与伤病分离 and 出院结算 pages follow it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app import __version__
from app.bootstrap import CounterContext
from app.composition import ecard_lookup
from app.institution import InstitutionInfo
from app.operators import OperatorInfo
from app.settings import (
    CARD_BACKEND,
    CARD_READER,
    CARD_VENDOR_ITYPE,
    CARD_VENDOR_LIBRARY,
    SESSION_IDLE_LOCK_MINUTES,
)
from devices.backends import backend_from_settings
from ui.card_reader import CardReaderService
from ui.document_printing import PrintStation
from ui.current_patient import CurrentPatient, Patient
from ui.idle_lock import IdleLock
from ui.pages.admission_page import AdmissionPage
from ui.pages.card_page import CardPage
from ui.pages.charges_page import ChargesPage
from ui.pages.claims_page import ClaimsPage
from ui.pages.discharge_page import DischargePage
from ui.pages.settings_page import SettingsPage
from ui.pages.slip_page import SlipPage
from ui.pages.stays_page import StaysPage
from ui.reconciliation_dialog import ReconciliationDialog, run_reconciliation
from ui.restore_check_dialog import RestoreCheckDialog
from ui.qt import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QCoreApplication,
    QDialog,
    QFont,
    QHBoxLayout,
    QIcon,
    QKeySequence,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPainter,
    QPixmap,
    QPushButton,
    QStackedWidget,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.operations import Executor, Operation
from ui.status_bar import CounterStatusBar
from ui.widgets import ERROR_COLOUR, NOTICE_COLOUR

log = logging.getLogger(__name__)


def window_title(ctx: CounterContext, institution: InstitutionInfo | None) -> str:
    parts = [QCoreApplication.translate("MainWindow", "工伤联网结算窗口")]
    if institution is not None:
        parts.append(institution.name)
    parts.append(ctx.counter_name)
    title = " — ".join(parts)
    if ctx.demo:
        title += QCoreApplication.translate("MainWindow", "（演示）")
    return title


def warning_icon(colour: str, size: int = 16) -> QIcon:
    """A round mark with "!" for a navigation item that needs attention."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(colour))
        painter.setBrush(QColor(colour))
        painter.drawEllipse(1, 1, size - 2, size - 2)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPixelSize(int(size * 0.75))
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(pixmap.rect(), int(Qt.AlignmentFlag.AlignCenter), "!")
    finally:
        painter.end()
    return QIcon(pixmap)


class MainWindow(QMainWindow):
    """Emits `lock_requested` on Ctrl+L and `closed` when the operator quits."""

    lock_requested = Signal()
    closed = Signal()

    def __init__(
        self,
        ctx: CounterContext,
        operator: OperatorInfo,
        institution: InstitutionInfo | None,
        parent: QWidget | None = None,
        *,
        card_reader: CardReaderService | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._institution = institution
        self.operator = operator
        self._locking = False
        self.setObjectName("mainWindow")
        self.setWindowTitle(window_title(ctx, institution))
        self.setMinimumSize(960, 600)
        self.resize(1280, 720)

        # The workflow sets this: while it returns True, pulling the card warns the clerk.
        self.settlement_in_progress: Callable[[], bool] = lambda: False
        # A reader given by the caller (tests) is kept; one built from the settings follows them.
        self._reader_from_settings = card_reader is None
        self._card_settings = self._current_card_settings()
        self.card_reader = card_reader or CardReaderService(backend_from_settings(ctx.settings))
        self.card_reader.setParent(self)
        # One person at the counter at a time; every page that acts on a person follows it.
        self.current_patient = CurrentPatient(ctx, self)
        self.card_page = CardPage(
            self.card_reader, lambda: self.settlement_in_progress(),
            person_lookup=ecard_lookup(ctx, (operator.login, operator.display_name)),
            current_patient=self.current_patient,
        )
        self.settings_page = SettingsPage(ctx, operator, institution)
        self.settings_page.settings_saved.connect(self._settings_saved)
        self.admission_page = AdmissionPage(ctx, operator, current_patient=self.current_patient)
        # One print station: the printer chosen in either page's print dialog serves both.
        self.print_station = PrintStation(ctx, self)
        self.discharge_page = DischargePage(ctx, operator, station=self.print_station)
        self.stays_page = StaysPage(ctx, operator)
        self.slip_page = SlipPage(ctx, operator, station=self.print_station)
        self.charges_page = ChargesPage(ctx, operator)
        self.claims_page = ClaimsPage(ctx, operator)
        pages: list[tuple[str, QWidget]] = [
            (page.title, page)
            for page in (
                self.card_page,
                self.admission_page,
                self.charges_page,
                self.discharge_page,
                self.stays_page,
                self.slip_page,
                self.claims_page,
            )
        ]
        pages.append((self.settings_page.title, self.settings_page))
        self._titles = [title for title, _ in pages]

        self.nav = QListWidget(self)
        self.nav.setObjectName("navigation")
        self.nav.setFixedWidth(200)
        nav_font = QFont(self.nav.font())
        nav_font.setPointSizeF(nav_font.pointSizeF() * 1.2)
        self.nav.setFont(nav_font)
        # Tall rows: the navigation is also clicked with a mouse, by people in a hurry.
        self.nav.setStyleSheet(
            "QListWidget#navigation { border: none; border-right: 1px solid palette(mid); outline: 0; }"
            "QListWidget#navigation::item { padding: 10px 14px; }"
        )
        self.stack = QStackedWidget(self)
        self.stack.setObjectName("pages")
        for number, (title, page) in enumerate(pages, start=1):
            item = QListWidgetItem(title, self.nav)
            item.setToolTip(self.tr("{title}（Ctrl+{n}）").format(title=title, n=number))
            self.stack.addWidget(page)

        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._restore_notice(central))
        layout = QHBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        outer.addLayout(layout, 1)
        self.setCentralWidget(central)

        # Unattended counter: lock as on Ctrl+L after `session.idle_lock_minutes` without input.
        self.idle_lock = IdleLock(self.lock, ctx.settings.get(SESSION_IDLE_LOCK_MINUTES) * 60_000,
                                  busy=lambda: self.settlement_in_progress(), parent=self)

        self._build_menus()
        self.status = CounterStatusBar(ctx, operator, self)
        self.setStatusBar(self.status)
        self.status.watch_reader(self.card_reader)
        self._connect_workflow()
        self.card_reader.start()

        self.nav.currentRowChanged.connect(self._row_changed)
        self.nav.setCurrentRow(0)
        self.nav.setFocus()

    def _connect_workflow(self) -> None:
        """The workflow pages hand work to each other: card → admission, list → the stay's page,
        settlement → slip; a settlement in progress makes the 读卡 page warn when the card is pulled."""
        self.card_page.identity_changed.connect(self.admission_page.set_card_identity)
        self.admission_page.person_changed.connect(self.card_page.show_centre_person)
        self.card_page.verdict.mirror(self.admission_page.verdict)
        self.current_patient.changed.connect(self._patient_changed)
        self.admission_page.next_patient_requested.connect(self.next_patient)
        self.admission_page.admitted.connect(self._stay_admitted)
        self.admission_page.registration_changed.connect(self._registration_changed)
        self.stays_page.open_requested.connect(self.open_stay)
        self.stays_page.changed.connect(lambda: self.discharge_page.reload())
        self.discharge_page.changed.connect(self.stays_page.reload)
        self.charges_page.changed.connect(lambda: self.discharge_page.reload())  # readiness may have changed
        self.discharge_page.print_requested.connect(self.print_settlement)
        self.discharge_page.printed.connect(self.slip_page.reload)  # its list shows 已打印 n 次
        self.status.centre_link_changed.connect(self._centre_link_changed)
        self.settlement_in_progress = lambda: self.discharge_page.busy
        # The claim deadlines: the 月度结算 page looks at them (at start, on reload, hourly); the
        # status bar and the navigation warn; a settlement elsewhere may open or close one.
        self.claims_page.deadlines_changed.connect(self._deadlines_changed)
        self.status.deadlines_clicked.connect(lambda: self.show_page(self.stack.indexOf(self.claims_page)))
        self.discharge_page.changed.connect(self.claims_page.check_deadlines)
        self.stays_page.changed.connect(self.claims_page.check_deadlines)
        # 病案首页已补齐 on the 结算单 page meets a deadline (003 §16): the list and the status bar follow.
        self.slip_page.medical_record_marked.connect(self.claims_page.check_deadlines)
        self._deadlines_changed()
        # Day-end reconciliation: the days still owed run once the centre answers; open
        # differences wait in the status bar for a reviewer.
        self._reconciliation_started = False
        self.status.reconciliation_clicked.connect(self.open_reconciliation)
        self.refresh_reconciliation()
        # After a database restore: the notice follows the check (at start, after each centre probe —
        # an admission or settlement may have run it — and after the 恢复后核对 dialog changed it).
        self.status.centre_link_changed.connect(self.refresh_restore_check)
        self.admission_page.admitted.connect(lambda _stay_id: self.refresh_restore_check())
        self.discharge_page.changed.connect(self.refresh_restore_check)
        self.refresh_restore_check()

    def _restore_notice(self, parent: QWidget) -> QWidget:
        """The banner above the pages while a restore's check is owed or unreviewed (hidden otherwise)."""
        banner = QWidget(parent)
        banner.setObjectName("restoreCheckBanner")
        banner.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        banner.setStyleSheet("QWidget#restoreCheckBanner { background: #fdecea; "
                             f"border-bottom: 2px solid {ERROR_COLOUR}; }}")
        row = QHBoxLayout(banner)
        row.setContentsMargins(12, 6, 12, 6)
        self.restore_label = QLabel("", banner)
        self.restore_label.setObjectName("restoreCheckNotice")
        self.restore_label.setWordWrap(True)
        self.restore_label.setStyleSheet(f"color: {ERROR_COLOUR}; font-weight: bold;")
        row.addWidget(self.restore_label, 1)
        # Ctrl+K (the 文件 menu's action) rather than an Alt letter: every letter is some page's button.
        self.restore_button = QPushButton(self.tr("查看并确认…（Ctrl+K）"), banner)
        self.restore_button.setObjectName("restoreCheckButton")
        self.restore_button.setAutoDefault(False)
        self.restore_button.clicked.connect(self.open_restore_check)
        row.addWidget(self.restore_button)
        banner.hide()
        self.restore_banner = banner
        return banner

    def refresh_restore_check(self) -> None:
        from app.workflow.restore_check import latest

        Operation.transaction(self, self._ctx, latest).success(self._show_restore_check) \
            .failure(lambda _: None).run()

    def _show_restore_check(self, report: object) -> None:
        from app.workflow.restore_check import DIFFERENCES, PENDING, CheckReport, difference_count

        if not isinstance(report, CheckReport) or report.status not in (PENDING, DIFFERENCES):
            self.restore_banner.hide()
            return
        if report.status == PENDING:
            text = self.tr("数据库已从备份恢复，尚未与结算中心核对：暂不能办理入院登记和结算。"
                           "请打开“恢复后核对”与结算中心核对。")
        else:
            text = self.tr("数据库已从备份恢复，核对发现 {count} 处差异，须审核员查看并确认：确认之前暂不能办理入院登记和结算。") \
                .format(count=difference_count(report.differences))
        self.restore_label.setText(text)
        self.restore_banner.show()

    def open_restore_check(self) -> RestoreCheckDialog:
        """文件 → 恢复后核对… (Ctrl+K) or the notice: the check, its differences, a reviewer's acknowledgement."""
        dialog = RestoreCheckDialog(self._ctx, self.operator, self)
        dialog.changed.connect(self.refresh_restore_check)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setModal(False)
        dialog.show()
        self.restore_check_dialog = dialog
        return dialog

    def _deadlines_changed(self) -> None:
        watched = self.claims_page.watched
        self.status.show_deadlines(watched)
        item = self.nav.item(self.stack.indexOf(self.claims_page))
        urgent = [w for w in watched if w.needs_attention]
        title = self.claims_page.title
        number = self.stack.indexOf(self.claims_page) + 1
        tip = self.tr("{title}（Ctrl+{n}）").format(title=title, n=number)
        if urgent:
            overdue = any(w.status.state == "overdue" for w in urgent)
            item.setIcon(warning_icon(ERROR_COLOUR if overdue else NOTICE_COLOUR))
            item.setToolTip(tip + "\n" + self.status.deadline_label.text())
        else:
            item.setIcon(QIcon())
            item.setToolTip(tip)

    def _patient_changed(self, patient: Patient | None) -> None:
        """The pages with a stay picker show the current patient's open stay, or none: a new worker's
        stay is not known yet, so the previous person's goes at once and theirs follows."""
        if patient is not None and not patient.stay_known:
            self.discharge_page.follow_patient(None)
            self.charges_page.follow_patient(None)
            return
        stay_id = patient.stay_id if patient is not None else None
        self.discharge_page.follow_patient(stay_id)
        self.charges_page.follow_patient(stay_id)

    def next_patient(self) -> None:
        """下一位 (F12): nobody at the counter; the 入院登记 page waits for the next card or e-card."""
        if self.admission_page.busy or self.discharge_page.busy:
            self.status.showMessage(self.tr("正在登记或结算，完成后再接待下一位。"), 5000)
            return
        self.current_patient.clear()
        self.card_page.clear_person()
        self.admission_page.clear_for_next()
        self.show_page(self.stack.indexOf(self.admission_page))
        self.admission_page.ecard_field.setFocus()

    def _stay_admitted(self, stay_id: int) -> None:
        self.stays_page.reload()
        self.charges_page.reload_stays()
        self.discharge_page.reload(select=stay_id)

    def _registration_changed(self) -> None:
        """A registration was corrected (new 就医登记号) or cancelled: the lists show it as it is now."""
        self.stays_page.reload()
        self.charges_page.reload_stays()
        self.discharge_page.reload()

    def _centre_link_changed(self) -> None:
        link = self.status.centre_link
        if link is not None and link.recovered:
            self.show_recovery(link.recovered)
        online = self.status.centre_online
        if online is not None:
            self.stays_page.set_centre_online(online)
            self.discharge_page.set_centre_online(online)
        if online and not self._reconciliation_started:
            self._reconciliation_started = True
            self._reconcile_owed_days()

    def _reconcile_owed_days(self) -> None:
        """Reconcile the business days before today that have settlements and no reconciliation yet."""
        from app.centre import wire
        from app.centre.reconciliation import days_to_reconcile

        ctx, operator = self._ctx, self.operator

        def work() -> int:
            with ctx.transaction() as session:
                days = days_to_reconcile(session, wire.now().date())
            for day in days:
                run_reconciliation(ctx, operator, day)
            return len(days)

        Operation(self, work, executor=Executor.BACKGROUND).success(lambda _: self.refresh_reconciliation()) \
            .failure(lambda error: self._reconciliation_failed(error)).run()

    def _reconciliation_failed(self, error: BaseException) -> None:
        # Not the clerk's business at the window: the next start tries again; IT sees the log.
        log.warning("日终对账未完成：%s", getattr(error, "message", error))
        self._reconciliation_started = False

    def refresh_reconciliation(self) -> None:
        from app.centre.reconciliation import open_difference_count

        Operation.transaction(self, self._ctx, open_difference_count).success(self.status.show_reconciliation) \
            .failure(lambda _: None).run()

    def open_reconciliation(self) -> ReconciliationDialog:
        dialog = ReconciliationDialog(self._ctx, self.operator, self)
        dialog.changed.connect(self.refresh_reconciliation)
        dialog.setModal(False)
        dialog.show()
        self.reconciliation_dialog = dialog
        return dialog

    def open_day_end(self) -> QDialog:
        """文件 → 日结…: the signed-in operator's 收款员日结单 for today, printable (issue 20 §10)."""
        from ui.dayend_dialog import DayEndDialog

        dialog = DayEndDialog(self._ctx, self.operator, self.print_station, self)
        dialog.setModal(False)
        dialog.show()
        self.day_end_dialog = dialog
        return dialog

    def open_stay(self, stay_id: int, status: str) -> None:
        """住院一览's double-click: the stay in the page that deals with it now."""
        if status == "admitted":  # charges are still coming in: the 费用与伤病分离 page
            self.charges_page.open_stay(stay_id)
            self.show_page(self.stack.indexOf(self.charges_page))
            return
        self.discharge_page.open_stay(stay_id)
        self.show_page(self.stack.indexOf(self.discharge_page))

    def print_settlement(self, settlement_id: int) -> None:
        """出院结算's 打印结算单: the 结算单 page with this settlement previewed, ready to print."""
        self.slip_page.reload()
        self.slip_page.open_settlement(settlement_id)
        self.show_page(self.stack.indexOf(self.slip_page))
        self.slip_page.print_button.setFocus()

    def _build_menus(self) -> None:
        menu_bar = self.menuBar()

        file_menu = menu_bar.addMenu(self.tr("文件(&F)"))
        self.lock_action = QAction(self.tr("锁定/注销(&L)"), self)
        self.lock_action.setShortcut(QKeySequence("Ctrl+L"))
        self.lock_action.triggered.connect(self.lock)
        file_menu.addAction(self.lock_action)
        self.next_patient_action = QAction(self.tr("下一位(&N)"), self)
        self.next_patient_action.setShortcut(QKeySequence(Qt.Key.Key_F12))
        self.next_patient_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.next_patient_action.triggered.connect(self.next_patient)
        file_menu.addAction(self.next_patient_action)
        self.reconciliation_action = QAction(self.tr("日终对账(&D)…"), self)
        self.reconciliation_action.triggered.connect(self.open_reconciliation)
        file_menu.addAction(self.reconciliation_action)
        self.day_end_action = QAction(self.tr("日结(&J)…"), self)
        self.day_end_action.triggered.connect(self.open_day_end)
        file_menu.addAction(self.day_end_action)
        self.restore_check_action = QAction(self.tr("恢复后核对(&R)…"), self)
        self.restore_check_action.setShortcut(QKeySequence("Ctrl+K"))
        self.restore_check_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.restore_check_action.triggered.connect(self.open_restore_check)
        file_menu.addAction(self.restore_check_action)
        file_menu.addSeparator()
        # Not QKeySequence.Quit: it has no key on Windows.
        self.quit_action = QAction(self.tr("退出(&X)"), self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)

        window_menu = menu_bar.addMenu(self.tr("窗口(&W)"))
        self.page_actions: list[QAction] = []
        group = QActionGroup(self)
        group.setExclusive(True)
        for index, title in enumerate(self._titles):
            action = QAction(title, self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(lambda _checked=False, i=index: self.show_page(i))
            group.addAction(action)
            window_menu.addAction(action)
            self.page_actions.append(action)

        # The counter's F-keys, from any page (as in HIS modules); F9 (打印) and F12 (下一位) are
        # the discharge page's and the 文件 menu's. Listed in the F1 help.
        counter_menu = menu_bar.addMenu(self.tr("业务(&B)"))
        self.counter_key_actions: list[QAction] = []
        for text, key, slot in (
            (self.tr("读卡(&C)"), Qt.Key.Key_F2, self.key_read_card),
            (self.tr("扫码/查询(&Q)"), Qt.Key.Key_F3, self.key_look_up),
            (self.tr("入院登记(&R)"), Qt.Key.Key_F4, self.key_register),
            (self.tr("出院结算(&S)"), Qt.Key.Key_F8, self.key_settle),
        ):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            counter_menu.addAction(action)
            self.counter_key_actions.append(action)
        counter_menu.addAction(self.next_patient_action)

        help_menu = menu_bar.addMenu(self.tr("帮助(&H)"))
        self.help_action = QAction(self.tr("操作帮助(&K)"), self)
        self.help_action.setShortcut(QKeySequence(Qt.Key.Key_F1))
        self.help_action.triggered.connect(self.show_help)
        help_menu.addAction(self.help_action)
        self.about_action = QAction(self.tr("关于(&A)"), self)
        self.about_action.triggered.connect(self.show_about)
        help_menu.addAction(self.about_action)

    # --- the counter's F-keys -----------------------------------------------------------

    def key_read_card(self) -> None:
        """F2: the 读卡 page, reading the card in the reader again."""
        self.show_page(self.stack.indexOf(self.card_page))
        self.card_page.read_button.click()

    def key_look_up(self) -> None:
        """F3: 入院登记, the cursor in the e-card field, ready for the scanner."""
        self.show_page(self.stack.indexOf(self.admission_page))
        self.admission_page.ecard_field.setFocus()
        self.admission_page.ecard_field.selectAll()

    def key_register(self) -> None:
        """F4: 入院登记's 登记, only when the page allows it (the person just looked up, the form complete)."""
        self.show_page(self.stack.indexOf(self.admission_page))
        if self.admission_page.register_button.isEnabled():
            self.admission_page.register_button.click()
        else:
            self.status.showMessage(self.tr("尚不能登记：请先读卡或扫码，再填写住院号、科别和诊断。"), 5000)

    def key_settle(self) -> None:
        """F8: 出院结算 for the current patient's stay; the 结算 button stays the clerk's own press,
        after the figures and the pre-audit are on screen."""
        self.show_page(self.stack.indexOf(self.discharge_page))
        self.discharge_page.settle_button.setFocus()

    def show_help(self) -> None:
        """F1: the keys of the counter and where the guides are."""
        dialog = QDialog(self)
        dialog.setObjectName("helpDialog")
        dialog.setWindowTitle(self.tr("操作帮助"))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        layout = QVBoxLayout(dialog)
        keys = [
            ("F1", self.tr("操作帮助（本页）")),
            ("F2", self.tr("读卡：转到“读卡”页并重新读取读卡器中的社保卡")),
            ("F3", self.tr("扫码/查询：转到“入院登记”，光标在电子社保卡扫码框")),
            ("F4", self.tr("登记：办理入院登记（已识别患者并填好住院号、科别、诊断时）")),
            ("F5", self.tr("刷新当前页")),
            ("F8", self.tr("结算：转到“出院结算”，核对金额和预审后按回车结算")),
            ("F9", self.tr("打印：在“出院结算”页打印结算单（两联）；在“费用与伤病分离”页为中心预结算")),
            ("F12", self.tr("下一位：清除当前患者，接待下一位")),
            ("Ctrl+1…8", self.tr("切换页面")),
            ("Ctrl+L", self.tr("锁定/注销（换操作员）")),
            ("Ctrl+K", self.tr("恢复后核对：数据库从备份恢复后与结算中心核对，审核员确认差异")),
            ("Ctrl+I / D / G / J", self.tr("费用与伤病分离：导入 HIS 文件 / 归入诊断 / 改判 / 待审核")),
            ("Alt+字母", self.tr("按钮上带下划线的字母，例如 登记(R)、结算(S)")),
        ]
        table = QLabel("\n".join(f"{key}\t{text}" for key, text in keys), dialog)
        table.setObjectName("helpKeys")
        table.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(table)
        guide = QLabel(self.tr("操作手册见程序目录 docs/ 下的说明文件；遇到问题请联系本院信息科。"), dialog)
        guide.setWordWrap(True)
        layout.addWidget(guide)
        close = QPushButton(self.tr("关闭(&C)"), dialog)
        close.setDefault(True)
        close.clicked.connect(dialog.accept)
        layout.addWidget(close)
        dialog.open()

    # --- pages -----------------------------------------------------------------------

    @property
    def page_titles(self) -> list[str]:
        return list(self._titles)

    def show_page(self, index: int) -> None:
        self.nav.setCurrentRow(index)

    def current_page_title(self) -> str:
        return self._titles[self.stack.currentIndex()]

    def current_page(self) -> QWidget | None:
        return self.stack.currentWidget()

    def _row_changed(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        self.page_actions[row].setChecked(True)

    def _settings_saved(self) -> None:
        self.setWindowTitle(window_title(self._ctx, self._institution))  # the counter name may have changed
        self.idle_lock.set_timeout_ms(self._ctx.settings.get(SESSION_IDLE_LOCK_MINUTES) * 60_000)
        card_settings = self._current_card_settings()
        if self._reader_from_settings and card_settings != self._card_settings:
            self._card_settings = card_settings
            self._replace_card_reader(CardReaderService(backend_from_settings(self._ctx.settings)))

    def _current_card_settings(self) -> tuple[object, ...]:
        settings = self._ctx.settings
        return (
            settings.get(CARD_BACKEND), settings.get(CARD_READER),
            settings.get(CARD_VENDOR_LIBRARY), settings.get(CARD_VENDOR_ITYPE),
        )

    def _replace_card_reader(self, reader: CardReaderService) -> None:
        """The reader settings changed: stop the old device thread, watch with the new back end."""
        old, self.card_reader = self.card_reader, reader
        old.stop()
        reader.setParent(self)
        self.card_page.set_reader(reader)
        self.status.watch_reader(reader)
        reader.start()
        old.deleteLater()

    # --- lock, quit, about -------------------------------------------------------------

    def lock(self) -> None:
        """Hand the counter to the next operator: this window goes, the login dialog comes."""
        if self._locking:
            return  # Ctrl+L pressed twice: one login dialog is enough
        self._locking = True
        self.shutdown()  # the next operator's window watches the reader itself
        self.lock_requested.emit()

    def shutdown(self) -> None:
        """Stop the window's own threads (the card reader's device thread) before it is deleted:
        nothing may signal a deleted object."""
        self.card_reader.stop()
        self.idle_lock.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        event.accept()
        self.shutdown()
        if not self._locking:
            self.closed.emit()

    def show_recovery(self, summary: str) -> None:
        """What start-up recovery did after a crash (`app.recovery`), told once, without blocking."""
        box = QMessageBox(self)
        box.setObjectName("recoveryBox")
        box.setWindowTitle(self.tr("异常退出后的恢复"))
        box.setIcon(QMessageBox.Icon.Information)
        box.setText(summary)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_about(self) -> None:
        box = QMessageBox(self)
        box.setObjectName("aboutBox")
        box.setWindowTitle(self.tr("关于"))
        box.setIcon(QMessageBox.Icon.Information)
        box.setText(self.tr("工伤联网结算窗口（wi-counter）"))
        box.setInformativeText(
            self.tr("版本 {version}\n医院工伤保险联网结算收费窗口程序。\n数据库：{database}").format(
                version=__version__, database=self._ctx.database_description
            )
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
