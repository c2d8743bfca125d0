"""The working-day calendar: the shipped notices, the arithmetic across long holidays, the site's
files replacing a shipped year, years not covered, and malformed files refused with the file named.

Working days are what the deadlines count (`000 §30`, `003 §20`; DOMAIN.md "Uploads and their
deadlines").
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from app.claims.calendar import (
    WorkingCalendar,
    import_calendar_file,
    load_calendar,
    missing_years_message,
    site_folder,
)
from app.errors import ConfigurationError

D = dt.date


@pytest.fixture(scope="module")
def shipped() -> WorkingCalendar:
    return load_calendar(None)


def test_shipped_years_and_their_notices(shipped: WorkingCalendar) -> None:
    assert [y.year for y in shipped.years] == [2024, 2025, 2026]
    assert "国办发明电〔2025〕7号" in shipped.year(2026).source  # type: ignore[union-attr]
    assert "国办发明电〔2024〕12号" in shipped.year(2025).source  # type: ignore[union-attr]
    assert "国办发明电〔2023〕7号" in shipped.year(2024).source  # type: ignore[union-attr]
    assert all(not y.site for y in shipped.years)


@pytest.mark.parametrize(("year", "working_days", "days_off", "make_up"), [
    # Days off and make-up days as the notices count them (法定节假日 + 调休).
    (2024, 251, 28, 8),
    (2025, 248, 28, 5),
    (2026, 248, 33, 6),
])
def test_each_year_counts(shipped: WorkingCalendar, year: int, working_days: int, days_off: int,
                          make_up: int) -> None:
    assert shipped.working_days_between(D(year - 1, 12, 31), D(year, 12, 31)) == working_days
    assert sum(1 for day in shipped.holidays if day.year == year) == days_off
    assert sum(1 for day in shipped.workdays if day.year == year) == make_up


def test_spring_festival_2026(shipped: WorkingCalendar) -> None:
    # 2月15日（周日）至23日（周一）放假调休；2月14日（周六）、2月28日（周六）上班。
    assert shipped.is_working_day(D(2026, 2, 13))  # Friday
    assert shipped.is_working_day(D(2026, 2, 14))  # Saturday, worked
    assert not any(shipped.is_working_day(D(2026, 2, d)) for d in range(15, 24))
    assert shipped.holiday_name(D(2026, 2, 17)) == "春节"
    assert shipped.is_working_day(D(2026, 2, 24))
    assert shipped.is_working_day(D(2026, 2, 28))  # Saturday, worked
    assert not shipped.is_working_day(D(2026, 3, 1))  # an ordinary Sunday
    # Thursday 12 Feb + 5 working days: 13 (Fri), 14 (Sat, worked), then 24, 25, 26.
    assert shipped.add_working_days(D(2026, 2, 12), 5) == D(2026, 2, 26)
    assert shipped.working_days_between(D(2026, 2, 12), D(2026, 2, 26)) == 5
    assert shipped.working_days_between(D(2026, 2, 14), D(2026, 2, 23)) == 0


def test_spring_festival_2025(shipped: WorkingCalendar) -> None:
    # 1月28日（除夕）至2月4日放假调休；1月26日（周日）、2月8日（周六）上班。
    assert shipped.is_working_day(D(2025, 1, 26))
    assert not shipped.is_working_day(D(2025, 1, 28))
    assert not shipped.is_working_day(D(2025, 2, 4))
    assert shipped.add_working_days(D(2025, 1, 24), 3) == D(2025, 2, 5)  # 26, 27, then 5 Feb
    assert shipped.add_working_days(D(2025, 2, 7), 1) == D(2025, 2, 8)  # Saturday, worked


def test_national_day_2025_and_2026(shipped: WorkingCalendar) -> None:
    # 2025: 10月1日至8日放假调休（国庆节、中秋节）；9月28日（周日）、10月11日（周六）上班。
    assert shipped.is_working_day(D(2025, 9, 28))
    assert not shipped.is_working_day(D(2025, 10, 8))
    assert shipped.is_working_day(D(2025, 10, 11))
    assert shipped.add_working_days(D(2025, 9, 26), 5) == D(2025, 10, 10)  # 28, 29, 30, 9 Oct, 10 Oct
    # 2026: 10月1日至7日放假调休；9月20日（周日）、10月10日（周六）上班。
    assert shipped.is_working_day(D(2026, 9, 20))
    assert not shipped.is_working_day(D(2026, 10, 7))
    assert shipped.add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)  # 8 (Thu), 9 (Fri), 10 (Sat, worked)
    assert shipped.add_working_days(D(2026, 9, 18), 1) == D(2026, 9, 20)  # Sunday, worked


def test_n_zero_and_last_working_day(shipped: WorkingCalendar) -> None:
    assert shipped.add_working_days(D(2026, 2, 13), 0) == D(2026, 2, 13)  # a working day: itself
    assert shipped.add_working_days(D(2026, 2, 15), 0) == D(2026, 2, 24)  # inside the holiday: the next
    assert shipped.last_working_day_on_or_before(D(2026, 2, 23)) == D(2026, 2, 14)
    assert shipped.last_working_day_on_or_before(D(2026, 10, 5)) == D(2026, 9, 30)
    assert shipped.last_working_day_on_or_before(D(2026, 2, 24)) == D(2026, 2, 24)
    with pytest.raises(ValueError):
        shipped.add_working_days(D(2026, 2, 13), -1)


def test_between_is_antisymmetric(shipped: WorkingCalendar) -> None:
    assert shipped.working_days_between(D(2026, 2, 26), D(2026, 2, 12)) == -5
    assert shipped.working_days_between(D(2026, 3, 2), D(2026, 3, 2)) == 0
    for start, end in [(D(2025, 12, 20), D(2026, 1, 10)), (D(2026, 9, 15), D(2026, 10, 15))]:
        assert shipped.working_days_between(start, end) == -shipped.working_days_between(end, start)
        n = shipped.working_days_between(start, end)
        assert shipped.working_days_between(start, shipped.add_working_days(start, n)) == n


def test_year_not_covered_has_its_statutory_holidays(shipped: WorkingCalendar) -> None:
    """全国年节及纪念日放假办法: 2027's Spring Festival (除夕 5 Feb, 初一至初三 6–8 Feb) is known without a
    file; only the 调休 swaps of 2027 are not, and the message says so."""
    assert not shipped.covers(2027)
    assert shipped.missing_years(2024, 2027) == [2027]
    assert shipped.missing_years(2023, 2026) == [2023]
    assert not shipped.is_working_day(D(2027, 2, 8))  # 春节 初三, a Monday
    assert shipped.holiday_name(D(2027, 2, 5)) == "农历除夕"
    assert shipped.is_working_day(D(2027, 2, 9))  # a swap would make it a day off; unknown yet
    # From Fri 5 Feb: [8 off], 9, 10, 11, 12, 15–19, 22 Feb.
    assert shipped.add_working_days(D(2027, 2, 5), 10) == D(2027, 2, 22)
    assert missing_years_message(shipped, 2026, 2027) == (
        "2027 年的调休安排（国务院办公厅节假日安排通知）尚未导入：工作日暂按周末和法定节假日计算，"
        "调休未计入，截止日可能相差几天；通知发布后请管理员导入该年的节假日安排")
    assert missing_years_message(shipped, 2024, 2026) is None
    empty = WorkingCalendar()  # no file at all: statutory holidays only, no 调休
    assert not empty.is_working_day(D(2026, 2, 16))  # 除夕 2026
    assert not empty.is_working_day(D(2026, 2, 14))  # a Saturday, worked only by the 2026 notice
    assert empty.is_working_day(D(2026, 2, 20))  # off only by the 2026 notice


# --- the site's files -----------------------------------------------------------------

YEAR_2027 = """\
year = 2027
source = "测试用：2027年部分节假日安排"

