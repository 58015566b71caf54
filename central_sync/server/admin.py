"""The admin console at the centre: the halls at a glance and their registers, each user
seeing their own halls (:mod:`.access`)."""

from __future__ import annotations

from flask import Blueprint, render_template

from . import access
from .db import get_store

bp = Blueprint("admin", __name__)


@bp.get("/halls")
@access.require("view")
def overview():
    """Every hall of the user's, when it last synced and how many records it sent, and the
    way to every area of the console (the landing page ``/`` is the fleet view, fleet.py)."""
    mine, args = access.hall_clause("h.hall_id")
    halls = get_store().query(
        "SELECT h.hall_id, h.name, h.last_sync, (SELECT count(*) FROM records r WHERE r.hall_id = h.hall_id) AS records "
        f"FROM halls h WHERE {mine} ORDER BY h.hall_id", args
    )
    return render_template("admin/overview.html", halls=halls)


REGISTERS = {"renovations": "装修登记 · Renovations", "keys": "钥匙借用 · Keys", "parcels": "快递邮件 · Parcels",
             "lost_found": "失物招领 · Lost and found", "releases": "物品放行 · Goods release"}
"""The front desk's registers as the halls keep them (edge_agent/registers/), in their order."""


@bp.get("/registers")
@access.require("view")
def registers():
    """How many entries each hall's front-desk registers hold, open and closed (nothing
    personal is kept at the centre outside the ledger: register_projection.py)."""
    mine, args = access.hall_clause("hall_id")
    rows = get_store().query(
        "SELECT hall_id, register, count(*) AS total, sum(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open, "
        f"max(touched_at) AS last FROM register_entries WHERE {mine} GROUP BY hall_id, register ORDER BY hall_id, register",
        args)
    order = list(REGISTERS)
    rows.sort(key=lambda r: (r["hall_id"], order.index(r["register"]) if r["register"] in order else len(order)))
    return render_template("admin/registers.html", rows=rows, names=REGISTERS)
