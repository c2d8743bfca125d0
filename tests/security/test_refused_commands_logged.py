"""Issue 24 §6: a command refused on the command line (wrong password, missing role) is in the log,
at WARNING, with the command and the operator it was tried as (ID numbers masked)."""

from __future__ import annotations

from pathlib import Path

from app.bootstrap import open_counter
from app.demo import DEMO_PASSWORD
from tests.security.test_identity import run_cli


def _log(home: Path) -> str:
    return (home / "demo" / "logs" / "wi-counter.log").read_text(encoding="utf-8")


def test_refused_commands_are_logged_with_who_tried_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_counter(home=home, demo=True).close()

    wrong = run_cli(home, "claims", "build", "--month", "2026-11", "--operator", "reviewer", "--password-stdin",
                    stdin="guess-1234\n")
    assert wrong.returncode == 1
    role = run_cli(home, "settings", "set", "card.vendor_library", "/tmp/libevil.so", "--operator", "cashier",
                   "--password-stdin", stdin=DEMO_PASSWORD + "\n")
    assert role.returncode == 1
    someone = run_cli(home, "claims", "build", "--month", "2026-11", "--operator", "440802198503151236",
                      "--password-stdin", stdin="x\n")
    assert someone.returncode == 1

    lines = [line for line in _log(home).splitlines() if "拒绝执行命令" in line]
    assert len(lines) == 3, _log(home)
    assert all("WARNING" in line for line in lines)
    assert "claims build" in lines[0] and "reviewer" in lines[0] and "密码" in lines[0]
    assert "settings set" in lines[1] and "cashier" in lines[1] and "无权" in lines[1]
    assert "440802198503151236" not in _log(home)
    assert "claims build" in lines[2] and "4408" in lines[2]
    assert "guess-1234" not in _log(home) and DEMO_PASSWORD not in _log(home)
