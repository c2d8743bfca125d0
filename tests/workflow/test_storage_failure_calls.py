"""When this counter's database fails around the clerk's other state-changing centre calls — 入院登记
(2401), the monthly claim's upload (3301), the stay's fee lines (2301), a settlement's cancellation
(2305), 撤销/更正入院登记 (2404) and 全额垫付补登记 (2306) — the clerk reads what happened, whether the centre already did it, and what the counter does
next (never database text); the next try (or a restart) resolves the first call by its msgid and sends
no second one; nothing is left half-written here (issue 21 §8, as `test_storage_failure` for 2304).

The failure is made at the database boundary, as there: the commit that records the centre's answer
(the commit marking the call's outbox entry succeeded) raises SQLite's "database or disk is full" (on
PostgreSQL the server terminates the counter's own connection just before it); or the write of the
call itself, before anything is sent, meets a full disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import Operation
from app.sandbox.store import DATABASE_NAME
from app.demo.month import seed_demo_month
from app.claims.service import build_claim, previous_month
from app.claims.upload import upload_claim
from app.composition import open_workflow_centre
from app.db.failures import StorageFailure
from app.db.models import (
    ChargeLine,
    FullPaymentReceipt,
    ClaimStatus,
    FilingCheck,
    MonthlyClaim,
    OutboxEntry,
    OutboxState,
    Settlement,
    SettlementKind,
    Stay,
    StayStatus,
)
from app.errors import WiCounterError
from app.operators import OperatorInfo
from app.workflow.admission import Identification, admit, look_up
from app.workflow.admission_correction import cancel_registration, correct_registration
from app.workflow.discharge import backfill, cancel_settlement, issue_full_payment, settle_stay
from app.workflow.line_upload import upload_ready_lines
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    ZHANG_WEI_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    centre_today,
    form,
)
from tests.workflow.test_storage_failure import RAW

# The words of each message that tell the clerk what became of the call.
CENTRE_DID_IT = ("结算中心已办理", "本机未能记录")
ON_RESTART = ("重新启动", "查询", "补记", "不会重复")
CENTRE_DID_NOTHING = ("没有发送到结算中心", "结算中心未办理")


def _says(message: str, *words: str) -> None:
    assert all(word in message for word in words), message
    assert not any(word.lower() in message.lower() for word in RAW), message


def _calls(sandbox: SandboxProcess, infno: str) -> list[str]:
    """The outcome of each call with this transaction code the sandbox centre received."""
    connection = sqlite3.connect(sandbox.data / DATABASE_NAME)
    try:
        return [row[0] for row in connection.execute("SELECT outcome FROM call WHERE infno = ? ORDER BY rowid",
                                                     (infno,))]
    finally:
        connection.close()


def _entries(ctx: CounterContext, operation: Operation) -> list[tuple[OutboxState, str | None]]:
    with ctx.transaction() as session:
        return [(e.state, e.resolution) for e in session.scalars(
            select(OutboxEntry).where(OutboxEntry.operation == operation.value).order_by(OutboxEntry.seq))]


def _nothing_open(ctx: CounterContext) -> None:
    with ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEntry)
                              .where(OutboxEntry.state.in_([OutboxState.SENT, OutboxState.PENDING]))) == 0


def _succeeded(session: Session, operation: str) -> int:
    return int(session.scalar(select(func.count()).select_from(OutboxEntry).where(
        OutboxEntry.operation == operation, OutboxEntry.state == OutboxState.SUCCEEDED)) or 0)


@pytest.fixture
def fail_recording(counter: CounterContext, db_url: str) -> Iterator[Callable[[Operation], None]]:
    """Arms one failure of the commit that records the centre's answer to a call of `operation`:
    the commit in which one more of its outbox entries is marked succeeded (with its local effect)."""
    armed: dict[str, int] = {}  # operation → its succeeded entries when armed

    def hook(session: Session) -> None:
        if not armed:
            return
        ((operation, before),) = armed.items()
        if _succeeded(session, operation) <= before:
            return
        armed.clear()
        if counter.engine.dialect.name == "sqlite":
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))
        # PostgreSQL: the server ends this very connection (ours only), then the commit meets it.
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()

    def arm(operation: Operation) -> None:
        with counter.transaction() as session:
            before = _succeeded(session, operation.value)
        armed[operation.value] = before

    event.listen(Session, "before_commit", hook)
    try:
        yield arm
    finally:
        event.remove(Session, "before_commit", hook)


_TXN_CODES = {Operation.ADMISSION: "2401", Operation.CLAIM_UPLOAD: "3301", Operation.FEE_UPLOAD: "2301",
              Operation.SETTLEMENT_CANCEL: "2305", Operation.ADMISSION_CANCEL: "2404",
              Operation.FULL_PAYMENT_REGISTRATION: "2306"}


@contextmanager
def disk_full_writing(ctx: CounterContext, operation: Operation) -> Iterator[None]:
    """The write of a call's outbox entry (before anything is sent) meets a full disk."""
    code = _TXN_CODES[operation]

    def disk_full(conn: object, cursor: object, statement: str, parameters: object, context: object,
                  executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX_ENTRY") and f"'{code}'" in repr(parameters):
            raise OperationalError(statement, {}, sqlite3.OperationalError("database or disk is full"))

    event.listen(ctx.engine, "before_cursor_execute", disk_full)
    try:
        yield
    finally:
        event.remove(ctx.engine, "before_cursor_execute", disk_full)


# --- 入院登记 (2401) ---------------------------------------------------------------------------------------


def _stays(ctx: CounterContext, admission_no: str) -> list[tuple[StayStatus, str | None]]:
    with ctx.transaction() as session:
        return [(s.status, s.registration_no) for s in session.scalars(
            select(Stay).where(Stay.admission_no == admission_no))]


def test_admission_the_centre_registered_but_this_counter_could_not_record_is_resolved_not_sent_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        fail_recording: Callable[[Operation], None]) -> None:
    identification = Identification("card", ZHANG_WEI_CARD)
    person = look_up(wf_client, identification, cashier)
    fail_recording(Operation.ADMISSION)
    with pytest.raises(WiCounterError) as failed:
        admit(counter, wf_client, person, form("ZY-DISK-A1"), cashier, identification)
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "入院登记", *CENTRE_DID_IT, *ON_RESTART)
    assert _calls(sandbox, "2401") == ["applied"]

    # The clerk tries again once the database is back: the first call is resolved by its msgid, the
    # stay gets its 就医登记号, and the 住院号 is not registered a second time.
    with pytest.raises(WiCounterError) as again:
        admit(counter, wf_client, person, form("ZY-DISK-A1"), cashier, identification)
    assert "已登记过" in again.value.message, again.value.message
    assert _calls(sandbox, "2401") == ["applied"]  # no second 2401
    ((status, registration_no),) = _stays(counter, "ZY-DISK-A1")
    assert status is StayStatus.ADMITTED and registration_no
    assert _entries(counter, Operation.ADMISSION) == [(OutboxState.SUCCEEDED, "query")]
    _nothing_open(counter)


