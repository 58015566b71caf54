"""The shell's own flows: calling staff for help, and tracking a request (typed, or read
off the receipt's QR code by the kiosk camera).

Both talk to the edge agent over the bus (DESIGN rule 2). Forms follow post/redirect/get
with their state in the session, so every page is reached by ``location.replace`` and a
resident's entries vanish with the session.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask_babel import gettext as _

from hall_common.errors import HallError

from .camera import CameraError, tracking_number_from
from .edge import ask_edge, refusal
from .nav import go, kept
from .rating import LEVELS
from .scan import read_qr

bp = Blueprint("flows", __name__)
log = logging.getLogger(__name__)

TRACKING_NUMBER = re.compile(r"^\d{13}$")
LAST4 = re.compile(r"^\d{4}$")


@bp.get("/help")
def help():
    return render_template("kiosk/help.html", called=session.pop("help_called", None))


@bp.post("/help/call")
def help_call():
    try:
        ask_edge("help", {})
        session["help_called"] = "ok"
    except HallError as exc:
        log.warning("help request failed: %s", exc)
        session["help_called"] = "failed"
    return go(url_for("flows.help"))


@bp.get("/track")
def track():
    form = session.pop("track_form", {"number": "", "last4": ""})
    errors = session.pop("track_errors", {})
    scanned = session.pop("track_scanned", False)
    return render_template("kiosk/track.html", form=form, errors=errors, scanned=scanned,
                           can_scan=current_app.extensions.get("camera") is not None)


@bp.post("/track/scan")
def track_scan():
    """Read the tracking number off the receipt's QR code, then ask only for the last 4
    digits. The request waits for the camera (up to CAMERA_SCAN_S): the kiosk's script
    keeps the button busy meanwhile, so a second tap does not start a second scan."""
    try:
        payload = read_qr("track")
    except CameraError:
        session["track_errors"] = {"scan": _("The camera is not working right now. Please type the number from your receipt.")}
        return go(url_for("flows.track"))
    number = tracking_number_from(payload) if payload is not None else None
    if payload is None:
        session["track_errors"] = {"scan": _("No QR code was seen. Hold the QR code on your receipt up to the camera and try again.")}
    elif number is None:
        # Not logged in full: it may be a resident's own code.
        log.info("track: scanned a QR code that is not a receipt's (%d characters)", len(payload))
        session["track_errors"] = {"scan": _("This is not the QR code of a request receipt. Please type the tracking number.")}
    else:
        session["track_form"] = {"number": number, "last4": ""}
        session["track_scanned"] = True
    return go(url_for("flows.track"))


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
        session["track_form"] = {"number": number[:20], "last4": last4[:5]}  # kept for correction, not a pasted novel
        session["track_errors"] = errors
        return go(url_for("flows.track"))
    try:
        result = ask_edge("track", {"number": number, "last4": last4})
        # The last 4 digits stay (in this session only) so the resident can rate the request.
        session["track_result"] = {"state": "found", "record": result, "last4": last4}
    except HallError as exc:
        code = refusal(exc, doing="track request")
        session["track_result"] = {"state": {"not_found": "not_found", "rate_limited": "limited"}.get(code, "unavailable")}
    session["track_result"]["number"] = number
    return go(url_for("flows.track_result"))


@bp.get("/track/result")
def track_result():
    result = kept("track_result", or_go="flows.track")
    return render_template("kiosk/track_result.html", result=result, levels=LEVELS, picked={},
                           level=dict(LEVELS).get((result.get("rated") or {}).get("rating", ""), ""))
