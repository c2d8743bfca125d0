"""The claim deadlines of a policy profile, on the working-day calendar.

- 月度结算申请: by day `monthly_claim_day` of the next month (Guangdong the 10th, `003 §21`;
  Jilin the 5th, `002 经办规程 §21`). Where the hospital uploads "promptly" (及时, `000 §31`,
  `001 §31`: `monthly_claim_day` 0) it has no fixed day; the 20th there is the agency's / the
  province's date (`agency_month_day`, `000 §31`, `001 §33`), shown as the agency's, never as due;
- 结算明细上传: within `detail_upload_working_days` working days of the settlement (`000 §30`),
  or in real time (0: Jilin, `002 经办规程 §17`);
- 病案首页补齐: within `medical_record_days` days of the settlement (Guangdong 7, `003 §16`);
- 扣款异议: within `dispute_working_days` working days of the agency's push (`003 §20`), only
  where a seed sets a window (0: none, `002 经办规程 §23`).

A deadline that falls on a rest day moves to the NEXT working day, never an earlier one
(民法典 第二百零三条; DOMAIN "Uploads and their deadlines"). Each rule's number and article come
from the profile (`app.rules.profiles`), never from here.
"""

from __future__ import annotations

import datetime as dt
import re
from calendar import monthrange  # the standard library's
from dataclasses import dataclass

from app.claims.calendar import WorkingCalendar
from app.rules.profiles import Profile

KIND_LABELS: dict[str, str] = {
    "claim": "月度结算申请",
    "detail_upload": "结算明细上传",
    "dispute": "扣款异议",
    "medical_record": "病案首页补齐",
    "agency_month": "经办机构上传月度结算信息",
}
STATE_LABELS: dict[str, str] = {"done": "已完成", "ok": "未到期", "due_soon": "即将到期", "overdue": "已逾期",
                                "agency": "经办机构日期"}
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def parse_month(month: str) -> tuple[int, int]:
    """"YYYY-MM" → (year, month); anything else raises ValueError."""
    match = _MONTH.fullmatch(month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"月份应写成 YYYY-MM：{month!r}")
    return int(match.group(1)), int(match.group(2))


def month_label(month: str) -> str:
    year, number = parse_month(month)
    return f"{year}年{number}月"


def _next_month_day(month: str, day: int) -> dt.date:
    year, number = parse_month(month)
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return dt.date(year, number, min(day, monthrange(year, number)[1]))


def claim_deadline(profile: Profile, month: str, calendar: WorkingCalendar) -> dt.date | None:
    """The last day to claim `month`'s settlements: day `monthly_claim_day` of the next month, or
    None where the hospital has no fixed day (及时, `000 §31`).

    "每月 10 日前" is read as "by the 10th", inclusive (DOMAIN.md). When that day is a rest day
    the deadline is the next working day (民法典 第二百零三条) — never one before, which could fall
    inside the month being claimed (Jilin, 5 Oct 2025 in the National Day holiday).
    """
    if profile.monthly_claim_day == 0:
        parse_month(month)  # still refuse a malformed month
        return None
    return calendar.first_working_day_on_or_after(_next_month_day(month, profile.monthly_claim_day))


def agency_month_deadline(profile: Profile, month: str, calendar: WorkingCalendar) -> dt.date | None:
    """The agency's date for passing `month` on (the 20th, `000 §31`, `001 §33`), or None."""
    if profile.agency_month_day == 0:
        parse_month(month)
        return None
    return calendar.first_working_day_on_or_after(_next_month_day(month, profile.agency_month_day))


def detail_upload_deadline(profile: Profile, settled_on: dt.date, calendar: WorkingCalendar) -> dt.date:
    """The details of a settlement go up within N working days of it (`000 §30`); N = 0 means in
    real time (实时上传, `002 经办规程 §17`): the settlement's own day, whatever day it is."""
    if profile.detail_upload_working_days == 0:
        return settled_on
    return calendar.add_working_days(settled_on, profile.detail_upload_working_days)


def medical_record_deadline(profile: Profile, settled_on: dt.date, calendar: WorkingCalendar) -> dt.date | None:
    """病案首页 completed within N days of the discharge settlement (`003 §16`: 7天, calendar days),
    moved to the next working day when the last is a rest day; None where no seed sets it."""
    if profile.medical_record_days == 0:
        return None
    return calendar.first_working_day_on_or_after(settled_on + dt.timedelta(days=profile.medical_record_days))


def dispute_deadline(profile: Profile, pushed_on: dt.date, calendar: WorkingCalendar) -> dt.date | None:
    """A deduction may be disputed within N working days of the agency's push (`003 §20`), counted
    from the push, not from the day the counter fetched it; None where the seed sets no window
    (`002 经办规程 §23`)."""
    if profile.dispute_working_days == 0:
        return None
    return calendar.add_working_days(pushed_on, profile.dispute_working_days)


@dataclass(frozen=True)
class Deadline:
    kind: str  # "claim" | "detail_upload" | "medical_record" | "dispute" | "agency_month"
    subject: str  # Chinese, e.g. "2026年11月 月度结算申请"
    due: dt.date
    source: str  # the article, e.g. "003 §21"
    done: bool = False
    settlement_id: int | None = None  # the settlement a per-settlement deadline is about (病案首页)


