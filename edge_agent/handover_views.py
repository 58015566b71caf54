"""Shift handover on the staff console (交接班, login required): open a shift with who is on
it, see what will be handed over, close it with the takings and notes (the sheet is frozen
and printed at the counter), and acknowledge a sheet as the next shift. The rules live in
:mod:`edge_agent.handover`; a refusal is shown on the page with what was typed kept."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from hall_common.auth import login_required

from . import handover_sheet
from .console import active_alarms
from .console_services import require, services
from .handover import LABELS, Handover, HandoverRefused
from .printing.templates import yuan

bp = Blueprint("handover", __name__, url_prefix="/handover")


def _context(service: Handover) -> dict[str, Any]:
    """What every handover page shows: how times and items read, and the printers (the
    counter's first: the sheet is printed where the staff stand)."""
    printers = sorted(current_app.config["PRINTERS"], key=lambda p: "counter" not in p.id)
    return {"local": service.local, "line": lambda item: handover_sheet.item_line(item, service.zone),
            "yuan": yuan, "difference": handover_sheet.difference_text, "printers": printers, "alarms": active_alarms()}


def _index(*, error: HandoverRefused | None = None, status: int = 200) -> Any:
    service: Handover = require("handover")
    current, now = service.current(), service.clock()
    preview = None
    if current is not None:  # the sheet as it would be if the shift closed now
        preview = handover_sheet.build(current, services(), now=now, zone=service.zone, notes="", closed_by=g.user,
                                       takings={"cash_counted_fen": 0, "cash_expected_fen": 0})
    pending = [{**row, "overdue": (due := service.overdue_at(row)) is not None and now >= due}
               for row in service.pending()]
    return render_template("console/handover.html", current=current, preview=preview, pending=pending,
                           recent=service.recent(), labels=LABELS, error=error,
                           form=request.form if error else {}, **_context(service)), status


def _sheet(shift_id: str, *, error: HandoverRefused | None = None, status: int = 200) -> Any:
    service: Handover = require("handover")
    row = service.shift(shift_id)
    if row is None:
        abort(404)
    due = service.overdue_at(row)
    return render_template("console/handover_sheet.html", s=row, sheet=row["sheet"], error=error,
                           overdue=due is not None and service.clock() >= due,
                           form=request.form if error else {}, **_context(service)), status


@bp.get("/")
@login_required()
def index():
    return _index()


@bp.post("/open")
@login_required()
def open_shift():
    try:
        shift = require("handover").open_shift(label=request.form.get("label", ""),
                                               staff=request.form.get("staff", ""), who=g.user)
    except HandoverRefused as exc:
        return _index(error=exc, status=422)
    flash(f"已开班：{shift['label']}，当班 {'、'.join(shift['staff'])} · Shift opened")
    return redirect(url_for("handover.index"))


@bp.post("/<shift_id>/close")
@login_required()
def close(shift_id: str):
    service: Handover = require("handover")
    f = request.form
    try:
        service.close_shift(shift_id, who=g.user, cash_counted=f.get("cash_counted", ""),
                            cash_expected=f.get("cash_expected", ""), notes=f.get("notes", ""))
    except HandoverRefused as exc:
        return _index(error=exc, status=422)
    flash("已交班，交接单已生成并保存 · Shift closed: the handover sheet is saved")
    if f.get("printer"):
        _print(service, shift_id, f["printer"])
    return redirect(url_for("handover.sheet", shift_id=shift_id))


@bp.get("/<shift_id>")
@login_required()
def sheet(shift_id: str):
    return _sheet(shift_id)


@bp.post("/<shift_id>/ack")
@login_required()
def acknowledge(shift_id: str):
    service: Handover = require("handover")
    try:
        row = service.acknowledge(shift_id, name=request.form.get("name", ""), who=g.user)
    except HandoverRefused as exc:
        if request.form.get("from") == "sheet":
            return _sheet(shift_id, error=exc, status=422)
        return _index(error=exc, status=422)
    flash(f"{row['acked_by']} 已签收交接单 · Handover acknowledged")
    return redirect(url_for("handover.sheet", shift_id=shift_id))


@bp.post("/<shift_id>/print")
@login_required()
def print_sheet(shift_id: str):
    service: Handover = require("handover")
    if service.shift(shift_id) is None:
        abort(404)
    _print(service, shift_id, request.form.get("printer", ""))
    return redirect(url_for("handover.sheet", shift_id=shift_id))


def _print(service: Handover, shift_id: str, printer: str) -> None:
    """Send the sheet to ``printer`` and say what became of it."""
    try:
        view = service.print_sheet(shift_id, printer)
    except HandoverRefused as exc:
        flash(f"{exc.zh} · {exc.en}")
        return
    if view["status"] == "failed":
        flash("打印机不能打印，交接单未打出 · The printer cannot print; the sheet was not printed")
    else:
        zh, en = ("（重打）", " as a reprint") if view.get("reprint") else ("", "")
        flash(f"交接单已送 {view['printer']}{zh} · Sheet sent to {view['printer']}{en}")
