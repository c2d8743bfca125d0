"""The counter's business date is Beijing's, whatever this machine's time zone (a date may be near
midnight: a PC on UTC is still on yesterday until 08:00 Beijing time).

CI found it: the 住院一览 showed a 全额垫付 stay's 补登记 (`003 §17`: due the day the fault clears)
as due today, not overdue, when the run passed midnight in Beijing on a machine set to UTC.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from app.business_date import business_today
from tests.devices.test_card_identity import GOOD


def test_business_today_is_beijings_date_not_this_machines(machine_off_beijing: dt.date) -> None:
    assert business_today() == machine_off_beijing != dt.date.today()


def test_a_card_is_expired_after_its_last_day_in_beijing(machine_off_beijing: dt.date) -> None:
    # Whichever way the machine is off, one of the two is judged wrongly from its own date.
    today = machine_off_beijing
    assert not dataclasses.replace(GOOD, expiry_date=today).is_expired()
    assert dataclasses.replace(GOOD, expiry_date=today - dt.timedelta(days=1)).is_expired()


def test_the_day_end_report_is_for_beijings_day_by_default(machine_off_beijing: dt.date) -> None:
    from app.cli.dayend import _day

    assert _day(None) == machine_off_beijing
    assert _day("2026-03-02") == dt.date(2026, 3, 2)
