"""Residents' requests across halls in the admin console (login required): the list with
filters, each request's timeline, and the satisfaction and on-time rates per hall, category,
month and channel (kiosk, or taken by staff by phone, at the counter, by WeChat or SMS).

Everything reads the projection tables that ingest keeps (:mod:`.complaint_projection`);
names and phones there are already masked.

How the two rates are counted (also in ``docs/complaints.md``):

* **Satisfaction**: every rating counts once (a request reopened after 不满意 and rated again
  counts twice); satisfied means 非常满意, 满意 or 基本满意.
* **On time**: among requests whose first-feedback deadline has passed or that have had their
  first feedback, the share whose first feedback (accept, cancel, out-of-remit close,
  force-close) came by the deadline printed on the receipt. An emergency is due "at once" and
  counts as on time within :data:`~.complaint_projection.EMERGENCY_WITHIN_S` of the report.
* Rows by month use the month the request was received, so a month's figures describe the
  requests of that month.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, render_template, request

from hall_common.channels import CHANNELS, label
from hall_common.config import ComplaintsConfig
from hall_common.privacy import mask_phone

from . import access
from .complaint_projection import SATISFIED, TZ
from .db import get_store

bp = Blueprint("complaints", __name__, url_prefix="/complaints")

PAGE = 100
KINDS = {"complaint": "投诉", "repair": "报修", "suggestion": "建议", "consultation": "咨询", "praise": "表扬"}
GRADES = {"emergency": "紧急", "important": "重要", "general": "一般", "suggestion": "建议/咨询"}
STATUS = {"submitted": "待接单", "accepted": "已接单", "dispatched": "已派单", "in_progress": "处理中",
          "paused": "暂停", "resolved": "已处理", "followed_up": "已回访", "closed": "已办结", "cancelled": "已取消"}
ACTIONS = {"accept": "接单", "dispatch": "派单", "start": "开始处理", "pause": "暂停", "return": "退回",
           "resolve": "处理完毕", "follow_up": "回访", "close": "办结", "cancel": "取消", "force_close": "强制关闭",
           "out_of_remit": "非物业职责，告知联系方式", "escalate": "逾期未接单，升级至经理", "rate": "业主评价"}
RATINGS = {"very_satisfied": "非常满意", "satisfied": "满意", "basically_satisfied": "基本满意",
           "dissatisfied": "不满意", "very_dissatisfied": "非常不满意"}
CATEGORIES = {c.id: c.name_zh for c in ComplaintsConfig().categories}
"""The default category names; a hall's own categories show by their id."""


@bp.app_template_filter("hall_time")
def hall_time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, TZ).strftime("%Y-%m-%d %H:%M") if ts else "—"


def readable(number: str) -> str:
    """``HHH YYMMDD NNN C``, as on the receipt."""
    return f"{number[:3]} {number[3:9]} {number[9:12]} {number[12:]}" if len(number) == 13 else number


def on_time(row: dict[str, Any], now: float) -> bool | None:
    """True/False once the request is due or answered; None while it is neither."""
    if row["accept_by"] is None:
        return None
    if row["responded_at"] is not None:
        return row["responded_at"] <= row["accept_by"]
    return False if now >= row["accept_by"] else None


def _filters() -> tuple[dict[str, str], str, list[Any]]:
    """The list's filters from the query string, as SQL conditions with their values."""
    f = {k: request.args.get(k, "").strip() for k in ("hall", "status", "grade", "month", "channel", "q")}
    if f["hall"]:
        access.check_hall(f["hall"])
    mine, args = access.hall_clause("c.hall_id")
    where = [mine]
    for key, column in (("hall", "c.hall_id"), ("status", "c.status"), ("grade", "c.grade"), ("month", "c.month"),
                        ("channel", "c.channel")):
        if f[key]:
            where.append(f"{column} = ?")
            args.append(f[key])
    digits = re.sub(r"\D", "", f["q"])
    if f["q"]:
        where.append("c.tracking_no LIKE ?")
        args.append(f"{digits}%")
    return f, " AND ".join(f"({w})" for w in where), args


