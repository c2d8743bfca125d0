"""月度结算: the month's claim to the agency (`003 §21`, `000 §31`), its deadlines and deductions.

Pick the month (last month by default): the claim's batch, status and figures (人次, 费用总额,
基金支付总额, 自付金额, 扣款金额, 基金结算金额) and how many of the month's settlements are in no
claim yet. 生成申请 builds (or refreshes) the claim; 导出结算表… writes the three forms as PDF and
XLSX into a folder; 上传 sends it in chunks with the progress shown ("分片 n/N") — 取消 stops it
between chunks and 继续上传 carries on where it stopped; 查询审核结果 fetches the agency's answer
and its deductions. The 预审 box shows the claim's predicted deductions per stay and in total before the
answer, and the month's precision and recall per rule after it (`ui.pages.claims_preaudit`). Two bar charts show the month's settlements by 费用类别 and by 参保地.

The deadlines not to miss (月度结算申请, 结算明细上传, 扣款异议, 病案首页补齐; `app.claims.watch`) are
listed with their state and article; `deadlines_changed` tells the main window, which warns in the
status bar. A 病案首页待补齐 row (Guangdong, `003 §16`) is met with 病案首页已补齐 (a cashier's or a
reviewer's, `app.workflow.medical_record`): recorded, audited, and the row leaves the list.
The deductions of the month's claims are listed with their dispute deadline; 提出异议… records the
hospital's dispute with its evidence files (only their names are kept).

Only reviewers (`Permission.BUILD_CLAIM`) build, export, upload, fetch and dispute; a cashier sees
the page read-only. Database work runs on the database thread and centre calls on the background
pool, each with its own client (`ui.operations`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from app.business_date import business_today
from app.bootstrap import CounterContext
from app.claims.service import ended_months
from app.db.models import ClaimStatus
from app.operators import OperatorInfo, Permission
from app.slips import money_text
from ui.operations import Executor, Operation
from ui.pages.claims_chart import Bar, BarChart
from ui.pages.claims_dialogs import DisputeDialog
from ui.pages.claims_preaudit import PreauditBox
from ui.pages.workflow_widgets import OK_COLOUR, ProgressRelay, error_text
from ui.qt import (
    QAbstractItemView,
    QBrush,
    QColor,
    QComboBox,
    QFileDialog,
    QFont,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QKeySequence,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QShowEvent,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ERROR_COLOUR, ErrorLabel, NOTICE_COLOUR, add_page_title, notice

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.centre.client import CentreClient
    from app.claims.deductions import DeductionView, DisputeView
    from app.claims.forms import ClaimForms
    from app.claims.service import BuildResult, ClaimSummary, MonthOverview
    from app.claims.upload import AnswerOutcome, UploadOutcome
    from app.claims.watch import Watched
    from app.workflow.medical_record import Completion

ClientFactory = Callable[[CounterContext, OperatorInfo], "CentreClient"]

MONTHS_SHOWN = 12
DEADLINE_CHECK_INTERVAL_MS = 60 * 60 * 1000  # deadlines move with the date: look again every hour
DEADLINE_COLUMNS = ("截止日", "状态", "事项", "依据")
DEDUCTION_COLUMNS = ("结算批次", "姓名", "身份证号", "扣款项目", "扣款金额", "扣款原因", "异议期限")
CENTRE_STATUS = {"receiving": "接收中", "submitted": "已提交，待审核", "audited": "已审核"}




def _open_workflow_client(ctx: CounterContext, operator: OperatorInfo) -> CentreClient:
    from app.composition import open_workflow_centre

    return open_workflow_centre(ctx, operator)


def load_watch(ctx: CounterContext, session: Session, today: dt.date) -> list[Watched]:
    """The open deadlines (`app.claims.watch`) by this counter's profile, calendar and warning days."""
    from app.claims.calendar import load_calendar
    from app.claims.watch import watch
    from app.rules.profiles import load_profile
    from app.settings import CLAIMS_PROFILE, CLAIMS_WARN_WORKING_DAYS

    return watch(session, profile=load_profile(ctx.settings.get(CLAIMS_PROFILE)),
                 calendar=load_calendar(ctx.paths.config_dir), today=today,
                 warn_working_days=ctx.settings.get(CLAIMS_WARN_WORKING_DAYS))


@dataclass(frozen=True)
class MonthView:
    """What the page shows of one month, read in one transaction."""

    overview: MonthOverview
    deductions: list[DeductionView]
    watched: list[Watched] | None  # None when the deadlines could not be worked out
    watch_problem: str


def _fit_table(table: QTableWidget, min_rows: int, max_rows: int) -> None:
    """Tall enough for its rows (between min_rows and max_rows): the page scrolls, not the table."""
    shown = min(table.rowCount(), max_rows)
    rows_height = sum(table.rowHeight(row) for row in range(shown))
    rows_height += max(min_rows - shown, 0) * table.verticalHeader().defaultSectionSize()
    height = table.horizontalHeader().sizeHint().height() + rows_height + 2 * table.frameWidth() + 2
    table.setFixedHeight(height)


