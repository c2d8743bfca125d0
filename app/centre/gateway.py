"""The settlement centre, in domain words: the `Centre` interface every adapter implements.

The rest of the program speaks of people, filings, admissions, fee lines, settlements and
claims; an adapter maps these to one centre's wire format (`json_adapter` for this program's
own JSON interface, `docs/centre-interface.md`). Guangdong's XML interface or Jiangsu's codes
would be further adapters behind this same interface, touching nothing else.

State-changing calls take the `msgid` the outbox (`app.centre.outbox`) wrote before sending:
the outbox, not the adapter, owns the never-lose-never-double rule.

Money is `Decimal` throughout; dates are `datetime.date`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import threading
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from app.errors import WiCounterError

T = TypeVar("T")

# --- errors -----------------------------------------------------------------------------


class CentreError(WiCounterError):
    """Something went wrong talking to the centre (see the three kinds below)."""


class CentreUnavailable(CentreError):
    """The centre could not be reached; the request was NOT delivered (nothing can have been applied)."""


class CentreRefused(CentreError):
    """The centre answered and refused: nothing was applied. `code` is the centre's error code."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}
        self.retryable = retryable


class OutcomeUnknown(CentreError):
    """The request may have reached the centre but no trustworthy answer came back (timeout,
    dropped connection, malformed or unsigned reply). Resolve it by `msgid`, never resend blindly."""

    def __init__(self, message: str, msgid: str) -> None:
        super().__init__(message)
        self.msgid = msgid


class OutboxNotClear(CentreError):
    """Earlier calls still have an unknown outcome: no new work until they are resolved."""


# --- operations -------------------------------------------------------------------------


class Operation(enum.StrEnum):
    """What the counter asks of the centre. Adapters map each to their own transaction code."""

    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    PING = "ping"
    PERSON_LOOKUP = "person_lookup"
    CATALOGUE_DOWNLOAD = "catalogue_download"
    NOTICE_QUERY = "notice_query"  # 配置费用核付通知单 checked before a device fitting (001 §34)
    ADMISSION = "admission"
    ADMISSION_CANCEL = "admission_cancel"
    FEE_UPLOAD = "fee_upload"
    FEE_CANCEL = "fee_cancel"
    PRE_SETTLEMENT = "pre_settlement"
    SETTLEMENT = "settlement"
    SETTLEMENT_CANCEL = "settlement_cancel"
    FULL_PAYMENT_REGISTRATION = "full_payment_registration"  # 补登记 of a stay paid in full (003 §17)
    REHAB_PLAN = "rehab_plan"  # 康复方案 up before a rehab stay's discharge settlement (000 §30)
    REVERSAL = "reversal"
    OUTCOME_QUERY = "outcome_query"
    CLAIM_UPLOAD = "claim_upload"
    CLAIM_STATUS = "claim_status"
    DEDUCTION_DISPUTE = "deduction_dispute"  # 异议 of a deduction, with its evidence's hashes (003 §20)
    DAILY_TOTALS = "daily_totals"
    DAILY_DETAILS = "daily_details"
    REGISTRATION_QUERY = "registration_query"  # what the centre holds since a time (after a restore)

    @property
    def changes_state(self) -> bool:
        return self in _STATE_CHANGING

    @property
    def label(self) -> str:
        return _LABELS[self]


_STATE_CHANGING = frozenset({
    Operation.ADMISSION, Operation.ADMISSION_CANCEL, Operation.FEE_UPLOAD, Operation.FEE_CANCEL,
    Operation.SETTLEMENT, Operation.SETTLEMENT_CANCEL, Operation.CLAIM_UPLOAD, Operation.REVERSAL,
    Operation.FULL_PAYMENT_REGISTRATION, Operation.DEDUCTION_DISPUTE, Operation.REHAB_PLAN,
})

