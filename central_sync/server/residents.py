"""Households and their bills at the centre, and who may see them.

The centre is the one place that knows a household's registered phone and its bill lines.
A hall asks for one household's bills only after the resident proved who they are at a
kiosk: a resident QR code (:mod:`hall_common.resident_qr`, signed by the centre) or the room
plus the last 4 digits of the registered phone. Wrong room/last-4 attempts are limited per
room (:data:`MAX_FAILURES`) and per caller (:data:`MAX_CALLER_FAILURES`) in
:data:`FAILURE_WINDOW_S`, so nobody guesses digits. The caller is the node whose credential
the request carries (the hall's edge), never a name in the request: the edge's token could
put any kiosk name there and spread its guesses over every room. The edge limits each kiosk
itself, by the node id the broker vouches for (``edge_agent/bills.py``). What goes back names
the owner masked (张*) and holds that room's lines only: every query here is bound to the
hall of the caller's credential and the proven room.

Each line is priced openly (seed 003 §五 明码标价): item, period, amount, the standard and
its basis. Lines past due are marked ``overdue`` as a plain fact; nothing is ever withheld
for arrears.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from central_sync.store import Store
from hall_common import resident_qr
from hall_common.privacy import mask_name

from .refusal import Refused

ITEMS = ("物业费", "车位管理费", "装修管理费", "水费", "电费", "其他代收费用")
MAX_FAILURES = 5
"""Wrong room/last-4 attempts on one room in :data:`FAILURE_WINDOW_S`, from anywhere."""
MAX_CALLER_FAILURES = 20
"""Wrong attempts by one credential in :data:`FAILURE_WINDOW_S`. The edge asks for all of its
hall's kiosks (each held to :data:`MAX_FAILURES` there), so this is a hall's budget: well
above the few typing slips of a busy hour, and what a stolen edge token can guess at most."""
FAILURE_WINDOW_S = 600.0
RECENT_PAID = 3
"""Paid lines shown beside the unpaid ones (the latest few, for reference)."""
LAST4 = re.compile(r"^\d{4}$")
log = logging.getLogger(__name__)


class LookupRefused(Refused):
    """A request for a household's bills that is answered with nothing: ``code`` is
    ``not_found``, ``rate_limited`` or a :class:`~hall_common.resident_qr.QRRefused` reason."""


@dataclass(frozen=True)
class Household:
    hall_id: str
    room: str
    building: str
    unit: str
    owner_name: str
    phone: str


def save_household(store: Store, h: Household) -> None:
    store.execute(
        "INSERT INTO households (hall_id, room, building, unit, owner_name, phone) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (hall_id, room) DO UPDATE SET building = excluded.building, unit = excluded.unit, "
        "owner_name = excluded.owner_name, phone = excluded.phone",
        (h.hall_id, h.room, h.building, h.unit, h.owner_name, h.phone),
    )


def add_line(store: Store, *, hall_id: str, room: str, item: str, period: str, amount_fen: int, standard: str,
             basis: str, due_date: str, status: str = "unpaid", line_id: str | None = None) -> str:
    """One bill line; ``item`` is one of :data:`ITEMS` and ``standard``/``basis`` are required
    (a charge without its standard and basis is not shown to anyone)."""
    if item not in ITEMS:
        raise ValueError(f"item {item!r}: one of {', '.join(ITEMS)}")
    if status not in ("unpaid", "paid") or amount_fen <= 0 or not standard.strip() or not basis.strip():
        raise ValueError("a bill line needs a positive amount, its standard, its basis and a status")
    date.fromisoformat(due_date)
    line_id = line_id or str(uuid.uuid4())
    store.execute(
        "INSERT INTO bill_lines (id, hall_id, room, item, period, amount_fen, standard, basis, due_date, status) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (line_id, hall_id, room, item, period, amount_fen, standard, basis, due_date, status),
    )
    return line_id


def _household(store: Store, hall_id: str, room: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM households WHERE hall_id = ? AND room = ?", (hall_id, room))
    return rows[0] if rows else None


def _used_up(store: Store, limits: dict[str, int], now: float) -> bool:
    """Whether any key of ``limits`` (key → wrong tries allowed) has used up its wrong tries."""
    return any(store.scalar("SELECT count(*) FROM resident_failures WHERE key = ? AND ts > ?",
                            (key, now - FAILURE_WINDOW_S)) >= limit for key, limit in limits.items())


def identify(store: Store, hall_id: str, caller: str, *, room: str | None = None, last4: str | None = None,
             qr: str | None = None, public_key: str, label: str = "", now: float | None = None) -> dict[str, Any]:
    """The proven household of ``hall_id`` (a row), or :class:`LookupRefused`.

    ``hall_id`` and ``caller`` (a node id) come from the request's credential, and the limit
    is kept on them and on the room; ``label`` (the kiosk the request names) is only logged.
    While a limit is used up even the right digits are refused, so guessing learns nothing.
    Counting, judging and recording a try hold the limits' locks (:meth:`Store.lock`), so
    tries that arrive together (a burst, several API workers) take turns and get no more."""
    now = time.time() if now is None else now
    if qr is not None:
        try:
            proven = resident_qr.verify(public_key, qr, hall=hall_id, now=now)
        except resident_qr.QRRefused as exc:
            raise LookupRefused(exc.reason, 403, f"resident code refused: {exc.reason}") from None
        row = _household(store, hall_id, proven)
        if row is None:
            raise LookupRefused("not_found", 404, "no household for this code")
        return row
    room, last4 = (room or "").strip(), (last4 or "").strip()
    if not resident_qr.ROOM.match(room) or not LAST4.match(last4):
        raise LookupRefused("malformed", 422, "room: building-unit-room; last4: 4 digits")
    limits = {f"caller:{hall_id}:{caller}": MAX_CALLER_FAILURES, f"room:{hall_id}:{room}": MAX_FAILURES}
    with store.transaction():
        for key in limits:  # always in this order: caller, then room
            store.lock(f"resident_failures:{key}")
        limited = _used_up(store, limits, now)
        row = None if limited else _household(store, hall_id, room)
        wrong = not limited and (row is None or row["phone"][-4:] != last4)
        if wrong:
            for key in limits:
                store.execute("INSERT INTO resident_failures (key, ts) VALUES (?, ?)", (key, now))
    if limited:
        log.warning("resident lookup refused: too many wrong room/last-4 tries (caller %s/%s, kiosk %s)",
                    hall_id, caller, label or "-")
        raise LookupRefused("rate_limited", 429, "too many wrong attempts; try again in a few minutes")
    if wrong or row is None:
        raise LookupRefused("not_found", 404, "no household matches this room and these digits")
    return row


def _line(r: dict[str, Any], today: str) -> dict[str, Any]:
    due = str(r["due_date"])
    return {"id": str(r["id"]), "item": r["item"], "period": r["period"], "amount_fen": int(r["amount_fen"]),
            "standard": r["standard"], "basis": r["basis"], "due_date": due, "status": r["status"],
            "overdue": r["status"] == "unpaid" and due < today}


def bills_for(store: Store, household: dict[str, Any], *, today: str | None = None) -> dict[str, Any]:
    """What a resident may see: the household (owner masked) and its own lines only."""
    today = today or date.today().isoformat()
    hall_id, room = household["hall_id"], household["room"]
    unpaid = store.query("SELECT * FROM bill_lines WHERE hall_id = ? AND room = ? AND status = 'unpaid' "
                         "ORDER BY due_date, item", (hall_id, room))
    paid = store.query("SELECT * FROM bill_lines WHERE hall_id = ? AND room = ? AND status = 'paid' "
                       f"ORDER BY due_date DESC, item LIMIT {RECENT_PAID}", (hall_id, room))
    return {
        "household": {"room": room, "building": household["building"], "unit": household["unit"],
                      "name": mask_name(household["owner_name"])},
        "unpaid": [_line(r, today) for r in unpaid],
        "paid": [_line(r, today) for r in paid],
    }


def rooms(store: Store, hall_id: str) -> list[dict[str, str]]:
    """The hall's rooms (no names, no phones), for the kiosk's building/unit/room pickers."""
    return [{"room": r["room"], "building": r["building"], "unit": r["unit"]}
            for r in store.query("SELECT room, building, unit FROM households WHERE hall_id = ? ORDER BY room", (hall_id,))]
