"""Never lose, never double, proved against the real sandbox with its faults switched on.

For settlement, settlement cancellation and the monthly claim upload, each fault — delay past the
read timeout, error reply, reply dropped after commit, malformed reply, refused connections,
centre restart after commit — ends with exactly one applied transaction on both sides, or none,
and the counter's books (its outbox) agree with the centre's (its reconciliation and records).
Then a retry (a new msgid) applies it exactly once. Both databases (`db_url`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import (
    CentreError,
    Operation,
    OutcomeState,
    SettlementCancelRequest,
    SettlementRequest,
)
from app.composition import open_counter_centre
from app.db.models import OutboxEntry, OutboxState
from tests.centre.client_fixtures import (  # noqa: F401 - fixtures
    SandboxProcess,
    admission_of,
    centre_today,
    client,
    counter,
    fee_lines,
    sandbox,
)

DELAY_SECONDS = 4.5  # longer than the counter's read timeout (3 s in make_counter)

# kind: options, whether the faulty call ends applied, and how the counter learnt its outcome
FAULTS: dict[str, tuple[dict[str, object], bool, tuple[OutboxState, str]]] = {
    # timed out, voided (2601) before the centre ran it; the late request is refused (1009)
    "delay": ({"seconds": DELAY_SECONDS}, False, (OutboxState.FAILED, "voided")),
    "error": ({"err_code": "9001"}, False, (OutboxState.FAILED, "reply")),
    "drop_after_commit": ({}, True, (OutboxState.SUCCEEDED, "query")),
    "malformed": ({}, True, (OutboxState.SUCCEEDED, "query")),
    "refuse_connections": ({"seconds": 1.5}, False, (OutboxState.FAILED, "unsent")),
    "restart": ({}, True, (OutboxState.SUCCEEDED, "query")),
}


def entries(ctx: CounterContext, operation: Operation) -> list[OutboxEntry]:
    with ctx.transaction() as session:
        return list(session.scalars(select(OutboxEntry).where(OutboxEntry.operation == operation.value)
                                    .order_by(OutboxEntry.seq)))


def open_entries(ctx: CounterContext) -> list[OutboxEntry]:
    with ctx.transaction() as session:
        return list(session.scalars(select(OutboxEntry).where(
            OutboxEntry.state.in_([OutboxState.PENDING, OutboxState.SENT]))))


def arm(sandbox: SandboxProcess, kind: str, infno: str) -> float:
    options = FAULTS[kind][0]
    sandbox.arm(kind, infno, **options)
    if kind == "refuse_connections":
        time.sleep(0.3)  # the sandbox stops listening right after answering the admin call
    return time.monotonic()


def run_through_fault(call: Callable[[CentreClient], object], client: CentreClient, counter: CounterContext,
                      sandbox: SandboxProcess, kind: str, armed_at: float) -> None:
    """Make the faulty call; whatever the counter was told, let the fault pass and resolve."""
    # Refused connections hit new connections only: the call comes from a counter that opens
    # its link now (an open keep-alive connection would still get through).
    caller = open_counter_centre(counter) if kind == "refuse_connections" else client
    try:
        call(caller)
    except CentreError:
        pass  # the clerk saw a message; the books are checked below
    finally:
        if caller is not client:
            caller.close()
    if kind == "delay":
        # The delayed request reaches the centre's handler after the counter gave up on it.
        time.sleep(max(0.0, armed_at + DELAY_SECONDS + 0.5 - time.monotonic()))
    sandbox.wait_ready()
    client.resolve_open()


def assert_fault_path(ctx: CounterContext, operation: Operation, kind: str) -> None:
    """The faulty call ended the way this fault must end it (so the test proves that path)."""
    faulty = entries(ctx, operation)[0]
    assert (faulty.state, faulty.resolution) == FAULTS[kind][2]


def assert_agree(ctx: CounterContext, client: CentreClient, operation: Operation, expect_applied: int) -> None:
    """The counter's succeeded entries are exactly what the centre applied, msgid by msgid."""
    assert open_entries(ctx) == []
    mine = entries(ctx, operation)
    succeeded = [e.msgid for e in mine if e.state is OutboxState.SUCCEEDED]
    assert len(succeeded) == expect_applied
    for entry in mine:
        outcome = client.centre.query_outcome(entry.msgid, operation)
        if entry.state is OutboxState.SUCCEEDED:
            assert outcome.state is OutcomeState.APPLIED, entry.msgid
        else:
            assert outcome.state is not OutcomeState.APPLIED, (entry.msgid, entry.state, entry.resolution)


def prepare_stay(client: CentreClient, admission_no: str = "ZY-FAULT-1") -> str:
    admission = client.register_admission(admission_of(admission_no=admission_no))
    client.upload_fees(admission.registration_no, fee_lines(12), insured_region="440800")
    return admission.registration_no


