"""The staff console: what facility and counter staff see of the hall (login required)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from central_sync import client as outbox
from hall_common import disk
from hall_common.auth import login_required
from hall_common.errors import RequestFailed
from hall_common.storage import immediate
from hall_common.web import get_db

from .alarms import Alarms
from .console_services import require, services
from .registry import Registry

bp = Blueprint("console", __name__)


def edge_disk() -> disk.DiskState:
    """The edge's own disk: the free space of the folder ``edge.db`` is in, and whether a
    write there (an alarm, say) failed with SQLITE_FULL. The agent's writers record such
    failures in the same :func:`hall_common.disk.watch`."""
    return disk.watch(Path(current_app.config["DATABASE"]).parent).state()


@bp.app_context_processor
def _disk_context() -> dict[str, Any]:
    # Every console page (nav.html) shows the banner while the edge's disk is full.
    return {"edge_disk": edge_disk}


@bp.get("/")
@login_required()
def overview():
    """The hall at a glance: every device, online or not, and when it was last heard from.
    Tools' logins (``hall doctor``) are not devices: a line below the table names them."""
    db = get_db()
    registry = Registry(db, stale_after=current_app.config["STALE_AFTER"], devices=current_app.config["DEVICES"])
    help_requests = list(db["help_requests"].rows_where("handled_at is null", order_by="ts"))
    sync = outbox.status(db) if current_app.config["SYNCS"] else None
    every = registry.nodes()
    nodes = [n for n in every if n.device]
    return render_template("console/overview.html", nodes=nodes, tools=[n for n in every if not n.device],
                           tiles=_tiles(nodes), help_requests=help_requests, sync=sync, alarms=active_alarms())


def _tiles(nodes: list[Any]) -> list[dict[str, Any]]:
    """The hall at a glance: one tile per device, coloured ok / warn / bad / off, with a
    word or two of why and a link to its page."""
    tiles = []
    state = edge_disk()
    if state.full:
        free = "?" if state.free_mb is None else f"{state.free_mb:.0f}"
        tiles.append({"name": "edge", "kind": "disk", "where": "", "colour": "bad",
                      "why": "存储已满 · storage full", "extra": f"剩余 {free} MB · free", "href": None})
    full_nodes = {a["id"].removesuffix(".disk") for a in active_alarms() if a["type"] == "disk_full"}
    for n in nodes:
        if n.node == "edge":
            continue
        if n.state == "never":
            colour, why = "off", "从未连接 · never connected"
        elif n.stale:
            colour, why = "bad", "无数据 · silent"
        elif n.state == "ready":
            colour, why = "ok", "在线 · online"
        else:
            colour, why = ("bad", "失联 · lost") if n.state == "lost" else ("off", "已停止 · stopped")
        if n.node in full_nodes:
            colour, why = "bad", "存储已满 · storage full"
        extra = f"配置 v{n.config_version}" if n.config_version is not None else ""
        tiles.append({"name": n.node, "kind": n.kind, "where": n.location, "colour": colour, "why": why, "extra": extra,
                      "href": None})
    service = services().printing
    for p in current_app.config["PRINTERS"]:
        status = service.workers[p.id].status if service is not None and p.id in service.workers else None
        if status is None:
            colour, why = "off", "检测中 · checking"
        elif not status.can_print:
            colour, why = "bad", ("缺纸 · out of paper" if status.paper == "out" else
                                  "机盖打开 · cover open" if status.cover_open else "不能打印 · cannot print")
        elif status.paper == "near_end":
            colour, why = "warn", "纸将用尽 · paper low"
        else:
            colour, why = "ok", "可打印 · ready"
        tiles.append({"name": p.id, "kind": "printer", "where": "", "colour": colour, "why": why, "extra": "",
                      "href": url_for("console.printers")})
    aed = services().aed
    if aed is not None:
        s = aed.state()
        aed_alarms = [a for a in active_alarms() if a["id"].startswith("aed.")]
        if s["in_use"] or s["door_open"]:
            colour, why = "bad", "柜门打开/待检查 · opened"
        elif any(a["severity"] in ("critical", "major") for a in aed_alarms):
            colour, why = "bad", "需处理 · needs attention"
        elif aed_alarms:
            colour, why = "warn", "临近到期 · expiring"
        else:
            colour, why = "ok", "待用 · ready"
        tiles.append({"name": "AED", "kind": "aed", "where": s["location"], "colour": colour, "why": why, "extra": "",
                      "href": url_for("aed.index")})
    return tiles


def active_alarms() -> list[dict[str, Any]]:
    order = {"critical": 0, "major": 1, "minor": 2, "warning": 3}
    rows = get_db()["alarms"].rows_where("state LIKE 'ACTIVE%'")
    return sorted(rows, key=lambda r: (order.get(r["severity"], 9), r["raised_at"]))


@bp.get("/printers")
@login_required()
def printers():
    """Each printer's paper and state, and the recent jobs with a reprint button."""
    service = services().printing
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
    service = services().printing
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
    """Staff went to the kiosk: the request leaves the list, with who and when recorded
    (the first to mark it; a second click, or a request already gone, changes nothing)."""
    db = get_db()
    with immediate(db):
        db.execute("UPDATE help_requests SET handled_at = ?, handled_by = ? WHERE id = ? AND handled_at IS NULL",
                   [time.time(), g.user, request_id])
    return redirect(url_for("console.overview"))


@bp.get("/alarms.json")
@login_required(passive=True)
def alarms_json():
    """The active alarms for the bell on every console page, which sounds while a critical
    one is unacknowledged (an emergency report from a kiosk, for one). The bell asks by
    itself every few seconds, so asking does not keep the login from idling out."""
    keep = ("id", "severity", "state", "text", "raised_at", "acked_by")
    return jsonify(alarms=[{k: a[k] for k in keep} for a in active_alarms()])


@bp.get("/alarms/")
@login_required()
def alarm_list():
    """Every active alarm with an acknowledge button, and the recent history: who saw
    what, and when each was raised and cleared."""
    alarms = services().alarms
    history = alarms.history(100) if alarms is not None else []
    return render_template("console/alarm_list.html", alarms=active_alarms(), history=history,
                           can_ack=alarms is not None)


@bp.post("/alarms/<alarm_id>/ack")
@login_required()
def alarm_ack(alarm_id: str):
    """Someone is on it: the bell stops; the alarm stays until its cause is dealt with.
    The bell's script asks for JSON; the alarm list's form gets the page back."""
    alarms: Alarms = require("alarms")
    done = alarms.acknowledge(alarm_id, g.user)
    if "csrf_token" not in request.form:  # the bell (its token is in a header)
        if not done:
            abort(404)
        return jsonify(ok=True)
    flash("已确认，告警仍保留到问题解决 · Acknowledged; the alarm stays until its cause is dealt with"
          if done else "这条告警已确认或已解除 · Already acknowledged or cleared")
    return redirect(url_for("console.alarm_list"))
