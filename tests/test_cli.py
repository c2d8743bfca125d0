from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, WI_COUNTER_HOME=str(env_home))
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_help_lists_the_subcommands_in_chinese_and_english(isolated_home: Path) -> None:
    result = _run("--help", env_home=isolated_home)
    assert result.returncode == 0
    for name, chinese, english in [
        ("gui", "打开收费窗口", "open the counter window"),
        ("check", "核验备案", "filing verdict"),
        ("settle", "计算结算", "compute the settlement"),
        ("db", "数据库维护", "database maintenance"),
        ("settings", "查看和修改设置", "list and change settings"),
        ("operator", "操作员", "operators"),
    ]:
        lines = result.stdout.splitlines()
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(name + " "))
        line = lines[at] if chinese in lines[at] else lines[at] + lines[at + 1]  # `operator (operators)` wraps
        assert chinese in line and english in line


def test_the_command_line_does_not_load_qt(isolated_home: Path) -> None:
    """Non-GUI commands must not pay for Qt (nor need a display)."""
    code = (
        "import sys; from app.cli import main; main(['settings', 'list']); "
        "print('QT', any(m.startswith('PySide6') for m in sys.modules))"
    )
    import os

    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env=dict(os.environ, WI_COUNTER_HOME=str(isolated_home)), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "QT False" in result.stdout


def test_db_upgrade_then_current(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.db.migrate import head_revision

    head = head_revision()  # the newest migration, whichever issue added it
    assert main(["db", "upgrade"]) == 0
    assert f"→ {head}" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert f"{head}（最新 / head {head}）" in capsys.readouterr().out
    assert (isolated_home / "data" / "wi-counter.sqlite3").exists()


def test_db_upgrade_of_a_new_demo_folder_migrates_then_seeds(isolated_home: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from app.bootstrap import open_counter
    from app.db.migrate import head_revision
    from app.db.models import Institution

    head = head_revision()
    # The demo data needs the tables: `db upgrade` on an empty demo database migrates first.
    assert main(["--demo", "db", "upgrade"]) == 0
    assert f"空库 empty → {head}" in capsys.readouterr().out
    context = open_counter(home=isolated_home, demo=True)
    try:
        with context.transaction() as session:
            assert session.query(Institution).count() == 1
    finally:
        context.close()


def test_db_downgrade_to_base(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "downgrade", "base"]) == 0
    assert main(["db", "current"]) == 0
    assert "base" in capsys.readouterr().out


def test_settings_set_and_list(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "set", "counter.name", "5号窗口"]) == 0
    assert main(["settings", "list"]) == 0
    assert "counter.name = '5号窗口'" in capsys.readouterr().out


def test_a_bad_setting_fails_with_a_chinese_message(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "set", "logging.keep_files", "many"]) == 1
    assert "应为整数" in capsys.readouterr().err
    assert main(["settings", "set", "no.such", "1"]) == 1
    assert "没有名为 no.such 的设置项" in capsys.readouterr().err


def test_demo_mode_uses_its_own_folder_with_demo_operators(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operator", "list", "--demo"]) == 0
    out = capsys.readouterr().out
    assert "cashier\t张收款\t收款员" in out
    assert (isolated_home / "demo" / "data" / "wi-counter.sqlite3").exists()
    assert not (isolated_home / "data").exists()


def test_an_unreachable_database_is_reported_in_chinese(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    assert main(["operator", "list", "--db", url]) == 1
    assert "无法连接数据库" in capsys.readouterr().err


def test_python_dash_m_app_is_the_same_command(isolated_home: Path) -> None:
    result = _run("--version", env_home=isolated_home)
    assert result.returncode == 0 and result.stdout.startswith("wi-counter ")
