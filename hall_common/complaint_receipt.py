"""The paper receipt of a resident's request (template ``complaint_receipt``), the same
whether the kiosk prints it for the resident or staff print it at the counter for a
request taken by phone or in person: the tracking number, the kind and category, the
commitment, and the QR code of the request's phone page.

Chinese only: the receipt is the hall's record of what it promised.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

KIND_ZH = {"complaint": "投诉", "repair": "报修", "suggestion": "建议", "consultation": "咨询", "praise": "表扬"}


def track_url(base: str, tracking_no: str) -> str:
    """``{base}/t/{number}``, the phone page on the edge; the bare number without a base."""
    base = base.rstrip("/")
    return f"{base}/t/{tracking_no}" if base else tracking_no


def commitment(emergency: bool, feedback_due: float, zone: ZoneInfo) -> str:
    """The promise printed: at once for an emergency, else the first-feedback time."""
    if emergency:
        return "紧急事项，立即处理"
    return f"{datetime.fromtimestamp(feedback_due, zone).strftime('%m-%d %H:%M')} 前首次反馈"


def fields(receipt: dict[str, Any], *, url: str, zone: ZoneInfo) -> dict[str, str]:
    """The template's fields from the edge's answer to a ``complaint`` (its receipt)."""
    return {"tracking_no": receipt["readable"], "kind": KIND_ZH.get(receipt["kind"], receipt["kind"]),
            "category": receipt["category_zh"], "deadline": commitment(receipt["emergency"], receipt["feedback_due"], zone),
            "track_url": url}
