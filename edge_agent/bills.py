"""The ``bills`` bus request: a kiosk asks for one household's bills, the edge asks the centre.

The edge holds the hall's credential for the centre; kiosks do not, so they go through it
(DESIGN rule 2). The edge keeps nothing of the answer: bills and registered phones live at
the centre only. The request runs on the bus worker, so it waits at most ``timeout``
seconds (3 by default) and not at all when the centre watch already knows the centre is
down: the resident hears "unavailable now" at once.

``bill_rooms`` gives the hall's rooms (building, unit, room) for the kiosk's pickers.

Wrong room/last-4 answers are limited per kiosk here (:data:`MAX_WRONG` in
:data:`WRONG_WINDOW_S`, then ``rate_limited`` without asking the centre): the centre sees
only the edge's credential, so it limits the hall as a whole and each room. The kiosk is the
requester, the node id in the request's topic, which the broker's ACL lets no other login
write: nothing in the arguments names it. Kept in memory: a restart of the edge is not
something a kiosk can bring about, and the centre's limits are kept in its database.

Answers: the centre's JSON (household, unpaid, paid), or :class:`RequestFailed` with the
centre's code (``not_found``, ``rate_limited``, ``forged``, ``expired``, ``other_hall``,
``unreadable``, ``malformed``) or ``centre_unreachable``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from hall_common.bus.methods import BillsArgs, NoArgs
from hall_common.errors import RequestFailed

from .centre_api import CentreAPI
from .component import Component, route

ROOMS_KEEP_S = 600.0
MAX_WRONG = 5
"""Wrong room/last-4 answers one kiosk may get in :data:`WRONG_WINDOW_S`."""
WRONG_WINDOW_S = 600.0


class WrongTries:
    """Recent wrong answers per requester. A try is counted when it starts and forgotten when
    it turns out right (or fails for another reason), so requests arriving together cannot
    all slip under the limit before the first wrong one is counted."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self._tries: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def start(self, requester: str) -> float | None:
        """The try's mark, or None if ``requester`` has used up its wrong tries."""
        now = self.clock()
        with self._lock:
            recent = [t for t in self._tries.get(requester, []) if now - t < WRONG_WINDOW_S]
            if len(recent) >= MAX_WRONG:
                self._tries[requester] = recent
                return None
            self._tries[requester] = [*recent, now]
            return now

    def forget(self, requester: str, mark: float) -> None:
        """Take back the try ``mark``: it was right, or it was never judged."""
        with self._lock:
            tries = self._tries.get(requester, [])
            if mark in tries:
                tries.remove(mark)


class BillsRelay(Component):
    name = "bills"

    def __init__(self, centre: CentreAPI, *, clock: Any = time.monotonic) -> None:
        self.centre, self.clock = centre, clock
        self._rooms: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._wrong = WrongTries(clock)

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
        """One household's bills from the centre. ``kiosk`` in what the centre is sent is a
        label for its log only; it limits by the edge's credential."""
        if args.qr is not None:
            return self.centre.call("POST", "/api/v1/residents/bills", {"kiosk": requester, "qr": args.qr}, what="bills")
        mark = self._wrong.start(requester)
        if mark is None:
            raise RequestFailed("rate_limited", "too many wrong attempts; try again in a few minutes")
        body = {"kiosk": requester, "room": args.room, "last4": args.last4}
        try:
            answer = self.centre.call("POST", "/api/v1/residents/bills", body, what="bills")
        except RequestFailed as exc:
            if exc.code != "not_found":
                self._wrong.forget(requester, mark)
            raise
        self._wrong.forget(requester, mark)
        return answer
