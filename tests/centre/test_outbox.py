"""The outbox against an in-process centre: write before send, resolve unknown outcomes by msgid,
never lose, never double. Every test runs on SQLite and PostgreSQL (`db_url`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.centre import wire
from app.centre.gateway import (
    CallOutcome,
    CentreRefused,
    CentreUnavailable,
    Operation,
    OutboxNotClear,
    OutcomeState,
    OutcomeUnknown,
    SettlementFigures,
    SettlementRequest,
)
from app.centre.outbox import (
    FOREIGN,
    CallVoided,
    ForeignResult,
    LocalConflict,
    Outbox,
    allocate_msgid,
    store_terminal,
)
from app.db import migrate
from app.db.engine import make_engine, make_session_factory
from app.db.models import OutboxEntry, OutboxState
from tests.centre.fake_centre import FakeCentre

INSTITUTION = "H44080100001"
REQUEST = SettlementRequest(registration_no="ZY0001", discharged=dt.date(2026, 11, 30))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def outbox_for(sessions: sessionmaker[Session], centre: FakeCentre, **options: Any) -> Outbox:
    options.setdefault("resolve_pauses", (0.0,))
    return Outbox(sessions, centre, INSTITUTION, "1号窗口", **options)


def settle(outbox: Outbox, request: SettlementRequest = REQUEST) -> SettlementFigures:
    return outbox.call(Operation.SETTLEMENT, request, lambda msgid: outbox.centre.settle(msgid, request))  # type: ignore[attr-defined]


def entries(sessions: sessionmaker[Session]) -> list[OutboxEntry]:
    with sessions() as session:
        return list(session.scalars(select(OutboxEntry).order_by(OutboxEntry.seq)))


# --- the msgid sequence ---------------------------------------------------------------------


def test_msgids_follow_the_format_and_the_sequence(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        issued = [allocate_msgid(session, INSTITUTION) for _ in range(5)]
    numbers = [number for number, _ in issued]
    assert numbers == list(range(numbers[0], numbers[0] + 5))
    msgids = [msgid for _, msgid in issued]
    assert msgids == sorted(msgids) and len(set(msgids)) == 5
    for _, msgid in issued:
        assert wire.msgid_problem(msgid, INSTITUTION) is None
        # The 4-digit sequence: 终端号 (none registered yet: "00") + the slot within the second.
        assert wire.msgid_terminal(msgid) == wire.UNREGISTERED_TERMINAL
        stamp = dt.datetime.strptime(msgid[12:26], "%Y%m%d%H%M%S").replace(tzinfo=wire.CHINA_TZ)
        assert abs((stamp - dt.datetime.now(dt.UTC)).total_seconds()) < 60  # Beijing time, now


def test_msgids_carry_the_registered_terminal_and_stay_unique_in_a_burst_or_with_the_clock_set_back(
        sessions: sessionmaker[Session]) -> None:
    """Issue 21: the 终端号 is part of every msgid; 100 slots a second, the 101st takes the next
    second; a clock set back never reuses a second."""
    with sessions.begin() as session:
        store_terminal(session, "07")
        burst = [allocate_msgid(session, INSTITUTION)[1] for _ in range(250)]
    assert len(set(burst)) == 250 and burst == sorted(burst)
    assert {wire.msgid_terminal(m) for m in burst} == {"07"}
    assert all(wire.msgid_problem(m, INSTITUTION) is None for m in burst)
    assert len({m[12:26] for m in burst}) >= 3  # 250 in one burst span at least three seconds

    # The last msgid was made an hour ahead of this clock (the clock has since been set back).
    ahead = (dt.datetime.now(wire.CHINA_TZ) + dt.timedelta(hours=1)).strftime("%Y%m%d%H%M%S")
    with sessions.begin() as session:
        session.execute(text("UPDATE centre_msgid_counter SET value = :v WHERE name = 'msgid_clock'"),
                        {"v": int(ahead) * 100 + 5})
        later = [allocate_msgid(session, INSTITUTION)[1] for _ in range(3)]
    assert [m[12:26] for m in later] == [ahead] * 3 and [m[28:] for m in later] == ["06", "07", "08"]
    assert later == sorted(later) and later[0] > burst[-1]  # never back in time, never a repeat


def test_msgids_are_unique_and_monotonic_across_counters_sharing_the_database(db_url: str) -> None:
    """Two counters (two engines, as two processes would have), four threads each, at once."""
    engines = [make_engine(db_url), make_engine(db_url)]
    for engine in engines:
        migrate.upgrade(engine)
    issued: list[tuple[int, str]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def counter(engine: Engine) -> None:
        factory = make_session_factory(engine)
        mine: list[tuple[int, str]] = []
        try:
            for _ in range(15):
                with factory.begin() as session:
                    mine.append(allocate_msgid(session, INSTITUTION))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        # Each counter sees its own numbers rise.
        assert [n for n, _ in mine] == sorted(n for n, _ in mine)
        with lock:
            issued.extend(mine)

    threads = [threading.Thread(target=counter, args=(engines[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert not errors
    assert len(issued) == 120
    assert len({msgid for _, msgid in issued}) == 120
    assert len({number for number, _ in issued}) == 120
    # The msgid order is the issue order.
    assert [msgid for _, msgid in sorted(issued)] == sorted(msgid for _, msgid in issued)


# --- sending --------------------------------------------------------------------------------


def test_a_call_is_written_before_it_is_sent(sessions: sessionmaker[Session]) -> None:
    centre = FakeCentre()
    outbox = outbox_for(sessions, centre)
    seen: list[OutboxEntry] = []

    def send(msgid: str) -> SettlementFigures:
        # At the moment of sending, the entry is already committed (another session sees it).
        with sessions() as session:
            seen.extend(session.scalars(select(OutboxEntry).where(OutboxEntry.msgid == msgid)))
        return centre.settle(msgid, REQUEST)

    result = outbox.call(Operation.SETTLEMENT, REQUEST, send, stay_id=None)
    assert len(seen) == 1 and seen[0].state is OutboxState.SENT
    assert seen[0].request["registration_no"] == "ZY0001"
    [entry] = entries(sessions)
    assert entry.state is OutboxState.SUCCEEDED and entry.resolution == "reply"
    assert entry.response is not None and entry.response["settlement_id"] == result.settlement_id
    assert entry.response["total"] == "100.00"  # money as a string, never a float
    assert entry.lease_owner is None
    assert centre.applied_count(Operation.SETTLEMENT) == 1


def test_the_local_effect_is_applied_in_the_same_transaction(sessions: sessionmaker[Session]) -> None:
    applied: list[tuple[str, str]] = []

    def record(session: Session, entry: OutboxEntry, result: Any) -> None:
        assert entry.state is OutboxState.SUCCEEDED
        applied.append((entry.msgid, result.settlement_id))

    outbox = outbox_for(sessions, FakeCentre(), appliers={Operation.SETTLEMENT: record})
    result = settle(outbox)
    assert applied == [(entries(sessions)[0].msgid, result.settlement_id)]


def test_a_refusal_is_final_and_nothing_is_applied(sessions: sessionmaker[Session]) -> None:
    centre = FakeCentre(faults=["refuse"])
    outbox = outbox_for(sessions, centre)
    with pytest.raises(CentreRefused) as refused:
        settle(outbox)
    assert refused.value.code == "9001"
    [entry] = entries(sessions)
    assert entry.state is OutboxState.FAILED and "9001" in (entry.error or "")
    assert centre.applied_count(Operation.SETTLEMENT) == 0


def test_an_unreachable_centre_fails_the_call_without_sending(sessions: sessionmaker[Session]) -> None:
    centre = FakeCentre(faults=["unreachable"])
    outbox = outbox_for(sessions, centre)
    with pytest.raises(CentreUnavailable):
        settle(outbox)
    [entry] = entries(sessions)
    assert (entry.state, entry.resolution) == (OutboxState.FAILED, "unsent")
    # Not an open entry: new work is accepted at once.
    settle(outbox)
    assert centre.applied_count(Operation.SETTLEMENT) == 1


# --- unknown outcomes -----------------------------------------------------------------------


def test_a_dropped_reply_is_completed_from_the_query(sessions: sessionmaker[Session]) -> None:
    centre = FakeCentre(faults=["drop_reply"])
    outbox = outbox_for(sessions, centre)
    result = settle(outbox)
    [entry] = entries(sessions)
    assert (entry.state, entry.resolution) == (OutboxState.SUCCEEDED, "query")
    assert entry.response is not None and entry.response["settlement_id"] == result.settlement_id
    assert centre.applied_count(Operation.SETTLEMENT) == 1


def test_a_lost_request_is_voided_so_a_late_copy_is_refused(sessions: sessionmaker[Session]) -> None:
    centre = FakeCentre(faults=["hold"])
    outbox = outbox_for(sessions, centre)
    with pytest.raises(CallVoided):
        settle(outbox)
    original, reversal = entries(sessions)
    assert (original.state, original.resolution) == (OutboxState.FAILED, "voided")
    assert reversal.operation == Operation.REVERSAL.value and reversal.reverses_msgid == original.msgid
    assert reversal.state is OutboxState.SUCCEEDED
    # The delayed request finally arrives: the centre refuses it, nothing is applied.
    assert centre.deliver_held() == ["1009"]
    assert centre.applied_count(Operation.SETTLEMENT) == 0
    # The clerk starts over under a new msgid: exactly one settlement.
    settle(outbox)
    assert centre.applied_count(Operation.SETTLEMENT) == 1


def test_an_unresolvable_call_blocks_new_work_until_resolved(sessions: sessionmaker[Session]) -> None:
    centre = FakeCentre(faults=["drop_reply"], query_faults=["unreachable"])
    outbox = outbox_for(sessions, centre)
    with pytest.raises(OutcomeUnknown) as unknown:
        settle(outbox)
    [entry] = entries(sessions)
    assert entry.state is OutboxState.SENT and unknown.value.msgid == entry.msgid
    # The centre still cannot be asked: no new work.
    centre.query_faults.append("unreachable")
    with pytest.raises(OutboxNotClear):
        settle(outbox, SettlementRequest(registration_no="ZY0002", discharged=dt.date(2026, 11, 30)))
    assert centre.applied_count(Operation.SETTLEMENT) == 1
    # The centre answers again: the next call first completes the open one, then runs.
    settle(outbox, SettlementRequest(registration_no="ZY0002", discharged=dt.date(2026, 11, 30)))
    first, second = entries(sessions)
    assert (first.state, first.resolution) == (OutboxState.SUCCEEDED, "query")
    assert second.state is OutboxState.SUCCEEDED
    assert centre.applied_count(Operation.SETTLEMENT) == 2


def test_a_refused_outcome_query_leaves_the_call_unknown_not_refused(sessions: sessionmaker[Session]) -> None:
    """The reply was lost and the query by msgid is refused (session lapsed): the call may still
    have been applied, so the clerk is told "unknown" and the entry stays open for the resolver."""
    centre = FakeCentre(faults=["drop_reply"], query_faults=["not_signed_in"])
    outbox = outbox_for(sessions, centre)
    with pytest.raises(OutcomeUnknown):
        settle(outbox)
    [entry] = entries(sessions)
    assert entry.state is OutboxState.SENT
    outbox.resolve_open()
    [entry] = entries(sessions)
    assert (entry.state, entry.resolution) == (OutboxState.SUCCEEDED, "query")
    assert centre.applied_count(Operation.SETTLEMENT) == 1


def test_a_crashed_counters_entry_is_resolved_on_restart(sessions: sessionmaker[Session]) -> None:
    """The process died between send and reply: its lease names a dead process of this host."""
    centre = FakeCentre()
    before = outbox_for(sessions, centre)
    with sessions.begin() as session:
        number, msgid = allocate_msgid(session, INSTITUTION)
        session.add(OutboxEntry(
            seq=number, msgid=msgid, txn_code="2304", operation="settlement", counter_name="1号窗口",
            request={}, state=OutboxState.SENT, attempts=1,
            lease_owner=before.owner.rsplit(":", 1)[0] + ":999999999",
            lease_until=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        ))
    centre._apply_settlement(msgid, REQUEST)  # it had reached the centre
    restarted = outbox_for(sessions, centre)
    [resolution] = restarted.resolve_open()
    assert (resolution.state, resolution.resolution) == (OutboxState.SUCCEEDED, "query")
    assert centre.applied_count(Operation.SETTLEMENT) == 1


def test_an_entry_a_live_counter_waits_on_is_left_alone(sessions: sessionmaker[Session]) -> None:
    centre = FakeCentre()
    with sessions.begin() as session:
        number, msgid = allocate_msgid(session, INSTITUTION)
        session.add(OutboxEntry(
            seq=number, msgid=msgid, txn_code="2304", operation="settlement", counter_name="2号窗口",
            request={}, state=OutboxState.SENT, attempts=1, lease_owner="2号窗口@other-host:42",
            lease_until=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
        ))
    outbox = outbox_for(sessions, centre)
    assert outbox.resolve_open() == []
    settle(outbox)  # and it does not block this counter's work
    with sessions() as session:
        states = dict(session.execute(select(OutboxEntry.msgid, OutboxEntry.state)).all())
    assert states[msgid] is OutboxState.SENT


# --- reversal -------------------------------------------------------------------------------


def test_an_applied_call_the_counter_cannot_record_is_reversed(sessions: sessionmaker[Session]) -> None:
    def refuse(session: Session, entry: OutboxEntry, result: Any) -> None:
        raise LocalConflict("住院记录已被其他窗口修改")

    centre = FakeCentre()
    outbox = outbox_for(sessions, centre, appliers={Operation.SETTLEMENT: refuse})
    with pytest.raises(CentreRefused) as refused:
        settle(outbox)
    assert "冲正" in refused.value.message
    original, reversal = entries(sessions)
    assert (original.state, original.resolution) == (OutboxState.REVERSED, "reversed")
    assert reversal.state is OutboxState.SUCCEEDED
    assert centre.records[original.msgid].state is OutcomeState.REVERSED
    assert centre.live_settlements == {}


def test_a_result_about_someone_elses_records_is_neither_recorded_nor_reversed(
        sessions: sessionmaker[Session]) -> None:
    """Issue 21: another registration's settlement must never be undone by this counter."""
    def foreign(session: Session, entry: OutboxEntry, result: Any) -> None:
        raise ForeignResult("中心结算的就医登记号 ZY0002 不是本次住院的 ZY0001")

    centre = FakeCentre()
    outbox = outbox_for(sessions, centre, appliers={Operation.SETTLEMENT: foreign})
    with pytest.raises(CentreRefused) as refused:
        settle(outbox)
    assert "未冲正" in refused.value.message and "复核" in refused.value.message
    [original] = entries(sessions)  # no 2601 written
    assert (original.state, original.resolution) == (OutboxState.FAILED, FOREIGN)
    assert centre.records[original.msgid].state is OutcomeState.APPLIED  # untouched at the centre


