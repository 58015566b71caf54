"""The staff console's AED page: is the AED ready, what staff must do after a use, and
the dates on its battery and pads."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from hall_common.auth import login_required

from .aed import Aed, AedRefused
from .console import active_alarms
from .console_services import require, services

bp = Blueprint("aed", __name__, url_prefix="/aed")


def _days_left(day: str | None, zone: ZoneInfo) -> int | None:
    if day is None:
        return None
    return (date.fromisoformat(day) - datetime.now(zone).date()).days


@bp.get("/")
@login_required()
def index():
    aed = services().aed
    if aed is None:
        return render_template("console/aed.html", aed=None, alarms=active_alarms())
    state = aed.state()
    left = {part: _days_left(state[f"{part}_expires"], aed.zone) for part in ("battery", "pads")}
    aed_alarms = [a for a in active_alarms() if a["id"].startswith("aed.")]
    return render_template("console/aed.html", aed=aed, state=state, left=left, uses=aed.uses(), aed_alarms=aed_alarms,
                           alarms=active_alarms())


@bp.post("/expiry")
@login_required()
def expiry():
    aed: Aed = require("aed")
    try:
        aed.set_expiry(request.form.get("part", ""), request.form.get("date", ""), who=g.user)
        flash("已保存 · Saved")
    except AedRefused as exc:
        flash(exc.message)
    return redirect(url_for("aed.index"))


@bp.post("/checklist")
@login_required()
def checklist():
    aed: Aed = require("aed")
    try:
        aed.checklist(who=g.user, pads_replaced=bool(request.form.get("pads_replaced")),
                      rearmed=bool(request.form.get("rearmed")), new_pads_expire=request.form.get("pads_expire", ""),
                      note=request.form.get("note", ""))
        flash("检查单已完成，AED 恢复待用 · Checklist done: the AED is ready again")
    except AedRefused as exc:
        flash(exc.message)
    return redirect(url_for("aed.index"))
