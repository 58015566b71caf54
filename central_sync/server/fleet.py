"""The fleet view: every hall and every node at a glance, the console's overview page.

Built from the halls' newest ``hall_status`` records (fleet_projection.py) and the time
each hall was last heard from (any batch, a status heartbeat at the least): a hall not
heard from in ``FLEET_OFFLINE_AFTER`` seconds is offline, and its nodes' states are then
unknown (presence.py, the rule the rollout gate judges by too). Active alarms of every hall
the user may see are listed together, most severe first, an opened AED cabinet above
everything.

The page is a shell; ``static/fleet.js`` fills it from ``/fleet.json`` and asks again every
few seconds, with the page's own filter (``?hall=``, ``?region=``). Lists are narrowed to
the user's halls (:func:`access.hall_clause`); a filter naming another hall is refused.
An admin sets each hall's region on the same page.
"""

from __future__ import annotations

import time
import unicodedata
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from . import access, presence
from .configs import audit
from .db import get_store

bp = Blueprint("fleet", __name__)

MAX_REGION = 32
SEVERITY_NAMES = {"critical": "紧急 · Critical", "major": "重要 · Major", "minor": "次要 · Minor", "warning": "提示 · Warning"}
PAPER_NAMES = {"ok": "正常 · OK", "near_end": "将用尽 · Near end", "out": "缺纸 · Out", None: "未知 · Unknown"}


def _filters() -> tuple[str, list[Any]]:
    """The user's halls, narrowed by the request's ``hall`` and ``region``, as a WHERE on ``h``."""
    clause, params = access.hall_clause("h.hall_id")
    hall, region = request.args.get("hall", "").strip(), request.args.get("region", "").strip()
    if hall:
        access.check_hall(hall)
        clause, params = f"{clause} AND h.hall_id = ?", [*params, hall]
    if region:
        clause, params = f"{clause} AND h.region = ?", [*params, region]
    return clause, params


def fleet_state(now: float | None = None) -> dict[str, Any]:
    """What the page shows, as the JSON route answers it."""
    now = time.time() if now is None else now
    limit = presence.offline_after()
    store = get_store()
    where, params = _filters()
    halls = store.query(
        "SELECT h.hall_id, h.name, h.region, h.last_sync, f.received_at, f.sw, f.config_version, f.backlog, "
        "f.backlog_age, f.alarms_total FROM halls h LEFT JOIN fleet_halls f ON f.hall_id = h.hall_id "
        f"WHERE {where} ORDER BY h.region, h.hall_id", params)
    nodes = store.query(
        "SELECT n.* FROM fleet_nodes n JOIN halls h ON h.hall_id = n.hall_id "
        f"WHERE {where} ORDER BY n.hall_id, n.node_id", params)
    printers = store.query(
        "SELECT p.* FROM fleet_printers p JOIN halls h ON h.hall_id = p.hall_id "
        f"WHERE {where} ORDER BY p.hall_id, p.printer_id", params)
    alarms = store.query(
        "SELECT a.hall_id, h.name AS hall_name, a.alarm_id, a.severity, a.rank, a.state, a.type, a.text, a.raised_at "
        f"FROM hall_alarms a JOIN halls h ON h.hall_id = a.hall_id WHERE {where} "
        "ORDER BY a.rank, a.raised_at, a.hall_id, a.alarm_id LIMIT 500", params)
    by_hall: dict[str, dict[str, Any]] = {}
    for h in halls:
        contact = presence.last_contact(h["last_sync"], h["received_at"])
        online = presence.hall_online(contact, now, limit)
        by_hall[h["hall_id"]] = {
            "hall_id": h["hall_id"], "name": h["name"], "region": h["region"], "online": online,
            "last_contact": contact, "reported": h["received_at"] is not None, "backlog": h["backlog"],
            "backlog_age": h["backlog_age"], "alarms_total": h["alarms_total"] or 0, "printers": [],
            "nodes": [{"node": "edge", "kind": "edge", "state": "ready" if online else "offline", "online": online,
                       "last_seen": contact, "sw": h["sw"], "config_version": h["config_version"]}],
        }
    for n in nodes:
        hall = by_hall[n["hall_id"]]
        # A node's state is what its hall last said; with the hall offline nobody knows.
        hall["nodes"].append({"node": n["node_id"], "kind": n["kind"], "state": n["state"] if hall["online"] else "unknown",
                              "online": bool(n["online"]) and hall["online"], "last_seen": n["last_seen"], "sw": n["sw"],
                              "config_version": n["config_version"]})
    for p in printers:
        by_hall[p["hall_id"]]["printers"].append({"printer": p["printer_id"], "online": bool(p["online"]),
                                                  "paper": p["paper"], "can_print": bool(p["can_print"]),
                                                  "paper_name": PAPER_NAMES.get(p["paper"], p["paper"])})
    return {
        "now": now, "offline_after": limit,
        "halls": list(by_hall.values()),
        "alarms": [{"hall_id": a["hall_id"], "hall_name": a["hall_name"], "id": a["alarm_id"], "severity": a["severity"],
                    "severity_name": SEVERITY_NAMES.get(a["severity"], a["severity"]), "aed": a["rank"] == 0,
                    "state": a["state"], "type": a["type"], "text": a["text"], "raised_at": a["raised_at"],
                    "hall_online": by_hall[a["hall_id"]]["online"]} for a in alarms],
    }


def _choices() -> tuple[list[dict[str, Any]], list[str]]:
    """The halls and regions the user may filter by."""
    clause, params = access.hall_clause("h.hall_id")
    halls = get_store().query(f"SELECT h.hall_id, h.name, h.region FROM halls h WHERE {clause} ORDER BY h.hall_id", params)
    return halls, sorted({h["region"] for h in halls if h["region"]})


@bp.get("/")
@access.require("view")
def index():
    """The page; its tables are filled by static/fleet.js from :func:`state`."""
    halls, regions = _choices()
    hall, region = request.args.get("hall", ""), request.args.get("region", "")
    if hall:
        access.check_hall(hall)
    return render_template("admin/fleet.html", halls=halls, regions=regions, hall=hall, region=region,
                           may_manage=access.allowed("manage"), max_region=MAX_REGION)


@bp.get("/fleet.json")
@access.require("view", passive=True)  # the page's own poll: an open page still idles out
def state():
    return jsonify(fleet_state())


@bp.post("/fleet/halls/<hall_id>/region")
@access.require("manage")
def set_region(hall_id: str):
    """An admin groups halls by region, for the view's filter."""
    access.check_hall(hall_id)
    region = request.form.get("region", "").strip()
    store = get_store()
    if len(region) > MAX_REGION or any(unicodedata.category(c).startswith("C") for c in region):
        flash(f"地区名称最多 {MAX_REGION} 个字，且不能含控制字符；未保存 · A region has at most {MAX_REGION} characters "
              "and no control characters; nothing was saved")
        return redirect(url_for("fleet.index")), 303
    if not store.scalar("SELECT count(*) FROM halls WHERE hall_id = ?", (hall_id,)):
        flash("没有这个服务中心；未保存 · No such hall; nothing was saved")
        return redirect(url_for("fleet.index")), 303
    with store.transaction():
        store.execute("UPDATE halls SET region = ? WHERE hall_id = ?", (region, hall_id))
        audit("hall.region", {"hall": hall_id, "region": region})
    flash(f"已保存 {hall_id} 的地区 · Region of {hall_id} saved")
    return redirect(url_for("fleet.index"))
