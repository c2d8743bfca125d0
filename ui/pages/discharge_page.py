"""出院结算: pick the stay, check it is ready, settle, collect, print — or, with the centre down,
issue a full-payment receipt (全额垫付) and settle by 补登记 when the link is back.

结算 uploads the lines not yet sent (100 a call), has the filing checked again (出院备案复核) and
settles with the centre, all on a worker thread with the progress shown; the verdict of the
second check and the personal amount to collect (large) follow. Before it, the pre-audit
(出院结算前预审, `app.workflow.discharge_review`): what the agency is likely to deduct, with the total
and the advice; the clerk goes back to fix the lines or acknowledges each finding with a reason
(确认…, audited), and 结算 waits until none is left (the service refuses too). The day the patient
met the discharge criteria (达到出院标准日期, `003 §15`) is recorded here. A reviewer can cancel a
settlement (with a reason); the stay can then be settled again. While a settlement runs the main
window's `settlement_in_progress` is true (the 读卡 page warns when the card is pulled).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from app.centre.wire import CHINA_TZ
from app.business_date import business_today
from app.bootstrap import CounterContext
from app.db.models import StayStatus
from app.operators import OperatorInfo, Permission
from app.settings import SLIP_PAPER
from app.slips import PAPER_A4, money_text
from ui.document_printing import Document, PrintFailed, PrintStation, SlipPrinted
from ui.operations import Executor, Operation
from ui.pages.workflow_widgets import (
    AmountLabel,
    ProgressRelay,
    StayPicker,
    VerdictPanel,
    error_text,
    is_centre_unreachable,
    sent_but_unrecorded,
    to_date,
    to_qdate,
    two_columns,
)
from ui.pages.preaudit_widgets import SEVERITY_COLOURS, AcknowledgeDialog, item_text
from ui.pages.rehab_plan_dialog import RehabPlanDialog
from ui.qt import (
    QAbstractItemView,
    QBrush,
    QColor,
    QDateEdit,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QKeySequence,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QShortcut,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ERROR_COLOUR, NOTICE_COLOUR, ErrorLabel, add_page_title, notice

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.workflow.discharge_review import DischargeReview, ReviewItem
    from app.workflow.admission import CheckResult
    from app.workflow.discharge import BackfillOutcome, DischargeOutcome
    from app.workflow.stays import StaySummary
    from app.workflow.rehab_plan import RehabPlanView

SETTLEABLE = (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT)
REVIEWED = (*SETTLEABLE, StayStatus.PENDING_BACKFILL)  # the lines 补登记 reports: the pre-audit holds them as well
STAGE_NAMES = {
    "upload": "上传费用明细", "check": "出院备案复核", "discharge_check": "出院备案复核", "settle": "结算",
    "settlement": "结算",
}


def _money(amount: Decimal | None) -> str:
    return money_text(amount) if amount is not None else "—"



def _centre_today() -> dt.date:
    """The discharge date offered: the centre's business date, not this machine's (issue 21 B7)."""
    from app.workflow.admission import centre_today

    return centre_today()

class DischargePage(QWidget):
    """The 出院结算 page. Emits `print_requested(settlement_id)` for 预览 (the 结算单 page),
    `printed()` after a slip was printed and logged here, and `changed()` after a stay changed here
    (settled, cancelled, paid in full, back-filled)."""

    print_requested = Signal(int)
    printed = Signal()
    changed = Signal()

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None,
                 station: PrintStation | None = None) -> None:
        super().__init__(parent)
        self.station = station if station is not None else PrintStation(ctx, self)
        self.cancelled_id: int | None = None  # the settlement just cancelled here: its 已撤销 copy prints
        self.last_printed: SlipPrinted | None = None
        self.last_confirmation: QMessageBox | None = None
        self.last_receipt_pdf: bytes | None = None
        self.last_charge_list_pdf: bytes | None = None
        self.printing = False
        self.title = self.tr("出院结算")
        self.setObjectName("dischargePage")
        self._ctx = ctx
        self._operator = operator
        self.busy = False
        self.centre_online: bool | None = None
        self.readiness_problems: list[str] = []
        self.outcome: DischargeOutcome | None = None
        self.backfill_outcome: BackfillOutcome | None = None  # 补登记 done here (nothing refunded, 003 §17)
        self.settlement_id: int | None = None
        self.receipt: tuple[str, Decimal] | None = None
        self._shown_stay: int | None = None
        self._unreachable_at_settlement = False
        self._readiness_generation = 0
        self.review: DischargeReview | None = None
        self.criteria_met_on: dt.date | None = None
        self._review_generation = 0
        self.last_dialog: AcknowledgeDialog | None = None
        self.relay = ProgressRelay(self._show_progress, self)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 8)
        add_page_title(outer, self.title, self)

        pick = QHBoxLayout()
        pick_label = QLabel(self.tr("住院(&Z)："), self)
        self.picker = StayPicker(self, "dischargeStay")
        pick_label.setBuddy(self.picker)
        pick.addWidget(pick_label)
        pick.addWidget(self.picker, 1)
        self.refresh_button = QPushButton(self.tr("刷新列表（F5）"), self)
        self.refresh_button.setObjectName("refreshDischarge")
        self.refresh_button.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.refresh_button.clicked.connect(lambda: self.reload())
        pick.addWidget(self.refresh_button)
        outer.addLayout(pick)

        body, left, right = two_columns(self, outer, 1, 1)

        # --- left: the stay, readiness, the settle button, progress, the second check
        stay_box = QGroupBox(self.tr("本次住院"), body)
        stay_form = QFormLayout(stay_box)
        self.stay_label = QLabel(self.tr("请选择住院"), stay_box)
        self.stay_label.setObjectName("stayInfo")
        self.stay_label.setWordWrap(True)
        stay_form.addRow(self.stay_label)
        self.discharged_on = QDateEdit(stay_box)
        self.discharged_on.setObjectName("dischargedOn")
        self.discharged_on.setCalendarPopup(True)
        self.discharged_on.setDisplayFormat("yyyy-MM-dd")
        self.discharged_on.setDate(to_qdate(_centre_today()))
        date_label = QLabel(self.tr("出院日期(&D)："), stay_box)
        date_label.setBuddy(self.discharged_on)
        stay_form.addRow(date_label, self.discharged_on)
        left.addWidget(stay_box)

        ready_box = QGroupBox(self.tr("结算前检查"), body)
        ready_layout = QVBoxLayout(ready_box)
        self.readiness_label = QLabel("", ready_box)
        self.readiness_label.setObjectName("readiness")
        self.readiness_label.setWordWrap(True)
        ready_layout.addWidget(self.readiness_label)
        buttons = QHBoxLayout()
        self.settle_button = QPushButton(self.tr("结算(&S)"), ready_box)
        self.settle_button.setObjectName("settleButton")
        self.settle_button.setDefault(True)
        self.settle_button.clicked.connect(self.settle)
        buttons.addWidget(self.settle_button)
        # 000 §30: a rehab stay's plan goes up before the settlement; offered when readiness names it.
        self.rehab_plan_button = QPushButton(self.tr("康复方案(&K)…"), ready_box)
        self.rehab_plan_button.setObjectName("rehabPlanButton")
        self.rehab_plan_button.setToolTip(self.tr("录入并上传康复方案（康复住院出院结算前，000 §30）"))
        self.rehab_plan_button.clicked.connect(self.open_rehab_plan)
        self.rehab_plan_button.hide()
        buttons.addWidget(self.rehab_plan_button)
        self.rehab_plan_dialog: RehabPlanDialog | None = None
        buttons.addStretch(1)
        ready_layout.addLayout(buttons)
        self.progress = QProgressBar(ready_box)
        self.progress.setObjectName("settleProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.hide()
        ready_layout.addWidget(self.progress)
        self.progress_label = QLabel("", ready_box)
        self.progress_label.setObjectName("settleProgressText")
        ready_layout.addWidget(self.progress_label)
        self.error_label = ErrorLabel(ready_box, "dischargeError")
        ready_layout.addWidget(self.error_label)
        left.addWidget(ready_box)
        left.addWidget(self._preaudit_box(body))

        left.addStretch(1)

        # --- right: what to collect, print, cancel; outage
        result = QGroupBox(self.tr("结算结果"), body)
        result_layout = QVBoxLayout(result)
        self.result_caption = QLabel(self.tr("个人应付（向患者收取）："), result)
        self.result_caption.setObjectName("personalCaption")
        result_layout.addWidget(self.result_caption)
        self.personal_amount = AmountLabel(result, "personalAmount", size=3.2)
        result_layout.addWidget(self.personal_amount)
        figures = QFormLayout()
        self.fund_amount = AmountLabel(result, "fundAmount", size=1.3)
        self.total_amount = AmountLabel(result, "totalAmount", size=1.3)
        figures.addRow(self.tr("工伤保险基金支付："), self.fund_amount)
        figures.addRow(self.tr("医疗费总额："), self.total_amount)
        result_layout.addLayout(figures)
        self.settlement_label = QLabel("", result)
        self.settlement_label.setObjectName("settlementInfo")
        self.settlement_label.setWordWrap(True)
        self.settlement_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        result_layout.addWidget(self.settlement_label)
        print_row = QHBoxLayout()
        self.print_button = QPushButton(self.tr("打印结算单(&P)  F9"), result)
        self.print_button.setObjectName("printSettlement")
        self.print_button.setToolTip(self.tr("结算单（或全额垫付收据）两联直接在当前打印机上打印，不弹出打印对话框（F9）"))
        self.print_button.clicked.connect(lambda: self.print_document(choose=False))
        print_row.addWidget(self.print_button)
        self.choose_printer_button = QPushButton(self.tr("选择打印机(&L)…"), result)
        self.choose_printer_button.setObjectName("choosePrinter")
        self.choose_printer_button.setToolTip(self.tr("在系统打印对话框中选择打印机后打印；选定的打印机会被记住"))
        self.choose_printer_button.clicked.connect(lambda: self.print_document(choose=True))
        print_row.addWidget(self.choose_printer_button)
        self.preview_button = QPushButton(self.tr("预览(&V)"), result)
        self.preview_button.setObjectName("previewSlip")
        self.preview_button.setToolTip(self.tr("在“结算单”页查看结算单及打印记录"))
        self.preview_button.clicked.connect(self._print)
        print_row.addWidget(self.preview_button)
        print_row.addStretch(1)
        result_layout.addLayout(print_row)
        self.print_label = QLabel("", result)
        self.print_label.setObjectName("printResult")
        self.print_label.setWordWrap(True)
        self.print_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        result_layout.addWidget(self.print_label)
        # F9 prints while this page is shown (QShortcut needs its page visible), as in HIS modules.
        self.print_shortcut = QShortcut(QKeySequence(Qt.Key.Key_F9), self)
        self.print_shortcut.activated.connect(lambda: self.print_document(choose=False))
        right.addWidget(result)
        # The verdict and its next step beside the amount, not at the foot of the long left column
        # where a 1366×768 screen cut it off (issue 20 §5).
        self.verdict = VerdictPanel(self.tr("出院备案复核"), body, object_name="dischargeVerdict")
        right.addWidget(self.verdict)

        cancel_box = QGroupBox(self.tr("撤销结算（审核员）"), body)
        cancel_layout = QFormLayout(cancel_box)
        self.cancel_reason = QLineEdit(cancel_box)
        self.cancel_reason.setObjectName("cancelReason")
        self.cancel_reason.setPlaceholderText(self.tr("必填：撤销原因"))
        reason_label = QLabel(self.tr("撤销原因(&Y)："), cancel_box)
        reason_label.setBuddy(self.cancel_reason)
        cancel_layout.addRow(reason_label, self.cancel_reason)
        self.cancel_button = QPushButton(self.tr("撤销结算(&C)"), cancel_box)
        self.cancel_button.setObjectName("cancelSettlement")
        self.cancel_button.clicked.connect(self.cancel_settlement)
        self.cancel_reason.returnPressed.connect(self.cancel_settlement)
        cancel_layout.addRow("", self.cancel_button)
        if not operator.can(Permission.CANCEL_SETTLEMENT):
            why = self.tr("仅审核员可撤销结算")
            for widget in (self.cancel_reason, self.cancel_button):
                widget.setToolTip(why)
        right.addWidget(cancel_box)

        outage = QGroupBox(self.tr("结算中心断网时"), body)
        outage_layout = QVBoxLayout(outage)
        self.outage_label = notice(self.tr(
            "结算中心无法连接、不能直接结算时，按医疗费总额全额收费并开具全额垫付收据；工伤保险基金不向本院支付本次费用，"
            "窗口不退还任何款项，工伤职工凭收据、住院费用清单和结算单回参保地经办机构报销。"
            "故障排除当日向结算中心补登记（标记为全额垫付，003 §17）。"),
            outage, object_name="outageNotice")
        outage_layout.addWidget(self.outage_label)
        outage_buttons = QHBoxLayout()
        self.full_payment_button = QPushButton(self.tr("全额垫付(&Q)"), outage)
        self.full_payment_button.setObjectName("fullPayment")
        self.full_payment_button.clicked.connect(self.issue_full_payment)
        outage_buttons.addWidget(self.full_payment_button)
        self.backfill_button = QPushButton(self.tr("补登记(&B)"), outage)
        self.backfill_button.setObjectName("backfillStay")
        self.backfill_button.clicked.connect(self.backfill)
        outage_buttons.addWidget(self.backfill_button)
        self.charge_list_button = QPushButton(self.tr("打印费用清单(&F)"), outage)
        self.charge_list_button.setObjectName("printChargeList")
        self.charge_list_button.setToolTip(self.tr(
            "本次住院的全部费用明细（A4），在当前打印机上打印：全额垫付后交患者到参保地报销（003 §17）"))
        self.charge_list_button.clicked.connect(self.print_charge_list)
        outage_buttons.addWidget(self.charge_list_button)

        outage_buttons.addStretch(1)
        outage_layout.addLayout(outage_buttons)
        right.addWidget(outage)
        right.addStretch(1)

        self.picker.currentIndexChanged.connect(lambda _index: self._stay_selected())
        self.discharged_on.dateChanged.connect(lambda _date: self._load_review())
        self._clear_result()
        self._update_buttons()
        self.reload()

    # --- the stays -------------------------------------------------------------------------------

    def reload(self, select: int | None = None) -> None:
        def work(session: Session) -> list[StaySummary]:
            from app.workflow.stays import list_stays

            return list_stays(session)

        Operation.transaction(self, self._ctx, work).success(
            lambda stays: self.picker.set_stays(stays, keep=select)).failure(
            lambda error: self.error_label.show_error(error_text(error))).run()

    def open_stay(self, stay_id: int) -> None:
        """Show this stay (from 住院一览 or after an admission)."""
        if not self.picker.select_stay(stay_id):
            self.reload(select=stay_id)

    def follow_patient(self, stay_id: int | None) -> None:
        """The window's current patient changed: their open stay, or none (never another person's)."""
        if self.busy:
            return  # a settlement is under way: its stay stays on screen
        if stay_id is None:
            self.picker.select_none()
        else:
            self.open_stay(stay_id)

    def _stay_selected(self) -> None:
        stay = self.picker.current_stay()
        stay_id = stay.stay_id if stay is not None else None
        if stay_id != self._shown_stay:
            # Another stay: what was shown belongs to the previous one.
            self._shown_stay = stay_id
            self._clear_result()
            self.verdict.clear()
            self.error_label.clear_error()
            self.progress.hide()
            self.progress_label.setText("")
            self._unreachable_at_settlement = False
            if stay is not None and stay.discharged_on is not None:
                self.discharged_on.setDate(to_qdate(stay.discharged_on))
            else:
                self.discharged_on.setDate(to_qdate(_centre_today()))
        elif stay is not None and not self.busy and self._result_is_stale(stay):
            # The same stay, changed since (e.g. a reviewer cancelled the settlement at another counter).
            self._clear_result()
            self.verdict.clear()
        if stay is None:
            self.stay_label.setText(self.tr("未选择住院：请读卡或扫码识别患者，或在上方列表中查找"))
            self._readiness_generation += 1  # a check of the previous stay still on its way is dropped
            self.readiness_problems = []
            self.readiness_label.setText("")
            self.readiness_label.setStyleSheet("")
        else:
            self.stay_label.setText(self.tr(
                "{name}　{masked}\n住院号 {no}　就医登记号 {reg}　{dept}\n入院 {admitted}　状态：{status}{offline}"
            ).format(name=stay.name, masked=stay.masked_id, no=stay.admission_no,
                     reg=stay.registration_no or self.tr("（未取得）"), dept=stay.dept,
                     admitted=stay.admitted_on.isoformat(), status=stay.status_label,
                     offline=self.tr("（脱机登记，待联网复核）") if stay.registered_offline else ""))
            if stay.status is StayStatus.SETTLED and self.outcome is None and stay.settlement_id is not None:
                self._show_stored_settlement(stay)
            self._check_readiness(stay)
        self._load_review()
        self._update_buttons()

    def _result_is_stale(self, stay: StaySummary) -> bool:
        if self.settlement_id is not None and stay.settlement_id != self.settlement_id:
            return True
        return self.receipt is not None and stay.status in SETTLEABLE

    def _show_stored_settlement(self, stay: StaySummary) -> None:
        self.settlement_id = stay.settlement_id
        personal = stay.personal_total
        total = stay.total
        self.personal_amount.set_amount(personal)
        self.total_amount.set_amount(total)
        self.fund_amount.set_amount(total - personal if total is not None and personal is not None else None)
        self.settlement_label.setText(self.tr("已结算（结算记录 {id}）").format(id=stay.settlement_id))
        self._show_stored_check(stay.stay_id)

    def _show_stored_check(self, stay_id: int) -> None:
        """A settled stay opened again shows the discharge check it was settled on (it said 尚未核验)."""
        def work(session: Session) -> tuple[CheckResult, dt.date] | None:
            from sqlalchemy import select

            from app.db.models import FilingCheck
            from app.rules.verdict import Reason, Verdict
            from app.workflow.admission import check_result

            row = session.scalars(select(FilingCheck).where(FilingCheck.stay_id == stay_id,
                                                            FilingCheck.stage == "discharge")
                                  .order_by(FilingCheck.id.desc()).limit(1)).first()
            if row is None:
                return None
            reasons = tuple(Reason(str(r.get("code", "")), bool(r.get("blocking")), str(r.get("message", "")),
                                   str(r.get("source", ""))) for r in row.reasons)
            verdict = Verdict(row.stage, row.settlement_kind, row.check_date, reasons)
            return check_result(verdict, row.id), row.check_date

        def show(found: tuple[CheckResult, dt.date] | None) -> None:
            if found is None or self._shown_stay != stay_id or self.verdict.check is not None:
                return
            check, checked_on = found
            self.verdict.show_check(check)
            self.verdict.reasons.setText(self.verdict.reasons.text() + "\n" + self.tr(
                "核验于 {date}（结算时）").format(date=checked_on.isoformat()))

        Operation.transaction(self, self._ctx, work).success(show).run()

    def _paid_in_full_text(self, stay: StaySummary) -> str:
        """What a stay paid in full is, and what the worker does with the receipt (003 §17)."""
        claim = self.tr("不再联网结算，窗口不退还任何款项；请工伤职工凭全额垫付收据、住院费用清单和结算单"
                        "回参保地经办机构申请报销（003 §17）。")
        if not stay.status_label.startswith("待补登记"):
            return self.tr("已全额垫付并已补登记：") + claim
        due = stay.backfill_due or self.tr("结算中心恢复连接后办理")
        return self.tr("已全额垫付，等待补登记（{due}）；").format(due=due) + claim

    def _check_readiness(self, stay: StaySummary) -> None:
        if stay.status not in SETTLEABLE:
            self.readiness_problems = []
            self.readiness_label.setText({
                StayStatus.SETTLED: self.tr("已结算。"),
                StayStatus.PENDING_BACKFILL: self._paid_in_full_text(stay),
                StayStatus.CANCELLED: self.tr("已撤销。"),
            }.get(stay.status, stay.status_label))
            return
        self.readiness_label.setText(self.tr("正在检查…"))
        self._readiness_generation += 1
        generation = self._readiness_generation
        stay_id = stay.stay_id

        def work(session: Session) -> list[str]:
            from app.workflow.discharge import readiness

            return readiness(session, stay_id)

        Operation.transaction(self, self._ctx, work).success(
            lambda problems: self._show_readiness(problems, generation)).failure(
            lambda error: self._show_readiness([error_text(error)], generation)).run()

    def _show_readiness(self, problems: list[str], generation: int) -> None:
        if generation != self._readiness_generation:
            return
        self.readiness_problems = problems
        self._show_readiness_text()
        self._update_buttons()

    def _show_readiness_text(self) -> None:
        problems = self.readiness_problems
        stay = self.picker.current_stay()
        if stay is None:
            self.readiness_label.setText("")  # no stay chosen: nothing to settle
            return
        if stay.status not in SETTLEABLE:
            return  # the status's own text (_check_readiness)
        if problems:
            self.readiness_label.setText(self.tr("尚不能结算：") + "\n" + "\n".join(f"• {p}" for p in problems))
            self.readiness_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        elif self.review is not None and self.review.pending:
            self.readiness_label.setText(self.tr(
                "费用明细已就绪；出院结算前预审尚有 {n} 项待确认：修正明细或填写原因确认后才能结算。").format(
                n=len(self.review.pending)))
            self.readiness_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        else:
            self.readiness_label.setText(self.tr("可以结算：按“结算”上传费用明细、复核备案并结算。"))
            self.readiness_label.setStyleSheet("")

    # --- 康复方案 (000 §30) ---------------------------------------------------------------------------

    def _plan_missing(self) -> bool:
        return any("康复方案" in problem for problem in self.readiness_problems)

    def open_rehab_plan(self) -> None:
        stay = self.picker.current_stay()
        if stay is None or self.busy or not self._plan_missing():
            return
        dialog = RehabPlanDialog(business_today(), self)
        dialog.submitted.connect(lambda: self._submit_rehab_plan(dialog, stay.stay_id))
        dialog.finished.connect(lambda _result: self._rehab_plan_closed(dialog))
        self.rehab_plan_dialog = dialog
        dialog.open()

    def _rehab_plan_closed(self, dialog: RehabPlanDialog) -> None:
        if self.rehab_plan_dialog is dialog:
            self.rehab_plan_dialog = None
        dialog.deleteLater()

    def _submit_rehab_plan(self, dialog: RehabPlanDialog, stay_id: int) -> None:
        ctx, operator = self._ctx, self._operator
        document_no, summary, drawn_up = dialog.document_no(), dialog.summary(), dialog.drawn_up()

        def work() -> RehabPlanView:
            from app.composition import open_workflow_centre
            from app.workflow.rehab_plan import record_rehab_plan

            client = open_workflow_centre(ctx, operator)
            try:
                return record_rehab_plan(ctx, client, stay_id, document_no, summary, drawn_up, operator,
                                         today=business_today())
            finally:
                client.close()

        def done(plan: RehabPlanView) -> None:
            if plan.uploaded:
                dialog.accept()
                self._note(self.tr("康复方案 {no} 已上传到结算中心。").format(no=plan.document_no))
            else:
                dialog.failed(plan.refusal)
            stay = self.picker.current_stay()
            if stay is not None and stay.stay_id == stay_id:
                self._check_readiness(stay)

        dialog.set_busy(True)
        Operation(dialog, work, executor=Executor.BACKGROUND).success(done).failure(
            lambda error: dialog.failed(error_text(error))).run()

    def _note(self, text: str) -> None:
        self.error_label.clear_error()
        self.progress_label.setText(text)

    # --- settling ----------------------------------------------------------------------------------

    def settle(self) -> None:
        stay = self.picker.current_stay()
        if stay is None or self.busy:
            return
        if stay.status not in SETTLEABLE:
            self.error_label.show_error(self.tr("该住院状态为“{status}”，不能结算。").format(status=stay.status_label))
            return
        if self.readiness_problems:
            self.error_label.show_error(self.tr("尚不能结算：{problems}").format(
                problems="；".join(self.readiness_problems)))
            return
        if self.review is None:
            self.error_label.show_error(self.tr("正在进行出院结算前预审，请稍候再结算。"))
            return
        if self.review.pending:
            from app.workflow.discharge_review import unacknowledged_message

            self.error_label.show_error(unacknowledged_message(self.review.pending))
            return
        stay_id, discharged_on = stay.stay_id, to_date(self.discharged_on.date())
        ctx, operator, relay = self._ctx, self._operator, self.relay

        def work() -> DischargeOutcome:
            from app.composition import open_workflow_centre
            from app.workflow.discharge import settle_stay

            client = open_workflow_centre(ctx, operator)
            try:
                return settle_stay(ctx, client, stay_id, operator, discharged_on, progress=relay.report)
            finally:
                client.close()

        self._start(self.tr("正在结算…"))
        Operation(self, work, executor=Executor.BACKGROUND).success(self._settled).failure(
            self._settle_failed).run()

    def _start(self, text: str) -> None:
        self.busy = True
        self._clear_result()
        self.verdict.clear()
        self.error_label.clear_error()
        self.progress.setRange(0, 0)  # busy until the first report says how much
        self.progress.show()
        self.progress_label.setText(text)
        self.relay.start()
        self._update_buttons()

    def _finish(self) -> None:
        self.relay.stop()
        self.busy = False
        self.progress.hide()

    def _show_progress(self, stage: str, done: int, total: int) -> None:
        name = self.tr(STAGE_NAMES.get(stage, stage))
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress_label.setText(self.tr("{stage}：{done}/{total}").format(stage=name, done=done, total=total))
        else:
            self.progress.setRange(0, 0)
            self.progress_label.setText(self.tr("{stage}…").format(stage=name))

    def _settled(self, outcome: DischargeOutcome) -> None:
        self._finish()
        self.outcome = outcome
        self._unreachable_at_settlement = False
        self.progress_label.setText(self.tr("结算完成"))
        self.verdict.show_check(outcome.check)
        self._show_outcome(outcome)
        self.changed.emit()
        self.reload(select=outcome.stay_id)

    def _show_outcome(self, outcome: DischargeOutcome) -> None:
        self.settlement_id = outcome.settlement_id
        self.result_caption.setText(self.tr("个人应付（向患者收取）："))
        self.personal_amount.set_amount(outcome.personal_total)
        self.fund_amount.set_amount(outcome.fund_total)
        self.total_amount.set_amount(outcome.total)
        self.settlement_label.setText(self.tr("结算记录 {id}，中心结算编号 {centre}").format(
            id=outcome.settlement_id, centre=outcome.centre_settlement_id))
        self._update_buttons()
        self.print_button.setFocus()

    def _settle_failed(self, error: BaseException) -> None:
        self._finish()
        check = getattr(error, "check", None)
        if check is not None:
            self.verdict.show_check(check)  # refused at the second check: why, and what next
        if is_centre_unreachable(error):
            self._unreachable_at_settlement = True
            self.centre_online = False
            self.progress_label.setText("")
            self.error_label.show_error(self.tr(
                "结算中心无法连接，未结算：{detail}\n可按“全额垫付”收取医疗费总额并开具收据，"
                "由工伤职工凭收据回参保地报销；联网恢复后补登记（003 §17）。").format(
                detail=error_text(error)))
            self.full_payment_button.setFocus()
        else:
            self.progress_label.setText("")
            # Settled at the centre but not recorded here: its message alone, never "未结算" (issue 21 §8).
            self.error_label.show_error(error_text(error) if sent_but_unrecorded(error)
                                        else self.tr("未结算：{reason}").format(reason=error_text(error)))
        self.changed.emit()
        self.reload()
        self._load_review()  # e.g. refused by the service for a finding that appeared meanwhile
        self._update_buttons()

    # --- cancelling ----------------------------------------------------------------------------------

    def cancel_settlement(self) -> None:
        stay = self.picker.current_stay()
        settlement_id = self.settlement_id
        if stay is None or settlement_id is None or self.busy:
            return
        reason = self.cancel_reason.text().strip()
        if not reason:
            self.error_label.show_error(self.tr("撤销结算必须填写原因。"))
            self.cancel_reason.setFocus()
            return
        total, personal = self.total_amount.amount, self.personal_amount.amount
        figures = self.tr("医疗费总额 {total} 元，其中个人支付 {personal} 元、基金支付 {fund} 元").format(
            total=_money(total), personal=_money(personal),
            fund=_money(total - personal if total is not None and personal is not None else None))
        confirmed = self._confirm(
            self.tr("确认撤销结算"),
            self.tr("撤销 {name} 的结算（结算记录 {id}）？\n{figures}。").format(
                name=stay.name, id=settlement_id, figures=figures),
            self.tr("撤销原因：{reason}\n撤销后结算中心同时撤销该笔结算，已收的个人支付部分按医院规定退还；"
                    "该住院可重新结算。").format(reason=reason),
            self.tr("撤销结算(&C)"))
        if not confirmed or self.settlement_id != settlement_id or self.busy:
            return  # declined, or the page moved on while the question was open
        ctx, operator, stay_id = self._ctx, self._operator, stay.stay_id

        def work() -> int:
            from app.composition import open_workflow_centre
            from app.workflow.discharge import cancel_settlement

            client = open_workflow_centre(ctx, operator)
            try:
                return cancel_settlement(ctx, client, settlement_id, operator, reason)
            finally:
                client.close()

        self._start(self.tr("正在撤销结算…"))
        Operation(self, work, executor=Executor.BACKGROUND).success(
            lambda cancellation: self._cancelled(cancellation, stay_id, settlement_id)).failure(
            self._cancel_failed).run()

    def _cancelled(self, cancellation_id: int, stay_id: int, settlement_id: int) -> None:
        self._finish()
        self.cancelled_id = settlement_id  # its 已撤销 copy can be printed from here
        self.outcome = None
        self.settlement_id = None
        self.cancel_reason.clear()
        self.progress_label.setText(self.tr(
            "已撤销结算（撤销记录 {id}），该住院可重新结算。可按“打印结算单”打印已撤销的结算单交患者。").format(
            id=cancellation_id))
        self.changed.emit()
        self.reload(select=stay_id)

    def _cancel_failed(self, error: BaseException) -> None:
        self._finish()
        self.progress_label.setText("")
        self.error_label.show_error(error_text(error) if sent_but_unrecorded(error)
                                    else self.tr("未撤销：{reason}").format(reason=error_text(error)))
        self.reload()

    # --- the centre is down: 全额垫付, then 补登记 ------------------------------------------------------

    def issue_full_payment(self) -> None:
        """Ask first, showing what the worker pays in full; then issue the receipt and print it."""
        stay = self.picker.current_stay()
        if stay is None or self.busy:
            return
        stay_id = stay.stay_id

        def work(session: Session) -> Decimal:
            from app.receipts import full_payment_amount

            return full_payment_amount(session, stay_id)

        Operation.transaction(self, self._ctx, work).success(
            lambda amount: self._confirm_full_payment(stay_id, amount)).failure(
            lambda error: self.error_label.show_error(error_text(error))).run()

    def _confirm_full_payment(self, stay_id: int, amount: Decimal) -> None:
        stay = self.picker.current_stay()
        if stay is None or stay.stay_id != stay_id or self.busy:
            return
        discharged_on = to_date(self.discharged_on.date())
        confirmed = self._confirm(
            self.tr("确认全额垫付"),
            self.tr("{name}（住院号 {no}）全额垫付：向患者收取医疗费总额 {amount} 元？").format(
                name=stay.name, no=stay.admission_no, amount=money_text(amount)),
            self.tr("结算中心无法连接，本次不联网结算，以后也不再联网结算。开具全额垫付收据（两联）并打印；"
                    "工伤保险基金不向本院支付本次费用，窗口不退还任何款项，工伤职工凭收据、住院费用清单和结算单"
                    "回参保地经办机构报销。住院转为“待补登记”，故障排除当日向结算中心补登记（003 §17）。"),
            self.tr("全额垫付并打印收据(&Q)"))
        stay = self.picker.current_stay()
        if not confirmed or stay is None or stay.stay_id != stay_id or self.busy:
            return
        self._issue_full_payment(stay_id, discharged_on)

    def _issue_full_payment(self, stay_id: int, discharged_on: dt.date) -> None:
        ctx, operator = self._ctx, self._operator

        def work() -> tuple[str, Decimal]:
            from app.db.models import FullPaymentReceipt
            from app.workflow.discharge import issue_full_payment

            receipt_id = issue_full_payment(ctx, stay_id, operator, discharged_on)
            with ctx.transaction() as session:
                receipt = session.get(FullPaymentReceipt, receipt_id)
                assert receipt is not None
                return receipt.receipt_no, receipt.amount

        self._start(self.tr("正在开具全额垫付收据…"))
        Operation(self, work).success(lambda receipt: self._receipt_issued(receipt, stay_id)).failure(
            self._receipt_failed).run()

    def _receipt_issued(self, receipt: tuple[str, Decimal], stay_id: int) -> None:
        self._finish()
        self.receipt = receipt
        number, amount = receipt
        self.result_caption.setText(self.tr("全额垫付（向患者收取医疗费总额）："))
        self.personal_amount.set_amount(amount)
        self.fund_amount.set_amount(None)
        self.total_amount.set_amount(amount)
        self.settlement_label.setText(self.tr(
            "已开具全额垫付收据 {no}。请工伤职工凭收据、住院费用清单和结算单回参保地经办机构报销（003 §17）；"
            "住院转为“待补登记”，故障排除当日办理补登记，不退还任何款项。"
        ).format(no=number))
        self.progress_label.setText("")
        self.print_receipt(stay_id)
        self.changed.emit()
        self.reload(select=stay_id)

    def _receipt_failed(self, error: BaseException) -> None:
        self._finish()
        self.progress_label.setText("")
        self.error_label.show_error(self.tr("未开具全额垫付收据：{reason}").format(reason=error_text(error)))
        self._update_buttons()

    def backfill(self) -> None:
        stay = self.picker.current_stay()
        if stay is None or self.busy:
            return
        stay_id = stay.stay_id
        ctx, operator = self._ctx, self._operator

        def work() -> BackfillOutcome:
            from app.composition import open_workflow_centre
            from app.workflow.discharge import backfill

            client = open_workflow_centre(ctx, operator)
            try:
                return backfill(ctx, client, stay_id, operator)
            finally:
                client.close()

        self._start(self.tr("正在补登记…"))
        Operation(self, work, executor=Executor.BACKGROUND).success(self._backfilled).failure(
            self._backfill_failed).run()

    def _backfilled(self, outcome: BackfillOutcome) -> None:
        self._finish()
        self.backfill_outcome = outcome
        self.centre_online = True
        self.progress_label.setText(self.tr("补登记完成：不退还任何款项。"))
        # The big figure: what the worker paid and takes to the insured place (003 §17).
        self.result_caption.setText(self.tr("已全额垫付（凭收据回参保地报销，窗口不退还）："))
        self.personal_amount.set_amount(outcome.paid_in_full)
        self.fund_amount.set_amount(Decimal("0.00"))  # the fund pays the hospital nothing for the stay
        self.total_amount.set_amount(outcome.paid_in_full)
        self.settlement_label.setText(outcome.message)
        self._update_buttons()
        self.changed.emit()
        self.reload(select=outcome.stay_id)
        self.reload(select=outcome.stay_id)

    def _backfill_failed(self, error: BaseException) -> None:
        self._finish()
        self.progress_label.setText("")
        self.error_label.show_error(error_text(error) if sent_but_unrecorded(error)
                                    else self.tr("未补登记：{reason}").format(reason=error_text(error)))
        self._update_buttons()

    def set_centre_online(self, online: bool) -> None:
        self.centre_online = online
        self._update_buttons()

    # --- state -----------------------------------------------------------------------------------------

    def _print(self) -> None:
        if self.settlement_id is not None:
            self.print_requested.emit(self.settlement_id)

    def _printable(self) -> int | None:
        """The settlement whose slip 打印结算单 prints: the one shown, or the one just cancelled here."""
        return self.settlement_id if self.settlement_id is not None else self.cancelled_id

    def _receipt_printable(self) -> bool:
        stay = self.picker.current_stay()
        return self.receipt is not None or (stay is not None and stay.status is StayStatus.PENDING_BACKFILL)

    def print_document(self, *, choose: bool) -> None:
        """打印 / F9 / 选择打印机…: the stay's slip when it has one (settled, or just cancelled here),
        else its 全额垫付 receipt."""
        if self.busy or self.printing or not self.print_button.isEnabled():
            return
        if self._printable() is not None:
            self.print_slip(choose=choose)
        elif self._receipt_printable():
            self.print_receipt(choose=choose)

    def print_slip(self, *, choose: bool) -> None:
        """Both copies of the slip (原件, 补打 n or 已撤销) on the printer in use, or on one chosen in the
        system's print dialog; printed, archived and logged, or told why not."""
        settlement_id = self._printable()
        if settlement_id is None or self.busy or self.printing:
            return
        self.error_label.clear_error()
        self.print_label.setText(self.tr("正在打印结算单…"))
        self.printing = True  # one print at a time: the mark (原件 / 补打 n) is the next one's
        self._update_buttons()
        self.station.print_settlement(self, self._operator, settlement_id, choose=choose,
                                      done=self._slip_printed, failed=self._slip_not_printed)

    def _slip_printed(self, printed: SlipPrinted) -> None:
        self.printing = False
        self.last_printed = printed
        what = printed.data.mark.label or self.tr("原件")
        self.print_label.setText(self.tr("已打印结算单{what}（两联，{printer}），已存档。").format(
            what=what, printer=printed.printer))
        self._update_buttons()
        self.printed.emit()

    def _slip_not_printed(self, message: str) -> None:
        self.printing = False
        self.print_label.setText("")
        if message:
            self.error_label.show_error(self.tr("结算单未打印：{reason}").format(reason=message))
        self._update_buttons()

    def print_receipt(self, stay_id: int | None = None, *, choose: bool = False) -> None:
        """The stay's 全额垫付 receipt (two copies) on the printer in use, or one chosen in the dialog."""
        if stay_id is None:
            stay = self.picker.current_stay()
            if stay is None:
                return
            stay_id = stay.stay_id
        paper = self._ctx.settings.get(SLIP_PAPER)

        def work(session: Session) -> tuple[str, bytes]:
            from app.receipts import receipt_for_stay
            from printing.receipt import render

            data = receipt_for_stay(session, stay_id)
            return data.receipt_no, render(data, paper)

        Operation.transaction(self, self._ctx, work).success(
            lambda rendered: self._print_receipt(rendered[0], rendered[1], paper, choose)).failure(
            lambda error: self.error_label.show_error(
                self.tr("全额垫付收据未打印：{reason}").format(reason=error_text(error)))).run()

    def _print_receipt(self, number: str, pdf: bytes, paper: str, choose: bool) -> None:
        document = Document(pdf, paper, self.tr("全额垫付收据 {no}").format(no=number))
        self.error_label.clear_error()
        try:
            where = self.station.print_document(self, document, choose=choose, title=self.tr("打印全额垫付收据"))
        except PrintFailed as failure:
            self.error_label.show_error(self.tr(
                "全额垫付收据 {no} 已开具，但未打印：{reason}\n处理后请按“打印全额垫付收据”（F9）重新打印。").format(
                no=number, reason=failure.message))
            return
        if where is None:
            return  # the clerk cancelled the print dialog
        self.last_receipt_pdf = pdf
        self.print_label.setText(self.tr("已打印全额垫付收据 {no}（两联，{printer}）。").format(no=number, printer=where))

    def print_charge_list(self) -> None:
        """The stay's 住院费用清单 (every line, A4) on the printer in use."""
        stay = self.picker.current_stay()
        if stay is None or self.printing:
            return
        stay_id = stay.stay_id

        def work(session: Session) -> tuple[int, bytes]:
            from app.receipts import charge_list
            from printing.charge_list import render

            data = charge_list(session, stay_id)
            return len(data.lines), render(data)

        self.error_label.clear_error()
        self.print_label.setText(self.tr("正在准备费用清单…"))
        self.printing = True
        self._update_buttons()
        Operation.transaction(self, self._ctx, work).success(
            lambda listed: self._print_charge_list(stay.admission_no, listed[0], listed[1])).failure(
            lambda error: self._charge_list_not_printed(error_text(error))).run()

    def _print_charge_list(self, admission_no: str, count: int, pdf: bytes) -> None:
        document = Document(pdf, PAPER_A4, self.tr("住院费用清单 {no}").format(no=admission_no))
        try:
            where = self.station.print_document(self, document, choose=False, title=self.tr("打印费用清单"))
        except PrintFailed as failure:
            self._charge_list_not_printed(failure.message)
            return
        self.printing = False
        self.last_charge_list_pdf = pdf
        self.print_label.setText(self.tr("已打印住院费用清单（{n} 条明细，{printer}）。").format(n=count, printer=where))
        self._update_buttons()

    def _charge_list_not_printed(self, message: str) -> None:
        self.printing = False
        self.print_label.setText("")
        self.error_label.show_error(self.tr("费用清单未打印：{reason}").format(reason=message))
        self._update_buttons()

    def _confirm(self, title: str, text: str, detail: str, action: str) -> bool:
        """Ask before a money action; 取消 is the default button, so Enter never does it by accident."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("moneyConfirmation")
        box.setInformativeText(detail)
        do_it = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(self.tr("取消"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        self.last_confirmation = box
        box.exec()  # a modal question: nothing else may happen to this stay meanwhile
        box.deleteLater()
        return box.clickedButton() is do_it

    def _clear_result(self) -> None:
        self.outcome = None
        self.backfill_outcome = None
        self.settlement_id = None
        self.cancelled_id = None
        self.receipt = None
        self.print_label.setText("")
        self.result_caption.setText(self.tr("个人应付（向患者收取）："))
        self.personal_amount.set_amount(None)
        self.fund_amount.set_amount(None)
        self.total_amount.set_amount(None)
        self.settlement_label.setText("")

    def _update_buttons(self) -> None:
        stay = self.picker.current_stay()
        status = stay.status if stay is not None else None
        idle = not self.busy
        self.picker.setEnabled(idle)
        done_here = self.outcome is not None or self.receipt is not None  # before the list catches up
        reviewed = self.review is not None and self.review.ready
        self.settle_button.setEnabled(idle and status in SETTLEABLE and not self.readiness_problems and not done_here
                                      and reviewed)
        plan_offered = status in SETTLEABLE and self._plan_missing() and not done_here
        self.rehab_plan_button.setVisible(plan_offered)
        self.rehab_plan_button.setEnabled(idle and plan_offered and self._operator.can(Permission.SETTLE))
        self.settle_button.setToolTip("" if reviewed or status not in SETTLEABLE else
                                      self.tr("预审提示尚未全部确认：请修正费用明细，或填写原因确认后再结算"))
        pending = self.review is not None and bool(self.review.pending)
        self.acknowledge_button.setEnabled(idle and status in REVIEWED and pending
                                           and self._operator.can(Permission.ACKNOWLEDGE_PREAUDIT))
        for widget in (self.criteria_date, self.record_criteria_button):
            widget.setEnabled(idle and status in SETTLEABLE and not done_here)
        self.clear_criteria_button.setEnabled(idle and status in SETTLEABLE and not done_here
                                              and self.criteria_met_on is not None)
        # Just settled: the list may not have caught up with the stay's new status yet.
        settled = self.settlement_id is not None and (status is StayStatus.SETTLED or self.outcome is not None)
        can_print = self._operator.can(Permission.PRINT_SLIP)
        slip = settled or self.cancelled_id is not None
        receipt = not slip and self._receipt_printable()
        printable = idle and not self.printing and ((can_print and slip) or receipt)
        for button in (self.print_button, self.choose_printer_button):
            button.setEnabled(printable)
        self.print_button.setText(
            self.tr("打印全额垫付收据(&P)  F9") if receipt else
            self.tr("打印已撤销结算单(&P)  F9") if self.settlement_id is None and self.cancelled_id is not None else
            self.tr("打印结算单(&P)  F9"))
        self.preview_button.setEnabled(idle and settled)
        self.charge_list_button.setEnabled(idle and not self.printing and stay is not None)
        can_cancel = self._operator.can(Permission.CANCEL_SETTLEMENT)
        cancellable = idle and can_cancel and settled
        self.cancel_button.setEnabled(cancellable)
        self.cancel_reason.setEnabled(cancellable)
        # 全额垫付 only when the centre really cannot be reached: never instead of a settlement.
        centre_down = self._unreachable_at_settlement or self.centre_online is False
        self.full_payment_button.setEnabled(idle and status in SETTLEABLE and centre_down and not done_here)
        self.full_payment_button.setToolTip(
            "" if self.full_payment_button.isEnabled() else
            self.tr("仅在结算中心无法连接、不能结算时使用；联网正常时请直接结算") if status in SETTLEABLE else
            self.tr("该住院当前状态不能全额垫付"))
        self.discharged_on.setEnabled(idle and status in SETTLEABLE)
        waiting = (status is StayStatus.PENDING_BACKFILL and stay is not None and self.backfill_outcome is None
                   and stay.status_label.startswith("待补登记"))
        self.backfill_button.setEnabled(idle and waiting and self.centre_online is not False)
        if status is StayStatus.PENDING_BACKFILL and not waiting:
            self.backfill_button.setToolTip(self.tr("本次住院已补登记"))
        elif status is not StayStatus.PENDING_BACKFILL:
            self.backfill_button.setToolTip(self.tr("只有“待补登记”（已全额垫付）的住院需要补登记"))
        elif self.centre_online is False:
            self.backfill_button.setToolTip(self.tr("结算中心恢复连接后才能补登记"))
        else:
            self.backfill_button.setToolTip("")

    # --- the pre-audit before settling (issue 10) --------------------------------------------------------

    def _preaudit_box(self, body: QWidget) -> QGroupBox:
        box = QGroupBox(self.tr("出院结算前预审（经办机构可能扣款）"), body)
        layout = QVBoxLayout(box)
        criteria = QHBoxLayout()
        criteria_label = QLabel(self.tr("达到出院标准日期(&T)："), box)
        self.criteria_date = QDateEdit(box)
        self.criteria_date.setObjectName("criteriaDate")
        self.criteria_date.setCalendarPopup(True)
        self.criteria_date.setDisplayFormat("yyyy-MM-dd")
        self.criteria_date.setDate(to_qdate(business_today()))
        criteria_label.setBuddy(self.criteria_date)
        criteria.addWidget(criteria_label)
        criteria.addWidget(self.criteria_date)
        self.record_criteria_button = QPushButton(self.tr("记录"), box)
        self.record_criteria_button.setObjectName("recordCriteria")
        self.record_criteria_button.setToolTip(self.tr("按医生记录填写；此日期之后的费用经办机构将不予支付（003 §15）"))
        self.record_criteria_button.clicked.connect(lambda: self.record_criteria(to_date(self.criteria_date.date())))
        criteria.addWidget(self.record_criteria_button)
        self.clear_criteria_button = QPushButton(self.tr("清除"), box)
        self.clear_criteria_button.setObjectName("clearCriteria")
        self.clear_criteria_button.clicked.connect(lambda: self.record_criteria(None))
        criteria.addWidget(self.clear_criteria_button)
        self.criteria_label = QLabel("", box)
        self.criteria_label.setObjectName("criteriaRecorded")
        criteria.addWidget(self.criteria_label, 1)
        layout.addLayout(criteria)
        self.preaudit_summary = QLabel("", box)
        self.preaudit_summary.setObjectName("preauditSummary")
        self.preaudit_summary.setWordWrap(True)
        layout.addWidget(self.preaudit_summary)
        self.preaudit_table = QTableWidget(0, 5, box)
        self.preaudit_table.setObjectName("preauditTable")
        self.preaudit_table.setHorizontalHeaderLabels(
            [self.tr("序号"), self.tr("风险"), self.tr("预计扣款"), self.tr("规则（依据）"), self.tr("确认")])
        self.preaudit_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preaudit_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.preaudit_table.horizontalHeader()
        for column in (0, 1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        for column in (3, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.preaudit_table.verticalHeader().hide()
        self.preaudit_table.setMaximumHeight(180)
        layout.addWidget(self.preaudit_table)
        buttons = QHBoxLayout()
        self.acknowledge_button = QPushButton(self.tr("确认待确认项(&K)…"), box)
        self.acknowledge_button.setObjectName("acknowledgeButton")
        self.acknowledge_button.setToolTip(self.tr("按现状结算：逐项记录确认人、时间和原因（记入审计）"))
        self.acknowledge_button.clicked.connect(self.open_acknowledge_dialog)
        buttons.addWidget(self.acknowledge_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        return box

    def _load_review(self) -> None:
        """The stay's findings at discharge for the date typed, on the database thread."""
        stay = self.picker.current_stay()
        self._review_generation += 1
        generation = self._review_generation
        self.review = None
        if stay is None or stay.status not in REVIEWED:
            self._show_review(None, None, generation)
            return
        self.preaudit_summary.setText(self.tr("正在预审…"))
        stay_id, discharged_on, ctx = stay.stay_id, to_date(self.discharged_on.date()), self._ctx

        def work(session: Session) -> tuple[DischargeReview, dt.date | None]:
            from app.db.models import Stay
            from app.workflow.discharge_review import counter_rules, discharge_review

            row = session.get(Stay, stay_id)
            criteria = row.discharge_criteria_met_on if row is not None else None
            return discharge_review(session, stay_id, counter_rules(ctx), discharged_on=discharged_on), criteria

        Operation.transaction(self, self._ctx, work).success(
            lambda result: self._show_review(result[0], result[1], generation)).failure(
            lambda error: self._review_failed(error, generation)).run()

    def _review_failed(self, error: BaseException, generation: int) -> None:
        if generation == self._review_generation:
            self.preaudit_summary.setText(self.tr("预审未完成：{reason}").format(reason=error_text(error)))
            self.preaudit_summary.setStyleSheet(f"color: {ERROR_COLOUR};")

    def _show_review(self, review: DischargeReview | None, criteria: dt.date | None, generation: int) -> None:
        if generation != self._review_generation:
            return  # another stay or date since
        self.review = review
        self.criteria_met_on = criteria
        self.criteria_label.setText(self.tr("已记录：{date}").format(date=criteria.isoformat()) if criteria
                                    else self.tr("未记录"))
        if criteria is not None:
            self.criteria_date.setDate(to_qdate(criteria))
        items = review.items if review is not None else ()
        self.preaudit_table.setRowCount(len(items))
        for row, item in enumerate(items):
            acknowledgement = item.acknowledgement
            status = (self.tr("已确认：{who} {when}，{why}").format(
                who=acknowledgement.operator_name,
                when=acknowledgement.acknowledged_at.astimezone(CHINA_TZ).strftime("%m-%d %H:%M"), why=acknowledgement.reason)
                      if acknowledgement is not None else self.tr("待确认"))
            cells = [item.seq_label, item.severity_label, f"¥{item.finding.amount_at_risk:.2f}",
                     f"{item.title}（{item.finding.source}）", status]
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(item_text(item))
                # The risk in the severity's colour; an amount only when there is one (¥0.00 is no warning).
                if column == 1 or (column == 2 and item.finding.amount_at_risk > 0):
                    cell.setForeground(QBrush(QColor(SEVERITY_COLOURS.get(item.severity, ERROR_COLOUR))))
                self.preaudit_table.setItem(row, column, cell)
        if review is None:
            self.preaudit_summary.setText("")
            self.preaudit_summary.setStyleSheet("")
        elif not review.items:
            self.preaudit_summary.setText(self.tr("预审未发现可能被扣款的问题。"))
            self.preaudit_summary.setStyleSheet("")
        elif review.total_at_risk == 0:
            # Findings that put no fund money at risk (e.g. a self-pay item not yet explained to the
            # patient): still to be confirmed, but no deduction to warn about in red.
            pending = len(review.pending)
            self.preaudit_summary.setText(self.tr(
                "发现 {n} 项需要注意，预计不会扣款；{pending} 项待确认：填写原因确认后再结算。").format(
                n=len(review.items), pending=pending) if pending else self.tr(
                "发现 {n} 项需要注意，预计不会扣款；均已确认，可以结算。").format(n=len(review.items)))
            self.preaudit_summary.setStyleSheet(f"color: {NOTICE_COLOUR};" if pending else "")
        else:
            pending = len(review.pending)
            self.preaudit_summary.setText(self.tr(
                "发现 {n} 项可能被经办机构扣款，预计扣款合计 ¥{total}；{pending} 项待确认。"
                "请返回“费用与伤病分离”修正明细，或填写原因确认后再结算。").format(
                n=len(review.items), total=f"{review.total_at_risk:.2f}", pending=pending)
                if pending else self.tr("发现 {n} 项可能被经办机构扣款，预计扣款合计 ¥{total}；均已确认，可以结算。").format(
                n=len(review.items), total=f"{review.total_at_risk:.2f}"))
            self.preaudit_summary.setStyleSheet(f"color: {ERROR_COLOUR};" if pending else "")
        if self.readiness_label.text() != self.tr("正在检查…"):
            self._show_readiness_text()
        self._update_buttons()

    def open_acknowledge_dialog(self) -> None:
        if self.review is None or not self.review.pending or self.busy:
            return
        dialog = AcknowledgeDialog(self.review.pending, self)
        self.last_dialog = dialog
        dialog.accepted.connect(lambda: self.acknowledge(dialog.items, dialog.reason))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # not exec(): no nested event loop

    def acknowledge(self, items: tuple[ReviewItem, ...], reason: str) -> None:
        stay = self.picker.current_stay()
        if stay is None:
            return
        stay_id, discharged_on = stay.stay_id, to_date(self.discharged_on.date())
        ctx, operator, findings = self._ctx, self._operator, [item.finding for item in items]

        def work() -> int:
            from app.workflow.discharge_review import acknowledge, counter_rules

            return acknowledge(ctx, stay_id, findings, reason, operator, discharged_on=discharged_on,
                               rules=counter_rules(ctx))

        self.error_label.clear_error()
        Operation(self, work).success(lambda count: self._acknowledged(count)).failure(
            lambda error: self._acknowledge_failed(error)).run()

    def _acknowledged(self, count: int) -> None:
        self.progress_label.setText(self.tr("已确认 {n} 项预审提示（已记入审计）。").format(n=count))
        self._load_review()

    def _acknowledge_failed(self, error: BaseException) -> None:
        self.error_label.show_error(self.tr("未确认：{reason}").format(reason=error_text(error)))
        self._load_review()

    def record_criteria(self, met_on: dt.date | None) -> None:
        stay = self.picker.current_stay()
        if stay is None or self.busy:
            return
        stay_id, ctx, operator = stay.stay_id, self._ctx, self._operator

        def work() -> None:
            from app.workflow.discharge_review import record_criteria_date

            record_criteria_date(ctx, stay_id, met_on, operator)

        self.error_label.clear_error()
        Operation(self, work).success(lambda _none: self._load_review()).failure(
            lambda error: self.error_label.show_error(
                self.tr("未记录达到出院标准日期：{reason}").format(reason=error_text(error)))).run()
