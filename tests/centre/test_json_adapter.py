"""The JSON adapter's own rules that need no centre: plain HTTP only on loopback, session renewal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.centre import wire
from app.centre.gateway import CentreUnavailable, OutcomeUnknown, PersonKey
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
