"""`wi-counter centre status|outbox|resolve` against the real sandbox."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import SettlementRequest
from app.centre.outbox import FOREIGN, allocate_msgid
from app.cli import main
from app.db.models import OutboxEntry, OutboxState
from tests.centre.client_fixtures import (  # noqa: F401 - fixtures
    INSTITUTION,
    SandboxProcess,
    admission_of,
    centre_today,
    client,
    counter,
    fee_lines,
    sandbox,
)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'counter.sqlite3'}"


def home_args(counter: CounterContext, db_url: str) -> list[str]:
    return ["--home", str(counter.paths.config_dir.parent), "--db", db_url]


def test_status_reports_the_link_and_the_outbox(counter: CounterContext, sandbox: SandboxProcess, db_url: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["centre", "status", "--json", *home_args(counter, db_url)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"url": sandbox.url, "reachable": True, "error": "", "open_entries": 0}

    sandbox.stop()
    started = time.monotonic()
    assert main(["centre", "status", *home_args(counter, db_url)]) == 1
    assert time.monotonic() - started < 10  # no long freeze when the centre is down
    assert "无法连接" in capsys.readouterr().out


def test_outbox_lists_open_entries_and_resolve_settles_them(counter: CounterContext, sandbox: SandboxProcess,
                                                            db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # A settlement written by a counter that died before sending it (its lease names a dead process).
    with counter.transaction() as session:
        number, msgid = allocate_msgid(session, INSTITUTION)
        session.add(OutboxEntry(
            seq=number, msgid=msgid, txn_code="2304", operation="settlement", counter_name=counter.counter_name,
            request={"registration_no": "ZY-GONE"}, state=OutboxState.SENT, attempts=1,
            lease_owner="1号窗口@nowhere:1", lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        ))
    assert main(["centre", "outbox", *home_args(counter, db_url)]) == 0
    listing = capsys.readouterr().out
    assert msgid in listing and "settlement" in listing

    assert main(["centre", "resolve", *home_args(counter, db_url)]) == 0
    assert msgid in capsys.readouterr().out
    with counter.transaction() as session:
        entry = session.scalars(select(OutboxEntry).where(OutboxEntry.msgid == msgid)).one()
        assert (entry.state, entry.resolution) == (OutboxState.FAILED, "voided")  # never reached the centre

    assert main(["centre", "outbox", *home_args(counter, db_url)]) == 0
    assert "没有结果未确定的交易" in capsys.readouterr().out
    assert main(["centre", "outbox", "--all", "--json", *home_args(counter, db_url)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["txn_code"], r["state"]) for r in rows] == [("2304", "failed"), ("2601", "succeeded")]
    assert rows[1]["reverses_msgid"] == msgid


def test_resolve_reverse_undoes_an_applied_call(client: CentreClient, counter: CounterContext,
                                                sandbox: SandboxProcess, db_url: str,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from app.db.models import AuditEvent, Operator, Role
    from tests.signed_in import TEST_PASSWORD_HASH, password_on_stdin

    with counter.transaction() as session:
        reviewer = Operator(login="reviewer", display_name="李审核", role=Role.REVIEWER, password_hash=TEST_PASSWORD_HASH)
        session.add(reviewer)
        session.flush()
        reviewer_id = reviewer.id
    admission = client.register_admission(admission_of())
    client.upload_fees(admission.registration_no, fee_lines(5), insured_region="440800")
    client.settle(SettlementRequest(admission.registration_no, centre_today()))
    with counter.transaction() as session:
        msgid = session.scalars(select(OutboxEntry.msgid).where(OutboxEntry.txn_code == "2304")).one()
    password_on_stdin(monkeypatch)
    assert main(["centre", "resolve", "--reverse", msgid, "--operator", "reviewer", "--password-stdin",
                 *home_args(counter, db_url)]) == 0
    assert "reversed" in capsys.readouterr().out
    assert sandbox.summary()["settlements"]["reversed"] == 1
    with counter.transaction() as session:  # the reviewer's request and its outcome, in the audit trail
        audited = [(e.action, e.operator_id, e.entity_id) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("centre_reversal%")).order_by(AuditEvent.id))]
    assert audited == [("centre_reversal_requested", reviewer_id, msgid), ("centre_reversal", reviewer_id, msgid)]


def test_the_signing_key_comes_from_the_keyring_or_in_demo_mode_from_the_sandbox(tmp_path: Path) -> None:
    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    from app.bootstrap import open_counter
    from app.centre.client import _signing_key
    from app.composition import demo_signing_key
    from app.errors import ConfigurationError, NoSecureStoreError
    from app.secret_store import CENTRE_KEY, set_secret

    real = open_counter(home=tmp_path / "site")
    demo = open_counter(home=tmp_path / "demo", demo=True)
    try:
        with pytest.raises(ConfigurationError, match="centre-key"):
            _signing_key(real, INSTITUTION)  # a site without a key is told how to store one
        set_secret(CENTRE_KEY, "site-key")
        assert _signing_key(real, INSTITUTION) == b"site-key"
        previous = keyring.get_keyring()
        keyring.set_keyring(NoKeyring())
        try:
            with pytest.raises(NoSecureStoreError):
                _signing_key(real, INSTITUTION, demo_signing_key)  # never a plaintext fallback at a site
            # The public demo value, handed in by the composition root (the core does not know the sandbox).
            assert _signing_key(demo, INSTITUTION, demo_signing_key) == b"wi-counter-demo-key-H44080100001"
        finally:
            keyring.set_keyring(previous)
    finally:
        real.close()
        demo.close()


def test_client_reconcile_compares_the_outbox_with_the_centre_msgid_by_msgid(
        client: CentreClient, counter: CounterContext, sandbox: SandboxProcess) -> None:
    """The client-level check (outbox against 3202); the day-end command's own comparison, with
    the counter's books and amounts, is in test_reconciliation.py."""
    from app.centre.gateway import SettlementCancelRequest

    for n in range(2):
        admission = client.register_admission(admission_of(admission_no=f"ZY-REC-{n}"))
        client.upload_fees(admission.registration_no, fee_lines(4), insured_region="440800")
        figures = client.settle(SettlementRequest(admission.registration_no, centre_today()))
    assert figures.settlement_id is not None
    client.cancel_settlement(SettlementCancelRequest(figures.settlement_id, "重新结算"))
    result = client.reconcile(centre_today())
    assert result.agrees and result.counter_count == 3
    assert result.centre.settlements.count == 2 and result.centre.cancellations.count == 1

    # The counter lost track of one settlement (as a 单边账 would look): named by its msgid.
    with counter.transaction() as session:
        lost = session.scalars(select(OutboxEntry).where(OutboxEntry.txn_code == "2304")).first()
        assert lost is not None
        lost.state = OutboxState.FAILED
        msgid = lost.msgid
    result = client.reconcile(centre_today())
    assert not result.agrees and result.only_at_centre == (msgid,)


