"""Fee lines go up several calls at once (issue 25 §2), against the real sandbox centre over HTTP
behaving like a WAN (its latency option), on SQLite and PostgreSQL.

Whatever the centre does to some of the calls in flight — refuses them, commits and drops the reply,
answers garbage, or holds one past the counter's timeout so that it is voided — every line lands at
the centre exactly once: each seq in exactly one applied upload call, the centre's live lines and
total the stay's, and the settlement the centre's. Refunds of lines in the same upload follow their
originals. Killed mid-upload: `tests/crash/test_kill_points.py` (`test_killed_mid_parallel_upload`).
"""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import CentreError, Operation
from app.db.models import ChargeCategory, ChargeLine, ChargeSource, OutboxEntry, OutboxState
from app.operators import OperatorInfo
from app.workflow.discharge import settle_stay
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    ZHANG_WEI_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    assert_matches_centre,
    centre_today,
    form,
)

LINES = 1198  # + the two add_lines adds + one refund: 1201 lines, 12 calls, then the refund's wave


def _stay_with_lines(ctx: CounterContext, client: CentreClient, actor: OperatorInfo) -> tuple[int, Decimal, int]:
    _, outcome = admit_worker(ctx, client, actor, ZHANG_WEI_CARD, form("ZY-PAR-1"))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    total = add_lines(ctx, outcome.stay_id, actor, LINES)
    with ctx.transaction() as session:
        original = session.scalars(select(ChargeLine).where(ChargeLine.stay_id == outcome.stay_id,
                                                            ChargeLine.seq == 3)).one()
        # A refund of a line that goes up in the same upload: the centre takes it only after its original.
        session.add(ChargeLine(stay_id=outcome.stay_id, seq=LINES + 3, his_code=original.his_code, code=original.code,
                               name=original.name, category=ChargeCategory.DRUG, quantity=Decimal("-10"),
                               unit_price=original.unit_price, amount=Decimal("-5.00"),
                               charged_on=original.charged_on, diagnosis_code=original.diagnosis_code,
                               refund_of_id=original.id, source=ChargeSource.MANUAL, created_by=actor.id))
    return outcome.stay_id, total - Decimal("5.00"), LINES + 3


def _settle_retrying(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo) -> tuple[Any, list[str]]:
    """The clerk presses 结算 again after each failure, as the page lets them."""
    failures: list[str] = []
    for _ in range(8):
        try:
            return settle_stay(ctx, client, stay_id, actor, centre_today()), failures
        except CentreError as exc:
            failures.append(exc.code)
    raise AssertionError(f"still not settled after {failures}")


def _assert_each_line_once(ctx: CounterContext, sandbox: SandboxProcess, stay_id: int, lines: int,
                           total: Decimal) -> list[OutboxEntry]:
    summary = sandbox.summary()
    assert summary["live_lines"] == lines and summary["live_lines_total"] == wire.money(total)
    with ctx.transaction() as session:
        entries = list(session.scalars(select(OutboxEntry).where(OutboxEntry.operation == Operation.FEE_UPLOAD.value)
                                       .order_by(OutboxEntry.seq)))
        assert not [e.msgid for e in session.scalars(select(OutboxEntry).where(
            OutboxEntry.state.in_([OutboxState.SENT, OutboxState.PENDING])))]
        unmarked = session.scalars(select(ChargeLine.seq).where(ChargeLine.stay_id == stay_id,
                                                                ChargeLine.uploaded_at.is_(None))).all()
        assert unmarked == []
    # Every seq in exactly one upload call the centre applied (none sent twice, none lost)...
    applied = [e for e in entries if e.state is OutboxState.SUCCEEDED]
    seqs = Counter(int(line["seq"]) for e in applied for line in e.request["lines"])
    assert sorted(seqs) == list(range(1, lines + 1)) and set(seqs.values()) == {1}
    # ... and the centre agrees on which calls those were.
    calls = {c["msgid"]: c["outcome"] for c in sandbox.admin("GET", "/admin/calls")["calls"] if c["infno"] == "2301"}
    assert {e.msgid for e in applied} == {m for m, outcome in calls.items() if outcome == "applied"}
    return entries


