"""Two counters building the same month's claim at the same moment, as two processes on one
PostgreSQL database: one batch, one batch number, every settlement in it once (`000 §31`)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db.models import ClaimEntry, MonthlyClaim, Settlement
from tests.claims.claim_fixtures import clerks, open_test_counter, settle_stay

TODAY = dt.date(2026, 12, 3)


def _build_at_the_same_moment(db_url: str, home: str, barrier: multiprocessing.synchronize.Barrier,
                              results: multiprocessing.queues.Queue) -> None:
    os.environ["WI_COUNTER_HOME"] = home
    import keyring

    from tests.conftest import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    from app.claims.service import build_claim

    ctx = open_test_counter(db_url)
    try:
        reviewer = clerks(ctx).reviewer
        barrier.wait(timeout=30)
        result = build_claim(ctx, "2026-11", reviewer, today=TODAY)
        results.put((result.claim.batch_no, result.claim.claim_id, result.claim.total, result.created))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        results.put(("error", repr(exc), None, None))
    finally:
        ctx.close()


@pytest.mark.postgres
def test_two_counters_building_at_once_make_one_claim(postgres_url: str, tmp_path: Path) -> None:
    ctx = open_test_counter(postgres_url)
    try:
        cashier = clerks(ctx).cashier
        with ctx.transaction() as session:
            for day in range(1, 25):
                settle_stay(session, cashier.id, settled=dt.date(2026, 11, day))
    finally:
        ctx.close()
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    results = spawn.Queue()
    counters = [spawn.Process(target=_build_at_the_same_moment,
                              args=(postgres_url, str(tmp_path / f"counter-{n}"), barrier, results))
                for n in range(2)]
    for process in counters:
        process.start()
    outcomes = [results.get(timeout=120) for _ in counters]
    for process in counters:
        process.join(timeout=30)
    assert all(outcome[0] != "error" for outcome in outcomes), outcomes
    assert len({outcome[0] for outcome in outcomes}) == 1  # the same batch number
    assert len({outcome[1] for outcome in outcomes}) == 1  # the same claim
    assert sorted(outcome[3] for outcome in outcomes) == [False, True]  # one built it, one found it

    ctx = open_test_counter(postgres_url)
    try:
        with ctx.transaction() as session:
            assert session.scalar(select(func.count(MonthlyClaim.id))) == 1
            entries = session.scalars(select(ClaimEntry.settlement_id)).all()
            assert len(entries) == len(set(entries)) == 24
            assert session.scalar(select(func.sum(Settlement.total))) == outcomes[0][2]
    finally:
        ctx.close()
