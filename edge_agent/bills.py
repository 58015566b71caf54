"""The ``bills`` bus request: a kiosk asks for one household's bills, the edge asks the centre.

The edge holds the hall's credential for the centre; kiosks do not, so they go through it
(DESIGN rule 2). The edge keeps nothing of the answer: bills and registered phones live at
the centre only. The request runs on the bus worker, so it waits at most ``timeout``
seconds (3 by default) and not at all when the centre watch already knows the centre is
down: the resident hears "unavailable now" at once.

``bill_rooms`` gives the hall's rooms (building, unit, room) for the kiosk's pickers.

Answers: the centre's JSON (household, unpaid, paid), or :class:`RequestFailed` with the
centre's code (``not_found``, ``rate_limited``, ``forged``, ``expired``, ``other_hall``,
``unreadable``, ``malformed``) or ``centre_unreachable``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from hall_common.bus.methods import BillsArgs, NoArgs

from .centre_api import CentreAPI
from .component import Component, route

ROOMS_KEEP_S = 600.0


class BillsRelay(Component):
    name = "bills"

    def __init__(self, centre: CentreAPI, *, clock: Any = time.monotonic) -> None:
        self.centre, self.clock = centre, clock
        self._rooms: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    @route("bill_rooms")
    def handle_rooms(self, requester: str, args: NoArgs) -> dict[str, Any]:
        """The hall's rooms for the kiosk's pickers (building, unit, room; nobody's name),
        kept for 10 minutes: every resident who picks a room asks for them."""
        with self._lock:
            if self._rooms is not None and self.clock() - self._rooms[0] < ROOMS_KEEP_S:
                return self._rooms[1]
        answer = self.centre.call("GET", "/api/v1/residents/rooms", what="rooms")
        with self._lock:
            self._rooms = (self.clock(), answer)
        return answer

    @route("bills")
    def handle_bills(self, requester: str, args: BillsArgs) -> dict[str, Any]:
        if args.qr is not None:
            body = {"kiosk": requester, "qr": args.qr}
        else:
            body = {"kiosk": requester, "room": args.room, "last4": args.last4}
        return self.centre.call("POST", "/api/v1/residents/bills", body, what="bills")
