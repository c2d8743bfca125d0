"""Several counters on one PostgreSQL database (issue 9, item 2): real counter processes, started
together behind a file barrier, racing for the same stay, the same 住院号 and the msgid sequence.

- the same stay settled by two counters at once: one settlement here and at the centre; the
  other counter is told, in Chinese, which counter (and clerk) settled it (`003 §17`: a stay is
  settled once);
- the same admission registered by two counters at once: one stay, one registration at the
  centre; the other is told which counter registered it;
- msgids drawn by four processes at once: all unique, each process's in issue order.

Batch numbers of monthly claims under concurrency: tests/claims/test_build_concurrency.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app import audit
from app.bootstrap import CounterContext
from app.centre.gateway import Operation
from app.composition import open_workflow_centre
from app.db.models import AuditEvent, Operator, OutboxEntry, Role, Settlement, SettlementKind, Stay
from app.operators import OperatorInfo
from tests.centre.client_fixtures import REPO, SandboxProcess, make_counter, sandbox  # noqa: F401 - fixture
from tests.concurrency.counter_process import release, results_of
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD, add_lines, admit_worker, form
from tests.signed_in import signed_in

pytestmark = pytest.mark.postgres

COUNTERS = (("1号窗口", "cashier1", "收款员甲"), ("2号窗口", "cashier2", "收款员乙"))


@pytest.fixture
def shared(tmp_path: Path, postgres_url: str, sandbox: SandboxProcess) -> Iterator[CounterContext]:  # noqa: F811
    """The database every counter shares (migrated, with the institution and the clerks)."""
    ctx = make_counter(tmp_path / "setup-home", postgres_url, sandbox.url)
    with ctx.transaction() as session:
        for _, login, name in COUNTERS + (("", "cashier0", "收款员丙"),):
            session.add(Operator(login=login, display_name=name, role=Role.CASHIER, password_hash="not-a-real-hash"))
    yield ctx
    ctx.close()


def _clerk(ctx: CounterContext, login: str) -> OperatorInfo:
    with ctx.transaction() as session:
        record = session.scalars(select(Operator).where(Operator.login == login)).one()
        return signed_in(record)


def run_counters(tmp_path: Path, db_url: str, centre_url: str, jobs: list[tuple[str, str, list[str]]],
                 timeout: float = 180) -> list[list[dict[str, Any]]]:
    """Start one process per (counter name, login, action + args); release them together; their results."""
    barrier = tmp_path / f"barrier-{len(list(tmp_path.glob('barrier-*')))}"
    barrier.mkdir()
    import secrets

    from app.secret_store import AUDIT_KEY, get_secret, set_secret

    # The institution's audit key (made by the setup's first audit event, or now, as at the site's set-up),
    # handed to every counter as the site's key backup would be.
    if get_secret(AUDIT_KEY) is None:
        set_secret(AUDIT_KEY, secrets.token_hex(32))
    env = dict(os.environ, PYTHONPATH=str(REPO), WI_TEST_AUDIT_KEY=get_secret(AUDIT_KEY) or "")
    processes = []
    for number, (name, login, command) in enumerate(jobs):
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tests.concurrency.counter_process", command[0], *command[1:],
             "--home", str(tmp_path / f"counter-{login}-{number}"), "--db", db_url, "--centre", centre_url,
             "--name", name, "--login", login, "--barrier", str(barrier)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        release(barrier, len(processes), alive=lambda: all(p.poll() is None for p in processes))
        outputs = [process.communicate(timeout=timeout) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, f"counter process failed:\n{out}\n{err}"
    return [results_of(out) for out, _ in outputs]


def _admitted_stay(ctx: CounterContext, admission_no: str) -> int:
    clerk = _clerk(ctx, "cashier0")
    client = open_workflow_centre(ctx, clerk)
    try:
        _, outcome = admit_worker(ctx, client, clerk, ZHANG_WEI_CARD, form(admission_no))
    finally:
        client.close()
    assert outcome.stay_id is not None and outcome.registration_no is not None
    add_lines(ctx, outcome.stay_id, clerk, 12)
    return outcome.stay_id


def _chain_is_whole(ctx: CounterContext) -> None:
    with ctx.transaction() as session:
        assert audit.verify_chain(session.scalars(select(AuditEvent).order_by(AuditEvent.id))) == []


def test_two_counters_settling_one_stay_settle_it_once(tmp_path: Path, postgres_url: str, shared: CounterContext,
                                                       sandbox: SandboxProcess) -> None:  # noqa: F811
    stay_id = _admitted_stay(shared, "ZY-RACE-1")
    outcomes = [found[0] for found in run_counters(tmp_path, postgres_url, sandbox.url, [
        (name, login, ["settle", str(stay_id)]) for name, login, _ in COUNTERS])]

    winners = [o for o in outcomes if o["ok"]]
    losers = [o for o in outcomes if not o["ok"]]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    winner_name, _, winner_clerk = COUNTERS[outcomes.index(winners[0])]
    # The refusal says why and who: the other counter and its clerk settled it.
    assert losers[0]["kind"] == "WorkflowError"
    assert "本次住院已结算" in losers[0]["message"] and f"由{winner_name}" in losers[0]["message"], losers[0]
    assert winner_clerk in losers[0]["message"] and "不会重复结算" in losers[0]["message"]

    with shared.transaction() as session:
        settlements = session.scalars(select(Settlement).where(Settlement.stay_id == stay_id)).all()
        assert [(s.kind, s.id) for s in settlements] == [(SettlementKind.SETTLEMENT, winners[0]["settlement_id"])]
        # The loser never sent a settlement: one 2304 for the stay in the shared outbox.
        assert session.scalar(select(func.count(OutboxEntry.id)).where(
            OutboxEntry.stay_id == stay_id, OutboxEntry.operation == Operation.SETTLEMENT.value)) == 1
    summary = sandbox.summary()
    assert summary["settlements"]["live"] == 1
    assert summary["registrations"]["settled"] == 1
    _chain_is_whole(shared)


def test_two_counters_registering_one_admission_register_it_once(tmp_path: Path, postgres_url: str,
                                                                 shared: CounterContext,
                                                                 sandbox: SandboxProcess) -> None:  # noqa: F811
    outcomes = [found[0] for found in run_counters(tmp_path, postgres_url, sandbox.url, [
        (name, login, ["admit", ZHANG_WEI_CARD, "ZY-RACE-2"]) for name, login, _ in COUNTERS])]

    winners = [o for o in outcomes if o["ok"]]
    losers = [o for o in outcomes if not o["ok"]]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert winners[0]["registration_no"]
    winner_name, _, winner_clerk = COUNTERS[outcomes.index(winners[0])]
    assert losers[0]["kind"] == "WorkflowError"
    assert "住院号 ZY-RACE-2 已登记过" in losers[0]["message"], losers[0]
    assert f"由{winner_name}" in losers[0]["message"], losers[0]
    assert winner_clerk in losers[0]["message"]

    with shared.transaction() as session:
        stays = session.scalars(select(Stay).where(Stay.admission_no == "ZY-RACE-2")).all()
        assert [s.id for s in stays] == [winners[0]["stay_id"]]
        assert stays[0].registration_no == winners[0]["registration_no"]
    assert sandbox.summary()["registrations"]["open"] == 1
    _chain_is_whole(shared)


def test_msgids_drawn_by_four_processes_at_once_are_unique(tmp_path: Path, postgres_url: str,
                                                          shared: CounterContext,
                                                          sandbox: SandboxProcess) -> None:  # noqa: F811
    per_process = 150
    found = [found[0] for found in run_counters(tmp_path, postgres_url, sandbox.url, [
        (f"{n}号窗口", "cashier1", ["msgids", str(per_process)]) for n in range(1, 5)])]
    drawn = [f["msgids"] for f in found]

    everything = [msgid for msgids in drawn for msgid in msgids]
    assert len(everything) == 4 * per_process
    assert len(set(everything)) == len(everything)
    for msgids in drawn:  # each counter's in the order it drew them (the sequence and the stamp agree)
        assert msgids == sorted(msgids)
    # One database, one issuer: one 终端号 in every counter's msgids (issue 21).
    assert len({msgid[26:28] for msgid in everything}) == 1
    # Across counters too: second and slot are issued under the issuer's lock, stamped by the
    # server's clock, so sorting by msgid is sorting by the sequence number.
    numbered = {msgid: number for f in found for msgid, number in zip(f["msgids"], f["numbers"], strict=True)}
    assert sorted(everything) == sorted(everything, key=lambda msgid: numbered[msgid])
