"""病案首页补齐 (`003 §16`: 出院结算时…病案首页可在7天内补齐): the deadline is watched for every live
settlement in a region whose seed sets it (Guangdong), until a cashier or reviewer marks it; Jilin and
Beijing have none; a cancelled settlement has none; marking is audited and refused where it makes no
sense."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from app.claims.calendar import load_calendar
from app.claims.watch import Watched, watch
from app.db import migrate
from app.db.models import AuditEvent, MedicalRecordCompletion
from app.errors import AuthenticationError
from app.masking import mask_id_number
from app.rules.profiles import Profile, load_profile
from app.workflow.common import WorkflowError
from app.workflow.medical_record import BEFORE_TRACKING, completions, mark_completed
from tests.claims.claim_fixtures import cancel, clerks, id_number, open_test_counter, settle_stay

GUANGDONG = load_profile("guangdong-intra")
JILIN = load_profile("jilin-intra")
BEIJING = load_profile("beijing-cross")
FRIDAY = dt.date(2026, 9, 18)  # +7 days: Fri 25 Sep, 中秋节 (25–27 Sep) → Mon 28 Sep


@pytest.fixture
def ctx(db_url: str):
    context = open_test_counter(db_url)
    yield context
    context.close()


def _records(ctx, profile: Profile, today: dt.date) -> list[Watched]:
    with ctx.transaction() as session:
        return [w for w in watch(session, profile=profile, calendar=load_calendar(None), today=today,
                                 warn_working_days=3) if w.deadline.kind == "medical_record"]


def _settle(ctx, settled: dt.date, name: str, serial: int) -> int:
    who = clerks(ctx)
    with ctx.transaction() as session:
        return settle_stay(session, who.cashier.id, settled=settled, name=name, serial=serial).id


def test_a_friday_settlement_is_due_seven_days_later_moved_past_the_holiday_then_overdue(ctx) -> None:
    """003 §16: 病案首页可在7天内补齐. Settled Friday 18 Sep 2026: the 7th day is Friday 25 Sep, the
    中秋节 holiday (25–27 Sep), so it is due the next working day, Monday 28 Sep; late on the 29th."""
    settlement_id = _settle(ctx, FRIDAY, "周病案", 710001)
    (item,) = _records(ctx, GUANGDONG, dt.date(2026, 9, 21))
    deadline = item.deadline
    assert deadline.due == dt.date(2026, 9, 28) and deadline.source == "003 §16"
    assert deadline.settlement_id == settlement_id
    # The subject names the stay and the patient, the ID masked, and the article.
    assert deadline.subject.startswith(f"住院号 ZY710001 周病案（{mask_id_number(id_number(710001))}）")
    assert id_number(710001) not in deadline.subject and "003 §16" in deadline.subject
    assert item.status.state == "ok" and item.status.working_days_left == 4  # 22, 23, 24, 28 Sep
    (on_the_day,) = _records(ctx, GUANGDONG, dt.date(2026, 9, 28))
    assert on_the_day.status.state == "due_soon" and on_the_day.needs_attention
    (late,) = _records(ctx, GUANGDONG, dt.date(2026, 9, 29))
    assert late.status.state == "overdue" and late.status.working_days_left == -1
    assert "已逾期 1 个工作日" in late.status.message
    # Still listed weeks later: an unmarked 病案首页 does not drop off the list.
    (much_later,) = _records(ctx, GUANGDONG, dt.date(2026, 11, 30))
    assert much_later.status.state == "overdue"

    # A plain Friday is not moved: settled 4 Dec 2026, due Friday 11 Dec.
    plain_id = _settle(ctx, dt.date(2026, 12, 4), "冯普通", 710002)
    plain = [w for w in _records(ctx, GUANGDONG, dt.date(2026, 12, 7)) if w.deadline.settlement_id == plain_id]
    assert [(w.deadline.due, w.status.state) for w in plain] == [(dt.date(2026, 12, 11), "ok")]

def test_jilin_and_beijing_set_no_such_deadline_and_refuse_the_mark(ctx) -> None:
    """Only 003 §16 sets a 病案首页 window: none in Jilin (002) or Beijing (001)."""
    settlement_id = _settle(ctx, FRIDAY, "卫吉林", 710003)
    who = clerks(ctx)
    for profile in (JILIN, BEIJING):
        assert _records(ctx, profile, dt.date(2026, 9, 29)) == []
        with pytest.raises(WorkflowError) as refused:
            mark_completed(ctx, settlement_id, who.cashier, profile=profile)
        assert "没有规定病案首页补齐期限" in refused.value.message and profile.title in refused.value.message
    with ctx.transaction() as session:
        assert session.scalars(select(MedicalRecordCompletion)).all() == []


def test_marked_by_a_cashier_it_leaves_the_list_audited_and_cannot_be_marked_twice(ctx) -> None:
    """003 §16: once the 病案首页 is complete the deadline is met: gone from the list, with who and when."""
    first = _settle(ctx, FRIDAY, "蒋首页", 710004)
    second = _settle(ctx, FRIDAY, "沈首页", 710005)
    who = clerks(ctx)
    done = mark_completed(ctx, first, who.cashier)  # the counter's own profile: guangdong-intra
    assert (done.settlement_id, done.admission_no, done.completed_by) == (first, "ZY710004", "张收款")
    assert [w.deadline.settlement_id for w in _records(ctx, GUANGDONG, dt.date(2026, 9, 29))] == [second]
    mark_completed(ctx, second, who.reviewer)  # a reviewer may mark it too
    assert _records(ctx, GUANGDONG, dt.date(2026, 9, 29)) == []
    with ctx.transaction() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "medical_record_completed")
                                 .order_by(AuditEvent.id)).all()
        assert [(e.entity_id, e.operator_id) for e in events] == [(str(first), who.cashier.id),
                                                                  (str(second), who.reviewer.id)]
        assert events[0].detail["source"] == "003 §16"
        assert completions(session, [first])[first].completed_by == "张收款"

    with pytest.raises(WorkflowError) as again:
        mark_completed(ctx, first, who.reviewer)
    assert "病案首页已于" in again.value.message and "由 张收款 登记补齐" in again.value.message
    with pytest.raises(WorkflowError) as missing:
        mark_completed(ctx, 999_999, who.cashier)
    assert missing.value.message == "没有编号为 999999 的结算记录。"
    # An operator object not minted by a password check is refused, whatever its role says.
    with pytest.raises(AuthenticationError):
        mark_completed(ctx, second, dataclasses.replace(who.reviewer, proof=b""))


def test_a_cancelled_settlement_has_no_deadline_and_cannot_be_marked(ctx) -> None:
    """A cancelled settlement is no discharge settlement any more (003 §16 applies to live ones)."""
    who = clerks(ctx)
    with ctx.transaction() as session:
        settlement = settle_stay(session, who.cashier.id, settled=FRIDAY, name="韩撤销", serial=710006)
        cancellation = cancel(session, settlement, who.reviewer.id, FRIDAY + dt.timedelta(days=1))
        settlement_id, cancellation_id = settlement.id, cancellation.id
    assert _records(ctx, GUANGDONG, dt.date(2026, 9, 29)) == []
    with pytest.raises(WorkflowError) as refused:
        mark_completed(ctx, settlement_id, who.cashier)
    assert "已撤销" in refused.value.message and "住院号 ZY710006 韩撤销" in refused.value.message
    with pytest.raises(WorkflowError) as reversal:
        mark_completed(ctx, cancellation_id, who.cashier)
    assert "冲销记录" in reversal.value.message


@pytest.mark.real_migrations
def test_migration_0017_marks_only_the_settlements_long_past_their_days(tmp_path) -> None:
    """Upgrading: settlements more than 30 days old were handled before the counter kept the record
    (their 7 days, 003 §16, long over); recent ones stay on the list for a clerk to mark."""
    ctx = open_test_counter(f"sqlite:///{tmp_path / 'upgrade.sqlite3'}")
    try:
        today = dt.date.today()
        old = _settle(ctx, today - dt.timedelta(days=45), "旧结算", 710007)
        recent = _settle(ctx, today - dt.timedelta(days=3), "新结算", 710008)
        migrate.downgrade(ctx.engine, "0016")
        migrate.upgrade(ctx.engine)
        with ctx.transaction() as session:
            found = completions(session, [old, recent])
        assert list(found) == [old] and found[old].completed_by == BEFORE_TRACKING
        assert [w.deadline.settlement_id for w in _records(ctx, GUANGDONG, today)] == [recent]
    finally:
        ctx.close()
