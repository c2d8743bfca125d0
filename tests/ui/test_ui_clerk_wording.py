"""A clerk's words (issue 20 §8): no exception class, URL or raw error text in what the window shows."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from app.errors import ConfigurationError
from ui.operations import clerk_message

UI = Path(__file__).resolve().parents[2] / "ui"


def test_unexpected_error_reads_as_chinese_without_class_or_url() -> None:
    error = httpx.ConnectError("[Errno 111] Connection refused http://127.0.0.1:8765/api")
    text = clerk_message(error)
    assert "ConnectError" not in text and "http" not in text and "Errno" not in text
    assert "意外错误" in text


def test_program_error_keeps_its_own_message() -> None:
    assert clerk_message(ConfigurationError("设置文件格式错误")) == "设置文件格式错误"


def test_no_page_puts_a_raw_exception_on_screen() -> None:
    # str(error) / "{error}".format(error=error) straight into a widget is what showed
    # `ConnectError` and the centre's URL to the clerk; clerk_message() is the one way.
    raw = re.compile(r"str\((?:error|exc)\)|format\((?:[^)]*, )?error=(?:error|exc)\)|f\"[^\"]*\{(?:error|exc)\}")
    offenders = []
    for path in sorted(UI.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if raw.search(line) and "our own Chinese validation text" not in line and "RuntimeError(str(error))" not in line:
                offenders.append(f"{path.relative_to(UI.parent)}:{number}: {line.strip()}")
    assert not offenders, "raw exception text shown to the clerk:\n" + "\n".join(offenders)