_LABELS = {
    Operation.SIGN_IN: "签到",
    Operation.SIGN_OUT: "签退",
    Operation.PING: "联网检测",
    Operation.PERSON_LOOKUP: "人员信息获取",
    Operation.CATALOGUE_DOWNLOAD: "目录下载",
    Operation.NOTICE_QUERY: "配置费用核付通知单查询",
    Operation.ADMISSION: "入院登记",
    Operation.ADMISSION_CANCEL: "撤销入院登记",
    Operation.FEE_UPLOAD: "费用明细上传",
    Operation.FEE_CANCEL: "撤销费用明细",
    Operation.PRE_SETTLEMENT: "预结算",
    Operation.SETTLEMENT: "出院结算",
    Operation.SETTLEMENT_CANCEL: "撤销结算",
    Operation.FULL_PAYMENT_REGISTRATION: "全额垫付补登记",
    Operation.REHAB_PLAN: "康复方案上传",
    Operation.REVERSAL: "冲正",
    Operation.OUTCOME_QUERY: "交易结果查询",
    Operation.CLAIM_UPLOAD: "月度结算申请上传",
    Operation.CLAIM_STATUS: "月度结算申请审核结果查询",
    Operation.DEDUCTION_DISPUTE: "扣款异议提交",
    Operation.DAILY_TOTALS: "对总账",
    Operation.DAILY_DETAILS: "对明细账",
    Operation.REGISTRATION_QUERY: "就诊信息查询",
}


class PersonKey(enum.StrEnum):
    SOCIAL_SECURITY_NUMBER = "social_security_number"
    CARD = "card"  # the card number (卡号) read from the social security card
    ECARD_TOKEN = "ecard_token"  # the token in the e-card QR code


class OutcomeState(enum.StrEnum):
    """What became of one msgid at the centre."""

    APPLIED = "applied"
    FAILED = "failed"  # refused, nothing applied
    REVERSED = "reversed"  # applied, then undone by a reversal
    VOIDED = "voided"  # never arrived, and a reversal voided it (refused if it arrives later)
    UNKNOWN = "unknown"  # the centre never accepted it (not received)


# --- what the centre knows about a person -----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Place:
    province: str
    city: str
    city_code: str


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    code: str  # ICD-10
    name: str


@dataclasses.dataclass(frozen=True)
class Recognition:
    decision_no: str  # 认定决定书编号
    kind: str  # 工伤认定 / 工伤复发确认 / …
    injury_date: dt.date
    decided_on: dt.date | None
    diagnoses: tuple[Diagnosis, ...]


@dataclasses.dataclass(frozen=True)
class Destination:
    province: str
    city: str
    city_code: str
    institution_code: str | None


@dataclasses.dataclass(frozen=True)
class Filing:
    id: str
    category: str  # long_term_residence, long_term_work, referral
    care: tuple[str, ...]  # medical, rehab, device
    destination: Destination
    approved_on: dt.date
    valid_from: dt.date
    valid_to: dt.date | None
    status: str  # active, cancelled, terminated
    terminated_on: dt.date | None
    used_by_settlement: bool
    filed_on: dt.date


@dataclasses.dataclass(frozen=True)
class CardInfo:
    number: str
    issuing_region: str
    valid_until: dt.date | None


@dataclasses.dataclass(frozen=True)
class Person:
    social_security_number: str
    name: str
    sex: str
    birth_date: dt.date | None
    category: str  # 人员类别
    insured_place: Place
    card: CardInfo | None
    insurance_active: bool
    contribution_ok: bool
    insurance_status: str  # the centre's words, e.g. 正常参保
    profile: str  # policy profile the centre applies (local, guangdong-intra, …)
    recognitions: tuple[Recognition, ...]
    filings: tuple[Filing, ...]


# --- verdicts, admissions, fee lines ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Reason:
    code: str
    blocking: bool
    message: str
    source: str


@dataclasses.dataclass(frozen=True)
class Verdict:
    stage: str
    allowed: bool
    settlement_kind: str
    reasons: tuple[Reason, ...]


@dataclasses.dataclass(frozen=True)
class StayDiagnosis:
    code: str
    name: str
    injury: bool


@dataclasses.dataclass(frozen=True)
class AdmissionRequest:
    social_security_number: str
    insured_region: str  # city code of the insured place (the envelope names it)
    care: str
    admission_no: str  # 住院号 (HIS)
    dept: str
    admitted: dt.date
    diagnoses: tuple[StayDiagnosis, ...]
    recognition_no: str | None = None  # None: the centre takes the newest
    filing_id: str | None = None  # None: the centre takes the newest for this city
    emergency: bool = False
    third_party_liability: bool = False
    notice_no: str | None = None  # a device fitting's 配置费用核付通知单 (001 §34); sent only when set


