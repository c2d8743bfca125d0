"""The sandbox centre's supervisor and its start options, without the server.

`supervise` (what `wi-counter centre serve`, the demo and the tests run) starts the server process
(`app.sandbox.server`) and starts it again when it asks to be restarted. It lives apart from
the server so that the supervising process does not load the web framework it never uses: each start
of a sandbox paid for loading it twice.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.sandbox import store
from app.centre.wire import ErrorCode, Transaction
from app.errors import WiCounterError

RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: "start me again"
KEY_ENV = "WI_COUNTER_SANDBOX_KEY"  # the signing key of every institution (tests, training rooms)
FAULT_KINDS = ("delay", "error", "drop_after_commit", "malformed", "refuse_connections", "restart")
MAX_LATENCY_MS = 10_000.0


class SandboxError(WiCounterError):
    """The sandbox cannot start as asked (address, certificate, data folder)."""


@dataclass
class Latency:
    """A WAN between counter and centre (issue 25): every call to the interface waits `ms` (give or take
    up to `jitter_ms`, uniformly) in all, half on the way in and half on the way out, as a link of
    that round-trip time would. Calls wait side by side: several in flight each wait their own."""

    ms: float = 0.0
    jitter_ms: float = 0.0

    def round_trip(self, rng: random.Random) -> float:
        """This call's round trip in seconds (never below zero)."""
        if self.ms <= 0 and self.jitter_ms <= 0:
            return 0.0
        return max(0.0, self.ms + rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000


def parse_latency(ms: Any, jitter_ms: Any = 0) -> Latency:
    """The latency from the option or the admin call; SandboxError naming what is wrong."""
    for name, value in (("ms", ms), ("jitter_ms", jitter_ms)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_LATENCY_MS:
            raise SandboxError(f"{name} 应为 0 到 {MAX_LATENCY_MS:.0f} 之间的毫秒数")
    return Latency(float(ms), float(jitter_ms))


@dataclass
class Fault:
    kind: str
    infno: str | None = None
    times: int = 1
    seconds: float = 2.0
    err_code: str = ErrorCode.CENTRE_BUSY.value

    def matches(self, kind: str, infno: str | None) -> bool:
        return self.kind == kind and self.times > 0 and (self.infno is None or self.infno == infno)


def parse_fault(data: Any) -> Fault:
    """A fault from the admin call's JSON; SandboxError naming what is wrong."""
    if not isinstance(data, dict):
        raise SandboxError("故障定义应为 JSON 对象")
    unknown = set(data) - {"kind", "infno", "times", "seconds", "err_code"}
    if unknown:
        raise SandboxError(f"故障定义含未知字段：{'、'.join(sorted(unknown))}")
    kind = data.get("kind")
    if kind not in FAULT_KINDS:
        raise SandboxError(f"故障类型只能取 {'、'.join(FAULT_KINDS)}，实际为 {kind!r}")
    infno = data.get("infno")
    if infno is not None:
        try:
            Transaction(infno)
        except ValueError:
            raise SandboxError(f"未知的交易编号 {infno!r}") from None
    times = data.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise SandboxError("times 应为正整数")
    seconds = data.get("seconds", 2.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 600:
        raise SandboxError("seconds 应为 0 到 600 之间的数")
    err_code = data.get("err_code", ErrorCode.CENTRE_BUSY.value)
    try:
        ErrorCode(err_code)
    except ValueError:
        raise SandboxError(f"未知的错误代码 {err_code!r}") from None
    return Fault(kind, infno, times, float(seconds), err_code)


def parse_fault_option(text: str) -> Fault:
    """`KIND[:INFNO][:times=N][:seconds=S][:err_code=C]` (the `--fault` option)."""
    parts = text.split(":")
    data: dict[str, Any] = {"kind": parts[0]}
    for part in parts[1:]:
        if "=" not in part:
            data["infno"] = part
            continue
        key, value = part.split("=", 1)
        if key == "times":
            data[key] = int(value) if value.isdigit() else value
        elif key == "seconds":
            try:
                data[key] = float(value)
            except ValueError:
                data[key] = value
        else:
            data[key] = value
    return parse_fault(data)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tls_cert: Path | None, tls_key: Path | None) -> ssl.SSLContext | None:
    """The loopback-only rule: plain HTTP on loopback; anything else needs a TLS certificate."""
    if (tls_cert is None) != (tls_key is None):
        raise SandboxError("--tls-cert 与 --tls-key 须同时给出 / give both --tls-cert and --tls-key")
    if tls_cert is None:
        if not is_loopback(host):
            raise SandboxError(
                f"沙箱中心不加密时只能监听本机地址（127.0.0.1 / ::1），拒绝监听 {host}；"
                "如需对外提供服务，请用 --tls-cert 和 --tls-key 指定 TLS 证书。"
                f" / refusing to bind {host} without TLS: loopback only unless a certificate is given")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(tls_cert, tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise SandboxError(f"无法读取 TLS 证书或私钥：{exc}") from exc
    return context


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _child_arguments(args: argparse.Namespace, port: int, first: bool) -> list[str]:
    if getattr(sys, "frozen", False):
        # The PyInstaller build has no `-m`: sys.executable is wi-counter itself, and
        # `centre serve --child` is the same server process (app.sandbox.cli).
        command = [sys.executable, "centre", "serve", "--child"]
    else:
        command = [sys.executable, "-m", "app.sandbox.server"]
    command += ["--host", args.host, "--port", str(port), "--data", str(args.data)]
    if args.tls_cert:
        command += ["--tls-cert", str(args.tls_cert), "--tls-key", str(args.tls_key)]
    if args.latency_ms or args.jitter_ms:  # the network's delay outlives a restart of the centre
        command += ["--latency", _number(args.latency_ms), "--jitter", _number(args.jitter_ms)]
    if first:  # faults armed at start belong to the first run; a restart forgets them, as a real one would
        for fault in args.fault or []:
            command += ["--fault", fault]
    return command


def _number(value: float) -> str:
    return f"{value:g}"


def supervise(host: str, port: int, data_dir: Path, tls_cert: Path | None = None, tls_key: Path | None = None,
              faults: Sequence[str] = (), reset: bool = False, latency_ms: float = 0.0,
              jitter_ms: float = 0.0) -> int:
    """Run the sandbox in a child process; start it again when it exits asking for a restart.
    `latency_ms` / `jitter_ms`: every call waits that long, as over a WAN (`Latency`)."""
    check_bind(host, tls_cert, tls_key)
    parse_latency(latency_ms, jitter_ms)
    for text in faults:
        parse_fault_option(text)
    if reset:
        store.remove(data_dir)
    keys = "环境变量 / from " + KEY_ENV if os.environ.get(KEY_ENV) else "公开的演示密钥 / the public demo keys"
    print(f"签名密钥 / signing keys: {keys}", file=sys.stderr, flush=True)
    if port == 0:
        port = free_port(host)
    args = argparse.Namespace(host=host, data=data_dir, tls_cert=tls_cert, tls_key=tls_key, fault=list(faults),
                              latency_ms=latency_ms, jitter_ms=jitter_ms)
    scheme = "https" if tls_cert else "http"
    print(f"沙箱结算中心 / sandbox centre: {scheme}://{_url_host(host)}:{port}  数据 / data: {data_dir}", flush=True)
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        first = True
        while True:
            child = subprocess.Popen(_child_arguments(args, port, first))
            first = False
            code = child.wait()
            if stopping:
                return 0
            if code != RESTART_EXIT_CODE:
                return code
            print("沙箱结算中心重新启动 / sandbox centre restarting", flush=True)
            time.sleep(0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait(timeout=10)
