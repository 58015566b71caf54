"""The first-aid and convenience boxes on the staff console (login required): what is in
each box and until when, taking out and restocking, and the inspection records (seed 000
clauses 4.4.5, 4.4.6). The rules live in :mod:`edge_agent.first_aid`; a refusal is shown on
the page with what was typed kept, so nothing has to be typed twice."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from hall_common.auth import login_required

from .console import active_alarms
from .console_services import require
from .first_aid import KINDS, MARKINGS, FirstAid, Refused

bp = Blueprint("first_aid", __name__, url_prefix="/first-aid")

REMOVE_REASONS = ("已用完 · used up", "过期撤出 · expired, withdrawn", "破损 · damaged", "其他 · other")


def _page(box: str, *, error: Refused | None = None, status: int = 200) -> Any:
    service: FirstAid = require("first_aid")
    if box not in service.boxes:
        abort(404)
    return render_template(
        "console/first_aid_box.html", box=service.boxes[box], items=service.items(box), today=service.today(),
        inspections=service.inspections(box), events=service.events(box), local=service.local,
        kinds=KINDS, markings=MARKINGS, reasons=REMOVE_REASONS, far=service.far, near=service.near,
        error=error, form=request.form if error else {}, alarms=active_alarms(),
    ), status


@bp.get("/")
@login_required()
def index():
    """Every box at a glance: how many items, how many expiring or expired, last inspected."""
    service: FirstAid = require("first_aid")
    rows = []
    for box in service.boxes.values():
        states = [i["status"] for i in service.items(box.id)]
        last = service.inspections(box.id, limit=1)
        rows.append({"box": box, "count": len(states), "soon": states.count("soon") + states.count("near"),
                     "expired": states.count("expired"), "last": last[0] if last else None})
    return render_template("console/first_aid.html", rows=rows, local=service.local, alarms=active_alarms())


@bp.get("/<box>")
@login_required()
def box(box: str):
    return _page(box)


@bp.post("/<box>/items")
@login_required()
def add(box: str):
    service: FirstAid = require("first_aid")
    f = request.form
    try:
        item = service.add(box, who=g.user, name=f.get("name", ""), kind=f.get("kind", ""),
                           marking=f.get("marking") or None, quantity=f.get("quantity", ""), unit=f.get("unit", ""),
                           batch=f.get("batch", ""), expiry=f.get("expiry") or None)
    except Refused as exc:
        return _page(box, error=exc, status=422)
    flash(f"已放入：{item['name']} {item['quantity']} {item['unit']} · Added")
    return redirect(url_for("first_aid.box", box=box))


@bp.post("/<box>/items/<item_id>/<action>")
@login_required()
def act(box: str, item_id: str, action: str):
    """Take out, restock (a new batch replaces the old stock), correct the date, remove."""
    service: FirstAid = require("first_aid")
    f = request.form
    try:
        if service.item(item_id)["box"] != box:
            abort(404)
        if action == "take_out":
            item = service.take_out(item_id, f.get("quantity", "1"), who=g.user, note=f.get("note", ""))
            flash(f"已取出：{item['name']}，剩 {item['quantity']} {item['unit']} · Taken out, {item['quantity']} left")
        elif action == "restock":
            item = service.restock(item_id, f.get("quantity", ""), who=g.user, batch=f.get("batch") or None,
                                   expiry=f.get("expiry") or None)
            flash(f"已补充：{item['name']}，现有 {item['quantity']} {item['unit']} · Restocked")
        elif action == "correct":
            item = service.correct(item_id, who=g.user, expiry=f.get("expiry", ""))
            flash(f"已更正有效期：{item['name']} → {item['expiry'] or '—'} · Expiry date corrected")
        elif action == "remove":
            item = service.remove(item_id, who=g.user, reason=f.get("reason", ""))
            flash(f"已移除：{item['name']} · Removed")
        else:
            abort(404)
    except Refused as exc:
        return _page(box, error=exc, status=422)
    return redirect(url_for("first_aid.box", box=box))


@bp.post("/<box>/inspections")
@login_required()
def inspect(box: str):
    service: FirstAid = require("first_aid")
    try:
        service.inspect(box, who=g.user, found=request.form.get("found", ""), done=request.form.get("done", ""))
    except Refused as exc:
        return _page(box, error=exc, status=422)
    flash("检查记录已保存 · Inspection recorded")
    return redirect(url_for("first_aid.box", box=box) + "#inspections")
