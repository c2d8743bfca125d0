"""Deadlines as the seeds and the law count them (issue 23 §10).

- A deadline on a rest day moves to the NEXT working day (民法典 第二百零三条; DOMAIN "Uploads and
  their deadlines"), never to an earlier one.
- Monthly claim: Guangdong by the 10th (`003 §21`), Jilin by the 5th (`002 经办规程 §21`). In Beijing
  and the national pilot the hospital uploads promptly (及时, `000 §31`, `001 §31`); the 20th is the
  agency's / the province's date (`000 §31`, `001 §33`), shown as such, not the hospital's deadline.
- Detail upload: 5 working days (`000 §30`, `001 §32`); Jilin real-time (`002 经办规程 §17`).
- Guangdong's 病案首页 within 7 days of the discharge settlement (`003 §16`).
- Disputes: 10 working days from the agency's push (`003 §20`), only where a seed sets a window:
  none in Jilin (`002 经办规程 §23`), none in Beijing or the national pilot.
"""

from __future__ import annotations

import datetime as dt

import pytest

from app.claims.calendar import WorkingCalendar, load_calendar
from app.claims.deadlines import (
    agency_month_item,
    claim_deadline,
    claim_item,
    detail_upload_deadline,
    detail_upload_item,
    dispute_deadline,
    medical_record_deadline,
    status,
)
from app.rules.profiles import Profile, load_profile

D = dt.date


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return load_calendar(None)


def _profile(name: str) -> Profile:
    return load_profile(name)


def test_jilin_september_2025_is_due_after_national_day(calendar: WorkingCalendar) -> None:
    """`002 经办规程 §21` 每月 5 日前: 5 Oct 2025 falls in the National Day holiday (1–8 Oct), so the
    September claim is due Thu 9 Oct 2025 (民法典 第二百零三条), not 30 Sep — a day of the month
    being claimed."""
    due = claim_deadline(_profile("jilin-intra"), "2025-09", calendar)
    assert due == D(2025, 10, 9)
    assert due > D(2025, 9, 30)


@pytest.mark.parametrize(("month", "guangdong_due", "jilin_due"), [
    ("2026-01", D(2026, 2, 10), D(2026, 2, 5)),  # ordinary weekdays
    ("2026-11", D(2026, 12, 10), D(2026, 12, 7)),  # Sat 5 Dec 2026 → Mon 7th
    ("2025-12", D(2026, 1, 12), D(2026, 1, 5)),  # Sat 10 Jan 2026 → Mon 12th
    ("2024-12", D(2025, 1, 10), D(2025, 1, 6)),  # Sun 5 Jan 2025 → Mon 6th
    # 2026 National Day 1–7 Oct: 5 Oct → Thu 8 Oct; 10 Oct 2026 is a Saturday worked (调休上班).
    ("2026-09", D(2026, 10, 10), D(2026, 10, 8)),
    ("2025-09", D(2025, 10, 10), D(2025, 10, 9)),
    # Labour Day 2026 (1–5 May): 5 May → Wed 6th; Sun 10 May → Mon 11th (Sat 9th worked is before it).
    ("2026-04", D(2026, 5, 11), D(2026, 5, 6)),
    # Spring Festival 2024 (10–17 Feb): 10 Feb → Sun 18 Feb, a weekend day worked.
    ("2024-01", D(2024, 2, 18), D(2024, 2, 5)),
])
def test_claim_deadline_moves_to_the_next_working_day(calendar: WorkingCalendar, month: str,
                                                       guangdong_due: dt.date, jilin_due: dt.date) -> None:
    """`003 §21`, `002 经办规程 §21`; a rest day moves the deadline later (民法典 第二百零三条)."""
    assert claim_deadline(_profile("guangdong-intra"), month, calendar) == guangdong_due
    assert claim_deadline(_profile("jilin-intra"), month, calendar) == jilin_due
    assert calendar.is_working_day(guangdong_due) and calendar.is_working_day(jilin_due)


