"""The centre's wire protocol, shared by the client adapter and the sandbox centre.

`docs/centre-interface.md` is the specification; this module is its executable half:
transaction codes, the request/reply envelope, the `msgid` format, the canonical JSON
that is signed, HMAC-SHA256 signatures and the error-code table. No I/O here: both
sides (the counter's adapter and `app.sandbox`) build and check messages with it.

Money, quantities and prices travel as decimal strings ("123.45"); a JSON float
anywhere in a message makes it malformed, so that no float ever touches money.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from app.errors import WiCounterError
from app.textclean import clean, has_unsafe, unsafe_in

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "1.0"  # the envelope's `infver`
API_PATH = "/api/v1/call"  # every transaction is a POST of one envelope here
RECEIVER_SYSTEM = "WIC-SANDBOX"  # `recer_sys_code` the sandbox expects; a real centre names its own
MAX_FEE_LINES_PER_CALL = 100  # Guangdong's interface uploads at most 100 lines a call
MAX_CLAIM_SETTLEMENTS_PER_CHUNK = 100
CLOCK_SKEW_SECONDS = 300  # a request whose inf_time is further than this from the centre's clock is stale
SIGNATURE_FIELD = "signature"
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # `inf_time`, `refmsg_time`, `respond_time`, Beijing time

INSTITUTION_CODE = re.compile(r"[A-Za-z0-9]{12}")
MSGID = re.compile(r"(?P<institution>[A-Za-z0-9]{12})(?P<stamp>[0-9]{14})(?P<sequence>[0-9]{4})")
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class Transaction(str, Enum):
    """Transaction codes (`infno`), NHSA-like four digits. The value is the wire code."""

    SIGN_IN = "9001"
    SIGN_OUT = "9002"
    PERSON_LOOKUP = "1101"
    CATALOGUE_DOWNLOAD = "1301"
    NOTICE_QUERY = "1401"
    ADMISSION = "2401"
    ADMISSION_CANCEL = "2404"
    FEE_UPLOAD = "2301"
    FEE_CANCEL = "2302"
    PRE_SETTLEMENT = "2303"
    SETTLEMENT = "2304"
    SETTLEMENT_CANCEL = "2305"
    FULL_PAYMENT_REGISTRATION = "2306"
    REHAB_PLAN = "2307"
    REVERSAL = "2601"
    RECONCILE_TOTALS = "3201"
    RECONCILE_DETAILS = "3202"
    CLAIM_UPLOAD = "3301"
    CLAIM_STATUS = "3302"
    DEDUCTION_DISPUTE = "3303"
    OUTCOME_QUERY = "5101"
    REGISTRATION_QUERY = "5201"

    @property
    def label(self) -> str:
        return _TRANSACTION_LABELS[self]

    @property
    def changes_state(self) -> bool:
        """True when the centre's records change: such a call goes through the outbox first."""
        return self in STATE_CHANGING

    @property
    def safe_to_repeat(self) -> bool:
        """True when sending it again (with a new msgid) can do no harm: it changes nothing, or
        repeating it gives the same state (sign-in, reversal). Every other transaction must be
        resolved by `OUTCOME_QUERY` on its msgid, never simply sent again."""
        return self in SAFE_TO_REPEAT

    @property
    def reversible(self) -> bool:
        """True when `REVERSAL` (2601) can undo it."""
        return self in REVERSIBLE


