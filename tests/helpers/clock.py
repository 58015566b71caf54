"""Time that a test moves: the clock a service reads instead of ``time.time``, and instants
in the hall's zone (China time)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> float:
    """``at(2026, 11, 24, 9, 0)``: that wall-clock time in China, as Unix seconds."""
    return datetime(*args, tzinfo=TZ).timestamp()


class Clock:
    """``now`` for the code under test; the test sets ``t`` or calls :meth:`advance`."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