@pytest.mark.parametrize("kind", list(FAULTS))
def test_settlement_survives(kind: str, client: CentreClient, counter: CounterContext,
                             sandbox: SandboxProcess) -> None:
    registration_no = prepare_stay(client)
    request = SettlementRequest(registration_no, centre_today())
    armed_at = arm(sandbox, kind, wire.Transaction.SETTLEMENT.value)
    run_through_fault(lambda c: c.settle(request), client, counter, sandbox, kind, armed_at)

    applied = 1 if FAULTS[kind][1] else 0
    assert_fault_path(counter, Operation.SETTLEMENT, kind)
    assert_agree(counter, client, Operation.SETTLEMENT, applied)
    summary = sandbox.summary()
    assert summary["settlements"]["live"] == applied
    details = client.daily_details(centre_today())
    assert {r.msgid for r in details.records if r.kind == "settlement"} == {
        e.msgid for e in entries(counter, Operation.SETTLEMENT) if e.state is OutboxState.SUCCEEDED}

    # The clerk settles again: exactly one settlement in the end, whatever the fault did.
    if not applied:
        client.settle(request)
    else:
        with pytest.raises(CentreError):
            client.settle(request)  # already settled: refused, nothing doubles
    assert sandbox.summary()["settlements"]["live"] == 1
    assert_agree(counter, client, Operation.SETTLEMENT, 1)
    assert client.reconcile(centre_today()).agrees  # the day's books, as the counter checks them


@pytest.mark.parametrize("kind", list(FAULTS))
def test_settlement_cancellation_survives(kind: str, client: CentreClient, counter: CounterContext,
                                          sandbox: SandboxProcess) -> None:
    figures = client.settle(SettlementRequest(prepare_stay(client), centre_today()))
    assert figures.settlement_id is not None
    request = SettlementCancelRequest(figures.settlement_id, "结算有误")
    armed_at = arm(sandbox, kind, wire.Transaction.SETTLEMENT_CANCEL.value)
    run_through_fault(lambda c: c.cancel_settlement(request), client, counter, sandbox, kind, armed_at)

    applied = 1 if FAULTS[kind][1] else 0
    assert_fault_path(counter, Operation.SETTLEMENT_CANCEL, kind)
    assert_agree(counter, client, Operation.SETTLEMENT_CANCEL, applied)
    summary = sandbox.summary()
    assert summary["cancellations"] == applied
    assert summary["settlements"] == {"live": 1 - applied, "cancelled": applied, "reversed": 0}
    totals = client.daily_totals(centre_today())
    assert totals.cancellations.count == applied
    assert totals.net.total == (Decimal("0.00") if applied else figures.total)

    if not applied:
        client.cancel_settlement(request)
    assert sandbox.summary()["cancellations"] == 1
    assert_agree(counter, client, Operation.SETTLEMENT_CANCEL, 1)
    assert client.reconcile(centre_today()).agrees


@pytest.mark.parametrize("kind", list(FAULTS))
def test_claim_upload_survives(kind: str, client: CentreClient, counter: CounterContext, sandbox: SandboxProcess,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    ids = []
    for n in range(3):
        figures = client.settle(SettlementRequest(prepare_stay(client, f"ZY-CLAIM-{n}"), centre_today()))
        assert figures.settlement_id is not None
        ids.append(figures.settlement_id)
    monkeypatch.setattr(wire, "MAX_CLAIM_SETTLEMENTS_PER_CHUNK", 2)  # two chunks; the fault hits the first
    claim_no, period = "YJ-FAULT", centre_today().strftime("%Y-%m")
    armed_at = arm(sandbox, kind, wire.Transaction.CLAIM_UPLOAD.value)
    run_through_fault(lambda c: c.upload_claim(claim_no, period, ids), client, counter, sandbox, kind,
                      armed_at)

    assert_fault_path(counter, Operation.CLAIM_UPLOAD, kind)
    delivered = [e for e in entries(counter, Operation.CLAIM_UPLOAD) if e.state is OutboxState.SUCCEEDED]
    assert_agree(counter, client, Operation.CLAIM_UPLOAD, len(delivered))
    assert sandbox.summary()["claimed_settlements"] == sum(len(e.request["settlement_ids"]) for e in delivered)

    # Uploading again resumes: each chunk applied once, every settlement claimed once.
    receipt = client.upload_claim(claim_no, period, ids)
    assert receipt.received_chunks == (1, 2)
    status = client.claim_status(claim_no)
    assert sorted(e.settlement_id for e in status.entries) == sorted(ids)
    assert sandbox.summary()["claimed_settlements"] == 3
    assert_agree(counter, client, Operation.CLAIM_UPLOAD, 2)
    assert client.reconcile(centre_today()).agrees
