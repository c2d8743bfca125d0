"""The working-day calendar (工作日): China's public holidays and make-up working days, as data.

The policy deadlines count working days (`000 §30`, `003 §20`): Monday to Friday unless the
State Council's General Office gives the day off, plus the weekend days it makes working days
(调休上班). Its notice comes out each November for the next year, so the days are data, one
TOML file a year (`resources/calendar/README.md`): the shipped files in `resources/calendar/`,
replaced year by year by the files a site puts in `<config folder>/calendar/` — a new year
needs no new release of the program.

A year no file covers still has its statutory holidays (全国年节及纪念日放假办法: 元旦, 春节 with
除夕, 清明节, 劳动节, 端午节, 中秋节, 国庆节), computed by the `holidays` package, lunar dates
included; only that year's 调休 swaps (the days off moved next to a holiday and the weekend days
worked for them) are unknown. `missing_years` and `missing_years_message` say so wherever deadlines
show, instead of silently guessing. A year's file, when there is one, is the whole truth for that
year: the package is not consulted for it.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import holidays

from app.errors import ConfigurationError
from app.resources import resource_path

CALENDAR_FOLDER = "calendar"
WEEKDAY_LABELS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR_FILE = re.compile(r"\d{4}")
_FILE_KEYS = {"year", "source", "holiday"}
_HOLIDAY_KEYS = {"name", "days", "from", "to", "workdays"}
# A holiday period is a few days; a longer range is a typo (a wrong month), not a holiday.
_LONGEST_PERIOD_DAYS = 31
# The statutory holidays' names as the `holidays` package gives them in Chinese (全国年节及纪念日放假办法);
# its other entries (休息日（由 … 调休）, 补假) are 调休 arrangements or its own guesses, not the law's.
_STATUTORY_NAMES = frozenset({"元旦", "农历除夕", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"})


@functools.cache
def statutory_holidays(year: int) -> dict[dt.date, str]:
    """The statutory holidays of `year` (no 调休): day → name, e.g. 2027-02-05 → 农历除夕."""
    # observed=False: no substitute days of the package's own making; zh_CN: the law's names.
    found = holidays.country_holidays("CN", years=year, observed=False, language="zh_CN")
    days: dict[dt.date, str] = {}
    for day in sorted(found):
        names = [name for name in found.get_list(day) if name in _STATUTORY_NAMES]
        if names:
            days[day] = "、".join(names)
    return days


@dataclass(frozen=True)
class HolidayPeriod:
    """One item of the notice: the days off (放假调休) and the weekend days worked for them."""

    name: str
    days: tuple[dt.date, ...]
    workdays: tuple[dt.date, ...] = ()


@dataclass(frozen=True)
class CalendarYear:
    """One year's arrangement and where it came from."""

    year: int
    source: str  # the notice, e.g. 国务院办公厅关于2026年部分节假日安排的通知（国办发明电〔2025〕7号）
    path: Path  # the file it was read from
    site: bool  # True: the site's config folder; False: shipped with the program
    periods: tuple[HolidayPeriod, ...]