def test_admission_whose_write_fails_says_the_centre_registered_nothing_and_keeps_nothing(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    identification = Identification("card", ZHANG_WEI_CARD)
    person = look_up(wf_client, identification, cashier)
    with disk_full_writing(counter, Operation.ADMISSION), pytest.raises(WiCounterError) as failed:
        admit(counter, wf_client, person, form("ZY-DISK-A2"), cashier, identification)
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "入院登记", *CENTRE_DID_NOTHING)
    assert _calls(sandbox, "2401") == []
    # Nothing half-written: no stay, no check, no call (they commit together or not at all).
    assert _stays(counter, "ZY-DISK-A2") == []
    assert _entries(counter, Operation.ADMISSION) == []
    with counter.transaction() as session:
        assert session.scalar(select(func.count()).select_from(FilingCheck)) == 0

    # The database works again: the admission goes through, once.
    outcome = admit(counter, wf_client, person, form("ZY-DISK-A2"), cashier, identification)
    assert outcome.registration_no
    assert _calls(sandbox, "2401") == ["applied"]


# --- 月度结算申请上传 (3301) ----------------------------------------------------------------------------------


def _claim(counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo) -> int:
    assert seed_demo_month(counter, wf_client, cashier) == 3
    return build_claim(counter, previous_month(centre_today()), reviewer, today=centre_today()).claim.claim_id


