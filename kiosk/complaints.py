"""Complaints, repairs, suggestions, consultations and praise, taken at the kiosk (seed 002).

Six screens, each one question: what (kind and category), where (a building and unit, a
public area, or the resident's home), when it happened (刚才, 今天, 昨天 or 更早 with a date,
and the time on the keypad), the content and the outcome wanted (on-screen pinyin keyboard
and one-tap phrases), who (name, room, phone, on keypads; with the consent line), and a
confirmation that shows the commitment the hall makes (first feedback within one working
hour, emergencies at once) before anything is sent.

Each screen is checked against the same schema the edge checks the whole with
(:class:`~hall_common.bus.payloads.ComplaintDraft`), so a resident hears about a mistake on
the screen where it was made. The draft lives in the session; the categories, places and
phrases come from the edge (``complaint_options``) so the hall's configuration is the one
source. Submitting carries a request id made when the flow started: a double tap, or a
retry after a timeout, is the same record. Once the edge has stored it, the draft, and with
it the phone number, is gone from the kiosk; what stays until the session ends is the
receipt (tracking number, commitment) without the phone.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from pydantic import ValidationError

from hall_common import complaint_receipt, occurred
from hall_common.bus.payloads import ComplaintDraft
from hall_common.errors import HallError
from hall_common.print_client import job_for

from .edge import ask_edge
from .features import require
from .nav import go, kept, leave
from .qr import qr_svg

bp = Blueprint("complaints", __name__, url_prefix="/complaints")
log = logging.getLogger(__name__)

KINDS = {"complaint": (_l("Complaint"), "投诉"), "repair": (_l("Repair"), "报修"),
         "suggestion": (_l("Suggestion"), "建议"), "consultation": (_l("Question"), "咨询"),
         "praise": (_l("Praise"), "表扬")}
STEPS = ("what", "place", "when", "content", "contact", "confirm")
STEP_FIELDS = {"what": ("kind", "category"), "place": ("place",), "when": ("occurred_at",),
               "content": ("content", "wanted"), "contact": ("name", "room", "phone")}
_FILLER = {"kind": "repair", "category": "other", "place": "-", "content": "--", "wanted": "", "name": "-",
           "room": "1-101", "phone": "13800000000", "occurred_at": 1.0}
"""Valid stand-ins for the fields a screen does not ask, so one screen's answers can be
checked against the whole schema."""
HOME = "住户室内"
PUBLIC = "公共区域"


def _messages() -> dict[str, str]:
    """What to tell the resident when a field is wrong, in their language."""
    return {
        "kind": _("Choose what kind of request this is."),
        "category": _("Choose what it is about."),
        "place": _("Choose where it is."),
        "content": _("Describe the problem in at least 2 characters, at most 500."),
        "wanted": _("The outcome you want can be at most 200 characters."),
        "name": _("Enter your name (a surname is enough), at most 20 characters."),
        "room": _("Enter your room as building-unit-room, for example 3-2-1201."),
        "phone": _("Enter an 11-digit mobile number, or a landline with its area code."),
        "occurred_at": _("Tap the day it happened."),
    }


def _when_messages(opened: str) -> dict[str, str]:
    """What to tell the resident about each way 发生时间 can be wrong
    (:class:`hall_common.occurred.OccurredError`'s problems)."""
    return {
        "missing": _("Tap the day it happened."),
        "day": _("Tap the day it happened."),
        "time": _("Enter about what time it happened, as hours:minutes, for example 14:30."),
        "date": _("Enter the date as year-month-day, for example 2026-11-28."),
        "future": _("That time has not come yet. Please check the day and the time."),
        "before_opened": _("That is before this service hall opened (%(opened)s). Please check the date.", opened=opened),
    }


def field_errors(values: dict[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    """What to tell the resident about each of ``fields`` that the edge's schema refuses in
    ``values`` (a whole :class:`ComplaintDraft`), by field."""
    errors: dict[str, str] = {}
    try:
        ComplaintDraft.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            if name in fields:
                errors.setdefault(name, _messages()[name])
    return errors


def _check(step: str, answers: dict[str, Any], options: dict[str, Any]) -> dict[str, str]:
    """The errors of one screen's answers, by field."""
    if step == "when":
        return _when_error(answers, options)
    fields = STEP_FIELDS[step]
    errors = field_errors({**_FILLER, **{k: answers.get(k, "") for k in fields}}, fields)
    if step == "what" and "category" not in errors:
        if answers.get("category") not in {c["id"] for c in options["categories"]}:
            errors["category"] = _messages()["category"]
    return errors


def _when_error(answers: dict[str, Any], options: dict[str, Any]) -> dict[str, str]:
    """What is wrong with the answer to "when", checked as the edge will check it (now, not
    when it was tapped: a resident who waits at the confirm screen past midnight is asked
    again rather than refused by the edge)."""
    zone = _zone()
    try:
        ts = answers.get("occurred_at")
        if not isinstance(ts, (int, float)):
            ts = occurred.from_choice(answers.get("when_day", ""), answers.get("when_time", ""),
                                      answers.get("when_date", ""), now=time.time(), zone=zone)
        occurred.check(ts, now=time.time(), opened=date.fromisoformat(options["opened"]), zone=zone)
    except occurred.OccurredError as exc:
        return {"occurred_at": exc.text(_when_messages(options["opened"]))}
    return {}


def _options() -> dict[str, Any]:
    return ask_edge("complaint_options", {})


def _category(options: dict[str, Any], cid: str) -> dict[str, Any]:
    return next((c for c in options["categories"] if c["id"] == cid), {"id": cid, "name_zh": cid, "name_en": cid, "phrases": []})


def _draft_and_options() -> tuple[dict[str, Any], dict[str, Any]]:
    """This visit's draft and the hall's options, or the resident goes elsewhere
    (:func:`~kiosk.nav.leave`): back to the start when there is no draft (a bookmark, a
    session that ended), to the "unavailable" screen when the edge does not answer."""
    draft = kept("complaint", or_go="complaints.start")
    try:
        return draft, _options()
    except HallError as exc:
        log.warning("complaint options: %s", exc)
        leave(url_for("home.service", key="complaints"))


def _screen(step: str, **extra: Any):
    """Render a step of the flow."""
    draft, options = _draft_and_options()
    return render_template(f"kiosk/complaint_{step}.html", step=step, steps=STEPS, d=draft["answers"],
                           options=options, kinds=KINDS, errors=session.pop("complaint_errors", {}),
                           category=_category(options, draft["answers"].get("category", "")), **extra)


def _trimmed(field: str, value: str) -> str:
    """What of a typed answer the session keeps: one character past the field's limit, so
    the screen still says "too long" but a pasted novel cannot swell the session cookie
    past the 4 KB a browser keeps (it would drop the cookie, and the visit with it)."""
    limit = next((m.max_length for m in ComplaintDraft.model_fields[field].metadata if hasattr(m, "max_length")), 60)
    return value[:limit + 1]


def _save(step: str, answers: dict[str, str], next_step: str):
    """Keep a screen's answers; go on if they are valid, back to the screen if not."""
    draft, options = _draft_and_options()
    draft["answers"].update({k: _trimmed(k, v) for k, v in answers.items()})
    session["complaint"] = draft
    errors = _check(step, draft["answers"], options)
    if errors:
        session["complaint_errors"] = errors
        return go(url_for(f"complaints.{step}"))
    return go(url_for(f"complaints.{next_step}"))


@bp.get("/")
def start():
    """A new request: a fresh id (a double tap on submit is one record), nothing kept."""
    require("complaints")
    session.pop("complaint_done", None)
    session["complaint"] = {"request": str(uuid.uuid4()), "answers": {}}
    return go(url_for("complaints.what"))


@bp.get("/what")
def what():
    return _screen("what")


@bp.post("/what")
def what_submit():
    return _save("what", {"kind": request.form.get("kind", ""), "category": request.form.get("category", "")}, "place")


@bp.get("/place")
def place():
    return _screen("place")


@bp.post("/place")
def place_submit():
    """One tap for a public area or the home, or a building (with its unit, if chosen).
    Only the hall's own places are taken: anything else is "choose where it is"."""
    form = request.form
    places = _draft_and_options()[1]["places"]
    chosen = ""
    if form.get("area"):
        chosen = f"{PUBLIC}·{form['area']}" if form["area"] in places["public_areas"] else ""
    elif form.get("home"):
        chosen = HOME
    elif form.get("building") in places["buildings"] and form.get("unit", "") in ["", *places["units"]]:
        chosen = f"{form['building']}{form.get('unit', '')}"
    return _save("place", {"place": chosen[:60]}, "when")


@bp.get("/when")
def when():
    return _screen("when", example_date=_local(time.time() - 3 * 86400).date().isoformat())


@bp.post("/when")
def when_submit():
    """The day as tapped (刚才 is this moment), the time and, for 更早, the date typed on the
    keypad: kept as given, so the screen shows them again, with the moment they mean."""
    draft, options = _draft_and_options()
    form = request.form
    answer = {"when_day": form.get("day", "")[:10], "when_time": form.get("time", "")[:6],
              "when_date": form.get("date", "")[:11]}
    try:
        answer["occurred_at"] = occurred.from_choice(answer["when_day"], answer["when_time"], answer["when_date"],
                                                     now=time.time(), zone=_zone())
    except occurred.OccurredError:
        answer["occurred_at"] = None
    draft["answers"].update(answer)
    session["complaint"] = draft
    errors = _check("when", draft["answers"], options)
    if errors:
        session["complaint_errors"] = errors
        return go(url_for("complaints.when"))
    return go(url_for("complaints.content"))


@bp.get("/content")
def content():
    return _screen("content")


@bp.post("/content")
def content_submit():
    return _save("content", {"content": request.form.get("content", ""), "wanted": request.form.get("wanted", "")},
                 "contact")


@bp.get("/contact")
def contact():
    return _screen("contact")


@bp.post("/contact")
def contact_submit():
    form = request.form
    return _save("contact", {"name": form.get("name", ""), "room": "".join(form.get("room", "").split()),
                             "phone": "".join(form.get("phone", "").split())}, "confirm")


@bp.get("/confirm")
def confirm():
    """Everything once more, and the commitment, before anything is stored."""
    draft, options = _draft_and_options()
    answers = draft["answers"]
    try:
        for step in STEP_FIELDS:  # a resident who skipped ahead is sent to what is missing
            if _check(step, answers, options):
                return go(url_for(f"complaints.{step}"))
        preview = ask_edge("complaint_preview", {k: answers[k] for k in _FILLER})
    except HallError as exc:
        log.warning("complaint preview: %s", exc)
        return go(url_for("home.service", key="complaints"))
    return _screen("confirm", preview=preview, due=_local(preview["feedback_due"]), when=_local(answers["occurred_at"]),
                   failed=session.pop("complaint_failed", False))


@bp.post("/submit")
def submit():
    draft = kept("complaint", or_go="complaints.start")
    answers = draft["answers"]
    try:
        receipt = ask_edge("complaint", {"request": draft["request"], **{k: answers.get(k, "") for k in _FILLER}})
    except HallError as exc:
        # Nothing was stored, or it was and the answer was lost: the same request id makes
        # the next tap the same record either way.
        log.warning("complaint submit: %s", exc)
        session["complaint_failed"] = True
        return go(url_for("complaints.confirm"))
    session.pop("complaint", None)  # the phone number leaves the kiosk here
    url = _track_url(receipt["tracking_no"])
    printed = _print(receipt, url)
    session["complaint_done"] = {**{k: receipt[k] for k in ("tracking_no", "readable", "grade", "emergency",
                                                           "feedback_due", "category_zh", "category_en", "kind")},
                                 "url": url, "printed": printed}
    return go(url_for("complaints.done"))


@bp.get("/done")
def done():
    receipt = kept("complaint_done", or_go="home.index")
    return render_template("kiosk/complaint_done.html", r=receipt, kinds=KINDS, due=_local(receipt["feedback_due"]),
                           qr_svg=qr_svg(receipt["url"], scale=6), idle_kind="result")


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["SETTINGS"].hours.timezone)


def _local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, _zone())


def _track_url(tracking_no: str) -> str:
    return complaint_receipt.track_url(current_app.config["FOLLOW_URL"], tracking_no)


def _print(receipt: dict[str, Any], url: str) -> bool:
    """The paper receipt, through the edge's print service; False (the QR on screen
    instead) when there is no printer or it fails."""
    printing = current_app.extensions.get("printing")
    if printing is None:
        return False
    fields = complaint_receipt.fields(receipt, url=url, zone=_zone())
    try:
        outcome = printing.print("complaint_receipt", fields, printer=current_app.config["SETTINGS"].printer, timeout=8.0,
                                 job=job_for("complaint", receipt["tracking_no"]))
    except HallError as exc:
        log.warning("complaint receipt: %s", exc)
        return False
    return outcome.printed