_TRANSACTION_LABELS = {
    Transaction.SIGN_IN: "签到",
    Transaction.SIGN_OUT: "签退",
    Transaction.PERSON_LOOKUP: "人员信息获取",
    Transaction.CATALOGUE_DOWNLOAD: "目录下载",
    Transaction.NOTICE_QUERY: "配置费用核付通知单查询",
    Transaction.ADMISSION: "入院办理（就医登记）",
    Transaction.ADMISSION_CANCEL: "撤销入院登记",
    Transaction.FEE_UPLOAD: "费用明细上传",
    Transaction.FEE_CANCEL: "撤销费用明细",
    Transaction.PRE_SETTLEMENT: "预结算",
    Transaction.SETTLEMENT: "出院结算",
    Transaction.SETTLEMENT_CANCEL: "撤销结算",
    Transaction.FULL_PAYMENT_REGISTRATION: "全额垫付补登记",
    Transaction.REHAB_PLAN: "康复方案上传",
    Transaction.REVERSAL: "冲正交易",
    Transaction.RECONCILE_TOTALS: "对总账",
    Transaction.RECONCILE_DETAILS: "对明细账",
    Transaction.CLAIM_UPLOAD: "月度结算申请上传",
    Transaction.CLAIM_STATUS: "月度结算申请审核结果查询",
    Transaction.DEDUCTION_DISPUTE: "扣款异议提交",
    Transaction.OUTCOME_QUERY: "交易结果查询",
    Transaction.REGISTRATION_QUERY: "就诊信息查询",
}

STATE_CHANGING = frozenset({
    Transaction.ADMISSION, Transaction.ADMISSION_CANCEL, Transaction.FEE_UPLOAD, Transaction.FEE_CANCEL,
    Transaction.SETTLEMENT, Transaction.SETTLEMENT_CANCEL, Transaction.REVERSAL, Transaction.CLAIM_UPLOAD,
    Transaction.FULL_PAYMENT_REGISTRATION, Transaction.DEDUCTION_DISPUTE, Transaction.REHAB_PLAN,
})
REVERSIBLE = STATE_CHANGING - {Transaction.REVERSAL}
SAFE_TO_REPEAT = frozenset(Transaction) - STATE_CHANGING | {Transaction.REVERSAL}


class ReplyCode(str, Enum):
    """`infcode` of a reply: "0" done, "-1" refused (then `err_code` says why).
    A refused call changed nothing at the centre."""

    OK = "0"
    FAILED = "-1"


class ErrorCode(str, Enum):
    """`err_code` of a refused reply. The value is the wire code; `message` the Chinese text."""

    MALFORMED_REQUEST = "1001"
    BAD_SIGNATURE = "1002"
    STALE_REQUEST = "1003"
    DUPLICATE_MSGID = "1004"
    NOT_SIGNED_IN = "1005"
    UNKNOWN_INSTITUTION = "1006"
    UNKNOWN_TRANSACTION = "1007"
    BAD_MSGID = "1008"
    MSGID_VOIDED = "1009"
    PERSON_NOT_FOUND = "2001"
    CARD_INVALID = "2002"
    ECARD_TOKEN_INVALID = "2003"
    NOT_ELIGIBLE = "3001"
    REGISTRATION_NOT_FOUND = "3002"
    REGISTRATION_STATE = "3003"
    TOO_MANY_LINES = "3004"
    LINE_INVALID = "3005"
    LINE_CONFLICT = "3006"
    UNCLASSIFIED_LINES = "3007"
    SETTLEMENT_NOT_FOUND = "3008"
    SETTLEMENT_STATE = "3009"
    REHAB_PLAN_MISSING = "3010"
    NOTICE_NOT_FOUND = "3011"
    NOTICE_USED = "3012"
    NOTICE_INVALID = "3013"
    CLAIM_INVALID = "4001"
    CLAIM_NOT_FOUND = "4002"
    ALREADY_CLAIMED = "4003"
    DISPUTE_INVALID = "4004"
    NOT_REVERSIBLE = "5001"
    CENTRE_BUSY = "9001"
    INTERNAL_ERROR = "9999"

    @property
    def message(self) -> str:
        return _ERROR_MESSAGES[self]

    @property
    def retryable(self) -> bool:
        """True when the refusal is passing (busy, clock, session): nothing was applied, and the same
        operation may be sent again later under a NEW msgid (the refused msgid stays final)."""
        return self in RETRYABLE


