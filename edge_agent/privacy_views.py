"""A resident's access and deletion request on the staff console (PIPL arts. 44-47): find
their requests and their entries in the front desk's registers by room + phone, hand them a
copy, erase them with a reason.

The phone is typed into a form that is POSTed, never put in a URL, so it does not land in
the browser's history or an access log. The list shows it masked. What is erased and who
asked is in the audit lines below the form (edge_agent/retention.py)."""

from __future__ import annotations

import json
from datetime import datetime

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for

from hall_common.auth import login_required
from hall_common.errors import RequestFailed
from hall_common.privacy import mask_phone

from .complaints.service import OPEN, STATUS_TEXT
from .complaints.tracking import readable
from .console_services import require
from .registers.catalogue import registers
from .retention import Retention

bp = Blueprint("privacy", __name__, url_prefix="/privacy")

ACTIONS = {"privacy.retention": "到期自动删除 · Retention", "privacy.erase": "应业主要求删除 · Erased on request",
           "privacy.export": "导出给业主 · Exported", "privacy.find": "查询 · Looked up"}


def _found(service: Retention, room: str, phone: str) -> tuple[list, list] | tuple[None, None]:
    try:
        return service.find(room, phone), service.find_entries(room, phone)
    except ValueError:
        return None, None


def _page(found: list | None = None, status: int = 200, entries: list | None = None, **form: str):
    service: Retention = require("retention")
    return render_template("console/privacy.html", found=found, entries=entries or [], form=form,
                           audit=service.audit_lines(), registers=registers(),
                           actions=ACTIONS, status=STATUS_TEXT, open=OPEN, readable=readable, mask_phone=mask_phone,
                           keep_years=service.keep_years), status


@bp.get("/")
@login_required()
def index():
    return _page()


def _resident() -> tuple[str, str]:
    """The room and phone the form carries (typed, or kept in hidden fields)."""
    return request.form.get("room", ""), request.form.get("phone", "")


def _incomplete(room: str):
    flash("请填写房号和完整的手机号 · Enter the room and the whole phone number")
    return _page(status=400, room=room)


@bp.post("/find")
@login_required()
def find():
    room, phone = _resident()
    service: Retention = require("retention")
    try:
        return _page(service.find(room, phone, who=g.user), entries=service.find_entries(room, phone), room=room,
                     phone=phone)
    except ValueError:
        return _incomplete(room)


@bp.post("/export")
@login_required()
def export():
    room, phone = _resident()
    try:
        document = require("retention").export(room, phone, who=g.user)
    except ValueError:
        return _incomplete(room)
    name = f"personal-data-{datetime.now().strftime('%Y%m%d-%H%M')}.json"
    return Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@bp.post("/erase")
@login_required()
def erase():
    service: Retention = require("retention")
    room, phone = _resident()
    ids, reason = request.form.getlist("complaint"), request.form.get("reason", "")
    try:
        counts = service.erase(ids, who=g.user, reason=reason, entries=request.form.getlist("entry"))
    except ValueError as exc:
        flash("请写明删除原因 · Say why: the resident's request and how it was made" if "reason" in str(exc)
              else "请勾选要删除的记录 · Tick the records to erase")
        found, entries = _found(service, room, phone)
        return _page(found, status=400, entries=entries, room=room, phone=phone)
    except RequestFailed as exc:
        flash(f"仍在办理中的请求不能删除，请先办结或取消 · Still being handled, close or cancel it first: {exc.message}"
              if exc.code == "still_open" else f"找不到这条记录 · No such record ({exc.message})")
        found, entries = _found(service, room, phone)
        return _page(found, status=409, entries=entries, room=room, phone=phone)
    n = counts.get("register_entries", 0)
    flash(f"已删除 {counts['complaints']} 条请求{f'、{n} 条登记' if n else ''}中的个人信息，并通知总部 · "
          f"Personal data erased from {counts['complaints']} requests{f' and {n} register entries' if n else ''}; "
          "the centre is told")
    return redirect(url_for("privacy.index"))
