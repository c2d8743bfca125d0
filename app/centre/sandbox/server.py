"""The sandbox centre as a real HTTP service (aiohttp), with fault injection and a supervisor.

`wi-counter centre serve` runs `supervise()`: it starts this module's `main()` in a child
process and starts it again whenever the child asks for a restart (the `restart` fault exits
with RESTART_EXIT_CODE right after committing a call, like a centre that crashes mid-reply),
so tests see a real process die and come back on the same port with the same data.

Endpoints (`docs/centre-interface.md` §1, §10): `POST /api/v1/call` (the signed envelope),
`GET /health`, and `/admin/*` for loopback clients only (faults, call log, summary, filings).
Plain HTTP is served on loopback only; any other address needs a TLS certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from app.centre import wire
from app.centre.sandbox import seed, store
from app.centre.sandbox.service import SandboxCentre, answer_dispute, list_disputes, set_hand_audit
from app.centre.wire import ErrorCode, Outcome, Transaction
from app.errors import ConfigurationError, WiCounterError

log = logging.getLogger("app.centre.sandbox")

RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: "start me again"
KEY_ENV = "WI_COUNTER_SANDBOX_KEY"  # the signing key of every institution (tests, training rooms)
FAULT_KINDS = ("delay", "error", "drop_after_commit", "malformed", "refuse_connections", "restart")
MALFORMED_BODY = b'{"infcode": "0", "output": {"settlement_id": "JS'  # cut short, as a broken proxy would
PARENT_CHECK_SECONDS = 0.5
MAX_LATENCY_MS = 10_000.0


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


class SandboxError(WiCounterError):
    """The sandbox cannot start as asked (address, certificate, data folder)."""


# --- faults ---------------------------------------------------------------------------


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


class Faults:
    """Armed faults; each matching call consumes one `times`."""

    def __init__(self) -> None:
        self.armed: list[Fault] = []

    def arm(self, fault: Fault) -> None:
        self.armed.append(fault)

    def take(self, kind: str, infno: str | None) -> Fault | None:
        for fault in self.armed:
            if fault.matches(kind, infno):
                fault.times -= 1
                if fault.times == 0:
                    self.armed.remove(fault)
                log.warning("sandbox fault %s on %s", kind, infno)
                return fault
        return None

    def clear(self) -> None:
        self.armed.clear()


# --- the service ----------------------------------------------------------------------


def institution_keys(connection: Any) -> dict[str, bytes]:
    """Each institution's signing key: WI_COUNTER_SANDBOX_KEY_<code>, else WI_COUNTER_SANDBOX_KEY, else
    the public demo key of the seed."""
    keys: dict[str, bytes] = {}
    shared = os.environ.get(KEY_ENV)
    demo_keys = {item.code: item.demo_key for item in seed.institution_seeds()}
    for row in connection.execute("SELECT code FROM institution"):
        code = row[0]
        value = os.environ.get(f"{KEY_ENV}_{code}") or shared or demo_keys.get(code)
        if value:
            keys[code] = value.encode("utf-8")
    return keys


def _is_loopback_peer(request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


class SandboxServer:
    def __init__(self, data_dir: Path, host: str, port: int, ssl_context: ssl.SSLContext | None = None,
                 faults: Sequence[Fault] = (), latency: Latency | None = None) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        try:
            self.connection = store.connect(data_dir)
        except store.StaleDatabase as exc:
            raise SandboxError(
                f"数据文件夹 {data_dir} 中的沙箱数据库是旧版本（{exc}），请加 --reset 重建演示数据，或换一个 --data 文件夹"
                f" / the sandbox database in {data_dir} is of another version: use --reset or another --data") from None
        except sqlite3.Error as exc:
            raise SandboxError(f"无法打开沙箱数据库（{data_dir}）：{exc}") from None
        seed.seed_if_new(self.connection, wire.now().date())
        self.centre = SandboxCentre(self.connection, institution_keys(self.connection))
        self.faults = Faults()
        self.refusals = [fault.seconds for fault in faults if fault.kind == "refuse_connections"]
        for fault in faults:
            if fault.kind != "refuse_connections":
                self.faults.arm(fault)
        self.latency = latency or Latency()
        self._rng = random.Random()
        self.started_at = wire.now()
        self.runner: web.AppRunner | None = None
        self.listener: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def app(self) -> web.Application:
        application = web.Application(client_max_size=32 * 1024 * 1024)
        application.add_routes([
            web.post(wire.API_PATH, self.call),
            web.get("/health", self.health),
            web.post("/admin/faults", self.admin_arm),
            web.get("/admin/faults", self.admin_list),
            web.delete("/admin/faults", self.admin_clear),
            web.get("/admin/calls", self.admin_calls),
            web.get("/admin/summary", self.admin_summary),
            web.post("/admin/filings", self.admin_filing),
            web.post("/admin/catalogue", self.admin_catalogue),
            web.post("/admin/hand-audit", self.admin_hand_audit),
            web.post("/admin/latency", self.admin_latency),
            web.get("/admin/latency", self.admin_latency_show),
            web.get("/admin/disputes", self.admin_disputes),
            web.post("/admin/disputes/answer", self.admin_answer_dispute),
        ])
        return application

    # --- the interface --------------------------------------------------------------

    async def call(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        trip = self.latency.round_trip(self._rng)
        if trip:
            await asyncio.sleep(trip / 2)  # the request's way in
        response = await self._answer(request, body)
        if trip:
            await asyncio.sleep(trip / 2)  # the reply's way out
        return response

    async def _answer(self, request: web.Request, body: bytes) -> web.StreamResponse:
        try:
            message = wire.decode(body)
        except wire.WireError:
            handled = self.centre.handle_body(body)
            return self._reply(handled.body)
        infno = message.get("infno") if isinstance(message.get("infno"), str) else None
        delay = self.faults.take("delay", infno)
        if delay is not None:
            await asyncio.sleep(delay.seconds)

        def error_fault(transaction: Transaction) -> ErrorCode | None:
            fault = self.faults.take("error", transaction.value)
            return ErrorCode(fault.err_code) if fault else None

        handled = self.centre.handle_message(message, error_fault)
        reply = handled.reply
        # one line per call, for training and support: no personal data, only codes
        log.info("%s %s msgid=%s %s", infno, handled.infno.label if handled.infno else "?", reply.msgid,
                 "ok" if reply.ok else f"refused {reply.err_code.value if reply.err_code else ''}")
        if handled.committed:
            if self.faults.take("restart", infno):
                log.warning("sandbox fault: exiting after commit, to be restarted")
                logging.shutdown()
                os._exit(RESTART_EXIT_CODE)  # no reply, no clean-up: a crash after commit
            if self.faults.take("drop_after_commit", infno):
                if request.transport is not None:
                    request.transport.abort()  # connection reset, no reply
                raise asyncio.CancelledError
            if self.faults.take("malformed", infno):
                return self._reply(MALFORMED_BODY)
        return self._reply(handled.body)

    @staticmethod
    def _reply(body: bytes) -> web.Response:
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "centre": "wi-counter sandbox", "version": wire.PROTOCOL_VERSION,
                                  "started_at": wire.format_time(self.started_at), "pid": os.getpid()})

    # --- admin ----------------------------------------------------------------------

    @staticmethod
    def _admin_only(request: web.Request) -> None:
        if not _is_loopback_peer(request):
            raise web.HTTPForbidden(text="管理接口只接受本机（loopback）访问 / admin is loopback-only")

    @staticmethod
    def _bad(message: str) -> web.Response:
        return web.json_response({"error": message}, status=400)

    async def admin_arm(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        try:
            fault = parse_fault(await request.json())
        except (SandboxError, json.JSONDecodeError, ValueError) as exc:
            return self._bad(getattr(exc, "message", str(exc)))
        if fault.kind == "refuse_connections":
            self._background(self._refuse_for(fault.seconds))
        else:
            self.faults.arm(fault)
        return web.json_response({"armed": asdict(fault)})

    async def admin_list(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        return web.json_response({"faults": [asdict(f) for f in self.faults.armed]})

    async def admin_clear(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        self.faults.clear()
        return web.json_response({"faults": []})

    async def admin_calls(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        msgid = request.query.get("msgid")
        sql = "SELECT msgid, institution, infno, outcome, err_code, err_msg, received_at, reversed_by FROM call"
        rows = (self.connection.execute(sql + " WHERE msgid = ?", (msgid,)) if msgid
                else self.connection.execute(sql + " ORDER BY received_at, msgid"))
        return web.json_response({"calls": [dict(row) for row in rows]})

    async def admin_summary(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        code = request.query.get("institution", "")
        return web.json_response(summary(self.connection, code))

    async def admin_filing(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        try:
            data = await request.json()
            ssn, filing = data["social_security_number"], data["filing"]
            with store.transaction(self.connection):
                filing_id = seed.insert_filing(self.connection, ssn, filing, wire.now().date(), "admin/filings")
        except ConfigurationError as exc:
            return self._bad(exc.message)
        except (KeyError, TypeError, ValueError) as exc:
            return self._bad(f"应为 {{\"social_security_number\": …, \"filing\": {{…}}}}：{exc}")
        return web.json_response({"filing_id": filing_id})

    async def admin_catalogue(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        try:
            data = await request.json()
            version = seed.change_catalogue(self.connection, data.get("entries") if isinstance(data, dict) else None)
        except ConfigurationError as exc:
            return self._bad(exc.message)
        except ValueError as exc:
            return self._bad(f"应为 {{\"entries\": [...]}}：{exc}")
        return web.json_response({"version": version})

    async def admin_latency(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        try:
            data = await request.json()
            if not isinstance(data, dict) or set(data) - {"ms", "jitter_ms"}:
                raise SandboxError("应为 {\"ms\": 毫秒, \"jitter_ms\": 毫秒}")
            self.latency = parse_latency(data.get("ms", 0), data.get("jitter_ms", 0))
        except (SandboxError, json.JSONDecodeError, ValueError) as exc:
            return self._bad(getattr(exc, "message", str(exc)))
        log.warning("sandbox latency: %.0f ms per call, jitter %.0f ms", self.latency.ms, self.latency.jitter_ms)
        return web.json_response(asdict(self.latency))

    async def admin_latency_show(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        return web.json_response(asdict(self.latency))

    async def admin_hand_audit(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        try:
            data = await request.json()
            judged = set_hand_audit(self.connection, data.get("items") if isinstance(data, dict) else None)
        except (ValueError, json.JSONDecodeError) as exc:
            return self._bad(f"应为 {{\"items\": [{{\"code\": …, \"reason\": …}}]}}：{exc}")
        return web.json_response({"items": [{"code": code, "reason": reason} for code, reason in judged.items()]})

    async def admin_disputes(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        return web.json_response({"disputes": list_disputes(self.connection, request.query.get("claim_no"))})

    async def admin_answer_dispute(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        try:
            data = await request.json()
            answered = answer_dispute(self.connection, data, wire.now().date())
        except (ValueError, json.JSONDecodeError) as exc:
            return self._bad(str(exc))
        return web.json_response(answered)

    # --- listening ------------------------------------------------------------------

    async def _listen(self) -> None:
        assert self.runner is not None
        loop = asyncio.get_running_loop()
        protocol_factory = self.runner.server
        assert protocol_factory is not None
        self.listener = await loop.create_server(protocol_factory, self.host, self.port, ssl=self.ssl_context,
                                                 reuse_address=True)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # a task nobody holds may be collected before it finishes
        task.add_done_callback(self._tasks.discard)

    async def _refuse_for(self, seconds: float) -> None:
        """Stop listening (new connections are refused) for `seconds`, then listen again."""
        await asyncio.sleep(0.05)  # let the admin reply go out first
        if self.listener is not None:
            self.listener.close()
        if self.runner is not None and self.runner.server is not None:
            for connection in self.runner.server.connections:
                # kept-alive connections too, at once: close() would leave an idle socket open, and a
                # request on it would wait for its read timeout instead of failing like a refusal
                connection.force_close()
                if connection.transport is not None:
                    connection.transport.abort()
        log.warning("sandbox fault: refusing connections for %.1f s", seconds)
        await asyncio.sleep(seconds)
        await self._listen()

    async def run(self) -> None:
        self.runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self.runner.setup()
        if self.refusals:  # `--fault refuse_connections:seconds=S`: nobody listens for S seconds from the start
            log.warning("sandbox fault: refusing connections for %.1f s from the start", max(self.refusals))
            await asyncio.sleep(max(self.refusals))
        await self._listen()
        scheme = "https" if self.ssl_context else "http"
        print(f"SANDBOX-READY {scheme}://{_url_host(self.host)}:{self.port} pid={os.getpid()}", flush=True)
        parent = os.getppid()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                pass
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), PARENT_CHECK_SECONDS)
            except TimeoutError:
                if os.getppid() != parent:  # the supervisor died (even by SIGKILL): do not linger
                    break
        if self.listener is not None:
            self.listener.close()
        await self.runner.cleanup()
        self.connection.close()


def summary(connection: Any, institution: str) -> dict[str, Any]:
    """Counts and totals of the centre's live records: tests compare the counter's books with them."""

    def money_sum(sql: str) -> str:
        return wire.money(sum((Decimal(row[0]) for row in connection.execute(sql, (institution,))), Decimal(0)))

    def count(sql: str) -> int:
        return int(connection.execute(sql, (institution,)).fetchone()[0])

    return {
        "institution": institution,
        "registrations": {status: count(f"SELECT count(*) FROM registration WHERE institution = ? AND status = '{status}'")
                          for status in ("open", "settled", "cancelled", "reversed", "paid_in_full")},
        "live_lines": count("SELECT count(*) FROM fee_line f JOIN registration r USING (registration_no) "
                            "WHERE r.institution = ? AND f.live = 1"),
        "live_lines_total": money_sum("SELECT f.amount FROM fee_line f JOIN registration r USING (registration_no) "
                                      "WHERE r.institution = ? AND f.live = 1"),
        "settlements": {status: count(f"SELECT count(*) FROM settlement WHERE institution = ? AND status = '{status}'")
                        for status in ("live", "cancelled", "reversed")},
        "live_settlements_total": money_sum("SELECT total FROM settlement WHERE institution = ? AND status = 'live'"),
        "live_settlements_fund_total": money_sum(
            "SELECT fund_total FROM settlement WHERE institution = ? AND status = 'live'"),
        "cancellations": count("SELECT count(*) FROM cancellation WHERE institution = ? AND status = 'live'"),
        "claims": {status: count(f"SELECT count(*) FROM claim WHERE institution = ? AND status = '{status}'")
                   for status in ("receiving", "submitted", "audited")},
        "claimed_settlements": count("SELECT count(*) FROM claim_entry e JOIN claim c USING (claim_no) "
                                     "WHERE c.institution = ? AND e.live = 1 AND e.kind = 'settlement'"),
        "claimed_cancellations": count("SELECT count(*) FROM claim_entry e JOIN claim c USING (claim_no) "
                                       "WHERE c.institution = ? AND e.live = 1 AND e.kind = 'cancellation'"),
        "claim_chunks": claim_chunks(connection, institution),
        "calls": {outcome: count(f"SELECT count(*) FROM call WHERE institution = ? AND outcome = '{outcome}'")
                  for outcome in ("applied", "failed", "reversed", "voided")},
    }


def claim_chunks(connection: Any, institution: str) -> dict[str, Any]:
    """Per claim, per chunk: the live entries and how often a 3301 applied it (reversed ones included),
    so that a test proves each chunk was applied exactly once whatever faults came between."""
    claims: dict[str, Any] = {}
    for row in connection.execute("SELECT claim_no, period, status, chunks FROM claim WHERE institution = ? "
                                  "ORDER BY claim_no", (institution,)):
        claims[row["claim_no"]] = {"period": row["period"], "status": row["status"], "chunks": row["chunks"],
                                   "per_chunk": {}}

    def chunk_of(claim_no: str, chunk: int) -> dict[str, Any]:
        per_chunk: dict[str, dict[str, Any]] = claims[claim_no]["per_chunk"]
        return per_chunk.setdefault(str(chunk), {"live_settlements": 0, "live_cancellations": 0, "applied": 0,
                                                 "reversed": 0, "msgids": []})

    for row in connection.execute(
            "SELECT e.claim_no, e.chunk, e.kind, count(*) FROM claim_entry e JOIN claim c USING (claim_no) "
            "WHERE c.institution = ? AND e.live = 1 GROUP BY e.claim_no, e.chunk, e.kind", (institution,)):
        chunk_of(row[0], row[1])[f"live_{row[2]}s"] = row[3]
    for row in connection.execute(
            "SELECT msgid, outcome, effect FROM call WHERE institution = ? AND infno = ? AND outcome IN (?, ?) "
            "ORDER BY received_at, msgid",
            (institution, Transaction.CLAIM_UPLOAD.value, Outcome.APPLIED.value, Outcome.REVERSED.value)):
        effect = json.loads(row["effect"])
        if effect.get("claim_no") not in claims:
            continue
        counts = chunk_of(effect["claim_no"], int(effect["chunk"]))
        counts["applied"] += 1
        counts["reversed"] += row["outcome"] == Outcome.REVERSED.value
        counts["msgids"].append(row["msgid"])
    return claims


# --- addresses, TLS, start ----------------------------------------------------------


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
        # `centre serve --child` is the same server process (app.centre.sandbox.cli).
        command = [sys.executable, "centre", "serve", "--child"]
    else:
        command = [sys.executable, "-m", "app.centre.sandbox.server"]
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


def main(argv: Sequence[str] | None = None) -> int:
    """One server process (what `supervise` starts)."""
    parser = argparse.ArgumentParser(prog="python -m app.centre.sandbox.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--fault", action="append", default=[])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--jitter", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(levelname)s %(message)s",
                        stream=sys.stderr)
    try:
        context = check_bind(args.host, args.tls_cert, args.tls_key)
        faults = [parse_fault_option(text) for text in args.fault]
        server = SandboxServer(args.data, args.host, args.port, context, faults,
                               parse_latency(args.latency, args.jitter))
    except WiCounterError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        return 2
    try:
        asyncio.run(server.run())
    except OSError as exc:  # the address is taken, or not this machine's
        print(f"错误：无法在 {args.host}:{args.port} 上监听：{exc.strerror or exc}（端口已被占用？换一个 --port）"
              f" / cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

