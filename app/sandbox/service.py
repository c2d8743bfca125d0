"""The sandbox centre's transactions: one signed envelope in, one signed envelope out.

No HTTP here (see `server.py`): `SandboxCentre.handle_message` checks the envelope (institution,
signature, shape, time window, msgid not seen before), then runs the transaction and records
its msgid and outcome **in one database transaction**, so a msgid is applied at most once and a
refused call changes nothing (`docs/centre-interface.md` §4, §9). Verdicts and settlements come
from `app.rules` — the same code as the counter's — on a `Case` built from the centre's records.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.centre import wire
from app.sandbox import store
from app.centre.wire import ErrorCode, Outcome, Reply, ReplyCode, Request, Transaction
from app.masking import mask_id_number
from app.rules.case import CARE_KINDS, CATEGORIES, InvalidCase, parse_case, round_money
from app.rules.profiles import load_profile
from app.rules.settlement import compute
from app.rules.verdict import judge

log = logging.getLogger(__name__)

SESSION_HOURS = 12
MAX_PAGE_SIZE = 1000
ZERO = Decimal("0.00")

# Refusals that leave the msgid unrecorded (docs §4): the same msgid may come again.
NOT_RECORDED = frozenset({
    ErrorCode.MALFORMED_REQUEST, ErrorCode.BAD_SIGNATURE, ErrorCode.STALE_REQUEST, ErrorCode.DUPLICATE_MSGID,
    ErrorCode.UNKNOWN_INSTITUTION, ErrorCode.UNKNOWN_TRANSACTION, ErrorCode.BAD_MSGID, ErrorCode.MSGID_VOIDED,
})
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Refusal(Exception):
    """A transaction refused: nothing it did is kept."""

    def __init__(self, code: ErrorCode, detail: str = "", output: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code.value} {detail}")
        self.code = code
        self.detail = detail
        self.output = output or {}

    @property
    def err_msg(self) -> str:
        return f"{self.code.message}：{self.detail}" if self.detail else self.code.message


@dataclass
class Handled:
    """What the server sends back, and whether a transaction was committed (faults act after it)."""

    body: bytes
    infno: Transaction | None
    committed: bool
    reply: Reply


@dataclass
class _Context:
    connection: sqlite3.Connection
    request: Request
    institution: sqlite3.Row
    received: dt.datetime
    effect: dict[str, Any] = field(default_factory=dict)
    counter_id: str = ""  # the calling counter's identity (its session's), "" for a session without one
    terminal_no: str = ""  # its 终端号

    @property
    def today(self) -> dt.date:
        return self.received.date()


def _text(data: dict[str, Any], key: str, *, optional: bool = False, max_length: int = 200) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise Refusal(ErrorCode.MALFORMED_REQUEST, f"input.data.{key} 应为非空字符串")
    return value


def _flag(data: dict[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise Refusal(ErrorCode.MALFORMED_REQUEST, f"input.data.{key} 应为 true 或 false")
    return value


def _integer(data: dict[str, Any], key: str, default: int | None = None, minimum: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Refusal(ErrorCode.MALFORMED_REQUEST, f"input.data.{key} 应为不小于 {minimum} 的整数")
    return value


def _date(data: dict[str, Any], key: str, *, optional: bool = False) -> dt.date | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise Refusal(ErrorCode.MALFORMED_REQUEST, f"input.data.{key} 应为 YYYY-MM-DD 日期")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Refusal(ErrorCode.MALFORMED_REQUEST, f"input.data.{key} 不是有效日期：{value}") from None


def _money_text(value: Decimal) -> str:
    return wire.money(value + 0)  # + 0: a zero is "0.00", never "-0.00"


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _page(data: dict[str, Any]) -> tuple[int, int]:
    page = _integer(data, "page", 1, minimum=1)
    size = _integer(data, "page_size", 500, minimum=1)
    if size > MAX_PAGE_SIZE:
        raise Refusal(ErrorCode.MALFORMED_REQUEST, f"page_size 最大为 {MAX_PAGE_SIZE}")
    return page, size


class SandboxCentre:
    """The centre's logic over its database. Not thread-safe: the server calls it from one thread."""

    def __init__(self, connection: sqlite3.Connection, keys: dict[str, bytes],
                 clock: Callable[[], dt.datetime] = wire.now) -> None:
        self.connection = connection
        self.keys = keys
        self.clock = clock
        self._references = itertools.count(1)
        self._handlers: dict[Transaction, Callable[[_Context], dict[str, Any]]] = {
            Transaction.SIGN_IN: self._sign_in,
            Transaction.SIGN_OUT: self._sign_out,
            Transaction.PERSON_LOOKUP: self._person_lookup,
            Transaction.CATALOGUE_DOWNLOAD: self._catalogue_download,
            Transaction.NOTICE_QUERY: self._notice_query,
            Transaction.ADMISSION: self._admission,
            Transaction.ADMISSION_CANCEL: self._admission_cancel,
            Transaction.FEE_UPLOAD: self._fee_upload,
            Transaction.FEE_CANCEL: self._fee_cancel,
            Transaction.PRE_SETTLEMENT: self._pre_settlement,
            Transaction.SETTLEMENT: self._settlement,
            Transaction.SETTLEMENT_CANCEL: self._settlement_cancel,
            Transaction.FULL_PAYMENT_REGISTRATION: self._full_payment_registration,
            Transaction.REVERSAL: self._reversal,
            Transaction.OUTCOME_QUERY: self._outcome_query,
            Transaction.CLAIM_UPLOAD: self._claim_upload,
            Transaction.CLAIM_STATUS: self._claim_status,
            Transaction.DEDUCTION_DISPUTE: self._deduction_dispute,
            Transaction.REHAB_PLAN: self._rehab_plan,
            Transaction.RECONCILE_TOTALS: self._reconcile_totals,
            Transaction.RECONCILE_DETAILS: self._reconcile_details,
            Transaction.REGISTRATION_QUERY: self._registration_query,
        }

    # --- the envelope ------------------------------------------------------------------

    def _reference(self, received: dt.datetime) -> str:
        return f"R{received:%Y%m%d%H%M%S}{os.getpid() % 100000:05d}{next(self._references):08d}"

    def _answer(self, msgid: str, received: dt.datetime, key: bytes | None, *, output: dict[str, Any] | None = None,
                refusal: Refusal | None = None, infno: Transaction | None = None, committed: bool = False,
                reference: str | None = None) -> Handled:
        reply = Reply(
            infcode=ReplyCode.FAILED if refusal else ReplyCode.OK,
            msgid=msgid,
            inf_refmsgid=reference or self._reference(received),
            refmsg_time=received,
            respond_time=self.clock(),
            output=(refusal.output if refusal else output) or {},
            err_code=refusal.code if refusal else None,
            err_msg=refusal.err_msg if refusal else "",
        )
        return Handled(reply.to_bytes(key), infno, committed, reply)

    def handle_body(self, body: bytes, error_fault: Callable[[Transaction], ErrorCode | None] | None = None) -> Handled:
        received = self.clock()
        try:
            message = wire.decode(body)
        except wire.WireError as exc:
            return self._answer("", received, None, refusal=Refusal(exc.code, exc.message))
        return self.handle_message(message, error_fault, received)

    def handle_message(self, message: dict[str, Any],
                       error_fault: Callable[[Transaction], ErrorCode | None] | None = None,
                       received: dt.datetime | None = None) -> Handled:
        received = received or self.clock()
        raw_msgid = message.get("msgid")
        msgid = raw_msgid if isinstance(raw_msgid, str) else ""
        code = message.get("fixmedins_code")
        institution = None
        if isinstance(code, str):
            institution = self.connection.execute("SELECT * FROM institution WHERE code = ?", (code,)).fetchone()
        key = self.keys.get(code) if isinstance(code, str) and institution is not None else None
        if key is None or institution is None:
            return self._answer(msgid, received, None, refusal=Refusal(ErrorCode.UNKNOWN_INSTITUTION, repr(code)))
        if not wire.signature_valid(message, key):
            log.warning("refused a request with a bad signature (msgid %s)", msgid)
            return self._answer(msgid, received, key, refusal=Refusal(ErrorCode.BAD_SIGNATURE))
        try:
            request = wire.parse_request(message)
            if request.version != wire.PROTOCOL_VERSION:
                raise wire.WireError(f"接口版本 {request.version} 不受支持，应为 {wire.PROTOCOL_VERSION}")
            if request.receiver != wire.RECEIVER_SYSTEM:
                raise wire.WireError(f"接收方系统编码应为 {wire.RECEIVER_SYSTEM}")
        except wire.WireError as exc:
            return self._answer(msgid, received, key, refusal=Refusal(exc.code, exc.message))
        skew = abs((received - request.inf_time).total_seconds())
        if skew > wire.CLOCK_SKEW_SECONDS:
            return self._answer(msgid, received, key, infno=request.infno, refusal=Refusal(
                ErrorCode.STALE_REQUEST, f"报文时间 {wire.format_time(request.inf_time)}，中心时间 {wire.format_time(received)}"))
        return self._execute(_Context(self.connection, request, institution, received), key, error_fault)

    def _execute(self, context: _Context, key: bytes,
                 error_fault: Callable[[Transaction], ErrorCode | None] | None) -> Handled:
        request = context.request
        connection = self.connection
        reference = self._reference(context.received)
        refusal: Refusal | None = None
        output: dict[str, Any] = {}
        connection.execute("BEGIN IMMEDIATE")
        try:
            seen = connection.execute("SELECT outcome FROM call WHERE msgid = ?", (request.msgid,)).fetchone()
            if seen is not None:
                code = ErrorCode.MSGID_VOIDED if seen["outcome"] == Outcome.VOIDED.value else ErrorCode.DUPLICATE_MSGID
                raise Refusal(code, request.msgid)
            connection.execute("SAVEPOINT work")
            try:
                if request.infno is not Transaction.SIGN_IN:
                    self._require_session(context)
                    self._require_own_terminal(context)
                injected = error_fault(request.infno) if error_fault else None
                if injected is not None:
                    raise Refusal(injected, "（沙箱故障注入）")
                output = self._handlers[request.infno](context)
            except Refusal as exc:
                connection.execute("ROLLBACK TO work")
                refusal = exc
            except Exception:
                log.exception("sandbox centre: transaction %s failed", request.infno.value)
                connection.execute("ROLLBACK TO work")
                refusal = Refusal(ErrorCode.INTERNAL_ERROR)
            connection.execute("RELEASE work")
            if refusal is not None and refusal.code in NOT_RECORDED:
                raise refusal
            self._record(context, reference, output, refusal)
        except Refusal as exc:
            connection.execute("ROLLBACK")
            return self._answer(request.msgid, context.received, key, refusal=exc, infno=request.infno,
                                reference=reference)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return self._answer(request.msgid, context.received, key, output=output, refusal=refusal,
                            infno=request.infno, committed=refusal is None, reference=reference)

    def _record(self, context: _Context, reference: str, output: dict[str, Any], refusal: Refusal | None) -> None:
        request = context.request
        context.connection.execute(
            "INSERT INTO call (msgid, institution, infno, outcome, err_code, err_msg, output, effect, refmsgid, "
            "received_at, operator, fingerprint, counter_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (request.msgid, request.caller.institution_code, request.infno.value,
             (Outcome.FAILED if refusal else Outcome.APPLIED).value,
             refusal.code.value if refusal else "", refusal.err_msg if refusal else "",
             # kept for 5101: the output of a state-changing call that was applied
             json.dumps(output, ensure_ascii=False) if request.infno.changes_state and not refusal else "{}",
             json.dumps(context.effect), reference, wire.format_time(context.received), request.caller.operator_code,
             # decoded by `decode` (floats refused), as `signature_valid` took it: not walked again
             wire.request_fingerprint(request.data, checked=True), context.counter_id))

    def _require_session(self, context: _Context) -> None:
        row = context.connection.execute(
            "SELECT expires_at, counter_id, terminal_no FROM session WHERE sign_no = ? AND institution = ? AND ended = 0",
            (context.request.sign_no, context.request.caller.institution_code)).fetchone()
        if row is None or wire.parse_time(row["expires_at"], "expires_at") <= context.received:
            raise Refusal(ErrorCode.NOT_SIGNED_IN)
        context.counter_id = row["counter_id"]
        context.terminal_no = row["terminal_no"]

    @staticmethod
    def _require_own_terminal(context: _Context) -> None:
        """A registered counter's msgids carry its own 终端号 (or "00"): never another counter's."""
        terminal = wire.msgid_terminal(context.request.msgid)
        if context.terminal_no and terminal not in (context.terminal_no, wire.UNREGISTERED_TERMINAL):
            raise Refusal(ErrorCode.BAD_MSGID, f"报文编号中的终端号 {terminal} 不是本终端的 {context.terminal_no}")

    # --- sign in / out ------------------------------------------------------------------

    def _sign_in(self, context: _Context) -> dict[str, Any]:
        counter_id = _text(context.request.data, "counter_id", optional=True, max_length=64) or ""
        if counter_id and not wire.COUNTER_ID.fullmatch(counter_id):
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "counter_id 应为 16 至 64 位小写十六进制")
        terminal_no = self._terminal(context, counter_id) if counter_id else ""
        number = store.next_number(context.connection, "session")
        sign_no = f"SN{context.received:%Y%m%d}{number:010d}"
        expires = context.received + dt.timedelta(hours=SESSION_HOURS)
        context.connection.execute(
            "INSERT INTO session (sign_no, institution, operator, signed_in_at, expires_at, counter_id, terminal_no) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sign_no, context.request.caller.institution_code, context.request.caller.operator_code,
             wire.format_time(context.received), wire.format_time(expires), counter_id, terminal_no))
        context.counter_id = counter_id
        output = {"sign_no": sign_no, "signed_in_at": wire.format_time(context.received),
                  "expires_at": wire.format_time(expires)}
        if counter_id:
            output["terminal_no"] = terminal_no
        return output

    def _terminal(self, context: _Context, counter_id: str) -> str:
        """The 终端号 of `counter_id` in its institution: kept for good once given; 01–99."""
        institution = context.institution["code"]
        row = context.connection.execute("SELECT terminal_no FROM terminal WHERE institution = ? AND counter_id = ?",
                                         (institution, counter_id)).fetchone()
        if row is not None:
            return str(row["terminal_no"])
        taken = {r[0] for r in context.connection.execute("SELECT terminal_no FROM terminal WHERE institution = ?",
                                                          (institution,))}
        free = next((f"{n:02d}" for n in range(1, wire.SLOTS_PER_SECOND) if f"{n:02d}" not in taken), None)
        if free is None:
            raise Refusal(ErrorCode.CENTRE_BUSY, "本机构的终端号已用完（最多 99 个），请联系结算中心注销不用的终端")
        context.connection.execute(
            "INSERT INTO terminal (institution, counter_id, terminal_no, registered_at) VALUES (?, ?, ?, ?)",
            (institution, counter_id, free, wire.format_time(context.received)))
        return free

    def _sign_out(self, context: _Context) -> dict[str, Any]:
        context.connection.execute("UPDATE session SET ended = 1 WHERE sign_no = ?", (context.request.sign_no,))
        return {"signed_out": True}

    # --- people -------------------------------------------------------------------------

    def _person_lookup(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        by = data.get("by")
        value = _text(data, "value", max_length=100)
        connection = context.connection
        card = None
        if by == "social_security_number":
            ssn = value
        elif by == "card":
            card = connection.execute("SELECT * FROM card WHERE number = ?", (value,)).fetchone()
            if card is None:
                raise Refusal(ErrorCode.CARD_INVALID, f"卡号 {value} 未登记")
            if dt.date.fromisoformat(card["valid_until"]) < context.today:
                raise Refusal(ErrorCode.CARD_INVALID, f"卡号 {value} 已于 {card['valid_until']} 过期，请按社会保障号码查询")
            identifier = data.get("card_identifier")
            if identifier is not None:
                # 卡识别码: 32 hex characters, the first 6 the issuing region (CARD.md, EF05 01)
                if not isinstance(identifier, str) or not re.fullmatch(r"[0-9A-Fa-f]{32}", identifier):
                    raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.card_identifier 应为 32 位十六进制字符")
                if identifier[:6] != card["issuing_region"]:
                    raise Refusal(ErrorCode.CARD_INVALID,
                                  f"卡识别码的发卡地区 {identifier[:6]} 与卡号 {value} 的发卡地区 {card['issuing_region']} 不符")
            ssn = card["ssn"]
        elif by == "ecard_token":
            token = connection.execute("SELECT * FROM ecard_token WHERE token = ?", (value,)).fetchone()
            if token is None or (token["valid_until"] and wire.parse_time(token["valid_until"], "valid_until")
                                 < context.received):
                raise Refusal(ErrorCode.ECARD_TOKEN_INVALID)
            ssn = token["ssn"]
        else:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.by 应为 social_security_number、card 或 ecard_token")
        person = connection.execute("SELECT * FROM person WHERE ssn = ?", (ssn,)).fetchone()
        if person is None:
            raise Refusal(ErrorCode.PERSON_NOT_FOUND, mask_id_number(ssn))
        if card is None:
            card = connection.execute("SELECT * FROM card WHERE ssn = ? ORDER BY valid_until DESC", (ssn,)).fetchone()
        recognitions = connection.execute(
            "SELECT * FROM recognition WHERE ssn = ? ORDER BY decided_on DESC, decision_no DESC", (ssn,)).fetchall()
        filings = connection.execute(
            "SELECT * FROM filing WHERE ssn = ? ORDER BY filed_on DESC, id DESC", (ssn,)).fetchall()
        return {
            "person": _person_json(person),
            "card": None if card is None else {"number": card["number"], "issuing_region": card["issuing_region"],
                                               "valid_until": card["valid_until"]},
            "insurance": {"active": bool(person["insurance_active"]), "contribution_ok": bool(person["contribution_ok"]),
                          "status_text": person["status_text"]},
            "profile": person["profile"],
            "recognitions": [_recognition_json(row) for row in recognitions],
            "filings": [_filing_json(row) for row in filings],
        }

    # --- catalogue ----------------------------------------------------------------------

    def _catalogue_download(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        since = _integer(data, "since_version", 0)
        page, size = _page(data)
        connection = context.connection
        version = int(store.get_meta(connection, "catalogue_version") or 0)
        total = connection.execute("SELECT count(*) FROM catalogue WHERE version > ?", (since,)).fetchone()[0]
        rows = connection.execute("SELECT * FROM catalogue WHERE version > ? ORDER BY code LIMIT ? OFFSET ?",
                                  (since, size, (page - 1) * size)).fetchall()
        return {
            "version": version, "since_version": since, "page": page, "pages": max(1, -(-total // size)),
            "total": total,
            "entries": [{"code": r["code"], "name": r["name"], "category": r["category"], "unit": r["unit"],
                         "price_limit": r["price_limit"], "max_pay": r["max_pay"], "per_day": bool(r["per_day"]),
                         "min_years": r["min_years"], "valid": bool(r["valid"]), "version": r["version"]}
                        for r in rows],
        }

    # --- admission ----------------------------------------------------------------------

    def _admission(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        connection = context.connection
        ssn = _text(data, "social_security_number", max_length=18)
        person = connection.execute("SELECT * FROM person WHERE ssn = ?", (ssn,)).fetchone()
        if person is None:
            raise Refusal(ErrorCode.PERSON_NOT_FOUND, mask_id_number(ssn))
        care = data.get("care")
        if care not in CARE_KINDS:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, f"input.data.care 只能取 {'、'.join(CARE_KINDS)}")
        admitted = _date(data, "admitted")
        diagnoses = data.get("diagnoses", [])
        if not isinstance(diagnoses, list):
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.diagnoses 应为数组")
        code = context.institution["code"]
        open_row = connection.execute(
            "SELECT registration_no FROM registration WHERE ssn = ? AND institution = ? AND status = 'open'",
            (ssn, code)).fetchone()
        if open_row is not None:
            raise Refusal(ErrorCode.REGISTRATION_STATE, f"该参保人在本机构已有未结算的就医登记 {open_row[0]}")
        recognition_no = _text(data, "recognition_no", optional=True)
        if recognition_no is None:
            row = connection.execute("SELECT decision_no FROM recognition WHERE ssn = ? ORDER BY decided_on DESC, "
                                     "decision_no DESC", (ssn,)).fetchone()
            recognition_no = row[0] if row else None
        elif connection.execute("SELECT 1 FROM recognition WHERE decision_no = ? AND ssn = ?",
                                (recognition_no, ssn)).fetchone() is None:
            raise Refusal(ErrorCode.NOT_ELIGIBLE, f"认定书 {recognition_no} 不属于此参保人")
        filing_id = _text(data, "filing_id", optional=True)
        if filing_id is not None and connection.execute(
                "SELECT 1 FROM filing WHERE id = ? AND ssn = ?", (filing_id, ssn)).fetchone() is None:
            raise Refusal(ErrorCode.NOT_ELIGIBLE, f"备案 {filing_id} 不属于此参保人")
        registration = {
            "registration_no": None, "institution": code, "ssn": ssn, "recognition_no": recognition_no,
            "filing_id": filing_id, "care": care, "admission_no": data.get("admission_no") or "",
            "dept": data.get("dept") or "", "admitted": admitted.isoformat() if admitted else "",
            "emergency": int(_flag(data, "emergency")), "third_party": int(_flag(data, "third_party_liability")),
            "diagnoses": json.dumps(diagnoses, ensure_ascii=False), "profile": person["profile"],
        }
        if not isinstance(registration["admission_no"], str) or not isinstance(registration["dept"], str):
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.admission_no / dept 应为字符串")
        notice_no = _text(data, "notice_no", optional=True, max_length=40)
        if notice_no is not None:
            if care != "device":
                raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.notice_no 只用于辅助器具配置（care 为 device）")
            assert admitted is not None
            # 001 §34, 002 经办规程 §18, 000 §30: the notice checked before fitting.
            self._usable_notice(connection, notice_no, ssn, admitted)
        case = self._case(connection, registration, "admission", None, None, [])
        verdict = judge(case, "admission")
        if not verdict.allowed:
            raise Refusal(ErrorCode.NOT_ELIGIBLE, "；".join(r.message for r in verdict.reasons if r.blocking),
                          {"verdict": verdict.as_json()})
        number = store.next_number(connection, "registration")
        registration_no = f"ZY{context.institution['city_code']}{context.received:%Y%m%d}{number:06d}"
        registration["registration_no"] = registration_no
        registration["filing_id"] = case.filing.id if case.filing else None
        connection.execute(
            "INSERT INTO registration (registration_no, institution, ssn, recognition_no, filing_id, care, admission_no, "
            "dept, admitted, emergency, third_party, diagnoses, profile, status, msgid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)",
            (registration_no, code, ssn, recognition_no, registration["filing_id"], care,
             registration["admission_no"], registration["dept"], registration["admitted"], registration["emergency"],
             registration["third_party"], registration["diagnoses"], person["profile"], context.request.msgid))
        if notice_no is not None:
            connection.execute("INSERT INTO registration_notice (registration_no, notice_no) VALUES (?, ?)",
                               (registration_no, notice_no))
        context.effect = {"registration_no": registration_no}
        return {"registration_no": registration_no, "settlement_kind": verdict.settlement_kind,
                "verdict": verdict.as_json()}

    # --- 配置费用核付通知单 (001 §34, 002 经办规程 §18, 000 §30) ----------------------------

    def _notice_query(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        notice_no = _text(data, "notice_no", max_length=40)
        ssn = _text(data, "social_security_number", optional=True, max_length=18)
        notice = self._notice_row(context.connection, notice_no, ssn)
        return {"notice": _notice_json(context.connection, notice)}

    @staticmethod
    def _notice_row(connection: sqlite3.Connection, notice_no: str, ssn: str | None) -> sqlite3.Row:
        row = connection.execute("SELECT * FROM notice WHERE notice_no = ?", (notice_no,)).fetchone()
        if row is None:
            raise Refusal(ErrorCode.NOTICE_NOT_FOUND, notice_no)
        if ssn is not None and row["ssn"] != ssn:
            raise Refusal(ErrorCode.NOTICE_INVALID, f"通知单 {notice_no} 不是参保人 {mask_id_number(ssn)} 的")
        return row

    def _usable_notice(self, connection: sqlite3.Connection, notice_no: str, ssn: str, fitted: dt.date) -> sqlite3.Row:
        row = self._notice_row(connection, notice_no, ssn)
        if row["status"] == "used":
            raise Refusal(ErrorCode.NOTICE_USED, f"通知单 {notice_no} 已用于结算 {row['used_by']}")
        if row["status"] != "valid":
            raise Refusal(ErrorCode.NOTICE_INVALID, f"通知单 {notice_no} 已作废")
        if not row["issued"] <= fitted.isoformat() <= row["valid_until"]:
            raise Refusal(ErrorCode.NOTICE_INVALID, f"通知单 {notice_no} 有效期 {row['issued']} 至 {row['valid_until']}，"
                          f"配置日期 {fitted} 不在其内")
        return row

    @staticmethod
    def _registration_notice(connection: sqlite3.Connection, registration_no: str | None) -> sqlite3.Row | None:
        if not registration_no:
            return None
        return connection.execute("SELECT n.* FROM registration_notice r JOIN notice n ON n.notice_no = r.notice_no "
                                  "WHERE r.registration_no = ?", (registration_no,)).fetchone()

    def _notice_covers(self, connection: sqlite3.Connection, notice: sqlite3.Row, registration: sqlite3.Row) -> None:
        """At settlement: the notice still unused, and every fitted device on it within its quantity."""
        if notice["status"] == "used":
            raise Refusal(ErrorCode.NOTICE_USED, f"通知单 {notice['notice_no']} 已用于结算 {notice['used_by']}")
        if notice["status"] != "valid":
            raise Refusal(ErrorCode.NOTICE_INVALID, f"通知单 {notice['notice_no']} 已作废")
        approved = {item["code"]: Decimal(item["quantity"]) for item in json.loads(notice["items"])}
        fitted: dict[str, Decimal] = {}
        for line in self._live_lines(connection, registration["registration_no"]):
            if line["category"] == "device":
                fitted[line["code"]] = fitted.get(line["code"], Decimal(0)) + Decimal(line["quantity"])
        problems = [f"{code} 不在通知单上" for code in sorted(fitted) if code not in approved]
        problems += [f"{code} 配置 {fitted[code].normalize()}，通知单核准 {approved[code].normalize()}"
                     for code in sorted(fitted) if code in approved and fitted[code] > approved[code]]
        if problems:
            raise Refusal(ErrorCode.NOTICE_INVALID, f"通知单 {notice['notice_no']}：" + "；".join(problems))

    def _registration(self, context: _Context, registration_no: Any, *states: str) -> sqlite3.Row:
        if not isinstance(registration_no, str):
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.registration_no 应为字符串")
        row = context.connection.execute("SELECT * FROM registration WHERE registration_no = ? AND institution = ?",
                                         (registration_no, context.institution["code"])).fetchone()
        if row is None:
            raise Refusal(ErrorCode.REGISTRATION_NOT_FOUND, registration_no)
        if states and row["status"] not in states:
            raise Refusal(ErrorCode.REGISTRATION_STATE, f"就医登记 {registration_no} 当前状态：{_STATUS_LABELS[row['status']]}")
        return row

    def _admission_cancel(self, context: _Context) -> dict[str, Any]:
        registration = self._registration(context, context.request.data.get("registration_no"), "open")
        context.connection.execute("UPDATE registration SET status = 'cancelled' WHERE registration_no = ?",
                                   (registration["registration_no"],))
        context.effect = {"registration_no": registration["registration_no"]}
        return {"registration_no": registration["registration_no"], "status": "cancelled"}

    # --- fee lines ----------------------------------------------------------------------

    def _live_lines(self, connection: sqlite3.Connection, registration_no: str) -> list[sqlite3.Row]:
        return connection.execute("SELECT * FROM fee_line WHERE registration_no = ? AND live = 1 ORDER BY seq",
                                  (registration_no,)).fetchall()

    def _line_totals(self, connection: sqlite3.Connection, registration_no: str) -> dict[str, Any]:
        # integer fen, so that SQLite sums exactly
        count, fen = connection.execute("SELECT count(*), coalesce(sum(amount_fen), 0) FROM fee_line "
                                        "WHERE registration_no = ? AND live = 1", (registration_no,)).fetchone()
        return {"line_count": count, "total": _money_text(Decimal(fen) / 100)}

    def _fee_upload(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        connection = context.connection
        registration = self._registration(context, data.get("registration_no"), "open")
        registration_no = registration["registration_no"]
        lines = data.get("lines")
        if not isinstance(lines, list) or not lines:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.lines 应为非空数组")
        if len(lines) > wire.MAX_FEE_LINES_PER_CALL:
            raise Refusal(ErrorCode.TOO_MANY_LINES, f"本次 {len(lines)} 条")
        problems: list[dict[str, Any]] = []
        parsed = [_parse_line(raw, index, problems) for index, raw in enumerate(lines)]
        seqs = [line["seq"] for line in parsed if line is not None]
        for index, parsed_line in enumerate(parsed):
            if parsed_line is not None and parsed_line["date"] < registration["admitted"]:
                problems.append({"seq": parsed_line["seq"], "path": f"$.lines[{index}].date",
                                 "message": f"seq {parsed_line['seq']}：费用日期 {parsed_line['date']} 早于入院日期 "
                                            f"{registration['admitted']}"})
        for seq in sorted({s for s in seqs if seqs.count(s) > 1}):
            problems.append({"seq": seq, "path": "$.lines", "message": f"seq {seq} 在本次上传中重复"})
        if problems:
            raise Refusal(ErrorCode.LINE_INVALID, problems[0]["message"], {"problems": problems})
        new_lines = [line for line in parsed if line is not None]
        existing = {row["seq"]: row for row in connection.execute(
            f"SELECT * FROM fee_line WHERE registration_no = ? AND live = 1 AND seq IN ({','.join('?' * len(seqs))})",
            (registration_no, *seqs)).fetchall()}
        duplicates = 0
        to_insert = []
        for line in new_lines:
            old = existing.get(line["seq"])
            if old is None:
                to_insert.append(line)
            elif _same_line(old, line):
                duplicates += 1
            else:
                raise Refusal(ErrorCode.LINE_CONFLICT, f"seq {line['seq']}")
        self._check_refunds(connection, registration_no, to_insert, problems)
        if problems:
            raise Refusal(ErrorCode.LINE_INVALID, problems[0]["message"], {"problems": problems})
        ids = []
        for line in to_insert:
            cursor = connection.execute(
                "INSERT INTO fee_line (registration_no, seq, code, name, category, quantity, unit_price, amount, "
                "amount_fen, date, diagnosis, injury, refund_of, live, msgid) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (registration_no, line["seq"], line["code"], line["name"], line["category"], line["quantity"],
                 line["unit_price"], line["amount"], int(Decimal(line["amount"]) * 100), line["date"],
                 line["diagnosis"],
                 None if line["injury"] is None else int(line["injury"]), line["refund_of"], context.request.msgid))
            ids.append(cursor.lastrowid)
        context.effect = {"registration_no": registration_no, "line_ids": ids}
        catalogue = self._catalogue_rows(connection, {line["code"] for line in new_lines})
        return {"registration_no": registration_no, "accepted": len(to_insert), "duplicates": duplicates,
                **self._line_totals(connection, registration_no),
                "lines": [_line_reply(line, catalogue.get(line["code"])) for line in new_lines]}

    def _check_refunds(self, connection: sqlite3.Connection, registration_no: str, lines: list[dict[str, Any]],
                       problems: list[dict[str, Any]]) -> None:
        refunds = [line for line in lines if line["refund_of"] is not None]
        if not refunds:
            return
        live = {row["seq"]: row for row in self._live_lines(connection, registration_no)}
        incoming = {line["seq"]: line for line in lines}
        net: dict[int, Decimal] = {}
        for row in live.values():
            if row["refund_of"] is not None:
                net[row["refund_of"]] = net.get(row["refund_of"], Decimal(0)) + Decimal(row["quantity"])
        for line in sorted(refunds, key=lambda item: item["seq"]):
            target = line["refund_of"]
            original: Any = incoming.get(target) or live.get(target)
            where = f"seq {line['seq']}"
            if original is None:
                problems.append({"seq": line["seq"], "path": "refund_of", "message": f"{where}：退费指向的原明细 seq {target} 不存在"})
            elif original["refund_of"] is not None:
                problems.append({"seq": line["seq"], "path": "refund_of", "message": f"{where}：退费应指向原明细，seq {target} 本身是退费"})
            elif original["code"] != line["code"]:
                problems.append({"seq": line["seq"], "path": "refund_of", "message": f"{where}：退费项目编码与原明细 seq {target} 不同"})
            elif target >= line["seq"]:
                problems.append({"seq": line["seq"], "path": "refund_of", "message": f"{where}：退费应指向在它之前的明细"})
            else:
                net[target] = net.get(target, Decimal(0)) + Decimal(line["quantity"])
                if Decimal(original["quantity"]) + net[target] < 0:
                    problems.append({"seq": line["seq"], "path": "quantity",
                                     "message": f"{where}：退费后原明细 seq {target} 的净数量小于零"})

    def _catalogue_rows(self, connection: sqlite3.Connection, codes: set[str]) -> dict[str, sqlite3.Row]:
        found: dict[str, sqlite3.Row] = {}
        ordered = sorted(codes)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            for row in connection.execute(
                    f"SELECT * FROM catalogue WHERE valid = 1 AND code IN ({','.join('?' * len(chunk))})", chunk):
                found[row["code"]] = row
        return found

    def _fee_cancel(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        connection = context.connection
        registration = self._registration(context, data.get("registration_no"), "open")
        registration_no = registration["registration_no"]
        live = {row["seq"]: row for row in self._live_lines(connection, registration_no)}
        seqs = data.get("seqs")
        if seqs is None:
            chosen = sorted(live)
        elif isinstance(seqs, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in seqs) and seqs:
            chosen = sorted(set(seqs))
            missing = [s for s in chosen if s not in live]
            if missing:
                raise Refusal(ErrorCode.LINE_INVALID, f"明细 seq {missing} 不存在或已撤销")
        else:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.seqs 应为非空整数数组或 null")
        chosen_set = set(chosen)
        for row in live.values():
            if row["refund_of"] in chosen_set and row["seq"] not in chosen_set:
                raise Refusal(ErrorCode.LINE_INVALID,
                              f"原明细 seq {row['refund_of']} 有退费明细 seq {row['seq']}，请先撤销退费或一并撤销")
        ids = [live[seq]["id"] for seq in chosen]
        connection.executemany("UPDATE fee_line SET live = 0, cancel_msgid = ? WHERE id = ?",
                               [(context.request.msgid, line_id) for line_id in ids])
        context.effect = {"registration_no": registration_no, "line_ids": ids}
        return {"registration_no": registration_no, "cancelled": chosen, **self._line_totals(connection, registration_no)}

    # --- settlement ---------------------------------------------------------------------

    def _case(self, connection: sqlite3.Connection, registration: Any, stage: str, discharged: dt.date | None,
              settled: dt.date | None, lines: list[sqlite3.Row]) -> Any:
        """A `Case` of the rules from the centre's records (the rules judge; the centre stores)."""
        institution = connection.execute("SELECT * FROM institution WHERE code = ?",
                                         (registration["institution"],)).fetchone()
        person = connection.execute("SELECT * FROM person WHERE ssn = ?", (registration["ssn"],)).fetchone()
        recognition = None
        if registration["recognition_no"]:
            recognition = connection.execute("SELECT * FROM recognition WHERE decision_no = ?",
                                             (registration["recognition_no"],)).fetchone()
        filing = None
        if registration["filing_id"]:
            filing = connection.execute("SELECT * FROM filing WHERE id = ?", (registration["filing_id"],)).fetchone()
        else:
            # The newest filing naming this city (a Jilin emergency stay may have been back-filed since);
            # else the newest one at all, so that the verdict says why it does not apply here.
            filing = connection.execute(
                "SELECT * FROM filing WHERE ssn = ? ORDER BY dest_city_code = ? DESC, status = 'active' DESC, "
                "filed_on DESC, id DESC", (registration["ssn"], institution["city_code"])).fetchone()
        codes = {line["code"] for line in lines}
        catalogue = self._catalogue_rows(connection, codes)
        entries = [_catalogue_case_json(row) for row in catalogue.values()]
        notice = self._registration_notice(connection, registration["registration_no"])
        if notice is not None:
            # Devices are paid by the insured place's catalogue and limits, as its notice states them
            # (000 §29, 001 §15), not by this city's catalogue.
            limits = {item["code"]: item["max_pay"] for item in json.loads(notice["items"])}
            entries = [{**entry, "max_pay": limits[entry["code"]]} if entry["code"] in limits else entry
                       for entry in entries]
        document = {
            "format": "wi-counter-case/1",
            "profile": registration["profile"],
            "institution": {"code": institution["code"], "name": institution["name"],
                            "province": institution["province"], "city": institution["city"],
                            "city_code": institution["city_code"], "level": institution["level"],
                            "direct_settlement": bool(institution["direct_settlement"])},
            "worker": {"name": person["name"], "sex": person["sex"], "id_number": person["ssn"],
                       "category": person["category"],
                       "insured_place": {"province": person["insured_province"], "city": person["insured_city"],
                                         "city_code": person["insured_city_code"]},
                       "insurance_active": bool(person["insurance_active"]),
                       "contribution_ok": bool(person["contribution_ok"])},
            "recognition": None if recognition is None else {
                "decision_no": recognition["decision_no"], "injury_date": recognition["injury_date"],
                "diagnoses": json.loads(recognition["diagnoses"])},
            "filing": None if filing is None else _filing_case_json(filing),
            "stay": {"care": registration["care"], "admission_no": registration["admission_no"] or "-",
                     "dept": registration["dept"] or "-", "registration_no": registration["registration_no"],
                     "admitted": registration["admitted"],
                     "discharged": discharged.isoformat() if discharged else None,
                     "settled": settled.isoformat() if settled else None,
                     "emergency": bool(registration["emergency"]),
                     "third_party_liability": bool(registration["third_party"]),
                     "diagnoses": json.loads(registration["diagnoses"])},
            "catalogue": entries,
            "items": [{"seq": line["seq"], "code": line["code"], "name": line["name"], "category": line["category"],
                       "quantity": line["quantity"], "unit_price": line["unit_price"], "amount": line["amount"],
                       "diagnosis": line["diagnosis"],
                       "injury": None if line["injury"] is None else bool(line["injury"]),
                       "refund_of": line["refund_of"], "date": line["date"]} for line in lines],
        }
        try:
            return parse_case(document)
        except InvalidCase as exc:
            problems = [p.as_json() for p in exc.problems]
            on_lines = all(p["path"].startswith("$.items") for p in problems)
            raise Refusal(ErrorCode.LINE_INVALID if on_lines and lines else ErrorCode.MALFORMED_REQUEST,
                          "；".join(f"{p['path']}: {p['message']}" for p in problems[:5]),
                          {"problems": problems}) from None

    def _settle(self, context: _Context) -> tuple[sqlite3.Row, Any, dict[str, Any], dt.date, dt.date]:
        data = context.request.data
        connection = context.connection
        registration = self._registration(context, data.get("registration_no"), "open")
        discharged = _date(data, "discharged")
        settled = _date(data, "settled", optional=True) or context.today
        assert discharged is not None
        lines = self._live_lines(connection, registration["registration_no"])
        if not lines:
            raise Refusal(ErrorCode.REGISTRATION_STATE, "没有可结算的费用明细")
        late = [line["seq"] for line in lines if line["date"] > discharged.isoformat()]
        if late:  # costs after discharge are not this stay's (003 §15)
            raise Refusal(ErrorCode.LINE_INVALID, f"明细 seq {late[:20]} 的费用日期晚于出院日期 {discharged}",
                          {"problems": [{"seq": seq, "path": "date", "message": "费用日期晚于出院日期"}
                                        for seq in late]})
        expected = data.get("expected_total")
        if expected is not None:
            try:
                expected_total = wire.parse_decimal(expected, "expected_total")
            except wire.WireError as exc:
                raise Refusal(ErrorCode.MALFORMED_REQUEST, exc.message) from None
            actual = sum((Decimal(line["amount"]) for line in lines), ZERO)
            if expected_total != actual:
                raise Refusal(ErrorCode.LINE_INVALID,
                              f"医院明细合计 {wire.money(expected_total)} 与中心已收明细合计 {wire.money(actual)} 不符")
        case = self._case(connection, registration, "discharge", discharged, settled, lines)
        verdict = judge(case, "discharge")
        if not verdict.allowed:
            raise Refusal(ErrorCode.NOT_ELIGIBLE, "；".join(r.message for r in verdict.reasons if r.blocking),
                          {"verdict": verdict.as_json()})
        try:
            result = compute(case)
        except InvalidCase as exc:
            raise Refusal(ErrorCode.UNCLASSIFIED_LINES, f"seq {exc.unclassified[:20]}",
                          {"unclassified": exc.unclassified}) from None
        output = {"registration_no": registration["registration_no"], "settled": settled.isoformat(),
                  "discharged": discharged.isoformat(), "verdict": verdict.as_json(), **result.as_json()}
        return registration, case, output, discharged, settled

    def _pre_settlement(self, context: _Context) -> dict[str, Any]:
        return self._settle(context)[2]

    def _settlement(self, context: _Context) -> dict[str, Any]:
        registration, case, output, discharged, settled = self._settle(context)
        connection = context.connection
        if registration["care"] == "rehab" and not connection.execute(
                "SELECT 1 FROM rehab_plan WHERE registration_no = ? AND status = 'live'",
                (registration["registration_no"],)).fetchone():
            # 000 §30: the rehab plan goes up before the discharge settlement.
            raise Refusal(ErrorCode.REHAB_PLAN_MISSING, f"就医登记 {registration['registration_no']} 是康复住院，"
                          "尚未上传康复方案，不能出院结算")
        notice = self._registration_notice(connection, registration["registration_no"])
        if notice is not None:
            self._notice_covers(connection, notice, registration)
        number = store.next_number(connection, "settlement")
        settlement_id = f"JS{context.institution['city_code']}{context.received:%Y%m%d}{number:06d}"
        if notice is not None:
            # One notice, one fitting: used by this settlement (a cancellation or reversal frees it).
            connection.execute("UPDATE notice SET status = 'used', used_by = ? WHERE notice_no = ?",
                               (settlement_id, notice["notice_no"]))
        consumed = None
        filing = case.filing
        if filing is not None and case.profile.one_time_referral and filing.category == "referral":
            consumed = filing.id  # one filing, one stay (000 §10)
            connection.execute("UPDATE filing SET used_by_settlement = 1 WHERE id = ?", (consumed,))
        output = {"settlement_id": settlement_id, **output}
        connection.execute(
            "INSERT INTO settlement (settlement_id, institution, registration_no, msgid, settled, discharged, "
            "business_date, time, settlement_kind, total, fund_total, personal_total, result, status, consumed_filing) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'live', ?)",
            (settlement_id, context.institution["code"], registration["registration_no"], context.request.msgid,
             settled.isoformat(), discharged.isoformat(), context.today.isoformat(),
             wire.format_time(context.received), output["settlement_kind"], output["total"], output["fund_total"],
             output["personal_total"], json.dumps(output, ensure_ascii=False), consumed))
        connection.execute("UPDATE registration SET status = 'settled' WHERE registration_no = ?",
                           (registration["registration_no"],))
        context.effect = {"settlement_id": settlement_id}
        return output

    def _full_payment_registration(self, context: _Context) -> dict[str, Any]:
        """补登记 (`003 §17`): the stay was paid in full by the worker while direct settlement could not go
        through. Recorded so that the insured place sees it and reimburses the worker once; the fund
        pays the institution nothing for it: no settlement, nothing a monthly claim can name, and the
        registration can no longer be settled directly (2303/2304 refuse it)."""
        data = context.request.data
        connection = context.connection
        registration = self._registration(context, data.get("registration_no"), "open")
        receipt_no = _text(data, "receipt_no", max_length=32)
        discharged = _date(data, "discharged")
        assert discharged is not None
        try:
            paid = wire.parse_decimal(data.get("paid_in_full"), "paid_in_full")
        except wire.WireError as exc:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, exc.message) from None
        lines = self._live_lines(connection, registration["registration_no"])
        if not lines:
            raise Refusal(ErrorCode.REGISTRATION_STATE, "没有费用明细，不能补登记")
        actual = sum((Decimal(line["amount"]) for line in lines), ZERO)
        if paid != actual:
            raise Refusal(ErrorCode.LINE_INVALID,
                          f"全额垫付金额 {wire.money(paid)} 与中心已收明细合计 {wire.money(actual)} 不符")
        connection.execute(
            "INSERT INTO full_payment (registration_no, institution, receipt_no, paid_in_full, discharged, msgid, "
            "business_date, time, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live')",
            (registration["registration_no"], context.institution["code"], receipt_no, wire.money(paid),
             discharged.isoformat(), context.request.msgid, context.today.isoformat(),
             wire.format_time(context.received)))
        connection.execute("UPDATE registration SET status = 'paid_in_full' WHERE registration_no = ?",
                           (registration["registration_no"],))
        context.effect = {"registration_no": registration["registration_no"]}
        return {"registration_no": registration["registration_no"], "receipt_no": receipt_no,
                "paid_in_full": wire.money(paid), "fund_total": "0.00", "registered": context.today.isoformat()}

    def _rehab_plan(self, context: _Context) -> dict[str, Any]:
        """康复方案 (`000 §30`): a rehab stay's plan, before its discharge settlement. A newer plan
        replaces the one before (the latest is the one in force)."""
        data = context.request.data
        connection = context.connection
        registration = self._registration(context, data.get("registration_no"), "open")
        if registration["care"] != "rehab":
            raise Refusal(ErrorCode.REGISTRATION_STATE,
                          f"就医登记 {registration['registration_no']} 不是康复住院，无需康复方案")
        document_no = _text(data, "document_no", max_length=64)
        summary = _text(data, "summary", max_length=2000)
        drawn_up = _date(data, "drawn_up")
        assert drawn_up is not None
        if drawn_up > context.today:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, f"康复方案日期 {drawn_up} 晚于今天")
        previous = [row["rowid"] for row in connection.execute(
            "SELECT rowid FROM rehab_plan WHERE registration_no = ? AND status = 'live'",
            (registration["registration_no"],))]
        connection.execute("UPDATE rehab_plan SET status = 'replaced' WHERE registration_no = ? AND status = 'live'",
                           (registration["registration_no"],))
        cursor = connection.execute(
            "INSERT INTO rehab_plan (registration_no, institution, document_no, summary, drawn_up, msgid, "
            "business_date, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'live')",
            (registration["registration_no"], context.institution["code"], document_no, summary,
             drawn_up.isoformat(), context.request.msgid, context.today.isoformat()))
        context.effect = {"registration_no": registration["registration_no"], "rowid": cursor.lastrowid,
                          "replaced": previous}
        return {"registration_no": registration["registration_no"], "document_no": document_no,
                "drawn_up": drawn_up.isoformat(), "received": context.today.isoformat()}

    def _settlement_row(self, context: _Context, settlement_id: Any) -> sqlite3.Row:
        if not isinstance(settlement_id, str):
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.settlement_id 应为字符串")
        row = context.connection.execute("SELECT * FROM settlement WHERE settlement_id = ? AND institution = ?",
                                         (settlement_id, context.institution["code"])).fetchone()
        if row is None:
            raise Refusal(ErrorCode.SETTLEMENT_NOT_FOUND, settlement_id)
        return row

    def _settlement_cancel(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        connection = context.connection
        settlement = self._settlement_row(context, data.get("settlement_id"))
        if settlement["status"] != "live":
            raise Refusal(ErrorCode.SETTLEMENT_STATE, f"{settlement['settlement_id']} 已撤销或已冲正")
        claimed = _claim_of(connection, settlement["settlement_id"])
        if claimed is not None and claimed["status"] == "receiving":
            # Once the claim is complete the cancellation is allowed: the settlement stays claimed (it
            # was paid), and the cancellation is claimed in a later claim as a correction (3301).
            raise Refusal(ErrorCode.ALREADY_CLAIMED,
                          f"{settlement['settlement_id']} 所在的月度申请 {claimed['claim_no']} 尚未上传完成"
                          f"（已收分片 {claimed['received']}/{claimed['chunks']}），上传完成后才能撤销")
        reason = data.get("reason") or ""
        if not isinstance(reason, str):
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.reason 应为字符串")
        number = store.next_number(connection, "cancellation")
        cancellation_id = f"CX{context.institution['city_code']}{context.received:%Y%m%d}{number:06d}"
        connection.execute(
            "INSERT INTO cancellation (cancellation_id, settlement_id, institution, msgid, business_date, time, reason, "
            "status) VALUES (?, ?, ?, ?, ?, ?, ?, 'live')",
            (cancellation_id, settlement["settlement_id"], context.institution["code"], context.request.msgid,
             context.today.isoformat(), wire.format_time(context.received), reason))
        self._unsettle(connection, settlement, "cancelled")
        context.effect = {"cancellation_id": cancellation_id}
        return {"settlement_id": settlement["settlement_id"], "cancellation_id": cancellation_id,
                "registration_no": settlement["registration_no"], "total": _negated(settlement["total"]),
                "fund_total": _negated(settlement["fund_total"]),
                "personal_total": _negated(settlement["personal_total"])}

    def _unsettle(self, connection: sqlite3.Connection, settlement: sqlite3.Row, status: str) -> None:
        connection.execute("UPDATE settlement SET status = ? WHERE settlement_id = ?",
                           (status, settlement["settlement_id"]))
        connection.execute("UPDATE registration SET status = 'open' WHERE registration_no = ?",
                           (settlement["registration_no"],))
        if settlement["consumed_filing"]:
            connection.execute("UPDATE filing SET used_by_settlement = 0 WHERE id = ?", (settlement["consumed_filing"],))
        connection.execute("UPDATE notice SET status = 'valid', used_by = '' WHERE used_by = ? AND status = 'used'",
                           (settlement["settlement_id"],))

    # --- reversal and outcome query -----------------------------------------------------

    def _reversal(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        connection = context.connection
        omsgid = data.get("omsgid")
        problem = wire.msgid_problem(omsgid, context.institution["code"])
        if problem:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, problem)
        try:
            oinfno = Transaction(data.get("oinfno"))
        except ValueError:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, f"未知的原交易编号 {data.get('oinfno')!r}") from None
        if not oinfno.reversible:
            raise Refusal(ErrorCode.NOT_REVERSIBLE, f"{oinfno.value} {oinfno.label} 不改变中心数据，无需冲正")
        original = connection.execute("SELECT * FROM call WHERE msgid = ?", (omsgid,)).fetchone()
        me = context.request.msgid
        if original is None:
            # Never arrived: void it, so a late arrival is refused (1009) and can never apply.
            connection.execute(
                "INSERT INTO call (msgid, institution, infno, outcome, refmsgid, received_at, reversed_by) "
                "VALUES (?, ?, ?, ?, '', ?, ?)",
                (omsgid, context.institution["code"], oinfno.value, Outcome.VOIDED.value,
                 wire.format_time(context.received), me))
            return {"omsgid": omsgid, "oinfno": oinfno.value, "outcome": Outcome.VOIDED.value, "changed": True}
        if original["infno"] != oinfno.value:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, f"原交易 {omsgid} 的交易编号是 {original['infno']}，不是 {oinfno.value}")
        ofingerprint = data.get("ofingerprint")
        if ofingerprint is not None and (not isinstance(ofingerprint, str) or ofingerprint != original["fingerprint"]):
            # The caller's original is not the call recorded under that msgid: never undo another's call.
            raise Refusal(ErrorCode.NOT_REVERSIBLE, f"原交易 {omsgid} 的请求内容与冲正请求所指的不同，不是同一笔交易")
        outcome = Outcome(original["outcome"])
        if outcome is not Outcome.APPLIED:
            return {"omsgid": omsgid, "oinfno": oinfno.value, "outcome": outcome.value, "changed": False}
        self._undo(context, oinfno, json.loads(original["effect"]))
        connection.execute("UPDATE call SET outcome = ?, reversed_by = ? WHERE msgid = ?",
                           (Outcome.REVERSED.value, me, omsgid))
        return {"omsgid": omsgid, "oinfno": oinfno.value, "outcome": Outcome.REVERSED.value, "changed": True}

    def _undo(self, context: _Context, infno: Transaction, effect: dict[str, Any]) -> None:
        connection = context.connection

        def refuse(detail: str) -> Refusal:
            return Refusal(ErrorCode.NOT_REVERSIBLE, detail)

        if infno is Transaction.ADMISSION:
            registration = self._registration(context, effect["registration_no"])
            if registration["status"] == "settled":
                raise refuse(f"就医登记 {registration['registration_no']} 已结算，请先撤销结算")
            connection.execute("UPDATE registration SET status = 'reversed' WHERE registration_no = ?",
                               (registration["registration_no"],))
        elif infno is Transaction.ADMISSION_CANCEL:
            registration = self._registration(context, effect["registration_no"])
            other = connection.execute(
                "SELECT 1 FROM registration WHERE ssn = ? AND institution = ? AND status = 'open'",
                (registration["ssn"], registration["institution"])).fetchone()
            if registration["status"] != "cancelled" or other:
                raise refuse("就医登记状态已变化（或该参保人已有新的就医登记），不能恢复")
            connection.execute("UPDATE registration SET status = 'open' WHERE registration_no = ?",
                               (registration["registration_no"],))
        elif infno is Transaction.FEE_UPLOAD:
            self._registration(context, effect["registration_no"], "open")
            ids = effect["line_ids"]
            rows = _rows_by_id(connection, ids)
            if any(not row["live"] for row in rows):
                raise refuse("部分明细已被撤销")
            seqs = {row["seq"] for row in rows}
            dependants = connection.execute(
                f"SELECT seq FROM fee_line WHERE registration_no = ? AND live = 1 AND refund_of IN "
                f"({','.join('?' * len(seqs))}) AND msgid <> ?",
                (effect["registration_no"], *sorted(seqs), context.request.data["omsgid"])).fetchall() if seqs else []
            if dependants:
                raise refuse(f"后续退费明细 seq {[r[0] for r in dependants]} 指向这些明细")
            connection.executemany("UPDATE fee_line SET live = 0, cancel_msgid = ? WHERE id = ?",
                                   [(context.request.msgid, line_id) for line_id in ids])
        elif infno is Transaction.FEE_CANCEL:
            self._registration(context, effect["registration_no"], "open")
            rows = _rows_by_id(connection, effect["line_ids"])
            for row in rows:
                if connection.execute("SELECT 1 FROM fee_line WHERE registration_no = ? AND seq = ? AND live = 1",
                                      (row["registration_no"], row["seq"])).fetchone():
                    raise refuse(f"明细 seq {row['seq']} 已重新上传")
            connection.executemany("UPDATE fee_line SET live = 1, cancel_msgid = NULL WHERE id = ?",
                                   [(row["id"],) for row in rows])
        elif infno is Transaction.SETTLEMENT:
            settlement = self._settlement_row(context, effect["settlement_id"])
            if settlement["status"] != "live":
                raise refuse(f"结算 {settlement['settlement_id']} 已撤销")
            claimed = _claim_of(connection, settlement["settlement_id"])
            if claimed is not None:
                raise refuse(f"结算 {settlement['settlement_id']} 已在月度申请 {claimed['claim_no']} 中申报")
            self._unsettle(connection, settlement, "reversed")
        elif infno is Transaction.SETTLEMENT_CANCEL:
            cancellation = connection.execute("SELECT * FROM cancellation WHERE cancellation_id = ?",
                                              (effect["cancellation_id"],)).fetchone()
            settlement = self._settlement_row(context, cancellation["settlement_id"])
            registration = self._registration(context, settlement["registration_no"])
            if cancellation["status"] != "live" or settlement["status"] != "cancelled" or registration["status"] != "open":
                raise refuse("就医登记已重新结算或状态已变化，不能恢复原结算")
            entry = connection.execute("SELECT claim_no FROM claim_entry WHERE claimed_id = ? AND live = 1",
                                       (cancellation["cancellation_id"],)).fetchone()
            if entry is not None:  # the correction is claimed (while its claim receives, reverse that chunk first)
                raise refuse(f"撤销记录 {cancellation['cancellation_id']} 已在月度申请 {entry['claim_no']} 中申报，"
                             "不能恢复原结算")
            connection.execute("UPDATE cancellation SET status = 'reversed' WHERE cancellation_id = ?",
                               (cancellation["cancellation_id"],))
            connection.execute("UPDATE settlement SET status = 'live' WHERE settlement_id = ?",
                               (settlement["settlement_id"],))
            connection.execute("UPDATE registration SET status = 'settled' WHERE registration_no = ?",
                               (registration["registration_no"],))
            if settlement["consumed_filing"]:
                connection.execute("UPDATE filing SET used_by_settlement = 1 WHERE id = ?",
                                   (settlement["consumed_filing"],))
        elif infno is Transaction.FULL_PAYMENT_REGISTRATION:
            registration = self._registration(context, effect["registration_no"])
            if registration["status"] != "paid_in_full":
                raise refuse(f"就医登记 {registration['registration_no']} 状态已变化，不能撤回补登记")
            connection.execute("UPDATE full_payment SET status = 'reversed' WHERE registration_no = ? "
                               "AND status = 'live'", (registration["registration_no"],))
            connection.execute("UPDATE registration SET status = 'open' WHERE registration_no = ?",
                               (registration["registration_no"],))
        elif infno is Transaction.DEDUCTION_DISPUTE:
            dispute = connection.execute("SELECT * FROM dispute WHERE dispute_id = ?",
                                         (effect["dispute_id"],)).fetchone()
            if dispute["status"] != "received":
                raise refuse(f"异议 {dispute['dispute_id']} 经办机构已答复，不能撤回")
            connection.execute("UPDATE dispute SET status = 'withdrawn' WHERE dispute_id = ?", (dispute["dispute_id"],))
        elif infno is Transaction.REHAB_PLAN:
            registration = self._registration(context, effect["registration_no"])
            if registration["status"] != "open":
                raise refuse(f"就医登记 {registration['registration_no']} 已结算，不能撤回康复方案")
            connection.execute("UPDATE rehab_plan SET status = 'reversed' WHERE rowid = ?", (effect["rowid"],))
            for rowid in effect["replaced"]:
                connection.execute("UPDATE rehab_plan SET status = 'live' WHERE rowid = ?", (rowid,))
        elif infno is Transaction.CLAIM_UPLOAD:
            claim = connection.execute("SELECT * FROM claim WHERE claim_no = ?", (effect["claim_no"],)).fetchone()
            if claim["status"] != "receiving":
                raise refuse(f"月度申请 {claim['claim_no']} 已提交审核")
            connection.execute("UPDATE claim_entry SET live = 0 WHERE claim_no = ? AND chunk = ? AND live = 1",
                               (effect["claim_no"], effect["chunk"]))
        else:  # pragma: no cover - Transaction.reversible guards this
            raise refuse(infno.value)

    def _outcome_query(self, context: _Context) -> dict[str, Any]:
        omsgid = context.request.data.get("omsgid")
        problem = wire.msgid_problem(omsgid, context.institution["code"])
        if problem:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, problem)
        row = context.connection.execute("SELECT * FROM call WHERE msgid = ?", (omsgid,)).fetchone()
        if row is None:
            return {"omsgid": omsgid, "oinfno": "", "outcome": Outcome.UNKNOWN.value, "err_code": "", "err_msg": "",
                    "received_at": "", "reversed_by": "", "output": {}, "fingerprint": "", "counter_id": ""}
        outcome = Outcome(row["outcome"])
        return {"omsgid": omsgid, "oinfno": row["infno"], "outcome": outcome.value, "err_code": row["err_code"],
                "err_msg": row["err_msg"], "received_at": row["received_at"], "reversed_by": row["reversed_by"],
                "output": json.loads(row["output"]) if outcome in (Outcome.APPLIED, Outcome.REVERSED) else {},
                "fingerprint": row["fingerprint"], "counter_id": row["counter_id"]}

    # --- monthly claims -----------------------------------------------------------------

    def _claim_upload(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        connection = context.connection
        code = context.institution["code"]
        claim_no = _text(data, "claim_no", max_length=40)
        period = data.get("period")
        if not isinstance(period, str) or not _PERIOD.fullmatch(period):
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.period 应为 YYYY-MM")
        chunk = _integer(data, "chunk", minimum=1)
        chunks = _integer(data, "chunks", minimum=1)
        if chunk > chunks:
            raise Refusal(ErrorCode.CLAIM_INVALID, f"分片序号 {chunk} 大于分片总数 {chunks}")
        ids = data.get("settlement_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.settlement_ids 应为非空字符串数组")
        if len(ids) > wire.MAX_CLAIM_SETTLEMENTS_PER_CHUNK:
            raise Refusal(ErrorCode.CLAIM_INVALID, f"每个分片最多 {wire.MAX_CLAIM_SETTLEMENTS_PER_CHUNK} 笔结算")
        if len(set(ids)) != len(ids):
            raise Refusal(ErrorCode.CLAIM_INVALID, "分片内结算编号重复")
        claim = connection.execute("SELECT * FROM claim WHERE claim_no = ?", (claim_no,)).fetchone()
        if claim is None:
            connection.execute("INSERT INTO claim (claim_no, institution, period, chunks, status, created_at) "
                               "VALUES (?, ?, ?, ?, 'receiving', ?)",
                               (claim_no, code, period, chunks, wire.format_time(context.received)))
        else:
            if claim["institution"] != code:
                raise Refusal(ErrorCode.CLAIM_INVALID, f"申请编号 {claim_no} 已被其他机构使用")
            if claim["period"] != period or claim["chunks"] != chunks:
                raise Refusal(ErrorCode.CLAIM_INVALID,
                              f"与已收分片不一致：期间 {claim['period']}，分片总数 {claim['chunks']}")
            if claim["status"] != "receiving":
                raise Refusal(ErrorCode.CLAIM_INVALID, f"申请 {claim_no} 已提交，不能再上传")
            if connection.execute("SELECT 1 FROM claim_entry WHERE claim_no = ? AND chunk = ? AND live = 1",
                                  (claim_no, chunk)).fetchone():
                raise Refusal(ErrorCode.CLAIM_INVALID, f"分片 {chunk} 已收到")
        for claimed_id in ids:
            kind, settlement_id, cancellation_id, reason = self._claimable(context, claimed_id, period)
            connection.execute(
                "INSERT INTO claim_entry (claim_no, chunk, kind, claimed_id, settlement_id, cancellation_id, live, "
                "msgid, deduction_reason) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
                (claim_no, chunk, kind, claimed_id, settlement_id, cancellation_id, context.request.msgid, reason))
        received = [row[0] for row in connection.execute(
            "SELECT DISTINCT chunk FROM claim_entry WHERE claim_no = ? AND live = 1 ORDER BY chunk", (claim_no,))]
        status = "receiving"
        if len(received) == chunks:
            self._audit(connection, claim_no)
            status = "submitted"
            # The audit's findings are pushed today (003 §20: the hospital's 10 working days start here).
            connection.execute("UPDATE claim SET status = 'audited', audited = ? WHERE claim_no = ?",
                               (context.today.isoformat(), claim_no))
        context.effect = {"claim_no": claim_no, "chunk": chunk}
        return {"claim_no": claim_no, "chunks": chunks, "received_chunks": received, "status": status}

    def _claimable(self, context: _Context, claimed_id: str, period: str) -> tuple[str, str, str | None, str]:
        """What one id of `settlement_ids` claims: (kind, settlement id, cancellation id, entry's reason).

        A settlement: this institution's, live, settled in `period`, in no other claim. A cancellation
        (a correction): this institution's, live (not reversed), in no other claim, of a settlement that
        was claimed (a settlement cancelled before it was claimed is simply not claimed), and cancelled
        on or before the last day of `period`."""
        connection = context.connection
        cancellation = connection.execute(
            "SELECT * FROM cancellation WHERE cancellation_id = ? AND institution = ?",
            (claimed_id, context.institution["code"])).fetchone()
        already = connection.execute("SELECT claim_no FROM claim_entry WHERE claimed_id = ? AND live = 1",
                                     (claimed_id,)).fetchone()
        if cancellation is None:
            settlement = self._settlement_row(context, claimed_id)
            if settlement["status"] != "live":
                cancelled = connection.execute(
                    "SELECT cancellation_id FROM cancellation WHERE settlement_id = ? AND status = 'live'",
                    (claimed_id,)).fetchone()
                raise Refusal(ErrorCode.SETTLEMENT_STATE, f"{claimed_id} 已冲正" if cancelled is None else
                              f"{claimed_id} 已撤销（撤销记录 {cancelled[0]}）")
            if not settlement["settled"].startswith(period):
                raise Refusal(ErrorCode.CLAIM_INVALID, f"{claimed_id} 的结算日期 {settlement['settled']} 不在 {period}")
            if already is not None:
                raise Refusal(ErrorCode.ALREADY_CLAIMED, f"{claimed_id} 已在月度申请 {already[0]} 中申报")
            return "settlement", claimed_id, None, ""
        settlement_id = cancellation["settlement_id"]
        if cancellation["status"] != "live":
            raise Refusal(ErrorCode.SETTLEMENT_STATE, f"撤销记录 {claimed_id} 已被冲正，结算 {settlement_id} 仍有效")
        if already is not None:
            raise Refusal(ErrorCode.ALREADY_CLAIMED, f"撤销记录 {claimed_id} 已在月度申请 {already[0]} 中申报")
        original = _claim_of(connection, settlement_id)
        if original is None:
            raise Refusal(ErrorCode.CLAIM_INVALID,
                          f"撤销记录 {claimed_id} 所撤销的结算 {settlement_id} 未曾申报：申报前已撤销的结算不申报，"
                          "其撤销记录也不申报")
        end = _period_end(period)
        if cancellation["business_date"] > end.isoformat():
            raise Refusal(ErrorCode.CLAIM_INVALID,
                          f"撤销记录 {claimed_id} 的撤销日期 {cancellation['business_date']} 晚于申报期间 {period} 的最后一天 "
                          f"{end}，请在以后月份的申请中申报")
        reason = (f"更正：结算 {settlement_id} 已于 {cancellation['business_date']} 撤销（撤销记录 {claimed_id}），"
                  f"原在月度申请 {original['claim_no']}（{original['period']}）中申报")
        return "cancellation", settlement_id, claimed_id, reason

    def _audit(self, connection: sqlite3.Connection, claim_no: str) -> None:
        """The agency's audit, line by line (`003 §20` deductions, each with its reason; the hospital may
        dispute them). Two real rules of `003 §15`:

        - an item charged by the day (bed, daily nursing) counts at most once a day: the fund part of
          the excess is deducted, attributed to the day's last line(s) by seq (over-standard costs);
        - a line dated after the stay's discharge date: its whole fund part is deducted (costs after the
          patient met discharge criteria are not paid). The settlement (2304) already refuses such lines;
          the audit checks again, as an agency does, whatever the settlement system let through.

        A cancellation claimed as a correction gives back exactly what its settlement was paid: its
        deduction is the negation of the original entry's."""
        entries = connection.execute("SELECT * FROM claim_entry WHERE claim_no = ? AND live = 1 ORDER BY id",
                                     (claim_no,)).fetchall()
        for entry in entries:
            if entry["kind"] == "cancellation":
                self._audit_correction(connection, entry)
            else:
                self._audit_settlement(connection, entry)

    def _audit_correction(self, connection: sqlite3.Connection, entry: sqlite3.Row) -> None:
        original = connection.execute(
            "SELECT e.deduction, s.fund_total FROM claim_entry e JOIN settlement s USING (settlement_id) "
            "WHERE e.settlement_id = ? AND e.kind = 'settlement' AND e.live = 1", (entry["settlement_id"],)).fetchone()
        # 3301 accepted the correction only with its original claimed in a complete claim, whose entries stay
        assert original is not None, entry["claimed_id"]
        deduction = Decimal(original["deduction"])
        fund_settled = Decimal(original["fund_total"]) - deduction
        reason = f"{entry['deduction_reason']}，冲回其基金结算金额 {wire.money(fund_settled)} 元"
        if deduction:
            reason += f"（原扣款 {wire.money(deduction)} 元一并冲回）"
        connection.execute("UPDATE claim_entry SET deduction = ?, deduction_reason = ? WHERE id = ?",
                           (_negated(original["deduction"]), reason, entry["id"]))

    def _audit_settlement(self, connection: sqlite3.Connection, entry: sqlite3.Row) -> None:
        settlement = connection.execute("SELECT * FROM settlement WHERE settlement_id = ?",
                                        (entry["settlement_id"],)).fetchone()
        discharged = settlement["discharged"]
        fund_by_seq = {item["seq"]: Decimal(item["fund"]) for item in json.loads(settlement["result"])["items"]}
        # The settlement's lines: a claimed settlement is live (2305 waits for its claim to be complete),
        # so its registration is settled and its live lines are the ones it settled.
        lines = self._live_lines(connection, settlement["registration_no"])
        by_seq = {line["seq"]: line for line in lines}
        net_fund: dict[int, Decimal] = {}  # an original line's fund part, net of its refunds
        for line in lines:
            target = line["seq"] if line["refund_of"] is None else line["refund_of"]
            net_fund[target] = net_fund.get(target, ZERO) + fund_by_seq.get(line["seq"], ZERO)

        def day_of(line: sqlite3.Row) -> str:  # a refund counts on its original's day
            original = by_seq.get(line["refund_of"]) if line["refund_of"] is not None else None
            return str((original or line)["date"])

        found: list[tuple[sqlite3.Row, Decimal, str, str]] = []  # (line, amount, reason, rule)
        for line in lines:
            amount = net_fund.get(line["seq"], ZERO)
            if line["refund_of"] is None and line["date"] > discharged and amount > 0:
                found.append((line, amount, f"{line['name']} 费用日期 {line['date']} 晚于出院日期 {discharged}，"
                                            f"达到出院标准后的费用基金不予支付，扣 {wire.money(amount)} 元（003 §15）",
                              "after_discharge"))
        per_day = {row["code"] for row in self._catalogue_rows(
            connection, {line["code"] for line in lines}).values() if row["per_day"]}
        groups: dict[tuple[str, str], list[sqlite3.Row]] = {}
        for line in lines:
            if line["code"] in per_day and day_of(line) <= discharged:  # after discharge: deducted whole above
                groups.setdefault((line["code"], day_of(line)), []).append(line)
        for (_code, day), group in sorted(groups.items()):
            quantity = sum((Decimal(line["quantity"]) for line in group), Decimal(0))
            fund = sum((fund_by_seq.get(line["seq"], ZERO) for line in group), ZERO)
            if quantity <= 1 or fund <= 0:
                continue
            remaining = round_money(fund * (quantity - 1) / quantity)
            times = format(quantity.normalize(), "f")
            for line in sorted((item for item in group if item["refund_of"] is None),
                               key=lambda item: item["seq"], reverse=True):
                take = min(remaining, net_fund.get(line["seq"], ZERO))
                if take <= 0:
                    continue
                found.append((line, take, f"{line['name']} {day} 计 {times} 次，超过每日 1 次，扣超出部分 "
                                          f"{wire.money(take)} 元（003 §15 超标准费用）", "per_day"))
                remaining -= take
                if remaining <= 0:
                    break
        found.extend(self._hand_audit(connection, lines, net_fund, {line["seq"] for line, *_rest in found}))
        found.sort(key=lambda item: (item[0]["seq"], item[3]))
        connection.execute("DELETE FROM claim_line_deduction WHERE entry_id = ?", (entry["id"],))
        connection.executemany(
            "INSERT INTO claim_line_deduction (entry_id, seq, code, name, date, amount, reason, rule) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(entry["id"], line["seq"], line["code"], line["name"], line["date"], wire.money(amount), reason, rule)
             for line, amount, reason, rule in found])
        deduction = sum((amount for _line, amount, _reason, _rule in found), ZERO)
        connection.execute("UPDATE claim_entry SET deduction = ?, deduction_reason = ? WHERE id = ?",
                           (wire.money(deduction), "；".join(reason for _line, _amount, reason, _rule in found),
                            entry["id"]))

    @staticmethod
    def _hand_audit(connection: sqlite3.Connection, lines: list[sqlite3.Row], net_fund: dict[int, Decimal],
                    already: set[int]) -> list[tuple[sqlite3.Row, Decimal, str, str]]:
        """人工审核 (`003 §19`: machine rules first, then review by hand): the reviewer's judgement, which no
        rule at the counter can foresee, as a site sets it (`POST /admin/hand-audit`): every line of the
        listed item codes has its fund part (net of refunds) deducted with the reviewer's reason. A line
        already deducted by a machine rule is not deducted twice."""
        judged = hand_audit_items(connection)
        found: list[tuple[sqlite3.Row, Decimal, str, str]] = []
        for line in lines:
            reason = judged.get(line["code"])
            amount = net_fund.get(line["seq"], ZERO)
            if reason is None or line["refund_of"] is not None or line["seq"] in already or amount <= 0:
                continue
            found.append((line, amount, f"人工审核：{line['name']} {reason}，扣 {wire.money(amount)} 元（003 §19）",
                          "hand_audit"))
        return found

    def _claim_status(self, context: _Context) -> dict[str, Any]:
        connection = context.connection
        claim_no = _text(context.request.data, "claim_no", max_length=40)
        claim = connection.execute("SELECT * FROM claim WHERE claim_no = ? AND institution = ?",
                                   (claim_no, context.institution["code"])).fetchone()
        if claim is None:
            raise Refusal(ErrorCode.CLAIM_NOT_FOUND, claim_no)
        rows = connection.execute(
            "SELECT e.*, s.registration_no, s.settled, s.discharged, s.settlement_kind, s.total, s.fund_total, "
            "s.personal_total, r.admitted, p.name, p.ssn, p.insured_city, c.business_date AS cancelled_on "
            "FROM claim_entry e JOIN settlement s ON s.settlement_id = e.settlement_id "
            "JOIN registration r ON r.registration_no = s.registration_no JOIN person p ON p.ssn = r.ssn "
            "LEFT JOIN cancellation c ON c.cancellation_id = e.cancellation_id "
            "WHERE e.claim_no = ? AND e.live = 1 ORDER BY e.chunk, e.id", (claim_no,)).fetchall()
        lines: dict[int, list[dict[str, Any]]] = {}
        for line in connection.execute(
                "SELECT d.* FROM claim_line_deduction d JOIN claim_entry e ON e.id = d.entry_id "
                "WHERE e.claim_no = ? AND e.live = 1 ORDER BY d.entry_id, d.seq, d.id", (claim_no,)):
            lines.setdefault(line["entry_id"], []).append(
                {"seq": line["seq"], "code": line["code"], "name": line["name"], "date": line["date"],
                 "amount": line["amount"], "reason": line["reason"]})
        entries = []
        sums = {"total": ZERO, "fund_total": ZERO, "personal_total": ZERO, "deduction": ZERO, "fund_settled": ZERO}
        for row in rows:
            correction = row["kind"] == "cancellation"
            total, fund_total, personal_total = (  # a correction: the original's amounts negated
                Decimal(_negated(row[key]) if correction else row[key])
                for key in ("total", "fund_total", "personal_total"))
            deduction = Decimal(row["deduction"])
            entry = {"kind": row["kind"], "settlement_id": row["settlement_id"],
                     "cancellation_id": row["cancellation_id"] or "", "registration_no": row["registration_no"],
                     "name": row["name"], "social_security_number": row["ssn"], "insured_place": row["insured_city"],
                     "settlement_kind": row["settlement_kind"], "admitted": row["admitted"],
                     "discharged": row["discharged"],
                     "settled": row["cancelled_on"] if correction else row["settled"],
                     "total": _money_text(total), "fund_total": _money_text(fund_total),
                     "personal_total": _money_text(personal_total), "deduction": _money_text(deduction),
                     "deduction_reason": row["deduction_reason"], "fund_settled": _money_text(fund_total - deduction),
                     "lines": lines.get(row["id"], [])}
            entries.append(entry)
            for key in sums:
                sums[key] += Decimal(entry[key])
        received = sorted({row["chunk"] for row in rows})
        disputes = [
            {"dispute_id": row["dispute_id"], "dispute_ref": row["dispute_ref"], "settlement_id": row["settlement_id"],
             "seq": row["seq"], "status": row["status"], "answer": row["answer"], "answered": row["answered"] or None}
            for row in connection.execute("SELECT * FROM dispute WHERE claim_no = ? AND status <> 'withdrawn' "
                                          "ORDER BY dispute_id", (claim_no,))]
        return {"claim_no": claim_no, "period": claim["period"], "status": claim["status"], "chunks": claim["chunks"],
                "audited": claim["audited"] or None, "received_chunks": received, "entries": entries,
                "totals": {"count": len(entries), **{k: _money_text(v) for k, v in sums.items()}},
                "disputes": disputes}

    def _deduction_dispute(self, context: _Context) -> dict[str, Any]:
        """异议 (`003 §20`): the hospital disputes one deduction of an audited claim online, with its
        statement and the evidence files' names and SHA-256 (the files reach the agency by its own
        channel and are matched against them). Only where the stay's profile sets a dispute window."""
        data = context.request.data
        connection = context.connection
        claim_no = _text(data, "claim_no", max_length=40)
        settlement_id = _text(data, "settlement_id", max_length=40)
        statement = _text(data, "statement", max_length=2000)
        dispute_ref = _text(data, "dispute_ref", max_length=40)
        seq = data.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "input.data.seq 应为非负整数")
        try:
            amount = wire.parse_decimal(data.get("amount"), "amount")
        except wire.WireError as exc:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, exc.message) from None
        evidence = data.get("evidence")
        if not isinstance(evidence, list) or not evidence or len(evidence) > 50 or not all(
                isinstance(f, dict) and set(f) == {"name", "sha256"} and isinstance(f["name"], str)
                and f["name"].strip() and isinstance(f["sha256"], str) and _SHA256.fullmatch(f["sha256"])
                for f in evidence):
            raise Refusal(ErrorCode.MALFORMED_REQUEST,
                          "input.data.evidence 应为 1 至 50 个 {\"name\": 文件名, \"sha256\": 64位十六进制}")
        claim = connection.execute("SELECT * FROM claim WHERE claim_no = ? AND institution = ?",
                                   (claim_no, context.institution["code"])).fetchone()
        if claim is None:
            raise Refusal(ErrorCode.CLAIM_NOT_FOUND, claim_no)
        if claim["status"] != "audited":
            raise Refusal(ErrorCode.DISPUTE_INVALID, f"月度申请 {claim_no} 尚未审核，没有可异议的扣款")
        entry = connection.execute(
            "SELECT e.*, r.profile FROM claim_entry e JOIN settlement s ON s.settlement_id = e.settlement_id "
            "JOIN registration r ON r.registration_no = s.registration_no "
            "WHERE e.claim_no = ? AND e.settlement_id = ? AND e.kind = 'settlement' AND e.live = 1",
            (claim_no, settlement_id)).fetchone()
        if entry is None:
            raise Refusal(ErrorCode.DISPUTE_INVALID, f"月度申请 {claim_no} 中没有结算 {settlement_id}")
        if load_profile(entry["profile"]).dispute_working_days == 0:
            raise Refusal(ErrorCode.DISPUTE_INVALID, "本地区政策未规定网上异议，请按经办机构要求送交材料")
        if seq:
            deducted = [Decimal(row["amount"]) for row in connection.execute(
                "SELECT amount FROM claim_line_deduction WHERE entry_id = ? AND seq = ?", (entry["id"], seq))]
        else:
            deducted = [Decimal(entry["deduction"])] if Decimal(entry["deduction"]) else []
        if not deducted:
            raise Refusal(ErrorCode.DISPUTE_INVALID, f"结算 {settlement_id} 明细 {seq} 没有扣款")
        if amount != sum(deducted, ZERO):
            raise Refusal(ErrorCode.DISPUTE_INVALID,
                          f"异议金额 {wire.money(amount)} 与扣款金额 {wire.money(sum(deducted, ZERO))} 不符")
        if connection.execute("SELECT 1 FROM dispute WHERE claim_no = ? AND settlement_id = ? AND seq = ? "
                              "AND status <> 'withdrawn'", (claim_no, settlement_id, seq)).fetchone():
            raise Refusal(ErrorCode.DISPUTE_INVALID, "这笔扣款已经提出过异议")
        number = store.next_number(connection, "dispute")
        dispute_id = f"YY{context.institution['city_code']}{context.received:%Y%m%d}{number:06d}"
        connection.execute(
            "INSERT INTO dispute (dispute_id, institution, claim_no, settlement_id, seq, amount, statement, evidence, "
            "dispute_ref, msgid, received, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'received')",
            (dispute_id, context.institution["code"], claim_no, settlement_id, seq, wire.money(amount), statement,
             json.dumps([{"name": f["name"], "sha256": f["sha256"].lower()} for f in evidence], ensure_ascii=False),
             dispute_ref, context.request.msgid, context.today.isoformat()))
        context.effect = {"dispute_id": dispute_id}
        return {"dispute_id": dispute_id, "dispute_ref": dispute_ref, "claim_no": claim_no,
                "settlement_id": settlement_id, "seq": seq, "status": "received",
                "received": context.today.isoformat()}

    # --- reconciliation -----------------------------------------------------------------

    def _day_records(self, context: _Context, day: dt.date) -> list[dict[str, Any]]:
        connection = context.connection
        code = context.institution["code"]
        records = []
        for row in connection.execute(
                "SELECT s.*, r.ssn FROM settlement s JOIN registration r ON r.registration_no = s.registration_no "
                "WHERE s.institution = ? AND s.business_date = ? AND s.status <> 'reversed'", (code, day.isoformat())):
            records.append({"kind": "settlement", "msgid": row["msgid"], "settlement_id": row["settlement_id"],
                            "cancellation_id": "", "registration_no": row["registration_no"],
                            "social_security_number": row["ssn"], "total": row["total"],
                            "fund_total": row["fund_total"], "personal_total": row["personal_total"],
                            "time": row["time"]})
        for row in connection.execute(
                "SELECT c.*, s.registration_no, s.total, s.fund_total, s.personal_total, r.ssn FROM cancellation c "
                "JOIN settlement s ON s.settlement_id = c.settlement_id "
                "JOIN registration r ON r.registration_no = s.registration_no "
                "WHERE c.institution = ? AND c.business_date = ? AND c.status = 'live'", (code, day.isoformat())):
            records.append({"kind": "cancellation", "msgid": row["msgid"], "settlement_id": row["settlement_id"],
                            "cancellation_id": row["cancellation_id"], "registration_no": row["registration_no"],
                            "social_security_number": row["ssn"], "total": _negated(row["total"]),
                            "fund_total": _negated(row["fund_total"]),
                            "personal_total": _negated(row["personal_total"]), "time": row["time"]})
        records.sort(key=lambda record: (record["time"], record["msgid"]))
        return records

    def _reconcile_totals(self, context: _Context) -> dict[str, Any]:
        day = _date(context.request.data, "date")
        assert day is not None
        records = self._day_records(context, day)

        def totals(kinds: tuple[str, ...]) -> dict[str, Any]:
            chosen = [r for r in records if r["kind"] in kinds]
            count = sum(1 if r["kind"] == "settlement" else -1 for r in chosen) if len(kinds) > 1 else len(chosen)
            return {"count": count, **{key: wire.money(sum((Decimal(r[key]) for r in chosen), ZERO))
                                       for key in ("total", "fund_total", "personal_total")}}

        code = context.institution["code"]
        head = context.request.data.get("audit_head")
        if head is not None:
            self._keep_audit_anchor(context, code, day, head)
        return {"date": day.isoformat(), "settlements": totals(("settlement",)),
                "cancellations": totals(("cancellation",)), "net": totals(("settlement", "cancellation")),
                "audit_anchors": self._audit_anchors(context.connection, code)}

    def _keep_audit_anchor(self, context: _Context, code: str, day: dt.date, head: Any) -> None:
        """The counter's audit head sent with its day-end: kept as it came (the same count again: the first)."""
        if not isinstance(head, dict):
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "audit_head 应为对象")
        counter = _text(head, "counter", max_length=64)
        count, mac = head.get("count"), head.get("mac")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1 or not isinstance(mac, str) \
                or re.fullmatch(r"[0-9a-f]{64}", mac) is None:
            raise Refusal(ErrorCode.MALFORMED_REQUEST, "audit_head 的 count 应为正整数，mac 应为 64 位十六进制")
        context.connection.execute(
            "INSERT OR IGNORE INTO audit_anchor (institution, counter, event_count, head_mac, business_date, received) "
            "VALUES (?, ?, ?, ?, ?, ?)", (code, counter, count, mac, day.isoformat(), context.received.isoformat()))

    @staticmethod
    def _audit_anchors(connection: sqlite3.Connection, code: str) -> list[dict[str, Any]]:
        """Of each counter of the institution: the anchor received last and the one with the most events
        (a trail cut back and then anchored again is still held to the longer one)."""
        rows = connection.execute(
            "SELECT counter, event_count, head_mac, received FROM audit_anchor a WHERE institution = ? AND ("
            "rowid = (SELECT MAX(rowid) FROM audit_anchor b WHERE b.institution = a.institution "
            "AND b.counter = a.counter) OR event_count = (SELECT MAX(event_count) FROM audit_anchor c "
            "WHERE c.institution = a.institution AND c.counter = a.counter)) ORDER BY counter, rowid", (code,))
        return [{"counter": r["counter"], "count": r["event_count"], "mac": r["head_mac"], "received": r["received"]}
                for r in rows]

    def _reconcile_details(self, context: _Context) -> dict[str, Any]:
        data = context.request.data
        day = _date(data, "date")
        assert day is not None
        page, size = _page(data)
        records = self._day_records(context, day)
        return {"date": day.isoformat(), "page": page, "pages": max(1, -(-len(records) // size)),
                "total": len(records), "records": records[(page - 1) * size:page * size]}

    # --- 5201: what the centre holds for the institution since a time ---------------------------

    def _registration_query(self, context: _Context) -> dict[str, Any]:
        """Every registration of the institution that an applied call touched since `since` (null:
        all), with its live lines and its settlements: what a counter restored from a backup must know."""
        data = context.request.data
        raw_since = data.get("since")
        if raw_since is not None:
            try:
                wire.parse_time(raw_since, "since")
            except wire.WireError as exc:
                raise Refusal(ErrorCode.MALFORMED_REQUEST, exc.message) from exc
        since = raw_since or ""
        page, size = _page(data)
        connection = context.connection
        code = context.institution["code"]
        # Every state-changing reply names its registration (a reversal: through its original's reply).
        touched = connection.execute(
            "SELECT json_extract(c.output, '$.registration_no') FROM call c WHERE c.institution = ? "
            "AND c.received_at >= ? AND c.outcome IN ('applied', 'reversed') "
            "UNION SELECT json_extract(o.output, '$.registration_no') FROM call c "
            "JOIN call o ON o.msgid = json_extract(c.output, '$.omsgid') "
            "WHERE c.institution = ? AND c.infno = ? AND c.received_at >= ?",
            (code, since, code, Transaction.REVERSAL.value, since)).fetchall()
        numbers = sorted({row[0] for row in touched if row[0]})
        registrations = [row for row in (connection.execute(
            "SELECT r.*, c.received_at FROM registration r LEFT JOIN call c ON c.msgid = r.msgid "
            "WHERE r.registration_no = ? AND r.institution = ? AND r.status <> 'reversed'", (number, code)).fetchone()
            for number in numbers) if row is not None]
        records = []
        for row in registrations[(page - 1) * size:page * size]:
            totals = self._line_totals(connection, row["registration_no"])
            settlements = []
            for settlement in connection.execute(
                    "SELECT s.*, c.cancellation_id FROM settlement s LEFT JOIN cancellation c "
                    "ON c.settlement_id = s.settlement_id AND c.status = 'live' "
                    "WHERE s.registration_no = ? AND s.status <> 'reversed' ORDER BY s.time",
                    (row["registration_no"],)):
                settlements.append({"settlement_id": settlement["settlement_id"],
                                    "status": "cancelled" if settlement["cancellation_id"] else "live",
                                    "cancellation_id": settlement["cancellation_id"] or "",
                                    "total": settlement["total"], "fund_total": settlement["fund_total"],
                                    "personal_total": settlement["personal_total"], "time": settlement["time"]})
            records.append({"registration_no": row["registration_no"], "admission_no": row["admission_no"],
                            "social_security_number": row["ssn"], "admitted": row["admitted"],
                            "status": row["status"], "registered_at": row["received_at"] or "",
                            "line_count": totals["line_count"], "line_total": totals["total"],
                            "settlements": settlements})
        return {"since": raw_since, "page": page, "pages": max(1, -(-len(registrations) // size)),
                "total": len(registrations), "records": records}


_STATUS_LABELS = {"open": "在院（未结算）", "settled": "已结算", "cancelled": "已撤销入院", "reversed": "已冲正",
                  "paid_in_full": "已全额垫付并补登记，不能直接结算（003 §17）"}


def _claim_of(connection: sqlite3.Connection, settlement_id: str) -> sqlite3.Row | None:
    """The claim a settlement is live in (as a settlement, not as a cancellation), with its chunks received."""
    return connection.execute(
        "SELECT c.claim_no, c.status, c.chunks, c.period, (SELECT count(DISTINCT chunk) FROM claim_entry r "
        "WHERE r.claim_no = c.claim_no AND r.live = 1) AS received FROM claim_entry e JOIN claim c USING (claim_no) "
        "WHERE e.settlement_id = ? AND e.kind = 'settlement' AND e.live = 1", (settlement_id,)).fetchone()


def _period_end(period: str) -> dt.date:
    """The last day of a `YYYY-MM` period."""
    year, month = int(period[:4]), int(period[5:7])
    return dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def _negated(text: str) -> str:
    return wire.money(-Decimal(text) + 0)  # + 0: a zero stays "0.00", never "-0.00"


def _rows_by_id(connection: sqlite3.Connection, ids: list[int]) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows.extend(connection.execute(f"SELECT * FROM fee_line WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return rows


def _person_json(row: sqlite3.Row) -> dict[str, Any]:
    return {"social_security_number": row["ssn"], "name": row["name"], "sex": row["sex"],
            "birth_date": row["birth_date"], "category": row["category"],
            "insured_place": {"province": row["insured_province"], "city": row["insured_city"],
                              "city_code": row["insured_city_code"]}}


def _recognition_json(row: sqlite3.Row) -> dict[str, Any]:
    return {"decision_no": row["decision_no"], "kind": row["kind"], "injury_date": row["injury_date"],
            "decided_on": row["decided_on"], "diagnoses": json.loads(row["diagnoses"])}


def _filing_case_json(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "category": row["category"], "care": row["care"].split(","),
            "destination": {"province": row["dest_province"], "city": row["dest_city"],
                            "city_code": row["dest_city_code"], "institution_code": row["dest_institution"]},
            "approved_on": row["approved_on"], "valid_from": row["valid_from"], "valid_to": row["valid_to"],
            "status": row["status"], "terminated_on": row["terminated_on"],
            "used_by_settlement": bool(row["used_by_settlement"]), "filed_on": row["filed_on"]}


_filing_json = _filing_case_json  # the wire shape of a filing is the case file's


def _notice_json(connection: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    person = connection.execute("SELECT name FROM person WHERE ssn = ?", (row["ssn"],)).fetchone()
    return {"notice_no": row["notice_no"], "social_security_number": row["ssn"], "name": person["name"],
            "insured_place": {"province": row["insured_province"], "city": row["insured_city"],
                              "city_code": row["insured_city_code"]},
            "issued": row["issued"], "valid_until": row["valid_until"], "status": row["status"],
            "used_by_settlement": row["used_by"] or None, "items": json.loads(row["items"])}


def _catalogue_case_json(row: sqlite3.Row) -> dict[str, Any]:
    return {"code": row["code"], "name": row["name"], "category": row["category"], "price_limit": row["price_limit"],
            "max_pay": row["max_pay"], "per_day": bool(row["per_day"])}


_LINE_KEYS = frozenset({"seq", "code", "name", "category", "quantity", "unit_price", "amount", "date", "diagnosis",
                        "injury", "refund_of"})


def _parse_line(raw: Any, index: int, problems: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One uploaded line, checked; problems appended with the line's path (the call is refused)."""
    path = f"$.lines[{index}]"
    if not isinstance(raw, dict):
        problems.append({"seq": None, "path": path, "message": f"{path} 应为 JSON 对象"})
        return None
    seq = raw.get("seq")
    found: list[str] = []

    def bad(key: str, message: str) -> None:
        found.append(key)
        problems.append({"seq": seq, "path": f"{path}.{key}", "message": f"seq {seq}：{message}"})

    for key in sorted(set(raw) - _LINE_KEYS):
        bad(key, f"未知字段 {key}")
    for key in sorted({"seq", "code", "name", "category", "quantity", "unit_price", "amount", "date"} - set(raw)):
        bad(key, f"缺少字段 {key}")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        bad("seq", "明细序号应为正整数")
    for key in ("code", "name"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            bad(key, f"{key} 应为非空字符串")
    if "category" in raw and raw["category"] not in CATEGORIES:
        bad("category", f"类别只能取 {'、'.join(CATEGORIES)}")
    numbers: dict[str, Decimal] = {}
    for key in ("quantity", "unit_price", "amount"):
        if key in raw:
            try:
                numbers[key] = wire.parse_decimal(raw[key], key)
            except wire.WireError:
                bad(key, f"{key} 应为字符串形式的小数（如 \"12.50\"），实际为 {raw[key]!r}")
    date = raw.get("date")
    if "date" in raw and not _is_date(date):
        bad("date", f"日期应为 YYYY-MM-DD，实际为 {date!r}")
    diagnosis = raw.get("diagnosis")
    if diagnosis is not None and (not isinstance(diagnosis, str) or not diagnosis.strip()):
        bad("diagnosis", "诊断编码应为字符串或 null")
    injury = raw.get("injury")
    if injury is not None and not isinstance(injury, bool):
        bad("injury", "伤病分离标志 injury 应为 true（因伤）、false（因病）或 null")
    refund_of = raw.get("refund_of")
    if refund_of is not None and (isinstance(refund_of, bool) or not isinstance(refund_of, int)):
        bad("refund_of", "refund_of 应为原明细的 seq 或 null")
    quantity, unit_price, amount = numbers.get("quantity"), numbers.get("unit_price"), numbers.get("amount")
    if quantity is not None:
        if quantity == 0:
            bad("quantity", "数量不能为零")
        elif quantity < 0 and refund_of is None:
            bad("quantity", "数量为负的退费明细必须用 refund_of 指明原明细")
        elif quantity > 0 and refund_of is not None:
            bad("quantity", "退费明细的数量应为负数")
    if unit_price is not None and unit_price < 0:
        bad("unit_price", "单价不能为负数")
    if amount is not None:
        if amount != amount.quantize(Decimal("0.01")):
            bad("amount", "金额最多两位小数")
        elif quantity is not None and unit_price is not None and amount != round_money(quantity * unit_price):
            bad("amount", f"金额 {raw['amount']} 不等于 数量 × 单价 = {round_money(quantity * unit_price)}")
    if found:
        return None
    return {"seq": seq, "code": raw["code"], "name": raw["name"], "category": raw["category"],
            "quantity": raw["quantity"], "unit_price": raw["unit_price"], "amount": raw["amount"], "date": date,
            "diagnosis": diagnosis, "injury": injury, "refund_of": refund_of}


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _same_line(row: sqlite3.Row, line: dict[str, Any]) -> bool:
    stored_injury = None if row["injury"] is None else bool(row["injury"])
    return (row["code"], row["name"], row["category"], Decimal(row["quantity"]), Decimal(row["unit_price"]),
            Decimal(row["amount"]), row["date"], row["diagnosis"], stored_injury, row["refund_of"]) == (
        line["code"], line["name"], line["category"], Decimal(line["quantity"]), Decimal(line["unit_price"]),
        Decimal(line["amount"]), line["date"], line["diagnosis"], line["injury"], line["refund_of"])


def _line_reply(line: dict[str, Any], entry: sqlite3.Row | None) -> dict[str, Any]:
    """NHSA-like per-line preview: in catalogue, limits, the part over the limit or self-paid."""
    quantity, unit_price, amount = Decimal(line["quantity"]), Decimal(line["unit_price"]), Decimal(line["amount"])
    over = self_pay = ZERO
    notes = []
    if line["injury"] is False:
        notes.append("非工伤伤情费用（伤病分离）")
    elif line["injury"] is None:
        notes.append("按关联诊断区分伤病")
    limit = None
    if entry is None:
        self_pay = amount
        notes.append("目录外项目，自费")
    else:
        limits = [_dec(entry["price_limit"]), _dec(entry["max_pay"])]
        present = [value for value in limits if value is not None]
        limit = min(present) if present else None
        if limit is not None and unit_price > limit:
            over = amount - round_money(quantity * limit)
            notes.append(f"单价超过限价 {limit}")
    return {"seq": line["seq"], "in_catalogue": entry is not None,
            "price_limit": entry["price_limit"] if entry is not None else None,
            "max_pay": entry["max_pay"] if entry is not None else None,
            "over_limit_amount": wire.money(over), "self_pay_amount": wire.money(self_pay),
            "non_injury": line["injury"] is False, "note": "；".join(notes)}


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def list_disputes(connection: sqlite3.Connection, claim_no: str | None = None) -> list[dict[str, Any]]:
    """The disputes the centre holds (admin view), evidence as sent."""
    query = "SELECT * FROM dispute"
    args: tuple[str, ...] = ()
    if claim_no:
        query, args = query + " WHERE claim_no = ?", (claim_no,)
    return [{**dict(row), "evidence": json.loads(row["evidence"])}
            for row in connection.execute(query + " ORDER BY dispute_id", args)]


def answer_dispute(connection: sqlite3.Connection, data: Any, today: dt.date) -> dict[str, Any]:
    """The agency's answer to a dispute (`003 §20`): `{"dispute_id": …, "decision": "upheld" | "rejected",
    "answer": "…"}`. The answer is returned by 3302; the deduction's amount is not changed here."""
    if (not isinstance(data, dict) or not isinstance(data.get("dispute_id"), str)
            or data.get("decision") not in ("upheld", "rejected")
            or not isinstance(data.get("answer"), str) or not data["answer"].strip()):
        raise ValueError("应为 {\"dispute_id\": …, \"decision\": \"upheld\" | \"rejected\", \"answer\": 答复}")
    with store.transaction(connection):
        row = connection.execute("SELECT * FROM dispute WHERE dispute_id = ?", (data["dispute_id"],)).fetchone()
        if row is None or row["status"] == "withdrawn":
            raise ValueError(f"没有异议 {data['dispute_id']}")
        connection.execute("UPDATE dispute SET status = ?, answer = ?, answered = ? WHERE dispute_id = ?",
                           (data["decision"], data["answer"].strip(), today.isoformat(), data["dispute_id"]))
    return {"dispute_id": data["dispute_id"], "status": data["decision"], "answered": today.isoformat()}


HAND_AUDIT_META = "hand_audit"


def hand_audit_items(connection: sqlite3.Connection) -> dict[str, str]:
    """The item codes the agency's reviewers deduct by hand, each with its reason (empty: none)."""
    stored = store.get_meta(connection, HAND_AUDIT_META)
    return dict(json.loads(stored)) if stored else {}


def set_hand_audit(connection: sqlite3.Connection, items: Any) -> dict[str, str]:
    """Replace the hand-audit list from `{"items": [{"code": …, "reason": …}]}` (an empty list clears it)."""
    if not isinstance(items, list):
        raise ValueError("items 应为数组")
    judged: dict[str, str] = {}
    for index, item in enumerate(items):
        if (not isinstance(item, dict) or set(item) != {"code", "reason"} or not isinstance(item["code"], str)
                or not item["code"] or not isinstance(item["reason"], str) or not item["reason"].strip()):
            raise ValueError(f"items[{index}] 应为 {{\"code\": 项目编码, \"reason\": 扣款理由}}")
        judged[item["code"]] = item["reason"].strip()
    with store.transaction(connection):
        store.set_meta(connection, HAND_AUDIT_META, json.dumps(judged, ensure_ascii=False))
    return judged
