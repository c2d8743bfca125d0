"""The real sandbox centre behind a tampering proxy: a small HTTP server on loopback that re-signs the
sandbox's replies with changed outputs, as a centre holding the institution's key (or a compromised
one) could send. `tamper[infno]` changes that transaction's output (and the same output when it is
asked for again by msgid, 5101)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bootstrap import CounterContext
from app.centre import wire
from tests.centre.client_fixtures import SANDBOX_KEY, SandboxProcess, make_counter

Tamper = Callable[[dict[str, Any]], None]
KEY = SANDBOX_KEY.encode()


class TamperingProxy(http.server.ThreadingHTTPServer):
    """Forwards to the sandbox; settlement outputs pass through `tamper` and are signed again."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.tamper: dict[str, Tamper] = {}  # infno → how its output is changed
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def rewrite(self, request: dict[str, Any], body: bytes) -> bytes:
        infno = request.get("infno")
        reply = wire.decode(body)
        output = reply.get("output")
        if infno in self.tamper and reply.get("infcode") == "0":
            self.tamper[infno](output)
        elif infno == wire.Transaction.OUTCOME_QUERY.value and isinstance(output, dict) \
                and output.get("oinfno") in self.tamper and isinstance(output.get("output"), dict):
            self.tamper[output["oinfno"]](output["output"])  # the same hostile figures when asked again
        else:
            return body
        return wire.encode_signed(reply, KEY)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: TamperingProxy
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = httpx.post(f"{self.server.upstream}{self.path}", content=body, timeout=30,
                            headers={"Content-Type": "application/json; charset=utf-8"})
        content = self.server.rewrite(wire.decode(body), answer.content)
        self._send(answer.status_code, content)

    def do_GET(self) -> None:  # noqa: N802
        answer = httpx.get(f"{self.server.upstream}{self.path}", timeout=30)
        self._send(answer.status_code, answer.content)

    def _send(self, status: int, content: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def proxy(sandbox: SandboxProcess) -> Iterator[TamperingProxy]:
    server = TamperingProxy(sandbox.url)
    yield server
    server.close()


@pytest.fixture
def counter(tmp_path: Path, db_url: str, proxy: TamperingProxy) -> Iterator[CounterContext]:
    """A counter whose centre is the tampering proxy in front of the sandbox."""
    ctx = make_counter(tmp_path / "counter-home", db_url, proxy.url)
    yield ctx
    ctx.close()