def test_calls_shows_each_exchange_and_its_outcome(client: CentreClient, counter: CounterContext,
                                                   sandbox: SandboxProcess, db_url: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from app.centre.gateway import CentreRefused, PersonKey

    client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, "440802198503151236")
    with pytest.raises(CentreRefused):
        client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, "110101199003074514")
    assert main(["centre", "calls", *home_args(counter, db_url)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2:4] for line in lines] == [["9001", "ok"], ["1101", "ok"], ["1101", "refused"]]
    assert "2001" in lines[-1]
    msgid = lines[-1].split()[1]
    assert main(["centre", "calls", "--msgid", msgid, "--full", "--json", *home_args(counter, db_url)]) == 0
    [call] = json.loads(capsys.readouterr().out)
    # The call log keeps no whole ID number (issue 22): masked as in the logs.
    assert call["request"] == {"by": "social_security_number", "value": "110101********4514"}
    assert call["outcome"] == "refused" and call["error_code"] == "2001"


def test_outbox_lists_entries_left_for_the_reviewer(counter: CounterContext, sandbox: SandboxProcess,
                                                    db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21: an entry whose msgid the centre holds for another caller's call is closed (nothing
    applied, nothing reversed) but stays on the default listing, with its message, for the reviewer."""
    note = "报文编号在结算中心登记的是另一笔交易：本机未据此入账，也未冲正。请复核人员核对后重新办理。"
    with counter.transaction() as session:
        number, msgid = allocate_msgid(session, INSTITUTION)
        session.add(OutboxEntry(
            seq=number, msgid=msgid, txn_code="2401", operation="admission", counter_name=counter.counter_name,
            request={}, state=OutboxState.FAILED, resolution=FOREIGN, error=note, attempts=1,
        ))
    assert main(["centre", "outbox", *home_args(counter, db_url)]) == 0
    listing = capsys.readouterr().out
    assert msgid in listing and FOREIGN in listing and "复核" in listing