def _overlapping(entries: list[OutboxEntry]) -> bool:
    """Two upload calls were in flight at the same time (the second written before the first settled)."""
    spans = sorted((e.created_at, e.resolved_at) for e in entries if e.resolved_at is not None)
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_parallel_uploads_land_every_line_once_though_the_centre_fails_some_calls(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    sandbox.admin("POST", "/admin/latency", {"ms": 60, "jitter_ms": 20})
    stay_id, total, lines = _stay_with_lines(counter, wf_client, cashier)
    sandbox.arm("error", "2301", times=2)  # refused (centre busy): nothing applied, sent again next time
    sandbox.arm("drop_after_commit", "2301")  # applied, reply lost: found applied by msgid at once
    sandbox.arm("malformed", "2301")  # applied, reply unreadable: the same

    outcome, failures = _settle_retrying(counter, wf_client, stay_id, cashier)

    assert failures and set(failures) <= {wire.ErrorCode.CENTRE_BUSY.value}
    assert sandbox.admin("GET", "/admin/faults")["faults"] == []  # every fault was met
    entries = _assert_each_line_once(counter, sandbox, stay_id, lines, total)
    assert _overlapping(entries)  # several calls in flight
    by_resolution = Counter((e.state, e.resolution) for e in entries)
    assert by_resolution[(OutboxState.FAILED, "reply")] == 2
    assert by_resolution[(OutboxState.SUCCEEDED, "query")] == 2  # the dropped and the garbled reply
    assert_matches_centre(counter, wf_client, outcome.settlement_id)
    assert outcome.total == total


def test_a_call_held_past_the_timeout_is_voided_and_its_lines_sent_again_once(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    sandbox.admin("POST", "/admin/latency", {"ms": 40})
    stay_id, total, lines = _stay_with_lines(counter, wf_client, cashier)
    sandbox.arm("delay", "2301", seconds=5)  # longer than the counter's 3 s read timeout
    steps: list[tuple[str, int, int]] = []

    with pytest.raises(CentreError) as voided:
        settle_stay(counter, wf_client, stay_id, cashier, centre_today(),
                    progress=lambda step, done, of: steps.append((step, done, of)))
    assert voided.value.code == "VOIDED"  # the centre had not taken it: voided there (2601), start over
    uploads = [s for s in steps if s[0] == "upload"]
    assert uploads[0] == ("upload", 0, lines) and uploads[-1][1] < lines  # the bar moved, not to the end
    time.sleep(5.5)  # the held copy reaches the centre now: refused, it was voided
    outcome, failures = _settle_retrying(counter, wf_client, stay_id, cashier)

    assert failures == []
    entries = _assert_each_line_once(counter, sandbox, stay_id, lines, total)
    [held] = [e for e in entries if e.resolution == "voided"]
    assert held.state is OutboxState.FAILED
    with counter.transaction() as session:
        reversal = session.scalars(select(OutboxEntry).where(OutboxEntry.reverses_msgid == held.msgid)).one()
        assert reversal.state is OutboxState.SUCCEEDED
    calls = {c["msgid"]: c["outcome"] for c in sandbox.admin("GET", "/admin/calls")["calls"]}
    assert calls[held.msgid] == "voided"
    assert_matches_centre(counter, wf_client, outcome.settlement_id)


def test_calls_landing_meanwhile_never_look_unresolved_to_a_parallel_call(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each call first checks that no earlier outcome is unknown. A call that landed between that
    check's query and its look at the in-flight registry looked unknown and stopped the upload
    (OutboxNotClear with nothing unknown at all). Checked before every call here, as after an
    unknown outcome, and the registry looked at a little late, so that the window is met."""
    from app.centre import outbox
    from app.workflow.discharge import upload_lines

    monkeypatch.setattr(outbox, "CLEAR_CHECK_SECONDS", 0.0)
    looked_up = outbox.in_flight

    def late_look(msgid: str) -> bool:
        time.sleep(0.02)  # the calls in flight meanwhile land
        return looked_up(msgid)

    monkeypatch.setattr(outbox, "in_flight", late_look)
    _, admitted = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-PAR-2"))
    assert admitted.stay_id is not None
    add_lines(counter, admitted.stay_id, cashier, 3998)  # 40 calls

    assert upload_lines(counter, wf_client, admitted.stay_id, cashier) == 4000
    assert sandbox.summary()["live_lines"] == 4000
