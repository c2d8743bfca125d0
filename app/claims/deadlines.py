"""The claim deadlines of a policy profile, on the working-day calendar.

- 月度结算申请: by day `monthly_claim_day` of the next month (Guangdong the 10th, `003 §21`;
  Jilin the 5th, `002 经办规程 §21`);
- 结算明细上传: within `detail_upload_working_days` working days of the settlement (`000 §30`);
- 扣款异议: within `dispute_working_days` working days of the deduction's notice (`003 §20`,
  `002 经办规程 §23`).

Each rule's number and article come from the profile (`app.rules.profiles`), never from here.
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
}
STATE_LABELS: dict[str, str] = {"done": "已完成", "ok": "未到期", "due_soon": "即将到期", "overdue": "已逾期"}
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


def claim_deadline(profile: Profile, month: str, calendar: WorkingCalendar) -> dt.date:
    """The last day to claim `month`'s settlements: day `monthly_claim_day` of the next month.

    "每月 10 日前" is read as "by the 10th", inclusive (DOMAIN.md). When that day is not a
    working day the agency's office is closed, so the claim must be in by the last working day
    before it — never after.
    """
    year, number = parse_month(month)
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    day = dt.date(year, number, min(profile.monthly_claim_day, monthrange(year, number)[1]))
    return calendar.last_working_day_on_or_before(day)


def detail_upload_deadline(profile: Profile, settled_on: dt.date, calendar: WorkingCalendar) -> dt.date:
    """The details of a settlement go up within N working days of it (`000 §30`)."""
    return calendar.add_working_days(settled_on, profile.detail_upload_working_days)


def dispute_deadline(profile: Profile, notified_on: dt.date, calendar: WorkingCalendar) -> dt.date:
    """A deduction may be disputed within N working days of its notice (`003 §20`)."""
    return calendar.add_working_days(notified_on, profile.dispute_working_days)


@dataclass(frozen=True)
class Deadline:
    kind: str  # "claim" | "detail_upload" | "dispute"
    subject: str  # Chinese, e.g. "2026年11月 月度结算申请"
    due: dt.date
    source: str  # the article, e.g. "003 §21"
    done: bool = False


@dataclass(frozen=True)
class DeadlineStatus:
    state: str  # "done" | "ok" | "due_soon" | "overdue"
    working_days_left: int  # negative once overdue
    message: str

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


def claim_item(profile: Profile, month: str, calendar: WorkingCalendar, done: bool = False) -> Deadline:
    return Deadline(kind="claim", subject=f"{month_label(month)} {KIND_LABELS['claim']}",
                    due=claim_deadline(profile, month, calendar),
                    source=profile.source_of("monthly_claim_day"), done=done)


def detail_upload_item(profile: Profile, settled_on: dt.date, calendar: WorkingCalendar,
                       what: str = "", done: bool = False) -> Deadline:
    """`what` names the settlement for the clerk (e.g. "结算 123 张三"); default: its date."""
    what = what or f"{date_label(settled_on)}结算"
    return Deadline(kind="detail_upload", subject=f"{what} {KIND_LABELS['detail_upload']}",
                    due=detail_upload_deadline(profile, settled_on, calendar),
                    source=profile.source_of("detail_upload_working_days"), done=done)


def dispute_item(profile: Profile, notified_on: dt.date, calendar: WorkingCalendar,
                 what: str = "", done: bool = False) -> Deadline:
    """`what` names the deduction (e.g. "2026年1月 结算批次 扣款"); default: the notice's date."""
    what = what or f"{date_label(notified_on)}通知的扣款"
    return Deadline(kind="dispute", subject=f"{what} {KIND_LABELS['dispute']}",
                    due=dispute_deadline(profile, notified_on, calendar),
                    source=profile.source_of("dispute_working_days"), done=done)


def date_label(day: dt.date, today: dt.date | None = None) -> str:
    """"12月10日", with the year when it is not today's year (or no today is given)."""
    short = f"{day.month}月{day.day}日"
    return short if today is not None and today.year == day.year else f"{day.year}年{short}"


def status(deadline: Deadline, today: dt.date, calendar: WorkingCalendar, warn_working_days: int) -> DeadlineStatus:
    """Where a deadline stands today: due_soon when 0 ≤ working days left ≤ warn_working_days."""
    left = calendar.working_days_between(today, deadline.due)
    due = date_label(deadline.due, today)
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
