"""The counter's business date: Beijing's, never this machine's time zone.

A counter PC left on UTC (or a shared server abroad) is still on yesterday until 08:00 Beijing
time; every date the counter writes or judges by (a 补登记 due today, a card's last day, the
day-end report, a slip's print date, a claim's month) is the one the centre and the agency use.
The centre's replies correct this counter's clock (`wire.centre_now`, issue 21 B7).
"""

from __future__ import annotations

import datetime as dt

from app.centre.wire import centre_now


def business_today() -> dt.date:
    return centre_now().date()
