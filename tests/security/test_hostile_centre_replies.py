"""A hostile centre's replies cost the counter bounded memory and time (issue 22 item 5).

Found: a 100 MB reply was read whole (590 MB RSS), a 1 MB gzip reply inflated to 1 GB and verified,
and a reply dripping one byte a second never timed out (httpx's timeouts are per read). Each is
sent here by a real HTTP server on loopback (`hostile_centre.py`) to the real JSON adapter.
"""

from __future__ import annotations

import re
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from app.centre import wire
from app.centre.gateway import CentreUnavailable, OutcomeUnknown
from app.centre.json_adapter import JsonCentre
from tests.security.hostile_centre import (
    Handler,
    HostileServer,
    gzipped,
    padded,
    sign_in_output,
    signed_reply,
)

KEY = b"hostile-test-key"
CALLER = wire.Caller("H44080100001", "湛江市第一人民医院", "cashier", "张收款", "440800")
MiB = 1024 * 1024
HAN = re.compile(r"[\u4e00-\u9fff]")


def _centre(url: str, read_timeout: float = 2.0, **options: Any) -> JsonCentre:
    numbers = iter(range(1, 10_000))
    return JsonCentre(url, KEY, CALLER, lambda: wire.make_msgid("H44080100001", wire.now(), next(numbers)),
                      connect_timeout=0.5, read_timeout=read_timeout, **options)


def _measured(call: Callable[[], object]) -> tuple[BaseException | None, float, int]:
    """Run `call`; what it raised, the seconds it took and the peak of Python memory it allocated."""
    tracemalloc.start()
    began = time.monotonic()
    error: BaseException | None = None
    try:
        call()
    except (OutcomeUnknown, CentreUnavailable) as exc:
        error = exc
    finally:
        elapsed = time.monotonic() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, elapsed, peak


def test_a_100_mb_reply_is_not_read_whole() -> None:
    def respond(handler: Handler, message: dict[str, Any]) -> None:
        # A valid, signed reply made 100 MB with JSON whitespace: it would verify if read whole.
        handler.stream_body(padded(signed_reply(message, KEY, sign_in_output()), 100))

    with HostileServer(respond) as server:
        centre = _centre(server.url)
        error, elapsed, peak = _measured(centre.sign_in)
        centre.close()
    assert isinstance(error, OutcomeUnknown), "a 100 MB reply was believed"
    assert HAN.search(error.message) and "16 MiB" in error.message
    assert peak < 50 * MiB, f"{peak / MiB:.0f} MiB allocated for a reply that is refused"
    assert elapsed < 10


def test_the_cap_is_the_setting_and_a_declared_length_is_refused_before_reading() -> None:
    def respond(handler: Handler, message: dict[str, Any]) -> None:
        handler.send_body(b"".join(padded(signed_reply(message, KEY, sign_in_output()), 2)))

    with HostileServer(respond) as server:
        centre = _centre(server.url, max_reply_bytes=1 * MiB)
        with pytest.raises(OutcomeUnknown, match="1 MiB"):
            centre.sign_in()
        centre.close()
        big_enough = _centre(server.url, max_reply_bytes=3 * MiB)
        big_enough.sign_in()  # the same reply under a larger cap is read and verified
        big_enough.close()


def test_a_gzip_bomb_is_never_inflated() -> None:
    # 1 MB on the wire, hundreds of MB inflated; signed, so it would verify once inflated.
    def respond(handler: Handler, message: dict[str, Any]) -> None:
        body = gzipped(padded(signed_reply(message, KEY, sign_in_output()), 300))
        handler.send_body(body, {"Content-Encoding": "gzip"})

    with HostileServer(respond) as server:
        centre = _centre(server.url, read_timeout=10)
        error, elapsed, peak = _measured(centre.sign_in)
        centre.close()
        asked = server.requests
    assert isinstance(error, OutcomeUnknown), "a gzip bomb was inflated and believed"
    assert HAN.search(error.message) and "压缩" in error.message
    assert peak < 50 * MiB
    assert asked, "the request reached the server"


def test_the_client_asks_for_an_uncompressed_reply() -> None:
    seen: list[str] = []

    def respond(handler: Handler, message: dict[str, Any]) -> None:
        seen.append(handler.headers.get("Accept-Encoding", ""))
        handler.send_body(signed_reply(message, KEY, sign_in_output()))

    with HostileServer(respond) as server:
        centre = _centre(server.url)
        centre.sign_in()
        centre.close()
    assert seen == ["identity"]


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_dripping_reply_ends_at_one_deadline(headers_too: bool) -> None:
    """One byte every 0.2 s never trips a per-read timeout of 2 s; the call's one deadline ends it."""

    def respond(handler: Handler, message: dict[str, Any]) -> None:
        handler.drip(signed_reply(message, KEY, sign_in_output()), every=0.2, headers_too=headers_too)

    with HostileServer(respond) as server:
        centre = _centre(server.url, read_timeout=2.0)
        error, elapsed, _ = _measured(centre.sign_in)
        centre.close()
    assert isinstance(error, OutcomeUnknown), "a dripping reply was waited for to its end"
    assert HAN.search(error.message)
    # connect 0.5 + read 2 s per exchange; a read is asked twice (a lost answer is asked once more).
    assert elapsed < 2 * 2.5 + 4, f"{elapsed:.1f} s"  # the drip alone would last 30 s (and for ever, unbounded)


def test_the_probe_reads_no_body() -> None:
    def respond(handler: Handler, message: dict[str, Any]) -> None:
        handler.stream_body(iter([b"x" * MiB] * 200))  # /health answering 200 MB

    with HostileServer(respond) as server:
        centre = _centre(server.url)
        error, elapsed, peak = _measured(centre.ping)
        centre.close()
    assert error is None
    assert peak < 50 * MiB and elapsed < 5
