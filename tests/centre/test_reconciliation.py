"""Day-end reconciliation (对账) against the real sandbox centre: totals first, details only where
they differ, every difference stored and listed for a reviewer (issue 9 §6, like 3201/3202)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import Operation, SettlementRequest
from app.centre.reconciliation import DayEndReconciler, list_differences, review_difference
from app.sandbox.store import DATABASE_NAME
from app.cli import main
from app.db.models import CentreCallLog, OutboxEntry, OutboxState, Reconciliation
from app.errors import PermissionDenied
from app.operators import OperatorInfo
from app.workflow.discharge import cancel_settlement, settle_stay
from tests.centre.client_fixtures import admission_of, fee_lines
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    ZHANG_WEI_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    centre_today,
    form,
)
from tests.signed_in import password_on_stdin


LIU_YANG_CARD = "K44080011"  # 刘洋: local


def _settled(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, card: str, admission_no: str) -> int:
    _, outcome = admit_worker(ctx, client, actor, card, form(admission_no))
    assert outcome.stay_id is not None
    add_lines(ctx, outcome.stay_id, actor, 6)
    return settle_stay(ctx, client, outcome.stay_id, actor, centre_today()).settlement_id


def _detail_calls(ctx: CounterContext) -> int:
    with ctx.transaction() as session:
        return session.scalar(select(func.count()).select_from(CentreCallLog).where(
            CentreCallLog.operation == Operation.DAILY_DETAILS.value)) or 0


def home_args(counter: CounterContext, db_url: str) -> list[str]:
    return ["--home", str(counter.paths.config_dir.parent), "--db", db_url]


def _centre_db(sandbox: SandboxProcess) -> sqlite3.Connection:
    return sqlite3.connect(sandbox.data / DATABASE_NAME, isolation_level=None)


def test_books_that_agree_are_checked_by_totals_alone(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess) -> None:
    first = _settled(counter, wf_client, cashier, ZHANG_WEI_CARD, "ZY-REC-1")
    _settled(counter, wf_client, cashier, LIU_YANG_CARD, "ZY-REC-2")
    cancel_settlement(counter, wf_client, first, reviewer, "收费有误")

    result = DayEndReconciler(counter.sessions, wf_client, counter.counter_name).run(centre_today(), reviewer)

    assert result.agrees and not result.details_compared
    assert result.counter["settlement"].count == 2 and result.counter["cancellation"].count == 1
    assert result.counter == result.centre
    assert result.counter["cancellation"].total < Decimal("0")  # a cancellation negates its settlement
    assert _detail_calls(counter) == 0  # 3202 is not asked for when 3201 agrees
    with counter.transaction() as session:
        run = session.get(Reconciliation, result.reconciliation_id)
        assert run is not None and run.agrees and run.centre_totals["settlement"]["count"] == 2
        assert list_differences(session) == []


def test_every_kind_of_difference_is_found_by_msgid_and_listed_for_a_reviewer(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess) -> None:
    changed = _settled(counter, wf_client, cashier, ZHANG_WEI_CARD, "ZY-REC-3")
    lost = _settled(counter, wf_client, cashier, LIU_YANG_CARD, "ZY-REC-4")
    with counter.transaction() as session:
        settlements = session.scalars(select(OutboxEntry).where(
            OutboxEntry.operation == Operation.SETTLEMENT.value).order_by(OutboxEntry.seq)).all()
        changed_msgid, lost_msgid = settlements[0].msgid, settlements[1].msgid
    assert changed and lost
    # The centre corrected one settlement's fund part, and lost (reversed) another.
    with _centre_db(sandbox) as centre:
        (total,) = centre.execute("SELECT total FROM settlement WHERE msgid = ?", (changed_msgid,)).fetchone()
        centre.execute("UPDATE settlement SET fund_total = '1.00', personal_total = ? WHERE msgid = ?",
                       (str(Decimal(total) - Decimal("1.00")), changed_msgid))
        centre.execute("UPDATE settlement SET status = 'reversed' WHERE msgid = ?", (lost_msgid,))
    # A settlement made through the client alone: the outbox knows the centre did it, yet no
    # settlement row was booked for it.
    admission = wf_client.register_admission(admission_of(admission_no="ZY-REC-5"))
    wf_client.upload_fees(admission.registration_no, fee_lines(3), insured_region="440800")
    wf_client.settle(SettlementRequest(admission.registration_no, centre_today()))

    result = DayEndReconciler(counter.sessions, wf_client, counter.counter_name).run(centre_today(), reviewer)

    assert not result.agrees and result.details_compared
    kinds = {d.msgid: d.kind for d in result.differences}
    assert kinds[changed_msgid] == "amount_differs" and kinds[lost_msgid] == "only_here"
    assert sorted(kinds.values()) == ["amount_differs", "not_booked", "only_here"]
    amount = next(d for d in result.differences if d.kind == "amount_differs")
    assert amount.centre is not None and amount.centre.fund_total == Decimal("1.00")
    assert amount.counter is not None and amount.counter.fund_total != Decimal("1.00")

    # As if the counter had lost track of the client-only settlement: a plain 单边账 at the centre.
    with counter.transaction() as session:
        entry = session.scalars(select(OutboxEntry).where(OutboxEntry.operation == Operation.SETTLEMENT.value)
                                .order_by(OutboxEntry.seq.desc())).first()
        assert entry is not None
        entry.state = OutboxState.FAILED
        orphan = entry.msgid
    again = DayEndReconciler(counter.sessions, wf_client, counter.counter_name).run(centre_today(), reviewer)
    assert {d.msgid: d.kind for d in again.differences}[orphan] == "only_at_centre"

    with counter.transaction() as session:
        listed = list_differences(session)  # the latest run of the day supersedes the first
        assert sorted(d.kind for d in listed) == ["amount_differs", "only_at_centre", "only_here"]
        target = next(d for d in listed if d.kind == "only_here")
        with pytest.raises(PermissionDenied):
            review_difference(session, target.id, cashier, "已核对", counter.counter_name)
    with counter.transaction() as session:
        review_difference(session, target.id, reviewer, "中心已冲正，本机撤销后重新结算", counter.counter_name)
    with counter.transaction() as session:
        assert target.id not in [d.id for d in list_differences(session)]
        assert [d.review_note for d in list_differences(session, open_only=False) if d.id == target.id] == [
            "中心已冲正，本机撤销后重新结算"]


def test_the_commands_reconcile_list_and_record_the_review(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess, db_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _settled(counter, wf_client, cashier, ZHANG_WEI_CARD, "ZY-REC-6")
    assert main(["centre", "reconcile", *home_args(counter, db_url)]) == 0
    out = capsys.readouterr().out
    assert "结算：中心 1 笔" in out and "本机 1 笔" in out and "一致 / the books agree" in out

    with _centre_db(sandbox) as centre:
        centre.execute("UPDATE settlement SET status = 'reversed'")
    assert main(["centre", "reconcile", "--date", centre_today().isoformat(), *home_args(counter, db_url)]) == 1
    out = capsys.readouterr().out
    assert "本机有、中心无（结算）" in out and "不一致" in out

    assert main(["centre", "differences", *home_args(counter, db_url)]) == 1
    out = capsys.readouterr().out
    difference_id = int(out.split("[", 1)[1].split("]", 1)[0])
    assert "待处理" in out
    password_on_stdin(monkeypatch)
    assert main(["centre", "review", str(difference_id), "--note", "已通知中心", "--operator", "cashier",
                 "--password-stdin", *home_args(counter, db_url)]) == 1
    assert "无权" in capsys.readouterr().out
    assert main(["centre", "review", str(difference_id), "--note", "已通知中心", "--operator", "reviewer",
                 *home_args(counter, db_url)]) == 1  # the reviewer's name without the password
    assert "密码" in capsys.readouterr().out
    password_on_stdin(monkeypatch)
    assert main(["centre", "review", str(difference_id), "--note", "已通知中心", "--operator", "reviewer",
                 "--password-stdin", *home_args(counter, db_url)]) == 0
    assert main(["centre", "differences", *home_args(counter, db_url)]) == 0
    assert "没有待处理的对账差异" in capsys.readouterr().out


def test_the_days_still_owed_a_reconciliation(counter: CounterContext) -> None:
    """Business days before today with settlements and no run yet; today is left for its own day end."""
    import datetime as dt

    from app.centre.reconciliation import days_to_reconcile

    today = dt.date(2026, 12, 3)

    def msgid(day: dt.date, seq: int) -> str:
        return f"H44080100001{day:%Y%m%d}093000{seq:04d}"

    entries = [(today - dt.timedelta(days=2), Operation.SETTLEMENT, OutboxState.SUCCEEDED),
               (today - dt.timedelta(days=1), Operation.SETTLEMENT_CANCEL, OutboxState.SUCCEEDED),
               (today - dt.timedelta(days=3), Operation.SETTLEMENT, OutboxState.FAILED),  # refused: nothing to check
               (today - dt.timedelta(days=4), Operation.FEE_UPLOAD, OutboxState.SUCCEEDED),  # not a settlement
               (today - dt.timedelta(days=40), Operation.SETTLEMENT, OutboxState.SUCCEEDED),  # beyond the look-back
               (today, Operation.SETTLEMENT, OutboxState.SUCCEEDED)]
    with counter.transaction() as session:
        for seq, (day, operation, state) in enumerate(entries, start=1):
            session.add(OutboxEntry(seq=seq, msgid=msgid(day, seq), txn_code="2303", operation=operation.value,
                                    counter_name="窗口1", request={}, state=state))
        session.add(Reconciliation(business_date=today - dt.timedelta(days=1), counter_name="窗口1",
                                   centre_totals={}, counter_totals={}, details_compared=False, agrees=True))
    with counter.transaction() as session:
        assert days_to_reconcile(session, today) == [today - dt.timedelta(days=2)]
