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

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Callable

from hall_common.errors import RequestFailed

log = logging.getLogger(__name__)


class BillsRelay:
    def __init__(self, *, url: str, token: Callable[[], str | None], timeout: float = 3.0,
                 centre_online: Callable[[], bool | None] = lambda: None) -> None:
        self.url, self.token, self.timeout, self.centre_online = url.rstrip("/"), token, timeout, centre_online

    def handle_bills(self, requester: str, args: dict[str, Any]) -> dict[str, Any]:
        if "qr" in args:
            body = {"kiosk": requester, "qr": str(args["qr"])[:1024]}
        else:
            body = {"kiosk": requester, "room": str(args.get("room", ""))[:20], "last4": str(args.get("last4", ""))[:8]}
        if self.centre_online() is False:
            raise RequestFailed("centre_unreachable", "the centre is unreachable")
        token = self.token()
        if not token:
            raise RequestFailed("centre_unreachable", "this edge has no credential for the centre")
        request = urllib.request.Request(
            f"{self.url}/api/v1/residents/bills", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                code = json.loads(exc.read()).get("code", "error")
            except (ValueError, AttributeError):
                code = "error"
            if exc.code >= 500 or exc.code == 401:
                log.warning("bills: the centre answered %s (%s)", exc.code, code)
                raise RequestFailed("centre_unreachable", f"centre answered {exc.code}") from None
            raise RequestFailed(code, f"centre answered {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("bills: the centre is unreachable: %s", exc)
            raise RequestFailed("centre_unreachable", "the centre is unreachable") from None
