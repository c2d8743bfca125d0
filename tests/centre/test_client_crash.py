"""A counter process killed (SIGKILL) between send and reply, and started again.

The sandbox holds the settlement request (a `delay` fault) so the kill lands while the request
is in the centre's hands and no reply has come. Two endings, both exact:
- the centre ran it before the counter came back: the restarted counter's resolver completes it
  from the outcome query (one settlement on both sides);
- the counter came back first: the resolver voids the msgid, the centre then refuses the late
  request, and the clerk's new settlement is the only one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import Operation, OutcomeState
from app.db.models import OutboxEntry, OutboxState
from tests.centre.client_fixtures import (  # noqa: F401 - fixtures
    REPO,
    SANDBOX_KEY,
    SandboxProcess,
    admission_of,
    client,
    counter,
    fee_lines,
    sandbox,
)


def settlement_entries(ctx: CounterContext) -> list[OutboxEntry]:
    with ctx.transaction() as session:
        return list(session.scalars(select(OutboxEntry).where(OutboxEntry.operation == Operation.SETTLEMENT.value)
                                    .order_by(OutboxEntry.seq)))


def driver(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.centre.counter_driver", *args], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, WI_TEST_CENTRE_KEY=SANDBOX_KEY),
    )


def kill_while_waiting(counter: CounterContext, db_url: str, registration_no: str,
                       held_by: SandboxProcess | None = None) -> OutboxEntry:
    """Start a counter process settling the stay; SIGKILL it once the request is on its way
    (`held_by`: once that sandbox holds it, under a `delay` fault)."""
    process = driver("settle", str(counter.paths.config_dir.parent), db_url, registration_no)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not settlement_entries(counter):
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.05)
    if held_by is None:
        time.sleep(0.5)  # the request leaves the process right after the entry commits (loopback)
    else:
        while time.monotonic() < deadline and not held_by.admin("GET", "/admin/faults")["held"]:
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.05)
    assert process.poll() is None, "the counter got a reply before the kill"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    [entry] = settlement_entries(counter)
    assert entry.state is OutboxState.SENT  # outcome unknown: written, sent, no reply
    return entry


def prepare(client: CentreClient) -> str:
    admission = client.register_admission(admission_of(admission_no="ZY-CRASH-1"))
    client.upload_fees(admission.registration_no, fee_lines(8), insured_region="440800")
    return admission.registration_no


def test_restarted_counter_completes_a_settlement_the_centre_applied(
    client: CentreClient, counter: CounterContext, sandbox: SandboxProcess, db_url: str
) -> None:
    registration_no = prepare(client)
    sandbox.arm("delay", wire.Transaction.SETTLEMENT.value, seconds=2.0)
    entry = kill_while_waiting(counter, db_url, registration_no)
    # The centre runs the request after the counter died.
    deadline = time.monotonic() + 15
    while sandbox.summary()["settlements"]["live"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)

    # The counter starts again: `wi-counter centre resolve` settles the open entry by msgid.
    restart = driver("cli", "centre", "resolve", "--home", str(counter.paths.config_dir.parent), "--db", db_url)
    output, _ = restart.communicate(timeout=60)
    assert restart.returncode == 0, output
    assert entry.msgid in output

    [after] = settlement_entries(counter)
    assert (after.state, after.resolution) == (OutboxState.SUCCEEDED, "query")
    assert after.response is not None and after.response["registration_no"] == registration_no
    assert sandbox.summary()["settlements"]["live"] == 1
    assert client.centre.query_outcome(entry.msgid, Operation.SETTLEMENT).state is OutcomeState.APPLIED


def test_restarted_counter_voids_a_settlement_the_centre_had_not_run(
    client: CentreClient, counter: CounterContext, sandbox: SandboxProcess, db_url: str
) -> None:
    registration_no = prepare(client)
    # The centre holds the request until the restarted counter has voided it and the test lets it go:
    # a timed hold (15 s) was outrun by a restart on a loaded 2-core machine (the counter's start alone
    # took 9 s there), and the request then ran before the void.
    sandbox.arm("delay", wire.Transaction.SETTLEMENT.value, seconds=600)
    entry = kill_while_waiting(counter, db_url, registration_no, held_by=sandbox)

    # The clerk starts the counter again and settles: open entries are resolved first (the old
    # msgid is voided at the centre), then the new settlement goes through.
    again = driver("settle", str(counter.paths.config_dir.parent), db_url, registration_no)
    output, _ = again.communicate(timeout=60)
    assert again.returncode == 0, output
    assert "SETTLED" in output

    first, second = settlement_entries(counter)[0], settlement_entries(counter)[-1]
    assert first.msgid == entry.msgid
    assert (first.state, first.resolution) == (OutboxState.FAILED, "voided")
    assert second.state is OutboxState.SUCCEEDED
    # The held request finally reaches the centre's handler: refused, the msgid stays voided.
    assert sandbox.admin("GET", "/admin/faults")["held"] == 1
    assert sandbox.admin("POST", "/admin/faults/release")["released"] == 1
    deadline = time.monotonic() + 30
    while sandbox.admin("GET", "/admin/faults")["held"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.admin("GET", "/admin/faults")["held"] == 0
    assert client.centre.query_outcome(entry.msgid, Operation.SETTLEMENT).state is OutcomeState.VOIDED
    summary = sandbox.summary()
    assert summary["settlements"]["live"] == 1
    assert summary["calls"]["voided"] == 1
