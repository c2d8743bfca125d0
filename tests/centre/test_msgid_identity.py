"""Whose call is it? (issue 21, B1 and B6) — against the real sandbox centre.

- B1: the outcome query (5101) must prove that the call the centre recorded under a msgid is
  this counter's own call (its transaction, its request's fingerprint, its counter) before
  anything is applied or reversed. A foreign answer is never applied, never reversed: the entry
  is closed as not applied and flagged for the reviewer, in Chinese.
- B6: one in-flight registry per process: the status bar's probe (its own client, its own
  outbox instance, the same process) never voids the clerk's call while it is on its way.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.outbox import Outbox
from app.composition import open_counter_centre, open_workflow_centre
from app.db.models import OutboxEntry, OutboxState, Stay
from app.errors import WiCounterError
from app.operators import OperatorInfo
from app.settings import CENTRE_READ_TIMEOUT_SECONDS
from app.workflow.centre_monitor import CentreMonitor
from tests.centre.client_fixtures import (  # noqa: F401 - fixtures
    SANDBOX_KEY,
    ZHANG_WEI,
    SandboxProcess,
    centre_today,
    counter,
    sandbox,
)
from tests.centre.sandbox_process import RawClient
from tests.workflow.stay_fixtures import admit_worker, cashier, form  # noqa: F401 - fixtures

LIU_YANG_CARD = "K44080011"
LIU_YANG_FORM = {"diagnoses": (("T23.200", "手部二度烧伤"),)}


def _centre_rows(sandbox: SandboxProcess, query: str) -> list[tuple[Any, ...]]:  # noqa: F811
    connection = sqlite3.connect(f"file:{sandbox.data / 'sandbox-centre.sqlite3'}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in connection.execute(query)]
    finally:
        connection.close()


def _wait_for_sent_entry(ctx: CounterContext, timeout: float = 10) -> OutboxEntry:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ctx.transaction() as session:
            entry = session.scalars(select(OutboxEntry).where(OutboxEntry.state == OutboxState.SENT)).first()
            if entry is not None:
                session.expunge(entry)
                return entry
        time.sleep(0.02)
    raise AssertionError("no call on its way within the timeout")


def _in_background(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_5101_answer_that_is_another_calls_is_neither_applied_nor_reversed(
        counter: CounterContext, sandbox: SandboxProcess, cashier: OperatorInfo) -> None:  # noqa: F811
    """刘洋's admission is on its way; meanwhile another caller's 2401 (张伟's) takes the same msgid
    at the centre. Our call gets 1004, the 5101 answer is that other call: refused as foreign."""
    counter.settings.set(CENTRE_READ_TIMEOUT_SECONDS, 20)
    client = open_workflow_centre(counter, cashier)
    client.centre.sign_in()
    sandbox.arm("delay", "2401", seconds=3.0)
    thread, outcome = _in_background(
        lambda: admit_worker(counter, client, cashier, LIU_YANG_CARD, form("ZY-FOREIGN-1", **LIU_YANG_FORM)))
    try:
        ours = _wait_for_sent_entry(counter)
        assert ours.operation == "admission"
        # The other caller: signed in like any counter of the institution, sending a different call
        # (张伟's admission) under our msgid while ours waits at the centre.
        other = RawClient(sandbox.url, key=SANDBOX_KEY)
        signed = other.call(wire.Transaction.SIGN_IN, {})
        assert signed.ok, signed
        other.sign_no = signed.output["sign_no"]
        foreign = other.call(wire.Transaction.ADMISSION, {
            "social_security_number": ZHANG_WEI, "recognition_no": None, "filing_id": None, "care": "medical",
            "admission_no": "ZY-OTHER-9", "dept": "骨关节病区", "admitted": centre_today().isoformat(),
            "emergency": False, "third_party_liability": False,
            "diagnoses": [{"code": "S82.201", "name": "胫骨干骨折", "injury": True}],
        }, msgid=ours.msgid)
        assert foreign.ok, foreign
        zhang_registration = foreign.output["registration_no"]
    finally:
        thread.join(timeout=60)
        client.close()
    assert not thread.is_alive()

    # The clerk is told, in Chinese, that the call was not done and a reviewer must look.
    error = outcome.get("error")
    assert isinstance(error, WiCounterError), outcome
    assert "另一笔交易" in error.message and "未冲正" in error.message, error.message
    assert "Error" not in error.message and "http" not in error.message

    with counter.transaction() as session:
        # 刘洋's stay never got 张伟's 就医登记号 (nor any: the centre never executed our call).
        assert zhang_registration not in {s.registration_no for s in session.scalars(select(Stay))}
        entry = session.scalars(select(OutboxEntry).where(OutboxEntry.msgid == ours.msgid)).one()
        assert (entry.state, entry.resolution) == (OutboxState.FAILED, "foreign")
        assert entry.error and "复核" in entry.error and "另一笔交易" in entry.error
        # Never reversed: no 2601 was ever written, let alone sent.
        assert session.scalars(select(OutboxEntry).where(OutboxEntry.operation == "reversal")).all() == []
    # The centre: 张伟's registration stands, nothing was reversed or voided.
    assert _centre_rows(sandbox, f"SELECT status FROM registration WHERE registration_no = '{zhang_registration}'") \
        == [("open",)]
    assert _centre_rows(sandbox, "SELECT msgid FROM call WHERE infno = '2601' OR outcome IN ('reversed', 'voided')") \
        == []


def test_the_status_bar_probe_never_voids_the_clerks_call_in_flight(
        counter: CounterContext, sandbox: SandboxProcess, cashier: OperatorInfo) -> None:  # noqa: F811
    """B6: the window's page and its status bar each have an outbox (two instances, one process);
    with a slow centre (4 s) the status bar probes while the clerk's 2401 is on its way."""
    counter.settings.set(CENTRE_READ_TIMEOUT_SECONDS, 20)
    page_client = open_workflow_centre(counter, cashier)
    page_client.centre.sign_in()
    status_bar = CentreMonitor(counter, open_counter_centre)
    sandbox.arm("delay", "2401", seconds=4.0)
    thread, outcome = _in_background(
        lambda: admit_worker(counter, page_client, cashier, LIU_YANG_CARD, form("ZY-SLOW-1", **LIU_YANG_FORM)))
    try:
        in_flight = _wait_for_sent_entry(counter)
        link = status_bar.probe()  # the status bar's probe: resolves open entries when the centre answers
        assert link.open_entries == 1  # still on its way: left alone
        # A second outbox instance in this process, asked directly, leaves it alone too.
        other = Outbox(counter.sessions, page_client.centre, page_client.outbox.institution_code,
                       counter.counter_name)
        assert other.resolve_open() == []
    finally:
        thread.join(timeout=60)
        status_bar.close()
        page_client.close()
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    _, admitted = outcome["value"]
    assert admitted.registration_no
    with counter.transaction() as session:
        entry = session.scalars(select(OutboxEntry).where(OutboxEntry.msgid == in_flight.msgid)).one()
        assert (entry.state, entry.resolution) == (OutboxState.SUCCEEDED, "reply")
    assert _centre_rows(sandbox, "SELECT msgid FROM call WHERE infno = '2601' OR outcome IN ('reversed', 'voided')") \
        == []
    assert _centre_rows(sandbox, f"SELECT status FROM registration WHERE registration_no = '{admitted.registration_no}'") \
        == [("open",)]


def test_msgids_carry_the_counters_terminal_number_from_the_centre(
        counter: CounterContext, sandbox: SandboxProcess, cashier: OperatorInfo) -> None:  # noqa: F811
    """The identity is made once, kept in the database, registered at sign-in; msgids keep the
    interface's format (12 + 14 + 4 characters) with the 终端号 as the sequence's first two digits."""
    client = open_workflow_centre(counter, cashier)
    try:
        client.centre.sign_in()
        first = client.outbox.identity()
        assert first.terminal_no is not None and first.terminal_no != wire.UNREGISTERED_TERMINAL
        msgid = client.outbox.read_msgid()
        assert wire.msgid_problem(msgid, "H44080100001") is None and len(msgid) == 30
        assert msgid[26:28] == first.terminal_no
        stamp = dt.datetime.strptime(msgid[12:26], "%Y%m%d%H%M%S").replace(tzinfo=wire.CHINA_TZ)
        assert abs((stamp - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    finally:
        client.close()
    # Another client (another start of the program) keeps the same identity and number.
    again = open_workflow_centre(counter, cashier)
    try:
        again.centre.sign_in()
        assert again.outbox.identity() == first
    finally:
        again.close()
    # One registration for this counter (the pooled sandbox keeps earlier tests' counters' numbers).
    rows = _centre_rows(sandbox, "SELECT counter_id, terminal_no FROM terminal")
    assert [row for row in rows if row[0] == first.counter_id] == [(first.counter_id, first.terminal_no)]
    assert [row[1] for row in rows].count(first.terminal_no) == 1


def test_start_up_recovery_names_an_entry_left_for_the_reviewer() -> None:
    """The window's first probe summarises what recovery did: a foreign msgid is not 'not done'."""
    from app.centre.outbox import FOREIGN, Resolution
    from app.recovery import RecoveryReport

    report = RecoveryReport((Resolution("H44080100001202612070900000101", "admission", OutboxState.FAILED, FOREIGN,
                                        "报文编号…在结算中心登记的是另一笔交易"),))
    assert "另一笔交易" in report.summary and "未冲正" in report.summary and "复核" in report.summary
    assert "中心未执行，已记为未办理" not in report.summary
