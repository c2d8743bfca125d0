"""Two counters of one hospital, each on its OWN SQLite file (the README's default), against one
real sandbox centre (issue 21, B1).

msgids used to be unique only within one database: two fresh counters signing in in the same
second issued the same msgids, the second got 1004, asked the centre (5101) about "its" msgid,
received the other counter's call and applied it — 刘洋's stay got 张伟's 就医登记号. Each
database now has its own identity, registered with the centre at sign-in (终端号), which is part
of every msgid: two databases can never issue the same msgid.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.db.models import Operator, OutboxEntry, Role, Stay
from tests.centre.client_fixtures import REPO, ZHANG_WEI, SandboxProcess, make_counter, sandbox  # noqa: F401
from tests.concurrency.counter_process import release, results_of
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD

LIU_YANG = "440802198805120638"
LIU_YANG_CARD = "K44080011"
LIU_YANG_INJURY = "T23.200"  # 手部二度烧伤 (his recognition, resources/sandbox/workers.toml)


def _own_database(tmp_path: Path, sandbox_url: str, number: int) -> str:
    """A counter's own SQLite file, migrated, with the institution and its clerk."""
    url = f"sqlite:///{tmp_path / f'counter-{number}.sqlite3'}"
    ctx = make_counter(tmp_path / f"setup-home-{number}", url, sandbox_url)
    with ctx.transaction() as session:
        session.add(Operator(login="cashier", display_name=f"收款员{number}", role=Role.CASHIER,
                             password_hash="not-a-real-hash"))
    ctx.close()
    return url


def _run(tmp_path: Path, centre_url: str, jobs: list[tuple[str, list[str]]]) -> list[list[dict[str, Any]]]:
    """One process per (database URL, action + args), released together at a file barrier."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    processes = [subprocess.Popen(
        [sys.executable, "-m", "tests.concurrency.counter_process", command[0], *command[1:],
         "--home", str(tmp_path / f"home-{number}"), "--db", db_url, "--centre", centre_url,
         "--name", f"{number + 1}号窗口", "--login", "cashier", "--barrier", str(barrier)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for number, (db_url, command) in enumerate(jobs)]
    try:
        release(barrier, len(processes), alive=lambda: all(p.poll() is None for p in processes))
        outputs = [process.communicate(timeout=180) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, f"counter process failed:\n{out}\n{err}"
    return [results_of(out) for out, _ in outputs]


def _centre_rows(sandbox: SandboxProcess, query: str) -> list[tuple[Any, ...]]:  # noqa: F811
    """The sandbox centre's own database, read-only: the truth of what the centre holds."""
    connection = sqlite3.connect(f"file:{sandbox.data / 'sandbox-centre.sqlite3'}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in connection.execute(query)]
    finally:
        connection.close()


def _stays_and_msgids(db_url: str) -> tuple[dict[str, str | None], set[str]]:
    from app.db.engine import make_engine, make_session_factory

    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            stays = {s.admission_no: s.registration_no for s in session.scalars(select(Stay))}
            msgids = set(session.scalars(select(OutboxEntry.msgid)))
    finally:
        engine.dispose()
    return stays, msgids


def _refused_as_duplicates(db_url: str) -> list[tuple[str, str]]:
    """(transaction code, msgid) of every call the centre refused with 1004 (msgid already used)."""
    from app.db.engine import make_engine, make_session_factory
    from app.db.models import CentreCallLog

    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            return [(str(code), str(msgid)) for code, msgid in session.execute(
                select(CentreCallLog.txn_code, CentreCallLog.msgid).where(CentreCallLog.error_code == "1004"))]
    finally:
        engine.dispose()


def test_two_counters_on_their_own_databases_admitting_at_once_each_get_their_own_registration(
        tmp_path: Path, sandbox: SandboxProcess) -> None:  # noqa: F811
    urls = [_own_database(tmp_path, sandbox.url, 1), _own_database(tmp_path, sandbox.url, 2)]
    zhang, liu = (found[0] for found in _run(tmp_path, sandbox.url, [
        (urls[0], ["admit", ZHANG_WEI_CARD, "ZY-OWN-1"]),
        (urls[1], ["admit", LIU_YANG_CARD, "ZY-OWN-2", LIU_YANG_INJURY]),
    ]))
    assert zhang["ok"] and liu["ok"], (zhang, liu)

    # The centre's truth: one open registration each, under the person each counter admitted.
    registrations = dict(_centre_rows(sandbox, "SELECT ssn, registration_no FROM registration WHERE status = 'open'"))
    assert set(registrations) == {ZHANG_WEI, LIU_YANG}
    assert zhang["registration_no"] == registrations[ZHANG_WEI]
    assert liu["registration_no"] == registrations[LIU_YANG]
    # Nothing was reversed or voided at the centre: neither counter undid the other's work.
    assert _centre_rows(sandbox, "SELECT msgid, infno, outcome FROM call WHERE outcome IN ('reversed', 'voided') "
                                 "OR infno = '2601'") == []

    # Each counter's books: its stay carries its own worker's 就医登记号.
    stays_1, msgids_1 = _stays_and_msgids(urls[0])
    stays_2, msgids_2 = _stays_and_msgids(urls[1])
    assert stays_1 == {"ZY-OWN-1": registrations[ZHANG_WEI]}
    assert stays_2 == {"ZY-OWN-2": registrations[LIU_YANG]}
    # Two databases, two identities: their msgids never meet (the 终端号 in each differs).
    assert msgids_1 and msgids_2 and not msgids_1 & msgids_2
    assert {m[26:28] for m in msgids_1}.isdisjoint({m[26:28] for m in msgids_2})
    # No msgid of a registered counter was ever refused as used. Only the very first sign-in of a
    # fresh counter (no 终端号 yet: "00") may meet another's; it is a read, asked again at once.
    for url in urls:
        assert all(code == "9001" and msgid[26:28] == "00" for code, msgid in _refused_as_duplicates(url))


def test_two_counters_on_their_own_databases_settling_at_once_never_touch_each_others_settlement(
        tmp_path: Path, sandbox: SandboxProcess) -> None:  # noqa: F811
    """Admit, add 20 lines, settle — both counters at once, each on its own file: two live settlements
    at the centre, each on its own worker's registration, both recorded locally, nothing reversed."""
    urls = [_own_database(tmp_path, sandbox.url, 1), _own_database(tmp_path, sandbox.url, 2)]
    first, second = (found[0] for found in _run(tmp_path, sandbox.url, [
        (urls[0], ["cycle", ZHANG_WEI_CARD, "S82.201", "ZY-OWN-A", "1"]),
        (urls[1], ["cycle", LIU_YANG_CARD, LIU_YANG_INJURY, "ZY-OWN-B", "1"]),
    ]))
    assert first["ok"] and second["ok"], (first, second)

    settled = dict(_centre_rows(sandbox, "SELECT r.ssn, s.registration_no FROM settlement s "
                                         "JOIN registration r USING (registration_no) WHERE s.status = 'live'"))
    assert set(settled) == {ZHANG_WEI, LIU_YANG}
    assert _centre_rows(sandbox, "SELECT msgid FROM call WHERE outcome IN ('reversed', 'voided') OR infno = '2601'") \
        == []
    for url, ssn, admission_no in ((urls[0], ZHANG_WEI, "ZY-OWN-A-1"), (urls[1], LIU_YANG, "ZY-OWN-B-1")):
        stays, _ = _stays_and_msgids(url)
        assert stays == {admission_no: settled[ssn]}
