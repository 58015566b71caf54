"""The staff console: what facility and counter staff see of the hall (login required)."""

from __future__ import annotations

import time

from typing import Any

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, url_for

from central_sync import client as outbox
from hall_common.auth import login_required
from hall_common.errors import RequestFailed
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
    return render_template("console/overview.html", nodes=registry.nodes(), help_requests=help_requests, sync=sync,
                           alarms=active_alarms())


def active_alarms() -> list[dict[str, Any]]:
    order = {"critical": 0, "major": 1, "minor": 2, "warning": 3}
    rows = get_db()["alarms"].rows_where("state LIKE 'ACTIVE%'")
    return sorted(rows, key=lambda r: (order.get(r["severity"], 9), r["raised_at"]))


@bp.get("/printers")
@login_required()
def printers():
    """Each printer's paper and state, and the recent jobs with a reprint button."""
    service = current_app.config.get("PRINTING")
    rows = []
    for p in current_app.config["PRINTERS"]:
        worker = service.workers.get(p.id) if service is not None else None
        profile = service.profile(p.id) if service is not None else None
        waiting = get_db().execute("SELECT count(*) FROM print_jobs WHERE printer = ? AND status IN "
                                   "('queued', 'printing')", [p.id]).fetchone()[0]
        rows.append({"id": p.id, "address": p.address, "serves": p.serves, "waiting": waiting,
                     "model": profile.model if profile else p.profile, "paper_mm": profile.paper_mm if profile else "—",
                     "mode": profile.mode if profile else "text", "status": worker.status if worker else None})
    jobs = list(get_db().query("SELECT * FROM print_jobs ORDER BY seq DESC LIMIT 30"))
    return render_template("console/printers.html", printers=rows, jobs=jobs, alarms=active_alarms(),
                           can_reprint=service is not None)


@bp.post("/printers/jobs/<job>/reprint")
@login_required()
def reprint(job: str):
    """Print a job again, marked 重打 so it cannot pass for a second ticket."""
    service = current_app.config.get("PRINTING")
    if service is None:
        flash("打印服务未运行，无法重打 · The print service is not running")
        return redirect(url_for("console.printers"))
    try:
        view = service.reprint(job)
    except RequestFailed:
        flash("找不到这个打印任务 · No such print job")
        return redirect(url_for("console.printers"))
    if view["status"] == "failed":
        flash("没有可用的打印机，未能重打 · No printer can print now; not reprinted")
    else:
        flash(f"已送 {view['printer']} 重打 · Sent to {view['printer']} as a reprint")
    return redirect(url_for("console.printers"))


@bp.post("/help/<request_id>/handled")
@login_required()
def help_handled(request_id: str):
    """Staff went to the kiosk: the request leaves the list, with who and when recorded."""
    get_db()["help_requests"].update(request_id, {"handled_at": time.time(), "handled_by": g.user})
    return redirect(url_for("console.overview"))


@bp.get("/alarms.json")
@login_required()
def alarms_json():
    """The active alarms for the bell on every console page, which sounds while a critical
    one is unacknowledged (an emergency report from a kiosk, for one)."""
    keep = ("id", "severity", "state", "text", "raised_at", "acked_by")
    return jsonify(alarms=[{k: a[k] for k in keep} for a in active_alarms()])


@bp.post("/alarms/<alarm_id>/ack")
@login_required()
def alarm_ack(alarm_id: str):
    """Someone is on it: the bell stops; the alarm stays until its cause is dealt with."""
    alarms = current_app.config.get("ALARMS")
    if alarms is None:
        abort(503)
    if not alarms.acknowledge(alarm_id, g.user):
        abort(404)
    return jsonify(ok=True)
