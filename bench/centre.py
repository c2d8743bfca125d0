"""Benchmark of the centre client on loopback: `python bench/centre.py` from the repo root.

Starts the sandbox centre (a real HTTP service, in a subprocess, on a free port, with its own
data in a temporary folder) and a counter (SQLite in the same folder, the signing key in an
in-memory keyring), then prints, one line each:

    BENCH centre_person_lookup_median <ms> ms (goal < 20)
    BENCH centre_settlement_median <ms> ms (goal < 100)
    BENCH centre_upload_10000_lines <s> s (goal < 5)
    BENCH centre_upload_to_bare_http_ratio <x> x (goal < 1.5)

Every call goes the way the counter makes it: a msgid from the database sequence, signed,
through the outbox when it changes state (written before it is sent), logged in the call log.
The ratio compares the 10,000-line upload (100 lines a call, UPLOAD_PARALLEL calls in flight) with
bare HTTP posts of the same request bodies (same lines, signed, to a second stay) made in the same
run with as many posts in flight, so it shows what the client adds on top of the wire; both are
medians of ROUNDS alternating runs. Exits non-zero only when it could not measure.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import httpx  # noqa: E402
import keyring  # noqa: E402
from keyring.backend import KeyringBackend  # noqa: E402

KEY = "bench-key-not-a-demo-value"
ZHANG_WEI = "440802198503151236"
LOOKUPS = 200
SETTLEMENTS = 20
LINES = 10_000
ROUNDS = 7  # alternating runs; the median of 7 steadies the ratio on a shared machine


class _MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_sandbox(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    code = ("import sys; from pathlib import Path; from app.sandbox.supervisor import supervise; "
            f"sys.exit(supervise('127.0.0.1', {port}, Path({str(folder / 'sandbox')!r})))")
    log = (folder / "sandbox.log").open("wb")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                               env=dict(os.environ, WI_COUNTER_SANDBOX_KEY=KEY), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((folder / "sandbox.log").read_text(errors="replace"))
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the sandbox did not start")


def main() -> int:
    from app import logging_setup  # noqa: F401 - the program's logging levels
    from app.bootstrap import open_counter
    from app.centre import wire
    from app.centre.client import UPLOAD_PARALLEL
    from app.composition import open_counter_centre
    from app.centre.gateway import AdmissionCancelRequest, AdmissionRequest, FeeLine, PersonKey, SettlementRequest, StayDiagnosis
    from app.db.models import Institution
    from app.secret_store import CENTRE_KEY, set_secret
    from app.settings import CENTRE_URL

    keyring.set_keyring(_MemoryKeyring())
    set_secret(CENTRE_KEY, KEY)
    with tempfile.TemporaryDirectory(prefix="wi-bench-centre-") as temporary:
        folder = Path(temporary)
        sandbox, url = _start_sandbox(folder)
        try:
            ctx = open_counter(home=folder / "counter")
            ctx.settings.set(CENTRE_URL, url)
            with ctx.transaction() as session:
                session.add(Institution(code="H44080100001", name="湛江市第一人民医院", province="广东省",
                                        city="湛江市", city_code="440800", level="三级甲等"))
            client = open_counter_centre(ctx, ("bench", "基准测试"))
            today = wire.now().date()

            def admission(number: str) -> AdmissionRequest:
                return AdmissionRequest(ZHANG_WEI, "440800", "medical", number, "骨关节病区", today,
                                        (StayDiagnosis("S82.201", "胫骨干骨折", True),))

            def lines(count: int) -> list[FeeLine]:
                return [FeeLine(seq, "XB01AC06", "阿司匹林肠溶片", "drug", Decimal("30"), Decimal("0.50"),
                                Decimal("15.00"), today, "S82.201", True) for seq in range(1, count + 1)]

            client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ZHANG_WEI)  # warm up: sign in, connect
            lookup_ms = []
            for _ in range(LOOKUPS):
                started = time.perf_counter()
                client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ZHANG_WEI)
                lookup_ms.append((time.perf_counter() - started) * 1000)

            settle_ms = []
            for n in range(SETTLEMENTS):
                registration = client.register_admission(admission(f"BENCH-S{n}")).registration_no
                client.upload_fees(registration, lines(10), insured_region="440800")
                started = time.perf_counter()
                client.settle(SettlementRequest(registration, today))
                settle_ms.append((time.perf_counter() - started) * 1000)

            # 10,000 lines through the client (100 a call, each through the outbox and the call log),
            # and the same bodies as bare HTTP posts (same lines, signed, to another stay of the same
            # person), alternately, ROUNDS times: this machine is shared, so medians of alternating
            # runs compare like with like.
            stay_lines = lines(LINES)
            centre = client.centre
            upload_runs, bare_runs = [], []
            with httpx.Client(base_url=url, timeout=30) as bare:
                for round_no in range(ROUNDS):
                    registration = client.register_admission(admission(f"BENCH-UPLOAD-{round_no}")).registration_no
                    started = time.perf_counter()
                    receipts = client.upload_fees(registration, stay_lines, insured_region="440800")
                    upload_runs.append(time.perf_counter() - started)
                    if max(r.line_count for r in receipts) != LINES:
                        raise RuntimeError(f"the centre holds {receipts[-1].line_count} lines, not {LINES}")
                    # One open stay per person: close it before the next admission.
                    client.cancel_admission(AdmissionCancelRequest(registration, "基准测试"))

                    bare_registration = client.register_admission(admission(f"BENCH-BARE-{round_no}")).registration_no
                    sign_no = centre._current_sign_no()  # type: ignore[attr-defined]  # noqa: SLF001
                    bodies = []
                    for start in range(0, LINES, wire.MAX_FEE_LINES_PER_CALL):
                        chunk = stay_lines[start:start + wire.MAX_FEE_LINES_PER_CALL]
                        data = {"registration_no": bare_registration, "lines": [
                            {"seq": line.seq, "code": line.code, "name": line.name, "category": line.category,
                             "quantity": wire.decimal_text(line.quantity),
                             "unit_price": wire.decimal_text(line.unit_price), "amount": wire.money(line.amount),
                             "date": line.date.isoformat(), "diagnosis": line.diagnosis, "injury": line.injury,
                             "refund_of": line.refund_of} for line in chunk]}
                        request = wire.Request(wire.Transaction.FEE_UPLOAD, client.outbox.read_msgid(),
                                               centre.caller, wire.now(), sign_no, "440800", data)  # type: ignore[attr-defined]
                        bodies.append(request.to_bytes(KEY.encode()))
                    def post(body: bytes) -> None:
                        response = bare.post(wire.API_PATH, content=body,
                                             headers={"Content-Type": "application/json; charset=utf-8"})
                        if response.status_code != 200 or b'"infcode":"0"' not in response.content:
                            raise RuntimeError(f"bare post refused: {response.content[:300]!r}")

                    started = time.perf_counter()
                    with ThreadPoolExecutor(UPLOAD_PARALLEL) as pool:  # as many in flight as the client
                        list(pool.map(post, bodies))
                    bare_runs.append(time.perf_counter() - started)
                    client.cancel_admission(AdmissionCancelRequest(bare_registration, "基准测试"))
            upload_s, bare_s = statistics.median(upload_runs), statistics.median(bare_runs)
            client.close()
            ctx.close()
        finally:
            os.killpg(sandbox.pid, signal.SIGTERM)
            sandbox.wait(timeout=20)

    print(f"BENCH centre_person_lookup_median {statistics.median(lookup_ms):.2f} ms (goal < 20)")
    print(f"BENCH centre_settlement_median {statistics.median(settle_ms):.2f} ms (goal < 100)")
    print(f"BENCH centre_upload_10000_lines {upload_s:.2f} s (goal < 5)")
    print(f"BENCH centre_upload_to_bare_http_ratio {upload_s / bare_s:.2f} x (goal < 1.5)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # noqa: BLE001 - a benchmark that cannot measure says why and exits 1
        print(f"bench/centre.py could not measure: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
