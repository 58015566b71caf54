"""Public content the centre publishes to halls: the announcement line (公告), for one hall
or every hall. Halls pull it with their sync worker and keep it, so kiosks and boards show
it with the centre unreachable. Each publish goes to the audit log."""

from __future__ import annotations

import json
import time

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from . import access
from .configs import audit
from .db import get_store

bp = Blueprint("content", __name__, url_prefix="/announcements")
MAX_TEXT = 200


@bp.get("/")
@access.require("view")
def index():
    """The newest announcements of the user's halls and those for every hall."""
    store = get_store()
    mine, args = access.hall_clause("hall_id")
    recent = store.query("SELECT seq, hall_id, body, deleted, published_by, published_at FROM content "
                         f"WHERE kind = 'announcement' AND (hall_id = '*' OR {mine}) ORDER BY seq DESC LIMIT 20", args)
    for r in recent:
        r["text"] = (r["body"] if isinstance(r["body"], dict) else json.loads(r["body"])).get("text", "")
    halls = access.hall_rows()
    return render_template("admin/announcements.html", recent=recent, halls=halls)


@bp.post("/")
@access.require("configure")
def publish():
    """Publish (or, with no text, clear) the line for one hall or, for those who see every
    hall, every hall."""
    text = request.form.get("text", "").strip()
    hall = request.form.get("hall", "*").strip() or "*"
    access.check_target(hall)
    store = get_store()
    if len(text) > MAX_TEXT:
        flash(f"公告最多 {MAX_TEXT} 字 · An announcement has at most {MAX_TEXT} characters")
        return redirect(url_for("content.index")), 303
    if hall != "*" and not store.scalar("SELECT count(*) FROM halls WHERE hall_id = ?", (hall,)):
        flash("没有这个服务中心 · No such hall")
        return redirect(url_for("content.index")), 303
    with store.transaction():
        store.execute(
            "INSERT INTO content (hall_id, kind, key, body, deleted, published_by, published_at) VALUES (?, 'announcement', 'line', ?, ?, ?, ?)",
            (hall, json.dumps({"text": text}, ensure_ascii=False), not text, g.user, time.time()),
        )
        audit("announcement.publish" if text else "announcement.clear", {"hall": hall, "text": text}, hall=hall)
    flash("已发布 · Published" if text else "已清除 · Cleared")
    return redirect(url_for("content.index"))
