"""The commitment: first feedback within one working hour (working hours and holidays from
configuration), emergencies at once. Pure functions of the hours and a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hall_common.config import HoursConfig
from hall_common.hours import DAYS


def _periods(hours: HoursConfig, day: datetime) -> list[tuple[datetime, datetime]]:
    if day.date() in hours.closed_dates:
        return []
    name = DAYS[day.weekday()]
    out = []
    for p in hours.periods:
        if name in p.days:
            (oh, om), (ch, cm) = (map(int, p.open.split(":")), map(int, p.close.split(":")))
            out.append((day.replace(hour=oh, minute=om, second=0, microsecond=0),
                        day.replace(hour=ch, minute=cm, second=0, microsecond=0)))
    return sorted(out)


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