[[holiday]]
name = "春节"
from = "2027-02-06"
to = "2027-02-13"
workdays = ["2027-02-14"]
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_site_file_adds_a_year(isolated_home: Path) -> None:
    config = isolated_home / "config"
    write(site_folder(config), "2027.toml", YEAR_2027)
    calendar = load_calendar(config)
    assert calendar.covers(2027) and calendar.year(2027).site  # type: ignore[union-attr]
    assert not calendar.is_working_day(D(2027, 2, 8))
    assert calendar.is_working_day(D(2027, 2, 14))  # Sunday, worked
    assert calendar.missing_years(2024, 2027) == []


def test_site_file_replaces_the_shipped_year(isolated_home: Path) -> None:
    """A newer notice for 2026 (here: the Spring Festival extended to 2月27日) replaces the shipped file whole."""
    config = isolated_home / "config"
    write(site_folder(config), "2026.toml", """\
year = 2026
source = "国务院办公厅关于延长2026年春节假期的通知（测试）"

[[holiday]]
name = "春节"
from = "2026-02-15"
to = "2026-02-27"
""")
    calendar = load_calendar(config)
    year = calendar.year(2026)
    assert year is not None and year.site and "延长" in year.source
    assert not calendar.is_working_day(D(2026, 2, 26))
    assert not calendar.is_working_day(D(2026, 2, 14))  # the shipped make-up Saturday is gone with its file
    assert calendar.is_working_day(D(2026, 10, 1))  # 国庆 is not in the site's file: a plain Thursday
    assert calendar.year(2025) is not None and not calendar.year(2025).site  # type: ignore[union-attr]


def test_import_installs_atomically(isolated_home: Path, tmp_path: Path) -> None:
    config = isolated_home / "config"
    source = write(tmp_path / "download", "2027年节假日.toml", YEAR_2027)
    assert import_calendar_file(source, config) == 2027
    installed = site_folder(config) / "2027.toml"
    assert installed.read_text(encoding="utf-8") == YEAR_2027  # the file as written, comments and all
    assert sorted(p.name for p in site_folder(config).iterdir()) == ["2027.toml"]  # no temporary left
    assert load_calendar(config).covers(2027)
    # A second import of the same year replaces the first.
    write(tmp_path / "download", "fix.toml", YEAR_2027.replace('"2027-02-14"', '"2027-02-20"'))
    assert import_calendar_file(tmp_path / "download" / "fix.toml", config) == 2027
    assert load_calendar(config).is_working_day(D(2027, 2, 20))


