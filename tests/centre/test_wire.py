"""The wire protocol shared by the client and the sandbox (docs/centre-interface.md §2–§5, §7–§8)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from app.centre import wire
from app.centre.wire import ErrorCode, Outcome, ReplyCode, Transaction

KEY = b"wire-test-key"
CALLER = wire.Caller("H44080100001", "湛江市第一人民医院", "cashier", "张收款", "440800")
DOC = Path(__file__).resolve().parents[2] / "docs" / "centre-interface.md"


def _request(data: dict[str, object] | None = None) -> wire.Request:
    moment = dt.datetime(2026, 11, 30, 10, 15, 2, tzinfo=wire.CHINA_TZ)
    return wire.Request(Transaction.PERSON_LOOKUP, wire.make_msgid("H44080100001", moment, 12),
                        CALLER, moment, "SN1", "", data or {"by": "card", "value": "A44080001"})


def test_canonical_json_is_sorted_compact_utf8_and_refuses_floats() -> None:
    assert wire.canonical_json({"b": "张", "a": [1, {"d": None, "c": True}]}) == \
        '{"a":[1,{"c":true,"d":null}],"b":"张"}'.encode()
    with pytest.raises(wire.WireError, match="小数"):
        wire.canonical_json({"amount": 12.5})
    with pytest.raises(wire.WireError):
        wire.canonical_json({"amount": Decimal("12.50")})  # a Decimal must become a string first


def test_encode_signed_equals_signing_then_encoding_and_names_where_a_float_sits() -> None:
    message = _request({"lines": [{"seq": 1, "amount": "15.00", "name": "阿司匹林"}]}).as_message()
    assert wire.encode_signed(message, KEY) == wire.encode(wire.signed(message, KEY))
    # Joined from per-member parts: the same bytes whatever the members' order, text or an old signature.
    reply = {"output": {"items": [{"seq": 2, "reason": "非工伤\u202e", "fund": "0.00"}], "名": None},
             "signature": "stale", "err_code": "", "msgid": "x", "Output": [True, 1]}
    assert wire.encode_signed(reply, KEY) == wire.encode(wire.signed(reply, KEY))
    assert wire.encode_signed({}, KEY) == wire.encode(wire.signed({}, KEY))
    with pytest.raises(wire.WireError, match=r"\$\.input\.data\.lines\[0\]\.amount"):
        wire.encode_signed(_request({"lines": [{"seq": 1, "amount": 15.0}]}).as_message(), KEY)
    with pytest.raises(wire.WireError, match=r"\$\.input\.data\.price.*Decimal"):
        wire.encode_signed(_request({"price": Decimal("0.50")}).as_message(), KEY)


def test_the_signature_is_hmac_sha256_over_the_envelope_without_signature() -> None:
    message = _request().as_message()
    expected = hmac.new(KEY, json.dumps(message, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                        .encode(), hashlib.sha256).hexdigest()
    signed = wire.signed(message, KEY)
    assert signed["signature"] == expected and re.fullmatch(r"[0-9a-f]{64}", expected)
    assert wire.signature_valid(wire.decode(wire.encode(signed)), KEY)


@pytest.mark.parametrize("path, value", [
    (("input", "data", "value"), "B44010002"), (("fixmedins_code",), "H44080100099"), (("inf_time",), "2026-11-30 10:15:03"),
    (("msgid",), "H44080100001202611301015020013"),
])
def test_any_change_breaks_the_signature(path: tuple[str, ...], value: str) -> None:
    message = wire.decode(_request().to_bytes(KEY))
    node = message
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert not wire.signature_valid(message, KEY)
    assert not wire.signature_valid(wire.decode(_request().to_bytes(KEY)), b"another key")


def test_msgid_is_institution_time_and_sequence() -> None:
    moment = dt.datetime(2026, 11, 30, 2, 15, 2, tzinfo=dt.timezone.utc)  # 10:15:02 in Beijing
    msgid = wire.make_msgid("H44080100001", moment, 123457)
    assert msgid == "H44080100001" + "20261130101502" + "3457" and len(msgid) == 30
    assert wire.msgid_problem(msgid, "H44080100001") is None
    assert "不以本机构编码" in (wire.msgid_problem(msgid, "H44080100099") or "")
    assert wire.msgid_problem("H44080100001202613301015020001") is not None  # month 13
    assert wire.msgid_problem("short") is not None and wire.msgid_problem(42) is not None


def test_request_round_trip_and_strict_envelope() -> None:
    request = _request()
    parsed = wire.parse_request(wire.decode(request.to_bytes(KEY)))
    assert parsed == request
    message = wire.decode(request.to_bytes(KEY))
    message["extra"] = "x"
    with pytest.raises(wire.WireError, match="未知字段"):
        wire.parse_request(message)
    message = wire.decode(request.to_bytes(KEY))
    message["infno"] = "7777"
    with pytest.raises(wire.WireError) as error:
        wire.parse_request(message)
    assert error.value.code is ErrorCode.UNKNOWN_TRANSACTION


def test_read_reply_checks_signature_msgid_and_shape() -> None:
    now = wire.now()
    reply = wire.Reply(ReplyCode.OK, "M1", "R1", now, now, {"total": "12.00"})
    assert wire.read_reply(reply.to_bytes(KEY), KEY, "M1").output == {"total": "12.00"}
    with pytest.raises(wire.WireError, match="签名"):
        wire.read_reply(reply.to_bytes(b"other"), KEY, "M1")
    with pytest.raises(wire.WireError, match="不符"):
        wire.read_reply(reply.to_bytes(KEY), KEY, "M2")
    with pytest.raises(wire.WireError):
        wire.read_reply(b'{"infcode": "0", "output": {"settlement_id": "JS', KEY, "M1")
    refused = wire.Reply(ReplyCode.FAILED, "M1", "R1", now, now, err_code=ErrorCode.NOT_ELIGIBLE, err_msg="x")
    parsed = wire.read_reply(refused.to_bytes(KEY), KEY, "M1")
    assert not parsed.ok and parsed.err_code is ErrorCode.NOT_ELIGIBLE


def test_decode_refuses_floats_and_non_objects() -> None:
    with pytest.raises(wire.WireError, match="12.5"):
        wire.decode(b'{"output": {"total": 12.5}}')
    with pytest.raises(wire.WireError):
        wire.decode(b'{"x": NaN}')
    with pytest.raises(wire.WireError):
        wire.decode(b"[1, 2]")
    with pytest.raises(wire.WireError):
        wire.decode(b"\xff\xfe")
    assert wire.decode(b'{"count": 3}') == {"count": 3}  # integers are fine for counts


def test_money_and_decimals_are_strings() -> None:
    assert wire.money(Decimal("12.5")) == "12.50" and wire.money(Decimal("-0.005")) in ("-0.01", "-0.00")
    assert wire.parse_decimal("0.125", "x") == Decimal("0.125")
    for bad in (1, 1.5, "1e3", "", None, True):
        with pytest.raises(wire.WireError):
            wire.parse_decimal(bad, "x")


def test_which_transactions_change_state_and_which_are_safe_to_repeat() -> None:
    changing = {t.value for t in Transaction if t.changes_state}
    assert changing == {"2401", "2404", "2301", "2302", "2304", "2305", "2306", "2307", "2601", "3301", "3303"}
    safe = {t.value for t in Transaction if t.safe_to_repeat}
    assert safe == {"9001", "9002", "1101", "1301", "1401", "2303", "3201", "3202", "3302", "5101", "5201", "2601"}
    assert {t.value for t in Transaction if t.reversible} == changing - {"2601"}


def test_every_code_is_in_the_interface_document_with_its_message() -> None:
    document = DOC.read_text(encoding="utf-8")
    for transaction in Transaction:
        assert f"### {transaction.value} " in document, transaction
    for code in ErrorCode:
        assert f"| {code.value} | {code.name} | {code.message} |" in document, code
    for outcome in Outcome:
        assert f"`{outcome.value}`" in document
    assert ErrorCode.CENTRE_BUSY.retryable and not ErrorCode.BAD_SIGNATURE.retryable


def test_the_worked_example_of_the_interface_document() -> None:
    document = DOC.read_text(encoding="utf-8")
    signed_bytes = re.search(r"```\n(\{\"fixmedins_code\".*\})\n```", document)
    signature = re.search(r"`signature` = `([0-9a-f]{64})`", document)
    assert signed_bytes and signature
    message = json.loads(signed_bytes.group(1))
    assert wire.canonical_json(message).decode() == signed_bytes.group(1)
    assert wire.sign(message, b"wi-counter-demo-key-H44080100001") == signature.group(1)
    assert wire.parse_request({**message, "signature": signature.group(1)}).infno is Transaction.PERSON_LOOKUP


def test_the_glance_table_of_the_document_matches_the_codes() -> None:
    document = DOC.read_text(encoding="utf-8")
    for t in Transaction:
        def yes(flag: bool) -> str:
            return "yes" if flag else "no"
        row = f"| {t.value} | {t.label} | {yes(t.changes_state)} | {yes(t.reversible)} | {yes(t.safe_to_repeat)} |"
        assert row in document, row
