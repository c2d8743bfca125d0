"""The command line's own words (argparse's usage, help and errors) in Chinese for the IT person
at a counter (issue 24 §6), through the real console entry point in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WI_COUNTER_HOME": str(home), "LANG": "C", "LC_ALL": "C"}
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True,
                          encoding="utf-8", env=env, timeout=60)


@pytest.mark.parametrize(("args", "chinese"), [
    (("--bogus",), "无法识别的参数"),
    (("check",), "缺少必需的参数"),
    (("check", "x.json", "--stage", "midway"), "无效的选择"),
    (("db", "upgrade", "--no-such"), "无法识别的参数"),
])
def test_argparse_errors_are_in_chinese(args: tuple[str, ...], chinese: str, tmp_path: Path) -> None:
    result = _run(*args, home=tmp_path)
    assert result.returncode == 2
    assert chinese in result.stderr
    assert "用法" in result.stderr and "错误" in result.stderr
    # English only beside the Chinese (the project's "中文 / English" style), never alone.
    assert "error:" not in result.stderr.replace("错误 / error:", "")


def test_help_headings_are_in_chinese(tmp_path: Path) -> None:
    result = _run("check", "--help", home=tmp_path)
    assert result.returncode == 0
    assert "用法" in result.stdout
    assert "显示本帮助并退出" in result.stdout
    assert "位置参数" in result.stdout and "选项" in result.stdout
    assert "show this help message and exit" not in result.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays are a Linux matter")
def test_gui_without_a_display_says_so_in_chinese(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update({"WI_COUNTER_HOME": str(tmp_path)})
    result = subprocess.run([sys.executable, "-m", "app", "--demo", "gui"], capture_output=True, text=True,
                            encoding="utf-8", env=env, timeout=120)
    assert result.returncode == 1  # not Qt's abort (134)
    assert "没有可用的图形显示" in result.stderr
    assert "qt.qpa" not in result.stderr and "Aborted" not in result.stderr


def test_an_unexpected_error_prints_an_incident_number_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22 §7: no traceback with personal data reaches the console; the log keeps it, masked."""
    import logging

    from app import cli
    from app.cli import cases
    from app.logging_setup import configure_logging

    def broken(args: object) -> int:
        raise RuntimeError("读到 440802198001011233 时出错")

    log_file = tmp_path / "logs" / "wi-counter.log"
    configure_logging(log_file)
    monkeypatch.setattr(cases, "_check", broken)
    try:
        assert cli.main(["check", "x.json", "--stage", "admission"]) == 1
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "baseFilename", None) == str(log_file):
                logging.getLogger().removeHandler(handler)
                handler.close()
    err = capsys.readouterr().err
    assert "编号" in err and "Traceback" not in err and "440802198001011233" not in err
    incident = err.split("编号")[1].split("）")[0].strip(" ：:")
    logged = log_file.read_text(encoding="utf-8")
    assert incident in logged and "Traceback" in logged and "RuntimeError" in logged
    assert "440802198001011233" not in logged
