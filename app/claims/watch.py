"""The deadlines the billing office must not miss, found in the database, with their state today.

- 月度结算申请: each ended month with settlements, due by the profile's day of the next month
  (Guangdong the 10th `003 §21`, Jilin the 5th `002 经办规程 §21`); done once nothing of the
  month is left unclaimed and every claim of the month has gone up. Where the hospital has no
  fixed day (及时, `000 §31`) the agency's 20th is listed instead, as the agency's date (`001 §33`).
- 结算明细上传: 5 working days after each discharge settlement (`000 §30`), real time in Jilin
  (`002 经办规程 §17`): a settlement whose lines have not all gone up.
- 补登记 of a stay paid in full (全额垫付): where the profile says so (Guangdong, `003 §17`), due the
  day the fault cleared (the day the counter reached the centre again); not due before.
- 扣款异议: 10 working days from the agency's push (`003 §20`), until disputed; none where the
  seed sets no window (`002 经办规程 §23`).
- 病案首页补齐: where the profile sets the days (Guangdong 7, `003 §16`), every settlement not
  cancelled whose 病案首页 no one has marked complete (`app.workflow.medical_record`), due 7 days
  after the settlement (moved to the next working day), overdue after; gone once marked.

`watch` returns every deadline that is open (not done), soonest first; the window warns of those
`due_soon` or `overdue`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from app.claims.calendar import WorkingCalendar, missing_years_message
from app.claims.deadlines import (
    Deadline,
    DeadlineStatus,
    agency_month_item,
    claim_deadline,
    detail_upload_deadline,
    medical_record_deadline,
    month_label,
    status,
)
from app.claims.service import ended_months, parse_month
from app.masking import mask_id_number
from app.db.models import (
    ChargeLine,
    ClaimDeduction,
    ClaimEntry,
    ClaimStatus,
    DeductionDispute,
    FullPaymentReceipt,
    MedicalRecordCompletion,
    MonthlyClaim,
    Settlement,
    SettlementKind,
    SettlementLine,
    Stay,
    Worker,
)
from app.rules.profiles import Profile

# How far back the watch looks for unclaimed months and un-uploaded details.
LOOKBACK_MONTHS = 12
# How far ahead a deadline can fall: the next month's claim day, a dispute's 10 working days.
LOOKAHEAD_DAYS = 70


@dataclass(frozen=True)
class Watched:
    deadline: Deadline
    status: DeadlineStatus

    @property
    def needs_attention(self) -> bool:
        return self.status.state in ("due_soon", "overdue")


def _claim_deadlines(session: Session, profile: Profile, calendar: WorkingCalendar, today: dt.date) -> list[Deadline]:
    cancellation = aliased(Settlement)
    months = ended_months(today, LOOKBACK_MONTHS)
    first_day, _ = parse_month(months[-1])
    _, last_day = parse_month(months[0])
    rows = session.execute(
        select(Settlement.settled_on, exists().where(ClaimEntry.settlement_id == Settlement.id))
        .where(Settlement.kind == SettlementKind.SETTLEMENT, Settlement.settled_on >= first_day,
               Settlement.settled_on <= last_day, ~exists().where(cancellation.reverses_id == Settlement.id))
    ).all()
    unclaimed: dict[str, int] = {}
    with_settlements: set[str] = set()
    for settled_on, claimed in rows:
        month = f"{settled_on:%Y-%m}"
        with_settlements.add(month)
        if not claimed:
            unclaimed[month] = unclaimed.get(month, 0) + 1
    not_up = set(session.scalars(select(MonthlyClaim.month).where(
        MonthlyClaim.status.in_([ClaimStatus.DRAFT, ClaimStatus.UPLOADING]))))
    deadlines = []
    for month in sorted(with_settlements):
        done = month not in unclaimed and month not in not_up
        due = claim_deadline(profile, month, calendar)
        if due is None:
            # No hospital's day (及时, `000 §31`): the agency's date, for as long as the month is open.
            agency = agency_month_item(profile, month, calendar)
            if agency is not None and not done:
                deadlines.append(agency)
            continue
        subject = f"{month_label(month)} 月度结算申请"
        if month in unclaimed:
            subject += f"（{unclaimed[month]} 笔未申报）"
        deadlines.append(Deadline("claim", subject, due, profile.source_of("monthly_claim_day"), done))
    return deadlines


def _detail_deadlines(session: Session, profile: Profile, calendar: WorkingCalendar,
                      today: dt.date) -> list[Deadline]:
    since = today - dt.timedelta(days=31 * LOOKBACK_MONTHS)
    source = profile.source_of("detail_upload_working_days")
    deadlines = []
    cancellation = aliased(Settlement)
    # Driven by the few lines not yet uploaded (a partial index), never by a scan of the settled
    # lines: a year of settlements has millions of them.
    stays_pending = select(ChargeLine.stay_id).where(ChargeLine.uploaded_at.is_(None))
    settled_line_pending = exists().where(
        ChargeLine.stay_id == Settlement.stay_id, ChargeLine.uploaded_at.is_(None),
        SettlementLine.settlement_id == Settlement.id, SettlementLine.charge_line_id == ChargeLine.id)
    not_uploaded = session.execute(
        select(Settlement.id, Settlement.settled_on, Worker.name)
        .join(Stay, Stay.id == Settlement.stay_id).join(Worker, Worker.id == Stay.worker_id)
        .where(Settlement.kind == SettlementKind.SETTLEMENT, Settlement.settled_on >= since,
               Settlement.stay_id.in_(stays_pending), settled_line_pending,
               ~exists().where(cancellation.reverses_id == Settlement.id))
    ).all()
    for settlement_id, settled_on, name in not_uploaded:
        deadlines.append(Deadline("detail_upload", f"{name} 结算 {settlement_id} 的费用明细未上传",
                                  detail_upload_deadline(profile, settled_on, calendar), source, False))
    if profile.backfill_on_fault_cleared:
        receipts = session.execute(
            select(FullPaymentReceipt.receipt_no, FullPaymentReceipt.fault_cleared_on, Worker.name)
            .join(Stay, Stay.id == FullPaymentReceipt.stay_id).join(Worker, Worker.id == Stay.worker_id)
            .where(FullPaymentReceipt.settlement_id.is_(None), FullPaymentReceipt.backfilled_at.is_(None),
                   FullPaymentReceipt.fault_cleared_on.is_not(None))
        ).all()
        for receipt_no, cleared_on, name in receipts:
            assert cleared_on is not None  # the query's condition
            # 故障排除当日 (003 §17): the day itself, not moved to a working day.
            deadlines.append(Deadline("detail_upload", f"{name} 全额垫付 {receipt_no} 待补登记（故障排除当日）",
                                      cleared_on, profile.source_of("backfill_on_fault_cleared"), False))
    return deadlines


def _dispute_deadlines(session: Session, profile: Profile) -> list[Deadline]:
    rows = session.execute(
        select(ClaimDeduction.id, ClaimDeduction.dispute_due, ClaimDeduction.amount, ClaimDeduction.item_name,
               Worker.name)
        .join(ClaimEntry, ClaimEntry.id == ClaimDeduction.claim_entry_id)
        .join(Settlement, Settlement.id == ClaimEntry.settlement_id)
        .join(Stay, Stay.id == Settlement.stay_id).join(Worker, Worker.id == Stay.worker_id)
        # Only a dispute the agency received ends the deadline (003 §20): pending or refused ones do not.
        .where(~exists().where(DeductionDispute.deduction_id == ClaimDeduction.id,
                               DeductionDispute.state.in_(("submitted", "local"))),
               ClaimDeduction.dispute_due.is_not(None))  # no window where the seed sets none
    ).all()
    source = profile.source_of("dispute_working_days")
    return [Deadline("dispute", f"{name} {item or '整笔结算'} 扣款 {amount} 元的异议", due, source, False)
            for _id, due, amount, item, name in rows if due is not None]


def _medical_record_deadlines(session: Session, profile: Profile, calendar: WorkingCalendar) -> list[Deadline]:
    """Every live settlement whose 病案首页 is not marked complete (`003 §16`), however old: an
    unmarked one stays overdue until a clerk marks it (migration 0017 marked the long-past ones)."""
    if profile.medical_record_days == 0:
        return []
    source = profile.source_of("medical_record_days")
    cancellation = aliased(Settlement)
    rows = session.execute(
        select(Settlement.id, Settlement.settled_on, Stay.admission_no, Worker.name, Worker.social_security_number)
        .join(Stay, Stay.id == Settlement.stay_id).join(Worker, Worker.id == Stay.worker_id)
        .where(Settlement.kind == SettlementKind.SETTLEMENT,
               ~exists().where(cancellation.reverses_id == Settlement.id),
               ~exists().where(MedicalRecordCompletion.settlement_id == Settlement.id))
    ).all()
    deadlines = []
    for settlement_id, settled_on, admission_no, name, ssn in rows:
        due = medical_record_deadline(profile, settled_on, calendar)
        assert due is not None  # the profile sets the days
        subject = (f"住院号 {admission_no} {name}（{mask_id_number(ssn)}）结算 {settlement_id} 病案首页待补齐"
                   f"（出院结算后{profile.medical_record_days}天内，{source}）")
        deadlines.append(Deadline("medical_record", subject, due, source, False, settlement_id))
    return deadlines


def watch(session: Session, *, profile: Profile, calendar: WorkingCalendar, today: dt.date,
          warn_working_days: int) -> list[Watched]:
    """Every open deadline with its state today, soonest first."""
    found = (_claim_deadlines(session, profile, calendar, today) + _detail_deadlines(session, profile, calendar, today)
             + _dispute_deadlines(session, profile) + _medical_record_deadlines(session, profile, calendar))
    watched = [Watched(d, status(d, today, calendar, warn_working_days)) for d in found if not d.done]
    # A dispute deadline long past is no longer the office's to meet: the deduction stands.
    watched = [w for w in watched if not (w.deadline.kind == "dispute" and w.status.working_days_left < -5)]
    return sorted(watched, key=lambda w: (w.deadline.due, w.deadline.kind, w.deadline.subject))


def calendar_warning(calendar: WorkingCalendar, today: dt.date) -> str | None:
    """Say so when a year the coming deadlines fall in has no holiday file: they are then counted
    on weekends alone and may be a few days off."""
    return missing_years_message(calendar, today.year, (today + dt.timedelta(days=LOOKAHEAD_DAYS)).year)
