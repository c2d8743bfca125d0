"""A centre reply with implausible figures is never stored or printed, and wedges nothing (issue 22 item 5).

Found: a settlement reply with a negative personal payment (fund above the total) was accepted, stored
and printed on the slip; a matrix value too large to store raised `OverflowError` while recording it,
so the outbox entry stayed open and `centre resolve` and every new admission crashed on it again.

The centre here is the real sandbox behind a tampering proxy (a small HTTP server on loopback) that
re-signs the sandbox's settlement replies (2304, and its 5101 outcome) with changed figures: a centre
holding the institution's key. Both databases.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import CentreError, SettlementRequest
from app.db.models import OutboxEntry, OutboxState, Settlement, Stay, StayStatus
from app.errors import WiCounterError
from app.operators import OperatorInfo
from app.workflow.discharge import settle_stay
from tests.centre.client_fixtures import SANDBOX_KEY, make_counter
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    WANG_XIULAN_CARD,
    ZHANG_WEI_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    centre_today,
    form,
)

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
    ctx = make_counter(tmp_path / "counter-home", db_url, proxy.url)
    yield ctx
    ctx.close()


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _shift(output: dict[str, Any], amount: Decimal, into: str, out_of: str, category: str = "drug") -> None:
    """Move `amount` from bucket `out_of` to `into` in the matrix (row totals kept consistent)."""
    matrix = output["matrix"]
    for bucket, sign in ((into, 1), (out_of, -1)):
        row = matrix[bucket]
        row[category] = _money(Decimal(row[category]) + sign * amount)
        row["total"] = _money(Decimal(row["total"]) + sign * amount)


def negative_personal(output: dict[str, Any]) -> None:
    """Personal −50.00, fund = total + 50.00: the sums still agree, so only plausibility can tell."""
    moved = Decimal(output["personal_total"]) + Decimal("50.00")
    output["fund_total"] = _money(Decimal(output["fund_total"]) + moved)
    output["personal_total"] = "-50.00"
    _shift(output, moved, "fund", "non_injury")
    item = output["items"][0]
    item["fund"] = _money(Decimal(item["fund"]) + moved)
    item["personal"] = _money(Decimal(item["personal"]) - moved)


def unstorable_cell(output: dict[str, Any]) -> None:
    """10¹⁷ yuan moved between two personal buckets: every sum agrees, no fen column holds it."""
    _shift(output, Decimal(10) ** 17, "over_limit", "self_pay", "device")


def _admitted_with_lines(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, card: str,
                         admission_no: str, emergency: bool = False) -> int:
    _, outcome = admit_worker(ctx, client, actor, card, form(admission_no, emergency=emergency))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    add_lines(ctx, outcome.stay_id, actor, 12)
    return outcome.stay_id


def _settlements(ctx: CounterContext) -> int:
    with ctx.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Settlement)) or 0)


@pytest.mark.parametrize("tamper", [negative_personal, unstorable_cell], ids=["negative-personal", "overflow"])
def test_implausible_settlement_fails_that_call_only(
        tamper: Tamper, counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo,
        proxy: TamperingProxy, sandbox: SandboxProcess) -> None:
    stay_id = _admitted_with_lines(counter, wf_client, cashier, ZHANG_WEI_CARD, "ZY-HOSTILE-1")
    proxy.tamper[wire.Transaction.SETTLEMENT.value] = tamper

    with pytest.raises(WiCounterError) as refused:
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert "不合理" in refused.value.message, refused.value.message
    assert "Error" not in refused.value.message

    # Nothing stored, nothing to print; the call is closed (reversed at the centre) with the reason kept.
    assert _settlements(counter) == 0
    with counter.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status is not StayStatus.SETTLED
        entry = session.scalars(select(OutboxEntry).where(OutboxEntry.operation == "settlement")).one()
        assert entry.state is not OutboxState.SENT and "不合理" in (entry.error or "")
    assert sandbox.summary()["settlements"]["live"] == 0

    # Not every later call: resolving is clean and the next admission goes through.
    assert all(r.state is not OutboxState.SENT for r in wf_client.resolve_open())
    _admitted_with_lines(counter, wf_client, cashier, WANG_XIULAN_CARD, "ZY-HOSTILE-2", emergency=True)

    # Once the centre's figures are sane again, the stay settles.
    proxy.tamper.clear()
    outcome = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert outcome.personal_total >= 0 and _settlements(counter) == 1


def test_an_implausible_pre_settlement_is_not_shown(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, proxy: TamperingProxy) -> None:
    stay_id = _admitted_with_lines(counter, wf_client, cashier, ZHANG_WEI_CARD, "ZY-HOSTILE-3")
    with counter.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.registration_no is not None
        registration_no = stay.registration_no
    from app.workflow.discharge import upload_lines
    upload_lines(counter, wf_client, stay_id, cashier)
    proxy.tamper[wire.Transaction.PRE_SETTLEMENT.value] = negative_personal
    with pytest.raises(CentreError) as refused:
        wf_client.pre_settle(SettlementRequest(registration_no, centre_today()))
    assert "个人支付合计为负" in refused.value.message


def test_an_unstorable_admission_reply_fails_that_call_only(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, proxy: TamperingProxy,
        db_url: str) -> None:
    """Any applier the database refuses (here a 就医登记号 longer than its column, which PostgreSQL
    enforces) fails that one call: it is reversed at the centre, not left open to fail every later one."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite does not enforce text lengths")

    def long_registration(output: dict[str, Any]) -> None:
        output["registration_no"] = "R" * 100

    proxy.tamper[wire.Transaction.ADMISSION.value] = long_registration
    with pytest.raises(WiCounterError) as refused:
        admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-HOSTILE-4"))
    assert "Error" not in refused.value.message and "冲正" in refused.value.message
    with counter.transaction() as session:
        assert session.scalars(select(OutboxEntry).where(OutboxEntry.state == OutboxState.SENT)).all() == []
    proxy.tamper.clear()
    assert all(r.state is not OutboxState.SENT for r in wf_client.resolve_open())
    _admitted_with_lines(counter, wf_client, cashier, WANG_XIULAN_CARD, "ZY-HOSTILE-5", emergency=True)