def test_import_refuses_a_bad_file_and_keeps_the_old(isolated_home: Path, tmp_path: Path) -> None:
    config = isolated_home / "config"
    import_calendar_file(write(tmp_path, "good.toml", YEAR_2027), config)
    bad = write(tmp_path, "bad.toml", YEAR_2027.replace('"2027-02-13"', '"2027-02-31"'))
    with pytest.raises(ConfigurationError) as refused:
        import_calendar_file(bad, config)
    assert str(bad) in refused.value.message
    assert (site_folder(config) / "2027.toml").read_text(encoding="utf-8") == YEAR_2027
    assert os.listdir(site_folder(config)) == ["2027.toml"]
    with pytest.raises(ConfigurationError, match="无法读取"):
        import_calendar_file(tmp_path / "missing.toml", config)


HEAD = 'year = 2026\nsource = "测试"\n'


@pytest.mark.parametrize(("body", "problem"), [
    ('[[holiday]]\nname = "春节"\ndays = ["2026-02-30"]\n', "2026-02-30 不是有效日期"),
    ('[[holiday]]\nname = "春节"\ndays = ["2026/02/16"]\n', "不是日期"),
    ('[[holiday]]\nname = "元旦"\ndays = ["2025-12-31"]\n', "日期 2025-12-31 不在 2026 年内"),
    ('[[holiday]]\nname = "春节"\nfrom = "2026-02-15"\nto = "2026-02-23"\nworkdays = ["2026-02-15"]\n',
     "2026-02-15 既是放假日（春节）又是调休上班日"),
    ('[[holiday]]\nname = "春节"\nfrom = "2026-02-15"\nto = "2026-02-23"\nworkdays = ["2026-02-13"]\n',
     "调休上班日 2026-02-13 是周五，不是周末"),
    ('[[holiday]]\nname = "春节"\ndays = ["2026-02-16"]\nnote = "x"\n', "未知的键 note"),
    ('flag = true\n[[holiday]]\nname = "春节"\ndays = ["2026-02-16"]\n', "未知的键 flag"),
    ('[[holiday]]\nname = "春节"\nfrom = "2026-02-15"\nto = "2026-12-23"\n', "不是合理的放假区间"),
    ('[[holiday]]\nname = "中秋节"\ndays = ["2026-10-01"]\n[[holiday]]\nname = "国庆节"\ndays = ["2026-10-01"]\n',
     "2026-10-01 重复出现在 中秋节 与 国庆节"),
    ('[[holiday]]\nname = "春节"\n', "应写放假日期"),
    ('', "没有 [[holiday]]"),
    ('[[holiday]\n', "TOML 格式错误"),
])
def test_malformed_site_file_is_refused_with_its_name(isolated_home: Path, body: str, problem: str) -> None:
    config = isolated_home / "config"
    path = write(site_folder(config), "2026.toml", HEAD + body)
    with pytest.raises(ConfigurationError) as refused:
        load_calendar(config)
    assert str(path) in refused.value.message
    assert problem in refused.value.message


def test_file_name_and_year_must_agree(isolated_home: Path) -> None:
    config = isolated_home / "config"
    write(site_folder(config), "2028.toml", YEAR_2027)
    with pytest.raises(ConfigurationError, match="文件名是 2028.toml，但 year = 2027"):
        load_calendar(config)
    (site_folder(config) / "2028.toml").unlink()
    write(site_folder(config), "节假日.toml", YEAR_2027)
    with pytest.raises(ConfigurationError, match="文件名应为年份"):
        load_calendar(config)


def test_missing_source_and_bad_year(isolated_home: Path) -> None:
    config = isolated_home / "config"
    write(site_folder(config), "2027.toml", YEAR_2027.replace('source = "测试用：2027年部分节假日安排"\n', ""))
    with pytest.raises(ConfigurationError, match="缺少 source"):
        load_calendar(config)
    write(site_folder(config), "2027.toml", YEAR_2027.replace("year = 2027", 'year = "2027"'))
    with pytest.raises(ConfigurationError, match="year 应为年份"):
        load_calendar(config)


def test_toml_date_literals_accepted_datetimes_refused(isolated_home: Path) -> None:
    config = isolated_home / "config"
    write(site_folder(config), "2027.toml", YEAR_2027.replace('"2027-02-14"', "2027-02-14"))
    assert load_calendar(config).is_working_day(D(2027, 2, 14))
    write(site_folder(config), "2027.toml", YEAR_2027.replace('"2027-02-14"', "2027-02-14T08:00:00"))
    with pytest.raises(ConfigurationError, match="不是日期"):
        load_calendar(config)
