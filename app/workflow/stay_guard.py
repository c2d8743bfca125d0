"""Several counters on one database (`docs/multi-counter.md`): one counter at a time settles a stay,
and a counter that comes second is told who came first.

- `settling(ctx, stay_id, holder)`: while one counter settles a stay (upload, second check, the
  centre's settlement — seconds of calls), another counter that starts settling the same stay
  waits for it, then finds it settled and is refused by name. PostgreSQL: a transaction-scoped
  advisory lock on a connection of its own, named after the counter (`application_name`) so
  that a counter still waiting after `WAIT_SECONDS` can say who holds it; released when the
  settlement ends or its process dies. Row locks are not used: the outbox's own transactions
  update the stay meanwhile. SQLite (one counter per database file): a lock per process.
- `settled_by`, `admitted_by`: the Chinese words for "who did it, when" in those refusals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.centre.wire import CHINA_TZ
from app.db.models import AuditEvent, Operator, OutboxEntry, Settlement, SettlementKind, Stay
from app.operators import OperatorInfo
from app.workflow.common import WorkflowError

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient

P = ParamSpec("P")
R = TypeVar("R")

_PG_SETTLING_LOCK = 727_274_009  # the advisory key's first half: "a stay being settled" (second: the stay id)
WAIT_SECONDS = 30.0  # a settlement with the centre answering takes seconds; longer: say who holds it
_POLL_SECONDS = 0.05
_APPLICATION_PREFIX = "wi-counter "

_local_locks: dict[tuple[str, int], threading.Lock] = {}
_local_guard = threading.Lock()


def _busy(holder: str | None) -> WorkflowError:
    who = holder or "其他窗口"
    return WorkflowError(f"本次住院正由{who}办理结算，请稍候刷新查看结果，不要重复结算。")


@contextmanager
def settling(ctx: CounterContext, stay_id: int, holder: str, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the stay's settling lock for the block; WorkflowError (who holds it) after `wait` seconds."""
    if ctx.engine.dialect.name != "postgresql":
        with _local_guard:
            lock = _local_locks.setdefault((str(ctx.engine.url), stay_id), threading.Lock())
        if not lock.acquire(timeout=wait):
            raise _busy(None)
        try:
            yield
        finally:
            lock.release()
        return
    with ctx.engine.connect() as connection:
        # Both the name and the lock last until this connection's transaction ends (rollback below).
        connection.execute(text("SELECT set_config('application_name', :name, true)"),
                           {"name": _APPLICATION_PREFIX + holder})
        deadline = time.monotonic() + wait
        while not connection.execute(text("SELECT pg_try_advisory_xact_lock(:key, :stay)"),
                                     {"key": _PG_SETTLING_LOCK, "stay": stay_id}).scalar_one():
            if time.monotonic() > deadline:
                raise _busy(_holder(connection, stay_id))
            time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            connection.rollback()


def _holder(connection: Connection, stay_id: int) -> str | None:
    name = connection.execute(text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.classid = :key AND l.objid = :stay AND l.objsubid = 2 AND l.granted"
    ), {"key": _PG_SETTLING_LOCK, "stay": stay_id}).scalar()
    if not name or not str(name).startswith(_APPLICATION_PREFIX):
        return None
    return str(name)[len(_APPLICATION_PREFIX):]


def one_counter_at_a_time(
    settle: Callable[Concatenate[CounterContext, CentreClient, int, OperatorInfo, P], R],
) -> Callable[Concatenate[CounterContext, CentreClient, int, OperatorInfo, P], R]:
    """Decorate a settling step `(ctx, client, stay_id, actor, ...)`: it runs under `settling`."""

    @wraps(settle)
    def guarded(ctx: CounterContext, client: CentreClient, stay_id: int, actor: OperatorInfo,
                *args: P.args, **kwargs: P.kwargs) -> R:
        with settling(ctx, stay_id, f"{ctx.counter_name}（{actor.display_name}）"):
            return settle(ctx, client, stay_id, actor, *args, **kwargs)

    return guarded


# --- a stay's lines frozen while it is being settled (issue 21 B4) ----------------------------------

LINES_FROZEN = "结算正在进行，费用明细暂不能修改。请等结算完成（或撤销结算）后再改。"


def settling_now(session: Session, stay_id: int) -> bool:
    """True while a counter settles the stay: its settling lock is held (PostgreSQL: by any counter;
    SQLite: by this process), or a settlement call of the stay is written and not yet answered."""
    from app.centre.gateway import Operation
    from app.db.models import OutboxState

    if session.scalar(select(OutboxEntry.id).where(
            OutboxEntry.stay_id == stay_id, OutboxEntry.operation == Operation.SETTLEMENT.value,
            OutboxEntry.state.in_([OutboxState.SENT, OutboxState.PENDING])).limit(1)) is not None:
        return True
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # pg_locks lists the whole server's locks: only this database's settling lock counts.
        return bool(session.execute(text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = :key "
            "AND objid = :stay AND objsubid = 2 AND granted AND pid <> pg_backend_pid() "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
        ), {"key": _PG_SETTLING_LOCK, "stay": stay_id}).scalar())
    with _local_guard:
        lock = _local_locks.get((str(bind.engine.url), stay_id))
    return lock is not None and lock.locked()


def refuse_while_settling(session: Session, stay_id: int) -> None:
    """Adding, correcting or refunding a line while the stay's settlement is on its way would leave
    the line outside the settlement (settled 228.00 with 10 lines while the stay had 11)."""
    if settling_now(session, stay_id):
        raise WorkflowError(LINES_FROZEN)


# --- who did it -----------------------------------------------------------------------------------


def _clerk(session: Session, operator_id: int | None) -> str:
    name = session.scalar(select(Operator.display_name).where(Operator.id == operator_id)) if operator_id else None
    return name or "未知操作员"


def settled_by(session: Session, stay_id: int) -> str | None:
    """"由2号窗口（收款员乙）于 2026-12-03 10:15 结算（结算记录 7）" for the stay's settlement in force."""
    cancelled = select(Settlement.reverses_id).where(Settlement.reverses_id.is_not(None))
    settlement = session.scalars(select(Settlement).where(
        Settlement.stay_id == stay_id, Settlement.kind == SettlementKind.SETTLEMENT,
        Settlement.id.not_in(cancelled)).order_by(Settlement.id.desc()).limit(1)).first()
    if settlement is None:
        return None
    counter = session.scalar(select(OutboxEntry.counter_name).where(OutboxEntry.msgid == settlement.msgid))
    when = settlement.settled_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    return (f"由{counter or '其他窗口'}（{_clerk(session, settlement.operator_id)}）于 {when} 结算"
            f"（结算记录 {settlement.id}）")


def admitted_by(session: Session, stay: Stay) -> str:
    """"由1号窗口（收款员甲）于 2026-12-03 10:02 登记" for the stay's admission."""
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "stay_admitted", AuditEvent.entity_type == "stay",
        AuditEvent.entity_id == str(stay.id)).order_by(AuditEvent.id.desc()).limit(1)).first()
    if event is None:
        return f"由{_clerk(session, stay.created_by)}登记"
    when = event.occurred_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    return f"由{event.counter_name}（{_clerk(session, event.operator_id)}）于 {when} 登记"