_ERROR_MESSAGES = {
    ErrorCode.MALFORMED_REQUEST: "请求报文格式错误",
    ErrorCode.BAD_SIGNATURE: "报文签名验证失败（密钥不符或报文被篡改）",
    ErrorCode.STALE_REQUEST: "报文时间与中心时间相差过大，请检查本机时钟",
    ErrorCode.DUPLICATE_MSGID: "报文编号已使用过，中心不重复受理；请按报文编号查询原交易结果",
    ErrorCode.NOT_SIGNED_IN: "未签到或签到已失效，请重新签到",
    ErrorCode.UNKNOWN_INSTITUTION: "中心不认识此协议机构编码",
    ErrorCode.UNKNOWN_TRANSACTION: "未知的交易编号",
    ErrorCode.BAD_MSGID: "报文编号格式错误（应为机构编码12位+时间14位+序号4位）",
    ErrorCode.MSGID_VOIDED: "此报文编号已被冲正作废，中心不再受理",
    ErrorCode.PERSON_NOT_FOUND: "中心未找到该参保人员",
    ErrorCode.CARD_INVALID: "社会保障卡无效或已过有效期",
    ErrorCode.ECARD_TOKEN_INVALID: "电子社保卡二维码无效或已过期，请让参保人刷新二维码",
    ErrorCode.NOT_ELIGIBLE: "不符合工伤联网直接结算条件",
    ErrorCode.REGISTRATION_NOT_FOUND: "中心没有此就医登记号",
    ErrorCode.REGISTRATION_STATE: "就医登记当前状态不允许此操作",
    ErrorCode.TOO_MANY_LINES: f"一次最多上传 {MAX_FEE_LINES_PER_CALL} 条费用明细",
    ErrorCode.LINE_INVALID: "费用明细有误",
    ErrorCode.LINE_CONFLICT: "明细序号已上传过且内容不同",
    ErrorCode.UNCLASSIFIED_LINES: "有费用明细未区分伤病（伤病分离），不能结算",
    ErrorCode.SETTLEMENT_NOT_FOUND: "中心没有此结算记录",
    ErrorCode.SETTLEMENT_STATE: "结算记录当前状态不允许此操作（已撤销或已申报）",
    ErrorCode.REHAB_PLAN_MISSING: "康复住院尚未上传康复方案，不能出院结算",
    ErrorCode.NOTICE_NOT_FOUND: "中心没有此配置费用核付通知单",
    ErrorCode.NOTICE_USED: "配置费用核付通知单已结算使用过，不能再次结算",
    ErrorCode.NOTICE_INVALID: "配置费用核付通知单不符（人员、有效期、状态或配置项目）",
    ErrorCode.CLAIM_INVALID: "月度结算申请有误",
    ErrorCode.CLAIM_NOT_FOUND: "中心没有此月度结算申请",
    ErrorCode.ALREADY_CLAIMED: "结算记录已在其他月度申请中申报",
    ErrorCode.DISPUTE_INVALID: "扣款异议有误，经办机构未受理",
    ErrorCode.NOT_REVERSIBLE: "原交易不能冲正",
    ErrorCode.CENTRE_BUSY: "中心暂时无法处理，请稍后重试",
    ErrorCode.INTERNAL_ERROR: "中心内部错误，交易未执行",
}

RETRYABLE = frozenset({ErrorCode.CENTRE_BUSY, ErrorCode.INTERNAL_ERROR, ErrorCode.STALE_REQUEST,
                       ErrorCode.NOT_SIGNED_IN})


