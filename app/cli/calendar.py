"""`wi-counter calendar show [--year Y] [--json]` and `wi-counter calendar import FILE`.

The holiday files behind the working-day deadlines (`resources/calendar/README.md`). Neither action
opens the database: they read and
write files in the config folder only. Exit 0 ok, 1 an installed file is broken, 2 bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from app.business_date import business_today
from app.cli.common import CommandLine, paths_of, print_json
from app.claims.calendar import WEEKDAY_LABELS, CalendarYear, HolidayPeriod, WorkingCalendar

FIRST_YEAR = 2024  # the first year shipped; `show` reports coverage from here to next year


def register(cli: CommandLine) -> None:
    cli.group("calendar", "节假日安排（工作日日历）：查看、导入 / the working-day calendar: show, import", show_command)
    show = cli.action("calendar", "show",
                      "某年的放假日和调休上班日，以及 2024 年至明年各年是否已导入"
                      " / a year's days off and make-up working days, and which years are covered", show_command)
    show.add_argument("--year", type=int, metavar="YEAR", help="年份，默认今年 / the year, default this year")
    show.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    importing = cli.action("calendar", "import",
                           "检查并安装一年的节假日文件到配置文件夹（替换同一年随程序提供的文件）"
                           " / check and install a year's holiday file into the config folder (replaces the shipped year)",
                           import_command)
    importing.add_argument("file", type=Path, metavar="FILE",
                           help="节假日文件（TOML，格式见 resources/calendar/README.md） / the holiday file")


def _origin(year: CalendarYear) -> str:
    return "本院导入 / site" if year.site else "随程序提供 / shipped"


def _day(day: dt.date) -> str:
    return f"{day.month}月{day.day}日（{WEEKDAY_LABELS[day.weekday()]}）"


def _period_text(period: HolidayPeriod) -> str:
    days = period.days
    contiguous = all((b - a).days == 1 for a, b in zip(days, days[1:]))
    if len(days) > 1 and contiguous:
        text = f"{_day(days[0])}至{_day(days[-1])}，共 {len(days)} 天"
    else:
        text = "、".join(_day(d) for d in days)
    if period.workdays:
        text += f"；调休上班：{'、'.join(_day(d) for d in period.workdays)}"
    return text


def show_command(args: argparse.Namespace) -> int:
    from app.claims.calendar import load_calendar, missing_years_message, statutory_holidays
    from app.errors import ConfigurationError

    today = business_today()
    chosen_year: int | None = getattr(args, "year", None)
    year = today.year if chosen_year is None else chosen_year
    if not 2000 <= year <= 2100:
        print(f"年份应在 2000 至 2100 之间：{year} / --year out of range", file=sys.stderr)
        return 2
    try:
        calendar = load_calendar(paths_of(args).config_dir)
    except ConfigurationError as exc:  # an installed file is broken: the site must fix it
        print(f"错误：{exc.message}", file=sys.stderr)
        return 1
    years = range(min(FIRST_YEAR, year), max(today.year + 1, year) + 1)
    chosen = calendar.year(year)
    warning = missing_years_message(calendar, year, year)
    if getattr(args, "json", False):
        print_json(_as_json(calendar, year, chosen, years, warning))
        return 0
    if chosen is None:
        print(f"{warning} / {year}: no official 调休 arrangement; statutory holidays only")
        print(f"{year} 年法定节假日（全国年节及纪念日放假办法） / statutory holidays of {year}:")
        for day, name in statutory_holidays(year).items():
            print(f"  {name}\t{_day(day)}")
    else:
        print(f"{year} 年节假日安排 / holidays of {year}")
        print(f"依据 / source: {chosen.source}")
        print(f"文件 / file: {chosen.path}（{_origin(chosen)}）")
        for period in chosen.periods:
            print(f"  {period.name}\t{_period_text(period)}")
    print(f"各年份 / coverage {years.start}–{years.stop - 1}:")
    for each in years:
        entry = calendar.year(each)
        if entry is None:
            print(f"  {each}  调休安排未导入，按周末和法定节假日计算 / statutory holidays only")
        else:
            print(f"  {each}  已导入（{_origin(entry)}）  {entry.source}")
    return 0


def _as_json(calendar: WorkingCalendar, year: int, chosen: CalendarYear | None, years: range,
             warning: str | None) -> dict[str, Any]:
    def origin(entry: CalendarYear) -> str:
        return "site" if entry.site else "shipped"

    from app.claims.calendar import statutory_holidays

    document: dict[str, Any] = {"year": year, "covered": chosen is not None, "warning": warning}
    if chosen is None:
        document["statutory"] = [{"day": day.isoformat(), "name": name}
                                 for day, name in statutory_holidays(year).items()]
    else:
        document |= {
            "source": chosen.source, "file": str(chosen.path), "origin": origin(chosen),
            "holidays": [{"name": p.name, "days": [d.isoformat() for d in p.days],
                          "workdays": [d.isoformat() for d in p.workdays]} for p in chosen.periods],
        }
    coverage = []
    for each in years:
        entry = calendar.year(each)
        coverage.append({"year": each, "covered": entry is not None,
                         "origin": None if entry is None else origin(entry),
                         "source": None if entry is None else entry.source})
    document["coverage"] = coverage
    return document


def import_command(args: argparse.Namespace) -> int:
    from app.claims.calendar import import_calendar_file, load_calendar, site_folder
    from app.errors import ConfigurationError

    config_dir = paths_of(args).config_dir
    try:
        year = import_calendar_file(args.file, config_dir)
    except ConfigurationError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        return 2
    target = site_folder(config_dir) / f"{year}.toml"
    replaces = "（替换随程序提供的同年文件 / replaces the shipped year）" if load_calendar(None).covers(year) else ""
    print(f"已导入 {year} 年节假日安排 / imported: {target}{replaces}")
    return 0
