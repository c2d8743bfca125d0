"""The State Council General Office's holiday arrangements for 2024–2026, written for the tests from
the notices themselves, independently of `resources/calendar/*.toml` and of the `holidays` package:
each item as the notice words it (放假调休 first–last day, the weekend days worked).

- 2024: 国务院办公厅关于2024年部分节假日安排的通知（国办发明电〔2023〕7号）
- 2025: 国务院办公厅关于2025年部分节假日安排的通知（国办发明电〔2024〕12号）
- 2026: 国务院办公厅关于2026年部分节假日安排的通知（国办发明电〔2025〕7号）
"""

from __future__ import annotations

import datetime as dt

# year → [(name, first day off, last day off, weekend days worked)], as "MM-DD".
NOTICES: dict[int, list[tuple[str, str, str, tuple[str, ...]]]] = {
    2024: [
        ("元旦", "01-01", "01-01", ()),  # 1月1日放假，与周末连休
        ("春节", "02-10", "02-17", ("02-04", "02-18")),  # 2月10日至17日放假调休，共8天；2月4日（周日）、2月18日（周日）上班
        ("清明节", "04-04", "04-06", ("04-07",)),  # 4月4日至6日放假调休，共3天；4月7日（周日）上班
        ("劳动节", "05-01", "05-05", ("04-28", "05-11")),  # 5月1日至5日放假调休，共5天；4月28日（周日）、5月11日（周六）上班
        ("端午节", "06-10", "06-10", ()),  # 6月10日放假，与周末连休
        ("中秋节", "09-15", "09-17", ("09-14",)),  # 9月15日至17日放假调休，共3天；9月14日（周六）上班
        ("国庆节", "10-01", "10-07", ("09-29", "10-12")),  # 10月1日至7日放假调休，共7天；9月29日（周日）、10月12日（周六）上班
    ],
    2025: [
        ("元旦", "01-01", "01-01", ()),  # 1月1日（周三）放假1天，不调休
        ("春节", "01-28", "02-04", ("01-26", "02-08")),  # 1月28日（除夕）至2月4日放假调休，共8天；1月26日（周日）、2月8日（周六）上班
        ("清明节", "04-04", "04-06", ()),  # 4月4日（周五）至6日（周日）放假，共3天
        ("劳动节", "05-01", "05-05", ("04-27",)),  # 5月1日至5日放假调休，共5天；4月27日（周日）上班
        ("端午节", "05-31", "06-02", ()),  # 5月31日（周六）至6月2日（周一）放假，共3天
        ("国庆节、中秋节", "10-01", "10-08", ("09-28", "10-11")),  # 10月1日至8日放假调休，共8天；9月28日（周日）、10月11日（周六）上班
    ],
    2026: [
        ("元旦", "01-01", "01-03", ("01-04",)),  # 1月1日（周四）至3日（周六）放假调休，共3天；1月4日（周日）上班
        ("春节", "02-15", "02-23", ("02-14", "02-28")),  # 2月15日至23日放假调休，共9天；2月14日（周六）、2月28日（周六）上班
        ("清明节", "04-04", "04-06", ()),  # 4月4日（周六）至6日（周一）放假，共3天
        ("劳动节", "05-01", "05-05", ("05-09",)),  # 5月1日（周五）至5日（周二）放假调休，共5天；5月9日（周六）上班
        ("端午节", "06-19", "06-21", ()),  # 6月19日（周五）至21日（周日）放假，共3天
        ("中秋节", "09-25", "09-27", ()),  # 9月25日（周五）至27日（周日）放假，共3天
        ("国庆节", "10-01", "10-07", ("09-20", "10-10")),  # 10月1日（周四）至7日（周三）放假调休，共7天；9月20日（周日）、10月10日（周六）上班
    ],
}


def _day(year: int, month_day: str) -> dt.date:
    return dt.date.fromisoformat(f"{year}-{month_day}")


def days_off(year: int) -> set[dt.date]:
    found: set[dt.date] = set()
    for _name, first, last, _worked in NOTICES[year]:
        day = _day(year, first)
        while day <= _day(year, last):
            found.add(day)
            day += dt.timedelta(days=1)
    return found


def weekend_workdays(year: int) -> set[dt.date]:
    return {_day(year, worked) for _name, _first, _last, days in NOTICES[year] for worked in days}


def is_working_day(day: dt.date) -> bool:
    """Per the notice of `day`'s year: a weekday not given off, or a weekend day worked."""
    if day in weekend_workdays(day.year):
        return True
    return day.weekday() < 5 and day not in days_off(day.year)
