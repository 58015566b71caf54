"""Public content the centre publishes to halls: the announcement line (公告), for one hall
or every hall. Halls pull it with their sync worker and keep it, so kiosks and boards show
it with the centre unreachable. Each publish goes to the audit log."""

from __future__ import annotations

import json
import time

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from hall_common.auth import login_required

from .configs import audit
from .db import get_store

bp = Blueprint("content", __name__, url_prefix="/announcements")
MAX_TEXT = 200


@bp.get("/")
@login_required()
def index():
    store = get_store()
    recent = store.query("SELECT seq, hall_id, body, deleted, published_by, published_at FROM content "
                         "WHERE kind = 'announcement' ORDER BY seq DESC LIMIT 20")
    for r in recent:
        r["text"] = (r["body"] if isinstance(r["body"], dict) else json.loads(r["body"])).get("text", "")
    halls = store.query("SELECT hall_id, name FROM halls ORDER BY hall_id")
    return render_template("admin/announcements.html", recent=recent, halls=halls)


@bp.post("/")
@login_required("admin")
def publish():
    text = request.form.get("text", "").strip()
    hall = request.form.get("hall", "*").strip() or "*"
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
        audit("announcement.publish" if text else "announcement.clear", {"hall": hall, "text": text})
    flash("已发布 · Published" if text else "已清除 · Cleared")
    return redirect(url_for("content.index"))
