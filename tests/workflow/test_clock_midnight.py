"""Dates from one clock: a counter whose clock is 250 s off (inside the centre's ±300 s) around the
centre's midnight (issue 21 B7, §7).

The sandbox centre is a real HTTP process whose clock libfaketime puts just before or just after
Beijing midnight; the counter (this process) runs its own clock (`app.centre.wire.now`) 250 s fast
or slow of the centre's. The discharge and settlement dates and the day-end reconciliation's days
must be the centre's, whatever this counter's clock says.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.reconciliation import DayEndReconciler
from app.composition import open_workflow_centre
from app.db.models import Settlement, Stay
from app.errors import WiCounterError
from app.operators import OperatorInfo
from app.workflow.admission import centre_today as counter_centre_today
from app.workflow.discharge import settle_stay
from tests.centre import client_fixtures
from tests.centre.client_fixtures import SANDBOX_KEY, SandboxProcess, free_port
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD, add_lines, admit_worker, form

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
pytestmark = pytest.mark.skipif(not LIBFAKETIME.exists(), reason="libfaketime (Debian package libfaketime) missing")

SKEW = dt.timedelta(seconds=250)  # inside the documented ±300 s (wire.CLOCK_SKEW_SECONDS)
_real_now = wire.now


def _next_midnight() -> dt.datetime:
    """The next Beijing midnight of the real clock."""
    tomorrow = _real_now().date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(), wire.CHINA_TZ)


@pytest.fixture
def centre_at() -> dt.timedelta:
    """Where the centre's clock starts, relative to a Beijing midnight (parametrised per test)."""
    return dt.timedelta(seconds=-150)


@pytest.fixture
def centre_shift(centre_at: dt.timedelta) -> dt.timedelta:
    """How far the centre's clock is moved from the real one."""
    return _next_midnight() + centre_at - _real_now()


@pytest.fixture
def sandbox(tmp_path: Path, centre_shift: dt.timedelta) -> Iterator[SandboxProcess]:
    """The sandbox centre with its clock moved by `centre_shift` (libfaketime, process level)."""
    port = free_port()
    data = tmp_path / "sandbox-data"
    data.parent.mkdir(parents=True, exist_ok=True)
    log = data.with_suffix(".log")
    code = ("import sys; from pathlib import Path; from app.sandbox.supervisor import supervise; "
            f"sys.exit(supervise('127.0.0.1', {port}, Path({str(data)!r})))")
    seconds = int(centre_shift.total_seconds())
    env = dict(os.environ, WI_COUNTER_SANDBOX_KEY=SANDBOX_KEY, LD_PRELOAD=str(LIBFAKETIME),
               FAKETIME=f"{seconds:+d}")
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-c", code], cwd=client_fixtures.REPO, stdout=output,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    centre = SandboxProcess(f"http://127.0.0.1:{port}", port, data, process, log)
    try:
        centre.wait_ready()
        yield centre
    finally:
        centre.stop()


@pytest.fixture
def counter_skew() -> dt.timedelta:
    return SKEW


@pytest.fixture(autouse=True)
def counter_clock(monkeypatch: pytest.MonkeyPatch, centre_shift: dt.timedelta,
                  counter_skew: dt.timedelta) -> Iterator[None]:
    """This counter's clock: the centre's, `counter_skew` off (the counter process's one clock)."""
    monkeypatch.setattr(wire, "now", lambda: _real_now() + centre_shift + counter_skew)
    wire.CENTRE_CLOCK.forget()
    yield
    wire.CENTRE_CLOCK.forget()  # the next test's centre is not this moved one


def _centre_time(centre_shift: dt.timedelta) -> dt.datetime:
    return _real_now() + centre_shift


def _stay(counter: CounterContext, client: CentreClient, actor: OperatorInfo, centre_day: dt.date) -> int:
    _, outcome = admit_worker(counter, client, actor, ZHANG_WEI_CARD,
                              form("ZY-CLOCK-1", admitted=centre_day - dt.timedelta(days=3)))
    assert outcome.stay_id is not None
    add_lines(counter, outcome.stay_id, actor, 4, day=centre_day - dt.timedelta(days=1))
    return outcome.stay_id


@pytest.mark.parametrize("centre_at", [dt.timedelta(seconds=-150)])
def test_a_counter_250_s_fast_settles_before_the_centres_midnight_dated_by_the_centre(
        counter: CounterContext, cashier: OperatorInfo, centre_shift: dt.timedelta, db_url: str) -> None:
    client = open_workflow_centre(counter, cashier)
    try:
        centre_day = _centre_time(centre_shift).date()
        assert wire.now().date() == centre_day + dt.timedelta(days=1)  # the counter already lives tomorrow
        stay_id = _stay(counter, client, cashier, centre_day)
        # The clerk discharges "today": the counter's today is the centre's.
        today = counter_centre_today()
        outcome = settle_stay(counter, client, stay_id, cashier, today)
        assert today == centre_day
        assert _centre_time(centre_shift).date() == centre_day, "the centre passed midnight: the test ran too slowly"
    finally:
        client.close()
    with counter.transaction() as session:
        settlement = session.get(Settlement, outcome.settlement_id)
        assert settlement is not None
        assert settlement.settled_on == centre_day
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.discharged_on == centre_day


@pytest.mark.parametrize("centre_at", [dt.timedelta(seconds=20)])
@pytest.mark.parametrize("counter_skew", [-SKEW])
def test_a_counter_250_s_slow_after_the_centres_midnight_reconciles_both_days_without_false_entries(
        counter: CounterContext, cashier: OperatorInfo, reviewer: OperatorInfo, centre_shift: dt.timedelta,
        db_url: str) -> None:
    client = open_workflow_centre(counter, cashier)
    try:
        centre_day = _centre_time(centre_shift).date()
        yesterday = centre_day - dt.timedelta(days=1)
        assert wire.now().date() == yesterday  # the counter still lives yesterday
        stay_id = _stay(counter, client, cashier, centre_day)
        outcome = settle_stay(counter, client, stay_id, cashier, counter_centre_today())
        with counter.transaction() as session:
            settlement = session.get(Settlement, outcome.settlement_id)
            assert settlement is not None and settlement.settled_on == centre_day
        reconciler = DayEndReconciler(counter.sessions, client, counter.counter_name)
        for day in (yesterday, centre_day):
            result = reconciler.run(day, reviewer, details=True)
            assert result.agrees, (day, result.differences)
        assert reconciler.run(centre_day, reviewer).counter["settlement"].count == 1
    finally:
        client.close()


@pytest.mark.parametrize("counter_skew", [dt.timedelta(seconds=400)])
def test_a_counter_beyond_the_stated_skew_is_told_to_check_its_clock(
        counter: CounterContext, cashier: OperatorInfo, db_url: str) -> None:
    with pytest.raises(WiCounterError) as refused:
        client = open_workflow_centre(counter, cashier)
        try:
            client.centre.sign_in()
        finally:
            client.close()
    assert "请检查本机时钟" in str(refused.value)
    with counter.transaction() as session:
        assert session.scalars(select(Settlement)).first() is None
