"""The database is checked before use (issue 21 B2): a missing-but-expected, empty, foreign or
corrupted SQLite file is refused at start — by the real command line and by `open_counter`, the
function the window starts with — with a Chinese message naming the newest good backup; the file
is left exactly as it was and never replaced by a new empty database. A brand-new site still starts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from app.bootstrap import open_counter
from app.cli import main
from app.db.models import Care, Stay, StayStatus, Worker
from app.errors import ConfigurationError
from tests import factories

REPO = Path(__file__).resolve().parent.parent
STAYS = 6


def _database(home: Path) -> Path:
    return home / "data" / "wi-counter.sqlite3"


def _populate(home: Path) -> None:
    """A counter with six stays, its file checkpointed and vacuumed (no free page: any page is in use)."""
    context = open_counter(home=home)
    try:
        with context.transaction() as session:
            hospital = factories.institution(session)
            clerk = factories.operator(session)
            for number in range(STAYS):
                worker = Worker(social_security_number=f"44080219850315{number:03d}X", name=f"工人{number}",
                                sex="男", insured_province="广东省", insured_city="湛江市", insured_city_code="440800")
                session.add(worker)
                session.flush()
                session.add(Stay(worker_id=worker.id, institution_id=hospital.id, profile="local", care=Care.MEDICAL,
                                 admission_no=f"AD-{number:04d}", dept="骨科", admitted_on=dt.date(2026, 11, 1 + number),
                                 status=StayStatus.ADMITTED, created_by=clerk.id))
    finally:
        context.close()
    connection = sqlite3.connect(_database(home))
    try:
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert connection.execute("PRAGMA freelist_count").fetchone()[0] == 0
    finally:
        connection.close()


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WI_COUNTER_HOME=str(home), PYTHONPATH=str(REPO))
    env.pop("WI_COUNTER_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garbage_in_the_middle(path: Path) -> None:
    size = path.stat().st_size
    page = 4096
    offset = (size // 2) // page * page
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(random.Random(21).randbytes(page))


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _text(path: Path) -> None:
    path.write_text("住院号,姓名\nAD-0001,工人0\n" * 200, encoding="utf-8")


def _vanished(path: Path) -> None:
    path.unlink()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "empty": _empty, "garbage": _garbage_in_the_middle, "truncated": _truncated, "text": _text, "vanished": _vanished,
}


@pytest.fixture
def populated(isolated_home: Path) -> Path:
    _populate(isolated_home)
    listed = _run(isolated_home, "stays", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == STAYS
    return isolated_home


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_database_is_refused_at_start_naming_the_newest_backup(
        populated: Path, damage: str) -> None:
    assert main(["db", "backup"]) == 0
    backup = max((populated / "backups").glob("wi-counter-*.sqlite3"))
    database = _database(populated)
    DAMAGES[damage](database)
    before = _digest(database)

    for command in (["stays"], ["audit", "verify"], ["operator", "list"]):
        result = _run(populated, *command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert str(backup) in result.stderr, result.stderr
        assert "恢复" in result.stderr and "Traceback" not in result.stderr
        assert "数据库升级失败" not in result.stderr
        assert _digest(database) == before  # untouched: not re-created, not migrated, not "repaired"

    # The window starts through open_counter: the same refusal, for the same reason.
    with pytest.raises(ConfigurationError) as refused:
        open_counter(home=populated)
    assert str(backup) in refused.value.message
    assert _digest(database) == before


def test_without_a_backup_the_message_says_so_and_what_to_do(populated: Path) -> None:
    for stale in (populated / "backups").glob("*"):
        stale.unlink()
    _empty(_database(populated))
    result = _run(populated, "stays")
    assert result.returncode == 1
    assert "没有可用的备份" in result.stderr and "信息科" in result.stderr
    assert _database(populated).stat().st_size == 0


def test_a_foreign_sqlite_file_is_refused(isolated_home: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "other.sqlite3"
    connection = sqlite3.connect(foreign)
    connection.execute("CREATE TABLE patients (name TEXT)")
    connection.commit()
    connection.close()
    before = _digest(foreign)
    result = _run(isolated_home, "--db", f"sqlite:///{foreign}", "stays")
    assert result.returncode == 1
    assert "不是本程序的数据库" in result.stderr
    assert _digest(foreign) == before


def test_a_brand_new_site_creates_its_database_and_then_expects_it(isolated_home: Path) -> None:
    first = _run(isolated_home, "stays")
    assert first.returncode == 0, first.stderr
    assert _database(isolated_home).stat().st_size > 0
    assert _run(isolated_home, "stays").returncode == 0
    _database(isolated_home).unlink()
    gone = _run(isolated_home, "stays")
    assert gone.returncode == 1 and "找不到" in gone.stderr
    assert not _database(isolated_home).exists()  # not silently re-created


def test_a_refused_database_can_be_restored_and_the_counter_starts_again(populated: Path) -> None:
    assert main(["db", "backup"]) == 0
    backup = max((populated / "backups").glob("wi-counter-*.sqlite3"))
    _garbage_in_the_middle(_database(populated))
    assert _run(populated, "stays").returncode == 1
    restored = _run(populated, "db", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    listed = _run(populated, "stays", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == STAYS
    # The damaged file is kept aside for IT, not thrown away.
    assert list((populated / "backups").glob("wi-counter-*-damaged*"))