@pytest.mark.parametrize(("name", "source"), [("beijing-cross", "001 §33"), ("national-cross", "000 §31")])
def test_the_20th_is_the_agencys_date_not_the_hospitals(calendar: WorkingCalendar, name: str, source: str) -> None:
    """`000 §31` 协议机构应及时上传…省系统在每月20日前…; `001 §33` 区级经办机构…在每月20日前上传: the hospital
    has no fixed day; the 20th is shown as the agency's date and never turns due-soon or overdue."""
    profile = _profile(name)
    assert claim_deadline(profile, "2026-11", calendar) is None
    assert claim_item(profile, "2026-11", calendar) is None
    agency = agency_month_item(profile, "2026-11", calendar)
    assert agency is not None
    assert (agency.kind, agency.due, agency.source) == ("agency_month", D(2026, 12, 21), source)  # Sun 20th → Mon
    assert "经办机构" in agency.subject and "2026年11月" in agency.subject
    for today in (D(2026, 12, 18), D(2026, 12, 21), D(2026, 12, 28)):
        seen = status(agency, today, calendar, 3)
        assert seen.state == "agency"
        assert "经办机构" in seen.message and "及时" in seen.message
    # Guangdong and Jilin set the hospital's own day and no agency date.
    assert agency_month_item(_profile("guangdong-intra"), "2026-11", calendar) is None
    assert agency_month_item(_profile("jilin-intra"), "2026-11", calendar) is None


def test_jilin_details_go_up_in_real_time(calendar: WorkingCalendar) -> None:
    """`002 经办规程 §17`: …完成联网结算后，将…结算等信息实时上传: due the settlement's own day,
    even a Saturday; Guangdong keeps 5 working days (`000 §30`)."""
    jilin = _profile("jilin-intra")
    assert (jilin.detail_upload_working_days, jilin.source_of("detail_upload_working_days")) == (0, "002 经办规程 §17")
    assert detail_upload_deadline(jilin, D(2026, 12, 3), calendar) == D(2026, 12, 3)
    assert detail_upload_deadline(jilin, D(2026, 12, 5), calendar) == D(2026, 12, 5)
    item = detail_upload_item(jilin, D(2026, 12, 3), calendar, what="结算 9 王五")
    assert "实时" in item.subject and item.source == "002 经办规程 §17"
    assert detail_upload_deadline(_profile("guangdong-intra"), D(2026, 12, 3), calendar) == D(2026, 12, 10)


def test_guangdong_medical_record_within_seven_days(calendar: WorkingCalendar) -> None:
    """`003 §16`: 病案首页可在7天内补齐 — 7 calendar days from the discharge settlement; a rest day at
    the end moves it to the next working day (民法典 第二百零三条). Other regions set none."""
    guangdong = _profile("guangdong-intra")
    assert (guangdong.medical_record_days, guangdong.source_of("medical_record_days")) == (7, "003 §16")
    assert medical_record_deadline(guangdong, D(2026, 12, 1), calendar) == D(2026, 12, 8)
    # Settled Thu 24 Sep 2026: the 7th day, Thu 1 Oct, is National Day (1–7 Oct) → Thu 8 Oct.
    assert medical_record_deadline(guangdong, D(2026, 9, 24), calendar) == D(2026, 10, 8)
    # Settled Sat 5 Dec 2026: the 7th day is Sat 12 Dec → Mon 14 Dec.
    assert medical_record_deadline(guangdong, D(2026, 12, 5), calendar) == D(2026, 12, 14)
    for other in ("jilin-intra", "beijing-cross", "national-cross"):
        assert medical_record_deadline(_profile(other), D(2026, 12, 1), calendar) is None


def test_disputes_only_where_a_seed_sets_a_window(calendar: WorkingCalendar) -> None:
    """`003 §20` 10 working days in Guangdong; Jilin records refusals but sets no window
    (`002 经办规程 §23`); neither does Beijing (`001 §33`) or the national pilot (`000 §31`)."""
    assert dispute_deadline(_profile("guangdong-intra"), D(2026, 12, 1), calendar) == D(2026, 12, 15)
    for name, source in (("jilin-intra", "002 经办规程 §23"), ("beijing-cross", "001 §33"),
                         ("national-cross", "000 §31")):
        profile = _profile(name)
        assert (profile.dispute_working_days, profile.source_of("dispute_working_days")) == (0, source)
        assert dispute_deadline(profile, D(2026, 12, 1), calendar) is None
