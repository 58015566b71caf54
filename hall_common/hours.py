"""Opening hours: is the hall open now, and what to tell a resident when it is not.

Pure functions of the configuration and a time; the app passes its clock in, so tests can
stand at any moment of any day. Days follow the national holiday calendar
(``hall_common/holidays.py``) unless the hall says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hall_common.config import HoursConfig
from hall_common.holidays import Holiday, day_kind

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Today:
    open_now: bool
    periods: list[tuple[str, str]]  # today's (open, close) pairs, local time
    next_open: datetime | None       # when it opens next, if closed now
    holiday: Holiday | None = None   # closed today for this statutory holiday


def local_now(hours: HoursConfig, now: datetime) -> datetime:
    return now.astimezone(ZoneInfo(hours.timezone))


def _weekday_periods(hours: HoursConfig, weekday: int) -> list[tuple[str, str]]:
    name = DAYS[weekday]
    return sorted((p.open, p.close) for p in hours.periods if name in p.days)


def _working_day_periods(hours: HoursConfig, day: date) -> list[tuple[str, str]]:
    """The hours of an ordinary working day (the first of Monday to Friday the hall opens),
    for a 调休 Saturday or an opened holiday."""
    for weekday in range(5):
        periods = _weekday_periods(hours, weekday)
        if periods:
            return periods
    return _weekday_periods(hours, day.weekday())


def holiday_on(hours: HoursConfig, day: date) -> Holiday | None:
    """The statutory holiday that closes the hall on ``day``, if it follows the calendar."""
    if hours.holidays != "cn" or day in hours.open_dates:
        return None
    return day_kind(day).holiday


def periods_on(hours: HoursConfig, day: date) -> list[tuple[str, str]]:
    """The hall's (open, close) pairs on ``day``: its weekday's periods, none on a closed
    date or a statutory holiday, a working day's on a 调休 weekend day or an opened date.
    The one rule for the kiosk, the queue and the complaint deadline."""
    if day in hours.closed_dates:
        return []
    if day in hours.open_dates:
        return _working_day_periods(hours, day)
    if hours.holidays == "cn":
        kind = day_kind(day)
        if kind.holiday is not None:
            return []
        if kind.working_weekend:
            return _working_day_periods(hours, day)
    return _weekday_periods(hours, day.weekday())


def today(hours: HoursConfig, now: datetime) -> Today:
    """Whether the hall is open at ``now`` (an aware datetime) and when it opens next."""
    local = local_now(hours, now)
    hhmm = local.strftime("%H:%M")
    periods = periods_on(hours, local.date())
    open_now = any(start <= hhmm < end for start, end in periods)
    next_open = None
    if not open_now:
        for offset in range(0, 15):
            day = local + timedelta(days=offset)
            for start, _ in periods_on(hours, day.date()):
                if offset > 0 or start > hhmm:
                    h, m = map(int, start.split(":"))
                    next_open = day.replace(hour=h, minute=m, second=0, microsecond=0)
                    break
            if next_open:
                break
    return Today(open_now, periods, next_open, None if periods else holiday_on(hours, local.date()))


def week_table(hours: HoursConfig) -> list[tuple[str, list[tuple[str, str]]]]:
    """(day, periods) for Monday to Sunday, for the hours shown on screen."""
    return [(d, sorted((p.open, p.close) for p in hours.periods if d in p.days)) for d in DAYS]
