"""The resident's phone page for a request, opened from the receipt's QR code
(``{follow_url}/t/{tracking_no}``): public, no login.

The tracking number in the link is not a secret (it is printed, and read aloud at the
counter), so the page asks for the last 4 digits of the phone given, exactly as the kiosk
does, through the same :class:`ComplaintService` calls. Wrong attempts are therefore limited
by the same counters, here per browser address (``web:{addr}``) and per number.

Post/redirect/get: a correct answer is remembered for :data:`VERIFIED_FOR_S` seconds so a
refresh shows the page again instead of resubmitting the form. The digits themselves stay on
the edge, in memory (:class:`Verified`); the browser's session cookie holds only a random
key per tracking number. They are forgotten once the resident has rated, asks to leave, or
the time is up.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError

from hall_common.errors import RequestFailed

from .complaints import tracking
from .complaints.service import RATINGS, STATUS_TEXT
from .console_services import require

bp = Blueprint("track", __name__)

VERIFIED_FOR_S = 600
"""How long a correct last-4 answer lets the page be refreshed without asking again."""
MAX_COMMENT = 200
STATUS_EN = {"submitted": "Received, waiting for staff", "accepted": "Accepted by staff",
             "dispatched": "Assigned to a worker", "in_progress": "Being handled", "paused": "Paused (waiting)",
             "resolved": "Handled", "followed_up": "Follow-up call made", "closed": "Closed",
             "cancelled": "Cancelled", "escalated": "Escalated to the manager", "rated": "Rated by the resident",
             "reopened": "Rated dissatisfied: handled again", "follow_up_attempt": "Follow-up call not answered"}
EN_BY_ZH = {STATUS_TEXT[k]: STATUS_EN[k] for k in STATUS_EN if k in STATUS_TEXT}
RATINGS_EN = {"very_satisfied": "Very satisfied", "satisfied": "Satisfied", "basically_satisfied": "Mostly satisfied",
              "dissatisfied": "Dissatisfied", "very_dissatisfied": "Very dissatisfied"}
MESSAGES = {
    "last4": ("请输入手机号码的后 4 位数字", "Please enter the last 4 digits of the phone number"),
    "not_found": ("编号和手机后 4 位对不上，请核对后再试", "The number and these digits do not match; please check"),
    "rate_limited": ("错误次数过多，请 10 分钟后再试，或致电服务中心", "Too many wrong tries: try again in 10 minutes, or call the hall"),
    "rating": ("请选择一个评价", "Please choose one of the ratings"),
    "comment": (f"留言最多 {MAX_COMMENT} 个字，请删减后再提交", f"The comment may be at most {MAX_COMMENT} characters"),
    "not_yet": ("办理完毕后才能评价", "A request can be rated once it has been handled"),
    "expired": ("为保护您的信息，请重新输入手机后 4 位", "For your privacy, please enter the last 4 digits again"),
    "csrf": ("页面已过期，请重新操作", "This page had expired; please try again"),
}


class Verified:
    """Who has answered correctly, per session key: ``key -> (number, last4, until)``.
    In memory only: a restart of the edge just asks again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[str, str, float]] = {}

    def add(self, number: str, last4: str, now: float) -> str:
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._items = {k: v for k, v in self._items.items() if v[2] > now}  # drop the stale ones
            self._items[key] = (number, last4, now + VERIFIED_FOR_S)
        return key

    def get(self, key: str | None, number: str, now: float) -> str | None:
        """The last 4 digits behind ``key`` if it is for ``number`` and still valid."""
        with self._lock:
            item = self._items.get(key or "")
        if item is None or item[0] != number or item[2] <= now:
            return None
        return item[1]

    def forget(self, key: str | None) -> None:
        with self._lock:
            self._items.pop(key or "", None)


def _verified() -> Verified:
    return current_app.extensions.setdefault("track_verified", Verified())


def _number(tracking_no: str) -> str:
    number = re.sub(r"\D", "", tracking_no)
    if not tracking.valid(number):
        abort(404)
    return number


