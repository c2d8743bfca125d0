"""费用与伤病分离: the stay's charge lines, imported from the HIS or entered by hand, split into
work-injury and unrelated illness (`003 §15`, `000 六(二)`).

The clerk picks a stay, imports the HIS export (a refused file lists every bad row, nothing
is imported), filters the lines (diagnosis, department, dates, order group, bucket), puts a
selection under a diagnosis or overrides it with a reason (a cashier's override waits for a
reviewer's 审核通过), ticks 已告知患者 for lines outside the catalogue, and watches the slip's
matrix change. 中心预结算 uploads the lines and shows where the centre disagrees, line by line.
The pre-audit (预审, issue 10) runs after every change, off the GUI thread: a badge per line
("可能扣款 ¥12.50", coloured by severity, each finding's rule, message, article and advice in its
tooltip), the findings about the whole stay above the table, and the filter 仅显示可能扣款.

Every database and network step runs through `ui.operations` (never on the GUI thread); the
lines table is a `QTableView` over a model that formats only the rows on screen, so a
20,000-line stay scrolls smoothly.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.centre.wire import now as wire_now
from app.business_date import business_today
from app.bootstrap import CounterContext
from app.db.models import StayStatus
from app.errors import WiCounterError
from app.operators import OperatorInfo, Permission
from app.rules.settlement import BUCKET_LABELS, BUCKETS
from app.slips import money_text
from app.workflow.separation import (
    UNCLASSIFIED,
    LineDifference,
    LineView,
    PendingApproval,
    Workspace,
    approve_overrides,
    assign_diagnosis,
    clear_override,
    override,
    pending_approvals,
    select_lines,
    workspace,
)
from ui.operations import Executor, Operation, show_failure, clerk_message
from ui.pages.charges_dialogs import (
    BadRowsDialog,
    CodeMapDialog,
    DiagnosisDialog,
    DifferencesDialog,
    ManualLineDialog,
    OverrideDialog,
    RefundDialog,
    to_date,
    to_qdate,
)
from ui.pages.charges_model import BUCKET_COLOURS, UNCLASSIFIED_COLOUR, LinesModel, MatrixPreview, configure_lines_view
from ui.pages.preaudit_widgets import item_text
from ui.pages.workflow_widgets import make_searchable
from ui.qt import (
    QTimer,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QKeySequence,
    QLabel,
    QListWidget,
    QPushButton,
    QShowEvent,
    QGridLayout,
    QSizePolicy,
    QSplitter,
    Qt,
    QTableView,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ERROR_COLOUR, NOTICE_COLOUR, ErrorLabel, StatusLine, heading

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.centre.gateway import SettlementFigures
    from app.workflow.discharge_review import DischargeReview, ReviewItem
    from app.workflow.his_import import ImportResult

OK_COLOUR = "#1b5e20"
OPEN_STATUSES = (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT)
ALL = "__all__"
AWAITING_APPROVAL = "__awaiting__"  # the 分类 filter's 待审核: overrides waiting for a reviewer
NO_DIAGNOSIS = "__none__"


def settle_long_lived_objects() -> None:
    """Exempt what lives now (the program's modules, the stay's 20,000 lines) from the cyclic collector.

    A full collection walks every tracked object while holding the GIL: with the program and a big
    stay loaded that is a tenth of a second during which the window cannot draw, whichever thread
    started it (`bench/workflow.py` measures it). The lines are no part of a reference cycle and are
    still freed by their reference counts when the page lets go of them (`gc.freeze`). The price: a
    reference cycle already garbage but not yet collected at that moment (a few dozen objects of the
    finished transaction) is never collected; measured at about 20 objects per operation."""
    gc.freeze()


T = TypeVar("T")


def in_burst_transaction(ctx: CounterContext, work: Callable[[Session], T]) -> T:
    """`work` in one transaction on the database thread, as a burst (20,000 lines read, viewed, audited):
    without the cyclic collector, and what it leaves alive settled at once after the transaction closed,
    so no heap walk holds the GIL while the window waits (see settle_long_lived_objects)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        with ctx.transaction() as session:
            return work(session)
    finally:
        settle_long_lived_objects()
        if enabled:
            gc.enable()


REVIEW_DELAY_MS = 400  # the pre-audit waits this long after a change, so a burst of changes is audited once


@dataclass(frozen=True)
class ShownWorkspace:
    """A workspace with the figures the page shows about it, counted on the database thread in the
    workspace's own transaction: walking 20,000 lines on the GUI thread, and a second database round
    for the upload counts while the table paints the new lines, stalled the window (bench/workflow.py)."""

    ws: Workspace
    awaiting: int  # overrides waiting for a reviewer
    left_out: int  # lines not classified yet: not in the slip's matrix
    left_out_amount: Decimal
    upload: Any = None  # app.workflow.line_upload.UploadCounts, or None: read them separately


def shown_workspace(ws: Workspace, session: Session | None = None) -> ShownWorkspace:
    """`ws` with its figures; with a session also the stay's upload counts (issue 25)."""
    left_out = [line for line in ws.lines if line.bucket is None]
    upload = None
    if session is not None:
        from app.workflow.line_upload import upload_counts

        upload = upload_counts(session, ws.stay_id)
    return ShownWorkspace(ws, sum(1 for line in ws.lines if line.awaiting_approval), len(left_out),
                          sum((line.amount for line in left_out), Decimal("0")), upload)


def read_workspace(session: Session, stay_id: int) -> ShownWorkspace:
    return shown_workspace(workspace(session, stay_id), session)


ReviewGroups = tuple[dict[int, tuple["ReviewItem", ...]], list["ReviewItem"]]


def group_review(review: DischargeReview | None) -> ReviewGroups:
    """The pre-audit's findings by line seq (the badges), and those about the whole stay."""
    by_seq: dict[int, list[ReviewItem]] = {}
    stay_level: list[ReviewItem] = []
    for item in review.items if review is not None else ():
        if item.finding.seq is None:
            stay_level.append(item)
        else:
            by_seq.setdefault(item.finding.seq, []).append(item)
    return {seq: tuple(items) for seq, items in by_seq.items()}, stay_level