class _ForeignRecords(FakeCentre):
    """A centre whose record of every msgid is someone else's request (another fingerprint)."""

    def fingerprint(self, operation: Operation, request: Any) -> str:
        return "ours"

    def query_outcome(self, original_msgid: str, operation: Operation) -> CallOutcome:
        found = super().query_outcome(original_msgid, operation)
        return dataclasses.replace(found, fingerprint="theirs")


def test_an_outcome_whose_request_is_not_ours_is_neither_applied_nor_reversed(
        sessions: sessionmaker[Session]) -> None:
    applied: list[str] = []

    def record(session: Session, entry: OutboxEntry, result: Any) -> None:
        applied.append(entry.msgid)

    centre = _ForeignRecords()
    outbox = outbox_for(sessions, centre, appliers={Operation.SETTLEMENT: record})
    centre.faults.append("drop_reply")  # applied at the centre, reply lost: resolved by 5101
    with pytest.raises(CentreRefused) as refused:
        settle(outbox)
    assert "另一笔交易" in refused.value.message and "未冲正" in refused.value.message
    [entry] = entries(sessions)
    assert (entry.state, entry.resolution) == (OutboxState.FAILED, FOREIGN)
    assert entry.fingerprint == "ours" and applied == []
    assert centre.records[entry.msgid].state is OutcomeState.APPLIED  # never reversed
    outbox.require_clear()  # closed: it does not block the counter's next work


def test_a_reversal_whose_reply_is_lost_is_resolved(sessions: sessionmaker[Session]) -> None:
    centre = FakeCentre()
    outbox = outbox_for(sessions, centre)
    settle(outbox)
    [original] = entries(sessions)
    centre.faults.append("drop_reply")
    result = outbox.reverse(original.msgid)
    assert result.outcome is OutcomeState.REVERSED
    original, reversal = entries(sessions)
    assert original.state is OutboxState.REVERSED
    assert (reversal.state, reversal.resolution) == (OutboxState.SUCCEEDED, "query")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEntry)
                              .where(OutboxEntry.state.in_([OutboxState.PENDING, OutboxState.SENT]))) == 0
