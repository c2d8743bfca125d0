"""`wi-counter doctor` (issue 24 §5): what a hospital's IT person runs on a new counter, through the
real command in its own process, against the real sandbox centre over HTTP."""

from __future__ import annotations

import datetime as dt
import email.utils
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pdfplumber
import pytest

from app import doctor
from app.doctor import Level
from tests.centre.client_fixtures import SandboxProcess, sandbox  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parents[1]


def _doctor(home: Path, *extra: str) -> tuple[int, list[dict[str, str]]]:
    env = {**os.environ, "WI_COUNTER_HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "app", "--demo", "doctor", "--json", *extra], cwd=REPO,
                            capture_output=True, text=True, encoding="utf-8", env=env, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def _set(home: Path, key: str, value: str) -> None:
    from app.paths import resolve_paths
    from app.settings import Settings, setting_by_key

    paths = resolve_paths(home, demo=True)
    paths.create()
    settings = Settings.load(paths.settings_file)
    settings.set(setting_by_key(key), value)
    settings.save()


def test_every_check_answers_with_a_level_and_what_to_do(tmp_path: Path, sandbox: SandboxProcess) -> None:  # noqa: F811
    home = tmp_path / "home"
    _set(home, "centre.url", sandbox.url)
    code, findings = _doctor(home)
    topics = [finding["topic"] for finding in findings]
    for topic in ("读卡器", "结算中心", "数据库", "密钥环", "审计密钥", "打印机", "测试页", "节假日安排", "磁盘空间",
                  "日志文件夹"):
        assert topic in topics
    by_topic = {finding["topic"]: finding for finding in findings}
    assert by_topic["结算中心"]["level"] == "ok", by_topic["结算中心"]
    assert "时钟相差" in by_topic["结算中心"]["found"]
    for finding in findings:
        assert finding["level"] in ("ok", "warning", "error")
        if finding["level"] != "ok":
            assert finding["todo"], finding  # never a problem without what to do
    assert code == (1 if any(f["level"] == "error" for f in findings) else 0)
    # The database file is not created by looking at it (the start-up check would question it).
    assert not (home / "demo" / "data" / "wi-counter.sqlite3").exists()
    assert by_topic["数据库"]["level"] == "warning"


def test_an_unreachable_centre_is_an_error_in_the_clerks_words(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _set(home, "centre.url", "http://127.0.0.1:9")  # discard port: nothing listens
    code, findings = _doctor(home)
    centre = next(f for f in findings if f["topic"] == "结算中心")
    assert code == 1 and centre["level"] == "error"
    assert "连接不上" in centre["found"] and "127.0.0.1" not in centre["found"]


@pytest.fixture
def skewed_centre() -> Iterator[str]:
    """An HTTP server whose clock is ten minutes behind ours."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response_only(404)  # no Date of the server's own: only ours
            self.send_header("Date", email.utils.format_datetime(
                dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10), usegmt=True))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_centre_clock_ten_minutes_off_is_an_error(skewed_centre: str) -> None:
    finding = doctor.check_centre(skewed_centre, True)
    assert finding.level is Level.ERROR
    assert "快" in finding.found and "校准" in finding.todo


def test_little_disk_space_is_an_error_and_some_a_warning(tmp_path: Path) -> None:
    assert doctor.check_disk(tmp_path, lambda _: 100 * 1024**2).level is Level.ERROR
    assert doctor.check_disk(tmp_path, lambda _: 1024**3).level is Level.WARNING
    assert doctor.check_disk(tmp_path, lambda _: 50 * 1024**3).level is Level.OK


def test_an_unwritable_folder_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert doctor.check_writable("日志文件夹", blocker / "logs").level is Level.ERROR
    assert doctor.check_writable("日志文件夹", tmp_path / "logs").level is Level.OK


def test_a_check_that_crashes_is_reported_and_the_others_still_run() -> None:
    def broken() -> doctor.Finding:
        raise RuntimeError("驱动崩溃")

    findings = doctor.run([("读卡器", broken), ("磁盘空间", lambda: doctor.Finding("磁盘空间", Level.OK, "够"))])
    assert [f.level for f in findings] == [Level.ERROR, Level.OK]
    assert "驱动崩溃" in findings[0].found


def test_the_test_page_is_a_pdf_with_the_chinese_text_embedded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _doctor(home)
    page = home / "demo" / "logs" / "打印测试页.pdf"
    content = page.read_bytes()
    assert b"/FontFile2" in content
    with pdfplumber.open(page) as pdf:
        text = pdf.pages[0].extract_text()
    assert "wi-counter 打印测试页" in text and "100 毫米" in text
    assert page.stat().st_mode & 0o077 == 0
