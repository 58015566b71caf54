"""How a resident's request reached the hall (受理渠道, seed 002 一.1): the kiosk, or staff
taking it by phone (来电), at the counter (来访) or from a message (微信, 短信). One
vocabulary for the edge's records, the staff console, and the centre's pages and figures.

>>> label("walk_in")
'来访 · walk-in'
"""

from __future__ import annotations

CHANNELS: dict[str, tuple[str, str]] = {
    "kiosk": ("自助终端", "kiosk"),
    "phone": ("来电", "phone"),
    "walk_in": ("来访", "walk-in"),
    "wechat": ("微信", "WeChat"),
    "sms": ("短信", "SMS"),
}
"""Channel → (Chinese, English)."""
STAFF_CHANNELS = ("phone", "walk_in", "wechat", "sms")
"""The channels staff take a request from at the console; ``kiosk`` is the kiosk's own."""


def label(channel: str | None) -> str:
    """``来电 · phone``; an unknown value as it is, nothing as ``—``."""
    if not channel:
        return "—"
    zh, en = CHANNELS.get(channel, (channel, ""))
    return f"{zh} · {en}" if en else zh