@dataclasses.dataclass(frozen=True)
class NoticeItem:
    """One approved device of a notice, with the insured place's limits (`000 §29`, `001 §15`)."""

    code: str
    name: str
    quantity: Decimal
    max_pay: Decimal  # 最高支付限额 per unit
    min_years: int  # 最低使用年限


@dataclasses.dataclass(frozen=True)
class DeviceNotice:
    """配置费用核付通知单 (`001 §34`, `002 经办规程 §18`, `000 §30`): issued by the insured place,
    checked before fitting, used by one settlement."""

    notice_no: str
    social_security_number: str
    name: str
    insured_place: Place
    issued: dt.date
    valid_until: dt.date
    status: str  # valid, used, cancelled
    used_by_settlement: str | None
    items: tuple[NoticeItem, ...]


@dataclasses.dataclass(frozen=True)
class Admission:
    registration_no: str  # 就医登记号
    settlement_kind: str
    verdict: Verdict | None


@dataclasses.dataclass(frozen=True)
class AdmissionCancelRequest:
    registration_no: str
    reason: str
    insured_region: str = ""


@dataclasses.dataclass(frozen=True)
class AdmissionCancellation:
    registration_no: str
    status: str


@dataclasses.dataclass(frozen=True)
class FeeLine:
    """One charge line as uploaded: the 伤病分离 flag and, for a refund, the original's seq."""

    seq: int
    code: str
    name: str
    category: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    date: dt.date
    diagnosis: str | None = None
    injury: bool | None = None  # True 因伤, False 因病, None: let the centre classify
    refund_of: int | None = None


@dataclasses.dataclass(frozen=True)
class FeeUpload:
    registration_no: str
    lines: tuple[FeeLine, ...]
    insured_region: str = ""


@dataclasses.dataclass(frozen=True)
class FeeLineCheck:
    """The centre's per-line answer to an upload (a preview; the settlement decides)."""

    seq: int
    in_catalogue: bool
    price_limit: Decimal | None
    max_pay: Decimal | None
    over_limit_amount: Decimal
    self_pay_amount: Decimal
    non_injury: bool
    note: str


@dataclasses.dataclass(frozen=True)
class FeeUploadReceipt:
    registration_no: str
    accepted: int
    duplicates: int
    line_count: int  # live lines of the registration after the call
    total: Decimal
    lines: tuple[FeeLineCheck, ...]


@dataclasses.dataclass(frozen=True)
class FeeCancelRequest:
    registration_no: str
    seqs: tuple[int, ...] | None  # None: every live line
    insured_region: str = ""


@dataclasses.dataclass(frozen=True)
class FeeCancelReceipt:
    registration_no: str
    cancelled: tuple[int, ...]
    line_count: int
    total: Decimal


# --- settlements ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SettlementRequest:
    registration_no: str
    discharged: dt.date
    settled: dt.date | None = None  # None: the centre's date
    expected_total: Decimal | None = None  # refuse if the centre's lines total otherwise
    insured_region: str = ""


@dataclasses.dataclass(frozen=True)
class SettledItem:
    seq: int
    bucket: str  # fund, over_limit, self_pay, non_injury
    fund: Decimal
    personal: Decimal
    reason: str


@dataclasses.dataclass(frozen=True)
class SettlementFigures:
    """A settlement (or a pre-settlement, then `settlement_id` is None): the slip's money table."""

    settlement_id: str | None
    registration_no: str
    settled: dt.date
    settlement_kind: str
    verdict: Verdict | None
    # bucket -> category -> amount, including each bucket's "total"
    matrix: dict[str, dict[str, Decimal]]
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal
    items: tuple[SettledItem, ...]


@dataclasses.dataclass(frozen=True)
class SettlementCancelRequest:
    settlement_id: str
    reason: str
    insured_region: str = ""


@dataclasses.dataclass(frozen=True)
class SettlementCancellation:
    settlement_id: str
    cancellation_id: str
    registration_no: str
    total: Decimal  # negative: the original's amounts negated
    fund_total: Decimal
    personal_total: Decimal


