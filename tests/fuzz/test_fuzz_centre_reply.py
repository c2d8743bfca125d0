"""Hostile centre replies (issue 9 item 5): whatever comes back over HTTP, the counter reads a verified
reply or raises `WireError` (the adapter turns it into `OutcomeUnknown`), with a Chinese message.

Raw bodies (not JSON, deep nesting, huge numbers, NaN), a genuine signed reply damaged (a signature
that no longer matches is never believed), and valid signed JSON whose output holds hostile values."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.centre import json_adapter, wire
from app.centre.gateway import Operation
from app.centre.wire import WireError
from tests.fuzz.strategies import json_values, paths, raw_json_text, replaced, without_floats
from tests.fuzz.support import fuzz_settings, judge, unexpected

pytestmark = pytest.mark.fuzz
TARGET = "centre_reply"
KEY = b"fuzz-centre-key"
MSGID = "H44080100001202611301015020001"
_NOW = wire.parse_time("2026-11-30 10:15:02", "t")


def _signed_body(message: dict[str, Any]) -> bytes:
    """Signed as the centre signs, but with NaN/Infinity allowed through (what a hostile centre could send)."""
    unsigned = {k: v for k, v in message.items() if k != wire.SIGNATURE_FIELD}
    canonical = json.dumps(unsigned, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    unsigned[wire.SIGNATURE_FIELD] = hmac.new(KEY, canonical, hashlib.sha256).hexdigest()
    return json.dumps(unsigned, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _reply_message(output: dict[str, Any]) -> dict[str, Any]:
    return wire.Reply(wire.ReplyCode.OK, MSGID, "REF1", _NOW, _NOW, output).as_message()


GENUINE_BODY = wire.Reply(wire.ReplyCode.OK, MSGID, "REF1", _NOW, _NOW, {"registration_no": "ZY1"}).to_bytes(KEY)


@fuzz_settings(250)
@given(st.one_of(raw_json_text.map(lambda text: text.encode("utf-8", errors="surrogatepass")), st.binary(max_size=80)))
@example(b"[" * 100_000 + b"]" * 100_000)  # past the recursion limit
@example(b'{"infcode": ' + b"9" * 5000 + b"}")  # past Python's 4300-digit integers
@example(b'{"a": NaN}')
def test_raw_bodies(body: bytes) -> None:
    judge(TARGET, lambda: wire.read_reply(body, KEY, MSGID), WireError)


@fuzz_settings(200)
@given(st.data())
def test_damaged_signed_replies(data: st.DataObject) -> None:
    content = bytearray(GENUINE_BODY)
    for _ in range(data.draw(st.integers(1, 4))):
        content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
    outcome = judge(TARGET, lambda: wire.read_reply(bytes(content), KEY, MSGID), WireError)
    if isinstance(outcome, wire.Reply) and wire.decode(bytes(content)) != wire.decode(GENUINE_BODY):
        raise unexpected(TARGET, f"a changed reply was believed: {bytes(content)!r}")


# Genuine outputs of the adapter's parsers (docs/centre-interface.md), to receive hostile values.
_PERSON = {
    "person": {"social_security_number": "440802198503151236", "name": "张伟", "sex": "男", "birth_date": "1985-03-15",
               "category": "在职", "insured_place": {"province": "广东省", "city": "湛江市", "city_code": "440800"}},
    "insurance": {"active": True, "contribution_ok": True, "status_text": "正常参保"},
    "card": {"number": "A44080001", "issuing_region": "440800", "valid_until": "2031-06-01"},
    "profile": "guangdong-local",
    "recognitions": [{"decision_no": "湛人社工认〔2026〕1号", "kind": "工伤", "injury_date": "2026-11-01",
                      "decided_on": "2026-11-10", "diagnoses": [{"code": "S82.201", "name": "胫骨干骨折"}]}],
    "filings": [{"id": "BA1", "category": "referral", "care": ["medical"],
                 "destination": {"province": "广东省", "city": "湛江市", "city_code": "440800", "institution_code": None},
                 "approved_on": "2026-11-02", "valid_from": "2026-11-02", "valid_to": None, "status": "active",
                 "terminated_on": None, "used_by_settlement": False, "filed_on": "2026-11-02"}],
}
_SETTLEMENT = {
    "settlement_id": "JS1", "registration_no": "ZY1", "settled": "2026-11-30", "settlement_kind": "本地工伤结算",
    "verdict": {"stage": "discharge", "allowed": True, "settlement_kind": "本地工伤结算",
                "reasons": [{"code": "OK", "blocking": False, "message": "符合", "source": "003"}]},
    "matrix": {"fund": {"drug": "15.00"}}, "total": "15.00", "fund_total": "15.00", "personal_total": "0.00",
    "items": [{"seq": 1, "bucket": "fund", "fund": "15.00", "personal": "0.00", "reason": ""}],
}
_FEES = {"registration_no": "ZY1", "accepted": 1, "duplicates": 0, "line_count": 1, "total": "15.00",
         "lines": [{"seq": 1, "in_catalogue": True, "price_limit": "0.50", "max_pay": None,
                    "over_limit_amount": "0.00", "self_pay_amount": "0.00", "non_injury": False, "note": ""}]}
_CATALOGUE = {"version": 3, "since_version": 0, "page": 1, "pages": 1, "total": 1,
              "entries": [{"code": "XB01AC06", "name": "阿司匹林肠溶片", "category": "drug", "unit": "片",
                           "price_limit": "0.50", "max_pay": None, "per_day": False, "min_years": None,
                           "valid": True, "version": 3}]}
_TOTALS = {"count": 1, "total": "15.00", "fund_total": "15.00", "personal_total": "0.00"}
_DAILY = {"date": "2026-11-30", "settlements": _TOTALS, "cancellations": {**_TOTALS, "count": 0, "total": "0.00",
                                                                          "fund_total": "0.00"}, "net": _TOTALS}
_DETAILS = {"date": "2026-11-30", "page": 1, "pages": 1, "total": 1,
            "records": [{"kind": "settlement", "msgid": MSGID, "settlement_id": "JS1", "cancellation_id": "",
                         "registration_no": "ZY1", "social_security_number": "440802198503151236",
                         "total": "15.00", "fund_total": "15.00", "personal_total": "0.00"}]}
_CANCELLATION = {"settlement_id": "JS1", "cancellation_id": "CX1", "registration_no": "ZY1", "total": "-15.00",
                 "fund_total": "-15.00", "personal_total": "0.00"}
GENUINE_OUTPUTS: dict[str, tuple[Any, dict[str, Any]]] = {
    "person": (json_adapter._person, _PERSON),  # noqa: SLF001 - the adapter's own readers
    "settlement": (json_adapter._settlement, _SETTLEMENT),  # noqa: SLF001
    "fees": (json_adapter._fee_receipt, _FEES),  # noqa: SLF001
    "catalogue": (json_adapter._catalogue_page, _CATALOGUE),  # noqa: SLF001
    "daily_totals": (json_adapter._daily_totals, _DAILY),  # noqa: SLF001
    "daily_details": (json_adapter._daily_details, _DETAILS),  # noqa: SLF001
    "cancellation": (json_adapter._settlement_cancellation, _CANCELLATION),  # noqa: SLF001
}
_OUTPUT_PATHS = [(name, path) for name, (_, output) in GENUINE_OUTPUTS.items() for path in paths(output) if path]


def test_the_genuine_outputs_are_read() -> None:
    """The fuzz below starts from outputs the adapter accepts (else it would test refusals only)."""
    for parse, output in GENUINE_OUTPUTS.values():
        parse(output)


def _read_output(name: str, body: bytes) -> object:
    parse = GENUINE_OUTPUTS[name][0]

    def call() -> object:
        reply = wire.read_reply(body, KEY, MSGID)
        try:
            return json_adapter._parsed(parse, reply.output, MSGID, Operation.SETTLEMENT)  # noqa: SLF001
        except json_adapter.OutcomeUnknown as exc:
            if not isinstance(exc.__cause__, WireError):  # the adapter's safety net caught a programming error
                raise exc.__cause__ or exc  # noqa: B904
            raise WireError(exc.message) from exc

    return judge(TARGET, call, WireError)


@fuzz_settings(350)
@given(st.sampled_from(_OUTPUT_PATHS), json_values, st.sampled_from(["replace", "remove", "extra"]), st.booleans())
@example(("settlement", ("total",)), "1" + "0" * 40, "replace", False)
@example(("settlement", ("matrix",)), {"fund": []}, "replace", False)
@example(("fees", ("total",)), "-0.01", "replace", False)
@example(("person", ("filings", 0, "care")), [[1]], "replace", False)
def test_signed_outputs_with_hostile_values(where: tuple[str, tuple[Any, ...]], value: Any, how: str,
                                            floats_as_text: bool) -> None:
    name, path = where
    if floats_as_text:
        value = without_floats(value)
    output = replaced(GENUINE_OUTPUTS[name][1], path, value, remove=how == "remove",
                      extra="unexpected_key" if how == "extra" else None)
    try:
        body = _signed_body(_reply_message(output))
    except (ValueError, RecursionError):  # json itself cannot write it: nothing a centre could send
        return
    _read_output(name, body)
