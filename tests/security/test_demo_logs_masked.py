"""The demo path at TRACE logging leaves no whole ID number in any log file or list.

The demo counter is opened, last month is settled through the workflow against the sandbox centre
(`claims demo-month`: admission, charges, discharge, settlement), a case is checked and settled, a
demo card is read through the mock reader with the APDU trace on, and the stays are listed. Then every
log file under the counter's folder, and what the list printed, is searched for an 18-character ID.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.idnumber import id_number_problem
from app.paths import resolve_paths
from app.resources import resource_path
from app.secret_store import CENTRE_KEY, set_secret
from app.settings import CENTRE_READ_TIMEOUT_SECONDS, CENTRE_URL, LOG_LEVEL, Settings
from devices.card_protocol import read_identity
from devices.mock import MockBackend
from devices.virtual_card import CardPerson, VirtualCard
from tests.centre.client_fixtures import SANDBOX_KEY, SandboxProcess, start_sandbox

REPO = Path(__file__).resolve().parents[2]
WHOLE_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
MASKED_ID = re.compile(r"[0-9]{6}\*{8}[0-9]{3}[0-9Xx]")


def whole_ids(text: str) -> list[str]:
    """Every 18-character ID number in `text` (a valid check digit: not a msgid or an amount)."""
    return [match for match in WHOLE_ID.findall(text) if id_number_problem(match.upper()) is None]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path / "sandbox-data")
    yield process
    process.stop()


def test_the_demo_path_logs_no_whole_id_number(isolated_home: Path, sandbox: SandboxProcess,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    paths = resolve_paths(demo=True)
    settings = Settings.load(paths.settings_file)
    settings.set(LOG_LEVEL, "TRACE")  # below DEBUG: the wire and APDU traces too
    settings.set(CENTRE_URL, sandbox.url)
    settings.set(CENTRE_READ_TIMEOUT_SECONDS, 5)
    settings.save()
    set_secret(CENTRE_KEY, SANDBOX_KEY)

    assert main(["--demo", "claims", "demo-month"]) == 0
    case = REPO / "tests" / "cases" / "guangdong-sample-slip.json"
    assert main(["check", str(case), "--stage", "discharge"]) == 0
    assert main(["settle", str(case), "--json"]) == 0
    capsys.readouterr()
    assert main(["--demo", "stays"]) == 0
    listing = capsys.readouterr().out

    # A card read with the APDU trace on (the root logger still writes the demo counter's log).
    person = CardPerson.load(resource_path("demo", "cards", "zhang-wei.json"))
    backend = MockBackend()
    backend.insert(VirtualCard(person))
    with backend.connect() as transport:
        identity = read_identity(transport, source="mock")
    assert identity.social_security_number == person.social_security_number

    logs = sorted(path for path in isolated_home.rglob("*.log*") if path.is_file())
    assert logs, "no log file written"
    text = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in logs)
    # IDs did pass through the logs, masked: as text, and in the APDU trace's hex.
    assert "TRACE" in text and "** ** ** ** ** ** ** **" in text, "no ID went through the logs: nothing was checked"
    assert " ".join(f"{byte:02X}" for byte in person.social_security_number.encode()) not in text
    leaks = {str(path.relative_to(isolated_home)): whole_ids(path.read_text(encoding="utf-8", errors="replace"))
             for path in logs}
    assert {name: found for name, found in leaks.items() if found} == {}
    assert MASKED_ID.search(listing), listing
    assert whole_ids(listing) == []
