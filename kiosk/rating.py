"""Rating the counter service (seed 000 clause 6.1): the resident types the number on their
ticket, taps how satisfied they are (and, if they like, a few ready-made phrases), and is
thanked.

The edge keeps the ratings (``rate_service`` request): it knows which tickets of today were
served, where and by whom, and lets each be rated once. The number is checked with the edge
before the rating screen (``check``), so a resident who typed a wrong number, or is not
served yet, hears it before choosing a face. The request id is made at that check and kept
until the rating is stored, so a double tap or a retry after a lost answer is one rating.
Forms follow post/redirect/get with their state in the session, like the other flows.
"""

from __future__ import annotations

import logging
import re
import uuid

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l

from hall_common.errors import HallError

from .edge import ask_edge, refusal
from .features import require
from .nav import go, kept

bp = Blueprint("rating", __name__, url_prefix="/rate")
log = logging.getLogger(__name__)

CODE = re.compile(r"^([A-Z]{1,2})(\d{1,4})$")
DEFAULT_LETTERS = ("A", "B", "C", "D", "E", "F", "G")
"""Keys shown before the edge's queue state has arrived (the default services' prefixes)."""

LEVELS: tuple[tuple[str, object], ...] = (
    ("very_satisfied", _l("Very satisfied")),
    ("satisfied", _l("Satisfied")),
    ("basically_satisfied", _l("Basically satisfied")),
    ("dissatisfied", _l("Dissatisfied")),
    ("very_dissatisfied", _l("Very dissatisfied")),
)

PHRASES: tuple[tuple[str, str, object], ...] = (
    # key, what staff read in the comment (always Chinese), what the resident sees
    ("quick", "办理快", _l("Quick service")),
    ("friendly", "态度好", _l("Friendly staff")),
    ("comfortable", "环境舒适", _l("Comfortable hall")),
    ("long_wait", "等待太久", _l("Waited too long")),
    ("unclear", "解释不清楚", _l("Explanation unclear")),
    ("hall", "环境需改进", _l("Hall needs improving")),
)
"""One-tap comments: how it was handled, and the hall itself (clause 6.1.2 asks about both)."""

REFUSALS = ("not_found", "not_yet", "not_served", "already_rated")
"""The edge's answers that send the resident back to the number screen with a message."""


def _letters() -> list[str]:
    """The service letters of this hall, from the queue state the kiosk follows."""
    state = getattr(current_app.extensions.get("hall_status"), "queue", None)
    letters = [s.prefix for s in state.services] if state is not None else []
    return letters or list(DEFAULT_LETTERS)


@bp.get("/")
def start():
    require("rate")
    return render_template("kiosk/rate_code.html", code=session.pop("rate_form", ""),
                           error=session.pop("rate_error", None), letters=_letters())


@bp.post("/code")
def code():
    """Check the number with the edge, then ask for the rating."""
    typed = "".join(request.form.get("code", "").split()).upper()
    m = CODE.match(typed)
    if m is None or m.group(1) not in _letters():
        return _back_to_start(typed, "format")
    try:
        ticket = ask_edge("rate_service", {"code": typed, "check": True})
    except HallError as exc:
        code = refusal(exc, doing="rating check")
        return _back_to_start(typed, code if code in REFUSALS else "unavailable")
    session["rate_ticket"] = {k: ticket.get(k) for k in ("code", "name_zh", "name_en", "counter_name")}
    session["rate_request"] = str(uuid.uuid4())
    return go(url_for("rating.choose"))


@bp.get("/choose")
def choose():
    t = kept("rate_ticket", or_go="rating.start")
    return render_template("kiosk/rate_choose.html", t=t, levels=LEVELS, phrases=PHRASES,
                           error=session.pop("rate_choice_error", None), picked=session.pop("rate_picked", {}))


@bp.post("/send")
def send():
    t = kept("rate_ticket", or_go="rating.start")
    rating = request.form.get("rating", "")
    keys = set(request.form.getlist("phrase"))
    chosen = [(key, zh) for key, zh, _ in PHRASES if key in keys]
    if rating not in dict(LEVELS):
        return _back_to_choose("rating", rating, chosen)
    args = {"request": session.get("rate_request") or str(uuid.uuid4()), "code": t["code"], "rating": rating,
            "comment": "；".join(zh for _, zh in chosen)}
    try:
        result = ask_edge("rate_service", args)
    except HallError as exc:
        code = refusal(exc, doing="rating")
        if code in REFUSALS:
            session.pop("rate_ticket", None)
            return _back_to_start(t["code"], code)
        return _back_to_choose("unavailable", rating, chosen)
    for key in ("rate_ticket", "rate_request"):
        session.pop(key, None)
    session["rate_done"] = {"code": result["code"], "rating": result["rating"],
                            "counter_name": result.get("counter_name")}
    return go(url_for("rating.thanks"))


@bp.get("/thanks")
def thanks():
    done = kept("rate_done", or_go="rating.start")
    return render_template("kiosk/rate_thanks.html", done=done, level=dict(LEVELS).get(done["rating"], ""))


def _back_to_start(typed: str, error: str):
    session["rate_form"], session["rate_error"] = typed[:8], error
    return go(url_for("rating.start"))


def _back_to_choose(error: str, rating: str, chosen: list[tuple[str, str]]):
    session["rate_choice_error"] = error
    session["rate_picked"] = {"rating": rating, "phrases": [key for key, _ in chosen]}
    return go(url_for("rating.choose"))


# -- a request (complaint, repair…) once handled, rated from its tracking result ---------------

@bp.post("/request")
def request_rating():
    """Rate a handled request found on the tracking screen (number and last 4 were checked
    there and are kept for this until the session ends). 不满意 or worse reopens it: the
    edge decides and says so."""
    found = session.get("track_result")
    if not found or found.get("state") != "found" or not found.get("last4"):
        return go(url_for("flows.track"))
    rating = request.form.get("rating", "")
    if rating not in dict(LEVELS):
        found["rate_error"] = "rating"
    else:
        try:
            result = ask_edge("rate", {"number": found["number"], "last4": found["last4"], "rating": rating})
            found["rated"] = {"rating": rating, "reopened": bool(result.get("reopened"))}
            found.pop("last4", None)  # no longer needed: the digits leave the kiosk
            found.pop("rate_error", None)
        except HallError as exc:
            log.warning("request rating failed: %s", exc)
            found["rate_error"] = "unavailable"
    session["track_result"] = found
    return go(url_for("flows.track_result"))
