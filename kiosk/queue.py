"""Taking a number: choose the service, say whether you need priority, get the ticket.

The services, people waiting and estimated waits come from the edge's retained queue state.
The ticket comes from the edge (``ticket`` request, with a request id made when the
choice screen was shown, so a double tap is one ticket). Then it is printed through the
edge's print service, unless the resident chose no paper; when printing fails the ticket
is shown as a QR code to scan with a phone instead (paperless fallback, seed 000 clause
5.3.6). The QR opens the edge's phone page with the live position.
"""

from __future__ import annotations

import logging
import uuid

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask_babel import get_locale

from hall_common.errors import HallError
from hall_common.hours import week_table
from hall_common.print_client import job_for

from .edge import ask_edge, refusal
from .features import require, snapshot
from .nav import go, kept
from .qr import qr_svg

bp = Blueprint("queue", __name__, url_prefix="/queue")
log = logging.getLogger(__name__)


def _services() -> list:
    """The edge's services with live waits; when the kiosk's settings list services (pushed
    from the centre's form), those of them the edge knows, in that order, with their names."""
    status = current_app.extensions.get("hall_status")
    state = getattr(status, "queue", None)
    live = list(state.services) if state is not None else []
    offered = current_app.config["SETTINGS"].services
    if not offered:
        return live
    by_id = {s.service: s for s in live}
    return [by_id[s.id].model_copy(update={"name_zh": s.name_zh, "name_en": s.name_en})
            for s in offered if s.id in by_id]


def _names(service: str) -> dict[str, str]:
    """The service's names as the kiosk's settings give them, if they do."""
    found = [s for s in current_app.config["SETTINGS"].services if s.id == service]
    return {"name_zh": found[0].name_zh, "name_en": found[0].name_en} if found else {}


def _priority_allowed(service: str) -> bool:
    offered = {s.id: s.priority for s in current_app.config["SETTINGS"].services}
    return offered.get(service, True)


@bp.get("/")
def choose():
    require("queue")
    session["queue_request"] = str(uuid.uuid4())
    services = _services()
    return render_template("kiosk/queue_choose.html", services=services, error=session.pop("queue_error", None),
                           printer_ok=snapshot().printer_ok,
                           priority=any(_priority_allowed(s.service) for s in services) or not services,
                           no_priority={s.service for s in services if not _priority_allowed(s.service)})


@bp.post("/take")
def take():
    service = request.form.get("service", "")
    if service not in {s.service for s in _services()}:
        session["queue_error"] = "service"
        return go(url_for("queue.choose"))
    wants_paper = request.form.get("paper", "yes") != "no"
    req = session.get("queue_request") or str(uuid.uuid4())
    priority = request.form.get("priority") == "yes" and _priority_allowed(service)
    try:
        ticket = ask_edge("ticket", {"request": req, "service": service, "priority": priority})
    except HallError as exc:
        code = refusal(exc, doing="ticket request")
        if code is None or code == "closed":  # no answer, or the hall closed: the screen that says so
            return go(url_for("home.service", key="queue"))
        session["queue_error"] = code if code in ("full", "no_priority") else "unavailable"
        return go(url_for("queue.choose"))
    session.pop("queue_request", None)
    ticket = {**ticket, **_names(ticket["service"])}  # the ticket says what the choice screen said
    follow = _follow_url(ticket["id"])
    printed, reason = False, "paperless" if not wants_paper else ""
    if wants_paper:
        printed, reason = _print(ticket, follow)
    session["queue_ticket"] = {**ticket, "follow": follow, "printed": printed, "reason": reason}
    return go(url_for("queue.ticket"))


@bp.get("/ticket")
def ticket():
    t = kept("queue_ticket", or_go="queue.choose")
    return render_template("kiosk/queue_ticket.html", t=t, qr_svg=qr_svg(t["follow"], scale=8))


def _follow_url(ticket_id: str) -> str:
    base = current_app.config["FOLLOW_URL"].rstrip("/")
    return f"{base}/q/{ticket_id}" if base else ticket_id


def _print(ticket: dict, follow: str) -> tuple[bool, str]:
    """Print the ticket; (printed, reason) where reason is the printer's trouble if not."""
    printing = current_app.extensions.get("printing")
    if printing is None:
        return False, "offline"
    settings = current_app.config["SETTINGS"]
    lang_zh = str(get_locale() or "zh").startswith("zh")
    periods = week_table(settings.hours)
    hours = next((p for _, ps in periods for p in ps), None)
    fields = {"number": ticket["code"], "service": ticket["name_zh"] if lang_zh else ticket["name_en"],
              "waiting_ahead": ticket["ahead"], "follow_url": follow, "priority": ticket["priority"],
              "hours_line": f"服务时间 {hours[0]}-{hours[1]}" if hours else ""}
    outcome = printing.print("queue_ticket", fields, printer=settings.printer, timeout=8.0,
                             job=job_for("ticket", ticket["id"]))
    return outcome.printed, outcome.reason or ("" if outcome.printed else outcome.status)
