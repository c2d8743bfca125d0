"""入院登记: identify the worker, show what the centre knows, check the filing, register the stay.

The worker is identified by the card read on the 读卡 page (picked up as soon as it is read),
by an e-card token scanned into this page, or — reviewers only, with a recorded reason — by a
typed social security number. The centre's person (recognitions, filings) is shown; as the
form is filled the filing verdict is previewed; 登记 judges again, stores the check, registers
with the centre (就医登记号) and creates the stay. When the centre cannot be reached the stay
is registered offline and re-checked when the link returns. Every centre call and database
write runs off the GUI thread (`ui.operations`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from app.business_date import business_today
from app.bootstrap import CounterContext
from app.card_identity import CardIdentity
from app.centre.ecard import ECARD_SOURCE
from app.masking import mask_id_number
from app.rules.case import place_name
from app.operators import OperatorInfo, Permission
from ui.current_patient import CurrentPatient, Patient
from ui.operations import Executor, Operation
from ui.pages.workflow_widgets import (
    VerdictPanel,
    error_text,
    is_centre_unreachable,
    sent_but_unrecorded,
    to_date,
    to_qdate,
    two_columns,
)
from ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFormLayout,
    QGroupBox,
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

    from app.centre.gateway import Person
    from app.workflow.admission_correction import RegistrationView
    from ui.pages.admission_dialogs import RegistrationChangeDialog
    from app.workflow.admission import AdmissionForm, AdmissionOutcome, CheckResult, Identification
    from app.workflow.device_fitting import NoticeCheck

log = logging.getLogger(__name__)

CARE_CHOICES: tuple[tuple[str, str], ...] = (("medical", "工伤医疗"), ("rehab", "工伤康复"), ("device", "辅助器具配置"))
PREVIEW_DELAY_MS = 400  # re-judge this long after the last keystroke, not on every one
_FILING_CATEGORIES = {"long_term_residence": "异地长期居住", "long_term_work": "异地长期工作", "referral": "转诊转院"}
_FILING_STATUS = {"active": "有效", "cancelled": "已取消", "terminated": "已终止"}
_CARE_NAMES = dict(CARE_CHOICES)


class AdmissionPage(QWidget):
    """The 入院登记 page. Emits `admitted(stay_id)` after a stay was created and `next_patient_requested()`
    for 下一位.

    One person at a time: the window's `CurrentPatient`. A lookup that fails, or finds someone else,
    forgets the previous person at once (panel, verdict, form), and 登记 registers only the person of
    the last lookup, and only while that person is still the window's current patient."""

    admitted = Signal(int)
    next_patient_requested = Signal()
    person_changed = Signal(object)  # the centre's Person just looked up, or None (the 读卡 page shows it)
    registration_changed = Signal()  # a registration was corrected or cancelled (the stay lists refresh)

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None, *,
                 current_patient: CurrentPatient | None = None) -> None:
        super().__init__(parent)
        self.title = self.tr("入院登记")
        self.setObjectName("admissionPage")
        self._ctx = ctx
        self._operator = operator
        self.current_patient = current_patient or CurrentPatient(ctx, self)
        self.card_identity: CardIdentity | None = None
        self.person: Person | None = None
        self.identification: Identification | None = None
        self.outcome: AdmissionOutcome | None = None
        self._busy = False  # registering
        self._preview_generation = 0
        # Each lookup has a number; only the latest one's answer counts, and 登记 needs the person
        # found by that latest lookup (`_found_generation`).
        self._lookup_generation = 0
        self._found_generation = -1
        self._looking_up = False
        self._deferred_lookup: Identification | None = None  # asked for while registering
        self._forget_after_register = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 8)
        add_page_title(outer, self.title, self)
        body, left, right = two_columns(self, outer, 5, 6)

        left.addWidget(self._build_identification(body))
        left.addWidget(self._build_person(body))
        left.addWidget(self._build_registration(body))
        left.addWidget(self._build_notice(body))  # a device fitting's 配置费用核付通知单 (hidden otherwise)
        # 登记结果 on the left, under the stay's registration: the right column's form, diagnoses and a
        # refusal's reasons and next steps fill 768 px on their own (issue 20 §5).
        left.addWidget(self._build_result(body))
        left.addStretch(1)
        right.addWidget(self._build_form(body))
        self.verdict = VerdictPanel(self.tr("入院备案核验"), body, object_name="admissionVerdict")
        right.addWidget(self.verdict)
        right.addStretch(1)

        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.preview)
        self._set_form_enabled(False)
        self.current_patient.changed.connect(self._patient_changed)

    # --- building ---------------------------------------------------------------------------

    def _build_identification(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox(self.tr("识别工伤职工"), parent)
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.card_label = QLabel(self.tr("读卡页尚未读卡：请插入社保卡"), box)
        self.card_label.setObjectName("cardHolder")
        self.card_label.setWordWrap(True)
        row.addWidget(self.card_label, 1)
        self.use_card_button = QPushButton(self.tr("按社保卡查询(&C)"), box)
        self.use_card_button.setObjectName("useCardButton")
        self.use_card_button.setEnabled(False)
        self.use_card_button.clicked.connect(self.look_up_card)
        row.addWidget(self.use_card_button)
        layout.addLayout(row)

        form = QFormLayout()
        self.ecard_field = QLineEdit(box)
        self.ecard_field.setObjectName("admissionEcard")
        self.ecard_field.setPlaceholderText(self.tr("用扫码枪扫描电子社保卡二维码（以回车结束）"))
        self.ecard_field.returnPressed.connect(self._ecard_scanned)
        ecard_label = QLabel(self.tr("电子社保卡(&E)："), box)
        ecard_label.setBuddy(self.ecard_field)
        form.addRow(ecard_label, self.ecard_field)

        self.typed_field = QLineEdit(box)
        self.typed_field.setObjectName("typedSsn")
        self.typed_field.setMaxLength(18)
        self.typed_field.setPlaceholderText(self.tr("18 位社会保障号码"))
        typed_label = QLabel(self.tr("社会保障号码(&N)："), box)
        typed_label.setBuddy(self.typed_field)
        form.addRow(typed_label, self.typed_field)
        self.typed_reason = QLineEdit(box)
        self.typed_reason.setObjectName("typedReason")
        self.typed_reason.setPlaceholderText(self.tr("必填：为什么不能读卡（如：社保卡损坏、未带卡）"))
        reason_label = QLabel(self.tr("手工输入原因(&Y)："), box)
        reason_label.setBuddy(self.typed_reason)
        form.addRow(reason_label, self.typed_reason)
        self.typed_button = QPushButton(self.tr("按号码查询(&U)"), box)
        self.typed_button.setObjectName("typedLookup")
        self.typed_button.clicked.connect(self._typed_lookup)
        self.typed_field.returnPressed.connect(self.typed_reason.setFocus)
        self.typed_reason.returnPressed.connect(self._typed_lookup)
        form.addRow("", self.typed_button)
        if not self._operator.can(Permission.MANUAL_IDENTIFICATION):
            why = self.tr("仅审核员可手工输入社会保障号码（须填写原因）；收款员请读卡或扫描电子社保卡")
            for widget in (self.typed_field, self.typed_reason, self.typed_button):
                widget.setEnabled(False)
                widget.setToolTip(why)
        layout.addLayout(form)

        self.lookup_message = ErrorLabel(box, "lookupMessage")
        layout.addWidget(self.lookup_message)
        return box

    def _build_person(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox(self.tr("结算中心登记的工伤职工信息"), parent)
        layout = QVBoxLayout(box)
        self.person_label = QLabel(self.tr("尚未查询"), box)
        self.person_label.setObjectName("personSummary")
        self.person_label.setWordWrap(True)
        self.person_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.person_label)
        layout.addWidget(QLabel(self.tr("工伤认定："), box))
        self.recognitions_label = QLabel("", box)
        self.recognitions_label.setObjectName("recognitions")
        self.recognitions_label.setWordWrap(True)
        layout.addWidget(self.recognitions_label)
        layout.addWidget(QLabel(self.tr("备案："), box))
        self.filings_label = QLabel("", box)
        self.filings_label.setObjectName("filings")
        self.filings_label.setWordWrap(True)
        layout.addWidget(self.filings_label)
        return box

    def _build_form(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox(self.tr("入院信息"), parent)
        self.form_box = box
        layout = QVBoxLayout(box)
        form = QFormLayout()
        layout.addLayout(form)

        def field(name: str, label: str, placeholder: str = "") -> QLineEdit:
            edit = QLineEdit(box)
            edit.setObjectName(name)
            edit.setPlaceholderText(placeholder)
            edit.textChanged.connect(self._form_changed)
            edit.returnPressed.connect(self._enter_pressed)
            caption = QLabel(label, box)
            caption.setBuddy(edit)
            form.addRow(caption, edit)
            return edit

        self.admission_no = field("admissionNo", self.tr("住院号(&A)："), self.tr("医院信息系统的住院号"))
        self.dept = field("dept", self.tr("科别(&D)："), self.tr("如：骨科一病区"))
        self.bed = field("bed", self.tr("床号(&B)："), self.tr("可不填"))
        self._bed_row = form.rowCount() - 1  # a device fitting has no bed: hidden for it
        self.admitted_on = QDateEdit(box)
        self.admitted_on.setObjectName("admittedOn")
        self.admitted_on.setCalendarPopup(True)
        self.admitted_on.setDisplayFormat("yyyy-MM-dd")
        self.admitted_on.setDate(to_qdate(business_today()))
        self.admitted_on.dateChanged.connect(self._form_changed)
        date_label = QLabel(self.tr("入院日期(&T)："), box)
        date_label.setBuddy(self.admitted_on)
        form.addRow(date_label, self.admitted_on)

        self.care = QComboBox(box)
        self.care.setObjectName("care")
        for value, label in CARE_CHOICES:
            self.care.addItem(self.tr(label), value)
        self.care.currentIndexChanged.connect(self._form_changed)
        care_label = QLabel(self.tr("就医类别(&K)："), box)
        care_label.setBuddy(self.care)
        form.addRow(care_label, self.care)

        # 辅助器具配置: the insured place's 配置费用核付通知单, checked at the centre before fitting
        # (001 §34, 002 经办规程 §18, 000 §30); shown only for that care type.
        notice_row = QHBoxLayout()
        self.notice_no = QLineEdit(box)
        self.notice_no.setObjectName("noticeNo")
        self.notice_no.setPlaceholderText(self.tr("参保地出具的配置费用核付通知单编号"))
        self.notice_no.textChanged.connect(self._notice_edited)
        self.notice_no.returnPressed.connect(self.look_up_notice)
        notice_row.addWidget(self.notice_no, 1)
        self.notice_button = QPushButton(self.tr("查询通知单(&V)"), box)
        self.notice_button.setObjectName("noticeLookup")
        self.notice_button.setToolTip(self.tr("向结算中心核对核付通知单：本人的、未使用、未作废、配置日期在有效期内"))
        self.notice_button.clicked.connect(self.look_up_notice)
        notice_row.addWidget(self.notice_button)
        self.notice_label = QLabel(self.tr("核付通知单号(&P)："), box)
        self.notice_label.setBuddy(self.notice_no)
        form.addRow(self.notice_label, notice_row)
        self._notice_form = form
        self._notice_row = form.rowCount() - 1
        self.notice_check: NoticeCheck | None = None  # the last lookup, for the number in the field
        self._notice_generation = 0
        self.care.currentIndexChanged.connect(self._care_changed)
        self._care_changed()

        self.recognition = QComboBox(box)
        self.recognition.setObjectName("recognition")
        self.recognition.currentIndexChanged.connect(self._recognition_changed)
        recognition_label = QLabel(self.tr("工伤认定(&G)："), box)
        recognition_label.setBuddy(self.recognition)
        form.addRow(recognition_label, self.recognition)

        self.filing = QComboBox(box)
        self.filing.setObjectName("filing")
        self.filing.currentIndexChanged.connect(self._form_changed)
        filing_label = QLabel(self.tr("备案(&L)："), box)
        filing_label.setBuddy(self.filing)
        form.addRow(filing_label, self.filing)

        flags = QHBoxLayout()
        self.emergency = QCheckBox(self.tr("急诊入院(&J)"), box)
        self.emergency.setObjectName("emergency")
        self.emergency.toggled.connect(self._form_changed)
        flags.addWidget(self.emergency)
        self.third_party = QCheckBox(self.tr("第三方责任（如交通事故）(&3)"), box)
        self.third_party.setObjectName("thirdParty")
        self.third_party.toggled.connect(self._form_changed)
        flags.addWidget(self.third_party)
        flags.addStretch(1)
        form.addRow("", flags)

        layout.addWidget(QLabel(self.tr("入院诊断（ICD-10 编码和名称；按工伤认定的伤情标记工伤 / 非工伤）："), box))
        self.diagnoses = QTableWidget(0, 3, box)
        self.diagnoses.setObjectName("diagnoses")
        self.diagnoses.setHorizontalHeaderLabels([self.tr("诊断编码"), self.tr("诊断名称"), self.tr("工伤 / 非工伤")])
        self.diagnoses.verticalHeader().setVisible(False)
        header = self.diagnoses.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.diagnoses.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # As tall as its rows (three or four diagnoses as a rule), not Qt's default 192 pixels: the
        # verdict, its next steps and 登记结果 below must stay on a 1366×768 screen (issue 20 §5).
        self.diagnoses.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        self.diagnoses.setMinimumHeight(120)
        self.diagnoses.setMaximumHeight(220)
        self.diagnoses.itemChanged.connect(self._diagnosis_edited)
        layout.addWidget(self.diagnoses)
        buttons = QHBoxLayout()
        self.add_diagnosis_button = QPushButton(self.tr("增加诊断(&I)"), box)
        self.add_diagnosis_button.setObjectName("addDiagnosis")
        self.add_diagnosis_button.clicked.connect(lambda: self.add_diagnosis("", ""))
        buttons.addWidget(self.add_diagnosis_button)
        self.remove_diagnosis_button = QPushButton(self.tr("删除所选诊断(&M)"), box)
        self.remove_diagnosis_button.setObjectName("removeDiagnosis")
        self.remove_diagnosis_button.clicked.connect(self._remove_diagnosis)
        buttons.addWidget(self.remove_diagnosis_button)
        buttons.addStretch(1)
        # Beside 登记, where the eye is after registering (and within 768 pixels).
        self.next_button = QPushButton(self.tr("下一位(&X)（F12）"), box)
        self.next_button.setObjectName("nextPatient")
        self.next_button.setToolTip(self.tr("清除当前患者，接待下一位：读卡或扫码"))
        self.next_button.clicked.connect(self.next_patient_requested)
        buttons.addWidget(self.next_button)
        self.register_button = QPushButton(self.tr("登记(&R)"), box)
        self.register_button.setObjectName("registerButton")
        self.register_button.setDefault(True)
        self.register_button.clicked.connect(self.register)
        buttons.addWidget(self.register_button)
        layout.addLayout(buttons)
        self.form_error = ErrorLabel(box, "admissionError")
        layout.addWidget(self.form_error)
        return box

    def _build_notice(self, parent: QWidget) -> QGroupBox:
        """The notice as the centre gave it: its devices, the insured place's limits, what is wrong."""
        box = QGroupBox(self.tr("配置费用核付通知单"), parent)
        box.setObjectName("noticeBox")
        self.notice_box = box
        layout = QVBoxLayout(box)
        self.notice_items = QLabel(self.tr("填写核付通知单号后查询"), box)
        self.notice_items.setObjectName("noticeItems")
        self.notice_items.setWordWrap(True)
        self.notice_items.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.notice_items)
        box.hide()
        return box

    def _build_result(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox(self.tr("登记结果"), parent)
        layout = QVBoxLayout(box)
        self.registration_label = QLabel(self.tr("尚未登记"), box)
        self.registration_label.setObjectName("registrationNo")
        self.registration_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.registration_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.registration_label.setFont(font)
        self.registration_label.setWordWrap(True)
        layout.addWidget(self.registration_label)
        self.offline_label = notice("", box, object_name="offlineNotice")
        self.offline_label.hide()
        layout.addWidget(self.offline_label)
        return box

    def _build_registration(self, parent: QWidget) -> QGroupBox:
        """更正 / 撤销 the current patient's registration (issue 20 §3): a reviewer's act, with a reason.
        In the left column, which has the room at 1366×768; why it cannot be done is said here too."""
        box = QGroupBox(self.tr("当前住院的入院登记"), parent)
        layout = QVBoxLayout(box)
        self.registration_stay_label = QLabel("", box)
        self.registration_stay_label.setObjectName("registrationStay")
        self.registration_stay_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.registration_stay_label)
        row = QHBoxLayout()
        row.addStretch(1)
        self.correct_button = QPushButton(self.tr("更正登记(&O)…"), box)
        self.correct_button.setObjectName("correctRegistrationButton")
        self.correct_button.setToolTip(self.tr("入院日期或入院诊断录错：经审核员同意，向结算中心更正"))
        self.correct_button.clicked.connect(lambda: self.change_registration(cancel=False))
        row.addWidget(self.correct_button)
        self.cancel_registration_button = QPushButton(self.tr("撤销登记(&Z)…"), box)
        self.cancel_registration_button.setObjectName("cancelRegistrationButton")
        self.cancel_registration_button.setToolTip(self.tr("登记错人或不应登记：经审核员同意，向结算中心撤销"))
        self.cancel_registration_button.clicked.connect(lambda: self.change_registration(cancel=True))
        row.addWidget(self.cancel_registration_button)
        layout.addLayout(row)
        self.correction_status = QLabel("", box)  # what was done (or is being done), in the clerk's words
        self.correction_status.setObjectName("correctionStatus")
        self.correction_status.setWordWrap(True)
        self.correction_status.setStyleSheet("font-weight: bold;")
        self.correction_status.hide()
        layout.addWidget(self.correction_status)
        self.correction_message = ErrorLabel(box, "correctionMessage")
        layout.addWidget(self.correction_message)
        self.registration: RegistrationView | None = None  # the current patient's open stay's registration
        self.last_dialog: QDialog | None = None
        self._changing = False
        self._said_for: str | None = None  # whose registration the status and message speak of
        self._show_registration(None)
        return box

    # --- identification -----------------------------------------------------------------------

    def set_card_identity(self, identity: CardIdentity | None) -> None:
        """The 读卡 page read (or cleared) a card: the holder becomes the worker being admitted.

        A card pulled out after the lookup keeps the person (the clerk hands the card back); another
        holder's card forgets the previous person at once, before the centre answers."""
        self.card_identity = identity
        if identity is None:
            self.card_label.setText(self.tr("读卡页尚未读卡：请插入社保卡"))
            self.use_card_button.setEnabled(False)
            return
        how = self.tr("电子社保卡") if identity.source == ECARD_SOURCE else self.tr("社保卡")
        self.card_label.setText(self.tr("读卡页当前持卡人：{name}（{how}，{masked}）").format(
            name=identity.name, how=how, masked=mask_id_number(identity.social_security_number)))
        self.use_card_button.setEnabled(not self._busy)
        self.look_up_card()

    def look_up_card(self) -> None:
        identity = self.card_identity
        if identity is None:
            return
        from app.workflow.admission import Identification

        if self.person is not None and self.person.social_security_number != identity.social_security_number \
                and not self._busy:
            self.current_patient.clear()  # another holder: the previous person goes at once
            self._forget_person()
        if identity.source == ECARD_SOURCE and not identity.card_number:
            # The e-card's token was single use and is gone, and the centre gave no card number.
            self.lookup_message.show_error(self.tr("请在本页的“电子社保卡”栏再扫描一次二维码（二维码一次有效）。"))
            self.ecard_field.setFocus()
            return
        # The card number read from the chip — or, for an e-card already resolved on the 读卡 page
        # (its token was single use), the card number the centre returned for that holder.
        self._look_up(Identification("card", identity.card_number))

    def _ecard_scanned(self) -> None:
        token = self.ecard_field.text().strip()
        self.ecard_field.clear()  # single use: the QR code changes about every minute
        if not token:
            return
        from app.workflow.admission import Identification

        self._look_up(Identification("ecard", token))

    def _typed_lookup(self) -> None:
        number = self.typed_field.text().strip().upper()
        reason = self.typed_reason.text().strip()
        if not number:
            self.lookup_message.show_error(self.tr("请输入社会保障号码。"))
            self.typed_field.setFocus()
            return
        if not reason:
            self.lookup_message.show_error(self.tr("手工输入社会保障号码必须填写原因（将记入审计日志）。"))
            self.typed_reason.setFocus()
            return
        from app.workflow.admission import Identification

        self._look_up(Identification("typed", number, reason))

    def _look_up(self, identification: Identification) -> None:
        if self._busy:
            # Registering the form's person: this lookup follows once the registration is done.
            self._deferred_lookup = identification
            return
        known = self._known_number(identification)
        if self.person is not None and known != self.person.social_security_number:
            # Someone else, or not known until the centre answers: the previous person goes now,
            # so nothing of theirs can be registered meanwhile.
            self.current_patient.clear()
            self._forget_person()
        self._lookup_generation += 1
        generation = self._lookup_generation
        self._looking_up = True
        self._update_register_button()
        self.lookup_message.clear_error()
        self.person_label.setText(self.tr("正在向结算中心查询…"))
        ctx, operator = self._ctx, self._operator

        def work() -> Person:
            from app.workflow.admission import look_up
            from app.composition import open_workflow_centre

            client = open_workflow_centre(ctx, operator)
            try:
                return look_up(client, identification, operator)
            finally:
                client.close()

        Operation(self, work, executor=Executor.BACKGROUND).success(
            lambda person: self._person_found(person, identification, generation)
        ).failure(lambda error: self._lookup_failed(error, generation)).run()

    def _known_number(self, identification: Identification) -> str | None:
        """The social security number a lookup is for, when known before the centre answers."""
        if identification.kind == "typed":
            return identification.value
        identity = self.card_identity
        if identification.kind == "card" and identity is not None and identity.card_number == identification.value:
            return identity.social_security_number
        return None  # an e-card token: whose it is, only the centre knows

    def _lookup_failed(self, error: BaseException, generation: int) -> None:
        if generation != self._lookup_generation:
            return  # a later lookup has been started: its answer counts
        self._looking_up = False
        # Nobody identified: nothing of the previous person may stay on the page (issue 20).
        self.current_patient.clear()
        self._forget_person()
        self.person_label.setText(self.tr("未查到"))
        text = error_text(error)
        if is_centre_unreachable(error):
            text = self.tr("结算中心无法连接，查不到工伤认定和备案：{detail}").format(detail=text)
        self.lookup_message.show_error(text)
        self._update_register_button()

    def _person_found(self, person: Person, identification: Identification, generation: int) -> None:
        if generation != self._lookup_generation:
            return
        self._looking_up = False
        previous = self.person
        if previous is None or previous.social_security_number != person.social_security_number \
                or self.outcome is not None:
            self._forget_person()  # another worker, or the last one is registered: start a fresh form
        self.person = person
        self.identification = identification
        self._found_generation = generation
        self.person_changed.emit(person)
        self.current_patient.set_worker(person.social_security_number, person.name)
        self.outcome = None
        self.registration_label.setText(self.tr("尚未登记"))
        self.offline_label.hide()
        self.form_error.clear_error()
        self._show_person(person)
        self._set_form_enabled(True)
        self.admission_no.setFocus()
        self._form_changed()

    def _patient_changed(self, patient: Patient | None) -> None:
        """The window's current patient changed (another page, 下一位): a different person is forgotten."""
        if patient is None or patient.social_security_number != self._said_for:
            # Another person (or nobody): what was said about the last one's registration goes.
            self._said_for = None
            self._say("")
            self.correction_message.clear_error()
        self._load_registration(patient.stay_id if patient is not None else None)
        person = self.person
        if person is None or (patient is not None and patient.social_security_number == person.social_security_number):
            return
        if self._busy:
            self._forget_after_register = True  # the registration under way finishes for the form's person
            return
        self._forget_person()
        self.lookup_message.clear_error()

    @property
    def busy(self) -> bool:
        """Registering: the form's person is being registered with the centre."""
        return self._busy

    def clear_for_next(self) -> None:
        """下一位: nobody on the page; an answer still on its way for the last scan is dropped."""
        if self._busy:
            return
        self._lookup_generation += 1
        self._looking_up = False
        self._forget_person()
        self.lookup_message.clear_error()
        for edit in (self.ecard_field, self.typed_field, self.typed_reason):
            edit.clear()

    def _forget_person(self) -> None:
        """No one on the page: the person, their recognitions and filings, the form, the verdict."""
        self.person = None
        self.person_changed.emit(None)
        self.identification = None
        self._found_generation = -1
        self._preview_timer.stop()
        self._preview_generation += 1  # a preview still on its way must not show a verdict
        self.person_label.setText(self.tr("尚未查询"))
        self.recognitions_label.setText("")
        self.filings_label.setText("")
        for combo in (self.recognition, self.filing):
            combo.blockSignals(True)
            combo.clear()
            combo.blockSignals(False)
        self.form_error.clear_error()
        self.new_admission()

    def _show_person(self, person: Person) -> None:
        place = person.insured_place
        status = person.insurance_status or (self.tr("正常参保") if person.insurance_active else self.tr("未参保"))
        self.person_label.setText(self.tr(
            "{name}　{sex}　社会保障号码 {masked}\n参保地：{place}　参保状态：{status}　人员类别：{category}"
        ).format(name=person.name, sex=person.sex, masked=mask_id_number(person.social_security_number),
                 place=place_name(getattr(place, "province", ""), getattr(place, "city", "")), status=status,
                 category=person.category))
        recognitions = []
        self.recognition.blockSignals(True)
        self.recognition.clear()
        for recognition in person.recognitions:
            diagnoses = "、".join(f"{d.code} {d.name}" for d in recognition.diagnoses) or self.tr("（无）")
            recognitions.append(self.tr("{no}（{kind}，受伤日期 {date}）：{diagnoses}").format(
                no=recognition.decision_no, kind=recognition.kind, date=recognition.injury_date, diagnoses=diagnoses))
            self.recognition.addItem(self.tr("{no}（{kind}）").format(no=recognition.decision_no, kind=recognition.kind),
                                     recognition.decision_no)
        if not person.recognitions:
            self.recognition.addItem(self.tr("（中心无工伤认定记录）"), None)
        self.recognition.blockSignals(False)
        self.recognitions_label.setText("\n".join(recognitions) or self.tr("无工伤认定记录"))
        filings = []
        self.filing.blockSignals(True)
        self.filing.clear()
        self.filing.addItem(self.tr("按规则自动选择"), None)
        for filing in person.filings:
            destination = filing.destination
            valid_to = filing.valid_to.isoformat() if filing.valid_to else self.tr("条件消失时")
            text = self.tr("{id}：{category}，就医地 {city}，{care}，有效期 {start} 至 {end}，{status}").format(
                id=filing.id, category=self.tr(_FILING_CATEGORIES.get(filing.category, filing.category)),
                city=destination.city, care="、".join(self.tr(_CARE_NAMES.get(c, c)) for c in filing.care),
                start=filing.valid_from, end=valid_to, status=self.tr(_FILING_STATUS.get(filing.status, filing.status)))
            filings.append(text)
            self.filing.addItem(text, filing.id)
        self.filing.blockSignals(False)
        self.filings_label.setText("\n".join(filings) or self.tr("无备案"))

    # --- the form -------------------------------------------------------------------------------

    def add_diagnosis(self, code: str, name: str) -> None:
        row = self.diagnoses.rowCount()
        self.diagnoses.blockSignals(True)
        self.diagnoses.insertRow(row)
        self.diagnoses.setItem(row, 0, QTableWidgetItem(code))
        self.diagnoses.setItem(row, 1, QTableWidgetItem(name))
        verdict = QTableWidgetItem("")
        verdict.setFlags(verdict.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.diagnoses.setItem(row, 2, verdict)
        self.diagnoses.blockSignals(False)
        first = self.diagnoses.item(row, 0)
        if not code and first is not None:
            self.diagnoses.setCurrentCell(row, 0)
            self.diagnoses.setFocus()
            self.diagnoses.editItem(first)
        self._form_changed()

    def _remove_diagnosis(self) -> None:
        rows = sorted({index.row() for index in self.diagnoses.selectedIndexes()}, reverse=True)
        if not rows and self.diagnoses.currentRow() >= 0:
            rows = [self.diagnoses.currentRow()]
        for row in rows:
            self.diagnoses.removeRow(row)
        self._form_changed()

    def _diagnosis_edited(self, item: QTableWidgetItem) -> None:
        if item.column() != 2:
            self._form_changed()

    def diagnosis_rows(self) -> tuple[tuple[str, str], ...]:
        rows = []
        for row in range(self.diagnoses.rowCount()):
            code_item, name_item = self.diagnoses.item(row, 0), self.diagnoses.item(row, 1)
            code = code_item.text().strip().upper() if code_item is not None else ""
            name = name_item.text().strip() if name_item is not None else ""
            if code or name:
                rows.append((code, name))
        return tuple(rows)

    def _recognition_changed(self) -> None:
        self._form_changed()

    def _mark_diagnoses(self) -> None:
        """Each admitting diagnosis against the chosen recognition's diagnoses (工伤 / 非工伤)."""
        person = self.person
        if person is None:
            return
        from app.workflow.admission import mark_diagnoses

        complete = [(row, code, name) for row, (code, name) in enumerate(self._table_rows()) if code]
        marked = mark_diagnoses(person, self.recognition.currentData(), [(code, name) for _, code, name in complete])
        self.diagnoses.blockSignals(True)
        for row in range(self.diagnoses.rowCount()):
            item = self.diagnoses.item(row, 2)
            if item is not None:
                item.setText("")
        for (row, _, _), mark in zip(complete, marked, strict=False):
            item = self.diagnoses.item(row, 2)
            if item is None:
                continue
            if mark.injury:
                item.setText(self.tr("工伤（认定：{code}）").format(code=mark.matched_recognition_code or mark.code))
                item.setForeground(Qt.GlobalColor.darkGreen)
            else:
                item.setText(self.tr("非工伤"))
                item.setForeground(Qt.GlobalColor.darkRed)
        self.diagnoses.blockSignals(False)

    def _table_rows(self) -> list[tuple[str, str]]:
        rows = []
        for row in range(self.diagnoses.rowCount()):
            code_item, name_item = self.diagnoses.item(row, 0), self.diagnoses.item(row, 1)
            rows.append((code_item.text().strip().upper() if code_item is not None else "",
                         name_item.text().strip() if name_item is not None else ""))
        return rows

    def build_form(self) -> AdmissionForm:
        from app.workflow.admission import AdmissionForm

        return AdmissionForm(
            admission_no=self.admission_no.text().strip(),
            dept=self.dept.text().strip(),
            bed=self.bed.text().strip() or None,
            admitted_on=to_date(self.admitted_on.date()),
            care=str(self.care.currentData()),
            diagnoses=self.diagnosis_rows(),
            emergency=self.emergency.isChecked(),
            third_party_liability=self.third_party.isChecked(),
            recognition_no=self.recognition.currentData(),
            filing_id=self.filing.currentData(),
            notice_no=self.notice_no.text().strip() or None if self._is_device() else None,
        )

    # --- 辅助器具配置: the 配置费用核付通知单 -----------------------------------------------------------

    def _is_device(self) -> bool:
        return self.care.currentData() == "device"

    def _care_changed(self, *_: object) -> None:
        device = self._is_device()
        # Hidden rows take no space: the form, the verdict and 登记 stay on a 1366×768 screen.
        self._notice_form.setRowVisible(self._notice_row, device)
        self._notice_form.setRowVisible(self._bed_row, not device)
        self.notice_box.setVisible(device)

    def _notice_edited(self, *_: object) -> None:
        """Another number: the last lookup's notice is not this one's."""
        self._notice_generation += 1
        self.notice_check = None
        self.notice_items.setText(self.tr("填写核付通知单号后查询"))
        self.notice_items.setStyleSheet("")
        self._form_changed()

    def _current_notice_check(self) -> NoticeCheck | None:
        """The notice's check for the preview: the lookup's when it is for the number in the field; else
        a reason saying it is not checked yet (a fitting is not judged without its notice, 001 §34)."""
        from app.workflow.device_fitting import NoticeCheck, check_source
        from app.rules.verdict import Reason

        if not self._is_device():
            return None
        number = self.notice_no.text().strip().upper()
        if self.notice_check is not None and self.notice_check.notice_no == number:
            return self.notice_check
        source = check_source(self.person.profile if self.person is not None else "")
        fact = self.tr("尚未核对配置费用核付通知单。")
        step = self.tr("请填写通知单号后按“查询通知单”向结算中心核对（{source}）").format(source=source)
        return NoticeCheck(number, None, (Reason("NOTICE_NOT_CHECKED", True, fact + step, source, step),))

    def look_up_notice(self) -> None:
        """Look the notice up at the centre (off the GUI thread) and show its devices and limits."""
        person = self.person
        if person is None or not self._is_device() or self._busy:
            return
        if not self.notice_no.text().strip():
            self.notice_items.setText(self.tr("请填写核付通知单号。"))
            self.notice_items.setStyleSheet(f"color: {ERROR_COLOUR};")
            return
        form = self.build_form()
        self._notice_generation += 1
        generation = self._notice_generation
        self.notice_items.setStyleSheet("")
        self.notice_items.setText(self.tr("正在向结算中心核对核付通知单…"))
        ctx, operator = self._ctx, self._operator

        def work() -> NoticeCheck:
            from app.workflow.admission import check_device_notice
            from app.composition import open_workflow_centre

            client = open_workflow_centre(ctx, operator)
            try:
                return check_device_notice(client, person, form)
            finally:
                client.close()

        Operation(self, work, executor=Executor.BACKGROUND).success(
            lambda check: self._notice_found(check, generation)).failure(
            lambda error: self._notice_failed(error, generation)).run()

    def _notice_found(self, check: NoticeCheck, generation: int) -> None:
        if generation != self._notice_generation:
            return  # the number changed meanwhile
        self.notice_check = check
        self.notice_items.setText(self.notice_text(check))
        self.notice_items.setStyleSheet("" if check.allowed else f"color: {ERROR_COLOUR};")
        self._preview_timer.stop()
        self.preview()

    def _notice_failed(self, error: BaseException, generation: int) -> None:
        if generation != self._notice_generation:
            return
        self.notice_check = None
        self.notice_items.setText(self.tr("无法核对核付通知单：{reason}").format(reason=error_text(error)))
        self.notice_items.setStyleSheet(f"color: {ERROR_COLOUR};")

    def notice_text(self, check: NoticeCheck) -> str:
        notice = check.notice
        if notice is None:
            return "；".join(r.message for r in check.reasons)
        status = {"valid": self.tr("未使用"), "used": self.tr("已使用"), "cancelled": self.tr("已作废")}
        lines = [self.tr("{no}（{place}，{issued} 出具，至 {until}，{status}）").format(
            no=notice.notice_no, place=place_name(notice.insured_place.province, notice.insured_place.city),
            issued=notice.issued.isoformat(), until=notice.valid_until.isoformat(),
            status=status.get(notice.status, notice.status))]
        for item in notice.items:
            lines.append(self.tr("{name}（{code}）× {quantity}：最高支付限额 {max_pay} 元/件，最低使用年限 {years} 年").format(
                name=item.name, code=item.code, quantity=format(item.quantity.normalize(), "f"),
                max_pay=f"{item.max_pay:.2f}", years=item.min_years))
        if check.reasons:  # in full in the verdict (入院备案核验), kept short here: the page fits 768 px
            lines.append(self.tr("不能按此通知单配置：原因和下一步见右侧“入院备案核验”。"))
        return "\n".join(lines)

    def missing_fields(self) -> list[str]:
        missing = []
        if self.person is None:
            missing.append(self.tr("先识别工伤职工（读卡、扫码或输入社会保障号码）"))
        if not self.admission_no.text().strip():
            missing.append(self.tr("住院号"))
        if not self.dept.text().strip():
            missing.append(self.tr("科别"))
        rows = self.diagnosis_rows()
        if not rows:
            missing.append(self.tr("至少一条入院诊断"))
        elif any(not code or not name for code, name in rows):
            missing.append(self.tr("每条入院诊断的编码和名称"))
        return missing

    def _form_changed(self, *_: object) -> None:
        if self.person is None:
            return
        if self.outcome is not None and self.outcome.stay_id is None:
            self.outcome = None  # refused, and the form changes: judge it afresh (e.g. after filing online)
        self._mark_diagnoses()
        self.form_error.clear_error()
        self._preview_timer.start()

    def _enter_pressed(self) -> None:
        """Enter in a field: go on to what is still missing, or register when nothing is."""
        missing = self.missing_fields()
        if not missing:
            self.register()
            return
        for edit in (self.admission_no, self.dept):
            if not edit.text().strip():
                edit.setFocus()
                return
        if not self.diagnosis_rows():
            self.add_diagnosis("", "")

    def preview(self) -> None:
        """Judge the filing as the form stands (not stored): the clerk sees a refusal before 登记."""
        person = self.person
        if person is None or self._busy:
            return
        form = self.build_form()
        self._preview_generation += 1
        generation = self._preview_generation
        ctx = self._ctx

        notice = self._current_notice_check()

        def work() -> CheckResult:
            from app.workflow.admission import preview_admission_check

            return preview_admission_check(ctx, person, form, notice)

        Operation(self, work).success(lambda check: self._previewed(check, generation)).failure(
            lambda error: self._preview_failed(error, generation)).run()

    def _previewed(self, check: CheckResult, generation: int) -> None:
        if generation == self._preview_generation and self.outcome is None:
            self.verdict.show_check(check, preview=True)

    def _preview_failed(self, error: BaseException, generation: int) -> None:
        if generation == self._preview_generation and self.outcome is None:
            self.verdict.show_message(self.tr("无法预先核验：{reason}").format(reason=error_text(error)), error=True)

    # --- registering -----------------------------------------------------------------------------

    def register(self) -> None:
        if self._busy:
            return
        if self._looking_up:
            self.form_error.show_error(self.tr("正在向结算中心查询患者，查到后才能登记。"))
            return
        missing = self.missing_fields()
        if missing:
            self.form_error.show_error(self.tr("还不能登记，请填写：{fields}。").format(fields="、".join(missing)))
            return
        if self.outcome is not None and self.outcome.stay_id is not None:
            self.form_error.show_error(self.tr("该次住院已登记（就医登记号见下方）。为其他人登记请先读卡或扫码。"))
            return
        person, identification = self.person, self.identification
        assert person is not None
        # The form's person must be the one the last lookup found, and still the window's patient.
        if identification is None or self._found_generation != self._lookup_generation \
                or not self.current_patient.is_worker(person.social_security_number):
            log.warning("登记被拒：表单上的患者不是最近一次查询到的当前患者")
            self.form_error.show_error(self.tr("当前患者已变更：请重新读卡或扫码查询后再登记。"))
            return
        form = self.build_form()
        ctx, operator = self._ctx, self._operator
        self._preview_timer.stop()
        self._preview_generation += 1  # a preview still on its way must not overwrite the verdict
        self._set_busy(True)
        self.registration_label.setText(self.tr("正在核验备案并向结算中心登记…"))

        def work() -> AdmissionOutcome:
            from app.workflow.admission import admit
            from app.composition import open_workflow_centre

            client = open_workflow_centre(ctx, operator)
            try:
                return admit(ctx, client, person, form, operator, identification)
            finally:
                client.close()

        Operation(self, work, executor=Executor.BACKGROUND).success(self._registered).failure(
            self._register_failed).run()

    def _registered(self, outcome: AdmissionOutcome) -> None:
        self._set_busy(False)
        if self._forget_after_register:
            # The window moved on to nobody or someone else meanwhile: the stay exists (the lists
            # show it), but this page shows nobody's outcome.
            self._forget_after_register = False
            self._forget_person()
        else:
            self._show_outcome(outcome)
        if outcome.stay_id is not None:
            self.admitted.emit(outcome.stay_id)
        self._run_deferred_lookup()

    def _show_outcome(self, outcome: AdmissionOutcome) -> None:
        self.outcome = outcome
        self.verdict.show_check(outcome.check)
        if outcome.stay_id is None:
            self.registration_label.setText(self.tr("未登记：备案核验不通过（原因见右侧）。"))
            self.registration_label.setStyleSheet(f"color: {ERROR_COLOUR};")
            self.offline_label.hide()
            return
        self.registration_label.setStyleSheet("")
        if outcome.offline:
            self.registration_label.setText(self.tr("已脱机登记（住院登记编号 {id}），就医登记号待联网后取得").format(
                id=outcome.stay_id))
            self.offline_label.setText(self.tr(
                "结算中心无法连接：本次入院已脱机登记。联网恢复后，程序自动向中心补传登记并重新核验备案。"))
            self.offline_label.show()
        else:
            self.registration_label.setText(self.tr("已登记　就医登记号：{no}").format(no=outcome.registration_no))
            self.offline_label.hide()
        self._set_form_enabled(False)
        self.current_patient.refresh_stay()  # the new stay is the worker's open stay on every page
        # Ready for the next scan; a stray Enter here does nothing (an empty code is ignored) and the
        # 就医登记号 stays on screen until 下一位 or the next person.
        self.ecard_field.setFocus()

    def _run_deferred_lookup(self) -> None:
        """A card read or a code scanned while registering is looked up now."""
        deferred, self._deferred_lookup = self._deferred_lookup, None
        if deferred is not None:
            self._look_up(deferred)

    def _register_failed(self, error: BaseException) -> None:
        self._set_busy(False)
        if self._forget_after_register:
            self._forget_after_register = False
            self._forget_person()
        else:
            # The centre registered it (or may have) but this counter could not record the answer:
            # not 未登记; the message says what the counter does next (issue 21 §8).
            self.registration_label.setText(self.tr("登记结果未能保存到本机（见下方说明）") if sent_but_unrecorded(error)
                                            else self.tr("未登记"))
            text = error_text(error)
            if is_centre_unreachable(error):
                text = self.tr("结算中心无法连接：{detail}").format(detail=text)
            self.form_error.show_error(text)
        self._run_deferred_lookup()

    # --- 更正 / 撤销入院登记 ------------------------------------------------------------------------------

    def _load_registration(self, stay_id: int | None) -> None:
        """The current patient's open stay's registration, and whether it can be corrected now."""
        if stay_id is None:
            self._show_registration(None)
            return

        def work(session: Session) -> RegistrationView:
            from app.workflow.admission_correction import registration_view

            return registration_view(session, stay_id)

        patient = self.current_patient.patient
        Operation.transaction(self, self._ctx, work).success(
            lambda view: self._registration_loaded(view, patient)).failure(
            lambda error: self._show_registration(None)).run()

    def _registration_loaded(self, view: RegistrationView, patient: Patient | None) -> None:
        if self.current_patient.patient is patient:  # still the same patient and stay
            self._show_registration(view)
            self._sync_form(view)

    def _sync_form(self, view: RegistrationView) -> None:
        """The registered form (read-only after 登记) shows the registration as it is now, corrected or not."""
        if self.outcome is None or self.outcome.stay_id != view.stay_id or self.admission_no.isEnabled():
            return
        self.admitted_on.blockSignals(True)
        self.admitted_on.setDate(to_qdate(view.admitted_on))
        self.admitted_on.blockSignals(False)
        if self.diagnosis_rows() != view.diagnoses:
            self.diagnoses.setRowCount(0)
            for code, name in view.diagnoses:
                self.add_diagnosis(code, name)
        self._mark_diagnoses()
        self._preview_timer.stop()  # nothing to preview: the form is the registration's

    def _show_registration(self, view: RegistrationView | None) -> None:
        self.registration = view
        if view is None:
            self.registration_stay_label.setText(self.tr(
                "当前患者没有未结算的住院登记。\n已结算的住院须先由审核员撤销结算，才能更正或撤销入院登记。"))
        else:
            self.registration_stay_label.setText(self.tr(
                "{name}　住院号 {no}　入院日期 {date}\n就医登记号 {reg}").format(
                name=view.name, no=view.admission_no, date=view.admitted_on.isoformat(),
                reg=view.registration_no or self.tr("（待补传）")))
        blocked = view is None or view.blocker is not None
        for button in (self.correct_button, self.cancel_registration_button):
            button.setEnabled(not blocked and not self._changing)
            # Nothing to correct: no button row (its height is what a device fitting's notice needs at 768 px).
            button.setVisible(view is not None)
        if view is not None and view.blocker:
            self.correction_message.show_error(view.blocker)  # why not, and what to do: on the page

    def change_registration(self, *, cancel: bool) -> None:
        """更正登记 / 撤销登记: what and why (a dialog), a reviewer's approval, then the centre."""
        from ui.pages.admission_dialogs import RegistrationChangeDialog

        view = self.registration
        if view is None or view.blocker or self._changing:
            return
        reviewer_here = self._operator.can(Permission.CORRECT_REGISTRATION)
        dialog = RegistrationChangeDialog(view, cancel=cancel, next_is_authorisation=not reviewer_here, parent=self)
        dialog.accepted.connect(lambda: self._change_asked(dialog))
        self._open(dialog)

    def _open(self, dialog: QDialog) -> None:
        self.last_dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # not exec(): no nested event loop

    def _change_asked(self, dialog: RegistrationChangeDialog) -> None:
        from ui.reviewer_authorisation import ReviewerAuthorisationDialog

        cancel, reason = dialog.cancel, dialog.reason
        admitted_on, diagnoses, stay_id = dialog.admitted_on, dialog.diagnoses, dialog.view.stay_id
        if self._operator.can(Permission.CORRECT_REGISTRATION):
            self._apply_change(stay_id, cancel, reason, admitted_on, diagnoses, self._operator)
            return
        what = self.tr("撤销入院登记") if cancel else self.tr("更正入院登记")
        authorisation = ReviewerAuthorisationDialog(self._ctx, (), self._operator, self,
                                                    Permission.CORRECT_REGISTRATION,
                                                    summary=dialog.change_summary(), what=what)

        def approved() -> None:
            reviewer = authorisation.reviewer
            assert reviewer is not None
            self._apply_change(stay_id, cancel, reason, admitted_on, diagnoses, reviewer)

        authorisation.accepted.connect(approved)
        self._open(authorisation)

    def _apply_change(self, stay_id: int, cancel: bool, reason: str, admitted_on: dt.date | None,
                      diagnoses: tuple[tuple[str, str], ...] | None, reviewer: OperatorInfo) -> None:
        ctx, cashier = self._ctx, self._operator
        self._changing = True
        self._show_registration(self.registration)
        self.correction_message.clear_error()
        self._say(self.tr("正在向结算中心撤销入院登记…") if cancel else self.tr("正在向结算中心更正入院登记…"))

        def work() -> object:
            from app.workflow.admission_correction import cancel_registration, correct_registration
            from app.composition import open_workflow_centre

            client = open_workflow_centre(ctx, reviewer)
            try:
                if cancel:
                    return cancel_registration(ctx, client, stay_id, reason, reviewer, cashier=cashier)
                return correct_registration(ctx, client, stay_id, reason, reviewer, admitted_on=admitted_on,
                                            diagnoses=diagnoses, cashier=cashier)
            finally:
                client.close()

        Operation(self, work, executor=Executor.BACKGROUND).success(
            lambda result: self._changed(result, cancel, reviewer)).failure(self._change_failed).run()

    def _say(self, text: str) -> None:
        patient = self.current_patient.patient
        self._said_for = patient.social_security_number if patient is not None and text else None
        self.correction_status.setText(text)
        self.correction_status.setVisible(bool(text))

    def _changed(self, result: object, cancel: bool, reviewer: OperatorInfo) -> None:
        from app.workflow.admission_correction import CorrectionOutcome

        self._changing = False
        self.registration_label.setStyleSheet("")
        if cancel:
            self.registration_label.setText(self.tr("入院登记已撤销"))
            self._say(self.tr("入院登记已撤销（审核员 {name}）。登记错人的：读取正确患者的社保卡，"
                              "用同一住院号重新登记。").format(name=reviewer.display_name))
        elif isinstance(result, CorrectionOutcome) and result.offline:
            self.registration_label.setText(self.tr("已更正，就医登记号待联网后取得"))
            self._say(self.tr("原登记已撤销；更正后的登记已脱机保存，联网后自动补传并取得新的就医登记号"
                              "（审核员 {name}）。").format(name=reviewer.display_name))
        elif isinstance(result, CorrectionOutcome):
            self.registration_label.setText(self.tr("已登记　就医登记号：{no}").format(no=result.registration_no))
            self._say(self.tr("已更正入院登记　新就医登记号：{new}（原 {old} 已撤销；审核员 {name}）").format(
                new=result.registration_no, old=result.old_registration_no, name=reviewer.display_name))
        self.current_patient.refresh_stay()  # every page shows the stay as it is now
        patient = self.current_patient.patient
        self._load_registration(patient.stay_id if patient is not None and not cancel else None)
        self.registration_changed.emit()

    def _change_failed(self, error: BaseException) -> None:
        self._changing = False
        # Done at the centre but not recorded here: not "未改变"; the message below says what follows.
        self._say(self.tr("已发往结算中心，本机未能保存结果（见下方说明）。") if sent_but_unrecorded(error)
                  else self.tr("入院登记未改变。"))
        self.correction_message.clear_error()
        text = error_text(error)
        if is_centre_unreachable(error):
            text = self.tr("结算中心无法连接：{detail}").format(detail=text)
        patient = self.current_patient.patient
        self._load_registration(patient.stay_id if patient is not None else None)
        self.correction_message.show_error(text)

    # --- state ----------------------------------------------------------------------------------------

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_register_button()
        self.use_card_button.setEnabled(not busy and self.card_identity is not None)

    def _update_register_button(self) -> None:
        """登记 only for a person just found, not while a lookup or a registration is under way."""
        self.register_button.setEnabled(
            self.person is not None and self.outcome is None and not self._busy and not self._looking_up
            and self.admission_no.isEnabled())

    def _set_form_enabled(self, enabled: bool) -> None:
        for widget in (self.admission_no, self.dept, self.bed, self.admitted_on, self.care, self.recognition,
                       self.filing, self.emergency, self.third_party, self.diagnoses, self.add_diagnosis_button,
                       self.remove_diagnosis_button, self.notice_no, self.notice_button):
            widget.setEnabled(enabled)
        self._update_register_button()

    def new_admission(self) -> None:
        """Clear the form for the next worker (the person stays until another is identified)."""
        self.outcome = None
        for edit in (self.admission_no, self.dept, self.bed):
            edit.blockSignals(True)  # no preview of an emptied form
            edit.clear()
            edit.blockSignals(False)
        # The previous worker's date and care type are not this one's.
        for widget in (self.admitted_on, self.care):
            widget.blockSignals(True)
        self.admitted_on.setDate(to_qdate(business_today()))
        self.care.setCurrentIndex(0)
        for widget in (self.admitted_on, self.care):
            widget.blockSignals(False)
        self._care_changed()
        self.notice_no.blockSignals(True)
        self.notice_no.clear()
        self.notice_no.blockSignals(False)
        self._notice_generation += 1
        self.notice_check = None
        self.notice_items.setText(self.tr("填写核付通知单号后查询"))
        self.diagnoses.setRowCount(0)
        self.emergency.setChecked(False)
        self.third_party.setChecked(False)
        self.verdict.clear()
        self.registration_label.setText(self.tr("尚未登记"))
        self.registration_label.setStyleSheet("")
        self.offline_label.hide()
        self._set_form_enabled(self.person is not None)
