"""Tracking numbers: short, readable, unique across halls, and checked for typos.

``HHH YYMMDD NNN C``: the hall's three-digit code (unique in the company), the day, the
record's number that day, and a Luhn check digit, so a mistyped digit or two swapped digits
are caught before anything is looked up. 13 digits, read aloud in groups: ``101 261124 042 7``.
The check itself is in :mod:`hall_common.tracking_numbers`, so the kiosk can use it too.
"""

from __future__ import annotations

import re

from hall_common.tracking_numbers import PATTERN, luhn_digit, valid

__all__ = ["PATTERN", "luhn_digit", "make", "readable", "valid"]


def make(hall_code: str, day: str, seq: int) -> str:
    """``day`` is ``YYYY-MM-DD``; ``seq`` 1..999."""
    if not (re.fullmatch(r"\d{3}", hall_code) and 1 <= seq <= 999):
        raise ValueError("a tracking number needs a 3-digit hall code and a sequence of 1..999")
    body = f"{hall_code}{day[2:4]}{day[5:7]}{day[8:10]}{seq:03d}"
    return body + luhn_digit(body)


def readable(number: str) -> str:
    return f"{number[:3]} {number[3:9]} {number[9:12]} {number[12:]}"
