"""Several counters on one PostgreSQL database (issue 9, item 2): settlements per second with 1, 2
and 4 counter processes, and the duplicates they made (must be none).

    python bench/concurrency.py [--db SERVER_URL] [--rounds N]

The PostgreSQL server: --db, else WI_COUNTER_TEST_PG_URL, else the throwaway test server that
`scripts/pg-test-server.sh start` starts (PostgreSQL must be installed: `.ci/run` and setup.sh do
so). For each count of counters the bench makes a fresh database on that server and a fresh
sandbox centre (a real HTTP service, in a subprocess), then starts that many counter processes
(`tests/concurrency/counter_process.py`, each with its own home, clerk and 工伤职工) behind a file
barrier. Each process, N rounds: admits its worker (入院登记 at the centre), records 20 charge
lines and settles the stay (出院结算). The rate is the settlements that succeeded divided by the
time from the barrier's release to the last settlement.

Then a race: the four counters all settle the same four stays (one per worker, admitted
beforehand); each stay must be settled once and the other counters told so.

Duplicates counted, across every run: stays with more than one live settlement here; settlements
live at the centre beyond its settled registrations; the difference between this side's and the
centre's count of settlements; race stays settled more (or less) than once.

Output (one figure per line):
    BENCH concurrency_settlements_per_s_1 6.1 /s (information)
    BENCH concurrency_settlements_per_s_2 9.8 /s (information)
    BENCH concurrency_settlements_per_s_4 11.0 /s (information)
    BENCH concurrency_duplicates 0 count (goal < 1)
Exit status 0 when measured, 1 when it could not measure (no PostgreSQL, a counter failed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Local workers of the sandbox (resources/sandbox/workers.toml) who need no filing: card, injury.
WORKERS = (("A44080001", "S82.201"), ("K44080011", "T23.200"), ("K44080031", "S06.000"), ("K44080032", "T67.000"))
COUNTS = (1, 2, 4)
RACE_STAYS = len(WORKERS)  # one open stay per worker at a time (the centre refuses a second)
TIMEOUT_S = 600


def _server_url(given: str | None) -> str | None:
    if given or os.environ.get("WI_COUNTER_TEST_PG_URL"):
        return given or os.environ["WI_COUNTER_TEST_PG_URL"]
    started = subprocess.run(["bash", str(REPO / "scripts" / "pg-test-server.sh"), "start"],
                             capture_output=True, text=True)
    if started.returncode != 0:
        print(started.stderr, file=sys.stderr)
        return None
    return started.stdout.strip().splitlines()[-1]


@contextmanager
def _fresh_database(server: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"wi_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _logins(count: int) -> list[str]:
    return [f"cashier{n}" for n in range(1, count + 1)]


def _prepare(folder: Path, db_url: str, sandbox_url: str) -> Any:
    from sqlalchemy import select

    from app.db.models import HisCodeMap, Operator, Role
    from app.workflow.catalogue import seed_demo_catalogue
    from tests.centre.client_fixtures import make_counter

    ctx = make_counter(folder / f"setup-home-{uuid.uuid4().hex[:6]}", db_url, sandbox_url)
    with ctx.transaction() as session:
        for login in _logins(len(WORKERS)) + ["cashier0"]:
            session.add(Operator(login=login, display_name=f"收款员{login[-1]}", role=Role.CASHIER,
                                 password_hash="not-a-real-hash"))
        session.flush()
        # The hospital's code map is kept before the day starts: the counters' lines (add_lines)
        # include an item it marks as outside the catalogue.
        session.add(HisCodeMap(his_code="HIS-ZF-001", his_name="进口敷料", catalogue_code=None,
                               note="目录外，已告知", updated_by=session.scalars(select(Operator.id)).first()))
        # And the local catalogue, as a synced counter has it (add_lines would seed it, racing between
        # counters): the pre-audit at discharge tells catalogue lines from those outside by it.
        seed_demo_catalogue(session)
    return ctx


def _run(folder: Path, db_url: str, sandbox_url: str, jobs: list[tuple[str, list[str]]]) -> tuple[float, list[Any]]:
    """One process per (login, action + args), released together: the release time and each one's results."""
    from tests.concurrency.counter_process import release, results_of

    barrier = folder / f"barrier-{uuid.uuid4().hex[:6]}"
    barrier.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    processes = [subprocess.Popen(
        [sys.executable, "-m", "tests.concurrency.counter_process", command[0], *command[1:],
         "--home", str(barrier / f"home-{login}"), "--db", db_url, "--centre", sandbox_url,
         "--name", f"{login[-1]}号窗口", "--login", login, "--barrier", str(barrier)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for login, command in jobs]
    try:
        release(barrier, len(processes), alive=lambda: all(p.poll() is None for p in processes))
        released = time.time()
        outputs = [process.communicate(timeout=TIMEOUT_S) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    for process, (out, err) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"a counter process failed:\n{out[-2000:]}\n{err[-4000:]}")
    return released, [results_of(out) for out, _ in outputs]


def _duplicates(ctx: Any, sandbox: Any) -> int:
    """Settlements made twice, here or at the centre, or made on one side only."""
    from sqlalchemy import func, select

    from app.db.models import Settlement, SettlementKind

    with ctx.transaction() as session:
        per_stay = session.execute(select(Settlement.stay_id, func.count(Settlement.id))
                                   .where(Settlement.kind == SettlementKind.SETTLEMENT)
                                   .group_by(Settlement.stay_id)).all()
    here_twice = sum(count - 1 for _, count in per_stay if count > 1)
    here = sum(count for _, count in per_stay)
    summary = sandbox.summary()
    centre = summary["settlements"]["live"]
    centre_twice = max(0, centre - summary["registrations"]["settled"])
    return here_twice + centre_twice + abs(here - centre)


def _throughput(folder: Path, server: str, count: int, rounds: int) -> tuple[float, int, list[str]]:
    from tests.centre.client_fixtures import start_sandbox

    with _fresh_database(server) as db_url:
        sandbox = start_sandbox(folder / f"sandbox-{count}")
        try:
            ctx = _prepare(folder, db_url, sandbox.url)
            try:
                jobs = [(login, ["cycle", card, injury, f"ZY-B{count}-{login}", str(rounds)])
                        for login, (card, injury) in zip(_logins(count), WORKERS, strict=False)]
                released, results = _run(folder, db_url, sandbox.url, jobs)
                outcomes = [o for found in results for o in found]
                settled = [o for o in outcomes if o["ok"]]
                failures = [o["message"] for o in outcomes if not o["ok"]]
                elapsed = max(o["ended"] for o in outcomes) - released
                return len(settled) / elapsed, _duplicates(ctx, sandbox), failures
            finally:
                ctx.close()
        finally:
            sandbox.stop()


def _race(folder: Path, server: str) -> tuple[int, int]:
    """Four counters settle the same stays at once: (duplicates, stays not settled exactly once)."""
    from app.composition import open_workflow_centre
    from tests.centre.client_fixtures import start_sandbox
    from tests.concurrency.test_two_counters import _clerk
    from tests.workflow.stay_fixtures import add_lines, admit_worker, form

    with _fresh_database(server) as db_url:
        sandbox = start_sandbox(folder / "sandbox-race")
        try:
            ctx = _prepare(folder, db_url, sandbox.url)
            try:
                clerk = _clerk(ctx, "cashier0")
                client = open_workflow_centre(ctx, clerk)
                stays = []
                try:
                    for number, (card, injury) in zip(range(RACE_STAYS), WORKERS, strict=True):
                        _, admitted = admit_worker(ctx, client, clerk, card, form(
                            f"ZY-RACE-{number}", diagnoses=((injury, "工伤"), ("I10", "原发性高血压"))))
                        assert admitted.stay_id is not None, admitted
                        add_lines(ctx, admitted.stay_id, clerk, 20, injury_code=injury)
                        stays.append(admitted.stay_id)
                finally:
                    client.close()
                _, results = _run(folder, db_url, sandbox.url,
                                  [(login, ["settle", *map(str, stays)]) for login in _logins(len(WORKERS))])
                wins = {stay: sum(1 for found in results for o in found if o["stay"] == stay and o["ok"])
                        for stay in stays}
                return _duplicates(ctx, sandbox), sum(1 for won in wins.values() if won != 1)
            finally:
                ctx.close()
        finally:
            sandbox.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="PostgreSQL server URL (a database is created on it and dropped)")
    parser.add_argument("--rounds", type=int, default=8, help="admissions and settlements per counter process")
    options = parser.parse_args()

    import keyring

    from tests.conftest import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    server = _server_url(options.db)
    if server is None:
        print("bench/concurrency: 没有可用的 PostgreSQL 服务器（--db、WI_COUNTER_TEST_PG_URL 或 "
              "scripts/pg-test-server.sh）", file=sys.stderr)
        return 1
    duplicates = 0
    try:
        with tempfile.TemporaryDirectory(prefix="wi-bench-concurrency-") as temporary:
            folder = Path(temporary)
            for count in COUNTS:
                rate, found, failures = _throughput(folder, server, count, options.rounds)
                duplicates += found
                for message in sorted(set(failures)):
                    print(f"# {count} counters: a settlement failed: {message}", file=sys.stderr)
                print(f"BENCH concurrency_settlements_per_s_{count} {rate:.1f} /s (information)", flush=True)
            found, not_once = _race(folder, server)
            duplicates += found + not_once
    except Exception as exc:  # noqa: BLE001 - a bench reports that it could not measure
        print(f"bench/concurrency: could not measure: {exc}", file=sys.stderr)
        return 1
    print(f"BENCH concurrency_duplicates {duplicates} count (goal < 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
