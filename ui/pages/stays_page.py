"""住院一览: every stay at a glance — open and settled, with its status — and the 补登记 offer.

Search by name, ID number, 住院号 or 就医登记号 (ID numbers are masked in the list). Double-click
(or Enter on) a stay to open it in the page that deals with it. When the centre link is back and
stays paid in full during an outage wait for 补登记, the page says so and offers to do it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.bootstrap import CounterContext
from app.operators import OperatorInfo, Permission
from app.slips import money_text
from ui.operations import Executor, Operation
from ui.pages.workflow_widgets import error_text
from ui.qt import (
    QAbstractItemView,
    QColor,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ERROR_COLOUR, ErrorLabel, add_page_title, notice

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.workflow.admission import CheckResult
    from app.workflow.discharge import BackfillOutcome
    from app.workflow.stays import StaySummary

COLUMNS = ("姓名", "身份证号", "住院号", "就医登记号", "科别", "入院日期", "出院日期", "状态", "医疗费总额", "个人支付")
STATUS_FILTERS: tuple[tuple[str, str | None], ...] = (
    ("全部", None), ("在院", "admitted"), ("待结算", "pending_settlement"), ("已结算", "settled"),
    ("已撤销", "cancelled"), ("待补登记", "pending_backfill"),
)
SEARCH_DELAY_MS = 300


class StaysPage(QWidget):
    """The 住院一览 page. Emits `open_requested(stay_id, status)` when the clerk opens a stay and
    `changed()` after it changed stays itself (补登记)."""

    open_requested = Signal(int, str)
    changed = Signal()

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = self.tr("住院一览")
        self.setObjectName("staysPage")
        self._ctx = ctx
        self._operator = operator
        self.stays: list[StaySummary] = []
        self.awaiting_backfill: list[int] = []
        self.centre_online = False
        self._backfilling = False
        self._generation = 0
        self.last_backfill: list[BackfillOutcome] = []
        self.last_recheck: list[CheckResult] | None = None
        self._rechecking = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 16)
        add_page_title(layout, self.title, self)

        row = QHBoxLayout()
        search_label = QLabel(self.tr("查找(&S)："), self)
        self.search = QLineEdit(self)
        self.search.setObjectName("staySearch")
        self.search.setPlaceholderText(self.tr("姓名、身份证号、住院号或就医登记号"))
        self.search.setClearButtonEnabled(True)
        search_label.setBuddy(self.search)
        row.addWidget(search_label)
        row.addWidget(self.search, 2)
        status_label = QLabel(self.tr("状态(&Z)："), self)
        self.status_filter = QComboBox(self)
        self.status_filter.setObjectName("statusFilter")
        for label, value in STATUS_FILTERS:
            self.status_filter.addItem(self.tr(label), value)
        status_label.setBuddy(self.status_filter)
        row.addWidget(status_label)
        row.addWidget(self.status_filter)
        self.refresh_button = QPushButton(self.tr("刷新(&R)"), self)
        self.refresh_button.setObjectName("refreshStays")
        self.refresh_button.clicked.connect(self.reload)
        row.addWidget(self.refresh_button)
        layout.addLayout(row)

        banner = QHBoxLayout()
        self.backfill_label = notice("", self, object_name="backfillNotice")
        self.backfill_label.hide()
        banner.addWidget(self.backfill_label, 1)
        self.backfill_button = QPushButton(self.tr("补登记(&B)"), self)
        self.backfill_button.setObjectName("backfillAll")
        self.backfill_button.hide()
        self.backfill_button.clicked.connect(self.backfill_all)
        banner.addWidget(self.backfill_button)
        layout.addLayout(banner)
        self.error_label = ErrorLabel(self, "staysError")
        layout.addWidget(self.error_label)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("staysTable")
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)  # 科别 takes the rest
        self.table.itemActivated.connect(lambda _item: self.open_selected())  # double-click or Enter
        layout.addWidget(self.table, 1)
        self.count_label = QLabel("", self)
        self.count_label.setObjectName("stayCount")
        layout.addWidget(self.count_label)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.search.returnPressed.connect(self.reload)
        self.status_filter.currentIndexChanged.connect(lambda _index: self.reload())
        self.reload()

    # --- the list ----------------------------------------------------------------------------

    def reload(self) -> None:
        self._search_timer.stop()
        search = self.search.text().strip()
        status_value = self.status_filter.currentData()
        self._generation += 1
        generation = self._generation

        def work(session: Session) -> tuple[list[StaySummary], list[int]]:
            from app.db.models import StayStatus
            from app.workflow.discharge import stays_awaiting_backfill
            from app.workflow.stays import list_stays

            status = StayStatus(status_value) if status_value else None
            return list_stays(session, status=status, search=search), stays_awaiting_backfill(session)

        Operation.transaction(self, self._ctx, work).success(
            lambda found: self._show(found, generation)).failure(self._failed).run()

    def _show(self, found: tuple[list[StaySummary], list[int]], generation: int) -> None:
        if generation != self._generation:
            return  # an older search answered late
        stays, awaiting = found
        self.error_label.clear_error()
        self.stays = stays
        self.awaiting_backfill = awaiting
        self.table.setRowCount(len(stays))
        for row, stay in enumerate(stays):
            values = (
                stay.name, stay.masked_id, stay.admission_no, stay.registration_no or self.tr("（未登记）"), stay.dept,
                stay.admitted_on.isoformat(), stay.discharged_on.isoformat() if stay.discharged_on else "",
                stay.status_label, money_text(stay.total) if stay.total is not None else "",
                money_text(stay.personal_total) if stay.personal_total is not None else "",
            )
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, stay.stay_id)
                if column == 7 and stay.backfill_due:
                    item.setToolTip(stay.backfill_due)  # 补登记 due today / overdue (003 §17)
                    if "逾期" in stay.backfill_due:
                        item.setForeground(QColor(ERROR_COLOUR))
                if column >= 8:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self.count_label.setText(self.tr("共 {count} 次住院").format(count=len(stays)))
        self._show_backfill_offer()

    def _failed(self, error: BaseException) -> None:
        self.error_label.show_error(error_text(error))

    def open_selected(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.stays):
            stay = self.stays[row]
            self.open_requested.emit(stay.stay_id, str(stay.status))

    def select_stay(self, stay_id: int) -> bool:
        for row, stay in enumerate(self.stays):
            if stay.stay_id == stay_id:
                self.table.selectRow(row)
                return True
        return False

    # --- 补登记 -----------------------------------------------------------------------------------

    def set_centre_online(self, online: bool) -> None:
        """The status bar's probe answered: when the link is back, admissions registered offline are
        sent and checked again, and 补登记 is offered."""
        was_online, self.centre_online = self.centre_online, online
        if online and not was_online:
            self.recheck_offline_admissions()
            self.reload()  # what waits for 补登记 may have changed while we were offline
        else:
            self._show_backfill_offer()

    def recheck_offline_admissions(self) -> None:
        if self._rechecking or not self._operator.can(Permission.ADMIT):
            return
        self._rechecking = True
        ctx, operator = self._ctx, self._operator

        def work() -> list[CheckResult]:
            from app.workflow.admission import recheck_offline_admissions
            from app.composition import open_workflow_centre

            client = open_workflow_centre(ctx, operator)
            try:
                return recheck_offline_admissions(ctx, client, operator)
            finally:
                client.close()

        Operation(self, work, executor=Executor.BACKGROUND).success(self._rechecked).failure(
            self._recheck_failed).run()

    def _rechecked(self, checks: list[CheckResult]) -> None:
        self._rechecking = False
        self.last_recheck = checks
        refused = [check for check in checks if not check.allowed]
        if refused:
            reasons = "；".join(r.message for check in refused for r in check.reasons if r.blocking)
            self.error_label.show_error(self.tr(
                "联网后重新核验脱机登记的入院：{count} 次不通过（{reasons}），请在住院中查看并告知工伤职工。"
            ).format(count=len(refused), reasons=reasons))
        if checks:
            self.changed.emit()
            self.reload()

    def _recheck_failed(self, error: BaseException) -> None:
        self._rechecking = False
        self.error_label.show_error(self.tr("脱机登记的入院未能补传核验：{reason}").format(reason=error_text(error)))

    def _show_backfill_offer(self) -> None:
        count = len(self.awaiting_backfill)
        if not count:
            self.backfill_label.hide()
            self.backfill_button.hide()
            return
        if self.centre_online:
            dues = [s.backfill_due for s in self.stays if s.stay_id in self.awaiting_backfill and s.backfill_due]
            self.backfill_label.setText(self.tr(
                "结算中心已恢复连接：{count} 次住院在断网时全额垫付，等待补登记（报结算中心，标记为全额垫付；"
                "不退还任何款项，工伤职工凭收据回参保地报销，003 §17）。{due}"
            ).format(count=count, due="；".join(dict.fromkeys(dues))))
            self.backfill_button.setVisible(True)
            can = self._operator.can(Permission.SETTLE)
            self.backfill_button.setEnabled(can and not self._backfilling)
            self.backfill_button.setToolTip("" if can else self.tr("当前角色无权办理结算"))
        else:
            self.backfill_label.setText(self.tr(
                "{count} 次住院等待补登记：结算中心恢复连接后即可办理。").format(count=count))
            self.backfill_button.hide()
        self.backfill_label.show()

    def backfill_all(self) -> None:
        if self._backfilling or not self.awaiting_backfill:
            return
        stay_ids = list(self.awaiting_backfill)
        ctx, operator = self._ctx, self._operator
        self._backfilling = True
        self.backfill_button.setEnabled(False)
        self.backfill_label.setText(self.tr("正在补登记 {count} 次住院…").format(count=len(stay_ids)))

        def work() -> tuple[list[BackfillOutcome], list[str]]:
            from app.composition import open_workflow_centre
            from app.workflow.discharge import backfill

            done: list[BackfillOutcome] = []
            problems: list[str] = []
            client = open_workflow_centre(ctx, operator)
            try:
                for stay_id in stay_ids:
                    try:
                        done.append(backfill(ctx, client, stay_id, operator))
                    except Exception as error:  # one stay's refusal must not stop the others
                        problems.append(f"{stay_id}：{error_text(error)}")
            finally:
                client.close()
            return done, problems

        Operation(self, work, executor=Executor.BACKGROUND).success(self._backfilled).failure(
            self._backfill_failed).run()

    def _backfilled(self, result: tuple[list[BackfillOutcome], list[str]]) -> None:
        self._backfilling = False
        done, problems = result
        if problems:
            self.error_label.show_error(self.tr("补登记 {ok} 次完成，{bad} 次未完成：{problems}").format(
                ok=len(done), bad=len(problems), problems="；".join(problems)))
        self.last_backfill = done
        self.changed.emit()
        self.reload()

    def _backfill_failed(self, error: BaseException) -> None:
        self._backfilling = False
        self.error_label.show_error(self.tr("补登记未完成：{reason}").format(reason=error_text(error)))
        self._show_backfill_offer()
