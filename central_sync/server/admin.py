"""The admin console at the centre (login required)."""

from __future__ import annotations

from flask import Blueprint, render_template

from hall_common.auth import login_required

from .db import get_store

bp = Blueprint("admin", __name__)


@bp.get("/halls")
@login_required()
def overview():
    """Every hall known to the centre, when it last synced and how many records it sent, and
    the way to every area of the console (the landing page ``/`` is the fleet view, fleet.py)."""
    halls = get_store().query(
        "SELECT h.hall_id, h.name, h.last_sync, (SELECT count(*) FROM records r WHERE r.hall_id = h.hall_id) AS records "
        "FROM halls h ORDER BY h.hall_id"
    )
    return render_template("admin/overview.html", halls=halls)


REGISTERS = {"renovations": "装修登记 · Renovations", "keys": "钥匙借用 · Keys", "parcels": "快递邮件 · Parcels",
             "lost_found": "失物招领 · Lost and found", "releases": "物品放行 · Goods release"}
"""The front desk's registers as the halls keep them (edge_agent/registers/), in their order."""


@bp.get("/registers")
@login_required()
def registers():
    """How many entries each hall's front-desk registers hold, open and closed (nothing
    personal is kept at the centre outside the ledger: register_projection.py)."""
    rows = get_store().query(
        "SELECT hall_id, register, count(*) AS total, sum(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open, "
        "max(touched_at) AS last FROM register_entries GROUP BY hall_id, register ORDER BY hall_id, register")
    order = list(REGISTERS)
    rows.sort(key=lambda r: (r["hall_id"], order.index(r["register"]) if r["register"] in order else len(order)))
    return render_template("admin/registers.html", rows=rows, names=REGISTERS)
