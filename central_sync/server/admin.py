"""The admin console at the centre (login required)."""

from __future__ import annotations

from flask import Blueprint, render_template

from hall_common.auth import login_required

from .db import get_store

bp = Blueprint("admin", __name__)


@bp.get("/")
@login_required()
def overview():
    """Every hall known to the centre, when it last synced and how many records it sent."""
    halls = get_store().query(
        "SELECT h.hall_id, h.name, h.last_sync, (SELECT count(*) FROM records r WHERE r.hall_id = h.hall_id) AS records "
        "FROM halls h ORDER BY h.hall_id"
    )
    return render_template("admin/overview.html", halls=halls)
