"""Calling the centre's API for a kiosk's request (bills, payment orders).

The edge holds the hall's credential for the centre; kiosks do not, so their requests that
need the centre go through the edge (DESIGN rule 2). Every such call is short (it runs on
the bus worker or a watcher thread) and turns every failure into :class:`RequestFailed`:
the centre's own code for a 4xx it explains (``not_found``, ``lines_taken``, ...), and
``centre_unreachable`` for a network failure, a 5xx or a refused credential, so the kiosk
says "unavailable now" and not something wrong about the resident.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Callable

from hall_common.errors import RequestFailed

log = logging.getLogger(__name__)


class CentreAPI:
    def __init__(self, *, url: str, token: Callable[[], str | None], timeout: float = 3.0,
                 centre_online: Callable[[], bool | None] = lambda: None) -> None:
        self.url, self.token, self.timeout, self.centre_online = url.rstrip("/"), token, timeout, centre_online

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
             timeout: float | None = None, what: str = "centre") -> dict[str, Any]:
        """``method`` ``path`` with a JSON ``body``; the JSON answer. Refuses at once, without
        trying, when the centre watch already knows the centre is down."""
        if self.centre_online() is False:
            raise RequestFailed("centre_unreachable", "the centre is unreachable")
        token = self.token()
        if not token:
            raise RequestFailed("centre_unreachable", "this edge has no credential for the centre")
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                code = json.loads(exc.read()).get("code", "error")
            except (ValueError, AttributeError):
                code = "error"
            if exc.code >= 500 or exc.code == 401:
                log.warning("%s: the centre answered %s (%s)", what, exc.code, code)
                raise RequestFailed("centre_unreachable", f"centre answered {exc.code}") from None
            raise RequestFailed(code, f"centre answered {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("%s: the centre is unreachable: %s", what, exc)
            raise RequestFailed("centre_unreachable", "the centre is unreachable") from None