@dataclasses.dataclass(frozen=True)
class FullPaymentRegistrationRequest:
    """补登记 (`003 §17`): the stay's settlement information, marked as paid in full by the worker.
    The centre records it so that the insured place sees it and reimburses once; it settles nothing."""

    registration_no: str
    receipt_no: str
    paid_in_full: Decimal  # the whole stay, as the worker paid it (the uploaded lines' total)
    discharged: dt.date
    insured_region: str = ""


@dataclasses.dataclass(frozen=True)
class FullPaymentRegistration:
    registration_no: str
    receipt_no: str
    paid_in_full: Decimal
    registered: dt.date  # the centre's business date of the 补登记


@dataclasses.dataclass(frozen=True)
class RehabPlanRequest:
    """康复方案 (`000 §30`): the rehab plan of a rehab stay, up before its discharge settlement. The
    document itself stays at the hospital; the centre gets its reference, summary and date."""

    registration_no: str
    document_no: str  # the plan's reference (编号) in the hospital's records
    summary: str
    drawn_up: dt.date  # the plan's date
    insured_region: str = ""


@dataclasses.dataclass(frozen=True)
class RehabPlanReceipt:
    registration_no: str
    document_no: str
    drawn_up: dt.date
    received: dt.date  # the centre's business date


# --- reversal and outcomes ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReversalResult:
    original_msgid: str
    original_operation: Operation
    outcome: OutcomeState  # reversed, voided or failed
    changed: bool  # False when it had already been reversed / voided


@dataclasses.dataclass(frozen=True)
class CallOutcome:
    """What the centre recorded for one msgid. `result` is the domain result when applied."""

    msgid: str
    state: OutcomeState
    operation: Operation | None
    result: Any
    error_code: str
    error_message: str
    reversed_by: str
    # Who sent the recorded call and what it said, so the counter can prove it is its own before
    # applying or reversing anything (issue 21): the fingerprint of the request the centre received
    # (`Centre.fingerprint`) and the identity of the counter that sent it ("" if not known).
    fingerprint: str = ""
    counter_id: str = ""


# --- monthly claims, catalogue, reconciliation --------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClaimChunk:
    claim_no: str
    period: str  # YYYY-MM
    chunk: int  # 1-based
    chunks: int
    settlement_ids: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ClaimReceipt:
    claim_no: str
    chunks: int
    received_chunks: tuple[int, ...]
    status: str  # receiving, submitted, audited


@dataclasses.dataclass(frozen=True)
class ClaimLineDeduction:
    """扣款 on one charge line, as the agency's audit names it (`003 §20`)."""

    seq: int  # the counter's line seq, as uploaded with the fee lines
    code: str
    name: str
    day: dt.date | None  # the line's date
    amount: Decimal
    reason: str


@dataclasses.dataclass(frozen=True)
class DisputeAnswer:
    """The centre's record of a dispute of one deduction, with the agency's answer once given (3302)."""

    dispute_id: str
    dispute_ref: str  # the hospital's own number, as sent
    settlement_id: str
    seq: int  # 0: the deduction named no line
    status: str  # received (受理，待答复), upheld (异议成立), rejected (异议不成立)
    answer: str = ""
    answered: dt.date | None = None


@dataclasses.dataclass(frozen=True)
class EvidenceFile:
    name: str  # the file's name only (the folder is the hospital's)
    sha256: str  # hex; the agency matches the file it receives against it


@dataclasses.dataclass(frozen=True)
class DisputeRequest:
    """异议 (`003 §20`): the hospital disputes one deduction of an audited claim, with its statement
    and the evidence files' names and hashes (the files go to the agency by its own channel)."""

    claim_no: str
    settlement_id: str
    seq: int  # the deducted line's seq; 0: the deduction names no line
    amount: Decimal
    statement: str
    evidence: tuple[EvidenceFile, ...]
    dispute_ref: str  # the hospital's own number for the dispute (本院异议编号)


@dataclasses.dataclass(frozen=True)
class DisputeReceipt:
    dispute_id: str  # the centre's number
    dispute_ref: str
    claim_no: str
    settlement_id: str
    seq: int
    status: str  # received
    received: dt.date


