"""The sandbox centre as a real HTTP service (aiohttp), with fault injection and a supervisor.

`wi-counter centre serve` runs `supervise()`: it starts this module's `main()` in a child
process and starts it again whenever the child asks for a restart (the `restart` fault exits
with RESTART_EXIT_CODE right after committing a call, like a centre that crashes mid-reply),
so tests see a real process die and come back on the same port with the same data.

Endpoints (`docs/centre-interface.md` §1, §10): `POST /api/v1/call` (the signed envelope),
`GET /health`, and `/admin/*` for loopback clients only (faults, call log, summary, filings, reset).
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
import sqlite3
import ssl
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from app.centre import wire
from app.sandbox import seed, store
from app.sandbox.service import SandboxCentre, answer_dispute, list_disputes, set_hand_audit
from app.sandbox.supervisor import (  # noqa: F401 - the start options are the server's too
    FAULT_KINDS,
    KEY_ENV,
    RESTART_EXIT_CODE,
    Fault,
    Latency,
    SandboxError,
    _url_host,
    check_bind,
    free_port,
    is_loopback,
    parse_fault,
    parse_fault_option,
    parse_latency,
    supervise,
)
from app.centre.wire import ErrorCode, Outcome, Transaction
from app.errors import ConfigurationError, WiCounterError

log = logging.getLogger("app.sandbox")

MALFORMED_BODY = b'{"infcode": "0", "output": {"settlement_id": "JS'  # cut short, as a broken proxy would
PARENT_CHECK_SECONDS = 0.5


# --- faults ---------------------------------------------------------------------------


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
        # Calls held by a `delay` fault: `POST /admin/faults/release` lets them go before their time.
        self._held: set[asyncio.Event] = set()
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
        self._calls: set[asyncio.Task[Any]] = set()  # calls being answered (a delayed one may take seconds)

    def app(self) -> web.Application:
        application = web.Application(client_max_size=32 * 1024 * 1024)
        application.add_routes([
            web.post(wire.API_PATH, self.call),
            web.get("/health", self.health),
            web.post("/admin/faults", self.admin_arm),
            web.get("/admin/faults", self.admin_list),
            web.delete("/admin/faults", self.admin_clear),
            web.post("/admin/faults/release", self.admin_release),
            web.get("/admin/calls", self.admin_calls),
            web.get("/admin/summary", self.admin_summary),
            web.post("/admin/filings", self.admin_filing),
            web.post("/admin/notices", self.admin_notice),
            web.post("/admin/catalogue", self.admin_catalogue),
            web.post("/admin/hand-audit", self.admin_hand_audit),
            web.post("/admin/latency", self.admin_latency),
            web.get("/admin/latency", self.admin_latency_show),
            web.get("/admin/disputes", self.admin_disputes),
            web.post("/admin/disputes/answer", self.admin_answer_dispute),
            web.post("/admin/reset", self.admin_reset),
        ])
        return application

    # --- the interface --------------------------------------------------------------

    async def call(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._calls.add(task)
        try:
            return await self._call(request)
        finally:
            if task is not None:
                self._calls.discard(task)

    async def _call(self, request: web.Request) -> web.StreamResponse:
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
            released = asyncio.Event()
            self._held.add(released)
            try:
                await asyncio.wait_for(released.wait(), delay.seconds)
            except asyncio.TimeoutError:
                pass  # held its full time
            finally:
                self._held.discard(released)

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
        return web.json_response({"faults": [asdict(f) for f in self.faults.armed], "held": len(self._held)})

    async def admin_clear(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        self.faults.clear()
        return web.json_response({"faults": []})

    async def admin_release(self, request: web.Request) -> web.Response:
        """Let every call a `delay` fault holds go on now (a test need not wait out a long hold)."""
        self._admin_only(request)
        held = list(self._held)
        for event in held:
            event.set()
        return web.json_response({"released": len(held)})

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

    async def admin_notice(self, request: web.Request) -> web.Response:
        """A 配置费用核付通知单 issued, changed or cancelled by the insured place (training, tests)."""
        self._admin_only(request)
        try:
            data = await request.json()
            ssn, notice = data["social_security_number"], data["notice"]
            with store.transaction(self.connection):
                notice_no = seed.insert_notice(self.connection, ssn, notice, wire.now().date(), "admin/notices",
                                               replace=True)
        except ConfigurationError as exc:
            return self._bad(exc.message)
        except (KeyError, TypeError, ValueError) as exc:
            return self._bad(f"应为 {{\"social_security_number\": …, \"notice\": {{…}}}}：{exc}")
        return web.json_response({"notice_no": notice_no})

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

    async def admin_reset(self, request: web.Request) -> web.Response:
        """The demo data anew, as `--reset` at start would give, without a new process: a training room
        starts its next session clean, and the tests use one sandbox per test process this way.
        Calls still being answered belong to the data being wiped: they are ended without a reply."""
        self._admin_only(request)
        for task in list(self._calls) + list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._calls, *self._tasks, return_exceptions=True)
        if self.listener is None or not self.listener.is_serving():
            await self._listen()  # a refusal fault that was ended early
        self.faults.clear()
        self.latency = Latency()
        # The 终端号 given stay given (a real centre never forgets one): a counter of before still uses
        # its number, and a new counter drawing the same one would draw its msgids. The latest half
        # are kept, so a sandbox reset between many tests never runs out of numbers.
        kept_terminals = self.connection.execute(
            "SELECT institution, counter_id, terminal_no, registered_at FROM terminal "
            "ORDER BY registered_at DESC, rowid DESC LIMIT ?", (wire.SLOTS_PER_SECOND // 2,)).fetchall()
        self.connection.close()
        store.remove(self.data_dir)
        try:
            self.connection = store.connect(self.data_dir)
            seed.seed_if_new(self.connection, wire.now().date())
            with self.connection:
                self.connection.executemany(
                    "INSERT INTO terminal (institution, counter_id, terminal_no, registered_at) VALUES (?, ?, ?, ?)",
                    [tuple(row) for row in kept_terminals])
        except sqlite3.Error as exc:
            return web.json_response({"error": f"无法重建沙箱数据库：{exc}"}, status=500)
        self.centre = SandboxCentre(self.connection, institution_keys(self.connection))
        self.started_at = wire.now()
        log.warning("sandbox reset: the demo data seeded anew")
        return web.json_response({"reset": True, "started_at": wire.format_time(self.started_at)})

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


def main(argv: Sequence[str] | None = None) -> int:
    """One server process (what `supervise` starts)."""
    parser = argparse.ArgumentParser(prog="python -m app.sandbox.server")
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

