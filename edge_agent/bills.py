"""The ``bills`` bus request: a kiosk asks for one household's bills, the edge asks the centre.

The edge holds the hall's credential for the centre; kiosks do not, so they go through it
(DESIGN rule 2). The edge keeps nothing of the answer: bills and registered phones live at
the centre only. The request runs on the bus worker, so it waits at most ``timeout``
seconds (3 by default) and not at all when the centre watch already knows the centre is
down: the resident hears "unavailable now" at once.

Answers: the centre's JSON (household, unpaid, paid), or :class:`RequestFailed` with the
centre's code (``not_found``, ``rate_limited``, ``forged``, ``expired``, ``other_hall``,
``unreadable``, ``malformed``) or ``centre_unreachable``.
"""

from __future__ import annotations

from typing import Any

from .centre_api import CentreAPI


class BillsRelay:
    def __init__(self, centre: CentreAPI) -> None:
        self.centre = centre

    def handle_bills(self, requester: str, args: dict[str, Any]) -> dict[str, Any]:
        if "qr" in args:
            body = {"kiosk": requester, "qr": str(args["qr"])[:1024]}
        else:
            body = {"kiosk": requester, "room": str(args.get("room", ""))[:20], "last4": str(args.get("last4", ""))[:8]}
        return self.centre.call("POST", "/api/v1/residents/bills", body, what="bills")
