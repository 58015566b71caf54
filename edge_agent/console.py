"""The staff console: what facility and counter staff see of the hall (login required)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from hall_common.auth import login_required
from hall_common.web import get_db

from .registry import Registry

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required()
def overview():
    """The hall at a glance: every node, online or not, and when it was last heard from."""
    registry = Registry(get_db(), stale_after=current_app.config["STALE_AFTER"])
    return render_template("console/overview.html", nodes=registry.nodes())
