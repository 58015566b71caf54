"""The home screen, hall information, and the screen for a service not usable right now."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from .features import FEATURES, blocked_by, snapshot, template_context
from hall_common.hours import week_table

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    return render_template("kiosk/home.html")


@bp.get("/info")
def info():
    """Opening hours, phones (service, complaints, supervision, duty) and the hall's
    convenience services with whether each is available now (seed 000 clauses 4.7, 5.2.6)."""
    return render_template("kiosk/info.html", week=week_table(template_context()["settings"].hours))


@bp.get("/service/<key>")
def service(key: str):
    """A tile whose service cannot be used here and now: say why and where to go instead."""
    found = [f for f in FEATURES if f.key == key]
    if not found:
        abort(404)
    ctx = template_context()
    reason = blocked_by(found[0], snapshot(), bool(ctx["hall_open"]))
    return render_template("kiosk/unavailable.html", feature=found[0], reason=reason or "counter",
                           week=week_table(ctx["settings"].hours))
