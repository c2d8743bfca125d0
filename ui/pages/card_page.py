"""The 读卡 page: the worker identified by the 社保卡 in the reader, or by an e-card QR code.

Card inserted → the identity is read on the device thread and shown here; card removed →
cleared (with a warning if a settlement was in progress). The electronic card's scan
field takes what the scanner types (ending with Enter) as an opaque token and hands it to
the centre's person lookup. The window's current patient (`ui.current_patient`), the centre's
工伤认定 / 备案 and the filing verdict 入院登记 judged for that person (mirrored from that page) are
shown beside the holder; a card that cannot be read or an e-card the centre does not know clears them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.business_date import business_today
from app.card_identity import CardError, CardIdentity
from app.centre.ecard import ECARD_SOURCE
from app.masking import mask_id_number
from ui.card_reader import CardReaderService
from ui.operations import Executor, Operation, clerk_message
from ui.pages.workflow_widgets import VerdictPanel
from ui.qt import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ERROR_COLOUR, ErrorLabel, add_page_title, notice

if TYPE_CHECKING:
    from app.centre.gateway import Person
    from ui.current_patient import CurrentPatient, Patient

log = logging.getLogger(__name__)

PersonLookup = Callable[[str], CardIdentity]  # e-card token → the person (the centre resolves it)

FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "姓名"),
    ("sex", "性别"),
    ("social_security_number", "社会保障号码"),
    ("birth_date", "出生日期"),
    ("nation", "民族"),
    ("birthplace", "出生地"),
    ("card_number", "卡号"),
    ("card_id", "卡识别码"),
    ("region_code", "发卡地区"),
    ("spec_version", "规范版本"),
    ("issue_date", "发卡日期"),
    ("expiry_date", "卡有效期"),
)


class CardPage(QWidget):
    """Emits `identity_changed(CardIdentity | None)` on the GUI thread when the person changes."""

    identity_changed = Signal(object)

    def __init__(
        self,
        reader: CardReaderService,
        settlement_in_progress: Callable[[], bool] = lambda: False,
        person_lookup: PersonLookup | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        parent: QWidget | None = None,
        current_patient: CurrentPatient | None = None,
    ) -> None:
        super().__init__(parent)
        self.title = self.tr("读卡")
        self.reader = reader
        self.settlement_in_progress = settlement_in_progress
        self.person_lookup = person_lookup
        self._today = today
        self.identity: CardIdentity | None = None
        self.removal_warning: QMessageBox | None = None
        self.current_patient = current_patient

        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 24, 32, 24)
        layout.setSpacing(12)
        add_page_title(layout, self.title, self)
        about = QLabel(self.tr("读取社会保障卡或扫描电子社保卡二维码，识别工伤职工。插卡后自动读取。"), self)
        about.setObjectName("pageDescription")
        about.setWordWrap(True)
        layout.addWidget(about)

        row = QHBoxLayout()
        self.status_label = QLabel(self.tr("正在检测读卡器…"), self)
        self.status_label.setObjectName("cardStatus")
        row.addWidget(self.status_label, 1)
        self.read_button = QPushButton(self.tr("重新读卡(&R)"), self)
        self.read_button.setObjectName("readCardButton")
        self.read_button.clicked.connect(lambda: self.reader.read_now())
        row.addWidget(self.read_button)
        layout.addLayout(row)

        self.error_label = ErrorLabel(self, "cardError")
        layout.addWidget(self.error_label)
        self.expired_label = ErrorLabel(self, "cardExpired")
        layout.addWidget(self.expired_label)
        self.warning_label = ErrorLabel(self, "settlementWarning")
        layout.addWidget(self.warning_label)

        # Two columns, so everything fits 1366×768 without scrolling (issue 20 §5): what the card
        # says on the left, what the centre holds and the filing verdict on the right.
        columns = QHBoxLayout()
        left = QVBoxLayout()
        right = QVBoxLayout()
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        layout.addLayout(columns, 1)

        holder = QGroupBox(self.tr("持卡人信息"), self)
        form = QFormLayout(holder)
        self.values: dict[str, QLabel] = {}
        for key, label in FIELDS:
            value = QLabel("", holder)
            value.setObjectName(f"card_{key}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(self.tr(label) + "：", value)
            self.values[key] = value
        left.addWidget(holder)

        ecard = QGroupBox(self.tr("电子社保卡"), self)
        ecard_layout = QVBoxLayout(ecard)
        self.scan_field = QLineEdit(ecard)
        self.scan_field.setObjectName("ecardScan")
        self.scan_field.setPlaceholderText(self.tr("请用扫码枪扫描持卡人手机上的电子社保卡二维码"))
        self.scan_field.returnPressed.connect(self._scanned)
        ecard_layout.addWidget(self.scan_field)
        self.ecard_message = notice("", ecard, object_name="ecardMessage")
        self.ecard_message.hide()
        ecard_layout.addWidget(self.ecard_message)
        left.addWidget(ecard)
        left.addStretch(1)

        found = QGroupBox(self.tr("结算中心查询结果"), self)
        found_layout = QVBoxLayout(found)
        self.patient_label = QLabel("", found)
        self.patient_label.setObjectName("currentPatient")
        self.patient_label.setWordWrap(True)
        font = self.patient_label.font()
        font.setBold(True)
        self.patient_label.setFont(font)
        found_layout.addWidget(self.patient_label)
        # What the centre holds for that person: 工伤认定 and 备案 (issue 20 §11: not shown here).
        self.centre_label = QLabel("", found)
        self.centre_label.setObjectName("centrePersonStatus")
        self.centre_label.setWordWrap(True)
        self.centre_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        found_layout.addWidget(self.centre_label)
        right.addWidget(found)
        # The filing verdict 入院登记 judged for this person (the window mirrors it here): the clerk
        # sees a refusal and what to do next where the card went in (issue 20 §5).
        self.verdict = VerdictPanel(self.tr("入院备案核验（入院登记页）"), self, object_name="cardVerdict")
        right.addWidget(self.verdict)
        right.addStretch(1)
        self.show_centre_person(None)
        self._show_patient(current_patient.patient if current_patient is not None else None)
        if current_patient is not None:
            current_patient.changed.connect(self._show_patient)

        self._connect(reader)

    def _connect(self, reader: CardReaderService) -> None:
        reader.readers_changed.connect(self._readers_changed)
        reader.reading.connect(self._reading)
        reader.identity_read.connect(self._identity_read)
        reader.read_failed.connect(self._read_failed)
        reader.card_removed.connect(self._card_removed)

    def set_reader(self, reader: CardReaderService) -> None:
        """Follow another reader service (the reader settings changed)."""
        old, self.reader = self.reader, reader
        for signal, slot in (
            (old.readers_changed, self._readers_changed), (old.reading, self._reading),
            (old.identity_read, self._identity_read), (old.read_failed, self._read_failed),
            (old.card_removed, self._card_removed),
        ):
            signal.disconnect(slot)
        self.show_identity(None)
        self.status_label.setText(self.tr("正在检测读卡器…"))
        self._connect(reader)

    # --- reader events (GUI thread) -------------------------------------------------------

    def _readers_changed(self) -> None:
        if self.reader.unavailable is not None:
            self.status_label.setText(self.reader.unavailable.message)
        elif not self.reader.readers:
            self.status_label.setText(self.tr("未检测到读卡器"))
        elif self.identity is None and not any(state.card_present for state in self.reader.readers):
            if self.reader.kind == "vendor":
                # The vendor driver reports no insertions: the clerk starts each read.
                self.status_label.setText(self.tr("请插入社保卡，然后按“重新读卡”（厂商读卡驱动）"))
            else:
                self.status_label.setText(self.tr("请插入社保卡"))

    def _reading(self, reader: str) -> None:
        self.status_label.setText(self.tr("正在读卡…"))
        self.error_label.clear_error()

    def _identity_read(self, identity: CardIdentity) -> None:
        self.show_identity(identity)

    def _read_failed(self, error: CardError) -> None:
        self.show_identity(None)
        self._identification_failed()  # a card that cannot be read is nobody: the previous person goes
        self.status_label.setText(self.tr("读卡失败"))
        self.error_label.show_error(error.message)

    def _identification_failed(self) -> None:
        if self.current_patient is not None:
            self.current_patient.clear()

    def clear_person(self) -> None:
        """下一位: the holder shown goes (the card in the reader is read again with 重新读卡)."""
        self.show_identity(None)
        self.error_label.clear_error()
        self.warning_label.clear_error()
        self.ecard_message.hide()

    def show_centre_person(self, person: Person | None) -> None:
        """The centre's 工伤认定 and 备案 of the person just looked up (None: nobody, cleared)."""
        if person is None:
            self.centre_label.setText(self.tr("工伤认定 / 备案：读卡或扫码后由结算中心查询"))
            return
        today = business_today()
        recognitions = [self.tr("{no}（{kind}，受伤日期 {date}）").format(
            no=r.decision_no, kind=r.kind, date=r.injury_date) for r in person.recognitions]
        filings = []
        for filing in person.filings:
            if filing.status != "active":
                state = self.tr("已撤销或终止")
            elif filing.valid_to is not None and filing.valid_to < today:
                state = self.tr("已过期")
            elif filing.valid_from > today:
                state = self.tr("尚未生效")
            else:
                state = self.tr("有效")
            end = filing.valid_to.isoformat() if filing.valid_to else self.tr("条件消失时")
            filings.append(self.tr("{id}，就医地 {city}，{start} 至 {end}，{state}").format(
                id=filing.id, city=filing.destination.city, start=filing.valid_from.isoformat(), end=end,
                state=state))
        self.centre_label.setText(self.tr("工伤认定：{recognitions}\n备案：{filings}").format(
            recognitions="；".join(recognitions) or self.tr("结算中心无工伤认定记录"),
            filings="；".join(filings) or self.tr("无备案")))

    def _show_patient(self, patient: Patient | None) -> None:
        if patient is None:
            self.patient_label.setText(self.tr("当前患者：无（读卡或扫码，结算中心查到后各页面随之切换）"))
            return
        if not patient.stay_known:
            stay = self.tr("正在查找在院住院…")
        elif patient.stay is None:
            stay = self.tr("无未结算的住院（可办理入院登记）")
        else:
            stay = self.tr("住院号 {no}，{status}").format(no=patient.stay.admission_no, status=patient.stay.status_label)
        self.patient_label.setText(self.tr("当前患者：{name}（{masked}）　{stay}").format(
            name=patient.name, masked=patient.masked_id, stay=stay))

    def _card_removed(self, reader: str) -> None:
        had_person = self.identity is not None
        self.show_identity(None)
        self.error_label.clear_error()
        self.status_label.setText(self.tr("请插入社保卡"))
        if had_person and self.settlement_in_progress():
            text = self.tr("结算过程中社保卡被拔出：请重新插入同一持卡人的社保卡，核对身份后再继续结算。")
            self.warning_label.show_error(text)
            box = QMessageBox(QMessageBox.Icon.Warning, self.tr("社保卡被拔出"), text, QMessageBox.StandardButton.Ok, self)
            box.setObjectName("cardRemovedWarning")
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()  # not exec(): the window keeps running
            self.removal_warning = box

    # --- showing a person -----------------------------------------------------------------

    def show_identity(self, identity: CardIdentity | None) -> None:
        self.identity = identity
        self.expired_label.clear_error()
        if identity is None:
            for value in self.values.values():
                value.setText("")
        else:
            self.warning_label.clear_error()
            self.error_label.clear_error()
            document = identity.as_json()
            for key, value in self.values.items():
                shown = document.get(key)
                value.setText("" if shown is None else str(shown))
            if identity.nation is not None:
                self.values["nation"].setText(identity.nation_name or "")
            if identity.source == ECARD_SOURCE:
                self.values["spec_version"].setText(self.tr("电子社保卡（经结算中心查询）"))
            else:
                self.values["spec_version"].setText(
                    self.tr("{version}（第{generation}代）").format(
                        version=identity.spec_version, generation=identity.generation
                    )
                )
            self.status_label.setText(self.tr("已读卡：{name}").format(name=identity.name))
            if identity.is_expired(self._today()):
                self.expired_label.show_error(
                    self.tr("卡已过有效期（有效期至 {date}）：仍可识别身份，请提醒持卡人换卡。").format(
                        date=identity.expiry_date
                    )
                )
            log.info("读卡页显示持卡人 %s", mask_id_number(identity.social_security_number))
        self.identity_changed.emit(identity)

    # --- electronic card ------------------------------------------------------------------

    def _scanned(self) -> None:
        token = self.scan_field.text().strip()
        self.scan_field.clear()  # single use: the QR code refreshes about every minute
        if not token:
            return
        if self.person_lookup is None:
            self._ecard_message(self.tr("电子社保卡查询功能尚未提供（结算中心接口接入后可用）"))
            return
        self._ecard_message(self.tr("正在查询电子社保卡…"))
        lookup = self.person_lookup
        Operation(self, lambda: lookup(token), executor=Executor.BACKGROUND).success(
            self._ecard_found
        ).failure(self._ecard_failed).run()

    def _ecard_found(self, identity: CardIdentity) -> None:
        self.ecard_message.hide()
        self.show_identity(identity)

    def _ecard_failed(self, error: BaseException) -> None:
        if isinstance(error, CardError) or hasattr(error, "message"):
            self._ecard_message(clerk_message(error), error=True)
        else:
            log.error("电子社保卡查询出错", exc_info=(type(error), error, error.__traceback__))
            self._ecard_message(self.tr("电子社保卡查询失败，详细信息已写入日志文件"), error=True)
        # A new scan was someone arriving at the counter: whoever was shown before is not them.
        self.show_identity(None)
        self._identification_failed()

    def _ecard_message(self, text: str, error: bool = False) -> None:
        self.ecard_message.setText(text)
        if error:
            self.ecard_message.setStyleSheet(f"color: {ERROR_COLOUR}; font-weight: bold;")
        self.ecard_message.show()
