"""Asking the edge agent from a kiosk screen (DESIGN rule 2: the kiosk talks only to the edge,
over the bus).

Every blueprint asks through :func:`ask_edge`, and turns a failure into the screen the
resident sees with :func:`refusal`: the edge either answered "no" with a code the screen
explains (wrong number, already rated, queue full…), or it did not answer at all, which
every screen treats as "not available right now".
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from hall_common.errors import BusTimeout, HallError, RequestFailed

from .features import snapshot

log = logging.getLogger(__name__)


def ask_edge(method: str, args: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
    """A request to the edge agent, answered within ``timeout`` (default: the app's
    ``BUS_TIMEOUT``); raises HallError subclasses the views turn into screens
    (:class:`BusTimeout` at once when the kiosk already knows the edge is away)."""
    bus = current_app.extensions.get("bus")
    if bus is None or not snapshot().edge_up:
        raise BusTimeout("the edge agent is unreachable")
    return bus.request(method, args, timeout=timeout or current_app.config["BUS_TIMEOUT"])


def refusal(exc: HallError, *, doing: str) -> str | None:
    """The edge's code when it refused (``exc`` is :class:`RequestFailed`), or None when it
    did not answer. Either is logged with ``doing`` (what the kiosk asked for), so a
    technician sees why a resident got the screen they got."""
    if isinstance(exc, RequestFailed):
        log.info("%s refused: %s", doing, exc)
        return exc.code
    log.warning("%s failed: %s", doing, exc)
    return None
