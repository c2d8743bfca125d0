"""Run the sandbox centre as a real process on a free loopback port, and talk to it raw.

Used by the sandbox tests (and free for the client's contract and fault tests): the process is
`wi-counter centre serve` itself (supervisor + server child), so SIGKILL, restarts and refused
connections are real. `RawClient` signs envelopes with `app.centre.wire` and posts them with the
standard library only, so these tests check the server independently of the client adapter.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.centre import wire

DEMO_INSTITUTION = "H44080100001"
DEMO_INSTITUTION_NAME = "湛江市第一人民医院"
TEST_KEY = "sandbox-test-key-not-secret"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class SandboxProcess:
    data_dir: Path
    key: str = TEST_KEY
    faults: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    url: str = ""
    log_path: Path | None = None
    tls: tuple[Path, Path] | None = None  # (certificate, key): serve HTTPS
    ssl_context: ssl.SSLContext | None = None  # how this side verifies it
    extra: list[str] = field(default_factory=list)  # more `centre serve` options

    def start(self, timeout: float = 30.0) -> SandboxProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "serve.log"
        env = {**os.environ, "WI_COUNTER_SANDBOX_KEY": self.key, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "app", "centre", "serve", "--port", "0", "--data", str(self.data_dir)]
        for fault in self.faults:
            command += ["--fault", fault]
        command += self.extra
        if self.tls is not None:
            command += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        log = self.log_path.open("w")
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline()  # the supervisor's line names the port it chose
        if "://" not in first:
            self.stop()
            raise RuntimeError(f"sandbox did not start: {first!r}\n{self.log_text()}")
        self.url = next(part for part in first.split() if part.startswith(("http://", "https://")))
        self.wait_ready(timeout)
        return self

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2, context=self.ssl_context) as response:
                    return dict(json.loads(response.read()))
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sandbox not ready at {self.url}\n{self.log_text()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    # --- admin -----------------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def arm(self, kind: str, infno: str | None = None, **options: Any) -> Any:
        return self.admin("POST", "/admin/faults", {"kind": kind, "infno": infno, **options})

    def summary(self, institution: str = DEMO_INSTITUTION) -> dict[str, Any]:
        return dict(self.admin("GET", f"/admin/summary?institution={institution}"))


class RawClient:
    """Builds, signs and posts envelopes; returns the decoded reply (checked by the caller)."""

    _sequence = itertools.count(1)

    def __init__(self, url: str, key: str = TEST_KEY, institution: str = DEMO_INSTITUTION,
                 institution_name: str = DEMO_INSTITUTION_NAME, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self.ssl_context = ssl_context
        self.key = key.encode()
        self.caller = wire.Caller(institution, institution_name, "cashier", "张收款", "440800")
        self.sign_no = ""

    def msgid(self) -> str:
        return wire.make_msgid(self.caller.institution_code, wire.now(), next(self._sequence) + os.getpid())

    def request(self, infno: wire.Transaction, data: dict[str, Any], msgid: str | None = None,
                inf_time: dt.datetime | None = None) -> wire.Request:
        return wire.Request(infno, msgid or self.msgid(), self.caller, inf_time or wire.now(), self.sign_no, "", data)

    def post(self, body: bytes, timeout: float = 30.0) -> bytes:
        request = urllib.request.Request(self.url + wire.API_PATH, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        with urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context) as response:
            return bytes(response.read())

    def send(self, request: wire.Request, timeout: float = 30.0) -> wire.Reply:
        body = self.post(request.to_bytes(self.key), timeout)
        return wire.read_reply(body, self.key, request.msgid)

    def call(self, infno: wire.Transaction, data: dict[str, Any], **options: Any) -> wire.Reply:
        return self.send(self.request(infno, data, **options))

    def ok(self, infno: wire.Transaction, data: dict[str, Any]) -> dict[str, Any]:
        reply = self.call(infno, data)
        assert reply.ok, f"{infno.value} refused: {reply.err_code} {reply.err_msg} {reply.output}"
        return reply.output

    def sign_in(self) -> str:
        self.sign_no = self.ok(wire.Transaction.SIGN_IN, {})["sign_no"]
        return self.sign_no
