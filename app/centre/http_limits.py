"""Bounds on what the centre's HTTP replies may cost the counter: one deadline per call, a size cap.

httpx's timeouts are per socket operation: a centre (or anything posing as one) that sends one byte
a second never trips a 15 s read timeout, and the whole body is read into memory whatever its size.
Here:

- `deadline(seconds)` sets ONE deadline for everything the calling thread does on the network until
  it ends (connect, send, the reply's headers and its body): every socket operation of a
  `bounded_transport` waits at most until then, and fails as a read timeout after it;
- `read_capped(response, limit)` reads a streamed reply's raw bytes and stops at `limit`
  (`ReplyTooLarge`), and refuses a compressed reply (`ReplyEncoded`): the client asks for
  `Accept-Encoding: identity`, so a gzip reply — a 1 MB body inflating to 1 GB — is never inflated.

The deadline lives in the network backend (httpcore's `NetworkBackend`), so it also bounds a reply
whose headers drip, on a connection kept alive from an earlier call.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from app.errors import WiCounterError

DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024  # the largest real reply (a 500-entry catalogue page) is far below
ACCEPT_IDENTITY = {"Accept-Encoding": "identity"}

_local = threading.local()


class ReplyTooLarge(WiCounterError):
    """The reply is larger than the cap; it was not read further."""


class ReplyEncoded(WiCounterError):
    """The reply is compressed although the client asked for none; it was not inflated."""


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """One deadline (monotonic time) for the calling thread's network work inside the block."""
    previous = getattr(_local, "deadline", None)
    until = time.monotonic() + seconds
    _local.deadline = until if previous is None else min(previous, until)
    try:
        yield _local.deadline
    finally:
        _local.deadline = previous


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    until: float | None = getattr(_local, "deadline", None)
    if until is None:
        return timeout
    remaining = until - time.monotonic()
    if remaining <= 0:
        raise error("the call's deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname,
                                                      _bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous sockets, each operation bounded by the thread's `deadline`."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, _bounded(timeout, httpcore.ConnectTimeout), local_address,
                                           socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(path, _bounded(timeout, httpcore.ConnectTimeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bounded_transport(verify: ssl.SSLContext | bool) -> httpx.HTTPTransport:
    """httpx's transport on the deadline-bounded backend. (httpx takes no backend argument: its pool is
    replaced by one built the same way; env proxies are not used for the centre, which is on the LAN.)"""
    transport = httpx.HTTPTransport(verify=verify, trust_env=False)
    context = verify if isinstance(verify, ssl.SSLContext) else None
    transport._pool = httpcore.ConnectionPool(  # noqa: SLF001 - see the docstring
        ssl_context=context, max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0,
        network_backend=DeadlineBackend(),
    )
    return transport


def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The raw body of a streamed `response`, at most `limit` bytes; never inflated."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ReplyEncoded(f"结算中心应答使用了压缩编码（{encoding[:20]}），本机只接受未压缩的应答")
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise ReplyTooLarge(_too_large(limit))
    try:
        content = response.content  # already in memory (a test's MockTransport): only the cap applies
    except httpx.ResponseNotRead:
        pass
    else:
        if len(content) > limit:
            raise ReplyTooLarge(_too_large(limit))
        return content
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > limit:
            raise ReplyTooLarge(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{max(1, limit // 1024)} KiB"
    return f"结算中心应答超过 {size} 的上限，未再读取"
