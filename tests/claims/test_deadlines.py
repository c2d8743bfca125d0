"""Claim deadlines per policy profile on the working-day calendar.

- monthly claim: Guangdong by the 10th (`003 §21`), Jilin by the 5th (`002 经办规程 §21`);
  a day off moves it to the next working day (民法典 第二百零三条; `test_deadline_rules.py`);
- settlement details: within 5 working days (`000 §30`);
- deduction disputes: within 10 working days of the agency's push (`003 §20`).
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

import pytest

from app.claims.calendar import WorkingCalendar, load_calendar
from app.claims.deadlines import (
    KIND_LABELS,
    Deadline,
    claim_deadline,
    claim_item,
    detail_upload_deadline,
    detail_upload_item,
    dispute_deadline,
    dispute_item,
    parse_month,
    status,
)
from app.rules.profiles import Profile, load_profile

D = dt.date
T = TypeVar("T")


def some(value: T | None) -> T:
    assert value is not None
    return value


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return load_calendar(None)


@pytest.fixture(scope="module")
def guangdong() -> Profile:
    return load_profile("guangdong-intra")


@pytest.fixture(scope="module")
def jilin() -> Profile:
    return load_profile("jilin-intra")


def test_profiles_carry_the_rules(guangdong: Profile, jilin: Profile) -> None:
    assert (guangdong.monthly_claim_day, guangdong.source_of("monthly_claim_day")) == (10, "003 §21")
    assert (jilin.monthly_claim_day, jilin.source_of("monthly_claim_day")) == (5, "002 经办规程 §21")
    assert (guangdong.detail_upload_working_days, guangdong.source_of("detail_upload_working_days")) == (5, "000 §30")
    assert (guangdong.dispute_working_days, guangdong.source_of("dispute_working_days")) == (10, "003 §20")


def test_claim_deadline_in_a_year_not_covered(calendar: WorkingCalendar, guangdong: Profile, jilin: Profile) -> None:
    """`003 §21`: 2027 has no file yet; the weekend still moves 10 Jan 2027 (a Sunday) to Monday 11th."""
    assert claim_deadline(guangdong, "2026-12", calendar) == D(2027, 1, 11)
    assert claim_deadline(jilin, "2026-12", calendar) == D(2027, 1, 5)
    assert calendar.missing_years(2027, 2027) == [2027]


def test_claim_deadline_refuses_a_bad_month(calendar: WorkingCalendar, guangdong: Profile) -> None:
    for bad in ("2026-13", "2026-1", "202601", "2026-00"):
        with pytest.raises(ValueError):
            claim_deadline(guangdong, bad, calendar)
    assert parse_month("2026-02") == (2026, 2)


def test_detail_upload_across_the_spring_festival(calendar: WorkingCalendar, guangdong: Profile) -> None:
    """`000 §30`: 5 working days after a settlement on Thu 12 Feb 2026 —
    13 (Fri), 14 (Sat, worked), [15–23 off], 24, 25, 26 Feb."""
    assert detail_upload_deadline(guangdong, D(2026, 2, 12), calendar) == D(2026, 2, 26)
    # Statutory holidays alone (16–19 Feb), without the 调休 swaps: 13, 20, 23, 24, 25 Feb — a day early.
    assert detail_upload_deadline(guangdong, D(2026, 2, 12), WorkingCalendar()) == D(2026, 2, 25)


def test_detail_upload_across_national_day_2025(calendar: WorkingCalendar, guangdong: Profile) -> None:
    """`000 §30`: settled Fri 26 Sep 2025 — 28 (Sun, worked), 29, 30, [1–8 Oct off], 9, 10 Oct."""
    assert detail_upload_deadline(guangdong, D(2025, 9, 26), calendar) == D(2025, 10, 10)


def test_dispute_notified_just_before_the_spring_festival(calendar: WorkingCalendar, guangdong: Profile) -> None:
    """`003 §20`: 10 working days from a deduction notified Tue 10 Feb 2026 —
    11, 12, 13, 14 (Sat, worked), [15–23 off], 24, 25, 26, 27, 28 (Sat, worked), 2 Mar."""
    due = dispute_deadline(guangdong, D(2026, 2, 10), calendar)
    assert due == D(2026, 3, 2)
    assert due > D(2026, 2, 23)  # lands after the holiday


def test_dispute_across_the_spring_festival_2025(calendar: WorkingCalendar, guangdong: Profile) -> None:
    """`003 §20`: pushed Fri 24 Jan 2025 — 26 (Sun, worked), 27, [28 Jan–4 Feb off], 5, 6, 7,
    8 (Sat, worked), 10, 11, 12, 13 Feb."""
    assert dispute_deadline(guangdong, D(2025, 1, 24), calendar) == D(2025, 2, 13)


def test_dispute_across_national_day_2025(calendar: WorkingCalendar, guangdong: Profile) -> None:
    """`003 §20`: notified Tue 30 Sep 2025 — 9, 10, 11 (Sat, worked), 13–17, 20, 21 Oct."""
    assert dispute_deadline(guangdong, D(2025, 9, 30), calendar) == D(2025, 10, 21)


def test_items_name_their_subject_and_article(calendar: WorkingCalendar, guangdong: Profile, jilin: Profile) -> None:
    claim = some(claim_item(guangdong, "2026-11", calendar))
    assert claim == Deadline(kind="claim", subject="2026年11月 月度结算申请", due=D(2026, 12, 10),
                             source="003 §21", done=False)
    assert some(claim_item(jilin, "2026-11", calendar)).source == "002 经办规程 §21"
    upload = detail_upload_item(guangdong, D(2026, 2, 12), calendar, what="结算 17 张三")
    assert (upload.subject, upload.due, upload.source) == ("结算 17 张三 结算明细上传", D(2026, 2, 26), "000 §30")
    dispute = dispute_item(guangdong, D(2026, 2, 10), calendar, done=True)
    assert dispute is not None and dispute.subject == "2026年2月10日推送的扣款 扣款异议"
    assert (dispute.source, dispute.done) == ("003 §20", True)
    assert dispute_item(jilin, D(2026, 2, 10), calendar) is None  # no window in Jilin (002 经办规程 §23)
    assert KIND_LABELS == {"claim": "月度结算申请", "detail_upload": "结算明细上传", "dispute": "扣款异议",
                           "medical_record": "病案首页补齐", "agency_month": "经办机构上传月度结算信息"}


def test_status_counts_working_days(calendar: WorkingCalendar, guangdong: Profile) -> None:
    """The November 2026 claim is due Thu 10 Dec 2026 (`003 §21`); warn 3 working days ahead."""
    claim = some(claim_item(guangdong, "2026-11", calendar))
    seen = {today: status(claim, today, calendar, 3) for today in
            (D(2026, 12, 1), D(2026, 12, 7), D(2026, 12, 8), D(2026, 12, 10), D(2026, 12, 11), D(2026, 12, 15))}
    assert [(s.state, s.working_days_left) for s in seen.values()] == [
        ("ok", 7), ("due_soon", 3), ("due_soon", 2), ("due_soon", 0), ("overdue", -1), ("overdue", -3)]
    assert seen[D(2026, 12, 1)].message == "还剩 7 个工作日（12月10日截止）"
    assert seen[D(2026, 12, 8)].message == "还剩 2 个工作日（12月10日截止）"
    assert seen[D(2026, 12, 10)].message == "今天截止（12月10日）"
    assert seen[D(2026, 12, 15)].message == "已逾期 3 个工作日（12月10日截止）"
    assert seen[D(2026, 12, 15)].label == "已逾期"
    done = status(some(claim_item(guangdong, "2026-11", calendar, done=True)), D(2026, 12, 15), calendar, 3)
    assert (done.state, done.message) == ("done", "已完成（12月10日截止）")


def test_status_across_a_holiday_and_a_weekend(calendar: WorkingCalendar, guangdong: Profile) -> None:
    """`003 §20`: on 23 Feb, the holiday's last day, the dispute due 2 Mar 2026 is 6 working days away:
    24, 25, 26, 27, 28 (Sat, worked), 2 Mar."""
    dispute = some(dispute_item(guangdong, D(2026, 2, 10), calendar))
    on_holiday = status(dispute, D(2026, 2, 23), calendar, 3)
    assert (on_holiday.state, on_holiday.working_days_left) == ("ok", 6)
    # Due on Friday 27 Feb; on Sunday 1 Mar it is a working day late (Saturday 28 Feb was worked).
    friday = Deadline(kind="dispute", subject="测试", due=D(2026, 2, 27), source="003 §20", done=False)
    sunday = status(friday, D(2026, 3, 1), calendar, 3)
    assert (sunday.state, sunday.working_days_left, sunday.message) == ("overdue", -1, "已逾期 1 个工作日（2月27日截止）")
    # Due on Friday 6 Mar; on Saturday 7 Mar it is late by no working day yet, but late.
    friday = Deadline(kind="dispute", subject="测试", due=D(2026, 3, 6), source="003 §20", done=False)
    saturday = status(friday, D(2026, 3, 7), calendar, 3)
    assert (saturday.state, saturday.working_days_left, saturday.message) == ("overdue", 0, "已逾期（3月6日截止）")


def test_status_names_the_year_when_it_differs(calendar: WorkingCalendar, guangdong: Profile) -> None:
    """`003 §21`: the December 2026 claim is due Mon 11 Jan 2027 (10 Jan a Sunday). 2027 has no
    official arrangement yet, but 1 Jan 2027 (元旦, a Friday) is a statutory holiday all the same:
    4, 5, 6, 7, 8, 11 Jan; the message says the 调休 of 2027 is not known."""
    claim = claim_item(guangdong, "2026-12", calendar)
    assert claim is not None
    assert status(claim, D(2026, 12, 31), calendar, 3).message == (
        "还剩 6 个工作日（2027年1月11日截止）；2027 年调休安排未导入，按法定节假日计算")
