"""Working days of 2024–2026, day by day, against an independent source: the State Council notices
written out in `official_holidays.py` (not the shipped TOML files, not the `holidays` package).

DOMAIN "Uploads and their deadlines": a year without the official arrangement still has its
statutory holidays (全国年节及纪念日放假办法, computed by `holidays`, lunar dates included); the
shipped files are the official source of 调休 and override it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from app.claims.calendar import WorkingCalendar, load_calendar, site_folder, statutory_holidays
from tests.claims import official_holidays

D = dt.date
YEARS = (2024, 2025, 2026)


def _days(year: int) -> list[dt.date]:
    return [D(year, 1, 1) + dt.timedelta(days=i) for i in range((D(year + 1, 1, 1) - D(year, 1, 1)).days)]


@pytest.mark.parametrize("year", YEARS)
def test_shipped_calendar_matches_the_notices_day_by_day(year: int) -> None:
    shipped = load_calendar(None)
    differences = [day for day in _days(year)
                   if shipped.is_working_day(day) != official_holidays.is_working_day(day)]
    assert differences == []


@pytest.mark.parametrize("year", YEARS)
def test_statutory_holidays_are_days_off_in_the_notices(year: int) -> None:
    """The package's statutory days (lunar ones included: 春节, 清明, 端午, 中秋) each fall on a day
    the notice gives off; 2025 added 除夕 and 5月2日 (国务院令第795号): 11 days before, 13 from 2025."""
    statutory = statutory_holidays(year)
    assert set(statutory) <= official_holidays.days_off(year)
    assert len(statutory) == (11 if year == 2024 else 13)


@pytest.mark.parametrize("year", YEARS)
def test_without_a_file_only_the_swaps_differ(year: int) -> None:
    """No file at all: statutory holidays known; a day differs from the notice only where the notice
    swaps (a weekend day worked, or a weekday off that is no statutory holiday)."""
    bare = WorkingCalendar()
    assert bare.missing_years(year, year) == [year]
    swaps = official_holidays.weekend_workdays(year) | (official_holidays.days_off(year) - set(statutory_holidays(year)))
    for day in _days(year):
        if bare.is_working_day(day) != official_holidays.is_working_day(day):
            assert day in swaps, day


def test_a_file_overrides_the_package_for_its_year(isolated_home: Path) -> None:
    """A site's 2027 file is the official source of 2027: its swaps count, and 2027 is no longer missing."""
    config = isolated_home / "config"
    folder = site_folder(config)
    folder.mkdir(parents=True)
    (folder / "2027.toml").write_text(
        'year = 2027\nsource = "测试用：2027年部分节假日安排"\n\n'
        '[[holiday]]\nname = "春节"\nfrom = "2027-02-05"\nto = "2027-02-11"\nworkdays = ["2027-02-20"]\n',
        encoding="utf-8")
    without = load_calendar(None)
    assert without.is_working_day(D(2027, 2, 9)) and not without.is_working_day(D(2027, 2, 20))
    assert without.missing_years(2027, 2027) == [2027]
    with_file = load_calendar(config)
    assert not with_file.is_working_day(D(2027, 2, 9))  # off by the file's 调休
    assert with_file.is_working_day(D(2027, 2, 20))  # Saturday worked by the file
    assert with_file.missing_years(2027, 2027) == []
