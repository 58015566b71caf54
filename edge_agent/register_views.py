"""The front desk's registers on the staff console (登记簿, login required): each register's
page with its search and its form, each entry's page with its steps and its slip, and
picking up a parcel by its code. The rules live in :mod:`edge_agent.registers`; a refusal is
shown on the page with what was typed kept, so nothing has to be typed twice.

Who sees and does what (docs/front-desk.md): ``staff`` and ``admin`` register and act, and
see an entry's names and phone numbers in full on that entry's own page (they call the
resident about a parcel, the borrower about a late key); ``viewer`` reads the registers with
every name and phone masked and cannot change them. Lists are masked for everyone.

Each form carries an id drawn with the page (``form_id``), so a form sent twice (a double
click, the browser resending after the edge restarted) makes one entry, not two.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for

from hall_common.auth import login_required
from hall_common.errors import RequestFailed

from .console import active_alarms
from .console_services import require
from .registers import photos
from .registers.fields import FormField, Refused, form_fields
from .registers.framework import Register, masked, shown, when
from .registers.service import Registers

bp = Blueprint("registers", __name__, url_prefix="/registers")

WRITERS = ("staff", "admin")
"""Roles that register and act, and see personal data in full on an entry's own page."""


def _kind(service: Registers, register: str) -> Register:
    try:
        return service.kind(register)
    except KeyError:
        abort(404)


def _suggested(fields: list[FormField], zone: Any) -> dict[str, str]:
    """What a new form shows before anything is typed: today, now, this evening."""
    now = datetime.now(zone)
    evening = now.replace(hour=18, minute=0) if now.hour < 17 else now + timedelta(hours=2)
    values = {"today": now.date().isoformat(), "now": now.strftime("%Y-%m-%dT%H:%M"),
              "evening": evening.strftime("%Y-%m-%dT%H:%M")}
    return {f.name: values[f.suggest] for f in fields if f.suggest in values}


def _common(service: Registers) -> dict[str, Any]:
    return {"kinds": service.kinds, "alarms": active_alarms(), "may_write": g.role in WRITERS, "now": service.clock(),
            "printers": current_app.config["PRINTERS"], "zone": service.zone, "when": lambda ts: when(ts, service.zone, "%Y-%m-%d %H:%M")}


def _list(register: str, *, error: Refused | None = None, status: int = 200) -> Any:
    service: Registers = require("registers")
    kind = _kind(service, register)
    q, state = request.args.get("q", ""), request.args.get("state", "open")
    rows = service.search(register, q, status=state)
    fields = kind.fields()
    by_code = error is not None and request.endpoint == "registers.pickup"
    form = request.form if error and not by_code else {**_suggested(fields, service.zone), "form_id": str(uuid.uuid4())}
    pickup = request.form if by_code else {"form_id": str(uuid.uuid4())}
    step = kind.step("pickup")
    return render_template("console/register_list.html", kind=kind, rows=rows, q=q, state=state, fields=fields,
                           form=form, pickup=pickup, error=error, line=lambda e: kind.line(e, service.zone),
                           pickup_fields=[f for f in form_fields(step.model) if f.name != "code"] if step else [],
                           **_common(service)), status


def _entry(register: str, entry_id: str, *, error: Refused | None = None, step: str = "", status: int = 200) -> Any:
    service: Registers = require("registers")
    kind = _kind(service, register)
    try:
        entry = service.entry(entry_id)
    except Refused:
        abort(404)
    if entry["register"] != register:
        abort(404)
    see = shown if g.role in WRITERS else masked
    forms = {s.name: (request.form if error and s.name == step else
                      {**_suggested(form_fields(s.model), service.zone), "form_id": str(uuid.uuid4())})
             for s in kind.steps}
    return render_template("console/register_entry.html", kind=kind, e=entry, see=see, form_fields=form_fields,
                           forms=forms, error=error, step=step, **_common(service)), status


