"""A hostile "centre": a small HTTP server on loopback, in a thread, that answers as a test tells it.

Each reply is built from the request (so it answers the right msgid) and may be signed with the
institution's key: a centre that holds the key (or a compromised one) can still send replies that
are too big, compressed, slow or implausible, and the counter must bound what they cost.
"""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from app.centre import wire

Respond = Callable[["Handler", dict[str, Any]], None]


def signed_reply(message: dict[str, Any], key: bytes, output: dict[str, Any]) -> bytes:
    """A verified reply to `message` (signed with `key`)."""
    now = wire.now()
    return wire.Reply(wire.ReplyCode.OK, message["msgid"], "REF1", now, now, output).to_bytes(key)


SPACES = b" " * (1024 * 1024)


def padded(body: bytes, mebibytes: int) -> Iterator[bytes]:
    """`body` with `mebibytes` MiB of JSON whitespace after its first brace: still valid, still verifies.
    Yielded in pieces of one shared buffer, so the server itself allocates next to nothing."""
    yield body[:1]
    for _ in range(mebibytes):
        yield SPACES
    yield body[1:]


def gzipped(pieces: Iterator[bytes]) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
    return b"".join([*(compressor.compress(piece) for piece in pieces), compressor.flush()])


def sign_in_output() -> dict[str, Any]:
    return {"sign_no": "SN-HOSTILE", "expires_at": wire.format_time(wire.now() + dt.timedelta(hours=8))}


class Handler(http.server.BaseHTTPRequestHandler):
    server: HostileServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        message = wire.decode(self.rfile.read(length))
        self.server.requests.append(message)
        self.server.respond(self, message)

    def do_GET(self) -> None:  # noqa: N802
        self.server.respond(self, {})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # --- ways of answering ---

    def send_body(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream_body(self, chunks: Iterator[bytes]) -> None:
        """No Content-Length: the body ends when the connection closes (as a hostile server may)."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in chunks:
                if self.server.stopped.is_set():
                    return
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the counter hung up: what it should do

    def drip(self, body: bytes, every: float, headers_too: bool = False, give_up_after: float = 30.0) -> None:
        """One byte every `every` seconds (headers too if asked), for at most `give_up_after` seconds."""
        self.close_connection = True
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        started = time.monotonic()
        data = head + body if headers_too else body
        try:
            if not headers_too:
                self.wfile.write(head)
                self.wfile.flush()
            for index in range(len(data)):
                if self.server.stopped.is_set() or time.monotonic() - started > give_up_after:
                    return
                self.wfile.write(data[index:index + 1])
                self.wfile.flush()
                time.sleep(every)
        except (BrokenPipeError, ConnectionResetError):
            return


class HostileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, respond: Respond) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
