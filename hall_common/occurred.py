"""When a resident's request happened (发生时间, seed 002 一.2): what the kiosk's one-tap
choices and the staff console's date-time field mean, and the one check that the kiosk, the
console and the edge all make, so none of them takes what another refuses.

A time is Unix seconds. It may not be in the future (a few minutes of slack, for clocks
that disagree a little) nor before the hall opened (``[complaints] opened``): either is a
slip of the finger, and the record is what the hall answers for.

>>> zone = ZoneInfo("Asia/Shanghai")
>>> now = datetime(2026, 12, 6, 15, 0, tzinfo=zone).timestamp()
>>> from_choice("yesterday", "9:30", "", now=now, zone=zone) == datetime(2026, 12, 5, 9, 30, tzinfo=zone).timestamp()
True
>>> check(now + 3600, now=now, opened=date(2020, 1, 1), zone=zone)
Traceback (most recent call last):
...
hall_common.occurred.OccurredError: occurred_at: it cannot be in the future
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from hall_common.errors import HallError

CLOCK_SLACK_S = 300
"""How far ahead of the checker's clock a time may be: a kiosk's or a staff PC's clock a
few minutes fast must not turn "just now" into "in the future"."""
DAYS = ("now", "today", "yesterday", "earlier")
"""The kiosk's one-tap choices: 刚才, 今天, 昨天, 更早 (a date)."""
Problem = Literal["missing", "day", "time", "date", "future", "before_opened"]

EN: dict[str, str] = {
    "missing": "give the date and time it happened",
    "day": "choose the day it happened",
    "time": "give the time as hours:minutes, for example 14:30",
    "date": "give the date as year-month-day, for example 2026-11-28",
    "future": "it cannot be in the future",
    "before_opened": "it cannot be before the hall opened ({opened})",
}
ZH: dict[str, str] = {
    "missing": "请填写事情发生的日期和时间",
    "day": "请选择事情发生在哪一天",
    "time": "请按“时:分”填写时间，例如 14:30",
    "date": "请按“年-月-日”填写日期，例如 2026-11-28",
    "future": "不能晚于现在",
    "before_opened": "不能早于本服务中心启用的日期（{opened}）",
}
"""What is wrong, for staff (the console shows both, after the field's name) and for the
edge's refusal."""


class OccurredError(HallError, ValueError):
    """A 发生时间 that cannot be taken; ``problem`` says which rule it broke."""

    def __init__(self, problem: Problem, *, opened: date | None = None) -> None:
        self.problem = problem
        self.opened = opened
        super().__init__(f"occurred_at: {self.text(EN)}")

    def text(self, messages: dict[str, str]) -> str:
        """The message for this problem from ``messages`` (:data:`ZH`, :data:`EN` or a
        kiosk's own translated set), with the opening date filled in."""
        return messages[self.problem].format(opened=self.opened.isoformat() if self.opened else "")


def opened_at(opened: date, zone: ZoneInfo) -> float:
    """The first moment of the opening day, in the hall's time zone."""
    return datetime.combine(opened, time(0, 0), zone).timestamp()


def check(ts: float, *, now: float, opened: date, zone: ZoneInfo) -> float:
    """``ts`` if it can be when a request happened; :class:`OccurredError` if not."""
    if ts > now + CLOCK_SLACK_S:
        raise OccurredError("future")
    if ts < opened_at(opened, zone):
        raise OccurredError("before_opened", opened=opened)
    return ts


def parse_time(text: str) -> time:
    """``14:30``, ``9:05``, ``1430``, ``930`` or ``14`` (on the hour), as typed on a keypad."""
    text = re.sub(r"\s", "", text).replace("：", ":")
    m = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})|([0-9]{1,2})([0-9]{2})|([0-9]{1,2})", text)
    if not m:
        raise OccurredError("time")
    hour, minute = (m[1], m[2]) if m[1] else (m[3], m[4]) if m[3] else (m[5], "0")
    if not (0 <= int(hour) <= 23 and 0 <= int(minute) <= 59):
        raise OccurredError("time")
    return time(int(hour), int(minute))


def parse_date(text: str) -> date:
    """``2026-11-28`` (or ``20261128``)."""
    text = re.sub(r"\s", "", text)
    m = re.fullmatch(r"([0-9]{4})-?([0-9]{1,2})-?([0-9]{1,2})", text)
    try:
        if not m:
            raise ValueError(text)
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise OccurredError("date") from None


def from_choice(day: str, time_text: str, date_text: str, *, now: float, zone: ZoneInfo) -> float:
    """The kiosk's answer: ``day`` one of :data:`DAYS`; the time for anything but ``now``,
    the date for ``earlier``. Not yet checked against now and the opening day."""
    if day not in DAYS:
        raise OccurredError("day")
    if day == "now":
        return now
    today = datetime.fromtimestamp(now, zone).date()
    on = {"today": today, "yesterday": today - timedelta(days=1)}.get(day)
    if on is None:
        on = parse_date(date_text)
    return datetime.combine(on, parse_time(time_text), zone).timestamp()


def from_local(text: str, zone: ZoneInfo) -> float:
    """A browser's ``datetime-local`` value (``2026-12-06T09:30``, seconds optional), read
    in the hall's time zone."""
    text = text.strip()
    if not text:
        raise OccurredError("missing")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise OccurredError("missing") from None
    if moment.tzinfo is not None:
        return moment.timestamp()
    return moment.replace(tzinfo=zone).timestamp()


def local_text(ts: float, zone: ZoneInfo) -> str:
    """``ts`` as a ``datetime-local`` value, to put a time back in the console's form."""
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%dT%H:%M")
