"""The real sandbox centre in a subprocess on a free loopback port, and a counter that talks to it.

Used by the client's contract, fault and crash tests (import the fixtures into a test module).
The sandbox runs under its supervisor (`supervise`, what `wi-counter centre serve` runs), so the
`restart` fault really kills and restarts a process. One sandbox serves the test process's tests one
after another, its data reset before each (`sandbox`); it is stopped (its whole process group) at the
end of the session, and started anew when a test stopped it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bootstrap import CounterContext, open_counter
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import AdmissionRequest, FeeLine, StayDiagnosis
from app.composition import open_counter_centre
from app.db.models import Institution
from app.secret_store import CENTRE_KEY, set_secret
from app.settings import CENTRE_READ_TIMEOUT_SECONDS, CENTRE_URL

REPO = Path(__file__).resolve().parents[2]
SANDBOX_KEY = "contract-test-key-not-a-demo-value"
INSTITUTION = "H44080100001"

# Demo people of the sandbox's seed (resources/sandbox/workers.toml; the same people as resources/demo/cards/).
ZHANG_WEI = "440802198503151236"  # local profile, valid filing naming the demo hospital
LI_NA = "440106199007224565"  # guangdong-intra, valid referral filing


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SandboxProcess:
    url: str
    port: int
    data: Path
    process: subprocess.Popen[bytes]
    log: Path

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def arm(self, kind: str, infno: str | None = None, times: int = 1, **options: Any) -> None:
        self.admin("POST", "/admin/faults", {"kind": kind, "infno": infno, "times": times, **options})

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", f"/admin/summary?institution={INSTITUTION}")
        return result

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sandbox exited: {self.log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"sandbox not ready after {timeout}s: {self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_sandbox(data: Path, port: int | None = None) -> SandboxProcess:
    port = port or free_port()
    log = data.with_suffix(".log")
    data.parent.mkdir(parents=True, exist_ok=True)
    code = ("import sys; from pathlib import Path; from app.sandbox.supervisor import supervise; "
            f"sys.exit(supervise('127.0.0.1', {port}, Path({str(data)!r})))")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
            env=dict(os.environ, WI_COUNTER_SANDBOX_KEY=SANDBOX_KEY), start_new_session=True,
        )
    sandbox = SandboxProcess(f"http://127.0.0.1:{port}", port, data, process, log)
    try:
        sandbox.wait_ready()
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def _fresh_data(pooled: SandboxProcess) -> bool:
    """Reset the running sandbox to its seed (POST /admin/reset); False if it is not there to reset."""
    if pooled.process.poll() is not None:
        return False
    try:
        pooled.wait_ready(3)  # a `restart` fault may have it coming back
        pooled.admin("POST", "/admin/reset")
    except (httpx.HTTPError, RuntimeError):
        return False
    return True


@pytest.fixture
def sandbox(_sandbox_pool: dict[str, Any],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox centre with fresh seed data for one test. Starting one costs two interpreters and the web
    framework (about a second on a loaded CI machine, and some 280 tests use one), so the process is kept
    for the next test and its data reset (`POST /admin/reset`, which also ends calls still held by a
    fault). A test that stops or kills it gets a new one next time."""
    pooled = _sandbox_pool.get("sandbox")
    if pooled is None or not _fresh_data(pooled):
        if pooled is not None:
            pooled.stop()
        pooled = start_sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox-data")
        _sandbox_pool["sandbox"] = pooled
    yield pooled


def make_counter(home: Path, db_url: str, sandbox_url: str, read_timeout: int = 3) -> CounterContext:
    """A counter of the demo hospital whose signing key (in the keyring) the sandbox shares."""
    set_secret(CENTRE_KEY, SANDBOX_KEY)
    ctx = open_counter(home=home, db_url=db_url)
    ctx.settings.set(CENTRE_URL, sandbox_url)
    ctx.settings.set(CENTRE_READ_TIMEOUT_SECONDS, read_timeout)
    ctx.settings.save()  # a counter process started later on the same home sees the same centre
    with ctx.transaction() as session:
        if session.query(Institution).count() == 0:
            session.add(Institution(code=INSTITUTION, name="湛江市第一人民医院", province="广东省", city="湛江市",
                                    city_code="440800", level="三级甲等"))
    return ctx


@pytest.fixture
def counter(tmp_path: Path, db_url: str, sandbox: SandboxProcess) -> Iterator[CounterContext]:
    ctx = make_counter(tmp_path / "counter-home", db_url, sandbox.url)
    yield ctx
    ctx.close()


@pytest.fixture
def client(counter: CounterContext) -> Iterator[CentreClient]:
    centre_client = open_counter_centre(counter, ("cashier", "张收款"))
    yield centre_client
    centre_client.close()


# --- a stay ----------------------------------------------------------------------------


def centre_today() -> dt.date:
    """The centre's business date (Beijing time), not this machine's."""
    return wire.now().date()


def admission_of(ssn: str = ZHANG_WEI, admission_no: str = "ZY-TEST-1", care: str = "medical") -> AdmissionRequest:
    return AdmissionRequest(
        social_security_number=ssn, insured_region="440800", care=care, admission_no=admission_no, dept="骨关节病区",
        admitted=centre_today(),
        diagnoses=(StayDiagnosis("S82.201", "胫骨干骨折", True), StayDiagnosis("I10", "原发性高血压", False)),
    )


def fee_lines(count: int, first_seq: int = 1) -> list[FeeLine]:
    """`count` lines: drugs within their price limit, some for the injury, some not (伤病分离)."""
    today = centre_today()
    lines = []
    for seq in range(first_seq, first_seq + count):
        injury = seq % 5 != 0
        lines.append(FeeLine(
            seq=seq, code="XB01AC06", name="阿司匹林肠溶片", category="drug", quantity=Decimal("30"),
            unit_price=Decimal("0.50"), amount=Decimal("15.00"), date=today,
            diagnosis="S82.201" if injury else "I10", injury=injury,
        ))
    return lines
