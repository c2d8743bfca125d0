"""`wi-counter card …` over the mock reader (the pcscd path is in test_pcsc_vpcd.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import devices.backends
from app.cli import main
from devices.backends import BackendChoice
from devices.mock import MockBackend
from devices.monitor import read_card
from devices.virtual_card import Fault, VirtualCard
from tests.devices.people import CHEN_MIN, ZHANG_WEI


def _use(monkeypatch: pytest.MonkeyPatch, backend: MockBackend) -> None:
    monkeypatch.setattr(
        devices.backends, "backend_from_settings", lambda settings: BackendChoice(lambda: backend, read_card, None, "mock")
    )


def test_read_without_a_reader_fails_with_the_message(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _use(monkeypatch, MockBackend({}))
    assert main(["card", "read"]) == 1
    assert "未检测到读卡器" in capsys.readouterr().err
    assert main(["card", "readers"]) == 1


def test_read_a_faulty_card_fails_with_the_message(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    backend = MockBackend()
    backend.insert(VirtualCard(ZHANG_WEI.with_faults(Fault.TRUNCATED)))
    _use(monkeypatch, backend)
    assert main(["card", "read", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "卡片数据格式错误（字段：社会保障号码" in captured.err


def test_read_an_expired_card_succeeds_with_a_warning(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    backend = MockBackend()
    backend.insert(VirtualCard(CHEN_MIN))
    _use(monkeypatch, backend)
    assert main(["card", "read", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["expiry_date"] == "2025-06-30"
    assert "卡已过有效期" in captured.err


def test_read_as_text(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    backend = MockBackend()
    backend.insert(VirtualCard(ZHANG_WEI))
    _use(monkeypatch, backend)
    assert main(["card", "read"]) == 0
    out = capsys.readouterr().out
    assert "姓名：张伟" in out and "民族：汉族（01）" in out and "卡代：3" in out


def test_simulate_refuses_a_bad_person_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    person = tmp_path / "person.json"
    person.write_text('{"name": "张伟"}', encoding="utf-8")
    assert main(["card", "simulate", str(person)]) == 1
    assert "卡片数据格式错误" in capsys.readouterr().err


def test_demo_card_files_load_and_read() -> None:
    from devices.card_protocol import read_identity
    from devices.mock import MockTransport
    from devices.virtual_card import CardPerson

    folder = Path(__file__).resolve().parents[2] / "resources" / "demo" / "cards"
    names = {}
    for path in sorted(folder.glob("*.json")):
        with MockTransport(VirtualCard(CardPerson.load(path))) as transport:
            names[path.stem] = read_identity(transport).name
    assert names == {"chen-min": "陈敏", "li-na": "李娜", "wang-xiulan": "王秀兰", "zhang-wei": "张伟"}


def test_card_commands_do_not_load_qt(tmp_path: Path) -> None:
    code = (
        "import sys; from app.cli import main; main(['card', 'readers']);"
        "print('QT', any(m.startswith('PySide6') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parents[2], env={"WI_COUNTER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert "QT False" in result.stdout, result.stdout + result.stderr
