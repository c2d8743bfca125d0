"""The JSON adapter's own rules that need no centre: plain HTTP only on loopback, session renewal, hostile
replies, the strict reading of a claim status (3302)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.centre import wire
from app.centre.gateway import CentreUnavailable, ClaimLineDeduction, OutcomeUnknown, PersonKey
from app.centre.json_adapter import JsonCentre
from app.errors import ConfigurationError

KEY = b"institution-key"
CALLER = wire.Caller("H44080100001", "湛江市第一人民医院", "cashier", "张收款", "440800")


def test_plain_http_only_to_this_machine() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        JsonCentre("http://centre.example.org", b"key", CALLER, lambda: "x")
    with pytest.raises(ConfigurationError, match="https"):
        JsonCentre("ftp://127.0.0.1", b"key", CALLER, lambda: "x")
    JsonCentre("http://127.0.0.1:8765", b"key", CALLER, lambda: "x").close()
    JsonCentre("https://centre.example.org", b"key", CALLER, lambda: "x").close()


def test_the_session_is_renewed_before_it_expires() -> None:
    """No call goes out on a session about to lapse (the centre would refuse it with 1005)."""
    centre = JsonCentre("http://127.0.0.1:9", b"key", CALLER, lambda: "x")
    signed_in: list[int] = []

    def sign_in() -> None:
        signed_in.append(1)
        centre._sign_no = f"SN{len(signed_in)}"  # noqa: SLF001
        centre._session_expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)  # noqa: SLF001

    centre.sign_in = sign_in  # type: ignore[method-assign]
    assert centre._current_sign_no() == "SN1"  # noqa: SLF001
    assert centre._current_sign_no() == "SN1"  # noqa: SLF001
    centre._session_expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)  # noqa: SLF001
    assert centre._current_sign_no() == "SN2"  # noqa: SLF001
    centre.close()


# --- hostile replies: never believed, each named in Chinese ---------------------------------


def _centre_answering(make_reply: Callable[[dict[str, Any]], bytes]) -> JsonCentre:
    """A JsonCentre whose HTTP answers come from `make_reply(request_message)` (no network)."""

    def handle(request: httpx.Request) -> httpx.Response:
        message = wire.decode(request.content)
        return httpx.Response(200, content=make_reply(message))

    counter = iter(range(1, 10_000))
    centre = JsonCentre("http://127.0.0.1:9", KEY, CALLER,
                        lambda: wire.make_msgid("H44080100001", wire.now(), next(counter)),
                        transport=httpx.MockTransport(handle))
    centre._sign_no = "SN1"  # noqa: SLF001 - no sign-in exchange in these tests
    centre._session_expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # noqa: SLF001
    return centre


def _reply(message: dict[str, Any], output: dict[str, Any], key: bytes = KEY, msgid: str | None = None) -> bytes:
    reply = wire.Reply(wire.ReplyCode.OK, msgid or message["msgid"], "REF1", wire.now(), wire.now(), output)
    return reply.to_bytes(key)


@pytest.mark.parametrize(("make_reply", "words"), [
    (lambda m: _reply(m, {}, key=b"someone-else"), "签名"),
    (lambda m: _reply(m, {}, msgid="H44080100001202601010000000001"), "不符"),
    (lambda m: _reply(m, {"person": {"name": "张伟"}}), "不符合接口"),
    (lambda m: _reply(m, {}).replace(b'"output":{}', b'"output":{"total":1.5}'), "小数"),
    (lambda m: b"<html>502 Bad Gateway</html>", "JSON"),
])
def test_a_hostile_reply_is_not_believed(make_reply: Callable[[dict[str, Any]], bytes], words: str) -> None:
    centre = _centre_answering(make_reply)
    try:
        with pytest.raises(OutcomeUnknown) as unknown:
            centre.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, "440802198503151236")
    finally:
        centre.close()
    assert words in unknown.value.message


@pytest.mark.parametrize(("status", "reachable"), [(200, True), (404, True), (502, False), (503, False)])
def test_the_probe_counts_any_answer_but_a_server_error_as_reachable(status: int, reachable: bool) -> None:
    """A real centre need not have the sandbox's /health: its 404 still proves the link is up."""
    centre = JsonCentre("http://127.0.0.1:9", KEY, CALLER, lambda: "x",
                        transport=httpx.MockTransport(lambda request: httpx.Response(status)))
    try:
        if reachable:
            centre.ping()
        else:
            with pytest.raises(CentreUnavailable):
                centre.ping()
    finally:
        centre.close()
    assert centre.reachability.reachable is reachable


# --- 3302: claim status with corrections and per-line deductions, read strictly ----------------------------


def _claim_status_output() -> dict[str, Any]:
    """A well-formed 3302 output: one settlement with two line deductions, one correction."""
    settlement = {
        "kind": "settlement", "settlement_id": "JS44080020261130000001", "cancellation_id": "",
        "registration_no": "ZY44080020261120000001", "name": "张伟", "social_security_number": "440802198503151236",
        "insured_place": "湛江市", "settlement_kind": "本地工伤结算", "admitted": "2026-11-20",
        "discharged": "2026-11-30", "settled": "2026-11-30", "total": "300.00", "fund_total": "280.00",
        "personal_total": "20.00", "deduction": "63.00", "deduction_reason": "床位费…；Ⅱ级护理…",
        "fund_settled": "217.00",
        "lines": [{"seq": 2, "code": "110900001", "name": "床位费（三人间）", "date": "2026-11-21", "amount": "45.00",
                   "reason": "床位费…"},
                  {"seq": 5, "code": "111100002", "name": "Ⅱ级护理", "date": "2026-11-22", "amount": "18.00",
                   "reason": "Ⅱ级护理…"}]}
    correction = {
        **settlement, "kind": "cancellation", "settlement_id": "JS44080020261031000009",
        "cancellation_id": "CX44080020261105000001", "settled": "2026-11-05", "total": "-100.00",
        "fund_total": "-90.00", "personal_total": "-10.00", "deduction": "-45.00", "deduction_reason": "更正：…",
        "fund_settled": "-45.00", "lines": []}
    return {"claim_no": "YJ-H44080100001-202611", "period": "2026-11", "status": "audited", "chunks": 1,
            "audited": "2026-12-03", "received_chunks": [1], "entries": [settlement, correction],
            "totals": {"count": 2, "total": "200.00", "fund_total": "190.00", "personal_total": "10.00",
                       "deduction": "18.00", "fund_settled": "172.00"}}


