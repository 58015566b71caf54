"""Checking a tracking number, shared by the edge (which issues them) and the kiosk (which
reads them off a receipt's QR code).

The check lives here, not in ``edge_agent``, because no part imports another part's
internals (DESIGN): the kiosk needs to reject a mistyped or misread number before it asks
the edge anything, and the edge needs the same rule when it issues one.

``HHH YYMMDD NNN C``: 13 digits whose last is a Luhn check digit, so one wrong digit or two
swapped neighbours are caught::

    >>> valid("1012611240429"), valid("1012611240420")
    (True, False)
"""

from __future__ import annotations

import re

PATTERN = re.compile(r"^[0-9]{13}$")
"""13 ASCII digits (``\\d`` would also take other scripts' digits, which ``int()`` accepts)."""


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def valid(number: str) -> bool:
    """True for 13 ASCII digits whose last is the Luhn check digit of the first 12."""
    return PATTERN.fullmatch(number) is not None and luhn_digit(number[:-1]) == number[-1]
