"""Residents' requests on the staff console: the open ones, most urgent first, and each
one's record, history and next steps (login required)."""

from __future__ import annotations

import time

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from hall_common.auth import login_required
from hall_common.errors import RequestFailed
from hall_common.privacy import mask_phone

from .complaints.service import RATINGS, STATUS_TEXT, TRANSITIONS, ComplaintService
from .complaints.tracking import readable
from .console import active_alarms
from .console_services import require

bp = Blueprint("complaints", __name__, url_prefix="/complaints")

GRADES = {"emergency": "紧急", "important": "重要", "general": "一般", "suggestion": "建议/咨询"}
ACTIONS = {"accept": "接单 · Accept", "dispatch": "派单 · Dispatch", "start": "开始处理 · Start",
           "pause": "暂停 · Pause", "return": "退回 · Return", "resolve": "处理完毕 · Resolve",
           "follow_up": "回访 · Follow-up", "close": "办结 · Close", "cancel": "取消 · Cancel",
           "force_close": "强制关闭 · Force close", "out_of_remit": "非物业职责 · Outside remit"}


@bp.get("/")
@login_required()
def index():
    service: ComplaintService = require("complaints")
    rows = service.open_requests()
    return render_template("console/complaints.html", rows=rows, grades=GRADES, status=STATUS_TEXT,
                           now=time.time(), readable=readable, categories=service.categories, alarms=active_alarms())


@bp.get("/<complaint_id>")
@login_required()
def detail(complaint_id: str):
    service: ComplaintService = require("complaints")
    found = service.record(complaint_id)
    if found is None:
        abort(404)
    row, events = found
    actions = {a: label for a, label in ACTIONS.items() if row["status"] in TRANSITIONS[a][0]}
    return render_template("console/complaint.html", c=row, events=events, actions=actions, grades=GRADES,
                           status=STATUS_TEXT, phone=mask_phone(row["phone"]), readable=readable,
                           categories=service.categories, ratings=RATINGS)


@bp.post("/<complaint_id>/<action>")
@login_required()
def act(complaint_id: str, action: str):
    service: ComplaintService = require("complaints")
    try:
        service.transition(complaint_id, action, who=g.user, note=request.form.get("note", ""),
                           grade_=request.form.get("grade") or None, outcome=request.form.get("outcome") or None)
    except RequestFailed as exc:
        flash("现在不能这样操作 · Not possible now" if exc.code == "wrong_status" else str(exc))
    except ValueError as exc:
        flash(f"请填写说明 · Please add a note ({exc})" if "note" in str(exc) else f"操作无效 · {exc}")
    return redirect(url_for("complaints.detail", complaint_id=complaint_id))
