"""Fixtures for the card tests: pcscd with vsmartcard's vpcd reader, and virtual cards in it.

The pcscd tests start `pcscd` when it is not running (it needs root, as in CI). They skip
only when pcscd or the vpcd driver is genuinely absent AND `WI_COUNTER_REQUIRE_PCSC` is
unset; scripts/test.sh and .ci/run set it, so there a missing stack fails instead.
Every wait has a timeout: a virtual card that goes away never hangs a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.card_identity import CardError
from devices.pcsc import PcscBackend
from devices.transport import ReaderState
from devices.virtual_card import VPCD_PORT, CardPerson, VirtualCard, VpcdCardClient

REQUIRE_PCSC_ENV = "WI_COUNTER_REQUIRE_PCSC"
VPCD_READER = "Virtual PCD 00 00"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")


def _missing() -> str | None:
    if shutil.which("pcscd") is None and not Path("/usr/sbin/pcscd").exists():
        return "pcscd is not installed"
    if not VPCD_DRIVER.exists():
        return "vsmartcard-vpcd is not installed"
    return None


def _service_up() -> bool:
    try:
        backend = PcscBackend()
    except Exception:
        return False
    try:
        return VPCD_READER in backend.list_readers()
    except Exception:
        return False
    finally:
        backend.close()


def pcscd_running() -> bool:
    """A pcscd process exists (starting, serving or still shutting down)."""
    return subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True).returncode == 0


def ensure_pcscd(timeout: float = 15.0) -> None:
    """Start pcscd (exits by itself after 60 s without clients) unless it already runs.

    A pcscd still shutting down (after a stop, or its own --auto-exit) holds its pid file, and a new
    one started then exits 1 ("another pcscd seems to be running"): so it is started again for as long
    as no pcscd process is there and the service is not up."""
    if _service_up():
        return
    pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
    deadline = time.monotonic() + timeout
    result: subprocess.CompletedProcess[str] | None = None
    while time.monotonic() < deadline:
        if _service_up():
            return
        if not pcscd_running():
            result = subprocess.run([pcscd, "--auto-exit"], capture_output=True, text=True, timeout=timeout)
        time.sleep(0.1)
    said = f"exit {result.returncode}: {result.stderr.strip()}" if result is not None else "a pcscd never went away"
    raise RuntimeError(f"pcscd did not come up with the vpcd reader ({said})")


@pytest.fixture
def pcscd() -> str:
    """A running pcscd with the vpcd reader; returns the reader's name."""
    missing = _missing()
    if missing is not None:
        if os.environ.get(REQUIRE_PCSC_ENV):
            pytest.fail(f"{missing}, and {REQUIRE_PCSC_ENV} is set")
        pytest.skip(missing)
    ensure_pcscd()
    return VPCD_READER


def wait_for_card(backend: PcscBackend, reader: str, present: bool, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    states: list[ReaderState] = []
    while time.monotonic() < deadline:
        states = backend.wait_for_change(states, 0.2)
        if any(state.name == reader and state.card_present == present for state in states):
            return
    raise TimeoutError(f"card {'inserted' if present else 'removed'} not seen within {timeout} s")


InsertCard = Callable[[CardPerson], VpcdCardClient]


def fixture_backend(attempts: int = 3) -> PcscBackend:
    """The fixture's own PC/SC context, made again if pcscd refuses one at that instant.

    Seen once in a full CI run: pcscd up a moment before, then SCardEstablishContext answered
    "Access denied." at the fixture's set-up. That is the test machine's pcscd (started with
    --auto-exit), not the code under test, so the set-up tries again; the tests' own calls do not.
    """
    for attempt in range(1, attempts + 1):
        try:
            return PcscBackend()
        except CardError:
            if attempt == attempts:
                raise
            time.sleep(0.5)
            ensure_pcscd()
    raise AssertionError("unreachable")


@pytest.fixture
def vpcd_card(pcscd: str) -> Iterator[InsertCard]:
    """Insert a virtual card into the vpcd reader (and wait until pcscd sees it).

    At teardown the card is removed and the test waits until pcscd sees the reader empty,
    so the next test starts from an empty reader.
    """
    clients: list[VpcdCardClient] = []
    backend = fixture_backend()
    wait_for_card(backend, pcscd, present=False)

    def insert(person: CardPerson) -> VpcdCardClient:
        client = VpcdCardClient(VirtualCard(person), port=VPCD_PORT)
        client.insert()
        clients.append(client)
        wait_for_card(backend, pcscd, present=True)
        return client

    try:
        yield insert
    finally:
        for client in clients:
            client.remove()
        try:
            wait_for_card(backend, pcscd, present=False)
        finally:
            backend.close()


@contextmanager
def inserted(person: CardPerson) -> Iterator[VpcdCardClient]:
    client = VpcdCardClient(VirtualCard(person), port=VPCD_PORT)
    client.insert()
    try:
        yield client
    finally:
        client.remove()
