"""The commitment: first feedback within one working hour (working hours from configuration,
holidays from the national calendar and the configured closed dates), emergencies at once.
Pure functions of the hours and a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hall_common.config import HoursConfig
from hall_common.hours import periods_on


def _at(day: datetime, hhmm: str) -> datetime:
    if hhmm == "24:00":
        return day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    h, m = map(int, hhmm.split(":"))
    return day.replace(hour=h, minute=m, second=0, microsecond=0)


def _periods(hours: HoursConfig, day: datetime) -> list[tuple[datetime, datetime]]:
    return [(_at(day, open_), _at(day, close)) for open_, close in periods_on(hours, day.date())]


def add_working_time(start: float, seconds: float, hours: HoursConfig) -> float:
    """The moment ``seconds`` of working time after ``start`` (Unix seconds): time outside
    the working periods and on holidays does not count."""
    zone = ZoneInfo(hours.timezone)
    now = datetime.fromtimestamp(start, zone)
    left = timedelta(seconds=seconds)
    for offset in range(0, 60):
        day = (now + timedelta(days=offset)).replace(hour=0, minute=0, second=0, microsecond=0) if offset else now
        for open_, close in _periods(hours, day):
            begin = max(open_, now)
            if begin >= close:
                continue
            if begin + left <= close:
                return (begin + left).timestamp()
            left -= close - begin
    raise ValueError("no working hours in the next 60 days: check the complaint hours and holidays")


def first_feedback_due(received_at: float, grade: str, hours: HoursConfig, *, within_s: float = 3600) -> float:
    """When the first feedback is due: at once for an emergency, else one working hour on."""
    if grade == "emergency":
        return received_at
    return add_working_time(received_at, within_s, hours)
