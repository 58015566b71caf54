"""Where a kiosk form goes next.

The kiosk's script posts forms with fetch and then moves with ``location.replace``, so no
page of a visit stays in the browser's history. It asks for the next address as JSON
(header ``X-Kiosk-Nav``); a browser without the script gets an ordinary 303 redirect.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Response, abort, jsonify, redirect, request, session, url_for


def go(url: str) -> Response:
    if request.headers.get("X-Kiosk-Nav"):
        return jsonify(location=url)
    return redirect(url, 303)  # type: ignore[return-value]


def leave(url: str) -> NoReturn:
    """Go to ``url`` from a helper deep inside a view (no draft in this session, an edge
    that does not answer): Flask sends the response :func:`go` makes at once."""
    abort(go(url))


def kept(key: str, *, or_go: str) -> Any:
    """What this visit keeps in the session under ``key``; when there is nothing (a
    bookmark, a session that ended on idle timeout) the resident goes to the endpoint
    ``or_go`` instead, the start of the flow that would have put it there."""
    value = session.get(key)
    if value is None:
        leave(url_for(or_go))
    return value