def test_a_claim_chunk_the_centre_took_but_this_counter_could_not_record_is_not_sent_again_after_a_restart(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess, fail_recording: Callable[[Operation], None]) -> None:
    claim_id = _claim(counter, wf_client, cashier, reviewer)
    fail_recording(Operation.CLAIM_UPLOAD)
    with pytest.raises(WiCounterError) as failed:
        upload_claim(counter, wf_client, claim_id, reviewer)
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "月度结算申请", *CENTRE_DID_IT, *ON_RESTART)
    assert "患者" not in failed.value.message  # no patient waits at the window for a claim
    assert _calls(sandbox, "3301") == ["applied"]

    # The program is started again (a new centre client on the same books) and the upload resumed.
    restarted = open_workflow_centre(counter, reviewer)
    try:
        done = upload_claim(counter, restarted, claim_id, reviewer)
    finally:
        restarted.close()
    assert done.completed and done.claim.status is ClaimStatus.UPLOADED
    assert _calls(sandbox, "3301") == ["applied"]  # the one chunk, once
    with counter.transaction() as session:
        claim = session.get(MonthlyClaim, claim_id)
        assert claim is not None
        per_chunk = sandbox.summary()["claim_chunks"][claim.batch_no]["per_chunk"]
    assert {chunk: counts["applied"] for chunk, counts in per_chunk.items()} == {"1": 1}
    assert _entries(counter, Operation.CLAIM_UPLOAD) == [(OutboxState.SUCCEEDED, "query")]
    _nothing_open(counter)


def test_a_claim_chunk_whose_write_fails_says_the_centre_got_nothing(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess) -> None:
    claim_id = _claim(counter, wf_client, cashier, reviewer)
    with disk_full_writing(counter, Operation.CLAIM_UPLOAD), pytest.raises(WiCounterError) as failed:
        upload_claim(counter, wf_client, claim_id, reviewer)
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "月度结算申请", *CENTRE_DID_NOTHING)
    assert _calls(sandbox, "3301") == []
    assert _entries(counter, Operation.CLAIM_UPLOAD) == []

    done = upload_claim(counter, wf_client, claim_id, reviewer)
    assert done.completed and done.claim.status is ClaimStatus.UPLOADED
    assert _calls(sandbox, "3301") == ["applied"]


# --- 费用明细上传 (2301) ----------------------------------------------------------------------------------------


def _admitted(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, admission_no: str) -> int:
    _, outcome = admit_worker(ctx, client, actor, ZHANG_WEI_CARD, form(admission_no))
    assert outcome.stay_id is not None and outcome.registration_no is not None
    add_lines(ctx, outcome.stay_id, actor, 4)
    return outcome.stay_id


def test_fee_lines_the_centre_took_but_this_counter_could_not_record_are_not_sent_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        fail_recording: Callable[[Operation], None]) -> None:
    stay_id = _admitted(counter, wf_client, cashier, "ZY-DISK-F1")
    fail_recording(Operation.FEE_UPLOAD)
    with pytest.raises(WiCounterError) as failed:
        upload_ready_lines(counter, wf_client, stay_id, cashier)
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "费用明细上传", *CENTRE_DID_IT, *ON_RESTART)
    assert _calls(sandbox, "2301") == ["applied"]

    again = upload_ready_lines(counter, wf_client, stay_id, cashier)
    assert again.sent == 0  # the first call, resolved by its msgid, recorded the lines as uploaded
    assert _calls(sandbox, "2301") == ["applied"]  # no second 2301
    with counter.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ChargeLine).where(
            ChargeLine.stay_id == stay_id, ChargeLine.uploaded_at.is_(None))) == 0
    assert _entries(counter, Operation.FEE_UPLOAD) == [(OutboxState.SUCCEEDED, "query")]
    _nothing_open(counter)


