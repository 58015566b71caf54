"""The shell's own flows: calling staff for help, and tracking a request.

Both talk to the edge agent over the bus (DESIGN rule 2). Forms follow post/redirect/get
with their state in the session, so every page is reached by ``location.replace`` and a
resident's entries vanish with the session.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask_babel import gettext as _

from hall_common.errors import BusTimeout, HallError, RequestFailed

from .features import snapshot
from .nav import go

bp = Blueprint("flows", __name__)
log = logging.getLogger(__name__)

TRACKING_NUMBER = re.compile(r"^\d{13}$")
LAST4 = re.compile(r"^\d{4}$")


def _ask_edge(method: str, args: dict) -> dict:
    """A request to the edge agent; raises HallError subclasses the views turn into screens."""
    bus = current_app.extensions.get("bus")
    if bus is None or not snapshot().edge_up:
        raise BusTimeout("the edge agent is unreachable")
    return bus.request(method, args, timeout=current_app.config["BUS_TIMEOUT"])


@bp.get("/help")
def help():
    return render_template("kiosk/help.html", called=session.pop("help_called", None))


@bp.post("/help/call")
def help_call():
    try:
        _ask_edge("help", {})
        session["help_called"] = "ok"
    except HallError as exc:
        log.warning("help request failed: %s", exc)
        session["help_called"] = "failed"
    return go(url_for("flows.help"))


@bp.get("/track")
def track():
    form = session.pop("track_form", {"number": "", "last4": ""})
    errors = session.pop("track_errors", {})
    return render_template("kiosk/track.html", form=form, errors=errors)


@bp.post("/track")
def track_submit():
    number = "".join(request.form.get("number", "").split())  # printed in groups: 101 261124 042 9
    last4 = request.form.get("last4", "").strip()
    errors = {}
    if not TRACKING_NUMBER.match(number):
        errors["number"] = _("Enter the tracking number: 13 digits, as printed on your receipt.")
    if not LAST4.match(last4):
        errors["last4"] = _("Enter the last 4 digits of the phone number you gave us.")
    if errors:
        session["track_form"] = {"number": number, "last4": last4}
        session["track_errors"] = errors
        return go(url_for("flows.track"))
    try:
        result = _ask_edge("track", {"number": number, "last4": last4})
        session["track_result"] = {"state": "found", "record": result}
    except RequestFailed as exc:
        state = {"not_found": "not_found", "rate_limited": "limited"}.get(exc.code, "unavailable")
        session["track_result"] = {"state": state}
    except HallError as exc:
        log.warning("track request failed: %s", exc)
        session["track_result"] = {"state": "unavailable"}
    session["track_result"]["number"] = number
    return go(url_for("flows.track_result"))


@bp.get("/track/result")
def track_result():
    result = session.get("track_result")
    if result is None:
        return go(url_for("flows.track"))
    return render_template("kiosk/track_result.html", result=result)