@dataclasses.dataclass(frozen=True)
class ClaimEntryStatus:
    """One entry of a claim: a settlement, or a correction (the cancellation of a settlement claimed
    in an earlier claim: amounts and deduction the original's negated, `lines` empty)."""

    settlement_id: str  # for a correction: the settlement it cancelled
    registration_no: str
    name: str
    social_security_number: str
    settlement_kind: str
    settled: dt.date  # for a correction: the day it was cancelled
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal
    deduction: Decimal  # the sum of `lines`' amounts (for a correction: the original's, negated)
    deduction_reason: str  # the lines' reasons joined
    fund_settled: Decimal  # fund_total - deduction
    kind: str = "settlement"  # settlement, cancellation
    insured_place: str = ""
    admitted: dt.date | None = None
    discharged: dt.date | None = None
    lines: tuple[ClaimLineDeduction, ...] = ()
    cancellation_id: str = ""  # CX… for a correction, else ""


@dataclasses.dataclass(frozen=True)
class ClaimStatusReport:
    claim_no: str
    period: str
    status: str
    chunks: int
    received_chunks: tuple[int, ...]
    entries: tuple[ClaimEntryStatus, ...]
    deduction_total: Decimal
    fund_settled_total: Decimal
    # The day the agency pushed its audit (`003 §20`: the dispute window runs from it); None before.
    audited: dt.date | None = None
    disputes: tuple[DisputeAnswer, ...] = ()  # the hospital's disputes the centre holds, with answers


@dataclasses.dataclass(frozen=True)
class CatalogueEntry:
    code: str
    name: str
    category: str
    unit: str
    price_limit: Decimal | None
    max_pay: Decimal | None
    per_day: bool
    min_years: int | None
    valid: bool  # False: withdrawn in `version`
    version: int


@dataclasses.dataclass(frozen=True)
class CataloguePage:
    version: int
    since_version: int
    page: int
    pages: int
    total: int
    entries: tuple[CatalogueEntry, ...]


@dataclasses.dataclass(frozen=True)
class Totals:
    count: int
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal


@dataclasses.dataclass(frozen=True)
class AuditAnchor:
    """The counter's audit trail head as the centre keeps it (issue 22 §4): how many events the trail
    had and the keyed MAC of the head at that count. Never the key."""

    counter: str
    count: int
    mac: str
    received: str = ""  # when the centre received it (ISO), "" in a request


@dataclasses.dataclass(frozen=True)
class DailyTotals:
    day: dt.date
    settlements: Totals
    cancellations: Totals
    net: Totals
    audit_anchors: tuple[AuditAnchor, ...] = ()  # the latest the centre holds of each counter of the institution


@dataclasses.dataclass(frozen=True)
class DailyRecord:
    kind: str  # settlement, cancellation
    msgid: str
    settlement_id: str
    cancellation_id: str
    registration_no: str
    social_security_number: str
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal


@dataclasses.dataclass(frozen=True)
class DailyDetails:
    day: dt.date
    page: int
    pages: int
    total: int
    records: tuple[DailyRecord, ...]


@dataclasses.dataclass(frozen=True)
class CentreSettlementRecord:
    """A settlement the centre holds (a reversed one never happened and is not listed)."""

    settlement_id: str
    status: str  # live, cancelled
    cancellation_id: str
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal
    time: str


@dataclasses.dataclass(frozen=True)
class CentreRegistrationRecord:
    """A registration of this institution as the centre holds it (5201), with its lines and settlements."""

    registration_no: str
    admission_no: str
    social_security_number: str
    admitted: dt.date
    status: str  # open, settled, cancelled, paid_in_full
    registered_at: str
    line_count: int
    line_total: Decimal
    settlements: tuple[CentreSettlementRecord, ...]


@dataclasses.dataclass(frozen=True)
class RegistrationPage:
    page: int
    pages: int
    total: int
    records: tuple[CentreRegistrationRecord, ...]