def _requester() -> str:
    return f"web:{request.remote_addr}"


def _keys() -> dict[str, str]:
    return dict(session.get("track", {}))


def _remember(number: str, key: str | None) -> None:
    keys = _keys()
    if key is None:
        keys.pop(number, None)
    else:
        keys[number] = key
    session["track"] = keys


def _say(code: str) -> None:
    flash(MESSAGES.get(code, MESSAGES["not_found"]))


def _when(ts: float) -> str:
    tz = ZoneInfo(require("complaints").config.hours.timezone)
    return datetime.fromtimestamp(ts, tz).strftime("%m-%d %H:%M")


@bp.get("/t/<tracking_no>")
def page(tracking_no: str):
    """The form for the last 4 digits, or, once answered, the request's status and history
    (and the rating form when it can be rated)."""
    number = _number(tracking_no)
    thanks = session.get("track_thanks")
    thanks = session.pop("track_thanks") if thanks and thanks.get("number") == number else None  # shown once
    key = _keys().get(number)
    last4 = _verified().get(key, number, time.time())
    found = None
    if last4 is not None:
        try:
            found = require("complaints").answer("track", _requester(), {"number": number, "last4": last4})
        except RequestFailed as exc:  # locked meanwhile by someone else's wrong tries
            _verified().forget(key)
            _remember(number, None)
            _say(exc.code)
    elif key is not None:
        _remember(number, None)
        _say("expired")
    return render_template("track/page.html", readable=tracking.readable(number), number=number, found=found,
                           thanks=thanks, ratings=RATINGS, ratings_en=RATINGS_EN, status_en=STATUS_EN,
                           en_by_zh=EN_BY_ZH, when=_when, max_comment=MAX_COMMENT)


@bp.post("/t/<tracking_no>")
def verify(tracking_no: str):
    """Check the last 4 digits (counted against the rate limit when wrong)."""
    number = _number(tracking_no)
    last4 = request.form.get("last4", "").strip()
    if not re.fullmatch(r"\d{4}", last4):
        _say("last4")
        return redirect(url_for("track.page", tracking_no=number))
    try:
        require("complaints").answer("track", _requester(), {"number": number, "last4": last4})
    except RequestFailed as exc:
        _say(exc.code)
    else:
        _verified().forget(_keys().get(number))
        _remember(number, _verified().add(number, last4, time.time()))
    return redirect(url_for("track.page", tracking_no=number))


@bp.post("/t/<tracking_no>/rate")
def rate(tracking_no: str):
    """The resident's rating; 不满意 or worse reopens the request (the service decides)."""
    number = _number(tracking_no)
    key = _keys().get(number)
    last4 = _verified().get(key, number, time.time())
    if last4 is None:
        _say("expired")
        return redirect(url_for("track.page", tracking_no=number))
    rating = request.form.get("rating", "")
    comment = request.form.get("comment", "").strip()
    if rating not in RATINGS:
        _say("rating")
    elif len(comment) > MAX_COMMENT:
        _say("comment")
    else:
        try:
            out = require("complaints").answer("rate", _requester(), {"number": number, "last4": last4,
                                                                      "rating": rating, "comment": comment})
        except RequestFailed as exc:
            _say(exc.code)
        else:
            _verified().forget(key)  # rated: the digits are not needed any more
            _remember(number, None)
            session["track_thanks"] = {"number": number, "rating": rating, "reopened": out["reopened"]}
    return redirect(url_for("track.page", tracking_no=number))


@bp.post("/t/<tracking_no>/leave")
def leave(tracking_no: str):
    """Forget the answer now (a shared phone, or just done)."""
    number = _number(tracking_no)
    _verified().forget(_keys().get(number))
    _remember(number, None)
    return redirect(url_for("track.page", tracking_no=number))


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError):
    """An expired or missing form token: say so in the resident's words and start again."""
    _say("csrf")
    return redirect(request.path.removesuffix("/rate").removesuffix("/leave"))