class WireError(WiCounterError):
    """A message does not follow the protocol (malformed JSON, a float, a bad field...).

    `code` is the error code a centre answers with when it receives such a message."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.MALFORMED_REQUEST) -> None:
        super().__init__(message)
        self.code = code


# --- canonical JSON and signatures ------------------------------------------------------


def _reject_float(value: str) -> Any:
    raise WireError(f"报文含 JSON 小数 {value}：金额、数量、单价必须写成字符串（如 \"12.50\"）")


def _reject_constant(value: str) -> Any:
    raise WireError(f"报文含非法数值 {value}")


def _check_no_float(value: Any, path: str = "$") -> None:
    if isinstance(value, float):
        raise WireError(f"{path}: 不能使用 JSON 小数（{value!r}），金额与数量应为字符串")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise WireError(f"{path}: 对象的键必须是字符串")
            _check_no_float(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_no_float(item, f"{path}[{index}]")
    elif isinstance(value, Decimal):
        raise WireError(f"{path}: Decimal 须先用 money() 转成字符串")


def canonical_json(value: Any, *, checked: bool = False) -> bytes:
    """The bytes that are signed: UTF-8 JSON, keys sorted, no whitespace, non-ASCII kept as is.

    Equals `json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":"))`; floats
    are refused (money is a string on the wire). `checked=True` skips the walk looking for floats,
    for values known to hold none (decoded by `decode`, or checked once before)."""
    if not checked:
        _check_no_float(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def sign(message: dict[str, Any], key: bytes, *, checked: bool = False) -> str:
    """HMAC-SHA256 over the canonical JSON of `message` without its `signature`; lowercase hex."""
    unsigned = {k: v for k, v in message.items() if k != SIGNATURE_FIELD}
    return hmac.new(key, canonical_json(unsigned, checked=checked), hashlib.sha256).hexdigest()


def signed(message: dict[str, Any], key: bytes, *, checked: bool = False) -> dict[str, Any]:
    """A copy of `message` with its `signature` set."""
    result = {k: v for k, v in message.items() if k != SIGNATURE_FIELD}
    result[SIGNATURE_FIELD] = sign(result, key, checked=checked)
    return result


def signature_valid(message: dict[str, Any], key: bytes) -> bool:
    """Verify a message decoded by `decode` (which refuses floats, so none is looked for here)."""
    claimed = message.get(SIGNATURE_FIELD)
    if not isinstance(claimed, str):
        return False
    return hmac.compare_digest(claimed, sign(message, key, checked=True))


def encode_signed(message: dict[str, Any], key: bytes) -> bytes:
    """Sign and encode in one step, looking for floats once.

    The look is a parse of the canonical bytes with floats refused (C speed: a 100-line fee
    upload is encoded for every call); only when it finds something does the slower walk run,
    to name where the float or Decimal sits."""
    unsigned = {k: v for k, v in message.items() if k != SIGNATURE_FIELD}
    try:
        if not all(isinstance(k, str) for k in unsigned):
            raise TypeError("keys must be str")  # the walk below names where
        # Each top-level value encoded once: the signed bytes and the sent bytes differ only by
        # the signature's member, so they are joined from the same parts (a settlement's reply
        # is 20,000 items: encoding it twice was a part of the patient's wait).
        parts = {k: json.dumps(k, ensure_ascii=False) + ":" + json.dumps(
            v, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False) for k, v in unsigned.items()}
        body = ("{" + ",".join(parts[k] for k in sorted(parts)) + "}").encode("utf-8")
        json.loads(body, parse_float=_reject_float)
    except (TypeError, ValueError, WireError):
        _check_no_float(unsigned)  # raises, naming the path
        raise
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    parts[SIGNATURE_FIELD] = json.dumps(SIGNATURE_FIELD) + ":" + json.dumps(signature)
    return ("{" + ",".join(parts[k] for k in sorted(parts)) + "}").encode("utf-8")


def decode(body: bytes) -> dict[str, Any]:
    """Parse a message body; WireError unless it is a JSON object without floats."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError("报文不是 UTF-8 编码") from exc
    try:
        value = json.loads(text, parse_float=_reject_float, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise WireError(f"报文不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列 {exc.msg}") from exc
    except ValueError as exc:  # integers past Python's 4300 digits (found by tests/fuzz)
        raise WireError("报文含过长的整数（超过 4300 位）") from exc
    except RecursionError as exc:  # hostile nesting would exhaust the stack (found by tests/fuzz)
        raise WireError("报文嵌套层数过多") from exc
    if not isinstance(value, dict):
        raise WireError("报文应为 JSON 对象")
    return value


def encode(message: dict[str, Any]) -> bytes:
    """The bytes sent on the wire (the canonical form, so what is sent is what was signed)."""
    return canonical_json(message)


# --- values ---------------------------------------------------------------------------


def money(value: Decimal) -> str:
    """A money amount on the wire: "123.45" (two decimals, never a float)."""
    return f"{value.quantize(Decimal('0.01')):.2f}"


def decimal_text(value: Decimal) -> str:
    """A quantity or unit price on the wire, without losing digits."""
    text = format(value, "f")
    return text


def parse_decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str) or not _DECIMAL_TEXT.fullmatch(value):
        raise WireError(f"{where}: 应为字符串形式的小数（如 \"12.50\"），实际为 {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes it
        raise WireError(f"{where}: 不是有效的小数 {value!r}") from exc


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime(TIME_FORMAT)


def parse_time(value: Any, where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise WireError(f"{where}: 应为 \"YYYY-MM-DD HH:MM:SS\" 格式的时间")
    try:
        return dt.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=CHINA_TZ)
    except ValueError as exc:
        raise WireError(f"{where}: 时间格式错误 {value!r}，应为 YYYY-MM-DD HH:MM:SS") from exc


def now() -> dt.datetime:
    """This counter's clock (Beijing time): the one clock of the counter process (msgids, inf_time)."""
    return dt.datetime.now(CHINA_TZ)


class CentreClock:
    """The centre's time as its verified replies tell it (`respond_time`), as an offset to this
    counter's clock (issue 21 B7): the business date of a discharge, a settlement or a day-end
    reconciliation is the centre's, not that of a counter a few minutes off around midnight.
    Before any reply is seen the offset is 0 (this counter's clock)."""

    def __init__(self) -> None:
        self._offset: dt.timedelta | None = None
        self._lock = threading.Lock()

    def observe(self, respond_time: dt.datetime, sent: dt.datetime, received: dt.datetime) -> None:
        """`sent`/`received`: this counter's clock around the exchange; the reply was made in between."""
        # respond_time is whole seconds: the reply was made within the second after it.
        offset = respond_time + dt.timedelta(milliseconds=500) - (sent + (received - sent) / 2)
        with self._lock:
            self._offset = offset

    @property
    def offset(self) -> dt.timedelta | None:
        """Centre minus counter, None while no reply was seen."""
        with self._lock:
            return self._offset

    def now(self) -> dt.datetime:
        offset = self.offset
        return now() + (offset or dt.timedelta())

    def forget(self) -> None:
        with self._lock:
            self._offset = None


CENTRE_CLOCK = CentreClock()


def centre_now() -> dt.datetime:
    """The centre's time (Beijing): this counter's clock corrected by what the centre's replies said."""
    return CENTRE_CLOCK.now()


def clock_problem() -> str | None:
    """A Chinese sentence when this counter's clock is further off the centre's than the centre
    accepts (`CLOCK_SKEW_SECONDS`), else None."""
    offset = CENTRE_CLOCK.offset
    if offset is None or abs(offset.total_seconds()) <= CLOCK_SKEW_SECONDS:
        return None
    ahead = "慢" if offset.total_seconds() > 0 else "快"
    return (f"本机时钟比结算中心{ahead} {abs(offset.total_seconds()):.0f} 秒，超过允许的 {CLOCK_SKEW_SECONDS} 秒："
            "请检查本机时钟（与标准时间同步）后再办理。")


# --- msgid ----------------------------------------------------------------------------


def make_msgid(institution_code: str, moment: dt.datetime, sequence: int) -> str:
    """institution code (12) + yyyyMMddHHmmss (14, Beijing time) + sequence mod 10000 (4).

    `sequence` comes from the database sequence (never random), so msgids are unique as long as a
    site sends fewer than 10,000 calls within one second."""
    if not INSTITUTION_CODE.fullmatch(institution_code):
        raise WireError(f"协议机构编码应为 12 位字母或数字：{institution_code!r}", ErrorCode.BAD_MSGID)
    if sequence < 0:
        raise WireError(f"报文序号不能为负：{sequence}", ErrorCode.BAD_MSGID)
    stamp = moment.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")
    return f"{institution_code}{stamp}{sequence % 10000:04d}"


# The msgid's 4-digit sequence = the issuing counter's 终端号 (2 digits, given by the centre at
# sign-in, 9001) + its slot within the second (2 digits). "00" is the number of a counter that has
# not registered yet: only its first sign-in uses it (docs/centre-interface.md §4).
TERMINAL_NO = re.compile(r"[0-9]{2}")
UNREGISTERED_TERMINAL = "00"
SLOTS_PER_SECOND = 100
COUNTER_ID = re.compile(r"[0-9a-f]{16,64}")  # the counter's identity (lowercase hex), made once


def make_terminal_msgid(institution_code: str, moment: dt.datetime, terminal_no: str, slot: int) -> str:
    """institution code (12) + yyyyMMddHHmmss (14, Beijing time) + 终端号 (2) + slot in the second (2).

    Unique across the institution whatever the databases: the centre gives each counter its own
    终端号, and a counter never issues two msgids with the same second and slot."""
    if not TERMINAL_NO.fullmatch(terminal_no):
        raise WireError(f"终端号应为 2 位数字：{terminal_no!r}", ErrorCode.BAD_MSGID)
    if not 0 <= slot < SLOTS_PER_SECOND:
        raise WireError(f"报文序号应在 0 至 {SLOTS_PER_SECOND - 1} 之间：{slot}", ErrorCode.BAD_MSGID)
    return make_msgid(institution_code, moment, int(terminal_no) * SLOTS_PER_SECOND + slot)


def msgid_terminal(msgid: str) -> str:
    """The 终端号 in a well-formed msgid (the sequence's first two digits)."""
    return msgid[26:28]


def request_fingerprint(data: Any, *, checked: bool = False) -> str:
    """SHA-256 (lowercase hex) of the canonical JSON of a request's `input.data`: what the centre
    keeps with each msgid and returns in 5101, so a counter can prove a recorded call is its own.
    `checked=True`: `data` is known to hold no float (decoded by `decode`), see `canonical_json`."""
    return hashlib.sha256(canonical_json(data, checked=checked)).hexdigest()


def msgid_problem(msgid: Any, institution_code: str | None = None) -> str | None:
    """None when `msgid` is well formed (and belongs to `institution_code` if given), else why not."""
    if not isinstance(msgid, str):
        return "报文编号应为字符串"
    match = MSGID.fullmatch(msgid)
    if match is None:
        return f"报文编号 {msgid!r} 格式错误：应为机构编码 12 位 + yyyyMMddHHmmss + 4 位序号"
    try:
        dt.datetime.strptime(match["stamp"], "%Y%m%d%H%M%S")
    except ValueError:
        return f"报文编号 {msgid!r} 中的时间 {match['stamp']} 不是有效时间"
    if institution_code is not None and match["institution"] != institution_code:
        return f"报文编号 {msgid!r} 不以本机构编码 {institution_code} 开头"
    return None


# --- envelopes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who sends: the agreement institution and the operator at the counter."""

    institution_code: str
    institution_name: str
    operator_code: str
    operator_name: str
    treatment_region: str  # `mdtrtarea_admvs`: the 6-digit code of the city where the hospital is
    operator_type: str = "1"  # `opter_type`: 1 staff (经办人员), 2 self-service terminal, 3 system


@dataclass(frozen=True)
class Request:
    infno: Transaction
    msgid: str
    caller: Caller
    inf_time: dt.datetime
    sign_no: str
    insured_region: str  # `insuplc_admdvs`, "" when not known yet
    data: dict[str, Any]
    receiver: str = RECEIVER_SYSTEM
    version: str = PROTOCOL_VERSION

    def as_message(self) -> dict[str, Any]:
        return {
            "infno": self.infno.value,
            "msgid": self.msgid,
            "infver": self.version,
            "recer_sys_code": self.receiver,
            "fixmedins_code": self.caller.institution_code,
            "fixmedins_name": self.caller.institution_name,
            "opter_type": self.caller.operator_type,
            "opter": self.caller.operator_code,
            "opter_name": self.caller.operator_name,
            "mdtrtarea_admvs": self.caller.treatment_region,
            "insuplc_admdvs": self.insured_region,
            "inf_time": format_time(self.inf_time),
            "sign_no": self.sign_no,
            "input": {"data": self.data},
        }

    def to_bytes(self, key: bytes) -> bytes:
        return encode_signed(self.as_message(), key)


REQUEST_FIELDS = frozenset({
    "infno", "msgid", "infver", "recer_sys_code", "fixmedins_code", "fixmedins_name", "opter_type", "opter",
    "opter_name", "mdtrtarea_admvs", "insuplc_admdvs", "inf_time", "sign_no", "input", SIGNATURE_FIELD,
})


def _text_field(message: dict[str, Any], key: str, *, allow_empty: bool = False) -> str:
    value = message.get(key)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise WireError(f"请求缺少字段 {key} 或其不是非空字符串")
    return value


def parse_request(message: dict[str, Any]) -> Request:
    """Check the envelope's shape (not its signature: see signature_valid) and read it."""
    unknown = sorted(set(message) - REQUEST_FIELDS)
    if unknown:
        raise WireError(f"请求含未知字段：{'、'.join(unknown)}")
    infno_text = _text_field(message, "infno")
    try:
        infno = Transaction(infno_text)
    except ValueError as exc:
        raise WireError(f"未知的交易编号 {infno_text!r}", ErrorCode.UNKNOWN_TRANSACTION) from exc
    institution = _text_field(message, "fixmedins_code")
    if not INSTITUTION_CODE.fullmatch(institution):
        raise WireError(f"协议机构编码应为 12 位字母或数字：{institution!r}")
    msgid = message.get("msgid")
    problem = msgid_problem(msgid, institution)
    if problem:
        raise WireError(problem, ErrorCode.BAD_MSGID)
    envelope_input = message.get("input")
    if not isinstance(envelope_input, dict) or set(envelope_input) != {"data"} or not isinstance(
            envelope_input["data"], dict):
        raise WireError("请求的 input 应为 {\"data\": {...}}")
    caller = Caller(
        institution_code=institution,
        institution_name=_text_field(message, "fixmedins_name"),
        operator_code=_text_field(message, "opter"),
        operator_name=_text_field(message, "opter_name"),
        treatment_region=_text_field(message, "mdtrtarea_admvs"),
        operator_type=_text_field(message, "opter_type"),
    )
    return Request(
        infno=infno,
        msgid=msgid,  # type: ignore[arg-type]  # checked by msgid_problem
        caller=caller,
        inf_time=parse_time(message.get("inf_time"), "inf_time"),
        sign_no=_text_field(message, "sign_no", allow_empty=True),
        insured_region=_text_field(message, "insuplc_admdvs", allow_empty=True),
        data=envelope_input["data"],
        receiver=_text_field(message, "recer_sys_code"),
        version=_text_field(message, "infver"),
    )


@dataclass(frozen=True)
class Reply:
    """A centre's answer. `infcode` OK: `output` holds the result; FAILED: nothing was applied
    and `err_code`/`err_msg` say why (`output` may carry details, e.g. the verdict's reasons)."""

    infcode: ReplyCode
    msgid: str  # the request's msgid, echoed
    inf_refmsgid: str  # the centre's own reference of this call
    refmsg_time: dt.datetime  # when the centre received the request
    respond_time: dt.datetime
    output: dict[str, Any] = field(default_factory=dict)
    err_code: ErrorCode | None = None
    err_msg: str = ""
    warn_msg: str = ""

    @property
    def ok(self) -> bool:
        return self.infcode is ReplyCode.OK

    def as_message(self) -> dict[str, Any]:
        return {
            "infcode": self.infcode.value,
            "msgid": self.msgid,
            "inf_refmsgid": self.inf_refmsgid,
            "refmsg_time": format_time(self.refmsg_time),
            "respond_time": format_time(self.respond_time),
            "err_code": self.err_code.value if self.err_code else "",
            "err_msg": self.err_msg,
            "warn_msg": self.warn_msg,
            "output": self.output,
        }

    def to_bytes(self, key: bytes | None) -> bytes:
        """Signed with the institution's key; unsigned (empty signature) only when the centre could
        not tell which key applies (unknown institution, unreadable request)."""
        message = self.as_message()
        if key is None:
            message[SIGNATURE_FIELD] = ""
            return encode(message)
        return encode_signed(message, key)


REPLY_FIELDS = frozenset({"infcode", "msgid", "inf_refmsgid", "refmsg_time", "respond_time", "err_code", "err_msg",
                          "warn_msg", "output", SIGNATURE_FIELD})


def parse_reply(message: dict[str, Any]) -> Reply:
    """Read a reply's envelope (check its signature first with signature_valid). WireError if the
    reply does not follow the protocol: the caller then treats the outcome as unknown."""
    missing = sorted(REPLY_FIELDS - {"warn_msg"} - set(message))
    if missing:
        raise WireError(f"中心应答缺少字段：{'、'.join(missing)}")
    try:
        infcode = ReplyCode(message["infcode"])
    except ValueError as exc:
        raise WireError(f"中心应答的 infcode 无效：{message['infcode']!r}") from exc
    err_text = message.get("err_code") or ""
    err_code: ErrorCode | None = None
    if infcode is ReplyCode.FAILED:
        try:
            err_code = ErrorCode(err_text)
        except ValueError as exc:
            raise WireError(f"中心应答的错误代码未知：{err_text!r}") from exc
    output = message["output"]
    if not isinstance(output, dict):
        raise WireError("中心应答的 output 应为 JSON 对象")
    for key in ("msgid", "inf_refmsgid", "err_msg"):
        if not isinstance(message[key], str):
            raise WireError(f"中心应答的 {key} 应为字符串")
    return Reply(
        infcode=infcode,
        msgid=message["msgid"],
        inf_refmsgid=message["inf_refmsgid"],
        refmsg_time=parse_time(message["refmsg_time"], "refmsg_time"),
        respond_time=parse_time(message["respond_time"], "respond_time"),
        output=output,
        err_code=err_code,
        err_msg=message["err_msg"],
        warn_msg=message.get("warn_msg") or "",
    )


def read_reply(body: bytes, key: bytes, expected_msgid: str) -> Reply:
    """Decode, verify and read a reply in one step (what a client does with every answer).

    WireError when the body is not JSON, the signature does not verify, or the reply answers
    another msgid: the outcome of the call is then unknown and must be resolved by query."""
    message = decode(body)
    if not signature_valid(message, key):
        raise WireError("中心应答的签名验证失败，应答不可信")
    try:
        cleaned = _clean_texts(message, "")  # after the signature (which covers what was sent), before any use
    except RecursionError as exc:  # as deep as decode allows, but the walk starts deeper in the stack
        raise WireError("报文嵌套层数过多") from exc
    if cleaned:
        log.warning("结算中心应答（报文编号 %s）的文字含控制字符或文字方向字符，已删除：%s", expected_msgid,
                    "；".join(cleaned[:10]))
    reply = parse_reply(message)
    if reply.msgid != expected_msgid:
        raise WireError(f"中心应答的报文编号 {reply.msgid} 与请求 {expected_msgid} 不符")
    return reply


def _clean_texts(value: Any, path: str) -> list[str]:
    """Remove control and bidirectional characters from every string of `value` (in place); what was
    removed where, as "output.person.name U+202E" (field paths only: never the text, which may be personal)."""
    found: list[str] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        # The path is spelled only where it is needed: a settlement's reply has 100,000 strings.
        if isinstance(item, str):
            if has_unsafe(item):
                points = unsafe_in(item)
                value[key] = clean(item)
                found.append(f"{_field_path(path, key)} {'、'.join(points[:3])}")
        elif isinstance(item, dict | list):
            found.extend(_clean_texts(item, _field_path(path, key)))
    return found


def _field_path(path: str, key: Any) -> str:
    return f"{path}.{key}" if path and isinstance(key, str) else f"{path}[{key}]" if path else str(key)


# --- transaction outcomes (5101) --------------------------------------------------------


class Outcome(str, Enum):
    """What became of a msgid, as `OUTCOME_QUERY` (5101) reports it."""

    APPLIED = "applied"  # done; `output` is the original reply's output
    FAILED = "failed"  # refused; nothing applied
    REVERSED = "reversed"  # was applied, then undone by a reversal (2601)
    VOIDED = "voided"  # never arrived, and a reversal voided it: it will be refused if it arrives
    UNKNOWN = "unknown"  # never accepted (not received, or refused before acceptance: 1001-1003,
    # 1006-1008); the same msgid may be sent again (re-signed), or voided by 2601 before a new one is used