def _claim_status_from(output: dict[str, Any]) -> Any:
    centre = _centre_answering(lambda m: _reply(m, output))
    try:
        return centre.claim_status("YJ-H44080100001-202611")
    finally:
        centre.close()


def test_a_claim_status_with_a_correction_and_line_deductions_is_read_exactly() -> None:
    report = _claim_status_from(_claim_status_output())
    settlement, correction = report.entries
    assert report.audited == dt.date(2026, 12, 3)  # the agency's push: the dispute window's start (003 §20)
    assert settlement.kind == "settlement" and settlement.cancellation_id == ""
    assert settlement.insured_place == "湛江市"
    assert settlement.admitted == dt.date(2026, 11, 20) and settlement.discharged == dt.date(2026, 11, 30)
    assert settlement.lines == (
        ClaimLineDeduction(2, "110900001", "床位费（三人间）", dt.date(2026, 11, 21), Decimal("45.00"), "床位费…"),
        ClaimLineDeduction(5, "111100002", "Ⅱ级护理", dt.date(2026, 11, 22), Decimal("18.00"), "Ⅱ级护理…"))
    assert all(isinstance(line.amount, Decimal) for line in settlement.lines)
    assert correction.kind == "cancellation" and correction.cancellation_id == "CX44080020261105000001"
    assert correction.deduction == Decimal("-45.00") and correction.fund_settled == Decimal("-45.00")
    assert correction.lines == ()
    assert report.deduction_total == Decimal("18.00") and report.fund_settled_total == Decimal("172.00")


def _broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    output = _claim_status_output()
    change(output)
    return output


@pytest.mark.parametrize(("output", "words"), [
    (_broken(lambda o: o["entries"][0]["lines"][1].update(amount=18)), "entries[0].lines[1].amount"),
    (_broken(lambda o: o["entries"][0]["lines"][0].update(date="2026-11-31")), "entries[0].lines[0].date"),
    (_broken(lambda o: o["entries"][0]["lines"][0].pop("seq")), "entries[0].lines[0].seq"),
    (_broken(lambda o: o["entries"][0]["lines"].append("45.00")), "entries[0].lines[2] 应为对象"),
    (_broken(lambda o: o["entries"][1].update(kind="refund")), "entries[1].kind"),
    (_broken(lambda o: o["entries"][1].pop("cancellation_id")), "entries[1].cancellation_id"),
    (_broken(lambda o: o["entries"][1].update(cancellation_id="")), "entries[1].cancellation_id"),
    (_broken(lambda o: o["entries"][1].update(lines=o["entries"][0]["lines"])), "entries[1].lines"),
    (_broken(lambda o: o["entries"][0].update(deduction="60.00", fund_settled="220.00")), "entries[0].deduction"),
    (_broken(lambda o: o["entries"][0].update(fund_settled="218.00")), "entries[0].fund_settled"),
    (_broken(lambda o: o["entries"][0].update(admitted="20.11.2026")), "entries[0].admitted"),
    (_broken(lambda o: o["entries"][0].update(insured_place=None)), "entries[0].insured_place"),
    (_broken(lambda o: o["received_chunks"].append("2")), "received_chunks[1]"),
    (_broken(lambda o: o.update(status="paid")), "status"),
    (_broken(lambda o: o["totals"].update(count=3)), "totals.count"),
    (_broken(lambda o: o["totals"].update(fund_settled="171.00")), "totals.fund_settled"),
    (_broken(lambda o: o["totals"].pop("personal_total")), "totals.personal_total"),
])
def test_a_malformed_claim_status_is_refused_naming_the_field(output: dict[str, Any], words: str) -> None:
    with pytest.raises(OutcomeUnknown) as unknown:
        _claim_status_from(output)
    assert "不符合接口" in unknown.value.message and words in unknown.value.message, unknown.value.message


def test_a_float_in_a_line_deduction_is_refused_before_it_is_read() -> None:
    def reply(message: dict[str, Any]) -> bytes:
        return _reply(message, _claim_status_output()).replace(b'"amount":"18.00"', b'"amount":18.0')

    centre = _centre_answering(reply)
    try:
        with pytest.raises(OutcomeUnknown, match="小数"):
            centre.claim_status("YJ-H44080100001-202611")
    finally:
        centre.close()


def test_an_unreachable_centre_is_told_in_a_clerks_words() -> None:
    """Issue 20 §8: the clerk read `ConnectError` and the centre's URL. The cause and the address are
    for the log and the call log; the message says what to do."""
    import socket

    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    centre = JsonCentre(f"http://127.0.0.1:{port}", b"key", CALLER, lambda: "x")
    try:
        with pytest.raises(CentreUnavailable) as refused:
            centre.ping()
    finally:
        centre.close()
    message = refused.value.message
    assert "无法连接结算中心" in message and "信息科" in message
    assert "127.0.0.1" not in message and "http" not in message and "Error" not in message