@dataclass(frozen=True)
class DeadlineStatus:
    state: str  # "done" | "ok" | "due_soon" | "overdue"
    working_days_left: int  # negative once overdue
    message: str

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


def claim_item(profile: Profile, month: str, calendar: WorkingCalendar, done: bool = False) -> Deadline | None:
    """None where the hospital has no fixed day (及时, `000 §31`): see `agency_month_item`."""
    due = claim_deadline(profile, month, calendar)
    if due is None:
        return None
    return Deadline(kind="claim", subject=f"{month_label(month)} {KIND_LABELS['claim']}", due=due,
                    source=profile.source_of("monthly_claim_day"), done=done)


def agency_month_item(profile: Profile, month: str, calendar: WorkingCalendar) -> Deadline | None:
    """The agency's date for `month` (`000 §31`, `001 §33`), shown as the agency's: state "agency"."""
    due = agency_month_deadline(profile, month, calendar)
    if due is None:
        return None
    return Deadline(kind="agency_month", subject=f"{month_label(month)} {KIND_LABELS['agency_month']}", due=due,
                    source=profile.source_of("agency_month_day"))


def detail_upload_item(profile: Profile, settled_on: dt.date, calendar: WorkingCalendar,
                       what: str = "", done: bool = False) -> Deadline:
    """`what` names the settlement for the clerk (e.g. "结算 123 张三"); default: its date."""
    what = what or f"{date_label(settled_on)}结算"
    label = KIND_LABELS["detail_upload"] + ("（实时）" if profile.detail_upload_working_days == 0 else "")
    return Deadline(kind="detail_upload", subject=f"{what} {label}",
                    due=detail_upload_deadline(profile, settled_on, calendar),
                    source=profile.source_of("detail_upload_working_days"), done=done)


def medical_record_item(profile: Profile, settled_on: dt.date, calendar: WorkingCalendar,
                        what: str = "", done: bool = False) -> Deadline | None:
    due = medical_record_deadline(profile, settled_on, calendar)
    if due is None:
        return None
    what = what or f"{date_label(settled_on)}结算"
    return Deadline(kind="medical_record", subject=f"{what} {KIND_LABELS['medical_record']}", due=due,
                    source=profile.source_of("medical_record_days"), done=done)


def dispute_item(profile: Profile, pushed_on: dt.date, calendar: WorkingCalendar,
                 what: str = "", done: bool = False) -> Deadline | None:
    """`what` names the deduction (e.g. "2026年1月 结算批次 扣款"); default: the push's date.
    None where the seed sets no dispute window."""
    due = dispute_deadline(profile, pushed_on, calendar)
    if due is None:
        return None
    what = what or f"{date_label(pushed_on)}推送的扣款"
    return Deadline(kind="dispute", subject=f"{what} {KIND_LABELS['dispute']}", due=due,
                    source=profile.source_of("dispute_working_days"), done=done)


def date_label(day: dt.date, today: dt.date | None = None) -> str:
    """"12月10日", with the year when it is not today's year (or no today is given)."""
    short = f"{day.month}月{day.day}日"
    return short if today is not None and today.year == day.year else f"{day.year}年{short}"


def calendar_note(calendar: WorkingCalendar, first: dt.date, last: dt.date) -> str:
    """"2027 年调休安排未导入…" when a year from `first` to `last` has no official arrangement, else "":
    the working days counted there know the statutory holidays but not the 调休 swaps."""
    missing = calendar.missing_years(min(first, last).year, max(first, last).year)
    if not missing:
        return ""
    return f"{'、'.join(str(y) for y in missing)} 年调休安排未导入，按法定节假日计算"


def status(deadline: Deadline, today: dt.date, calendar: WorkingCalendar, warn_working_days: int) -> DeadlineStatus:
    """Where a deadline stands today: due_soon when 0 ≤ working days left ≤ warn_working_days.
    The message says so when the days counted fall in a year without the official 调休 arrangement."""
    found = _status(deadline, today, calendar, warn_working_days)
    note = calendar_note(calendar, today, deadline.due)
    if not note or found.state == "done":
        return found
    return DeadlineStatus(found.state, found.working_days_left, f"{found.message}；{note}")


def _status(deadline: Deadline, today: dt.date, calendar: WorkingCalendar, warn_working_days: int) -> DeadlineStatus:
    left = calendar.working_days_between(today, deadline.due)
    due = date_label(deadline.due, today)
    if deadline.kind == "agency_month":
        # Not the hospital's deadline (`000 §31`, `001 §33`): never due-soon, never overdue.
        return DeadlineStatus("agency", left, f"经办机构于{due}前上传月度结算信息；本院应及时申请")
    if deadline.done:
        return DeadlineStatus("done", left, f"已完成（{due}截止）")
    if today > deadline.due:
        # A Friday deadline seen on Saturday is late by no working day, but still late.
        late = f"已逾期 {-left} 个工作日" if left < 0 else "已逾期"
        return DeadlineStatus("overdue", left, f"{late}（{due}截止）")
    if today == deadline.due:
        return DeadlineStatus("due_soon", left, f"今天截止（{due}）")
    state = "due_soon" if left <= warn_working_days else "ok"
    return DeadlineStatus(state, left, f"还剩 {left} 个工作日（{due}截止）")
