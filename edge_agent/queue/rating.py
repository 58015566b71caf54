"""Residents rate the counter service of a ticket they were served on (seed 000 clause 6.1).

One rating per ticket, only for a ticket of the current service day that was served
(``done``): the resident still has the paper or the screen in hand, and the rating can be
put on the counter and the staff member who served it, which is what makes it useful for
improving the service (6.1.3: the evaluation must reflect real satisfaction, so it is tied
to a real visit and cannot be repeated to stuff the figures).

These functions run inside the engine's lock and write transaction
(:meth:`QueueEngine.rate`); they take the database and return values.

Example::

    engine.rate("A012", "satisfied", kiosk="kiosk-01", request="…uuid…", comment="办理快")
    engine.satisfaction()["counters"]["c1"]   # {"rated": 1, "satisfied": 1, "share": 1.0, ...}
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any, Callable

from hall_common.errors import RequestFailed

if TYPE_CHECKING:
    import sqlite_utils

RATINGS: dict[str, str] = {
    "very_satisfied": "非常满意", "satisfied": "满意", "basically_satisfied": "基本满意",
    "dissatisfied": "不满意", "very_dissatisfied": "非常不满意",
}
"""The five levels, best first (the same scale as complaint ratings)."""

SATISFIED = ("very_satisfied", "satisfied")
"""What counts toward the satisfaction share: 基本满意 is shown apart, not counted as
satisfied, so a counter cannot look good on lukewarm answers."""

MAX_COMMENT = 200

CODE = re.compile(r"^([A-Z]{1,2})(\d{1,4})$")
"""A ticket code as printed (``A012``); leading zeros may be left out (``A12``)."""

Record = Callable[["sqlite_utils.Database", str, dict[str, Any], str, str], None]


def parse_code(code: str) -> tuple[str, int]:
    """``" a012 "`` → ``("A", 12)``; ValueError naming the field when it is not a code."""
    m = CODE.match("".join(str(code).split()).upper())
    if m is None:
        raise ValueError("code: a ticket code as printed, a letter and digits (e.g. A012)")
    return m.group(1), int(m.group(2))


def check_rating(rating: object) -> str:
    if rating not in RATINGS:
        raise ValueError(f"rating: one of {', '.join(RATINGS)}")
    return str(rating)


def check_comment(comment: object) -> str:
    if not isinstance(comment, str):
        raise ValueError("comment: text")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise ValueError(f"comment: at most {MAX_COMMENT} characters")
    return comment


def find_ticket(db: sqlite_utils.Database, day: str, service: str | None, number: int) -> dict[str, Any]:
    """Today's ticket with that number, ready to rate; RequestFailed otherwise.

    ``not_found`` (no such ticket today), ``not_yet`` (still waiting or at the counter),
    ``not_served`` (a no-show or cancelled), ``already_rated``.
    """
    rows = [] if service is None else list(db.query(
        "SELECT * FROM tickets WHERE day = ? AND issued_service = ? AND number = ?", [day, service, number]))
    if not rows:
        raise RequestFailed("not_found", "no ticket with this code today")
    ticket = rows[0]
    if ticket["status"] in ("issued", "called", "serving"):
        raise RequestFailed("not_yet", "a ticket can be rated once it has been served")
    if ticket["status"] != "done":
        raise RequestFailed("not_served", f"the ticket was not served ({ticket['status']})")
    if db.execute("SELECT 1 FROM service_ratings WHERE ticket = ?", [ticket["id"]]).fetchone():
        raise RequestFailed("already_rated", "this ticket has been rated already")
    return ticket


def by_request(db: sqlite_utils.Database, request: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM service_ratings WHERE request_id = ?", [request]))
    return rows[0] if rows else None


def store(db: sqlite_utils.Database, ticket: dict[str, Any], rating: str, comment: str, *, kiosk: str,
          request: str | None, now: float, record: Record | None) -> dict[str, Any]:
    """Write the rating and its outbox record (call inside one transaction)."""
    row = {"id": str(uuid.uuid4()), "request_id": request, "ticket": ticket["id"], "day": ticket["day"],
           "code": ticket["code"], "service": ticket["service"], "counter": ticket["counter"],
           "staff": ticket["served_by"], "rating": rating, "comment": comment, "kiosk": kiosk, "rated_at": now}
    db["service_ratings"].insert(row)
    if record is not None:
        record(db, "service_rating", {k: v for k, v in row.items() if k != "request_id"}, kiosk, row["id"])
    return row


def satisfaction(db: sqlite_utils.Database, day: str, counters: list[str]) -> dict[str, Any]:
    """A day's ratings, in total and per counter: how many, how many satisfied and their
    share, the count per level, and the comments (newest first)."""
    rows = list(db.query("SELECT * FROM service_ratings WHERE day = ? ORDER BY rated_at DESC", [day]))

    def figures(group: list[dict[str, Any]]) -> dict[str, Any]:
        good = sum(r["rating"] in SATISFIED for r in group)
        return {"rated": len(group), "satisfied": good, "share": round(good / len(group), 3) if group else None,
                "levels": {k: sum(r["rating"] == k for r in group) for k in RATINGS}}

    return {"day": day, "total": figures(rows),
            "counters": {c: figures([r for r in rows if r["counter"] == c]) for c in counters},
            "comments": [{k: r[k] for k in ("code", "counter", "staff", "rating", "comment", "rated_at")}
                         for r in rows if r["comment"]]}