class Reachability:
    """The last known state of the link to the centre (any adapter), cached so the UI never waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reachable: bool | None = None  # None: not tried yet
        self.since: dt.datetime | None = None
        self.last_error: str = ""

    def mark(self, reachable: bool, error: str = "") -> None:
        with self._lock:
            if reachable != self.reachable:
                self.since = dt.datetime.now(dt.UTC)
            self.reachable = reachable
            self.last_error = error



# --- the interface ------------------------------------------------------------------------


class Centre(ABC):
    """One settlement centre. Every call has a timeout; errors are the CentreError kinds above.

    Reads may be repeated freely. State-changing calls take the msgid the outbox wrote and
    must be called through `app.centre.outbox.Outbox`, which resolves unknown outcomes with
    `query_outcome` and `reverse`.
    """

    name: str = "centre"

    def transaction_code(self, operation: Operation) -> str:
        """This centre's code for `operation` (kept in the outbox and the call log)."""
        return operation.value[:8]

    @abstractmethod
    def ping(self) -> None:
        """Return quickly if the centre is reachable, else raise CentreUnavailable."""

    @abstractmethod
    def sign_in(self) -> None:
        """Open (or renew) a session; adapters also do it by themselves when needed."""

    def sign_out(self) -> None:
        """End the session (at the end of the day, or when the counter closes). Harmless if none."""

    @abstractmethod
    def find_person(self, key: PersonKey, value: str) -> Person: ...

    @abstractmethod
    def download_catalogue(self, since_version: int = 0, page: int = 1, page_size: int = 500) -> CataloguePage: ...

    def find_notice(self, notice_no: str, social_security_number: str | None = None) -> DeviceNotice:
        """配置费用核付通知单 (`001 §34`); a centre that serves none refuses it."""
        raise CentreRefused("UNSUPPORTED", "此结算中心不提供配置费用核付通知单查询，请按经办机构要求核对")

    @abstractmethod
    def pre_settle(self, request: SettlementRequest) -> SettlementFigures: ...

    @abstractmethod
    def claim_status(self, claim_no: str) -> ClaimStatusReport: ...

    @abstractmethod
    def daily_totals(self, day: dt.date, audit_head: AuditAnchor | None = None) -> DailyTotals:
        """3201; `audit_head` (the day-end's) is kept by the centre as an anchor of the audit trail."""

    @abstractmethod
    def daily_details(self, day: dt.date, page: int = 1, page_size: int = 500) -> DailyDetails: ...

    def registrations_since(self, since: dt.datetime | None, page: int = 1,
                            page_size: int = 200) -> RegistrationPage:
        """This institution's registrations that anything happened to since `since` (None: all), as
        the centre holds them. A centre without this query refuses; the caller then leaves the
        differences to a reviewer."""
        raise CentreRefused("1007", "结算中心不提供就诊信息查询")

    # State-changing: only through the outbox.

    @abstractmethod
    def register_admission(self, msgid: str, request: AdmissionRequest) -> Admission: ...

    @abstractmethod
    def cancel_admission(self, msgid: str, request: AdmissionCancelRequest) -> AdmissionCancellation: ...

    @abstractmethod
    def upload_fees(self, msgid: str, upload: FeeUpload) -> FeeUploadReceipt: ...

    @abstractmethod
    def cancel_fees(self, msgid: str, request: FeeCancelRequest) -> FeeCancelReceipt: ...

    @abstractmethod
    def settle(self, msgid: str, request: SettlementRequest) -> SettlementFigures: ...

    @abstractmethod
    def cancel_settlement(self, msgid: str, request: SettlementCancelRequest) -> SettlementCancellation: ...

    @abstractmethod
    def register_full_payment(self, msgid: str, request: FullPaymentRegistrationRequest) -> FullPaymentRegistration: ...

    def submit_dispute(self, msgid: str, request: DisputeRequest) -> DisputeReceipt:
        """异议 (`003 §20`); a centre that takes no disputes online refuses it."""
        raise CentreRefused("UNSUPPORTED", "此结算中心不受理网上扣款异议，请按经办机构要求送交材料")

    def upload_rehab_plan(self, msgid: str, request: RehabPlanRequest) -> RehabPlanReceipt:
        """康复方案 (`000 §30`); a centre that takes none refuses it."""
        raise CentreRefused("UNSUPPORTED", "此结算中心不受理康复方案上传")

    @abstractmethod
    def upload_claim_chunk(self, msgid: str, chunk: ClaimChunk) -> ClaimReceipt: ...

    @abstractmethod
    def reverse(self, msgid: str, original_msgid: str, original: Operation,
                original_fingerprint: str = "") -> ReversalResult:
        """Reverse (or void) `original_msgid`; a centre that knows the original's fingerprint refuses
        when `original_fingerprint` is given and differs (it is not the caller's call)."""

    def fingerprint(self, operation: Operation, request: Any) -> str:
        """The fingerprint of `request` as this centre will receive it (kept in the outbox, compared
        with the one the outcome query returns); "" when the centre keeps none."""
        return ""

    def identify(self, counter_id: Callable[[], str], on_terminal: Callable[[str], None]) -> None:
        """Tell the adapter who this counter is (its identity, made once and kept in the database)
        and where to keep the number the centre gives it at sign-in. Centres without one ignore it."""

    @property
    def registers_counters(self) -> bool:
        """True when the centre gives each counter a number (终端号) at sign-in."""
        return False

    @abstractmethod
    def query_outcome(self, original_msgid: str, operation: Operation) -> CallOutcome:
        """What became of `original_msgid`; `operation` tells how to read an applied result."""