def _item(text: str, *, right: bool = False, colour: str | None = None, bold: bool = False,
          tooltip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if colour:
        item.setForeground(QBrush(QColor(colour)))
    if bold:
        font = QFont(item.font())
        font.setBold(True)
        item.setFont(font)
    if tooltip:
        item.setToolTip(tooltip)
    return item


class _Line(QLabel):
    """A line of news that takes no room while it has nothing to say."""

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setVisible(bool(text))


class ClaimsPage(QWidget):
    """The 月度结算 page. Emits `deadlines_changed()` whenever it has looked at the deadlines again
    (`watched` holds them) and `changed()` after a claim changed here."""

    deadlines_changed = Signal()
    changed = Signal()

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None, *,
                 open_client: ClientFactory | None = None, today: Callable[[], dt.date] | None = None) -> None:
        super().__init__(parent)
        self.title = self.tr("月度结算")
        self.setObjectName("claimsPage")
        self._ctx = ctx
        self._operator = operator
        self._open_client: ClientFactory = open_client or _open_workflow_client
        self._today = today or business_today
        self.can_claim = operator.can(Permission.BUILD_CLAIM)
        # "build" / "upload" / "answer" / "export" / "dispute" / "medical_record" while one runs
        self.busy: str | None = None
        self.overview: MonthOverview | None = None
        self.claims: tuple[ClaimSummary, ...] = ()
        self.deductions: list[DeductionView] = []
        self.watched: list[Watched] = []
        self.last_upload: UploadOutcome | None = None
        self.last_answer: AnswerOutcome | None = None
        self.last_build: BuildResult | None = None
        self.exported: list[Path] = []
        self.dispute_dialog: DisputeDialog | None = None
        self._wanted_claim: int | None = None
        self._generation = 0
        self._watch_generation = 0
        self._stop = threading.Event()
        self.relay = ProgressRelay(self._show_progress, self)
        # The folder dialog's answer (tests replace it).
        self.choose_folder: Callable[[], str | None] = self._choose_folder_with_dialog

        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 8)
        add_page_title(outer, self.title, self)

        pick = QHBoxLayout()
        month_label = QLabel(self.tr("申报月份(&M)："), self)
        self.month_combo = QComboBox(self)
        self.month_combo.setObjectName("claimMonth")
        for month in ended_months(self._today(), MONTHS_SHOWN):
            year, number = month.split("-")
            self.month_combo.addItem(self.tr("{year}年{month}月").format(year=year, month=int(number)), month)
        month_label.setBuddy(self.month_combo)
        pick.addWidget(month_label)
        pick.addWidget(self.month_combo)
        self.month_hint = QLabel(self.tr("（结算日期所在月；申请上月的费用）"), self)
        pick.addWidget(self.month_hint)
        pick.addStretch(1)
        self.refresh_button = QPushButton(self.tr("刷新（F5）"), self)
        self.refresh_button.setObjectName("refreshClaims")
        self.refresh_button.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.refresh_button.clicked.connect(lambda: self.reload())
        pick.addWidget(self.refresh_button)
        outer.addLayout(pick)
        if not self.can_claim:
            outer.addWidget(notice(self.tr(
                "只读：生成、导出、上传月度结算申请，查询审核结果和提出扣款异议由审核员办理。"), self,
                object_name="claimsReadOnly"))

        scroll = self._scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll, 1)
        body = QWidget(scroll)
        scroll.setWidget(body)
        rows = QVBoxLayout(body)
        rows.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        rows.addLayout(top)

        top.addWidget(self._build_claim_box(body), 4)
        top.addWidget(self._build_deadline_box(body), 5)  # the wider: its lines say what is due
        # The deductions (a dispute has a deadline) right under the claim, where a 1366×768 screen shows
        # them and the chosen one's reason; the predictions and the charts below (issue 20 §5).
        rows.addWidget(self._build_deduction_box(body))

        # 预审 (issue 10, part B): the claim's predicted deductions, then what the agency's answer taught.
        self.preaudit_box = PreauditBox(ctx, operator, body)
        rows.addWidget(self.preaudit_box)

        self.chart_box = charts = QGroupBox(self.tr("本月结算概况"), body)
        charts.setObjectName("chartBox")
        chart_row = QHBoxLayout(charts)
        empty = self.tr("本月没有出院结算")
        self.category_chart = BarChart(self.tr("按费用类别"), charts, "categoryChart", empty)
        self.place_chart = BarChart(self.tr("按参保地"), charts, "placeChart", empty)
        chart_row.addWidget(self.category_chart, 1, Qt.AlignmentFlag.AlignTop)
        chart_row.addWidget(self.place_chart, 1, Qt.AlignmentFlag.AlignTop)
        rows.addWidget(charts)
        rows.addStretch(1)

        self.month_combo.currentIndexChanged.connect(lambda _index: self._month_changed())
        self.batch_combo.currentIndexChanged.connect(lambda _index: self._show_claim())
        self.deduction_table.itemSelectionChanged.connect(self._update_buttons)
        self.deduction_table.itemActivated.connect(lambda _item: self.open_dispute())
        self._deadline_timer = QTimer(self)
        self._deadline_timer.setInterval(DEADLINE_CHECK_INTERVAL_MS)
        self._deadline_timer.timeout.connect(self.check_deadlines)
        self._deadline_timer.start()
        self._show_claim()
        self.reload()

    # --- layout ------------------------------------------------------------------------------------

    def _build_claim_box(self, body: QWidget) -> QGroupBox:
        box = QGroupBox(self.tr("结算申请"), body)
        box.setObjectName("claimBox")
        layout = QVBoxLayout(box)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        self.batch_combo = QComboBox(box)
        self.batch_combo.setObjectName("claimBatch")
        batch_label = QLabel(self.tr("结算批次(&P)："), box)
        batch_label.setBuddy(self.batch_combo)
        grid.addWidget(batch_label, 0, 0)
        grid.addWidget(self.batch_combo, 0, 1, 1, 3)
        self.status_label = QLabel("", box)
        self.status_label.setObjectName("claimStatus")
        self.status_label.setWordWrap(True)
        font = QFont(self.status_label.font())
        font.setBold(True)
        self.status_label.setFont(font)
        grid.addWidget(QLabel(self.tr("状态："), box), 1, 0)
        grid.addWidget(self.status_label, 1, 1, 1, 3)
        self.figures: dict[str, QLabel] = {}
        names = (("personTimes", "人次"), ("claimTotal", "费用总额"), ("claimFund", "基金支付总额"),
                 ("claimPersonal", "自付金额"), ("claimDeduction", "扣款金额"), ("claimFundSettled", "基金结算金额"))
        for index, (name, caption) in enumerate(names):
            row, column = 2 + index // 2, (index % 2) * 2
            value = QLabel("—", box)
            value.setObjectName(name)
            value.setFont(font)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(QLabel(self.tr(caption) + self.tr("："), box), row, column)
            grid.addWidget(value, row, column + 1)
            self.figures[name] = value
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        layout.addLayout(grid)
        self.month_label = QLabel("", box)
        self.month_label.setObjectName("monthSummary")
        self.month_label.setWordWrap(True)
        layout.addWidget(self.month_label)
        self.unclaimed_label = QLabel("", box)
        self.unclaimed_label.setObjectName("unclaimedSummary")
        self.unclaimed_label.setWordWrap(True)
        layout.addWidget(self.unclaimed_label)

        buttons = QHBoxLayout()
        self.build_button = QPushButton(self.tr("生成申请(&G)"), box)
        self.build_button.setObjectName("buildClaim")
        self.build_button.clicked.connect(self.build)
        self.export_button = QPushButton(self.tr("导出结算表(&E)…"), box)
        self.export_button.setObjectName("exportForms")
        self.export_button.clicked.connect(lambda: self.export_forms())
        self.upload_button = QPushButton(self.tr("上传(&U)"), box)
        self.upload_button.setObjectName("uploadClaim")
        self.upload_button.clicked.connect(self.upload)
        self.answer_button = QPushButton(self.tr("查询审核结果(&Q)"), box)
        self.answer_button.setObjectName("fetchAnswer")
        self.answer_button.clicked.connect(self.fetch_answer)
        for button in (self.build_button, self.export_button, self.upload_button, self.answer_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

        progress = QHBoxLayout()
        self.progress = QProgressBar(box)
        self.progress.setObjectName("uploadProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(self.tr("分片 %v/%m"))
        progress.addWidget(self.progress, 1)
        self.cancel_button = QPushButton(self.tr("取消(&C)"), box)
        self.cancel_button.setObjectName("cancelUpload")
        self.cancel_button.setToolTip(self.tr("当前分片上传完后暂停；之后按“继续上传”从中断处继续"))
        self.cancel_button.clicked.connect(self.cancel_upload)
        progress.addWidget(self.cancel_button)
        layout.addLayout(progress)
        self.progress.hide()
        self.cancel_button.hide()
        self.progress_label = _Line("", box)
        self.progress_label.setObjectName("uploadProgressText")
        layout.addWidget(self.progress_label)
        self.message_label = _Line("", box)
        self.message_label.setObjectName("claimMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message_label)
        self.progress_label.hide()
        self.message_label.hide()
        self.problems_label = notice("", box, object_name="answerProblems")
        self.problems_label.hide()
        layout.addWidget(self.problems_label)
        self.error_label = ErrorLabel(box, "claimsError")
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        return box

    def _build_deadline_box(self, body: QWidget) -> QGroupBox:
        box = QGroupBox(self.tr("截止日提醒"), body)
        box.setObjectName("deadlineBox")
        layout = QVBoxLayout(box)
        self.deadline_summary = QLabel(self.tr("正在检查…"), box)
        self.deadline_summary.setObjectName("deadlineSummary")
        self.deadline_summary.setWordWrap(True)
        layout.addWidget(self.deadline_summary)
        self.deadline_table = QTableWidget(0, len(DEADLINE_COLUMNS), box)
        self.deadline_table.setObjectName("deadlineTable")
        self.deadline_table.setHorizontalHeaderLabels([self.tr(c) for c in DEADLINE_COLUMNS])
        self._plain_table(self.deadline_table)
        header = self.deadline_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # 事项 takes the rest
        self.deadline_table.setWordWrap(True)
        _fit_table(self.deadline_table, 3, 6)
        layout.addWidget(self.deadline_table)
        # 病案首页补齐 (003 §16): the clerk says the chosen settlement's 病案首页 is complete, and it is met.
        row = QHBoxLayout()
        self.deadline_message = _Line("", box)
        self.deadline_message.setObjectName("deadlineMessage")
        self.deadline_message.setWordWrap(True)
        self.deadline_message.setStyleSheet(f"color: {OK_COLOUR};")
        self.deadline_message.hide()
        row.addWidget(self.deadline_message, 1)
        row.addStretch(0)
        self.medical_record_button = QPushButton(self.tr("病案首页已补齐(&B)"), box)
        self.medical_record_button.setObjectName("markMedicalRecord")
        self.medical_record_button.setToolTip(self.tr("选中一条“病案首页待补齐”，病案首页补齐后按此登记（003 §16）"))
        self.medical_record_button.setEnabled(False)
        self.medical_record_button.clicked.connect(self.mark_medical_record)
        row.addWidget(self.medical_record_button)
        layout.addLayout(row)
        self.deadline_table.itemSelectionChanged.connect(self._update_medical_record_button)
        self.deadline_error = ErrorLabel(box, "deadlineError")
        layout.addWidget(self.deadline_error)
        layout.addStretch(1)
        return box

    def _build_deduction_box(self, body: QWidget) -> QGroupBox:
        box = QGroupBox(self.tr("扣款明细（本月申报批次）"), body)
        box.setObjectName("deductionBox")
        layout = QVBoxLayout(box)
        self.deduction_table = QTableWidget(0, len(DEDUCTION_COLUMNS), box)
        self.deduction_table.setObjectName("deductionTable")
        self.deduction_table.setHorizontalHeaderLabels([self.tr(c) for c in DEDUCTION_COLUMNS])
        self._plain_table(self.deduction_table)
        header = self.deduction_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)  # 扣款原因 takes the rest
        _fit_table(self.deduction_table, 2, 10)
        layout.addWidget(self.deduction_table)
        # The chosen deduction in full: its reason is read here, not only in a cut cell's tooltip (issue 20 §5).
        self.deduction_detail = QLabel(self.tr("选中一笔扣款，在此查看完整的扣款原因。"), box)
        self.deduction_detail.setObjectName("deductionDetail")
        self.deduction_detail.setWordWrap(True)
        self.deduction_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.deduction_detail)
        self.deduction_table.itemSelectionChanged.connect(self._show_deduction_detail)
        row = QHBoxLayout()
        self.deduction_count = QLabel("", box)
        self.deduction_count.setObjectName("deductionCount")
        row.addWidget(self.deduction_count, 1)
        self.dispute_button = QPushButton(self.tr("提出异议(&D)…"), box)
        self.dispute_button.setObjectName("disputeDeduction")
        self.dispute_button.clicked.connect(self.open_dispute)
        row.addWidget(self.dispute_button)
        layout.addLayout(row)
        return box

    @staticmethod
    def _plain_table(table: QTableWidget) -> None:
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().setVisible(False)

    # --- loading ------------------------------------------------------------------------------------

    @property
    def month(self) -> str:
        return str(self.month_combo.currentData())

    def select_month(self, month: str) -> bool:
        index = self.month_combo.findData(month)
        if index >= 0:
            self.month_combo.setCurrentIndex(index)
        return index >= 0

    def _month_changed(self) -> None:
        self.message_label.setText("")
        self.problems_label.hide()
        self.error_label.clear_error()
        self._wanted_claim = None
        self.reload()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not event.spontaneous():
            self.reload()  # settlements may have been made since the page was last looked at

    def reload(self) -> None:
        month, today, ctx = self.month, self._today(), self._ctx
        self._generation += 1
        generation = self._generation

        def work(session: Session) -> MonthView:
            from app.claims.deductions import list_deductions
            from app.claims.service import month_overview

            overview = month_overview(session, month)
            watched: list[Watched] | None = None
            problem = ""
            deductions: list[DeductionView] = []
            try:
                from app.claims.calendar import load_calendar

                from app.claims.watch import calendar_warning

                calendar = load_calendar(ctx.paths.config_dir)
                deductions = list_deductions(session, today=today, calendar=calendar, month=month)
                watched = load_watch(ctx, session, today)
                problem = calendar_warning(calendar, today) or ""
            except Exception as error:  # the month's figures are still worth showing
                problem = self.tr("截止日未能计算：{reason}").format(reason=error_text(error))
            return MonthView(overview, deductions, watched, problem)

        Operation.transaction(self, ctx, work).success(
            lambda view: self._loaded(view, generation)).failure(
            lambda error: self._load_failed(error, generation)).run()

    def _loaded(self, view: MonthView, generation: int) -> None:
        if generation != self._generation:
            return  # an older month answered late
        if view.overview.month != self.month:
            return
        self.overview = view.overview
        self.claims = view.overview.claims
        self.deductions = view.deductions
        self._fill_batches()
        self._show_overview(view.overview)
        self._show_deductions(view.deductions)
        if view.watched is not None:
            self._show_deadlines(view.watched)
        if view.watch_problem:
            self.deadline_error.show_error(view.watch_problem)
        else:
            self.deadline_error.clear_error()
        self._update_buttons()

    def _load_failed(self, error: BaseException, generation: int) -> None:
        if generation != self._generation:
            return
        self.error_label.show_error(self.tr("未能读取月度结算：{reason}").format(reason=error_text(error)))
        self._update_buttons()
        self.check_deadlines()  # the deadlines do not depend on the month's figures

    def check_deadlines(self) -> None:
        """Look at the deadlines again (the hourly timer; after a settlement elsewhere)."""
        ctx, today = self._ctx, self._today()
        self._watch_generation += 1
        generation = self._watch_generation

        def work(session: Session) -> tuple[list[Watched], str]:
            from app.claims.calendar import load_calendar
            from app.claims.watch import calendar_warning

            # The warning of a year without its 调休 arrangement stays as long as it is true.
            return load_watch(ctx, session, today), calendar_warning(load_calendar(ctx.paths.config_dir), today) or ""

        def show(found: tuple[list[Watched], str]) -> None:
            if generation == self._watch_generation:
                watched, warning = found
                self._show_deadlines(watched)
                if warning:
                    self.deadline_error.show_error(warning)
                else:
                    self.deadline_error.clear_error()

        Operation.transaction(self, ctx, work).success(show).failure(
            lambda error: self.deadline_error.show_error(
                self.tr("截止日未能计算：{reason}").format(reason=error_text(error)))).run()

    # --- the claim ------------------------------------------------------------------------------------

    def _fill_batches(self) -> None:
        wanted = self._wanted_claim if self._wanted_claim is not None else self._current_claim_id()
        self.batch_combo.blockSignals(True)
        try:
            self.batch_combo.clear()
            if not self.claims:
                self.batch_combo.addItem(self.tr("（尚未生成）"), None)
            # Latest batch first: the one still to upload, if any, is the one the clerk works on.
            for claim in sorted(self.claims, key=lambda c: -c.sequence):
                text = self.tr("{batch}（第 {n} 批，{status}）").format(
                    batch=claim.batch_no, n=claim.sequence, status=self._status_text(claim))
                self.batch_combo.addItem(text, claim.claim_id)
            index = self.batch_combo.findData(wanted) if wanted is not None else -1
            self.batch_combo.setCurrentIndex(max(index, 0))
        finally:
            self.batch_combo.blockSignals(False)
        self._wanted_claim = None
        self._show_claim()

    def _current_claim_id(self) -> int | None:
        data = self.batch_combo.currentData()
        return int(data) if data is not None else None

    @property
    def claim(self) -> ClaimSummary | None:
        """The claim shown (the batch picked; the latest by default)."""
        claim_id = self._current_claim_id()
        return next((c for c in self.claims if c.claim_id == claim_id), None)

    def _status_text(self, claim: ClaimSummary) -> str:
        text = claim.status_label
        if claim.status is ClaimStatus.UPLOADING and claim.chunks:
            text += self.tr("，已上传分片 {done}/{chunks}").format(done=claim.chunks_done, chunks=claim.chunks)
        return text

    def _show_claim(self) -> None:
        claim = self.claim
        self.preaudit_box.show_claim(claim)
        if claim is None:
            self.status_label.setText(self.tr("尚未生成申请") if self.overview is not None else self.tr("正在读取…"))
            self.status_label.setStyleSheet(f"color: {NOTICE_COLOUR};")
            for label in self.figures.values():
                label.setText("—")
        else:
            text = self._status_text(claim)
            if claim.centre_status and claim.status in (ClaimStatus.UPLOADED, ClaimStatus.ANSWERED):
                text += self.tr("（经办机构：{status}）").format(
                    status=self.tr(CENTRE_STATUS.get(claim.centre_status, claim.centre_status)))
            if claim.corrections:
                text += self.tr("；含冲销 {n} 笔").format(n=claim.corrections)
            self.status_label.setText(text)
            colour = OK_COLOUR if claim.status in (ClaimStatus.UPLOADED, ClaimStatus.ANSWERED) else NOTICE_COLOUR
            self.status_label.setStyleSheet(f"color: {colour};")
            self.figures["personTimes"].setText(str(claim.person_times))
            for name, amount in (("claimTotal", claim.total), ("claimFund", claim.fund_total),
                                 ("claimPersonal", claim.personal_total), ("claimDeduction", claim.deduction_total),
                                 ("claimFundSettled", claim.fund_settled_total)):
                self.figures[name].setText(self.tr("{amount} 元").format(amount=money_text(amount)))
        self._update_buttons()

    def _show_overview(self, overview: MonthOverview) -> None:
        self.month_label.setText(self.tr(
            "本月出院结算 {count} 笔：医疗费总额 {total} 元，基金支付 {fund} 元，个人支付 {personal} 元。").format(
            count=overview.settlements, total=money_text(overview.total), fund=money_text(overview.fund_total),
            personal=money_text(overview.personal_total)))
        if overview.unclaimed:
            self.unclaimed_label.setText(self.tr("未申报结算：{n} 笔（按“生成申请”纳入申请）。").format(
                n=overview.unclaimed))
            self.unclaimed_label.setStyleSheet(f"color: {NOTICE_COLOUR}; font-weight: bold;")
        else:
            self.unclaimed_label.setText(self.tr("未申报结算：0 笔。"))
            self.unclaimed_label.setStyleSheet("")
        self.chart_box.setTitle(self.tr("{month}结算概况").format(month=self.month_combo.currentText()))
        self.category_chart.set_bars([
            Bar(bar.label, None, bar.total, bar.fund_total) for bar in overview.by_category])
        self.place_chart.set_bars([
            Bar(bar.label, bar.count, bar.total, bar.fund_total) for bar in overview.by_insured_place])
        if not overview.settlements:
            self.category_chart.set_bars([])

    # --- deadlines ------------------------------------------------------------------------------------

    def _show_deadlines(self, watched: Sequence[Watched]) -> None:
        self.watched = list(watched)
        table = self.deadline_table
        table.setRowCount(len(watched))
        kinds = {"claim": self.tr("月度结算申请"), "detail_upload": self.tr("结算明细上传"),
                 "dispute": self.tr("扣款异议"), "medical_record": self.tr("病案首页补齐"),
                 "agency_month": self.tr("经办机构上传月度结算信息")}
        today = self._today()
        for row, item in enumerate(watched):
            deadline, status = item.deadline, item.status
            colour = {"overdue": ERROR_COLOUR, "due_soon": NOTICE_COLOUR}.get(status.state)
            if status.state == "agency":  # the agency's date, not this hospital's (000 §31, 001 §33)
                state = self.tr("经办机构日期，本院应及时申请")
            elif status.state == "overdue":
                state = self.tr("逾期 {n} 个工作日").format(n=-status.working_days_left) \
                    if status.working_days_left < 0 else self.tr("逾期")
            elif deadline.due == today:
                state = self.tr("今天截止")
            elif status.state == "due_soon":
                state = self.tr("即将到期（剩 {n} 个工作日）").format(n=status.working_days_left)
            else:
                state = self.tr("剩 {n} 个工作日").format(n=status.working_days_left)
            kind = kinds.get(deadline.kind, deadline.kind)
            values = [
                _item(deadline.due.isoformat(), colour=colour),
                _item(state, colour=colour, bold=colour is not None, tooltip=status.message),
                _item(deadline.subject, tooltip=f"{kind}：{deadline.subject}"),
                _item(deadline.source),
            ]
            for column, cell in enumerate(values):
                table.setItem(row, column, cell)
        table.resizeRowsToContents()
        _fit_table(table, 3, 6)
        overdue = sum(1 for w in watched if w.status.state == "overdue")
        soon = sum(1 for w in watched if w.status.state == "due_soon")
        if not watched:
            self.deadline_summary.setText(self.tr("没有未办的截止事项。"))
            self.deadline_summary.setStyleSheet(f"color: {OK_COLOUR};")
        else:
            self.deadline_summary.setText(self.tr("未办事项 {n} 项：已逾期 {overdue} 项，即将到期 {soon} 项。").format(
                n=len(watched), overdue=overdue, soon=soon))
            colour = ERROR_COLOUR if overdue else NOTICE_COLOUR if soon else ""
            self.deadline_summary.setStyleSheet(f"color: {colour}; font-weight: bold;" if colour else "")
        self.deadlines_changed.emit()

    def selected_deadline(self) -> Watched | None:
        model = self.deadline_table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        if not rows:
            return None
        row = rows[0].row()
        return self.watched[row] if 0 <= row < len(self.watched) else None

    def select_deadline(self, settlement_id: int) -> bool:
        """Choose the 病案首页 row of this settlement (tests; the clerk clicks it)."""
        for row, item in enumerate(self.watched):
            if item.deadline.kind == "medical_record" and item.deadline.settlement_id == settlement_id:
                self.deadline_table.selectRow(row)
                return True
        return False

    def _update_medical_record_button(self) -> None:
        chosen = self.selected_deadline()
        self.medical_record_button.setEnabled(
            self.busy is None and self._operator.can(Permission.SETTLE) and chosen is not None
            and chosen.deadline.kind == "medical_record" and chosen.deadline.settlement_id is not None)

    def mark_medical_record(self) -> None:
        """The chosen settlement's 病案首页 is complete (003 §16): recorded, audited, and gone from the list."""
        chosen = self.selected_deadline()
        if (self.busy is not None or chosen is None or chosen.deadline.kind != "medical_record"
                or chosen.deadline.settlement_id is None or not self._operator.can(Permission.SETTLE)):
            return
        ctx, operator, settlement_id = self._ctx, self._operator, chosen.deadline.settlement_id

        def work() -> Completion:
            from app.workflow.medical_record import mark_completed

            return mark_completed(ctx, settlement_id, operator)

        self.deadline_error.clear_error()
        self.deadline_message.setText("")
        self.busy = "medical_record"
        self._update_buttons()

        def done(completion: Completion) -> None:
            self.busy = None
            self.deadline_message.setText(self.tr("已登记：住院号 {no} {name} 的病案首页已补齐。").format(
                no=completion.admission_no, name=completion.name))
            self._update_buttons()
            self.check_deadlines()

        def failed(error: BaseException) -> None:
            self.busy = None
            self.deadline_error.show_error(self.tr("未登记病案首页补齐：{reason}").format(reason=error_text(error)))
            self._update_buttons()
            self.check_deadlines()  # marked elsewhere or cancelled meanwhile: the list says so now

        Operation(self, work).success(done).failure(failed).run()

    # --- deductions -----------------------------------------------------------------------------------

    def _show_deductions(self, deductions: Sequence[DeductionView]) -> None:
        table = self.deduction_table
        selected = self.selected_deduction()
        table.setRowCount(len(deductions))
        for row, deduction in enumerate(deductions):
            item_name = deduction.item_name or self.tr("整笔结算")
            if deduction.line_no:
                item_name += self.tr("（明细 {n}）").format(n=deduction.line_no)
            if deduction.dispute is not None and not deduction.dispute.resendable:
                colour: str | None = OK_COLOUR
            elif not deduction.disputable:
                colour = ERROR_COLOUR
            elif deduction.working_days_left is not None and deduction.working_days_left <= 3:
                colour = NOTICE_COLOUR
            else:
                colour = None
            dispute_tip = ""
            if deduction.dispute is not None:
                dispute_tip = self.tr("异议：{statement}\n证据：{evidence}").format(
                    statement=deduction.dispute.statement, evidence="、".join(deduction.dispute.evidence))
            values = [
                _item(deduction.batch_no), _item(deduction.name), _item(deduction.masked_id),
                _item(item_name, tooltip=deduction.item_code or ""),
                _item(money_text(deduction.amount), right=True),
                _item(deduction.reason, tooltip=deduction.reason),
                _item(deduction.deadline_text, colour=colour, bold=colour in (ERROR_COLOUR, NOTICE_COLOUR),
                      tooltip=dispute_tip),
            ]
            for column, cell in enumerate(values):
                cell.setData(Qt.ItemDataRole.UserRole, deduction.deduction_id)
                table.setItem(row, column, cell)
        _fit_table(table, 2, 10)
        if selected is not None:
            for row, deduction in enumerate(deductions):
                if deduction.deduction_id == selected.deduction_id:
                    table.selectRow(row)
        total = sum((d.amount for d in deductions), start=Decimal("0.00"))
        self.deduction_count.setText(
            self.tr("共 {n} 笔扣款，合计 {total} 元").format(n=len(deductions), total=money_text(total))
            if deductions else self.tr("本月申报批次没有扣款（或尚未查询审核结果）。"))

    def _show_deduction_detail(self) -> None:
        deduction = self.selected_deduction()
        if deduction is None:
            self.deduction_detail.setText(self.tr("选中一笔扣款，在此查看完整的扣款原因。"))
            return
        text = self.tr("{name}　{item}　扣款 {amount} 元\n扣款原因：{reason}\n异议期限：{deadline}").format(
            name=deduction.name, item=deduction.item_name or self.tr("整笔结算"), amount=money_text(deduction.amount),
            reason=deduction.reason, deadline=deduction.deadline_text)
        if deduction.dispute is not None:
            text += "\n" + self.tr("异议：{statement}").format(statement=deduction.dispute.statement)
        self.deduction_detail.setText(text)
        # The deductions sit low on a 1366×768 page: the chosen one's detail is brought into view.
        QTimer.singleShot(0, lambda: self._scroll.ensureWidgetVisible(self.deduction_detail, 0, 8))

    def selected_deduction(self) -> DeductionView | None:
        rows = self.deduction_table.selectionModel().selectedRows() if self.deduction_table.selectionModel() else []
        if not rows:
            return None
        row = rows[0].row()
        return self.deductions[row] if 0 <= row < len(self.deductions) else None

    def select_deduction(self, deduction_id: int) -> bool:
        for row, deduction in enumerate(self.deductions):
            if deduction.deduction_id == deduction_id:
                self.deduction_table.selectRow(row)
                return True
        return False

    # --- building ------------------------------------------------------------------------------------

    def build(self) -> None:
        if self.busy is not None or not self.can_claim:
            return
        month, ctx, operator, today = self.month, self._ctx, self._operator, self._today()

        def work() -> BuildResult:
            from app.claims.service import build_claim

            return build_claim(ctx, month, operator, today=today)

        self._start("build", self.tr("正在生成 {month} 的月度结算申请…").format(month=self.month_combo.currentText()))
        Operation(self, work).success(self._built).failure(
            lambda error: self._failed(self.tr("未生成申请：{reason}"), error)).run()

    def _built(self, result: BuildResult) -> None:
        self._finish()
        self.last_build = result
        claim = result.claim
        if result.created:
            text = self.tr("已生成结算批次 {batch}：{n} 笔结算，人次 {times}。").format(
                batch=claim.batch_no, n=claim.settlements + claim.corrections, times=claim.person_times)
        elif result.unchanged:
            text = self.tr("申请没有变化（结算批次 {batch}，{status}）。").format(
                batch=claim.batch_no, status=claim.status_label)
        else:
            text = self.tr("已刷新结算批次 {batch}：新增 {added} 笔，移出 {removed} 笔（已撤销）。").format(
                batch=claim.batch_no, added=result.added, removed=result.removed)
        self.message_label.setText(text)
        self._wanted_claim = claim.claim_id
        self.changed.emit()
        self.reload()

    # --- exporting ------------------------------------------------------------------------------------

    def _choose_folder_with_dialog(self) -> str | None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("选择导出结算表的文件夹"), str(Path.home()))
        return folder or None

    def export_forms(self, folder: Path | None = None) -> None:
        claim = self.claim
        if claim is None or self.busy is not None or not self.can_claim:
            return
        chosen = folder or self.choose_folder()
        if not chosen:
            return
        out_dir = Path(chosen)
        claim_id, batch = claim.claim_id, claim.batch_no

        def read(session: Session) -> ClaimForms:
            from app.claims.service import claim_forms

            return claim_forms(session, claim_id)

        def write(forms: ClaimForms) -> None:
            def work() -> list[Path]:
                from printing.claim_forms import export

                return export(forms, out_dir)

            Operation(self, work, executor=Executor.BACKGROUND).success(self._exported).failure(
                lambda error: self._failed(self.tr("未导出结算表：{reason}"), error)).run()

        self._start("export", self.tr("正在导出结算批次 {batch} 的结算表…").format(batch=batch))
        Operation.transaction(self, self._ctx, read).success(write).failure(
            lambda error: self._failed(self.tr("未导出结算表：{reason}"), error)).run()

    def _exported(self, paths: list[Path]) -> None:
        self._finish()
        self.exported = list(paths)
        folder = paths[0].parent if paths else ""
        self.message_label.setText(self.tr("已导出 {n} 个文件到 {folder}：\n{names}").format(
            n=len(paths), folder=folder, names="\n".join(p.name for p in paths)))
        self._update_buttons()

    # --- uploading ------------------------------------------------------------------------------------

    def upload(self) -> None:
        claim = self.claim
        if claim is None or self.busy is not None or not self.can_claim:
            return
        if claim.status not in (ClaimStatus.DRAFT, ClaimStatus.UPLOADING):
            return
        if claim.status is ClaimStatus.DRAFT and not self._confirm_upload(claim):
            return  # a resumed upload was confirmed when it started
        claim_id = claim.claim_id
        ctx, operator, relay, stop, open_client = self._ctx, self._operator, self.relay, self._stop, self._open_client
        stop.clear()

        def work() -> UploadOutcome:
            from app.claims.upload import upload_claim

            client = open_client(ctx, operator)
            try:
                return upload_claim(ctx, client, claim_id, operator,
                                    progress=lambda done, chunks: relay.report("upload", done, chunks),
                                    should_stop=stop.is_set)
            finally:
                client.close()

        resuming = claim.status is ClaimStatus.UPLOADING
        self._start("upload", self.tr("正在继续上传结算批次 {batch}…") if resuming
                    else self.tr("正在上传结算批次 {batch}…"), batch=claim.batch_no)
        self.progress.setRange(0, 0)  # busy until the first report says how many chunks
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.relay.start()
        Operation(self, work, executor=Executor.BACKGROUND).success(self._uploaded).failure(
            self._upload_failed).run()

    def _confirm_upload(self, claim: ClaimSummary) -> bool:
        """Sending the month's claim to the agency is not undone from the window: ask first, with the
        batch and the amounts; 取消 is the default (issue 20 §11)."""
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("上传月度结算申请"),
                          self.tr("将结算批次 {batch}（{month}）上传给经办机构审核？").format(
                              batch=claim.batch_no, month=claim.month), QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("uploadConfirmation")
        box.setInformativeText(self.tr(
            "{times} 人次，医疗费总额 {total} 元，申请基金支付 {fund} 元。上传后不能在窗口撤回。").format(
            times=claim.person_times, total=money_text(claim.total), fund=money_text(claim.fund_total)))
        send = box.addButton(self.tr("上传"), QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(self.tr("取消"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        box.deleteLater()
        return box.clickedButton() is send

    def cancel_upload(self) -> None:
        if self.busy != "upload":
            return
        self._stop.set()
        self.cancel_button.setEnabled(False)
        self.progress_label.setText(self.tr("正在停止：当前分片上传完后暂停…"))

    def _show_progress(self, stage: str, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            text = self.tr("分片 {done}/{total}").format(done=done, total=total)
            if self._stop.is_set():
                text += self.tr("　正在停止：当前分片上传完后暂停…")
            self.progress_label.setText(text)

    def _uploaded(self, outcome: UploadOutcome) -> None:
        self.relay.stop()
        self._finish()
        self.last_upload = outcome
        batch = outcome.claim.batch_no
        if outcome.completed:
            self.progress_label.setText(self.tr("分片 {done}/{total}").format(
                done=outcome.chunks_done, total=outcome.chunks))
            self.message_label.setText(self.tr("上传完成：结算批次 {batch} 共 {n} 个分片，等待经办机构审核。").format(
                batch=batch, n=outcome.chunks))
        else:
            self.progress_label.setText(self.tr("已暂停：分片 {done}/{total}").format(
                done=outcome.chunks_done, total=outcome.chunks))
            self.message_label.setText(self.tr(
                "上传已暂停：已上传 {done}/{total} 个分片。按“继续上传”从中断处继续，已上传的分片不会重复。").format(
                done=outcome.chunks_done, total=outcome.chunks))
        self._wanted_claim = outcome.claim.claim_id
        self.changed.emit()
        self.reload()

    def _upload_failed(self, error: BaseException) -> None:
        self.relay.stop()
        self._failed(self.tr("上传未完成：{reason}\n再次上传即从中断处继续，已上传的分片不会重复。"), error)
        self.reload()

    # --- the agency's answer -------------------------------------------------------------------------

    def fetch_answer(self) -> None:
        claim = self.claim
        if claim is None or self.busy is not None or not self.can_claim:
            return
        claim_id = claim.claim_id
        ctx, operator, open_client, today = self._ctx, self._operator, self._open_client, self._today()

        def work() -> AnswerOutcome:
            from app.claims.upload import fetch_answer

            client = open_client(ctx, operator)
            try:
                return fetch_answer(ctx, client, claim_id, operator, today=today)
            finally:
                client.close()

        self._start("answer", self.tr("正在查询结算批次 {batch} 的审核结果…"), batch=claim.batch_no)
        Operation(self, work, executor=Executor.BACKGROUND).success(self._answered).failure(
            lambda error: self._failed(self.tr("未取得审核结果：{reason}"), error)).run()

    def _answered(self, outcome: AnswerOutcome) -> None:
        self._finish()
        self.last_answer = outcome
        status = self.tr(CENTRE_STATUS.get(outcome.centre_status, outcome.centre_status))
        text = self.tr("审核结果（结算批次 {batch}）：{status}；扣款 {n} 条").format(
            batch=outcome.claim.batch_no, status=status, n=outcome.deductions)
        if outcome.new_deductions:
            text += self.tr("，其中新通知 {n} 条（异议期限从今天起算）").format(n=outcome.new_deductions)
        text += self.tr("；扣款金额 {deduction} 元，基金结算金额 {settled} 元。").format(
            deduction=money_text(outcome.claim.deduction_total), settled=money_text(outcome.claim.fund_settled_total))
        self.message_label.setText(text)
        if outcome.problems:
            self.problems_label.setText(self.tr("请核对：") + "\n" + "\n".join(f"• {p}" for p in outcome.problems))
            self.problems_label.show()
        else:
            self.problems_label.hide()
        self._wanted_claim = outcome.claim.claim_id
        self.changed.emit()
        self.reload()

    # --- disputes ------------------------------------------------------------------------------------

    def open_dispute(self) -> None:
        deduction = self.selected_deduction()
        if deduction is None or not deduction.disputable or not self.can_claim or self.busy is not None:
            return
        dialog = DisputeDialog(deduction, self)
        dialog.submitted.connect(lambda: self.submit_dispute(dialog))
        dialog.finished.connect(lambda _result: self._dispute_closed(dialog))
        self.dispute_dialog = dialog
        dialog.open()

    def _dispute_closed(self, dialog: DisputeDialog) -> None:
        if self.dispute_dialog is dialog:
            self.dispute_dialog = None
        dialog.deleteLater()

    def submit_dispute(self, dialog: DisputeDialog) -> None:
        """Recorded, then sent to the agency (3303, `003 §20`) off the GUI thread."""
        statement, evidence = dialog.statement(), dialog.evidence()
        deduction_id = dialog.deduction.deduction_id
        ctx, operator, today, open_client = self._ctx, self._operator, self._today(), self._open_client

        def work() -> DisputeView:
            from app.claims.calendar import load_calendar
            from app.claims.deductions import file_dispute

            client = open_client(ctx, operator)
            try:
                return file_dispute(ctx, client, deduction_id, statement, evidence, operator, today=today,
                                    calendar=load_calendar(ctx.paths.config_dir))
            finally:
                client.close()

        dialog.set_busy(True)
        Operation(dialog, work, executor=Executor.BACKGROUND).success(
            lambda view: self._disputed(dialog, view)).failure(lambda error: dialog.failed(error_text(error))).run()

    def _disputed(self, dialog: DisputeDialog, view: DisputeView) -> None:
        dialog.accept()
        what = self.tr("{name} {item}，{amount} 元").format(
            name=dialog.deduction.name, item=dialog.deduction.item_name or self.tr("整笔结算"),
            amount=money_text(dialog.deduction.amount))
        evidence = "、".join(view.evidence)
        if view.state == "submitted":
            text = self.tr("异议已提交经办机构（{what}），证据：{evidence}。").format(what=what, evidence=evidence)
        elif view.state == "local":
            text = self.tr("已在本院记录异议（{what}）；本地区未规定网上异议，请按经办机构要求送交材料。").format(what=what)
        elif view.state == "refused":
            text = self.tr("异议未被受理（{what}）：{reason}。请修改后重新提交。").format(what=what, reason=view.refusal)
        else:
            text = self.tr("异议已在本院记录，但尚未送达经办机构（{what}）：结算中心暂时连不上，联网后请选中这笔扣款重新提交。"
                           ).format(what=what)
        self.message_label.setText(text)
        self.changed.emit()
        self.reload()

    # --- state ------------------------------------------------------------------------------------------

    def _start(self, what: str, text: str, batch: str = "") -> None:
        self.busy = what
        self.error_label.clear_error()
        self.problems_label.hide()
        self.message_label.setText("")
        self.progress_label.setText(text.format(batch=batch) if batch else text)
        self._update_buttons()

    def _finish(self) -> None:
        self.busy = None
        self.progress.hide()
        self.cancel_button.hide()
        self.progress_label.setText("")
        self._update_buttons()

    def _failed(self, template: str, error: BaseException) -> None:
        self._finish()
        self.error_label.show_error(template.format(reason=error_text(error)))

    def _update_buttons(self) -> None:
        claim = self.claim
        idle = self.busy is None
        status = claim.status if claim is not None else None
        self.month_combo.setEnabled(idle)
        self.batch_combo.setEnabled(idle and bool(self.claims))
        self.refresh_button.setEnabled(idle)
        self._update_medical_record_button()  # a cashier's too: cashiers mark 病案首页
        resuming = status is ClaimStatus.UPLOADING
        self.upload_button.setText(self.tr("继续上传(&U)") if resuming else self.tr("上传(&U)"))
        if not self.can_claim:
            why = self.tr("仅审核员可办理月度结算申报（当前角色：{role}）").format(role=self._operator.role_label)
            for button in (self.build_button, self.export_button, self.upload_button, self.answer_button,
                           self.dispute_button):
                button.setEnabled(False)
                button.setToolTip(why)
            return
        loaded = self.overview is not None
        self.build_button.setEnabled(idle and loaded)
        self.build_button.setToolTip(
            self.tr("把本月尚未申报的结算纳入申请；未上传的申请会按最新的结算刷新")
            if status in (None, ClaimStatus.DRAFT) else
            self.tr("本批次已上传；本月之后的结算会生成补充批次"))
        self.export_button.setEnabled(idle and claim is not None)
        self.export_button.setToolTip(
            self.tr("选择文件夹，写出结算表和两张明细表（PDF 和 XLSX）") if claim is not None
            else self.tr("请先生成申请"))
        uploadable = status in (ClaimStatus.DRAFT, ClaimStatus.UPLOADING)
        self.upload_button.setEnabled(idle and uploadable)
        self.upload_button.setToolTip(
            self.tr("请先生成申请") if claim is None else
            self.tr("分片上传；可随时取消，之后从中断处继续") if uploadable else self.tr("本批次已上传"))
        answerable = status in (ClaimStatus.UPLOADED, ClaimStatus.ANSWERED)
        self.answer_button.setEnabled(idle and answerable)
        self.answer_button.setToolTip(
            self.tr("向经办机构查询审核结果和扣款") if answerable else self.tr("上传完成后才能查询审核结果"))
        deduction = self.selected_deduction()
        self.dispute_button.setEnabled(idle and deduction is not None and deduction.disputable)
        if deduction is None:
            self.dispute_button.setToolTip(self.tr("请先在扣款明细中选择一笔扣款"))
        elif deduction.dispute is not None and not deduction.dispute.resendable:
            self.dispute_button.setToolTip(self.tr("这笔扣款已经提出过异议"))
        elif deduction.dispute is not None and deduction.disputable:
            self.dispute_button.setToolTip(self.tr("异议尚未被经办机构受理，可重新提交"))
        elif not deduction.disputable:
            self.dispute_button.setToolTip(self.tr("异议期限已过，扣款成立（经办机构推送之日起 10 个工作日，003 §20）"))
        elif deduction.dispute_due is None:
            self.dispute_button.setToolTip(self.tr("提出异议，附证据材料（本地区政策未规定异议期限）"))
        else:
            self.dispute_button.setToolTip(self.tr("在 {due} 前提出异议，附证据材料").format(
                due=deduction.dispute_due.isoformat()))
