"""Contract tests: the counter's JSON adapter against the real sandbox centre on loopback,
for every transaction of docs/centre-interface.md (through the client and its outbox)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient, open_centre
from app.centre.gateway import (
    AdmissionCancelRequest,
    CentreError,
    CentreRefused,
    FeeCancelRequest,
    Operation,
    OutcomeState,
    PersonKey,
    SettlementCancelRequest,
    SettlementRequest,
)
from app.composition import open_counter_centre
from app.db.models import CentreCallLog, OutboxEntry, OutboxState
from app.secret_store import CENTRE_KEY, set_secret
from tests.centre.client_fixtures import (  # noqa: F401 - fixtures
    LI_NA,
    ZHANG_WEI,
    SandboxProcess,
    admission_of,
    centre_today,
    client,
    counter,
    fee_lines,
    sandbox,
)

LIN_XIUYING = "440804198706210489"  # no injury recognition (sandbox seed)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The contract is about the wire: one database is enough here (the outbox tests run both)."""
    return f"sqlite:///{tmp_path / 'counter.sqlite3'}"


def outbox_entries(ctx: CounterContext) -> list[OutboxEntry]:
    with ctx.transaction() as session:
        return list(session.scalars(select(OutboxEntry).order_by(OutboxEntry.seq)))


def settled_stay(client: CentreClient, admission_no: str = "ZY-TEST-1", lines: int = 10) -> str:
    """Admit zhang-wei, upload lines, settle; returns the settlement id."""
    admission = client.register_admission(admission_of(admission_no=admission_no))
    client.upload_fees(admission.registration_no, fee_lines(lines), insured_region="440800")
    figures = client.settle(SettlementRequest(admission.registration_no, centre_today()))
    assert figures.settlement_id is not None
    return figures.settlement_id


def test_sign_in_and_the_health_probe(client: CentreClient, counter: CounterContext) -> None:
    client.centre.sign_in()
    status = client.check()
    assert status.reachable is True and status.open_entries == 0
    with counter.transaction() as session:
        [log] = session.scalars(select(CentreCallLog).where(CentreCallLog.txn_code == "9001")).all()
    assert log.outcome == "ok" and wire.msgid_problem(log.msgid, "H44080100001") is None


def test_sign_out_ends_the_session_and_the_next_call_signs_in_again(client: CentreClient,
                                                                   counter: CounterContext) -> None:
    client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ZHANG_WEI)
    client.centre.sign_out()
    # A session the centre ended (sign-out, restart, expiry) is refused with 1005; a read signs in
    # again by itself and is asked once more.
    centre = client.centre
    centre._sign_no = "SN-ENDED"  # type: ignore[attr-defined]  # noqa: SLF001 - as if the centre forgot it
    centre._session_expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # type: ignore[attr-defined]  # noqa: SLF001
    assert client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ZHANG_WEI).name == "张伟"
    with counter.transaction() as session:
        codes = [(log.txn_code, log.outcome, log.error_code)
                 for log in session.scalars(select(CentreCallLog).order_by(CentreCallLog.id))]
    assert codes == [("9001", "ok", None), ("1101", "ok", None), ("9002", "ok", None),
                     ("1101", "refused", "1005"), ("9001", "ok", None), ("1101", "ok", None)]


def test_a_change_refused_for_a_lapsed_session_is_sent_again_under_a_new_msgid(
        client: CentreClient, counter: CounterContext, sandbox: SandboxProcess) -> None:
    client.centre.sign_in()
    centre = client.centre
    centre._sign_no = "SN-ENDED"  # type: ignore[attr-defined]  # noqa: SLF001 - as if the centre restarted
    admission = client.register_admission(admission_of())
    refused, accepted = outbox_entries(counter)
    assert (refused.state, accepted.state) == (OutboxState.FAILED, OutboxState.SUCCEEDED)
    assert "1005" in (refused.error or "") and refused.msgid != accepted.msgid
    assert sandbox.summary()["registrations"]["open"] == 1  # once
    assert admission.registration_no