def list_open_stays(session: Session) -> list[tuple[int, str]]:
    """(stay id, label) of the stays whose charges can still change (在院, 待结算, 已撤销 settlement)."""
    from app.workflow.stays import list_stays

    return [(s.stay_id, f"{s.name} · {s.admission_no} · {s.registration_no or '未取得就医登记号'} · {s.dept} · "
                        f"{s.status_label}") for s in list_stays(session) if s.status in OPEN_STATUSES]


class ChargesPage(QWidget):
    """The 费用与伤病分离 page. `changed` is emitted after the stay's lines changed."""

    changed = Signal()

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = self.tr("费用与伤病分离")
        self.setObjectName("chargesPage")
        self._ctx = ctx
        self._operator = operator
        self.workspace: Workspace | None = None
        self.stay_id: int | None = None
        self.last_dialog: Any = None
        self.last_differences: list[LineDifference] | None = None
        self.last_figures: SettlementFigures | None = None
        self._pending = 0
        self._want_stay: int | None = None
        self.review: DischargeReview | None = None  # the pre-audit of the workspace shown
        self._review_generation = 0
        self._shown_review_generation = 0
        # Replaced in tests: the system's file dialog cannot be clicked offscreen.
        self.choose_file: Callable[[], str | None] = self._choose_file_with_dialog
        self._built = False  # the filter combos signal while they are filled during _build()
        self._build()
        self._built = True
        self._update_buttons()
        settle_long_lived_objects()
        self.uploads_running = 0  # background uploads in flight (tests wait for 0)
        self._daily_done: dt.date | None = None
        # The site's daily upload (centre.upload_daily_at): looked at every minute while the window runs.
        self._daily_timer = QTimer(self)
        self._daily_timer.setInterval(60_000)
        self._daily_timer.timeout.connect(self.upload_daily_if_due)
        self._daily_timer.start()
        self.reload_stays()

    # --- layout ----------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        # The pre-audit's one line sits beside the title: on its own row it took the 15th charge row at 1366×768.
        title_row = QHBoxLayout()
        title_row.addWidget(heading(self.title, self))
        title_row.addSpacing(24)
        self.preaudit_label = QLabel(self)
        self.preaudit_label.setObjectName("preauditLabel")
        self.preaudit_label.setWordWrap(True)
        title_row.addWidget(self.preaudit_label, 1, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(title_row)

        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("住院："), self))
        self.stay_combo = QComboBox(self)
        self.stay_combo.setObjectName("stayCombo")
        self.stay_combo.setMinimumWidth(320)
        make_searchable(self.stay_combo)
        self.stay_combo.currentIndexChanged.connect(self._stay_chosen)
        top.addWidget(self.stay_combo, 1)
        self.reload_button = self._button(self.tr("刷新"), "reloadButton", self.refresh, "F5", top)
        top.addSpacing(16)
        top.addWidget(QLabel(self.tr("对照方案："), self))
        self.mapping_combo = QComboBox(self)
        self.mapping_combo.setObjectName("mappingCombo")
        top.addWidget(self.mapping_combo)
        self.import_button = self._button(self.tr("导入 HIS 文件…"), "importButton", self.import_file, "Ctrl+I", top)
        self.add_button = self._button(self.tr("手工录入(&N)…"), "addLineButton", self.add_line, None, top)
        self.correct_button = self._button(self.tr("更正(&E)…"), "correctButton", self.correct_line, None, top)
        self.refund_button = self._button(self.tr("退费(&T)…"), "refundButton", self.refund_line, None, top)
        self.map_button = self._button(self.tr("目录对照(&M)…"), "mapCodeButton", self.map_code, None, top)
        layout.addLayout(top)
        self._load_mappings()

        filters = QHBoxLayout()
        filters.addWidget(QLabel(self.tr("筛选 诊断"), self))
        self.diagnosis_filter = self._combo("diagnosisFilter", filters)
        filters.addWidget(QLabel(self.tr("科室"), self))
        self.dept_filter = self._combo("deptFilter", filters)
        filters.addWidget(QLabel(self.tr("医嘱组"), self))
        self.group_filter = self._combo("orderGroupFilter", filters)
        filters.addWidget(QLabel(self.tr("分类"), self))
        self.bucket_filter = self._combo("bucketFilter", filters)
        self.bucket_filter.addItem(self.tr("全部"), ALL)
        for bucket in BUCKETS:
            self.bucket_filter.addItem(self.tr(BUCKET_LABELS[bucket]), bucket)
        self.bucket_filter.addItem(self.tr("未分类"), UNCLASSIFIED)
        self.bucket_filter.addItem(self.tr("待审核"), AWAITING_APPROVAL)
        self.date_check = QCheckBox(self.tr("日期"), self)
        self.date_check.setObjectName("dateFilterCheck")
        self.date_check.toggled.connect(self._apply_filters)
        filters.addWidget(self.date_check)
        today = to_qdate(business_today())
        self.date_from = QDateEdit(today, self)
        self.date_from.setObjectName("dateFrom")
        self.date_to = QDateEdit(today, self)
        self.date_to.setObjectName("dateTo")
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.dateChanged.connect(self._apply_filters)
            filters.addWidget(edit)
        self.likely_deducted_check = QCheckBox(self.tr("仅显示可能扣款"), self)
        self.likely_deducted_check.setObjectName("likelyDeductedFilter")
        self.likely_deducted_check.setToolTip(self.tr("只显示预审认为经办机构可能扣款的明细"))
        self.likely_deducted_check.toggled.connect(self._apply_filters)
        filters.addWidget(self.likely_deducted_check)
        filters.addStretch(1)
        self.shown_label = QLabel(self)
        self.shown_label.setObjectName("shownLabel")
        filters.addWidget(self.shown_label)
        layout.addLayout(filters)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.model = LinesModel(self)
        self.table = QTableView(splitter)
        self.table.setObjectName("linesTable")
        self.table.setModel(self.model)
        configure_lines_view(self.table, self.table.horizontalHeader(), self.table.verticalHeader())
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        lower = QWidget(splitter)
        lower_layout = QHBoxLayout(lower)
        lower_layout.setContentsMargins(0, 4, 0, 0)
        # The actions in two columns, the preview compact: the lines table keeps 15 rows or more
        # on a 1366×768 screen (issue 20 §5).
        action_column = QVBoxLayout()
        self.selection_label = QLabel(self.tr("未选择明细"), lower)
        self.selection_label.setObjectName("selectionLabel")
        action_column.addWidget(self.selection_label)
        actions = _TwoColumns()
        action_column.addLayout(actions)
        self.select_all_button = self._button(self.tr("全选筛选结果(&A)"), "selectAllButton", self.table.selectAll,
                                              None, actions)
        self.assign_button = self._button(self.tr("归入诊断…"), "assignButton", self.assign_selected, "Ctrl+D",
                                          actions)
        self.override_button = self._button(self.tr("改判…"), "overrideButton", self.override_selected, "Ctrl+G",
                                            actions)
        self.clear_override_button = self._button(self.tr("撤销改判(&U)"), "clearOverrideButton",
                                                  self.clear_selected_override, None, actions)
        # A cashier's 审核通过 opens 审核员授权: the reviewer types their password here, no logout (issue 20).
        self.approve_button = self._button(self.tr("审核通过(&V)"), "approveButton", self.approve_selected, None, actions)
        if not self._operator.can(Permission.OVERRIDE_CLASSIFICATION):
            self.approve_button.setText(self.tr("审核通过（审核员授权）(&V)…"))
        self.approve_button.setToolTip(self.tr("选中的明细中等待审核员审核的改判"))
        # Its text carries the count, so a shortcut rather than a mnemonic.
        self.pending_button = self._button(self.tr("待审核(0)"), "pendingButton", self.show_pending, "Ctrl+J", actions)
        self.pending_button.setToolTip(self.tr("本次住院等待审核员审核的改判及其理由（Ctrl+J）"))
        self._awaiting = 0
        self.informed_button = self._button(self.tr("已告知患者(&K)"), "informedButton", self.mark_selected_informed,
                                            None, actions)
        self.informed_button.setToolTip(self.tr("目录外项目须先告知患者（003 §15）"))
        action_column.addStretch(1)
        lower_layout.addLayout(action_column)

        preview = QGroupBox(self.tr("结算单预览（本地规则）"), lower)
        preview_layout = QVBoxLayout(preview)
        self.matrix = MatrixPreview(preview)
        preview_layout.addWidget(self.matrix)
        self.totals_label = QLabel(preview)
        self.totals_label.setObjectName("totalsLabel")
        preview_layout.addWidget(self.totals_label)
        preview_layout.setContentsMargins(6, 4, 6, 4)
        # 出院日期 and 中心预结算 under the action buttons, where there is room (not below the matrix).
        centre = QHBoxLayout()
        centre.addWidget(QLabel(self.tr("出院日期"), preview))
        self.discharge_date = QDateEdit(today, preview)
        self.discharge_date.setObjectName("dischargeDate")
        self.discharge_date.setCalendarPopup(True)
        self.discharge_date.setDisplayFormat("yyyy-MM-dd")
        centre.addWidget(self.discharge_date)
        self.pre_settle_button = self._button(self.tr("中心预结算"), "preSettleButton", self.pre_settle, "F9", centre)
        centre.addStretch(1)
        action_column.insertLayout(action_column.count() - 1, centre)
        lower_layout.addWidget(preview, 3)

        problems = QGroupBox(self.tr("待处理"), lower)
        problems_layout = QVBoxLayout(problems)
        problems_layout.setContentsMargins(6, 4, 6, 4)
        # The centre's pre-settlement answer heads this pane (what to do next), not below the matrix.
        self.centre_label = QLabel(problems)
        self.centre_label.setObjectName("centreResult")
        self.centre_label.setWordWrap(True)
        problems_layout.addWidget(self.centre_label)
        self.problems_list = QListWidget(problems)
        self.problems_list.setObjectName("problemsList")
        self.problems_list.setWordWrap(True)
        # As tall as the preview beside it, no taller: the room goes to the lines table.
        self.problems_list.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        problems_layout.addWidget(self.problems_list, 1)
        lower_layout.addWidget(problems, 2)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        # The lines get the room; the lower pane no more than its natural height.
        lower.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        splitter.setSizes([2000, lower.sizeHint().height()])
        layout.addWidget(splitter, 1)

        bottom = QHBoxLayout()
        self.status_label = StatusLine(self)
        self.status_label.setObjectName("statusLabel")
        bottom.addWidget(self.status_label, 1)
        # Lines go up during the stay (issue 25): what the centre holds, what waits, what it refused;
        # on the status line, where it takes none of the lines table's height.
        self.upload_label = QLabel(self)
        self.upload_label.setObjectName("uploadCounts")
        bottom.addWidget(self.upload_label)
        # The row colours' legend sits on the status line, where it takes no height of its own.
        for bucket in BUCKETS:
            bottom.addWidget(self._swatch(BUCKET_LABELS[bucket], BUCKET_COLOURS[bucket], self))
        bottom.addWidget(self._swatch("未分类", UNCLASSIFIED_COLOUR, self))
        layout.addLayout(bottom)
        self.error = ErrorLabel(self)
        layout.addWidget(self.error)

    def _button(self, text: str, name: str, slot: Callable[[], object], key: str | None,
                layout: QHBoxLayout | QVBoxLayout | _TwoColumns) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(lambda _checked=False: slot())
        if key:
            button.setShortcut(QKeySequence(key))
            button.setToolTip(f"{text}（{key}）")
        layout.addWidget(button)
        return button

    def _combo(self, name: str, layout: QHBoxLayout) -> QComboBox:
        combo = QComboBox(self)
        combo.setObjectName(name)
        combo.setMinimumWidth(110)
        combo.currentIndexChanged.connect(self._apply_filters)
        layout.addWidget(combo)
        return combo

    def _swatch(self, text: str, colour: str, parent: QWidget) -> QLabel:
        label = QLabel(self.tr(text), parent)
        label.setStyleSheet(f"background: {colour}; padding: 1px 6px; border: 1px solid palette(mid);")
        label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        return label

    def _load_mappings(self) -> None:
        from app.workflow.his_import import mapping_names

        names = ["default"]
        try:
            names = mapping_names(self._ctx.paths.config_dir) or names
        except WiCounterError as exc:  # a broken mapping file must not take the page down
            self.error.show_error(exc.message)
        self.mapping_combo.clear()
        for name in names:
            self.mapping_combo.addItem(name, name)
        if "default" in names:
            self.mapping_combo.setCurrentIndex(names.index("default"))

    # --- running work ------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def _run(self, work: Callable[[Session], Any], done: Callable[[Any], object],
             failed: Callable[[BaseException], object] | None = None) -> None:
        """Database work in one transaction on the db thread; buttons off until it is back."""
        self._pending += 1
        self._update_buttons()

        def finished(result: Any) -> None:
            self._pending -= 1
            done(result)
            self._update_buttons()

        def failure(error: BaseException) -> None:
            self._pending -= 1
            self._update_buttons()
            (failed or self._show_error)(error)

        ctx = self._ctx

        Operation(self, lambda: in_burst_transaction(ctx, work)).success(finished).failure(failure).run()

    def _show_error(self, error: BaseException) -> None:
        if isinstance(error, WiCounterError):
            self.error.show_error(error.message)
        self.last_dialog = show_failure(self, error)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self._built and not self.busy:
            self.reload_stays()  # a stay admitted meanwhile appears; the shown one is read again

    # --- stays -------------------------------------------------------------------------------------

    def reload_stays(self) -> None:
        self._run(list_open_stays, self._show_stays)

    def _show_stays(self, stays: list[tuple[int, str]]) -> None:
        wanted = self._want_stay if self._want_stay is not None else self.stay_id
        self.stay_combo.blockSignals(True)
        self.stay_combo.clear()
        for stay_id, label in stays:
            self.stay_combo.addItem(label, stay_id)
        self.stay_combo.blockSignals(False)
        # The stay wanted, else none: the first in the list would be somebody else's (issue 20).
        index = self.stay_combo.findData(wanted) if wanted is not None else -1
        self.stay_combo.setCurrentIndex(index)
        self._want_stay = None
        self._stay_chosen()

    def open_stay(self, stay_id: int) -> None:
        """Show this stay (住院一览's double-click, or after admission)."""
        index = self.stay_combo.findData(stay_id)
        if index >= 0:
            self.stay_combo.setCurrentIndex(index)
            if self.stay_id != stay_id:
                self._stay_chosen()
            return
        self._want_stay = stay_id
        self.reload_stays()

    def follow_patient(self, stay_id: int | None) -> None:
        """The window's current patient changed: their open stay, or none."""
        if stay_id is not None:
            self.open_stay(stay_id)
            return
        self._want_stay = None
        self.stay_combo.setCurrentIndex(-1)
        if self.stay_id is not None:
            self._stay_chosen()

    def _stay_chosen(self) -> None:
        data = self.stay_combo.currentData()
        stay_id = int(data) if data is not None else None
        if stay_id != self.stay_id:
            self.centre_label.clear()
            self.last_differences = None
        self.stay_id = stay_id
        if stay_id is None:
            self._show_workspace(None)
            return
        self.refresh()

    def refresh(self) -> None:
        if self.stay_id is None:
            return
        stay_id = self.stay_id
        self._run(lambda session: read_workspace(session, stay_id), self._show_workspace)

    # --- showing the workspace ---------------------------------------------------------------------

    def _show_workspace(self, shown: ShownWorkspace | Workspace | None) -> None:
        if isinstance(shown, Workspace):
            shown = shown_workspace(shown)  # figures counted here: callers off the database thread
        ws = shown.ws if shown is not None else None
        if ws is not None and ws.stay_id != self.stay_id:
            return  # the clerk picked another stay meanwhile
        self.workspace = ws
        self.error.clear_error()
        self._fill_filter(self.diagnosis_filter,
                          [(d.code, f"{d.code} {d.name}（{self.tr('工伤') if d.injury else self.tr('非工伤')}）")
                           for d in (ws.diagnoses if ws else ())] + [(NO_DIAGNOSIS, self.tr("（无关联诊断）"))])
        self._fill_filter(self.dept_filter, [(dept, dept) for dept in (ws.depts if ws else [])])
        self._fill_filter(self.group_filter, [(group, group) for group in (ws.order_groups if ws else [])])
        self._apply_filters()
        self._load_review(ws)
        self.matrix.show_result(ws.preview if ws else None)
        if ws is not None and ws.preview is not None:
            preview = ws.preview
            self.totals_label.setText(self.tr("合计本次：总费用 {total} 元，工伤保险基金支付金额 {fund} 元，"
                                              "个人支付金额 {personal} 元").format(
                total=money_text(preview.total), fund=money_text(preview.fund_total),
                personal=money_text(preview.personal_total)))
            # Lines not yet classified are not in the slip's matrix: said next to the total, so a
            # clerk comparing it with the HIS total (9564.40 vs 9570.00) sees why (issue 20 §11).
            assert shown is not None
            if shown.left_out:
                self.totals_label.setText(self.totals_label.text() + "\n" + self.tr(
                    "另有 {n} 条未分类明细共 {amount} 元未计入合计，分类后计入。").format(
                    n=shown.left_out, amount=money_text(shown.left_out_amount)))
                self.totals_label.setStyleSheet(f"color: {ERROR_COLOUR};")
            else:
                self.totals_label.setStyleSheet("")
        else:
            self.totals_label.clear()
        self._awaiting = shown.awaiting if shown is not None else 0
        self.pending_button.setText(self.tr("待审核({n})").format(n=self._awaiting))
        self.problems_list.clear()
        for problem in (ws.problems if ws else ()):
            self.problems_list.addItem(problem)
        if ws is not None and not ws.problems:
            self.problems_list.addItem(self.tr("没有待处理的问题。"))
        self._update_buttons()
        if shown is not None and shown.upload is not None:
            self._show_upload_counts(shown.upload)
        else:
            self.load_upload_counts()

    def _fill_filter(self, combo: QComboBox, entries: list[tuple[str, str]]) -> None:
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(self.tr("全部"), ALL)
        for value, label in entries:
            combo.addItem(label, value)
        index = combo.findData(current)
        combo.setCurrentIndex(index if index >= 0 else 0)
        combo.blockSignals(False)

    def set_filter(self, combo: QComboBox, value: str) -> None:
        """Choose a filter value by its data (tests and keyboard users alike)."""
        index = combo.findData(value)
        if index < 0:
            raise ValueError(f"no filter value {value!r}")
        combo.setCurrentIndex(index)

    def _apply_filters(self) -> None:
        if not self._built:
            return
        ws = self.workspace
        if ws is None:
            self.model.set_lines(())
            self.shown_label.clear()
            return
        diagnosis = self.diagnosis_filter.currentData()
        dept = self.dept_filter.currentData()
        group = self.group_filter.currentData()
        bucket = self.bucket_filter.currentData()
        awaiting_only = bucket == AWAITING_APPROVAL
        if awaiting_only:
            bucket = ALL
        dated = self.date_check.isChecked()
        if diagnosis in (None, ALL) and dept in (None, ALL) and group in (None, ALL) and bucket in (None, ALL) \
                and not dated:
            lines: tuple[LineView, ...] | list[LineView] = ws.lines
        else:
            chosen = set(select_lines(
                ws, diagnosis=None if diagnosis in (None, ALL, NO_DIAGNOSIS) else str(diagnosis),
                dept=None if dept in (None, ALL) else str(dept),
                order_group=None if group in (None, ALL) else str(group),
                bucket=None if bucket in (None, ALL) else str(bucket),
                date_from=to_date(self.date_from.date()) if dated else None,
                date_to=to_date(self.date_to.date()) if dated else None))
            lines = [line for line in ws.lines if line.line_id in chosen
                     and (diagnosis != NO_DIAGNOSIS or not line.diagnosis_code)]
        if awaiting_only:
            lines = [line for line in lines if line.awaiting_approval]
        if self.likely_deducted_check.isChecked():
            flagged = self.model.findings
            lines = [line for line in lines if line.seq in flagged]
        self.model.set_lines(lines)
        self.shown_label.setText(self.tr("显示 {shown} / {total} 条").format(shown=len(lines), total=len(ws.lines)))
        self._selection_changed()

    def selected_line_ids(self) -> list[int]:
        rows = self.table.selectionModel().selectedRows()
        return [self.model.line(index.row()).line_id for index in rows]

    def selected_lines(self) -> list[LineView]:
        return [self.model.line(index.row()) for index in self.table.selectionModel().selectedRows()]

    def _selection_changed(self, *_args: object) -> None:
        if not self._built:
            return
        count = len(self.table.selectionModel().selectedRows())
        self.selection_label.setText(self.tr("已选择 {n} 条明细").format(n=count) if count
                                     else self.tr("未选择明细"))
        self._update_buttons()

    def _update_buttons(self) -> None:
        if not self._built:
            return
        idle = not self.busy
        ws = self.workspace
        open_stay = ws is not None and not ws.settled
        selected = bool(self.table.selectionModel().hasSelection()) if self.table.selectionModel() else False
        for button in (self.assign_button, self.override_button, self.clear_override_button, self.informed_button):
            button.setEnabled(idle and open_stay and selected)
        self.approve_button.setEnabled(idle and open_stay and selected and self._awaiting > 0)
        self.pending_button.setEnabled(idle and open_stay)
        for button in (self.import_button, self.add_button):
            button.setEnabled(idle and open_stay)
        single = selected and len(self.table.selectionModel().selectedRows()) == 1
        self.correct_button.setEnabled(idle and open_stay and single)
        self.refund_button.setEnabled(idle and open_stay and single)
        self.map_button.setEnabled(idle and open_stay and single)
        self.pre_settle_button.setEnabled(idle and ws is not None and bool(ws.lines))
        self.reload_button.setEnabled(idle)

    # --- changing lines ----------------------------------------------------------------------------

    def _change(self, action: Callable[[Session], int], done_text: str) -> None:
        """Apply a change to the lines, then show the workspace as it is now (same transaction)."""
        stay_id = self.stay_id
        if stay_id is None:
            return

        def work(session: Session) -> tuple[int, ShownWorkspace]:
            count = action(session)
            session.flush()
            return count, read_workspace(session, stay_id)

        def done(result: tuple[int, ShownWorkspace]) -> None:
            count, shown = result
            self._show_workspace(shown)
            self.status_label.setText(done_text.format(n=count))
            if count and self.last_differences is not None:
                self.last_differences = None
                self.centre_label.setStyleSheet("")
                self.centre_label.setText(self.tr("明细已改动，请重新向中心预结算。"))
            self.changed.emit()

        self._run(work, done)

    def _need_selection(self) -> list[int] | None:
        ids = self.selected_line_ids()
        if not ids:
            self.error.show_error(self.tr("请先在表格中选择明细（可先筛选，再点“全选筛选结果”）。"))
            return None
        return ids

    def assign_selected(self) -> None:
        ids = self._need_selection()
        if ids is None or self.workspace is None:
            return
        dialog = DiagnosisDialog(self.workspace.diagnoses, len(ids), self)
        dialog.accepted.connect(lambda: self.assign(ids, dialog.diagnosis_code))
        self._open(dialog)

    def assign(self, line_ids: list[int], diagnosis_code: str) -> None:
        ctx, operator = self._ctx, self._operator
        self._change(lambda s: assign_diagnosis(s, operator, ctx.counter_name, line_ids, diagnosis_code),
                     self.tr("已将 {n} 条明细归入诊断 ") + diagnosis_code)

    def override_selected(self) -> None:
        ids = self._need_selection()
        if ids is None:
            return
        dialog = OverrideDialog(len(ids), self._operator.can(Permission.OVERRIDE_CLASSIFICATION), self)
        dialog.accepted.connect(lambda: self.override(ids, dialog.injury, dialog.reason))
        self._open(dialog)

    def override(self, line_ids: list[int], injury: bool, reason: str) -> None:
        ctx, operator = self._ctx, self._operator
        self._change(lambda s: override(s, operator, ctx.counter_name, line_ids, injury, reason),
                     self.tr("已改判 {n} 条明细") + (self.tr("（待审核员审核）")
                                                   if not operator.can(Permission.OVERRIDE_CLASSIFICATION) else ""))

    def clear_selected_override(self) -> None:
        ids = self._need_selection()
        if ids is None:
            return
        ctx, operator = self._ctx, self._operator
        self._change(lambda s: clear_override(s, operator, ctx.counter_name, ids), self.tr("已撤销 {n} 条改判"))

    def approve_selected(self) -> None:
        if self._need_selection() is None:
            return
        ids = [line.line_id for line in self.selected_lines() if line.awaiting_approval]
        if not ids:
            self.error.show_error(self.tr("选中的明细中没有等待审核的改判。"))
            return
        self.approve(ids)

    def approve(self, line_ids: list[int]) -> None:
        """Approve the overrides: a reviewer signed in does it at once; a cashier's window asks for a
        reviewer's login and password (审核员授权) and the service acts in that reviewer's name."""
        ctx, operator = self._ctx, self._operator
        if operator.can(Permission.OVERRIDE_CLASSIFICATION):
            self._change(lambda s: approve_overrides(s, operator, ctx.counter_name, line_ids),
                         self.tr("已审核通过 {n} 条改判"))
            return
        stay_id = self.stay_id
        if stay_id is None:
            return
        self._run(lambda session: pending_approvals(session, stay_id, line_ids), self._ask_reviewer)

    def _ask_reviewer(self, items: list[PendingApproval]) -> None:
        from ui.reviewer_authorisation import ReviewerAuthorisationDialog

        if not items:
            self.error.show_error(self.tr("选中的改判已不再等待审核（可能已由审核员审核），请刷新。"))
            return
        ctx, cashier = self._ctx, self._operator
        ids = [item.line_id for item in items]
        dialog = ReviewerAuthorisationDialog(ctx, items, cashier, self)

        def approved() -> None:
            reviewer = dialog.reviewer
            assert reviewer is not None
            self._change(lambda s: approve_overrides(s, reviewer, ctx.counter_name, ids, at_session_of=cashier.login),
                         self.tr("审核员 {name} 已审核通过 ").format(name=reviewer.display_name)
                         + self.tr("{n} 条改判"))

        dialog.accepted.connect(approved)
        self._open(dialog)

    def show_pending(self) -> None:
        """待审核: the stay's overrides waiting for a reviewer, with their reasons; approve from there."""
        from ui.reviewer_authorisation import PendingApprovalsDialog

        stay_id = self.stay_id
        if stay_id is None:
            return

        def show(items: list[PendingApproval]) -> None:
            dialog = PendingApprovalsDialog(items, self)
            dialog.accepted.connect(lambda: self.approve(dialog.chosen_line_ids))
            self._open(dialog)

        self._run(lambda session: pending_approvals(session, stay_id), show)

    def mark_selected_informed(self) -> None:
        ids = [line.line_id for line in self.selected_lines() if line.out_of_catalogue]
        if not ids:
            self.error.show_error(self.tr("选中的明细中没有目录外项目。"))
            return
        ctx, operator = self._ctx, self._operator

        def mark(session: Session) -> int:
            from app.workflow.charges import mark_informed

            return mark_informed(session, operator, ctx.counter_name, ids, True)

        self._change(mark, self.tr("已记录 {n} 条目录外明细已告知患者"))

    # --- import and lines by hand ------------------------------------------------------------------

    def _choose_file_with_dialog(self) -> str | None:
        path, _filter = QFileDialog.getOpenFileName(self, self.tr("选择 HIS 导出文件"), "",
                                                    self.tr("HIS 费用明细 (*.csv *.xlsx);;所有文件 (*)"))
        return path or None

    def import_file(self, path: str | None = None) -> None:
        if self.stay_id is None:
            self.error.show_error(self.tr("请先选择住院。"))
            return
        chosen = path or self.choose_file()
        if not chosen:
            return
        self.import_path(Path(chosen))

    def import_path(self, path: Path) -> None:
        stay_id = self.stay_id
        assert stay_id is not None
        ctx, operator = self._ctx, self._operator
        mapping_name = str(self.mapping_combo.currentData() or "default")

        def work(session: Session) -> tuple[ImportResult, ShownWorkspace]:
            from app.workflow.his_import import import_his_file, load_mapping, read_his_file

            parsed = read_his_file(path, load_mapping(mapping_name, ctx.paths.config_dir))
            result = import_his_file(session, stay_id, parsed, operator, ctx.counter_name, mapping_name)
            session.flush()
            return result, read_workspace(session, stay_id)

        def done(result: tuple[ImportResult, ShownWorkspace]) -> None:
            imported, shown = result
            self._show_workspace(shown)
            self.status_label.setText(self.tr("已导入 {file}：{rows} 行，新增 {added} 条，已有 {present} 条，"
                                              "未对照 {unmatched} 条").format(
                file=path.name, rows=imported.rows, added=imported.added, present=imported.already_present,
                unmatched=imported.unmatched))
            self.changed.emit()
            from app.settings import CENTRE_UPLOAD_AFTER_IMPORT

            if imported.added and ctx.settings.get(CENTRE_UPLOAD_AFTER_IMPORT):
                self.upload_in_background(stay_id)

        def failed(error: BaseException) -> None:
            from app.workflow.his_import import HisFileInvalid

            if isinstance(error, HisFileInvalid):
                self.error.show_error(error.message)
                self._open(BadRowsDialog(path.name, error.problems, self))
                return
            self._show_error(error)

        self._run(work, done, failed)

    # --- lines up during the stay (issue 25) ---------------------------------------------------------

    def load_upload_counts(self) -> None:
        stay_id = self.stay_id
        if stay_id is None:
            self.upload_label.clear()
            return

        def show(counts: Any) -> None:
            if stay_id == self.stay_id:
                self._show_upload_counts(counts)

        def counts(session: Session) -> Any:
            from app.workflow.line_upload import upload_counts

            return upload_counts(session, stay_id)

        Operation.transaction(self, self._ctx, counts).success(show).failure(lambda _error: None).run()

    def _show_upload_counts(self, counts: Any) -> None:
        text = self.tr("结算中心：已上传 {uploaded} 条，待上传 {pending} 条").format(
            uploaded=counts.uploaded, pending=counts.pending)
        if counts.refused:
            text += self.tr("，被拒 {refused} 条（请查看原因并修改后重新上传）").format(refused=counts.refused)
        self.upload_label.setText(text)
        self.upload_label.setStyleSheet(f"color: {ERROR_COLOUR};" if counts.refused else "")

    def upload_in_background(self, stay_id: int) -> None:
        """The stay's final lines up through the outbox, off the GUI thread; the page stays usable."""
        ctx, operator = self._ctx, self._operator

        def work() -> Any:
            from app.composition import open_workflow_centre
            from app.workflow.line_upload import upload_ready_lines

            client = open_workflow_centre(ctx, operator)
            try:
                return upload_ready_lines(ctx, client, stay_id, operator)
            finally:
                client.close()

        def done(result: Any) -> None:
            self.uploads_running -= 1
            if result.sent:
                self.status_label.setText(self.status_label.text() + self.tr("；已上传结算中心 {n} 条").format(
                    n=result.sent))
            self.load_upload_counts()

        def failed(error: BaseException) -> None:
            # In the background: no dialog; the lines stay pending and go up with the next upload.
            self.uploads_running -= 1
            self.status_label.setText(self.status_label.text() + self.tr("；上传结算中心未完成：{why}").format(
                why=clerk_message(error)))
            self.load_upload_counts()

        self.uploads_running += 1
        Operation(self, work, executor=Executor.BACKGROUND).success(done).failure(failed).run()

    def upload_daily_if_due(self, now: dt.datetime | None = None) -> bool:
        """The site's daily upload (`centre.upload_daily_at`): once a day, at or after that time, every
        stay in hospital. Returns True when it started."""
        from app.settings import CENTRE_UPLOAD_DAILY_AT

        at = self._ctx.settings.get(CENTRE_UPLOAD_DAILY_AT).strip()
        now = now or wire_now()  # the site's hour is Beijing's, whatever the PC's time zone
        if not at or self._daily_done == now.date() or now.strftime("%H:%M") < at:
            return False
        self._daily_done = now.date()
        ctx, operator = self._ctx, self._operator

        def work() -> Any:
            from app.composition import open_workflow_centre
            from app.workflow.line_upload import upload_open_stays

            client = open_workflow_centre(ctx, operator)
            try:
                return upload_open_stays(ctx, client, operator)
            finally:
                client.close()

        def finished(_result: Any) -> None:
            self.uploads_running -= 1
            self.load_upload_counts()

        self.uploads_running += 1
        Operation(self, work, executor=Executor.BACKGROUND).success(finished).failure(
            lambda _error: finished(None)).run()
        return True

    def add_line(self) -> None:
        if self.workspace is None or self.stay_id is None:
            return
        dialog = ManualLineDialog(self.workspace.diagnoses, business_today(), self,
                                  admitted_on=self.workspace.admitted_on)
        stay_id, ctx, operator = self.stay_id, self._ctx, self._operator

        def save() -> None:
            value = dialog.value
            assert value is not None

            def add(session: Session) -> int:
                from app.workflow.charges import add_line

                add_line(session, operator, ctx.counter_name, stay_id, his_code=value.his_code,
                                 name=value.name, category=value.category, quantity=value.quantity,
                                 unit_price=value.unit_price, charged_on=value.charged_on, dept=value.dept,
                                 diagnosis_code=value.diagnosis_code, reason=value.reason)
                return 1

            self._change(add, self.tr("已手工录入 {n} 条明细"))

        dialog.accepted.connect(save)
        self._open(dialog)

    def correct_line(self) -> None:
        lines = self.selected_lines()
        if len(lines) != 1 or self.workspace is None:
            return
        dialog = ManualLineDialog(self.workspace.diagnoses, business_today(), self, line=lines[0])
        ctx, operator, line_id = self._ctx, self._operator, lines[0].line_id

        def save() -> None:
            changes = dialog.changes()
            if not changes:
                self.status_label.setText(self.tr("没有改动。"))
                return
            reason = dialog.value.reason if dialog.value else ""

            def correct(session: Session) -> int:
                from app.workflow.charges import correct_line

                correct_line(session, operator, ctx.counter_name, line_id, reason=reason, **changes)
                return 1

            self._change(correct, self.tr("已更正 {n} 条明细"))

        dialog.accepted.connect(save)
        self._open(dialog)

    def refund_line(self) -> None:
        lines = self.selected_lines()
        if len(lines) != 1:
            return
        dialog = RefundDialog(lines[0], business_today(), self)
        ctx, operator, line_id = self._ctx, self._operator, lines[0].line_id

        def save() -> None:
            quantity, reason, day = dialog.refund_quantity, dialog.reason.text().strip(), dialog.refund_date

            def refund(session: Session) -> int:
                from app.workflow.charges import refund_line

                refund_line(session, operator, ctx.counter_name, line_id, quantity=quantity, reason=reason,
                                    charged_on=day)
                return 1

            self._change(refund, self.tr("已退费 {n} 条明细"))

        dialog.accepted.connect(save)
        self._open(dialog)

    def map_code(self) -> None:
        lines = self.selected_lines()
        if len(lines) != 1:
            return
        dialog = CodeMapDialog(lines[0], self._ctx, self)
        ctx, operator = self._ctx, self._operator

        def save() -> None:
            his_code, code, note = dialog.his_code, dialog.chosen_code, dialog.note.text().strip()

            def map_it(session: Session) -> int:
                from app.workflow.code_map import set_mapping

                return set_mapping(session, operator, ctx.counter_name, his_code, code, note)

            self._change(map_it, self.tr("已保存目录对照 ") + his_code + self.tr(
                "：{n} 条未上传明细按此对照（已上传的不变）"))

        dialog.accepted.connect(save)
        self._open(dialog)

    def _open(self, dialog: Any) -> None:
        self.last_dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # not exec(): no nested event loop

    # --- the centre --------------------------------------------------------------------------------

    def pre_settle(self) -> None:
        stay_id = self.stay_id
        if stay_id is None:
            return
        ctx, operator = self._ctx, self._operator
        discharged_on = to_date(self.discharge_date.date())

        def work() -> tuple[SettlementFigures, list[LineDifference]]:
            from app.composition import open_workflow_centre
            from app.workflow.separation import pre_settle_and_compare

            client = open_workflow_centre(ctx, operator)
            try:
                return pre_settle_and_compare(ctx, client, stay_id, operator, discharged_on)
            finally:
                client.close()

        def done(result: tuple[SettlementFigures, list[LineDifference]]) -> None:
            self._pending -= 1
            figures, differences = result
            self.last_figures, self.last_differences = figures, differences
            if differences:
                self.centre_label.setStyleSheet(f"color: {ERROR_COLOUR}; font-weight: bold;")
                self.centre_label.setText(self.tr("中心预结算与本地预览有 {n} 处不一致，见明细。").format(
                    n=len(differences)))
                self._open(DifferencesDialog(differences, self))
            else:
                self.centre_label.setStyleSheet(f"color: {OK_COLOUR}; font-weight: bold;")
                self.centre_label.setText(self.tr("中心预结算与本地预览一致：总费用 {total} 元，基金支付 {fund} 元，"
                                                  "个人支付 {personal} 元。").format(
                    total=money_text(figures.total), fund=money_text(figures.fund_total),
                    personal=money_text(figures.personal_total)))
            self._update_buttons()
            self.refresh()  # the lines are uploaded now

        def failed(error: BaseException) -> None:
            self._pending -= 1
            self._update_buttons()
            self.centre_label.setStyleSheet(f"color: {ERROR_COLOUR};")
            self.centre_label.setText(error.message if isinstance(error, WiCounterError) else
                                      self.tr("中心预结算未完成。"))
            self._show_error(error)

        self._pending += 1
        self._update_buttons()
        self.centre_label.setStyleSheet("")
        self.centre_label.setText(self.tr("正在上传明细并向结算中心预结算…"))
        Operation(self, work, executor=Executor.BACKGROUND).success(done).failure(failed).run()

    # --- the pre-audit (issue 10) ---------------------------------------------------------------------

    def _load_review(self, ws: Workspace | None) -> None:
        """The workspace's pre-audit on the database thread, shortly after the workspace is shown. Not
        counted in `busy`: the clerk keeps working. A burst of changes (import, then a bulk 归入诊断) is
        audited once: the audit waits `REVIEW_DELAY_MS` and is skipped when a newer workspace came since."""
        self._review_generation += 1
        generation = self._review_generation
        if ws is None:
            self._show_review(None, generation)
            return
        QTimer.singleShot(REVIEW_DELAY_MS, self, lambda: self._start_review(ws.stay_id, generation))

    def _start_review(self, stay_id: int, generation: int) -> None:
        if generation != self._review_generation:
            return
        if self.busy:
            # A change is on the database thread: audit after it, not alongside the window showing its result.
            QTimer.singleShot(REVIEW_DELAY_MS, self, lambda: self._start_review(stay_id, generation))
            return
        ctx = self._ctx

        def unit() -> tuple[DischargeReview, ReviewGroups] | None:
            from app.workflow.discharge_review import counter_rules, discharge_review

            if generation != self._review_generation:
                return None  # a newer workspace is on its way: its own audit follows
            review = in_burst_transaction(ctx, lambda session: discharge_review(session, stay_id, counter_rules(ctx),
                                                                                stage=None))
            return review, group_review(review)  # grouped here, not on the GUI thread

        Operation(self, unit).success(
            lambda result: None if result is None else self._show_review(result[0], generation, result[1])).failure(
            lambda error: self._review_failed(error, generation)).run()

    @property
    def review_current(self) -> bool:
        """The badges show the pre-audit of the workspace shown (not one still on its way)."""
        return self._shown_review_generation == self._review_generation

    def _review_failed(self, error: BaseException, generation: int) -> None:
        if generation == self._review_generation:
            message = clerk_message(error)
            self.preaudit_label.setText(self.tr("预审未完成：{reason}").format(reason=message))
            self.preaudit_label.setStyleSheet(f"color: {ERROR_COLOUR};")

    def _show_review(self, review: DischargeReview | None, generation: int, groups: ReviewGroups | None = None) -> None:
        if generation != self._review_generation or (review is not None and review.stay_id != self.stay_id):
            return  # another stay or a newer change since
        self.review = review
        self._shown_review_generation = generation
        by_seq, stay_level = groups if groups is not None else group_review(review)
        self.model.set_findings(by_seq)
        if self.likely_deducted_check.isChecked():
            self._apply_filters()
        if review is None:
            self.preaudit_label.clear()
        elif not review.items:
            self.preaudit_label.setText(self.tr("预审：未发现可能被经办机构扣款的明细。"))
            self.preaudit_label.setStyleSheet("")
        else:
            at_risk = review.total_at_risk > 0  # ¥0.00 is no deduction: said plainly, not in red
            text = (self.tr("预审：{lines} 条明细可能被经办机构扣款，预计扣款合计 ¥{total}。").format(
                lines=len(by_seq), total=f"{review.total_at_risk:.2f}") if at_risk else
                self.tr("预审：{lines} 条明细需要注意，预计不会扣款。").format(lines=len(by_seq)))
            for item in stay_level:
                text += "\n" + self.tr("整次住院：") + item_text(item).replace("\n", "　")
            self.preaudit_label.setText(text)
            self.preaudit_label.setStyleSheet(f"color: {ERROR_COLOUR if at_risk else NOTICE_COLOUR};")


class _TwoColumns(QGridLayout):
    """The action buttons two to a row (what `_button` adds with `addWidget`)."""

    def addWidget(self, widget: QWidget, *args: object, **kwargs: object) -> None:  # type: ignore[override]  # noqa: N802
        index = self.count()
        super().addWidget(widget, index // 2, index % 2)
