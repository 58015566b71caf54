"""Opening hours: the kiosks show them, the edge's queue keeps them, the centre pushes them."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from .base import Section, TimeZone


_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_CLOSE = r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class OpeningPeriod(Section):
    """The hall is open from ``open`` to ``close`` (local time) on each of ``days``."""

    days: list[Weekday] = Field(min_length=1)
    open: str = Field(pattern=_HHMM)
    close: str = Field(pattern=_CLOSE, description="24:00 for open until midnight")

    @model_validator(mode="after")
    def _open_before_close(self) -> "OpeningPeriod":
        if self.open >= self.close:
            raise ValueError(f"open {self.open} must be before close {self.close}")
        return self


class HoursConfig(Section):
    """Opening hours and what residents can do after them (seed 000 clause 4.7)."""

    timezone: TimeZone = "Asia/Shanghai"
    periods: list[OpeningPeriod] = Field(
        default_factory=lambda: [OpeningPeriod(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], open="08:30", close="18:00")]
    )
    holidays: Literal["cn", "none"] = Field(
        "cn", description="cn: closed on the State Council's statutory holidays and open on its 调休 working weekends "
                          "with working-day hours (hall_common/holidays.py); none: every day by its weekday")
    closed_dates: list[date] = Field(default_factory=list, description="more days the hall is closed (overrides)")
    open_dates: list[date] = Field(default_factory=list,
                                   description="days open with working-day hours although a holiday (overrides; a closed date wins)")
    after_hours_phone: str = Field("", max_length=30)
    online_channels: list[str] = Field(default_factory=list, max_length=6)
