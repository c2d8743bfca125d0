"""The sandbox centre as a real process on loopback: `wi-counter centre serve`, HTTP, replay and
tamper refusals on the wire, every fault of the fault injection, restart, the loopback-only rule."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.centre import wire
from app.centre.wire import ErrorCode, Transaction as T
from tests.centre.sandbox_process import REPO, RawClient, SandboxProcess

ZHANG_WEI = "440802198503151236"
# local workers, one per test that opens a stay, so that one failing test leaves the others a free person
LIU_YANG, SONG_TAO, TANG_LIANG = "440802198805120638", "440881196502170618", "440803199704050651"
DENG_HUI, LUO_JING = "440805199206150660", "440802197605250548"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path_factory.mktemp("sandbox")).start()
    yield process
    process.stop()


@pytest.fixture
def client(sandbox: SandboxProcess) -> Iterator[RawClient]:
    sandbox.admin("DELETE", "/admin/faults")
    raw = RawClient(sandbox.url)
    raw.sign_in()
    yield raw
    sandbox.admin("DELETE", "/admin/faults")


def _today(offset: int = 0) -> str:
    return (wire.now().date() + dt.timedelta(days=offset)).isoformat()


def _open_stay(client: RawClient, ssn: str = ZHANG_WEI) -> str:
    registration = client.ok(T.ADMISSION, {"social_security_number": ssn, "care": "medical", "admitted": _today(-2),
                                           "diagnoses": [{"code": "S82.201", "name": "胫骨干骨折", "injury": True}]})
    number = str(registration["registration_no"])
    client.ok(T.FEE_UPLOAD, {"registration_no": number, "lines": [
        {"seq": 1, "code": "XB01AC06", "name": "阿司匹林肠溶片", "category": "drug", "quantity": "10",
         "unit_price": "0.50", "amount": "5.00", "date": _today(-1), "diagnosis": None, "injury": True,
         "refund_of": None}]})
    return number


def _close_stay(client: RawClient, registration: str) -> None:
    """Leave the person free for the next test (module-scoped sandbox)."""
    reply = client.call(T.PRE_SETTLEMENT, {"registration_no": registration, "discharged": _today()})
    if reply.ok:
        client.call(T.ADMISSION_CANCEL, {"registration_no": registration})


def test_health_and_a_signed_lookup_over_http(sandbox: SandboxProcess, client: RawClient) -> None:
    health = sandbox.wait_ready()
    assert health["status"] == "ok" and health["version"] == wire.PROTOCOL_VERSION
    person = client.ok(T.PERSON_LOOKUP, {"by": "card", "value": "A44080001"})
    assert person["person"]["name"] == "张伟"


def test_tampered_and_replayed_requests_are_refused_over_http(sandbox: SandboxProcess, client: RawClient) -> None:
    request = client.request(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
    body = request.to_bytes(client.key)
    tampered = body.replace(ZHANG_WEI.encode(), b"440106199007224565")
    reply = wire.read_reply(client.post(tampered), client.key, request.msgid)
    assert reply.err_code is ErrorCode.BAD_SIGNATURE
    assert wire.read_reply(client.post(body), client.key, request.msgid).ok
    replayed = wire.read_reply(client.post(body), client.key, request.msgid)
    assert replayed.err_code is ErrorCode.DUPLICATE_MSGID
    calls = sandbox.admin("GET", f"/admin/calls?msgid={request.msgid}")["calls"]
    assert [c["outcome"] for c in calls] == ["applied"]  # executed exactly once


def test_fault_error_reply_applies_nothing(sandbox: SandboxProcess, client: RawClient) -> None:
    registration = _open_stay(client, LIU_YANG)
    sandbox.arm("error", "2304", err_code="9001")
    request = client.request(T.SETTLEMENT, {"registration_no": registration, "discharged": _today()})
    reply = client.send(request)
    assert reply.err_code is ErrorCode.CENTRE_BUSY and ErrorCode.CENTRE_BUSY.retryable
    assert client.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})["outcome"] == "failed"
    assert sandbox.summary()["settlements"]["live"] == 0
    _close_stay(client, registration)


def test_fault_delay_then_the_call_runs(sandbox: SandboxProcess, client: RawClient) -> None:
    sandbox.arm("delay", "1101", seconds=1.0)
    started = time.monotonic()
    client.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
    assert time.monotonic() - started >= 1.0
    with pytest.raises(TimeoutError):  # a client with a shorter timeout gives up; the call still runs
        sandbox.arm("delay", "1101", seconds=1.5)
        request = client.request(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
        client.send(request, timeout=0.3)
    deadline = time.monotonic() + 10  # the delayed call lands 1.5 s after it was sent
    while client.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})["outcome"] == "unknown":
        assert time.monotonic() < deadline, "the delayed call never ran"
        time.sleep(0.1)
    assert client.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})["outcome"] == "applied"


def test_fault_drop_after_commit_leaves_the_settlement_applied(sandbox: SandboxProcess, client: RawClient) -> None:
    registration = _open_stay(client, SONG_TAO)
    before = sandbox.summary()["settlements"]["live"]
    sandbox.arm("drop_after_commit", "2304")
    request = client.request(T.SETTLEMENT, {"registration_no": registration, "discharged": _today()})
    with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
        client.send(request)
    status = client.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})
    assert status["outcome"] == "applied" and status["output"]["registration_no"] == registration
    assert sandbox.summary()["settlements"]["live"] == before + 1
    # the counter decides it no longer wants it: reversal, and the books are back
    client.ok(T.REVERSAL, {"omsgid": request.msgid, "oinfno": "2304"})
    assert sandbox.summary()["settlements"]["live"] == before
    _close_stay(client, registration)


def test_fault_malformed_reply_after_commit(sandbox: SandboxProcess, client: RawClient) -> None:
    registration = _open_stay(client, TANG_LIANG)
    sandbox.arm("malformed", "2304")
    request = client.request(T.SETTLEMENT, {"registration_no": registration, "discharged": _today()})
    body = client.post(request.to_bytes(client.key))
    with pytest.raises(wire.WireError):
        wire.read_reply(body, client.key, request.msgid)
    assert client.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})["outcome"] == "applied"
    settlement_id = client.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})["output"]["settlement_id"]
    client.ok(T.SETTLEMENT_CANCEL, {"settlement_id": settlement_id})
    _close_stay(client, registration)


def test_fault_refuse_connections_then_back(sandbox: SandboxProcess, client: RawClient) -> None:
    sandbox.arm("refuse_connections", seconds=1.5)
    time.sleep(0.3)
    with pytest.raises((ConnectionRefusedError, urllib.error.URLError)):
        client.call(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
    time.sleep(1.6)
    sandbox.wait_ready(5)
    client.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})


def test_fault_restart_after_commit_keeps_the_data(sandbox: SandboxProcess, client: RawClient) -> None:
    registration = _open_stay(client, DENG_HUI)
    pid = sandbox.wait_ready()["pid"]
    sandbox.arm("restart", "2304")
    request = client.request(T.SETTLEMENT, {"registration_no": registration, "discharged": _today()})
    with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
        client.send(request)
    health = sandbox.wait_ready(20)
    assert health["pid"] != pid  # a new server process, same port
    status = client.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})  # the session survived too
    assert status["outcome"] == "applied"
    client.ok(T.SETTLEMENT_CANCEL, {"settlement_id": status["output"]["settlement_id"]})
    _close_stay(client, registration)


def test_bad_admin_calls_are_explained(sandbox: SandboxProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        sandbox.arm("explode")
    assert error.value.code == 400
    assert "故障类型" in json.loads(error.value.read())["error"]


def test_faults_armed_at_start_by_option(tmp_path: Path) -> None:
    process = SandboxProcess(tmp_path / "data", faults=["error:1101:times=2:err_code=9999"]).start()
    try:
        client = RawClient(process.url)
        client.sign_in()
        for _ in range(2):
            reply = client.call(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
            assert reply.err_code is ErrorCode.INTERNAL_ERROR
        client.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
    finally:
        process.stop()


def test_killing_the_supervisor_takes_the_server_down(tmp_path: Path) -> None:
    process = SandboxProcess(tmp_path / "data").start()
    server_pid = process.wait_ready()["pid"]
    assert process.process is not None
    process.process.send_signal(signal.SIGKILL)
    process.process.wait()
    deadline = time.monotonic() + 10
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(server_pid)
    process.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of the killed supervisor counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def _serve(*arguments: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "centre", "serve", "--data", str(tmp_path / "d"), *arguments],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_plain_http_binds_loopback_only(host: str, tmp_path: Path) -> None:
    result = _serve("--host", host, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "只能监听本机地址" in result.stderr and host in result.stderr


def test_a_missing_key_half_or_a_bad_certificate_is_refused(tmp_path: Path) -> None:
    half = _serve("--host", "0.0.0.0", "--tls-cert", str(tmp_path / "c.pem"), tmp_path=tmp_path)
    assert half.returncode == 2 and "--tls-key" in half.stderr
    (tmp_path / "c.pem").write_text("not a certificate")
    (tmp_path / "k.pem").write_text("not a key")
    bad = _serve("--host", "0.0.0.0", "--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem"),
                 tmp_path=tmp_path)
    assert bad.returncode == 2 and "TLS" in bad.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing: scripts/setup.sh installs it")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_with_a_certificate_it_serves_https_that_verifies(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    trusting = ssl.create_default_context(cafile=str(cert))
    process = SandboxProcess(tmp_path / "data", tls=(cert, key), ssl_context=trusting).start()
    try:
        assert process.url.startswith("https://127.0.0.1:")
        client = RawClient(process.url, ssl_context=trusting)
        client.sign_in()
        assert client.ok(T.PERSON_LOOKUP, {"by": "card", "value": "A44080001"})["person"]["name"] == "张伟"
        stranger = RawClient(process.url)  # verification on, the self-signed certificate not trusted
        with pytest.raises(urllib.error.URLError) as error:
            stranger.sign_in()
        assert isinstance(error.value.reason, ssl.SSLCertVerificationError)
    finally:
        process.stop()


def test_a_certificate_allows_other_addresses(tmp_path: Path) -> None:
    from app.sandbox.server import check_bind

    cert, key = _self_signed(tmp_path)
    assert isinstance(check_bind("0.0.0.0", cert, key), ssl.SSLContext)
    assert check_bind("127.0.0.1", None, None) is None and check_bind("::1", None, None) is None


def test_an_older_sandbox_database_is_refused_until_reset(tmp_path: Path) -> None:
    import sqlite3

    from app.sandbox import store

    data = tmp_path / "d"
    data.mkdir()
    old = sqlite3.connect(data / store.DATABASE_NAME)
    old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    old.execute("INSERT INTO meta VALUES ('schema_version', '0')")
    old.commit()
    old.close()
    refused = _serve("--port", "0", tmp_path=tmp_path)
    assert refused.returncode == 2 and "--reset" in refused.stderr
    process = SandboxProcess(data, extra=["--reset"]).start()
    try:
        client = RawClient(process.url)
        client.sign_in()
        client.ok(T.PERSON_LOOKUP, {"by": "card", "value": "A44080001"})
    finally:
        process.stop()


def test_admin_filing_and_catalogue_calls(sandbox: SandboxProcess, client: RawClient) -> None:
    before = client.ok(T.CATALOGUE_DOWNLOAD, {"since_version": 0, "page_size": 1})["version"]
    assert sandbox.admin("POST", "/admin/catalogue", {"entries": [
        {"code": "XTEST001", "name": "测试药品", "category": "drug", "unit": "片", "price_limit": "1.00"}]}) == {
        "version": before + 1}
    assert [e["code"] for e in client.ok(T.CATALOGUE_DOWNLOAD, {"since_version": before})["entries"]] == ["XTEST001"]
    wang = "220102197801092349"
    sandbox.admin("POST", "/admin/filings", {"social_security_number": wang, "filing": {
        "id": "BA-ADMIN-TEST-1", "category": "referral", "care": ["medical"],
        "destination": {"province": "广东省", "city": "湛江市", "city_code": "440800"},
        "approved_on": "today", "valid_from": "today", "valid_to": "today+30", "status": "active"}})
    filings = client.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": wang})["filings"]
    assert filings[0]["id"] == "BA-ADMIN-TEST-1" and filings[0]["valid_to"] == _today(30)


def test_a_delayed_request_voided_meanwhile_never_applies(sandbox: SandboxProcess, client: RawClient) -> None:
    """Timeout → query says unknown → void by reversal → the late request is refused (never doubled)."""
    registration = _open_stay(client, LUO_JING)
    before = sandbox.summary()["settlements"]["live"]
    sandbox.arm("delay", "2304", seconds=1.5)
    request = client.request(T.SETTLEMENT, {"registration_no": registration, "discharged": _today()})
    with pytest.raises(TimeoutError):
        client.send(request, timeout=0.3)
    assert client.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})["outcome"] == "unknown"
    assert client.ok(T.REVERSAL, {"omsgid": request.msgid, "oinfno": "2304"})["outcome"] == "voided"
    time.sleep(2.5)  # the delayed request has now reached the centre, and was refused
    calls = sandbox.admin("GET", f"/admin/calls?msgid={request.msgid}")["calls"]
    assert [c["outcome"] for c in calls] == ["voided"]
    assert sandbox.summary()["settlements"]["live"] == before
    _close_stay(client, registration)


def test_refusing_connections_from_the_start_by_option(tmp_path: Path) -> None:
    process = SandboxProcess(tmp_path / "data", faults=["refuse_connections:seconds=2"])
    started = time.monotonic()
    process.start()  # waits until /health answers
    try:
        assert time.monotonic() - started >= 1.5
    finally:
        process.stop()


def test_a_port_in_use_is_explained(sandbox: SandboxProcess, tmp_path: Path) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    result = _serve("--port", port, tmp_path=tmp_path)
    assert result.returncode == 2 and "端口已被占用" in result.stderr
    sandbox.wait_ready(5)  # the running one is unharmed


def test_refusing_connections_also_ends_kept_alive_ones(sandbox: SandboxProcess, client: RawClient) -> None:
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    body = client.request(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI}).to_bytes(client.key)
    connection.request("POST", wire.API_PATH, body, {"Content-Type": "application/json"})
    assert connection.getresponse().read()  # kept alive afterwards (HTTP/1.1)
    sandbox.arm("refuse_connections", seconds=1.5)
    time.sleep(0.4)
    again = client.request(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI}).to_bytes(client.key)
    started = time.monotonic()
    with pytest.raises((ConnectionError, http.client.HTTPException)) as error:
        connection.request("POST", wire.API_PATH, again, {"Content-Type": "application/json"})
        connection.getresponse().read()
    assert not isinstance(error.value, TimeoutError) and time.monotonic() - started < 2  # reset, not left hanging
    connection.close()
    time.sleep(1.5)
    sandbox.wait_ready(5)


# --- the WAN option (issue 25) ----------------------------------------------------------------------


def _timed_lookup(client: RawClient) -> float:
    started = time.monotonic()
    client.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
    return time.monotonic() - started


def test_latency_option_delays_every_call_with_jitter_and_calls_wait_side_by_side(tmp_path: Path) -> None:
    process = SandboxProcess(tmp_path / "data", extra=["--latency", "400", "--jitter", "50"]).start()
    try:
        assert process.admin("GET", "/admin/latency") == {"ms": 400.0, "jitter_ms": 50.0}
        client = RawClient(process.url)
        client.sign_in()
        waits = [_timed_lookup(client) for _ in range(3)]
        assert min(waits) >= 0.35, waits  # 400 ms less the jitter at most: every call waits
        # Several calls in flight wait their round trips side by side, as on a real link: five at once
        # take far less than five round trips one after another.
        threads = [threading.Thread(target=_timed_lookup, args=(client,)) for _ in range(5)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert 0.35 <= time.monotonic() - started < 5 * 0.35
        # The network's delay outlives a restart of the centre (a fault), as a real link's would.
        process.arm("restart", "1101")
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            client.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
        process.wait_ready()
        assert process.admin("GET", "/admin/latency") == {"ms": 400.0, "jitter_ms": 50.0}
    finally:
        process.stop()


def test_latency_set_and_cleared_at_run_time(sandbox: SandboxProcess, client: RawClient) -> None:
    try:
        assert sandbox.admin("POST", "/admin/latency", {"ms": 300}) == {"ms": 300.0, "jitter_ms": 0.0}
        assert _timed_lookup(client) >= 0.3
        with pytest.raises(urllib.error.HTTPError) as error:
            sandbox.admin("POST", "/admin/latency", {"ms": -5})
        assert error.value.code == 400 and "毫秒" in json.loads(error.value.read())["error"]
        assert sandbox.admin("GET", "/admin/latency") == {"ms": 300.0, "jitter_ms": 0.0}  # unchanged
    finally:
        assert sandbox.admin("POST", "/admin/latency", {"ms": 0}) == {"ms": 0.0, "jitter_ms": 0.0}


def test_a_bad_latency_option_is_explained(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "app", "centre", "serve", "--port", "0", "--data", str(tmp_path),
                           "--latency", "-1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "毫秒" in done.stderr


def test_the_supervisor_starts_without_loading_the_web_server() -> None:
    """Every sandbox start (the demo, `wi-counter centre serve`, each test's centre) runs a supervisor
    and a server: the supervisor loading aiohttp and the service too cost half a second a start."""
    probe = ("import sys; import app.sandbox.supervisor; "
             "print(sorted(m for m in ('aiohttp', 'app.sandbox.server', 'app.sandbox.service') "
             "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