@bp.get("/")
@access.require("view")
def index():
    """Newest first, filtered by hall, status, grade, month, channel or (the start of) a
    tracking number; only the user's halls."""
    store = get_store()
    f, where, args = _filters()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    total = store.scalar(f"SELECT count(*) FROM complaints c WHERE {where}", args)
    rows = store.query(f"SELECT c.*, h.name AS hall_name FROM complaints c LEFT JOIN halls h ON h.hall_id = c.hall_id "
                       f"WHERE {where} ORDER BY COALESCE(c.received_at, c.status_ts) DESC, c.id "
                       f"LIMIT {PAGE} OFFSET {(page - 1) * PAGE}", args)
    now = time.time()
    for r in rows:
        r["on_time"] = on_time(r, now)
    halls = access.hall_rows()
    mine, mine_args = access.hall_clause("hall_id")
    months = [m["month"] for m in store.query(f"SELECT DISTINCT month FROM complaints WHERE month IS NOT NULL AND {mine} "
                                               "ORDER BY month DESC", mine_args)]
    return render_template("admin/complaints.html", rows=rows, f=f, halls=halls, months=months, total=total, page=page,
                           pages=max(1, -(-total // PAGE)), readable=readable, kinds=KINDS, grades=GRADES,
                           status=STATUS, ratings=RATINGS, categories=CATEGORIES, channels=CHANNELS)


@bp.get("/<tracking_no>")
@access.require("view")
def detail(tracking_no: str):
    """One request: what was asked, the commitment, and every step and rating in order.
    A number only another hall has is refused (403), not shown."""
    store = get_store()
    found = store.query("SELECT c.*, h.name AS hall_name FROM complaints c LEFT JOIN halls h ON h.hall_id = c.hall_id "
                        "WHERE c.tracking_no = ? ORDER BY c.received_at DESC", (re.sub(r"\D", "", tracking_no),))
    if not found:
        abort(404)
    visible = [c for c in found if access.may_see(c["hall_id"])]
    if not visible:
        abort(403)
    c = visible[0]
    events = store.query("SELECT * FROM complaint_events WHERE complaint_id = ? AND hall_id = ? ORDER BY ts, id",
                         (c["id"], c["hall_id"]))
    c["on_time"] = on_time(c, time.time())
    for text in ("content", "wanted", "place"):
        c[text] = mask_phone(c[text] or "")  # a number typed into the text is masked too
    for e in events:
        e["note"] = mask_phone(e["note"] or "")
    return render_template("admin/complaint.html", c=c, events=events, readable=readable, kinds=KINDS, grades=GRADES,
                           status=STATUS, actions=ACTIONS, ratings=RATINGS, categories=CATEGORIES, channel=label)


@bp.get("/stats")
@access.require("view")
def stats():
    """Satisfaction and on-time rates per hall, category, month and channel, with their
    counts, over the user's halls."""
    store = get_store()
    names = {h["hall_id"]: h["name"] for h in access.hall_rows()}
    mine = access.halls()
    tables = {
        "hall": [dict(r, label=names.get(r["key"], r["key"])) for r in figures(store, "hall_id", halls=mine)],
        "category": [dict(r, label=CATEGORIES.get(r["key"], r["key"])) for r in figures(store, "category", halls=mine)],
        "month": [dict(r, label=r["key"]) for r in figures(store, "month", halls=mine)],
        "channel": [dict(r, label=label(r["key"])) for r in figures(store, "channel", halls=mine)],
    }
    return render_template("admin/complaint_stats.html", tables=tables, satisfied=[RATINGS[k] for k in SATISFIED])


def figures(store: Any, column: str, now: float | None = None, halls: frozenset[str] | None = None, *,
            month: str | None = None) -> list[dict[str, Any]]:
    """Per value of ``column`` (hall_id, category, month or channel): requests received, due,
    on time, reopened; ratings and satisfied ratings; and the two rates in percent (None
    without a base). Every channel counts alike: a request taken by phone is due, on time
    and rated by the same rules as a kiosk's. ``halls``: only these halls' requests (None:
    every hall)."""
    if column not in ("hall_id", "category", "month", "channel"):  # it goes into the SQL text
        raise ValueError(f"cannot group by {column!r}")
    now = time.time() if now is None else now
    only = sorted(halls) if halls is not None else []
    scope = "1 = 1" if halls is None else f"c.hall_id IN ({', '.join('?' for _ in only)})" if only else "1 = 0"
    if month:  # one month's requests only (the monthly reports, reports.py)
        scope, only = f"{scope} AND c.month = ?", [*only, month]
    rows = store.query(
        f"SELECT {column} AS key, count(*) AS received, "
        "sum(CASE WHEN accept_by IS NOT NULL AND (responded_at IS NOT NULL OR accept_by <= ?) THEN 1 ELSE 0 END) AS due, "
        "sum(CASE WHEN responded_at IS NOT NULL AND responded_at <= accept_by THEN 1 ELSE 0 END) AS on_time, "
        "sum(reopened) AS reopened "
        f"FROM complaints c WHERE received_at IS NOT NULL AND {scope} GROUP BY {column}", (now, *only))
    marks = ",".join("?" * len(SATISFIED))
    rated = store.query(
        f"SELECT c.{column} AS key, count(*) AS rated, sum(CASE WHEN e.rating IN ({marks}) THEN 1 ELSE 0 END) AS satisfied "
        "FROM complaint_events e JOIN complaints c ON c.id = e.complaint_id AND c.hall_id = e.hall_id "
        f"WHERE e.action = 'rate' AND {scope} GROUP BY c.{column}", (*SATISFIED, *only))
    out: dict[Any, dict[str, Any]] = {r["key"]: {k: int(v or 0) if k != "key" else v for k, v in r.items()} for r in rows}
    for r in rated:
        row = out.setdefault(r["key"], {"key": r["key"], "received": 0, "due": 0, "on_time": 0, "reopened": 0})
        row.update(rated=int(r["rated"]), satisfied=int(r["satisfied"] or 0))
    for row in out.values():
        row.setdefault("rated", 0)
        row.setdefault("satisfied", 0)
        row["on_time_rate"] = round(100 * row["on_time"] / row["due"], 1) if row["due"] else None
        row["satisfaction"] = round(100 * row["satisfied"] / row["rated"], 1) if row["rated"] else None
    known = sorted((r for r in out.values() if r["key"] is not None), key=lambda r: str(r["key"]),
                   reverse=column == "month")  # the latest month first
    return known + [r for r in out.values() if r["key"] is None]
