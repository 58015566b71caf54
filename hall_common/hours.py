"""Opening hours: is the hall open now, and what to tell a resident when it is not.

Pure functions of the configuration and a time; the app passes its clock in, so tests can
stand at any moment of any day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hall_common.config import HoursConfig

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Today:
    open_now: bool
    periods: list[tuple[str, str]]  # today's (open, close) pairs, local time
    next_open: datetime | None       # when it opens next, if closed now


def local_now(hours: HoursConfig, now: datetime) -> datetime:
    return now.astimezone(ZoneInfo(hours.timezone))


def _periods_on(hours: HoursConfig, day: datetime) -> list[tuple[str, str]]:
    if day.date() in hours.closed_dates:
        return []
    name = DAYS[day.weekday()]
    return sorted((p.open, p.close) for p in hours.periods if name in p.days)


def today(hours: HoursConfig, now: datetime) -> Today:
    """Whether the hall is open at ``now`` (an aware datetime) and when it opens next."""
    local = local_now(hours, now)
    hhmm = local.strftime("%H:%M")
    periods = _periods_on(hours, local)
    open_now = any(start <= hhmm < end for start, end in periods)
    next_open = None
    if not open_now:
        for offset in range(0, 15):
            day = local + timedelta(days=offset)
            for start, _ in _periods_on(hours, day):
                if offset > 0 or start > hhmm:
                    h, m = map(int, start.split(":"))
                    next_open = day.replace(hour=h, minute=m, second=0, microsecond=0)
                    break
            if next_open:
                break
    return Today(open_now, periods, next_open)


def week_table(hours: HoursConfig) -> list[tuple[str, list[tuple[str, str]]]]:
    """(day, periods) for Monday to Sunday, for the hours shown on screen."""
    return [(d, sorted((p.open, p.close) for p in hours.periods if d in p.days)) for d in DAYS]