@dataclass(frozen=True)
class WorkingCalendar:
    """Holidays and make-up workdays of the years covered by a file; other years have their
    statutory holidays (`statutory_holidays`) and no 调休."""

    years: tuple[CalendarYear, ...] = ()
    holidays: Mapping[dt.date, str] = field(default_factory=dict)  # day off → holiday name
    workdays: frozenset[dt.date] = frozenset()  # weekend days that are working days
    covered: frozenset[int] = frozenset()  # the years a file covers

    @classmethod
    def of(cls, years: Iterable[CalendarYear]) -> WorkingCalendar:
        ordered = tuple(sorted(years, key=lambda y: y.year))
        days_off = {day: p.name for y in ordered for p in y.periods for day in p.days}
        workdays = frozenset(day for y in ordered for p in y.periods for day in p.workdays)
        return cls(years=ordered, holidays=days_off, workdays=workdays, covered=frozenset(y.year for y in ordered))

    def year(self, year: int) -> CalendarYear | None:
        return next((y for y in self.years if y.year == year), None)

    def covers(self, year: int) -> bool:
        return year in self.covered

    def missing_years(self, start: int, end: int) -> list[int]:
        """The years from `start` to `end` (inclusive) that no file covers."""
        return [year for year in range(start, end + 1) if not self.covers(year)]

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and self.holiday_name(day) is None

    def holiday_name(self, day: dt.date) -> str | None:
        if self.covers(day.year):
            return self.holidays.get(day)
        return statutory_holidays(day.year).get(day)

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after `start` (start itself not counted).

        n = 0 means "by the first working day from start on": start if it is a working day,
        else the next working day — a deadline of zero days still needs an open office.
        """
        if n < 0:
            raise ValueError("n must be ≥ 0")
        day = start
        if n == 0:
            while not self.is_working_day(day):
                day += dt.timedelta(days=1)
            return day
        while n > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end`; negative (the same count
        the other way) when end < start, so that f(a, b) == -f(b, a)."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(1 for offset in range(1, (end - start).days + 1)
                   if self.is_working_day(start + dt.timedelta(days=offset)))

    def first_working_day_on_or_after(self, day: dt.date) -> dt.date:
        """Where a deadline on `day` really falls: a rest day moves it to the next working day
        (民法典 第二百零三条: 期间的最后一日是法定休假日的，以法定休假日结束的次日为期间的最后一日)."""
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def last_working_day_on_or_before(self, day: dt.date) -> dt.date:
        while not self.is_working_day(day):
            day -= dt.timedelta(days=1)
        return day


def missing_years_message(calendar: WorkingCalendar, start: int, end: int) -> str | None:
    """The clerk's warning when a year in [start, end] has no holiday file, else None."""
    missing = calendar.missing_years(start, end)
    if not missing:
        return None
    years = "、".join(str(y) for y in missing)
    return (f"{years} 年的调休安排（国务院办公厅节假日安排通知）尚未导入：工作日暂按周末和法定节假日计算，"
            f"调休未计入，截止日可能相差几天；通知发布后请管理员导入该年的节假日安排")


# --- reading the files ---------------------------------------------------------------


def _date(value: Any, where: str, year: int) -> dt.date:
    # TOML's own date literal or a "YYYY-MM-DD" string; a datetime (a date subclass) is refused.
    if type(value) is dt.date:
        day = value
    elif isinstance(value, str) and _DATE.fullmatch(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise ConfigurationError(f"{where}：{value} 不是有效日期") from None
    else:
        raise ConfigurationError(f"{where}：{value!r} 不是日期（应写成 \"YYYY-MM-DD\"）")
    if day.year != year:
        raise ConfigurationError(f"{where}：日期 {day.isoformat()} 不在 {year} 年内")
    return day


def _dates(value: Any, where: str, year: int) -> tuple[dt.date, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigurationError(f"{where}：应为日期列表，如 [\"{year}-01-01\"]")
    return tuple(_date(item, where, year) for item in value)


def _period(entry: Any, where: str, year: int) -> HolidayPeriod:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}：应为 [[holiday]] 表")
    unknown = sorted(set(entry) - _HOLIDAY_KEYS)
    if unknown:
        raise ConfigurationError(f"{where}：未知的键 {'、'.join(unknown)}（可用：name、days、from、to、workdays）")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"{where}：缺少节日名称 name")
    where = f"{where}（{name}）"
    if "days" in entry:
        if "from" in entry or "to" in entry:
            raise ConfigurationError(f"{where}：days 与 from/to 只能写一种")
        days = _dates(entry["days"], f"{where} days", year)
    elif "from" in entry and "to" in entry:
        first = _date(entry["from"], f"{where} from", year)
        last = _date(entry["to"], f"{where} to", year)
        length = (last - first).days + 1
        if not 1 <= length <= _LONGEST_PERIOD_DAYS:
            raise ConfigurationError(f"{where}：from {first} 至 to {last} 不是合理的放假区间")
        days = tuple(first + dt.timedelta(days=i) for i in range(length))
    else:
        raise ConfigurationError(f"{where}：应写放假日期 days = [...]，或 from = \"…\" 与 to = \"…\"")
    workdays = _dates(entry["workdays"], f"{where} workdays", year) if "workdays" in entry else ()
    for day in workdays:
        if day.weekday() < 5:
            raise ConfigurationError(
                f"{where}：调休上班日 {day} 是{WEEKDAY_LABELS[day.weekday()]}，不是周末（调休上班日应为周六或周日）")
    return HolidayPeriod(name=name.strip(), days=days, workdays=workdays)


