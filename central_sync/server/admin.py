"""The admin console at the centre (login required)."""

from __future__ import annotations

from flask import Blueprint, render_template

from hall_common.auth import login_required
from hall_common.web import get_db

bp = Blueprint("admin", __name__)


@bp.get("/")
@login_required()
def overview():
    """Every hall known to the centre and when it last synced."""
    halls = list(get_db()["halls"].rows_where(order_by="hall_id"))
    return render_template("admin/overview.html", halls=halls)