def test_fee_lines_whose_write_fails_say_the_centre_got_nothing(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id = _admitted(counter, wf_client, cashier, "ZY-DISK-F2")
    with disk_full_writing(counter, Operation.FEE_UPLOAD), pytest.raises(WiCounterError) as failed:
        upload_ready_lines(counter, wf_client, stay_id, cashier)
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "费用明细上传", *CENTRE_DID_NOTHING)
    assert _calls(sandbox, "2301") == []
    with counter.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ChargeLine).where(
            ChargeLine.stay_id == stay_id, ChargeLine.uploaded_at.is_not(None))) == 0


# --- 撤销结算 (2305) --------------------------------------------------------------------------------------------


def test_a_cancellation_the_centre_made_but_this_counter_could_not_record_is_not_sent_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess, fail_recording: Callable[[Operation], None]) -> None:
    stay_id = _admitted(counter, wf_client, cashier, "ZY-DISK-C1")
    settled = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    fail_recording(Operation.SETTLEMENT_CANCEL)
    with pytest.raises(WiCounterError) as failed:
        cancel_settlement(counter, wf_client, settled.settlement_id, reviewer, "收费有误，重新结算")
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "撤销结算", *CENTRE_DID_IT, *ON_RESTART)
    assert _calls(sandbox, "2305") == ["applied"]

    with pytest.raises(WiCounterError) as again:
        cancel_settlement(counter, wf_client, settled.settlement_id, reviewer, "收费有误，重新结算")
    assert "已经撤销过" in again.value.message, again.value.message
    assert _calls(sandbox, "2305") == ["applied"]  # no second 2305
    assert sandbox.summary()["settlements"] == {"live": 0, "cancelled": 1, "reversed": 0}
    with counter.transaction() as session:
        cancellations = session.scalars(select(Settlement).where(
            Settlement.stay_id == stay_id, Settlement.kind == SettlementKind.CANCELLATION)).all()
        assert [c.reverses_id for c in cancellations] == [settled.settlement_id]
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status is StayStatus.PENDING_SETTLEMENT
    assert _entries(counter, Operation.SETTLEMENT_CANCEL) == [(OutboxState.SUCCEEDED, "query")]
    _nothing_open(counter)


def test_a_cancellation_whose_write_fails_says_the_centre_cancelled_nothing(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess) -> None:
    stay_id = _admitted(counter, wf_client, cashier, "ZY-DISK-C2")
    settled = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    with disk_full_writing(counter, Operation.SETTLEMENT_CANCEL), pytest.raises(WiCounterError) as failed:
        cancel_settlement(counter, wf_client, settled.settlement_id, reviewer, "收费有误，重新结算")
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "撤销结算", *CENTRE_DID_NOTHING)
    assert _calls(sandbox, "2305") == []
    assert sandbox.summary()["settlements"]["live"] == 1


# --- 撤销 / 更正入院登记 (2404) ------------------------------------------------------------------------------


def _registered(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, admission_no: str) -> int:
    _, outcome = admit_worker(ctx, client, actor, ZHANG_WEI_CARD, form(admission_no))
    assert outcome.stay_id is not None and outcome.registration_no is not None
    return outcome.stay_id


