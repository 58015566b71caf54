"""Residents' requests on the staff console: the open ones, most urgent first; each one's
record, history and next steps; and a request staff take themselves, by phone, at the
counter or from a message, into the same records as the kiosk's (login required).

A request taken here goes through :meth:`ComplaintService.take`: the same checks, grading,
tracking number, timers and record for the centre as a kiosk's, with its channel and the
staff member who took it. Its receipt prints at the printer staff choose, as payments'
receipts do."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from hall_common import complaint_receipt, occurred
from hall_common.auth import login_required
from hall_common.bus import contract
from hall_common.channels import CHANNELS, STAFF_CHANNELS
from hall_common.errors import RequestFailed
from hall_common.print_client import job_for
from hall_common.privacy import mask_name, mask_phone

from .complaints import intake
from .complaints.service import RATINGS, STATUS_TEXT, TRANSITIONS, ComplaintService
from .complaints.tracking import readable
from .console import active_alarms
from .console_services import require, services

bp = Blueprint("complaints", __name__, url_prefix="/complaints")

GRADES = {"emergency": "紧急", "important": "重要", "general": "一般", "suggestion": "建议/咨询"}
KINDS = {"complaint": "投诉 · complaint", "repair": "报修 · repair", "suggestion": "建议 · suggestion",
         "consultation": "咨询 · question", "praise": "表扬 · praise"}
ACTIONS = {"accept": "接单 · Accept", "dispatch": "派单 · Dispatch", "start": "开始处理 · Start",
           "pause": "暂停 · Pause", "return": "退回 · Return", "resolve": "处理完毕 · Resolve",
           "follow_up": "回访 · Follow-up", "close": "办结 · Close", "cancel": "取消 · Cancel",
           "force_close": "强制关闭 · Force close", "out_of_remit": "非物业职责 · Outside remit"}
FULL_PHONE_ROLES = ("admin", "staff")
"""Who sees a resident's whole phone number on the record's own page (to call them back);
everywhere else, and for a viewer, it is masked."""


@bp.get("/")
@login_required()
def index():
    service: ComplaintService = require("complaints")
    rows = service.open_requests()
    return render_template("console/complaints.html", rows=rows, grades=GRADES, status=STATUS_TEXT,
                           now=time.time(), readable=readable, categories=service.categories, alarms=active_alarms(),
                           channels=CHANNELS, mask_phone=mask_phone, mask_name=mask_name)


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
                           status=STATUS_TEXT, readable=readable, categories=service.categories, ratings=RATINGS,
                           phone=row["phone"] if g.role in FULL_PHONE_ROLES else mask_phone(row["phone"]),
                           channels=CHANNELS, printers=current_app.config["PRINTERS"],
                           local=lambda ts: datetime.fromtimestamp(ts, service.zone).strftime("%Y-%m-%d %H:%M"))


@bp.post("/<complaint_id>/<action>")
@login_required()
def act(complaint_id: str, action: str):
    service: ComplaintService = require("complaints")
    try:
        service.transition(complaint_id, action, who=g.user, note=request.form.get("note", ""),
                           grade_=request.form.get("grade") or None, outcome=request.form.get("outcome") or None,
                           rating=request.form.get("rating") or None)
    except RequestFailed as exc:
        flash("现在不能这样操作 · Not possible now" if exc.code == "wrong_status" else str(exc))
    except ValueError as exc:
        flash(f"请填写说明 · Please add a note ({exc})" if "note" in str(exc) else f"操作无效 · {exc}")
    return redirect(url_for("complaints.detail", complaint_id=complaint_id))


# -- a request taken by staff ------------------------------------------------------------------


def _intake_page(service: ComplaintService, form: dict[str, str], errors: dict[str, str], status: int = 200):
    places = service.config.places
    return render_template("console/complaint_new.html", form=form, errors=errors, kinds=KINDS,
                           categories=service.categories, channels={c: CHANNELS[c] for c in STAFF_CHANNELS},
                           places=["住户室内", *places.public_areas, *places.buildings],
                           printers=current_app.config["PRINTERS"], opened=service.config.opened,
                           now_local=occurred.local_text(service.clock(), service.zone), alarms=active_alarms()), status


@bp.get("/new")
@login_required("staff")
def intake_form():
    """An empty form, with its own request id: filing it twice is one request."""
    service: ComplaintService = require("complaints")
    return _intake_page(service, {"request": str(uuid.uuid4()), "channel": request.args.get("channel", "phone"),
                                  "occurred_at": occurred.local_text(service.clock(), service.zone)}, {})


@bp.post("/new")
@login_required("staff")
def intake_submit():
    """File it, or show the form again with every field that is wrong (nothing stored)."""
    service: ComplaintService = require("complaints")
    form = {k: request.form.get(k, "") for k in intake.FIELDS}
    args, errors = intake.read_form(form, categories=service.categories, now=service.clock(),
                                    opened=service.config.opened, zone=service.zone)
    if form["printer"] and form["printer"] not in {p.id for p in current_app.config["PRINTERS"]}:
        errors["printer"] = intake.MESSAGES["printer"]
    if not errors:
        try:
            receipt = service.take(args, channel=form["channel"], who=g.user)
        except RequestFailed as exc:  # a check of the edge's own the form did not foresee
            errors["form"] = f"未能登记 · Not filed: {exc}"
    if errors:
        return _intake_page(service, form, errors, 400)
    flash(f"已登记，受理编号 {receipt['readable']} · Filed as {receipt['readable']}")
    if form["printer"]:
        flash(_print_receipt(service, receipt, form["printer"]))
    return redirect(url_for("complaints.detail", complaint_id=receipt["id"]))


@bp.post("/<complaint_id>/receipt")
@login_required("staff")
def print_receipt(complaint_id: str):
    """The request's receipt at the counter's printer: the first print an original, any
    later one marked 重打 (the kiosk may have printed it already)."""
    service: ComplaintService = require("complaints")
    found = service.record(complaint_id)
    if found is None:
        abort(404)
    printer = request.form.get("printer", "")
    if printer not in {p.id for p in current_app.config["PRINTERS"]}:
        flash(intake.MESSAGES["printer"])
    else:
        flash(_print_receipt(service, service.receipt(found[0]), printer))
    return redirect(url_for("complaints.detail", complaint_id=complaint_id))


def _print_receipt(service: ComplaintService, receipt: dict[str, Any], printer: str) -> str:
    """Print ``receipt`` (the ``complaint`` answer) at ``printer``; what to tell staff."""
    printing = services().printing
    if printing is None:
        return "打印服务未运行，回执未打印 · The print service is not running; no receipt printed"
    job = job_for("complaint", receipt["tracking_no"])  # the kiosk's own id for this receipt
    earlier = printing.view(job)
    if earlier is not None and earlier["status"] != "failed":
        view = printing.reprint(job, printer=printer)
    else:
        url = complaint_receipt.track_url(service.config.follow_url, receipt["tracking_no"])
        fields = printing.templates.validate("complaint_receipt", complaint_receipt.fields(
            receipt, url=url, zone=service.zone)).model_dump(mode="json")
        view = printing.submit(job if earlier is None else str(uuid.uuid4()), contract.EDGE_NODE, "complaint_receipt",
                               fields, preferred=printer)
    if view["status"] == "failed":
        return "打印机不能打印，回执未打出 · The printer cannot print; no receipt printed"
    again = "（重打）" if view.get("reprint") else ""
    return f"回执已送 {view['printer']}{again} · Receipt sent to {view['printer']}{' as a reprint' if again else ''}"