def parse_calendar(content: bytes, path: Path, site: bool, expect_year: int | None = None) -> CalendarYear:
    """Read one year's file strictly; every problem raises `ConfigurationError` naming the file."""
    where = f"节假日文件 {path}"
    try:
        document = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigurationError(f"{where}：不是 UTF-8 编码的文本") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{where}：TOML 格式错误（{exc}）") from None
    unknown = sorted(set(document) - _FILE_KEYS)
    if unknown:
        raise ConfigurationError(f"{where}：未知的键 {'、'.join(unknown)}（可用：year、source、holiday）")
    year = document.get("year")
    if type(year) is not int or not 2000 <= year <= 2100:
        raise ConfigurationError(f"{where}：year 应为年份，如 year = 2027")
    if expect_year is not None and year != expect_year:
        raise ConfigurationError(f"{where}：文件名是 {expect_year}.toml，但 year = {year}")
    source = document.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ConfigurationError(f"{where}：缺少 source（依据的放假安排通知，如 国办发明电〔2025〕7号）")
    entries = document.get("holiday")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{where}：没有 [[holiday]] 放假安排")
    periods = tuple(_period(entry, f"{where} 第 {i} 项 [[holiday]]", year) for i, entry in enumerate(entries, 1))
    seen: dict[dt.date, str] = {}
    for period in periods:
        for day in period.days:
            if day in seen:
                raise ConfigurationError(f"{where}：{day} 重复出现在 {seen[day]} 与 {period.name}")
            seen[day] = period.name
    for period in periods:
        for day in period.workdays:
            if day in seen:
                raise ConfigurationError(f"{where}：{day} 既是放假日（{seen[day]}）又是调休上班日")
    return CalendarYear(year=year, source=source.strip(), path=path, site=site, periods=periods)


def _read_folder(folder: Path, site: bool) -> dict[int, CalendarYear]:
    years: dict[int, CalendarYear] = {}
    if not folder.is_dir():
        return years
    for path in sorted(folder.glob("*.toml")):
        if not _YEAR_FILE.fullmatch(path.stem):
            raise ConfigurationError(f"节假日文件 {path}：文件名应为年份，如 2027.toml")
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"节假日文件 {path}：无法读取（{exc.strerror or exc}）") from exc
        calendar_year = parse_calendar(content, path, site, expect_year=int(path.stem))
        years[calendar_year.year] = calendar_year
    return years


def site_folder(config_dir: Path) -> Path:
    return config_dir / CALENDAR_FOLDER


def load_calendar(config_dir: Path | None) -> WorkingCalendar:
    """The shipped years, each replaced by the site's file for that year when there is one."""
    years = _read_folder(resource_path(CALENDAR_FOLDER), site=False)
    if config_dir is not None:
        years.update(_read_folder(site_folder(config_dir), site=True))  # a newer notice wins
    return WorkingCalendar.of(years.values())


def import_calendar_file(path: Path, config_dir: Path) -> int:
    """Validate `path` and install it as `<config_dir>/calendar/<year>.toml`; returns the year.

    The file is written beside its final name and renamed into place, so a failure leaves the
    old file (or none) and never half of the new one.
    """
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"节假日文件 {path}：无法读取（{exc.strerror or exc}）") from exc
    year = parse_calendar(content, path, site=True).year
    folder = site_folder(config_dir)
    target = folder / f"{year}.toml"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{year}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigurationError(f"无法写入 {target}：{exc.strerror or exc}") from exc
    return year
