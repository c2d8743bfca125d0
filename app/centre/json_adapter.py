"""The adapter for this program's own JSON centre interface (`docs/centre-interface.md`).

httpx does the HTTP: one pooled client, a timeout on every call (a short connect timeout so
an unreachable centre is reported at once, a longer read timeout), TLS with certificate
verification (plain HTTP only to this machine). Every request is signed with HMAC-SHA256
using the institution's key from the keyring (`app.centre.wire`); every reply's signature is
checked before it is believed. Every exchange is reported to the call log.

How an exchange ends, and what the caller is told:
- no connection → `CentreUnavailable` (the request did not leave: nothing applied);
- a verified reply, `infcode "0"` → the result; `"-1"` → `CentreRefused` (nothing applied);
- sent but no trustworthy answer (timeout, connection broken, non-200, unparsable or unsigned
  reply, or "msgid already used") → `OutcomeUnknown`: the outbox resolves it by msgid.

Who is calling (issue 21): sign-in (9001) carries the counter's identity and the centre answers
with its 终端号 (kept by the outbox, part of every later msgid). Every state-changing request has a
fingerprint (`wire.request_fingerprint` of its `input.data`), computed here from the domain
request (`fingerprint`) and returned by 5101, so the outbox can prove a recorded call is its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from app.centre import http_limits, wire
from app.centre.calllog import CallOutcomeKind, CallRecord, CallRecorder
from app.centre.gateway import (
    AuditAnchor,
    Admission,
    AdmissionCancellation,
    AdmissionCancelRequest,
    AdmissionRequest,
    CallOutcome,
    CardInfo,
    CatalogueEntry,
    CataloguePage,
    Centre,
    CentreRefused,
    CentreUnavailable,
    ClaimChunk,
    ClaimEntryStatus,
    ClaimLineDeduction,
    ClaimReceipt,
    ClaimStatusReport,
    CentreRegistrationRecord,
    CentreSettlementRecord,
    DeviceNotice,
    DisputeAnswer,
    NoticeItem,
    DisputeReceipt,
    DisputeRequest,
    RehabPlanReceipt,
    RehabPlanRequest,
    DailyDetails,
    DailyRecord,
    DailyTotals,
    Destination,
    Diagnosis,
    FeeCancelReceipt,
    FeeCancelRequest,
    FeeLineCheck,
    FeeUpload,
    FeeUploadReceipt,
    Filing,
    FullPaymentRegistration,
    FullPaymentRegistrationRequest,
    Operation,
    OutcomeState,
    OutcomeUnknown,
    Person,
    PersonKey,
    Place,
    Reachability,
    Reason,
    Recognition,
    RegistrationPage,
    ReversalResult,
    SettledItem,
    SettlementCancellation,
    SettlementCancelRequest,
    SettlementFigures,
    SettlementRequest,
    Totals,
    Verdict,
)
from app.centre.wire import ErrorCode, Transaction, WireError
from app.errors import ConfigurationError

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSACTIONS: dict[Operation, Transaction] = {
    Operation.SIGN_IN: Transaction.SIGN_IN,
    Operation.SIGN_OUT: Transaction.SIGN_OUT,
    Operation.PERSON_LOOKUP: Transaction.PERSON_LOOKUP,
    Operation.CATALOGUE_DOWNLOAD: Transaction.CATALOGUE_DOWNLOAD,
    Operation.NOTICE_QUERY: Transaction.NOTICE_QUERY,
    Operation.ADMISSION: Transaction.ADMISSION,
    Operation.ADMISSION_CANCEL: Transaction.ADMISSION_CANCEL,
    Operation.FEE_UPLOAD: Transaction.FEE_UPLOAD,
    Operation.FEE_CANCEL: Transaction.FEE_CANCEL,
    Operation.PRE_SETTLEMENT: Transaction.PRE_SETTLEMENT,
    Operation.SETTLEMENT: Transaction.SETTLEMENT,
    Operation.SETTLEMENT_CANCEL: Transaction.SETTLEMENT_CANCEL,
    Operation.FULL_PAYMENT_REGISTRATION: Transaction.FULL_PAYMENT_REGISTRATION,
    Operation.REVERSAL: Transaction.REVERSAL,
    Operation.OUTCOME_QUERY: Transaction.OUTCOME_QUERY,
    Operation.CLAIM_UPLOAD: Transaction.CLAIM_UPLOAD,
    Operation.CLAIM_STATUS: Transaction.CLAIM_STATUS,
    Operation.DEDUCTION_DISPUTE: Transaction.DEDUCTION_DISPUTE,
    Operation.REHAB_PLAN: Transaction.REHAB_PLAN,
    Operation.DAILY_TOTALS: Transaction.RECONCILE_TOTALS,
    Operation.DAILY_DETAILS: Transaction.RECONCILE_DETAILS,
    Operation.REGISTRATION_QUERY: Transaction.REGISTRATION_QUERY,
}
OPERATIONS: dict[Transaction, Operation] = {t: o for o, t in TRANSACTIONS.items()}

HEALTH_PATH = "/health"
SESSION_MARGIN = dt.timedelta(minutes=5)  # sign in again this long before the session expires
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Codes after which the msgid's fate is not what the reply says: ask the centre (5101), which
# tells whose call the msgid holds (the outbox applies nothing that is not its own).
_UNKNOWN_AFTER = {ErrorCode.DUPLICATE_MSGID}
READ_DUPLICATE_RETRIES = 3


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file or None)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


# What the clerk reads when the centre cannot be reached (issue 20 §8: no address, no exception class).
UNREACHABLE_TEXT = "无法连接结算中心：请检查本机网络；仍不行请联系信息科核对结算中心地址（详细原因已写入日志）"

class JsonCentre(Centre):
    """A centre that speaks the JSON interface. Thread-safe (httpx.Client is)."""

    name = "wi-counter JSON 接口"

    def __init__(
        self,
        base_url: str,
        key: bytes,
        caller: wire.Caller,
        msgids: Callable[[], str],
        *,
        recorder: CallRecorder | None = None,
        connect_timeout: float = 1.5,
        read_timeout: float = 15.0,
        ca_file: str | None = None,
        reachability: Reachability | None = None,
        transport: httpx.BaseTransport | None = None,
        max_reply_bytes: int = http_limits.DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ConfigurationError("只有本机的演示结算中心可以使用 http；其他地址必须使用 https")
        if parts.scheme not in ("http", "https"):
            raise ConfigurationError(f"结算中心地址应以 https:// 开头：{base_url!r}")
        if not key:
            raise ConfigurationError("没有结算中心签名密钥")
        self.base_url = base_url.rstrip("/")
        self._key = key
        self.caller = caller
        self._msgids = msgids
        self._recorder = recorder
        self.reachability = reachability or Reachability()
        verify = _tls_context(ca_file) if parts.scheme == "https" else True
        # One deadline per call (connect to the reply's last byte) and a size cap: `http_limits`.
        self._deadline = connect_timeout + read_timeout
        self._max_reply = max_reply_bytes
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            verify=verify,
            transport=transport if transport is not None else http_limits.bounded_transport(verify),
            headers={"User-Agent": "wi-counter", **http_limits.ACCEPT_IDENTITY},
        )
        self._ping_timeout = httpx.Timeout(connect_timeout, connect=connect_timeout)
        self._session_lock = threading.Lock()
        self._sign_no: str | None = None
        self._session_expires: dt.datetime | None = None
        self._counter_id: Callable[[], str] | None = None
        self._on_terminal: Callable[[str], None] | None = None
        # The `input.data` built for a request's fingerprint, kept for its send on the same thread
        # (the outbox asks for the one, then the other): a 100-line upload is built once, not twice.
        self._inputs = threading.local()

    def identify(self, counter_id: Callable[[], str], on_terminal: Callable[[str], None]) -> None:
        self._counter_id, self._on_terminal = counter_id, on_terminal

    @property
    def registers_counters(self) -> bool:
        return self._counter_id is not None

    def close(self) -> None:
        self._http.close()

    def transaction_code(self, operation: Operation) -> str:
        return TRANSACTIONS[operation].value

    # --- the exchange -----------------------------------------------------------------------

    def _record(self, msgid: str, operation: Operation, started: dt.datetime, began: float,
                outcome: CallOutcomeKind, data: dict[str, Any], reply: wire.Reply | None = None,
                message: str | None = None) -> None:
        if self._recorder is None:
            return
        self._recorder(CallRecord(
            msgid=msgid, txn_code=self.transaction_code(operation), operation=operation.value,
            operator_code=self.caller.operator_code, started_at=started,
            duration_ms=int((time.monotonic() - began) * 1000), outcome=outcome,
            error_code=reply.err_code.value if reply is not None and reply.err_code else None,
            message=message if message is not None else (reply.err_msg if reply is not None else None),
            centre_ref=reply.inf_refmsgid if reply is not None else None,
            request=data, response=reply.output if reply is not None else None,
        ))

    def _exchange(self, operation: Operation, msgid: str, data: dict[str, Any],
                  insured_region: str = "") -> wire.Reply:
        """Send one signed request and return the verified reply (ok or refused)."""
        request = wire.Request(
            infno=TRANSACTIONS[operation], msgid=msgid, caller=self.caller, inf_time=wire.now(),
            sign_no="" if operation is Operation.SIGN_IN else self._current_sign_no(),
            insured_region=insured_region, data=data,
        )
        body = request.to_bytes(self._key)  # signed and serialised in one pass (wire.encode_signed)
        started, began = dt.datetime.now(dt.UTC), time.monotonic()
        try:
            with http_limits.deadline(self._deadline), self._http.stream(
                    "POST", wire.API_PATH, content=body,
                    headers={"Content-Type": "application/json; charset=utf-8"}) as response:
                content = http_limits.read_capped(response, self._max_reply) if response.status_code == 200 else b""
        except (http_limits.ReplyTooLarge, http_limits.ReplyEncoded) as exc:
            self.reachability.mark(True)
            text = f"{exc.message}，交易按结果未知处理"
            self._record(msgid, operation, started, began, CallOutcomeKind.MALFORMED, data, message=text)
            raise OutcomeUnknown(text, msgid) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The connection was never made: nothing left this machine.
            # The clerk reads what to do; the address and the cause go to the call log and the log.
            detail = f"无法连接结算中心（{self.base_url}）：{type(exc).__name__}"
            log.warning("%s", detail)
            self.reachability.mark(False, UNREACHABLE_TEXT)
            self._record(msgid, operation, started, began, CallOutcomeKind.UNREACHABLE, data, message=detail)
            raise CentreUnavailable(UNREACHABLE_TEXT) from exc
        except httpx.TimeoutException as exc:
            text = "结算中心在规定时间内没有应答"
            self._record(msgid, operation, started, began, CallOutcomeKind.TIMEOUT, data,
                         message=f"{text}（{type(exc).__name__}）")
            raise OutcomeUnknown(text, msgid) from exc
        except httpx.TransportError as exc:
            text = "与结算中心的连接中断，没有收到应答"
            self._record(msgid, operation, started, began, CallOutcomeKind.DROPPED, data,
                         message=f"{text}（{type(exc).__name__}）")
            raise OutcomeUnknown(text, msgid) from exc
        self.reachability.mark(True)
        if response.status_code != 200:
            text = f"结算中心应答 HTTP {response.status_code}，不是有效的应答报文"
            self._record(msgid, operation, started, began, CallOutcomeKind.MALFORMED, data, message=text)
            raise OutcomeUnknown(text, msgid)
        try:
            reply = wire.read_reply(content, self._key, msgid)
        except WireError as exc:
            text = f"结算中心应答无效：{exc.message}"
            if _claimed_refusal(content) == ErrorCode.BAD_SIGNATURE.value:
                # Not verifiable, so not proof of anything; but the likely reason, worth saying.
                text = ("结算中心报告报文签名验证失败：本机保存的结算中心密钥（centre-key）可能与中心登记的不符。"
                        "该应答无法验证，不能作为结果，交易按结果未知处理。")
            self._record(msgid, operation, started, began, CallOutcomeKind.MALFORMED, data, message=text)
            raise OutcomeUnknown(text, msgid) from exc
        # A verified reply tells the centre's time: dates the centre sets are read from its clock (issue 21 B7).
        wire.CENTRE_CLOCK.observe(reply.respond_time, request.inf_time, wire.now())
        outcome = CallOutcomeKind.OK if reply.ok else CallOutcomeKind.REFUSED
        self._record(msgid, operation, started, began, outcome, data, reply)
        if reply.warn_msg:
            log.warning("结算中心提示（%s %s）：%s", operation.label, msgid, reply.warn_msg)
        return reply

    def _refusal(self, reply: wire.Reply) -> CentreRefused:
        code = reply.err_code or ErrorCode.INTERNAL_ERROR
        if code is ErrorCode.NOT_SIGNED_IN:
            with self._session_lock:
                self._sign_no = None
        message = reply.err_msg or code.message
        return CentreRefused(code.value, f"结算中心拒绝：{message}（{code.value}）", reply.output, code.retryable)

    def _call(self, operation: Operation, data: dict[str, Any], parse: Callable[[dict[str, Any]], T],
              *, msgid: str | None = None, insured_region: str = "") -> T:
        """One transaction. Reads (msgid None) are safe to repeat: each try gets a fresh msgid; a read
        is asked once more after a lost answer (on a new connection: a kept-alive one the centre
        dropped without closing it answers nothing) or after 1005 (signed in again)."""
        read = msgid is None
        duplicates = 0
        attempt = 0
        while True:
            attempt += 1
            this_msgid = self._msgids() if msgid is None else msgid
            try:
                reply = self._exchange(operation, this_msgid, data, insured_region)
            except OutcomeUnknown:
                if read and attempt == 1:
                    continue  # the failed connection is gone from the pool: the next try opens a new one
                raise
            if reply.ok:
                return _parsed(parse, reply.output, this_msgid, operation)
            if read and reply.err_code is ErrorCode.DUPLICATE_MSGID and duplicates < READ_DUPLICATE_RETRIES:
                # A read (e.g. the first sign-in of a counter with no 终端号 yet) whose msgid another
                # caller used: nothing happened; ask again under a new msgid, after a short random
                # pause so two such counters do not meet again.
                duplicates += 1
                attempt -= 1
                time.sleep(random.uniform(0.05, 0.3))  # noqa: S311 - jitter, not a secret
                continue
            if reply.err_code in _UNKNOWN_AFTER:
                raise OutcomeUnknown(f"结算中心已受理过报文编号 {this_msgid}，须按编号查询结果", this_msgid)
            refusal = self._refusal(reply)
            if read and attempt == 1 and reply.err_code is ErrorCode.NOT_SIGNED_IN:
                continue  # reads are safe to repeat: sign in again and ask once more
            raise refusal

    # --- session ------------------------------------------------------------------------------

    def _current_sign_no(self) -> str:
        with self._session_lock:
            fresh = (self._sign_no is not None and self._session_expires is not None
                     and dt.datetime.now(dt.UTC) < self._session_expires - SESSION_MARGIN)
            if fresh:
                assert self._sign_no is not None
                return self._sign_no
        self.sign_in()
        with self._session_lock:
            return self._sign_no or ""

    def sign_in(self) -> None:
        data: dict[str, Any] = {}
        if self._counter_id is not None:
            data["counter_id"] = self._counter_id()
        output = self._call(Operation.SIGN_IN, data, lambda o: o)
        sign_no = _text(output, "sign_no")
        expires = wire.parse_time(output.get("expires_at"), "expires_at")
        terminal_no = output.get("terminal_no")
        if self._on_terminal is not None and "counter_id" in data:
            if terminal_no is None:
                # A centre that hands out no numbers: msgids keep "00"; the outcome query's proof
                # (fingerprint) still keeps another caller's call from being taken for ours.
                log.warning("结算中心签到应答没有终端号：报文编号按未登记终端（00）编排")
            elif not isinstance(terminal_no, str) or not wire.TERMINAL_NO.fullmatch(terminal_no) \
                    or terminal_no == wire.UNREGISTERED_TERMINAL:
                raise CentreRefused(ErrorCode.INTERNAL_ERROR.value,
                                    f"结算中心签到应答的终端号无效（{terminal_no!r}），请联系结算中心")
            else:
                self._on_terminal(terminal_no)
        with self._session_lock:
            self._sign_no, self._session_expires = sign_no, expires

    def sign_out(self) -> None:
        with self._session_lock:
            live = self._sign_no is not None
        if not live:
            return
        self._call(Operation.SIGN_OUT, {}, lambda o: o)
        with self._session_lock:
            self._sign_no, self._session_expires = None, None

    def ping(self) -> None:
        """A cheap unsigned probe with the short connect timeout: `GET /health`.

        The sandbox answers it; a real centre may answer 404, which still proves the link and the
        server are up. Only no connection or a 5xx (e.g. a proxy whose centre is down) is "unreachable"."""
        try:
            with http_limits.deadline(2 * (self._ping_timeout.connect or 1.5)), \
                    self._http.stream("GET", HEALTH_PATH, timeout=self._ping_timeout) as response:
                pass  # the status is the answer: the body is never read
        except httpx.HTTPError as exc:
            log.info("无法连接结算中心（%s）：%s", self.base_url, type(exc).__name__)
            self.reachability.mark(False, UNREACHABLE_TEXT)
            raise CentreUnavailable(UNREACHABLE_TEXT) from exc
        if response.status_code >= 500:
            text = f"结算中心应答 HTTP {response.status_code}（服务暂不可用）"
            self.reachability.mark(False, text)
            raise CentreUnavailable(text)
        self.reachability.mark(True)

    # --- reads ----------------------------------------------------------------------------------

    def find_person(self, key: PersonKey, value: str) -> Person:
        return self._call(Operation.PERSON_LOOKUP, {"by": key.value, "value": value}, _person)

    def find_notice(self, notice_no: str, social_security_number: str | None = None) -> DeviceNotice:
        data: dict[str, Any] = {"notice_no": notice_no}
        if social_security_number is not None:
            data["social_security_number"] = social_security_number
        return self._call(Operation.NOTICE_QUERY, data, _notice)

    def download_catalogue(self, since_version: int = 0, page: int = 1, page_size: int = 500) -> CataloguePage:
        data = {"since_version": since_version, "page": page, "page_size": page_size}
        return self._call(Operation.CATALOGUE_DOWNLOAD, data, _catalogue_page)

    def pre_settle(self, request: SettlementRequest) -> SettlementFigures:
        return self._call(Operation.PRE_SETTLEMENT, self._built(request, _settlement_input), _settlement,
                          insured_region=request.insured_region)

    def claim_status(self, claim_no: str) -> ClaimStatusReport:
        return self._call(Operation.CLAIM_STATUS, {"claim_no": claim_no}, _claim_status)

    def daily_totals(self, day: dt.date, audit_head: AuditAnchor | None = None) -> DailyTotals:
        data: dict[str, Any] = {"date": day.isoformat()}
        if audit_head is not None:  # additive: a centre that does not know it ignores it
            data["audit_head"] = {"counter": audit_head.counter, "count": audit_head.count, "mac": audit_head.mac}
        return self._call(Operation.DAILY_TOTALS, data, _daily_totals)

    def daily_details(self, day: dt.date, page: int = 1, page_size: int = 500) -> DailyDetails:
        data = {"date": day.isoformat(), "page": page, "page_size": page_size}
        return self._call(Operation.DAILY_DETAILS, data, _daily_details)

    def registrations_since(self, since: dt.datetime | None, page: int = 1,
                            page_size: int = 200) -> RegistrationPage:
        data = {"since": wire.format_time(since) if since is not None else None, "page": page, "page_size": page_size}
        return self._call(Operation.REGISTRATION_QUERY, data, _registration_page)

    # --- state-changing (through the outbox) ------------------------------------------------------

    def register_admission(self, msgid: str, request: AdmissionRequest) -> Admission:
        return self._call(Operation.ADMISSION, self._built(request, _admission_input), _admission, msgid=msgid,
                          insured_region=request.insured_region)

    def cancel_admission(self, msgid: str, request: AdmissionCancelRequest) -> AdmissionCancellation:
        return self._call(Operation.ADMISSION_CANCEL, self._built(request, _admission_cancel_input),
                          _admission_cancellation, msgid=msgid, insured_region=request.insured_region)

    def upload_fees(self, msgid: str, upload: FeeUpload) -> FeeUploadReceipt:
        if not 1 <= len(upload.lines) <= wire.MAX_FEE_LINES_PER_CALL:
            raise ValueError(f"一次上传 1 至 {wire.MAX_FEE_LINES_PER_CALL} 条费用明细，实际 {len(upload.lines)} 条")
        return self._call(Operation.FEE_UPLOAD, self._built(upload, _fee_upload_input), _fee_receipt, msgid=msgid,
                          insured_region=upload.insured_region)

    def cancel_fees(self, msgid: str, request: FeeCancelRequest) -> FeeCancelReceipt:
        return self._call(Operation.FEE_CANCEL, self._built(request, _fee_cancel_input), _fee_cancel_receipt,
                          msgid=msgid, insured_region=request.insured_region)

    def settle(self, msgid: str, request: SettlementRequest) -> SettlementFigures:
        return self._call(Operation.SETTLEMENT, self._built(request, _settlement_input), _settlement, msgid=msgid,
                          insured_region=request.insured_region)

    def cancel_settlement(self, msgid: str, request: SettlementCancelRequest) -> SettlementCancellation:
        return self._call(Operation.SETTLEMENT_CANCEL, self._built(request, _settlement_cancel_input),
                          _settlement_cancellation, msgid=msgid, insured_region=request.insured_region)

    def register_full_payment(self, msgid: str, request: FullPaymentRegistrationRequest) -> FullPaymentRegistration:
        return self._call(Operation.FULL_PAYMENT_REGISTRATION, self._built(request, _full_payment_input), _full_payment,
                          msgid=msgid, insured_region=request.insured_region)

    def submit_dispute(self, msgid: str, request: DisputeRequest) -> DisputeReceipt:
        return self._call(Operation.DEDUCTION_DISPUTE, self._built(request, _dispute_input), _dispute_receipt,
                          msgid=msgid)

    def upload_rehab_plan(self, msgid: str, request: RehabPlanRequest) -> RehabPlanReceipt:
        return self._call(Operation.REHAB_PLAN, self._built(request, _rehab_plan_input), _rehab_plan_receipt,
                          msgid=msgid, insured_region=request.insured_region)

    def upload_claim_chunk(self, msgid: str, chunk: ClaimChunk) -> ClaimReceipt:
        if len(chunk.settlement_ids) > wire.MAX_CLAIM_SETTLEMENTS_PER_CHUNK:
            raise ValueError(f"每块最多 {wire.MAX_CLAIM_SETTLEMENTS_PER_CHUNK} 笔结算")
        return self._call(Operation.CLAIM_UPLOAD, self._built(chunk, _claim_chunk_input), _claim_receipt, msgid=msgid)

    def reverse(self, msgid: str, original_msgid: str, original: Operation,
                original_fingerprint: str = "") -> ReversalResult:
        return self._call(Operation.REVERSAL, self._reversal_input(original_msgid, original, original_fingerprint),
                          _reversal, msgid=msgid)

    def _reversal_input(self, original_msgid: str, original: Operation, original_fingerprint: str) -> dict[str, Any]:
        data = {"omsgid": original_msgid, "oinfno": self.transaction_code(original)}
        if original_fingerprint:
            data["ofingerprint"] = original_fingerprint
        return data

    def _built(self, request: Any, build: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """`build(request)`, or the data built from this very request for its fingerprint."""
        kept = getattr(self._inputs, "last", None)
        self._inputs.last = None
        if kept is not None and kept[0] is request and kept[1] is build:
            return kept[2]  # type: ignore[no-any-return]
        return build(request)

    def fingerprint(self, operation: Operation, request: Any) -> str:
        """`wire.request_fingerprint` of the `input.data` the request will be sent with."""
        if operation is Operation.REVERSAL:
            if not isinstance(request, dict):
                return ""
            data = self._reversal_input(str(request["original_msgid"]), Operation(request["original_operation"]),
                                        str(request.get("original_fingerprint") or ""))
        else:
            build = _INPUTS.get(operation)
            if build is None:
                return ""
            try:
                data = build(request)
            except (AttributeError, TypeError, KeyError, ValueError):
                log.warning("%s 的请求无法计算指纹（%s）", operation.label, type(request).__name__)
                return ""
            self._inputs.last = (request, build, data)
        return wire.request_fingerprint(data)

    def query_outcome(self, original_msgid: str, operation: Operation) -> CallOutcome:
        """What the centre recorded under `original_msgid`, with the recorded request's fingerprint and
        sender: the outbox decides whether it is its own call. Another transaction's record is
        returned unparsed (never read as ours)."""
        output = self._call(Operation.OUTCOME_QUERY, {"omsgid": original_msgid}, lambda o: o)
        try:
            state = OutcomeState(_text(output, "outcome"))
            infno = output.get("oinfno") or ""
            recorded = OPERATIONS.get(Transaction(infno)) if infno else None
            fingerprint = _optional_text(output, "fingerprint") or ""
            counter_id = _optional_text(output, "counter_id") or ""
        except (ValueError, WireError) as exc:
            raise OutcomeUnknown(f"交易结果查询的应答无效：{exc}", original_msgid) from exc
        result: Any = None
        if state is OutcomeState.APPLIED and recorded is operation:
            result = _parsed(_PARSERS[operation], _object(output, "output"), original_msgid, operation)
        return CallOutcome(
            msgid=original_msgid, state=state, operation=recorded, result=result,
            error_code=str(output.get("err_code") or ""), error_message=str(output.get("err_msg") or ""),
            reversed_by=str(output.get("reversed_by") or ""), fingerprint=fingerprint, counter_id=counter_id,
        )


def _parsed(parse: Callable[[dict[str, Any]], T], output: dict[str, Any], msgid: str, operation: Operation) -> T:
    """A verified reply whose output does not follow the interface is not believed either."""
    try:
        return parse(output)
    except (WireError, KeyError, TypeError, ValueError) as exc:
        detail = exc.message if isinstance(exc, WireError) else f"{type(exc).__name__}: {exc}"
        raise OutcomeUnknown(f"结算中心{operation.label}应答的内容不符合接口：{detail}", msgid) from exc


# --- reading outputs (strict: a field of the wrong type is an error, never guessed) ---------------


def _get(data: Any, key: str) -> Any:
    """A field of an object; a list element that is not an object is refused here (found by tests/fuzz:
    it raised AttributeError, which not even `_parsed` caught)."""
    if not isinstance(data, dict):
        raise WireError(f"{key} 所在的元素应为对象，实际为 {type(data).__name__}")
    return data.get(key)


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = _get(data, key)
    if not isinstance(value, dict):
        raise WireError(f"{key} 应为对象")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = _get(data, key)
    if not isinstance(value, list):
        raise WireError(f"{key} 应为数组")
    return value


def _text(data: dict[str, Any], key: str) -> str:
    value = _get(data, key)
    if not isinstance(value, str):
        raise WireError(f"{key} 应为字符串")
    return value


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = _get(data, key)
    if value is not None and not isinstance(value, str):
        raise WireError(f"{key} 应为字符串或 null")
    return value


def _int(data: dict[str, Any], key: str) -> int:
    value = _get(data, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{key} 应为整数")
    return value


def _bool(data: dict[str, Any], key: str) -> bool:
    value = _get(data, key)
    if not isinstance(value, bool):
        raise WireError(f"{key} 应为 true 或 false")
    return value


def _money(data: dict[str, Any], key: str) -> Decimal:
    return wire.parse_decimal(_get(data, key), key)


def _optional_money(data: dict[str, Any], key: str) -> Decimal | None:
    return None if _get(data, key) is None else _money(data, key)


def _date(data: dict[str, Any], key: str) -> dt.date:
    value = _get(data, key)
    if not isinstance(value, str):
        raise WireError(f"{key} 应为 YYYY-MM-DD 日期")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise WireError(f"{key} 日期格式错误：{value!r}") from exc


def _optional_date(data: dict[str, Any], key: str) -> dt.date | None:
    return None if _get(data, key) is None else _date(data, key)


def _person(output: dict[str, Any]) -> Person:
    person = _object(output, "person")
    place = _object(person, "insured_place")
    insurance = _object(output, "insurance")
    card_data = output.get("card")
    card = None
    if isinstance(card_data, dict):
        card = CardInfo(_text(card_data, "number"), _text(card_data, "issuing_region"),
                        _optional_date(card_data, "valid_until"))
    recognitions = tuple(
        Recognition(_text(r, "decision_no"), _text(r, "kind"), _date(r, "injury_date"), _optional_date(r, "decided_on"),
                    tuple(Diagnosis(_text(d, "code"), _text(d, "name")) for d in _list(r, "diagnoses")))
        for r in _list(output, "recognitions")
    )
    filings = tuple(_filing(f) for f in _list(output, "filings"))
    return Person(
        social_security_number=_text(person, "social_security_number"), name=_text(person, "name"),
        sex=_text(person, "sex"), birth_date=_optional_date(person, "birth_date"), category=_text(person, "category"),
        insured_place=Place(_text(place, "province"), _text(place, "city"), _text(place, "city_code")),
        card=card, insurance_active=_bool(insurance, "active"), contribution_ok=_bool(insurance, "contribution_ok"),
        insurance_status=str(insurance.get("status_text") or ""), profile=_text(output, "profile"),
        recognitions=recognitions, filings=filings,
    )


def _filing(data: dict[str, Any]) -> Filing:
    destination = _object(data, "destination")
    return Filing(
        id=_text(data, "id"), category=_text(data, "category"), care=tuple(str(c) for c in _list(data, "care")),
        destination=Destination(_text(destination, "province"), _text(destination, "city"),
                                _text(destination, "city_code"), _optional_text(destination, "institution_code")),
        approved_on=_date(data, "approved_on"), valid_from=_date(data, "valid_from"),
        valid_to=_optional_date(data, "valid_to"), status=_text(data, "status"),
        terminated_on=_optional_date(data, "terminated_on"), used_by_settlement=_bool(data, "used_by_settlement"),
        filed_on=_date(data, "filed_on"),
    )


def _verdict(data: Any) -> Verdict | None:
    if not isinstance(data, dict):
        return None
    return Verdict(
        stage=_text(data, "stage"), allowed=_bool(data, "allowed"), settlement_kind=str(data.get("settlement_kind") or ""),
        reasons=tuple(Reason(_text(r, "code"), _bool(r, "blocking"), _text(r, "message"), str(r.get("source") or ""))
                      for r in _list(data, "reasons")),
    )


def _admission(output: dict[str, Any]) -> Admission:
    return Admission(_text(output, "registration_no"), _text(output, "settlement_kind"), _verdict(output.get("verdict")))


def _admission_cancellation(output: dict[str, Any]) -> AdmissionCancellation:
    return AdmissionCancellation(_text(output, "registration_no"), _text(output, "status"))


def _fee_receipt(output: dict[str, Any]) -> FeeUploadReceipt:
    return FeeUploadReceipt(
        registration_no=_text(output, "registration_no"), accepted=_int(output, "accepted"),
        duplicates=_int(output, "duplicates"), line_count=_int(output, "line_count"), total=_money(output, "total"),
        lines=tuple(
            FeeLineCheck(_int(line, "seq"), _bool(line, "in_catalogue"), _optional_money(line, "price_limit"),
                         _optional_money(line, "max_pay"), _money(line, "over_limit_amount"),
                         _money(line, "self_pay_amount"), _bool(line, "non_injury"), str(line.get("note") or ""))
            for line in _list(output, "lines")
        ),
    )


def _fee_cancel_receipt(output: dict[str, Any]) -> FeeCancelReceipt:
    cancelled = tuple(int(s) for s in _list(output, "cancelled") if isinstance(s, int) and not isinstance(s, bool))
    return FeeCancelReceipt(_text(output, "registration_no"), cancelled, _int(output, "line_count"),
                            _money(output, "total"))


def _admission_input(request: AdmissionRequest) -> dict[str, Any]:
    return {
        "social_security_number": request.social_security_number,
        "recognition_no": request.recognition_no, "filing_id": request.filing_id, "care": request.care,
        "admission_no": request.admission_no, "dept": request.dept, "admitted": request.admitted.isoformat(),
        "emergency": request.emergency, "third_party_liability": request.third_party_liability,
        "diagnoses": [{"code": d.code, "name": d.name, "injury": d.injury} for d in request.diagnoses],
        # Only when set: an admission without a notice keeps the request (and its fingerprint) it had.
        **({"notice_no": request.notice_no} if request.notice_no is not None else {}),
    }


NOTICE_STATUSES = ("valid", "used", "cancelled")


def _notice_item(item: dict[str, Any]) -> NoticeItem:
    quantity = wire.parse_decimal(_get(item, "quantity"), "quantity")
    if quantity <= 0:
        raise WireError(f"quantity 应大于零，实际为 {quantity}")
    min_years = _int(item, "min_years")
    if min_years < 0:
        raise WireError(f"min_years 不能为负：{min_years}")
    return NoticeItem(_text(item, "code"), _text(item, "name"), quantity, _money(item, "max_pay"), min_years)


def _notice(output: dict[str, Any]) -> DeviceNotice:
    data = _object(output, "notice")
    place = _object(data, "insured_place")
    items = tuple(_within(f"notice.items[{index}]", _notice_item, item)
                  for index, item in enumerate(_objects(data, "items")))
    if not items:
        raise WireError("notice.items 不能为空")
    return DeviceNotice(
        _text(data, "notice_no"), _text(data, "social_security_number"), _text(data, "name"),
        Place(_text(place, "province"), _text(place, "city"), _text(place, "city_code")),
        _date(data, "issued"), _date(data, "valid_until"), _choice(data, "status", NOTICE_STATUSES),
        _optional_text(data, "used_by_settlement"), items)


def _admission_cancel_input(request: AdmissionCancelRequest) -> dict[str, Any]:
    return {"registration_no": request.registration_no, "reason": request.reason}


def _fee_upload_input(upload: FeeUpload) -> dict[str, Any]:
    return {"registration_no": upload.registration_no, "lines": [
        {"seq": line.seq, "code": line.code, "name": line.name, "category": line.category,
         "quantity": wire.decimal_text(line.quantity), "unit_price": wire.decimal_text(line.unit_price),
         "amount": wire.money(line.amount), "date": line.date.isoformat(), "diagnosis": line.diagnosis,
         "injury": line.injury, "refund_of": line.refund_of}
        for line in upload.lines
    ]}


def _fee_cancel_input(request: FeeCancelRequest) -> dict[str, Any]:
    return {"registration_no": request.registration_no,
            "seqs": list(request.seqs) if request.seqs is not None else None}


def _settlement_cancel_input(request: SettlementCancelRequest) -> dict[str, Any]:
    return {"settlement_id": request.settlement_id, "reason": request.reason}


def _claim_chunk_input(chunk: ClaimChunk) -> dict[str, Any]:
    return {"claim_no": chunk.claim_no, "period": chunk.period, "chunk": chunk.chunk, "chunks": chunk.chunks,
            "settlement_ids": list(chunk.settlement_ids)}


def _full_payment_input(request: FullPaymentRegistrationRequest) -> dict[str, Any]:
    return {"registration_no": request.registration_no, "receipt_no": request.receipt_no,
            "paid_in_full": wire.money(request.paid_in_full), "discharged": request.discharged.isoformat()}


def _full_payment(output: dict[str, Any]) -> FullPaymentRegistration:
    return FullPaymentRegistration(_text(output, "registration_no"), _text(output, "receipt_no"),
                                   _money(output, "paid_in_full"), _date(output, "registered"))


DISPUTE_STATUSES = ("received", "upheld", "rejected")


def _dispute_input(request: DisputeRequest) -> dict[str, Any]:
    return {"claim_no": request.claim_no, "settlement_id": request.settlement_id, "seq": request.seq,
            "amount": wire.money(request.amount), "statement": request.statement, "dispute_ref": request.dispute_ref,
            "evidence": [{"name": f.name, "sha256": f.sha256} for f in request.evidence]}


def _dispute_receipt(output: dict[str, Any]) -> DisputeReceipt:
    return DisputeReceipt(_text(output, "dispute_id"), _text(output, "dispute_ref"), _text(output, "claim_no"),
                          _text(output, "settlement_id"), _int(output, "seq"),
                          _choice(output, "status", DISPUTE_STATUSES), _date(output, "received"))


def _dispute_answer(data: dict[str, Any]) -> DisputeAnswer:
    status = _choice(data, "status", DISPUTE_STATUSES)
    answered = _optional_date(data, "answered")
    if (status == "received") != (answered is None):
        raise WireError(f"answered 应{'为空（尚未答复）' if status == 'received' else '为答复日期'}，"
                        f"实际为 {data.get('answered')!r}")
    return DisputeAnswer(_text(data, "dispute_id"), _text(data, "dispute_ref"), _text(data, "settlement_id"),
                         _int(data, "seq"), status, _text(data, "answer"), answered)


def _rehab_plan_input(request: RehabPlanRequest) -> dict[str, Any]:
    return {"registration_no": request.registration_no, "document_no": request.document_no,
            "summary": request.summary, "drawn_up": request.drawn_up.isoformat()}


def _rehab_plan_receipt(output: dict[str, Any]) -> RehabPlanReceipt:
    return RehabPlanReceipt(_text(output, "registration_no"), _text(output, "document_no"),
                            _date(output, "drawn_up"), _date(output, "received"))


def _settlement_input(request: SettlementRequest) -> dict[str, Any]:
    data: dict[str, Any] = {"registration_no": request.registration_no, "discharged": request.discharged.isoformat()}
    if request.settled is not None:
        data["settled"] = request.settled.isoformat()
    if request.expected_total is not None:
        data["expected_total"] = wire.money(request.expected_total)
    return data


def _settlement(output: dict[str, Any]) -> SettlementFigures:
    matrix = {
        bucket: {category: wire.parse_decimal(amount, f"matrix.{bucket}.{category}") for category, amount in row.items()}
        for bucket, row in _object(output, "matrix").items() if isinstance(row, dict)
    }
    return SettlementFigures(
        settlement_id=_optional_text(output, "settlement_id"), registration_no=_text(output, "registration_no"),
        settled=_date(output, "settled"), settlement_kind=_text(output, "settlement_kind"),
        verdict=_verdict(output.get("verdict")), matrix=matrix, total=_money(output, "total"),
        fund_total=_money(output, "fund_total"), personal_total=_money(output, "personal_total"),
        items=_settled_items(_list(output, "items")),
    )


def _settled_items(items: list[Any]) -> tuple[SettledItem, ...]:
    # A stay's 20,000 items repeat few amounts: each distinct text is checked and parsed once.
    money_of: dict[str, Decimal] = {}

    def money(item: dict[str, Any], key: str) -> Decimal:
        value = _get(item, key)
        if type(value) is str:
            parsed = money_of.get(value)
            if parsed is None:
                parsed = money_of[value] = wire.parse_decimal(value, key)
            return parsed
        return wire.parse_decimal(value, key)  # refused, naming the field

    return tuple(SettledItem(_int(i, "seq"), _text(i, "bucket"), money(i, "fund"), money(i, "personal"),
                             str(i.get("reason") or "")) for i in items)


def _settlement_cancellation(output: dict[str, Any]) -> SettlementCancellation:
    return SettlementCancellation(
        _text(output, "settlement_id"), _text(output, "cancellation_id"), _text(output, "registration_no"),
        _money(output, "total"), _money(output, "fund_total"), _money(output, "personal_total"),
    )


CLAIM_STATUSES = ("receiving", "submitted", "audited")
CLAIM_ENTRY_KINDS = ("settlement", "cancellation")


def _within(path: str, parse: Callable[..., T], *args: Any) -> T:
    """`parse(*args)`, with a field it refuses named from the output's top (`entries[2].lines[0].amount`)."""
    try:
        return parse(*args)
    except WireError as exc:
        raise WireError(f"{path}.{exc.message}") from exc


