"""Day-end reconciliation (对账) with the centre, like the medical-insurance platform's 3201/3202.

1. Totals first: the counter's settlements and cancellations of the business day (count, 费用总额,
   基金支付, 个人支付) against the centre's totals (3201).
2. Only where they differ (or when asked) the details (3202), transaction by transaction by msgid:
   - `only_at_centre`: the centre made it, the counter has no record (a 单边账 to book or reverse);
   - `only_here`: the counter booked it, the centre has nothing (the centre lost or reversed it);
   - `amount_differs`: both have it, with different amounts;
   - `not_booked`: the outbox says the centre did it, yet the counter has no settlement row.
3. The run and every difference are stored (audited) and listed for a reviewer, who records how
   each was dealt with.

The counter's business day of a transaction is the centre's business date: a settlement's
`settled_on` as the centre returned it, a cancellation's as the centre's clock gave it when it was
recorded (issue 21 B7) — never the day in the msgid, which is this counter's clock and may be the
day before or after the centre's around midnight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app import audit
from app.centre.gateway import AuditAnchor, DailyRecord, DailyTotals, Operation, Totals
from app.db.models import (
    OutboxEntry,
    OutboxState,
    Reconciliation,
    ReconciliationDifference,
    Settlement,
    SettlementKind,
    Stay,
)
from app.errors import WiCounterError
from app.operators import OperatorInfo, Permission, require

ZERO = Decimal("0.00")
AMOUNT_KEYS = ("total", "fund_total", "personal_total")
KINDS = ("settlement", "cancellation")
DIFFERENCE_LABELS = {
    "only_at_centre": "中心有、本机无",
    "only_here": "本机有、中心无",
    "amount_differs": "金额不一致",
    "not_booked": "中心已办理、本机未入账",
}
TRANSACTION_LABELS = {"settlement": "结算", "cancellation": "撤销"}
_OPERATIONS = {Operation.SETTLEMENT.value: "settlement", Operation.SETTLEMENT_CANCEL.value: "cancellation"}


class ReconciliationError(WiCounterError):
    """A reconciliation that cannot be run or reviewed as asked."""


@dataclass(frozen=True)
class Book:
    """One side's view of a transaction of the day."""

    kind: str  # settlement, cancellation
    msgid: str
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal
    stay_id: int | None = None
    registration_no: str | None = None

    def amounts(self) -> dict[str, str]:
        return {key: str(getattr(self, key)) for key in AMOUNT_KEYS}


@dataclass(frozen=True)
class SideTotals:
    count: int
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal

    @classmethod
    def of(cls, books: Iterable[Book]) -> SideTotals:
        chosen = list(books)
        return cls(len(chosen), *(sum((getattr(b, key) for b in chosen), ZERO) for key in AMOUNT_KEYS))

    @classmethod
    def from_centre(cls, totals: Totals) -> SideTotals:
        return cls(totals.count, totals.total, totals.fund_total, totals.personal_total)

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, **{key: str(getattr(self, key)) for key in AMOUNT_KEYS}}


@dataclass(frozen=True)
class Difference:
    kind: str
    transaction_kind: str
    msgid: str
    centre: Book | None
    counter: Book | None

    @property
    def label(self) -> str:
        return f"{DIFFERENCE_LABELS[self.kind]}（{TRANSACTION_LABELS[self.transaction_kind]}）"


@dataclass(frozen=True)
class DayResult:
    business_date: dt.date
    centre: dict[str, SideTotals]
    counter: dict[str, SideTotals]
    details_compared: bool
    differences: tuple[Difference, ...] = field(default_factory=tuple)
    reconciliation_id: int | None = None

    @property
    def totals_agree(self) -> bool:
        return self.centre == self.counter

    @property
    def agrees(self) -> bool:
        return self.totals_agree and not self.differences


