"""Tracking numbers: short, readable, unique across halls, and checked for typos.

``HHH YYMMDD NNN C``: the hall's three-digit code (unique in the company), the day, the
record's number that day, and a Luhn check digit, so a mistyped digit or two swapped digits
are caught before anything is looked up. 13 digits, read aloud in groups: ``101 261124 042 7``.
"""

from __future__ import annotations

import re

PATTERN = re.compile(r"^\d{13}$")


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def make(hall_code: str, day: str, seq: int) -> str:
    """``day`` is ``YYYY-MM-DD``; ``seq`` 1..999."""
    if not (re.fullmatch(r"\d{3}", hall_code) and 1 <= seq <= 999):
        raise ValueError("a tracking number needs a 3-digit hall code and a sequence of 1..999")
    body = f"{hall_code}{day[2:4]}{day[5:7]}{day[8:10]}{seq:03d}"
    return body + luhn_digit(body)


def valid(number: str) -> bool:
    return bool(PATTERN.match(number)) and luhn_digit(number[:-1]) == number[-1]


def readable(number: str) -> str:
    return f"{number[:3]} {number[3:9]} {number[9:12]} {number[12:]}"