def test_person_lookup_by_number_card_and_e_card(client: CentreClient) -> None:
    by_number = client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ZHANG_WEI)
    assert (by_number.name, by_number.profile) == ("张伟", "local")
    assert by_number.insurance_active and by_number.card is not None and by_number.card.number == "A44080001"
    assert [d.code for d in by_number.recognitions[0].diagnoses] == ["S82.201"]
    assert by_number.filings[0].destination.institution_code == "H44080100001"
    assert client.find_person(PersonKey.CARD, "A44080001") == by_number
    assert client.find_person(PersonKey.ECARD_TOKEN, "ECARD-ZW-7F3A9C21") == by_number
    li_na = client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, LI_NA)
    assert li_na.insured_place.city_code == "440100" and li_na.profile == "guangdong-intra"
    with pytest.raises(CentreRefused) as unknown:
        client.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, "110101199003074514")
    assert unknown.value.code == "2001"
    with pytest.raises(CentreRefused) as bad_token:
        client.find_person(PersonKey.ECARD_TOKEN, "ECARD-NOT-A-TOKEN")
    assert bad_token.value.code == "2003"


def test_catalogue_download_is_paged_and_versioned(client: CentreClient) -> None:
    first = client.download_catalogue(0, 1, 100)
    assert first.total >= 300 and first.pages == -(-first.total // 100)
    entries = list(first.entries)
    for page in range(2, first.pages + 1):
        entries.extend(client.download_catalogue(0, page, 100).entries)
    assert len({e.code for e in entries}) == first.total
    assert {e.category for e in entries} == {"drug", "treatment", "consumable", "rehab", "device"}
    assert any(e.max_pay is not None for e in entries if e.category == "device")
    assert all(isinstance(e.price_limit, Decimal | type(None)) for e in entries)
    # Nothing changed since the version the counter has.
    assert client.download_catalogue(first.version, 1, 100).entries == ()


def test_admission_and_its_cancellation(client: CentreClient, counter: CounterContext) -> None:
    admission = client.register_admission(admission_of())
    assert admission.registration_no and admission.settlement_kind == "本地工伤结算"
    assert admission.verdict is not None and admission.verdict.allowed
    cancelled = client.cancel_admission(AdmissionCancelRequest(admission.registration_no, "登记错误"))
    assert cancelled.status == "cancelled"
    entries = outbox_entries(counter)
    assert [(e.txn_code, e.state) for e in entries] == [("2401", OutboxState.SUCCEEDED), ("2404", OutboxState.SUCCEEDED)]
    assert entries[0].response is not None and entries[0].response["registration_no"] == admission.registration_no


def test_an_admission_the_filing_does_not_allow_is_refused_with_reasons(client: CentreClient,
                                                                        counter: CounterContext) -> None:
    with pytest.raises(CentreRefused) as refused:
        client.register_admission(admission_of(ssn=LIN_XIUYING))
    assert refused.value.code == "3001"
    reasons = refused.value.details["verdict"]["reasons"]
    assert any(r["blocking"] for r in reasons)
    [entry] = outbox_entries(counter)
    assert entry.state is OutboxState.FAILED and "3001" in (entry.error or "")


def test_fee_lines_go_up_100_a_call_with_refunds_and_cancellations(client: CentreClient,
                                                                     counter: CounterContext) -> None:
    admission = client.register_admission(admission_of())
    receipts = client.upload_fees(admission.registration_no, fee_lines(250), insured_region="440800")
    assert [r.accepted for r in receipts] == [100, 100, 50]
    # Chunks land in any order (several in flight): the last to land saw all 250.
    assert max((r.line_count, r.total) for r in receipts) == (250, Decimal("3750.00"))
    non_injury = [line for r in receipts for line in r.lines if line.non_injury]
    assert len(non_injury) == 50  # every fifth line is 因病 (伤病分离 flag false)
    # The same lines again: accepted without change (an interrupted upload can be finished).
    [again] = client.upload_fees(admission.registration_no, fee_lines(100), insured_region="440800")
    assert (again.duplicates, again.line_count) == (100, 250)
    # A refund points at its original.
    refund = dataclasses.replace(fee_lines(1, first_seq=251)[0], quantity=Decimal("-30"), amount=Decimal("-15.00"),
                                 refund_of=3, diagnosis="S82.201", injury=True)
    [after_refund] = client.upload_fees(admission.registration_no, [refund], insured_region="440800")
    assert after_refund.total == Decimal("3735.00")
    cancelled = client.cancel_fees(FeeCancelRequest(admission.registration_no, (1, 2)))
    assert cancelled.cancelled == (1, 2) and cancelled.line_count == 249
    codes = [e.txn_code for e in outbox_entries(counter)]
    assert codes == ["2401", "2301", "2301", "2301", "2301", "2301", "2302"]


def test_pre_settlement_then_settlement_and_the_outcome_query(client: CentreClient, counter: CounterContext,
                                                              sandbox: SandboxProcess) -> None:
    admission = client.register_admission(admission_of())
    client.upload_fees(admission.registration_no, fee_lines(20), insured_region="440800")
    request = SettlementRequest(admission.registration_no, centre_today(), expected_total=Decimal("300.00"))
    preview = client.pre_settle(request)
    assert preview.settlement_id is None and preview.total == Decimal("300.00")
    figures = client.settle(request)
    assert figures.settlement_id and figures.registration_no == admission.registration_no
    assert (figures.total, figures.fund_total, figures.personal_total) == (
        preview.total, preview.fund_total, preview.personal_total)
    assert figures.total == figures.fund_total + figures.personal_total
    assert figures.matrix["non_injury"]["total"] == Decimal("60.00")  # 4 lines for the illness, paid by the worker
    assert len(figures.items) == 20
    entry = outbox_entries(counter)[-1]
    outcome = client.centre.query_outcome(entry.msgid, Operation.SETTLEMENT)
    assert outcome.state is OutcomeState.APPLIED and outcome.result == figures
    assert sandbox.summary()["settlements"]["live"] == 1
    # A second settlement of the same stay is refused: nothing doubles.
    with pytest.raises(CentreRefused) as again:
        client.settle(request)
    assert again.value.code == "3003"


def test_settlement_cancellation_and_daily_reconciliation(client: CentreClient, counter: CounterContext) -> None:
    settlement_id = settled_stay(client)
    cancellation = client.cancel_settlement(SettlementCancelRequest(settlement_id, "结算有误，重新结算"))
    assert cancellation.settlement_id == settlement_id and cancellation.total == Decimal("-150.00")
    totals = client.daily_totals(centre_today())
    assert (totals.settlements.count, totals.cancellations.count, totals.net.count) == (1, 1, 0)
    assert totals.net.total == Decimal("0.00")
    details = client.daily_details(centre_today())
    by_kind = {r.kind: r for r in details.records}
    entries = {e.txn_code: e.msgid for e in outbox_entries(counter)}
    assert by_kind["settlement"].msgid == entries["2304"]
    assert by_kind["cancellation"].msgid == entries["2305"]


def test_reversal_undoes_a_settlement(client: CentreClient, counter: CounterContext, sandbox: SandboxProcess) -> None:
    settled_stay(client)
    settlement_entry = outbox_entries(counter)[-1]
    result = client.reverse(settlement_entry.msgid)
    assert result.outcome is OutcomeState.REVERSED and result.changed
    assert client.centre.query_outcome(settlement_entry.msgid, Operation.SETTLEMENT).state is OutcomeState.REVERSED
    summary = sandbox.summary()
    assert summary["settlements"] == {"live": 0, "cancelled": 0, "reversed": 1}
    entries = outbox_entries(counter)
    assert entries[-2].state is OutboxState.REVERSED and entries[-1].txn_code == "2601"
    # Safe to repeat: the same outcome, nothing changed.
    again = client.reverse(settlement_entry.msgid)
    assert again.outcome is OutcomeState.REVERSED and not again.changed


def test_monthly_claim_goes_up_in_chunks_and_comes_back_audited(client: CentreClient, counter: CounterContext,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [settled_stay(client, admission_no=f"ZY-TEST-{n}") for n in range(3)]
    monkeypatch.setattr(wire, "MAX_CLAIM_SETTLEMENTS_PER_CHUNK", 2)  # 3 settlements → 2 chunks
    period = centre_today().strftime("%Y-%m")
    receipt = client.upload_claim("YJ-H44080100001-TEST", period, ids)
    assert receipt.chunks == 2 and receipt.received_chunks == (1, 2) and receipt.status in ("submitted", "audited")
    status = client.claim_status("YJ-H44080100001-TEST")
    assert status.status == "audited" and {e.settlement_id for e in status.entries} == set(ids)
    for entry in status.entries:
        assert entry.fund_settled == entry.fund_total - entry.deduction
    assert status.fund_settled_total == sum((e.fund_settled for e in status.entries), Decimal("0.00"))
    # Uploading again sends nothing: every chunk is already delivered.
    before = len(outbox_entries(counter))
    client.upload_claim("YJ-H44080100001-TEST", period, ids)
    assert len(outbox_entries(counter)) == before


def test_a_wrong_signing_key_is_reported_and_nothing_is_believed(counter: CounterContext) -> None:
    set_secret(CENTRE_KEY, "not-the-institutions-key")
    wrong = open_counter_centre(counter)
    try:
        with pytest.raises(CentreError) as refused:
            wrong.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ZHANG_WEI)
    finally:
        wrong.close()
    assert "密钥" in refused.value.message and "签名验证失败" in refused.value.message


def test_work_queued_while_offline_is_sent_later_in_order(client: CentreClient, counter: CounterContext,
                                                          sandbox: SandboxProcess) -> None:
    """补登记 (`003 §17`): an admission and its lines kept while the centre was unreachable."""
    from app.centre.gateway import FeeUpload

    admission = client.register_admission(admission_of())
    upload = FeeUpload(admission.registration_no, tuple(fee_lines(3)), "440800")
    queued = [client.queue(Operation.FEE_UPLOAD, upload),
              client.queue(Operation.SETTLEMENT, SettlementRequest(admission.registration_no, centre_today()))]
    # Queued work blocks nothing: it was never sent.
    assert client.check().open_entries == 0
    assert [e.state for e in outbox_entries(counter)[-2:]] == [OutboxState.PENDING, OutboxState.PENDING]
    assert sandbox.summary()["live_lines"] == 0

    sent = client.send_queued()
    assert [(r.msgid, r.state) for r in sent] == [(m, OutboxState.SUCCEEDED) for m in queued]
    assert sandbox.summary()["settlements"]["live"] == 1
    assert outbox_entries(counter)[-1].response["total"] == "45.00"  # type: ignore[index]


def test_queued_work_stays_queued_while_the_centre_is_unreachable(client: CentreClient, counter: CounterContext,
                                                                  sandbox: SandboxProcess) -> None:
    admission = client.register_admission(admission_of())
    msgid = client.queue(Operation.SETTLEMENT, SettlementRequest(admission.registration_no, centre_today()))
    sandbox.stop()
    client.close()
    offline = open_counter_centre(counter)
    try:
        [result] = offline.send_queued()
    finally:
        offline.close()
    assert (result.msgid, result.state) == (msgid, OutboxState.PENDING) and "无法连接" in result.message
    [entry] = [e for e in outbox_entries(counter) if e.msgid == msgid]
    assert (entry.state, entry.attempts) == (OutboxState.PENDING, 1)


def test_an_upload_is_logged_with_its_entry_and_kept_when_its_local_effect_cannot_be_recorded(
        counter: CounterContext) -> None:
    """Issue 25: the exchange's call-log record is written in the transaction that applies the
    call (one commit less per call); when that transaction rolls back (the counter cannot record
    the result: reversed at the centre), the record of what was sent and answered is still kept."""
    from app.centre.outbox import LocalConflict

    recorded: list[str] = []

    def applied(session: object, entry: OutboxEntry, result: object) -> None:
        recorded.append(entry.msgid)

    def conflict(session: object, entry: OutboxEntry, result: object) -> None:
        raise LocalConflict("住院记录已被其他窗口修改")

    accepting = open_centre(counter, ("cashier", "张收款"), appliers={Operation.FEE_UPLOAD: applied})
    try:
        admission = accepting.register_admission(admission_of())
        accepting.upload_fees(admission.registration_no, fee_lines(3), insured_region="440800")
    finally:
        accepting.close()
    refusing = open_centre(counter, ("cashier", "张收款"), appliers={Operation.FEE_UPLOAD: conflict})
    try:
        with pytest.raises(CentreRefused) as refused:
            refusing.upload_fees(admission.registration_no, fee_lines(2), insured_region="440800")
    finally:
        refusing.close()
    assert refused.value.code == "LOCAL_CONFLICT"
    uploads = [e for e in outbox_entries(counter) if e.operation == Operation.FEE_UPLOAD.value]
    assert [e.state for e in uploads] == [OutboxState.SUCCEEDED, OutboxState.REVERSED]
    assert recorded == [uploads[0].msgid]
    with counter.transaction() as session:
        logged = {(log.msgid, log.outcome) for log in session.scalars(
            select(CentreCallLog).where(CentreCallLog.txn_code == wire.Transaction.FEE_UPLOAD.value))}
    assert logged == {(uploads[0].msgid, "ok"), (uploads[1].msgid, "ok")}