@bp.get("/")
@login_required()
def index():
    """The five registers at a glance: entries open, and of them those past due."""
    service: Registers = require("registers")
    return render_template("console/registers.html", counts=service.counts(), **_common(service))


@bp.get("/<register>/")
@login_required()
def listing(register: str):
    return _list(register)


@bp.post("/<register>/")
@login_required("staff")
def open_entry(register: str):
    service: Registers = require("registers")
    kind = _kind(service, register)
    limit = service.config.photo_max_kb * 1024
    try:
        if kind.photo and (request.content_length or 0) > limit + 64 * 1024:  # refused before it is read
            raise photos.too_large(service.config.photo_max_kb)
        upload = request.files.get("photo") if kind.photo else None
        photo = upload.read(limit + 1) if upload is not None and upload.filename else None
        entry = service.open(register, request.form, who=g.user, form_id=request.form.get("form_id"), photo=photo)
    except Refused as exc:
        return _list(register, error=exc, status=422)
    flash(f"已登记 {entry['serial']} · Registered")
    return redirect(url_for("registers.entry", register=register, entry_id=entry["id"]))


@bp.post("/parcels/pickup")
@login_required("staff")
def pickup():
    """A resident gives their pickup code: the waiting parcel with it is handed over."""
    service: Registers = require("registers")
    try:
        entry = service.pickup(request.form.get("code", ""), request.form, who=g.user,
                               form_id=request.form.get("form_id"))
    except Refused as exc:
        return _list("parcels", error=exc, status=422)
    flash(f"已取件 {entry['serial']}（货架 {entry['fields']['shelf']}） · Picked up")
    return redirect(url_for("registers.entry", register="parcels", entry_id=entry["id"]))


@bp.get("/<register>/<entry_id>")
@login_required()
def entry(register: str, entry_id: str):
    return _entry(register, entry_id)


@bp.get("/<register>/<entry_id>/photo")
@login_required()
def photo(register: str, entry_id: str):
    found = require("registers").photo(entry_id)
    if found is None:
        abort(404)
    return Response(found[1], mimetype=found[0], headers={"Cache-Control": "private, no-store"})


@bp.post("/<register>/<entry_id>/slip")
@login_required("staff")
def slip(register: str, entry_id: str):
    service: Registers = require("registers")
    printer = request.form.get("printer", "")
    if printer not in {p.id for p in current_app.config["PRINTERS"]}:
        flash("请选择打印机 · Choose a printer")
        return redirect(url_for("registers.entry", register=register, entry_id=entry_id))
    try:
        view = service.print_slip(entry_id, printer)
    except (Refused, RequestFailed) as exc:
        flash(f"未打印 · Not printed: {exc}")
        return redirect(url_for("registers.entry", register=register, entry_id=entry_id))
    if view["status"] == "failed":
        flash(f"打印机不能打印，凭条未打出（{view['reason']}） · The printer cannot print; nothing printed")
    else:
        flash(f"凭条已送 {view['printer']}{'（重打）' if view.get('reprint') else ''} · "
              f"Slip sent to {view['printer']}{' as a reprint' if view.get('reprint') else ''}")
    return redirect(url_for("registers.entry", register=register, entry_id=entry_id))


@bp.post("/<register>/<entry_id>/<step>")
@login_required("staff")
def act(register: str, entry_id: str, step: str):
    service: Registers = require("registers")
    kind = _kind(service, register)
    if kind.step(step) is None:
        abort(404)
    try:
        entry = service.step(entry_id, step, request.form, who=g.user, form_id=request.form.get("form_id"))
    except Refused as exc:
        return _entry(register, entry_id, error=exc, step=step, status=422)
    done = kind.step(step)
    flash(f"{entry['serial']} {done.done_zh or '已记录' + done.zh} · {done.done_en or 'recorded'}")
    return redirect(url_for("registers.entry", register=register, entry_id=entry_id))