def _stamp(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def counter_books(session: Session, day: dt.date) -> tuple[list[Book], list[Book]]:
    """The counter's settlements and cancellations of `day`, and the outbox's successes it never booked."""
    in_day = Settlement.settled_on == day  # the centre's business date (module docstring)
    rows = session.execute(
        select(Settlement.kind, Settlement.msgid, Settlement.total, Settlement.fund_total,
               Settlement.personal_total, Settlement.stay_id, Stay.registration_no)
        .join(Stay, Stay.id == Settlement.stay_id).where(in_day)
    ).all()
    booked = [Book("cancellation" if kind is SettlementKind.CANCELLATION else "settlement", msgid, total, fund,
                   personal, stay_id, registration_no)
              for kind, msgid, total, fund, personal, stay_id, registration_no in rows]
    known = {book.msgid for book in booked}
    # Unbooked successes: a settlement's reply names the centre's date; a cancellation's does not, so
    # its msgid's day stands in (this counter's clock: at worst a neighbouring day around midnight).
    stamps = [_stamp(day + dt.timedelta(days=shift)) for shift in (-1, 0, 1)]
    entries = session.execute(
        select(OutboxEntry.operation, OutboxEntry.msgid, OutboxEntry.response, OutboxEntry.stay_id)
        .where(OutboxEntry.operation.in_(list(_OPERATIONS)), OutboxEntry.state == OutboxState.SUCCEEDED,
               func.substr(OutboxEntry.msgid, 13, 8).in_(stamps))
    ).all()
    unbooked = []
    for operation, msgid, response, stay_id in entries:
        if msgid in known:
            continue
        reply = response or {}
        if _business_day(msgid, reply) != day:
            continue
        unbooked.append(Book(_OPERATIONS[operation], msgid, _decimal(reply.get("total")),
                             _decimal(reply.get("fund_total")), _decimal(reply.get("personal_total")), stay_id,
                             reply.get("registration_no")))
    return booked, unbooked


def _business_day(msgid: str, reply: dict[str, Any]) -> dt.date | None:
    """The centre's date of an outbox success: its reply's `settled`, else the msgid's day."""
    for text in (reply.get("settled"), None):
        try:
            if text is not None:
                return dt.date.fromisoformat(str(text))
            return dt.datetime.strptime(msgid[12:20], "%Y%m%d").date()
        except ValueError:
            continue
    return None


def _decimal(value: object) -> Decimal:
    try:
        return Decimal(str(value)).quantize(ZERO) if value is not None else ZERO
    except ArithmeticError:
        return ZERO


def _centre_book(record: DailyRecord) -> Book:
    return Book(record.kind, record.msgid, record.total, record.fund_total, record.personal_total,
                registration_no=record.registration_no)


def compare_details(centre: Iterable[Book], booked: Iterable[Book], unbooked: Iterable[Book]) -> list[Difference]:
    """Every transaction the two sides see differently, in msgid order."""
    at_centre = {book.msgid: book for book in centre}
    here = {book.msgid: book for book in booked}
    differences = []
    for book in unbooked:
        # The outbox knows the centre did it: the settlement row is what is missing here.
        differences.append(Difference("not_booked", book.kind, book.msgid, at_centre.pop(book.msgid, None), book))
    for msgid in sorted(at_centre.keys() | here.keys()):
        theirs, ours = at_centre.get(msgid), here.get(msgid)
        if theirs is None and ours is not None:
            differences.append(Difference("only_here", ours.kind, msgid, None, ours))
        elif ours is None and theirs is not None:
            differences.append(Difference("only_at_centre", theirs.kind, msgid, theirs, None))
        elif theirs is not None and ours is not None and theirs.amounts() != ours.amounts():
            differences.append(Difference("amount_differs", ours.kind, msgid, theirs, ours))
    return sorted(differences, key=lambda d: d.msgid)


class DayEndReconciler:
    """Runs and stores the day's reconciliation; `centre` is a `CentreClient` (or any object with
    `daily_totals(day)` and `daily_details(day, page)`)."""

    def __init__(self, sessions: sessionmaker[Session], centre: Any, counter_name: str) -> None:
        self.sessions = sessions
        self.centre = centre
        self.counter_name = counter_name

    def run(self, day: dt.date, operator: OperatorInfo | None = None, *, details: bool = False) -> DayResult:
        with self.sessions() as session:
            head = audit.head_anchor(session)
        # The audit trail's head goes with the day-end: the centre keeps it as an anchor outside this
        # database (issue 22 §4), which `audit verify` checks the trail against.
        anchor = AuditAnchor(self.counter_name, *head) if head is not None else None
        centre_totals: DailyTotals = self.centre.daily_totals(day, anchor)
        with self.sessions() as session:
            booked, unbooked = counter_books(session, day)
        centre_side = {"settlement": SideTotals.from_centre(centre_totals.settlements),
                       "cancellation": SideTotals.from_centre(centre_totals.cancellations)}
        counter_side = {kind: SideTotals.of(b for b in booked if b.kind == kind) for kind in KINDS}
        differences: list[Difference] = []
        compared = details or centre_side != counter_side or bool(unbooked)
        if compared:
            differences = compare_details(self._centre_records(day), booked, unbooked)
        result = DayResult(day, centre_side, counter_side, compared, tuple(differences))
        return self._store(result, operator)

    def _centre_records(self, day: dt.date) -> list[Book]:
        records: list[Book] = []
        page, pages = 1, 1
        while page <= pages:
            answer = self.centre.daily_details(day, page)
            records.extend(_centre_book(record) for record in answer.records)
            page, pages = page + 1, answer.pages
        return records

    def _store(self, result: DayResult, operator: OperatorInfo | None) -> DayResult:
        with self.sessions.begin() as session:
            run = Reconciliation(
                business_date=result.business_date, counter_name=self.counter_name,
                operator_id=operator.id if operator else None,
                centre_totals={kind: totals.as_json() for kind, totals in result.centre.items()},
                counter_totals={kind: totals.as_json() for kind, totals in result.counter.items()},
                details_compared=result.details_compared, agrees=result.agrees,
            )
            session.add(run)
            session.flush()
            for difference in result.differences:
                book = difference.counter or difference.centre
                session.add(ReconciliationDifference(
                    reconciliation_id=run.id, kind=difference.kind, transaction_kind=difference.transaction_kind,
                    msgid=difference.msgid, stay_id=book.stay_id if book else None,
                    registration_no=book.registration_no if book else None,
                    centre_amounts=difference.centre.amounts() if difference.centre else None,
                    counter_amounts=difference.counter.amounts() if difference.counter else None,
                ))
            audit.record(session, "centre.reconcile", operator_id=operator.id if operator else None,
                         counter_name=self.counter_name, entity_type="reconciliation", entity_id=run.id,
                         detail={"date": result.business_date.isoformat(), "agrees": result.agrees,
                                 "differences": len(result.differences)})
            run_id = run.id
        return DayResult(result.business_date, result.centre, result.counter, result.details_compared,
                         result.differences, run_id)


@dataclass(frozen=True)
class OpenDifference:
    id: int
    business_date: dt.date
    kind: str
    transaction_kind: str
    msgid: str
    stay_id: int | None
    registration_no: str | None
    centre_amounts: dict[str, str] | None
    counter_amounts: dict[str, str] | None
    reviewed: bool
    review_note: str | None

    @property
    def label(self) -> str:
        return f"{DIFFERENCE_LABELS.get(self.kind, self.kind)}（{TRANSACTION_LABELS.get(self.transaction_kind, '')}）"


def list_differences(session: Session, *, day: dt.date | None = None, open_only: bool = True) -> list[OpenDifference]:
    """Differences for a reviewer: by default those not yet dealt with, of the latest run of each day.

    A later run of the same day supersedes an earlier one (its differences are the current ones)."""
    latest = (select(Reconciliation.business_date, func.max(Reconciliation.id).label("run_id"))
              .group_by(Reconciliation.business_date).subquery())
    query = (select(ReconciliationDifference, Reconciliation.business_date)
             .join(Reconciliation, Reconciliation.id == ReconciliationDifference.reconciliation_id)
             .join(latest, latest.c.run_id == Reconciliation.id))
    if day is not None:
        query = query.where(Reconciliation.business_date == day)
    if open_only:
        query = query.where(ReconciliationDifference.reviewed_at.is_(None))
    query = query.order_by(Reconciliation.business_date, ReconciliationDifference.msgid)
    return [OpenDifference(d.id, business_date, d.kind, d.transaction_kind, d.msgid, d.stay_id, d.registration_no,
                           d.centre_amounts, d.counter_amounts, d.reviewed_at is not None, d.review_note)
            for d, business_date in session.execute(query).all()]


def review_difference(session: Session, difference_id: int, actor: OperatorInfo, note: str,
                      counter_name: str) -> None:
    """A reviewer records how a difference was dealt with (补记, 冲正, 中心更正…); audited."""
    require(actor, Permission.RECONCILE)
    if not note.strip():
        raise ReconciliationError("请写明差异的处理情况（如：已补记、已冲正、中心已更正）。")
    difference = session.get(ReconciliationDifference, difference_id, with_for_update=True)
    if difference is None:
        raise ReconciliationError(f"没有编号为 {difference_id} 的对账差异。")
    if difference.reviewed_at is not None:
        raise ReconciliationError(f"对账差异 {difference_id} 已于 {difference.reviewed_at:%Y-%m-%d %H:%M} 处理过。")
    difference.reviewed_by = actor.id
    difference.reviewed_at = dt.datetime.now(dt.UTC)
    difference.review_note = note.strip()
    audit.record(session, "centre.reconcile.review", operator_id=actor.id, counter_name=counter_name,
                 entity_type="reconciliation_difference", entity_id=difference_id,
                 detail={"msgid": difference.msgid, "kind": difference.kind, "note": note.strip()})


def last_reconciled(session: Session) -> dt.date | None:
    return session.scalar(select(func.max(Reconciliation.business_date)))


def days_to_reconcile(session: Session, today: dt.date, *, look_back_days: int = 31) -> list[dt.date]:
    """Business days before `today` (within `look_back_days`) with settlements or cancellations
    issued by this database's counters and no reconciliation yet: the day-end runs still owed."""
    first = today - dt.timedelta(days=look_back_days)
    stamps = set(session.scalars(
        select(func.substr(OutboxEntry.msgid, 13, 8)).distinct()
        .where(OutboxEntry.operation.in_(list(_OPERATIONS)), OutboxEntry.state == OutboxState.SUCCEEDED,
               func.substr(OutboxEntry.msgid, 13, 8) >= _stamp(first),
               func.substr(OutboxEntry.msgid, 13, 8) < _stamp(today))
    ).all())
    done = set(session.scalars(select(Reconciliation.business_date).distinct()
                               .where(Reconciliation.business_date >= first)).all())
    days = {dt.datetime.strptime(stamp, "%Y%m%d").date() for stamp in stamps}
    return sorted(days - done)


def open_difference_count(session: Session) -> int:
    return len(list_differences(session))