# --- JSON form for the outbox and the call log ------------------------------------------------


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _fee_line_json(line: FeeLine) -> dict[str, Any]:
    return {"seq": line.seq, "code": line.code, "name": line.name, "category": line.category,
            "quantity": str(line.quantity), "unit_price": str(line.unit_price), "amount": str(line.amount),
            "date": line.date.isoformat(), "diagnosis": line.diagnosis, "injury": line.injury,
            "refund_of": line.refund_of}


def _fee_line_check_json(check: FeeLineCheck) -> dict[str, Any]:
    return {"seq": check.seq, "in_catalogue": check.in_catalogue,
            "price_limit": None if check.price_limit is None else str(check.price_limit),
            "max_pay": None if check.max_pay is None else str(check.max_pay),
            "over_limit_amount": str(check.over_limit_amount), "self_pay_amount": str(check.self_pay_amount),
            "non_injury": check.non_injury, "note": check.note}


# Hand-written forms of the values that come by the hundred (a fee upload's lines): same result
# as the generic walk, several times faster.
_FAST: dict[type, Any] = {FeeLine: _fee_line_json, FeeLineCheck: _fee_line_check_json}


def _field_names(cls: type) -> tuple[str, ...] | None:
    names = _FIELD_NAMES.get(cls)
    if names is None and dataclasses.is_dataclass(cls):
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def to_json(value: Any) -> Any:
    """A domain value as plain JSON: Decimal and dates as strings, never a float.

    Called on every outbox write (a 100-line upload is thousands of values): the common
    cases come first and dataclass field names are cached per class."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str | int):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    fast = _FAST.get(type(value))
    if fast is not None:
        return fast(value)
    names = _field_names(type(value))
    if names is not None:
        return {name: to_json(getattr(value, name)) for name in names}
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, float):
        raise TypeError("a float has no place in a centre message")
    return value


def from_json(cls: type[T], data: Any) -> T:
    """The domain value of type `cls` from its `to_json` form (queued outbox work is read back so).

    Follows the dataclass's type hints: str, int, bool, Decimal, date, enums, `X | None`,
    `tuple[X, ...]`, nested dataclasses. Raises ValueError naming the field that does not fit."""
    return _from_json(cls, data, cls.__name__)  # type: ignore[no-any-return]


def _from_json(hint: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if data is None:
            return None
        return _from_json(options[0], data, where)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(data, list):
            raise ValueError(f"{where} 应为数组")
        return tuple(_from_json(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if hint is Any:
        return data
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(data, dict):
            raise ValueError(f"{where} 应为对象")
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: _from_json(hints[f.name], data.get(f.name), f"{where}.{f.name}")
                       for f in dataclasses.fields(hint) if f.name in data})
    if hint is Decimal:
        return Decimal(str(data))
    if hint is dt.date:
        return dt.date.fromisoformat(str(data))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(data)
    if hint in (str, int, bool) and not isinstance(data, hint):
        raise ValueError(f"{where} 应为 {hint.__name__}，实际为 {data!r}")
    return data
