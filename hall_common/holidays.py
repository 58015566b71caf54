"""The State Council's holiday schedule: which days are statutory holidays and which
weekend days are working days instead (调休), from the ``chinesecalendar`` package.

A hall that works Monday to Friday is closed on 国庆 even when 1 October is a Thursday,
and open on the Saturday the schedule makes a working day; the one-working-hour promise
(edge_agent/complaints/deadline.py) counts the same days. The package carries each year's
schedule once the State Council publishes it (usually in November for the year after):
for a year it does not know yet, every day is an ordinary day by its weekday, and a
warning says to update the package.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date

log = logging.getLogger(__name__)

NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


@dataclass(frozen=True)
class Holiday:
    """A statutory holiday: its name in English (the package's) and in Chinese."""

    name_en: str
    name_zh: str


@dataclass(frozen=True)
class DayKind:
    """What the national calendar says of one date."""

    holiday: Holiday | None = None
    """A statutory day off (国庆, 春节, …): halls that follow the calendar are closed."""
    working_weekend: bool = False
    """A Saturday or Sunday made a working day (调休): open with working-day hours."""
    known: bool = True
    """False when the package has no schedule for the year: the day is taken by its weekday."""


ORDINARY = DayKind()


@functools.lru_cache(maxsize=400)
def day_kind(day: date) -> DayKind:
    """The national calendar's word on ``day`` (cached: a year is 365 small entries)."""
    import chinese_calendar

    try:
        off, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        _warn_unknown_year(day.year)
        return DayKind(known=False)
    if off and name is not None:
        english = str(name)
        return DayKind(holiday=Holiday(english, NAMES_ZH.get(english, english)))
    if not off and day.weekday() >= 5:
        return DayKind(working_weekend=True)
    return ORDINARY


@functools.lru_cache(maxsize=None)
def _warn_unknown_year(year: int) -> None:
    log.warning("the holiday calendar has no schedule for %s: days are taken by their weekday; "
                "update chinesecalendar once the State Council publishes it", year)
