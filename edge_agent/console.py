"""The staff console: what facility and counter staff see of the hall (login required)."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, redirect, render_template, url_for

from central_sync import client as outbox
from hall_common.auth import login_required
from hall_common.web import get_db

from .registry import Registry

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required()
def overview():
    """The hall at a glance: every node, online or not, and when it was last heard from."""
    db = get_db()
    registry = Registry(db, stale_after=current_app.config["STALE_AFTER"])
    help_requests = list(db["help_requests"].rows_where("handled_at is null", order_by="ts"))
    sync = outbox.status(db) if current_app.config["SYNCS"] else None
    return render_template("console/overview.html", nodes=registry.nodes(), help_requests=help_requests, sync=sync)


@bp.post("/help/<request_id>/handled")
@login_required()
def help_handled(request_id: str):
    """Staff went to the kiosk: the request leaves the list, with who and when recorded."""
    get_db()["help_requests"].update(request_id, {"handled_at": time.time(), "handled_by": g.user})
    return redirect(url_for("console.overview"))