def _objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = _list(data, key)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise WireError(f"{key}[{index}] 应为对象")
    return items


def _ints(data: dict[str, Any], key: str) -> tuple[int, ...]:
    values = _list(data, key)
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int):
            raise WireError(f"{key}[{index}] 应为整数")
    return tuple(values)


def _choice(data: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = _text(data, key)
    if value not in choices:
        raise WireError(f"{key} 只能取 {'、'.join(choices)}，实际为 {value!r}")
    return value


def _claim_receipt(output: dict[str, Any]) -> ClaimReceipt:
    return ClaimReceipt(_text(output, "claim_no"), _int(output, "chunks"), _ints(output, "received_chunks"),
                        _choice(output, "status", CLAIM_STATUSES))


def _claim_line(data: dict[str, Any]) -> ClaimLineDeduction:
    seq = _int(data, "seq")
    if seq < 1:
        raise WireError(f"seq 应为正整数（明细序号），实际为 {seq}")
    return ClaimLineDeduction(seq, _text(data, "code"), _text(data, "name"), _optional_date(data, "date"),
                              _money(data, "amount"), _text(data, "reason"))


def _claim_entry(data: dict[str, Any]) -> ClaimEntryStatus:
    kind = _choice(data, "kind", CLAIM_ENTRY_KINDS)
    lines = tuple(_within(f"lines[{index}]", _claim_line, line)
                  for index, line in enumerate(_objects(data, "lines")))
    cancellation_id = _text(data, "cancellation_id")
    fund_total, deduction = _money(data, "fund_total"), _money(data, "deduction")
    fund_settled = _money(data, "fund_settled")
    if kind == "cancellation":
        if not cancellation_id:
            raise WireError("cancellation_id 更正（kind 为 cancellation）应有撤销记录编号")
        if lines:
            raise WireError("lines 更正（kind 为 cancellation）不应有逐条扣款")
    else:
        if cancellation_id:
            raise WireError(f"cancellation_id 结算（kind 为 settlement）应为空，实际为 {cancellation_id!r}")
        if lines and deduction != sum((line.amount for line in lines), Decimal("0.00")):
            raise WireError(f"deduction {deduction} 不等于逐条扣款（lines）之和")
    if fund_settled != fund_total - deduction:
        raise WireError(f"fund_settled {fund_settled} 不等于 fund_total {fund_total} − deduction {deduction}")
    return ClaimEntryStatus(
        settlement_id=_text(data, "settlement_id"), registration_no=_text(data, "registration_no"),
        name=_text(data, "name"), social_security_number=_text(data, "social_security_number"),
        settlement_kind=_text(data, "settlement_kind"), settled=_date(data, "settled"), total=_money(data, "total"),
        fund_total=fund_total, personal_total=_money(data, "personal_total"), deduction=deduction,
        deduction_reason=_text(data, "deduction_reason"), fund_settled=fund_settled, kind=kind,
        insured_place=_text(data, "insured_place"), admitted=_optional_date(data, "admitted"),
        discharged=_optional_date(data, "discharged"), lines=lines, cancellation_id=cancellation_id,
    )


def _claim_status(output: dict[str, Any]) -> ClaimStatusReport:
    entries = tuple(_within(f"entries[{index}]", _claim_entry, entry)
                    for index, entry in enumerate(_objects(output, "entries")))
    totals = _object(output, "totals")
    count = _within("totals", _int, totals, "count")
    if count != len(entries):
        raise WireError(f"totals.count {count} 不等于 entries 的条数 {len(entries)}")
    for key in ("total", "fund_total", "personal_total", "deduction", "fund_settled"):
        stated = _within("totals", _money, totals, key)
        summed = sum((getattr(entry, key) for entry in entries), Decimal("0.00"))
        if stated != summed:
            raise WireError(f"totals.{key} {stated} 不等于各条之和 {summed}")
    status = _choice(output, "status", CLAIM_STATUSES)
    audited = _optional_date(output, "audited")
    if (status == "audited") != (audited is not None):
        # The dispute window runs from the push (003 §20): an audit without its date cannot be counted.
        raise WireError(f"audited 应{'为审核推送日期' if status == 'audited' else '为空（尚未审核）'}，实际为 "
                        f"{output.get('audited')!r}")
    # Older centres send no `disputes`: none held.
    disputes = tuple(_within(f"disputes[{index}]", _dispute_answer, item)
                     for index, item in enumerate(_objects(output, "disputes") if "disputes" in output else []))
    return ClaimStatusReport(
        _text(output, "claim_no"), _text(output, "period"), status,
        _int(output, "chunks"), _ints(output, "received_chunks"), entries,
        _money(totals, "deduction"), _money(totals, "fund_settled"), audited, disputes,
    )


def _reversal(output: dict[str, Any]) -> ReversalResult:
    infno = _text(output, "oinfno")
    try:
        operation = OPERATIONS[Transaction(infno)]
        outcome = OutcomeState(_text(output, "outcome"))
    except (ValueError, KeyError) as exc:
        raise WireError(f"冲正应答的 oinfno/outcome 无效：{exc}") from exc
    return ReversalResult(_text(output, "omsgid"), operation, outcome, _bool(output, "changed"))


def _catalogue_page(output: dict[str, Any]) -> CataloguePage:
    entries = tuple(
        CatalogueEntry(
            code=_text(e, "code"), name=_text(e, "name"), category=_text(e, "category"), unit=str(e.get("unit") or ""),
            price_limit=_optional_money(e, "price_limit"), max_pay=_optional_money(e, "max_pay"),
            per_day=bool(e.get("per_day", False)),
            min_years=e.get("min_years") if isinstance(e.get("min_years"), int) else None,
            valid=_bool(e, "valid"), version=_int(e, "version"),
        )
        for e in _list(output, "entries")
    )
    return CataloguePage(_int(output, "version"), _int(output, "since_version"), _int(output, "page"),
                         _int(output, "pages"), _int(output, "total"), entries)


def _totals(data: dict[str, Any]) -> Totals:
    return Totals(_int(data, "count"), _money(data, "total"), _money(data, "fund_total"), _money(data, "personal_total"))


def _daily_totals(output: dict[str, Any]) -> DailyTotals:
    # `audit_anchors` is additive: a centre without it holds no anchors.
    anchors = tuple(_audit_anchor(a) for a in _list(output, "audit_anchors")) if "audit_anchors" in output else ()
    return DailyTotals(_date(output, "date"), _totals(_object(output, "settlements")),
                       _totals(_object(output, "cancellations")), _totals(_object(output, "net")), anchors)


def _audit_anchor(data: Any) -> AuditAnchor:
    mac, count = _text(data, "mac"), _int(data, "count")
    if not _HEX64.fullmatch(mac) or count < 1:
        raise WireError("audit_anchors 的 mac 应为 64 位十六进制，count 应为正数")
    return AuditAnchor(_text(data, "counter"), count, mac, str(_get(data, "received") or ""))


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _daily_details(output: dict[str, Any]) -> DailyDetails:
    records = tuple(
        DailyRecord(_text(r, "kind"), _text(r, "msgid"), _text(r, "settlement_id"), str(r.get("cancellation_id") or ""),
                    _text(r, "registration_no"), _text(r, "social_security_number"), _money(r, "total"),
                    _money(r, "fund_total"), _money(r, "personal_total"))
        for r in _list(output, "records")
    )
    return DailyDetails(_date(output, "date"), _int(output, "page"), _int(output, "pages"), _int(output, "total"),
                        records)


def _registration_page(output: dict[str, Any]) -> RegistrationPage:
    records = tuple(
        CentreRegistrationRecord(
            _text(r, "registration_no"), _text(r, "admission_no"), _text(r, "social_security_number"),
            _date(r, "admitted"), _text(r, "status"), _text(r, "registered_at"), _int(r, "line_count"),
            _money(r, "line_total"),
            tuple(CentreSettlementRecord(_text(s, "settlement_id"), _text(s, "status"),
                                         _text(s, "cancellation_id"), _money(s, "total"), _money(s, "fund_total"),
                                         _money(s, "personal_total"), _text(s, "time"))
                  for s in _objects(r, "settlements")))
        for r in _objects(output, "records")
    )
    return RegistrationPage(_int(output, "page"), _int(output, "pages"), _int(output, "total"), records)


# The `input.data` of each state-changing call (reversal: `JsonCentre._reversal_input`), one builder
# for the request sent and for its fingerprint kept in the outbox.
_INPUTS: dict[Operation, Callable[[Any], dict[str, Any]]] = {
    Operation.ADMISSION: _admission_input,
    Operation.ADMISSION_CANCEL: _admission_cancel_input,
    Operation.FEE_UPLOAD: _fee_upload_input,
    Operation.FEE_CANCEL: _fee_cancel_input,
    Operation.SETTLEMENT: _settlement_input,
    Operation.SETTLEMENT_CANCEL: _settlement_cancel_input,
    Operation.FULL_PAYMENT_REGISTRATION: _full_payment_input,
    Operation.CLAIM_UPLOAD: _claim_chunk_input,
    Operation.DEDUCTION_DISPUTE: _dispute_input,
    Operation.REHAB_PLAN: _rehab_plan_input,
}

_PARSERS: dict[Operation, Callable[[dict[str, Any]], Any]] = {
    Operation.ADMISSION: _admission,
    Operation.ADMISSION_CANCEL: _admission_cancellation,
    Operation.FEE_UPLOAD: _fee_receipt,
    Operation.FEE_CANCEL: _fee_cancel_receipt,
    Operation.SETTLEMENT: _settlement,
    Operation.SETTLEMENT_CANCEL: _settlement_cancellation,
    Operation.FULL_PAYMENT_REGISTRATION: _full_payment,
    Operation.CLAIM_UPLOAD: _claim_receipt,
    Operation.DEDUCTION_DISPUTE: _dispute_receipt,
    Operation.REHAB_PLAN: _rehab_plan_receipt,
    Operation.REVERSAL: _reversal,
}


def _claimed_refusal(body: bytes) -> str | None:
    """The err_code a reply that failed verification claims, if it reads as a refusal."""
    try:
        message = wire.decode(body)
    except WireError:
        return None
    if message.get("infcode") == wire.ReplyCode.FAILED.value:
        code = message.get("err_code")
        return code if isinstance(code, str) else None
    return None
