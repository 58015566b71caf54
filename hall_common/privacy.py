"""Masking of personal data before it reaches a screen, a printout or a log.

Residents share the kiosk screen with whoever stands behind them: a phone number or a name
is shown only masked (seed 003: personal data never shown or leaked). Masking happens on
the server, so the unmasked value never reaches the page at all.

>>> mask_phone("13812345678")
'138****5678'
>>> mask_name("张三丰")
'张**'
"""

from __future__ import annotations

import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_phone(text: str) -> str:
    """Mask every mainland mobile number in ``text``: ``13812345678`` -> ``138****5678``."""
    return _PHONE.sub(r"\1****\2", text)


def mask_name(name: str) -> str:
    """Keep the first character (the family name, or an initial): ``张三`` -> ``张*``."""
    name = name.strip()
    if len(name) <= 1:
        return "*" if name else ""
    return name[0] + "*" * (len(name) - 1)