@pytest.mark.parametrize("how", ["cancel", "correct"])
def test_a_registration_cancelled_at_the_centre_but_not_recorded_here_is_not_cancelled_twice(
        how: str, counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess, fail_recording: Callable[[Operation], None]) -> None:
    stay_id = _registered(counter, wf_client, cashier, f"ZY-DISK-R-{how}")

    def act() -> object:
        if how == "cancel":
            return cancel_registration(counter, wf_client, stay_id, "登记错人", reviewer)
        return correct_registration(counter, wf_client, stay_id, "入院诊断录错", reviewer,
                                    diagnoses=(("S82.201", "胫骨干骨折"),))

    fail_recording(Operation.ADMISSION_CANCEL)
    with pytest.raises(WiCounterError) as failed:
        act()
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "撤销入院登记", *CENTRE_DID_IT, *ON_RESTART)
    assert _calls(sandbox, "2404") == ["applied"]

    with pytest.raises(WiCounterError) as again:
        act()
    assert "已撤销" in again.value.message, again.value.message
    assert _calls(sandbox, "2404") == ["applied"]  # no second 2404
    ((status, registration_no),) = _stays(counter, f"ZY-DISK-R-{how}")
    assert status is StayStatus.CANCELLED and registration_no is None
    assert _entries(counter, Operation.ADMISSION_CANCEL) == [(OutboxState.SUCCEEDED, "query")]
    _nothing_open(counter)


def test_a_registration_cancel_whose_write_fails_says_the_centre_cancelled_nothing(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess) -> None:
    stay_id = _registered(counter, wf_client, cashier, "ZY-DISK-R2")
    with disk_full_writing(counter, Operation.ADMISSION_CANCEL), pytest.raises(WiCounterError) as failed:
        cancel_registration(counter, wf_client, stay_id, "登记错人", reviewer)
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "撤销入院登记", *CENTRE_DID_NOTHING)
    assert _calls(sandbox, "2404") == []
    ((status, registration_no),) = _stays(counter, "ZY-DISK-R2")
    assert status is StayStatus.ADMITTED and registration_no


# --- 全额垫付补登记 (2306) -----------------------------------------------------------------------------------


def _paid_in_full(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, admission_no: str) -> tuple[int, int]:
    stay_id = _admitted(ctx, client, actor, admission_no)
    return stay_id, issue_full_payment(ctx, stay_id, actor, centre_today())


def test_a_backfill_the_centre_registered_but_this_counter_could_not_record_is_not_sent_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        fail_recording: Callable[[Operation], None]) -> None:
    stay_id, receipt_id = _paid_in_full(counter, wf_client, cashier, "ZY-DISK-B1")
    fail_recording(Operation.FULL_PAYMENT_REGISTRATION)
    with pytest.raises(WiCounterError) as failed:
        backfill(counter, wf_client, stay_id, cashier)
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "全额垫付补登记", *CENTRE_DID_IT, *ON_RESTART)
    assert _calls(sandbox, "2306") == ["applied"]

    with pytest.raises(WiCounterError) as again:
        backfill(counter, wf_client, stay_id, cashier)
    assert "不会重复补登记" in again.value.message, again.value.message
    assert _calls(sandbox, "2306") == ["applied"]  # no second 2306
    assert sandbox.summary()["registrations"]["paid_in_full"] == 1
    with counter.transaction() as session:
        receipt = session.get(FullPaymentReceipt, receipt_id)
        assert receipt is not None and receipt.backfilled_at is not None
    assert _entries(counter, Operation.FULL_PAYMENT_REGISTRATION) == [(OutboxState.SUCCEEDED, "query")]
    _nothing_open(counter)


def test_a_backfill_whose_write_fails_says_the_centre_registered_nothing(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id, receipt_id = _paid_in_full(counter, wf_client, cashier, "ZY-DISK-B2")
    with disk_full_writing(counter, Operation.FULL_PAYMENT_REGISTRATION), pytest.raises(WiCounterError) as failed:
        backfill(counter, wf_client, stay_id, cashier)
    assert isinstance(failed.value, StorageFailure)
    _says(failed.value.message, "全额垫付补登记", *CENTRE_DID_NOTHING)
    assert _calls(sandbox, "2306") == []
    with counter.transaction() as session:
        receipt = session.get(FullPaymentReceipt, receipt_id)
        assert receipt is not None and receipt.backfilled_at is None
