"""Where a kiosk form goes next.

The kiosk's script posts forms with fetch and then moves with ``location.replace``, so no
page of a visit stays in the browser's history. It asks for the next address as JSON
(header ``X-Kiosk-Nav``); a browser without the script gets an ordinary 303 redirect.
"""

from __future__ import annotations

from flask import Response, jsonify, redirect, request


def go(url: str) -> Response:
    if request.headers.get("X-Kiosk-Nav"):
        return jsonify(location=url)
    return redirect(url, 303)  # type: ignore[return-value]
