"""The admin console at the centre: the halls at a glance and their registers, each user
seeing their own halls (:mod:`.access`)."""

from __future__ import annotations

import time

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from hall_common.bus import contract

from . import access, audit
from .db import get_store
from .fleet import MAX_REGION

bp = Blueprint("admin", __name__)


@bp.get("/halls")
@access.require("view")
def overview():
    """Every hall of the user's, when it last synced and how many records it sent, and the
    way to every area of the console (the landing page ``/`` is the fleet view, fleet.py)."""
    return _halls_page()


def _halls_page(form: dict[str, str] | None = None, error: tuple[str, str] | None = None, status: int = 200):
    mine, args = access.hall_clause("h.hall_id")
    halls = get_store().query(
        "SELECT h.hall_id, h.name, h.region, h.last_sync, (SELECT count(*) FROM records r WHERE r.hall_id = h.hall_id) "
        f"AS records FROM halls h WHERE {mine} ORDER BY h.hall_id", args
    )
    return render_template("admin/overview.html", halls=halls, form=form or {}, error=error,
                           may_manage=access.allowed("manage"), max_region=MAX_REGION), status


def _check_new_hall(form: dict[str, str]) -> tuple[str, str] | None:
    """The field that is wrong and why (in both languages), or None."""
    if not contract.valid_id(form["hall_id"]):
        return "hall_id", ("编号只能用小写字母、数字、- 和 _，最多 32 个字符，如 xfl01 · "
                           "Id: lower-case letters, digits, - and _ only, at most 32, e.g. xfl01")
    if not form["name"] or len(form["name"]) > 60:
        return "name", "请填写名称（最多 60 个字）· Name: 1 to 60 characters"
    if len(form["region"]) > MAX_REGION:
        return "region", f"地区最多 {MAX_REGION} 个字 · Region: at most {MAX_REGION} characters"
    if get_store().scalar("SELECT count(*) FROM halls WHERE hall_id = ?", (form["hall_id"],)):
        return "hall_id", f"已有服务中心 {form['hall_id']} · Id: there is already a hall {form['hall_id']}"
    return None


@bp.post("/halls")
@access.require("manage")
def add_hall():
    """A new hall, before any of its Pis exists: its devices are then added on the devices
    page and join with their codes. Company-wide (admins), audited."""
    form = {k: request.form.get(k, "").strip() for k in ("hall_id", "name", "region")}
    error = _check_new_hall(form)
    if error:
        return _halls_page(form, error, 422)
    store = get_store()
    with store.transaction():
        store.execute("INSERT INTO halls (hall_id, name, registered_at, region) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (hall_id) DO NOTHING", (form["hall_id"], form["name"], time.time(), form["region"]))
        audit.write(store, g.user, "hall.add", form, hall=form["hall_id"])
    flash(f"已添加服务中心 {form['name']}（{form['hall_id']}），下一步：添加设备 · "
          f"Added hall {form['name']} ({form['hall_id']}); next: add its devices")
    return redirect(url_for("devices.index", hall=form["hall_id"]))


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
