"""The staff console's payments page: what residents paid at the kiosks, and their receipts.

A payment that landed after the resident walked away (or whose receipt the kiosk could not
print) is recorded all the same; here staff see it and print its receipt at the counter's
printer. The first print of a receipt is an original; any later one says 重打 REPRINT. The
page asks the centre again about orders not yet known to be paid each time it opens.
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from hall_common.auth import login_required
from hall_common.errors import RequestFailed

from .console import active_alarms
from .console_services import require, services
from .payments import PaymentDesk
from .refund_slips import STATES, RefundSlips

bp = Blueprint("payments", __name__, url_prefix="/payments")

STATUS = {"created": "待支付 · awaiting payment", "expired_unclosed": "已过期 · expired", "paid": "已支付 · paid",
          "paid_conflict": "已支付，需退款 · paid, refund due", "closed": "已关闭（未支付）· closed unpaid",
          "failed": "未能下单 · not opened"}


@bp.get("/")
@login_required()
def index():
    desk = services().payments
    if desk is None:
        return render_template("console/payments.html", orders=[], printers=[], status=STATUS, alarms=active_alarms(),
                               available=False, receipts={})
    desk.refresh()
    orders = desk.recent()
    printing = services().printing
    receipts = {o["order_id"]: printing.view(o["receipt_job"]) if printing is not None and o["receipt_job"] else None
                for o in orders}
    return render_template("console/payments.html", orders=orders, printers=current_app.config["PRINTERS"],
                           status=STATUS, alarms=active_alarms(), available=True, receipts=receipts)


def _chosen_printer() -> str | None:
    """The printer the form names, if the hall has it; otherwise flashes why not."""
    printer = request.form.get("printer", "")
    if printer not in {p.id for p in current_app.config["PRINTERS"]}:
        flash("请选择打印机 · Choose a printer")
        return None
    return printer


def _flash_sent(view: dict, zh: str, en: str) -> None:
    """Says where a receipt or slip went (marked as a reprint), or that the printer failed."""
    if view["status"] == "failed":
        flash(f"打印机不能打印，{zh}未打出 · The printer cannot print; no {en} printed")
    else:
        flash(f"{zh}已送 {view['printer']}{'（重打）' if view.get('reprint') else ''} · "
              f"{en.capitalize()} sent to {view['printer']}{' as a reprint' if view.get('reprint') else ''}")


@bp.post("/<order_id>/receipt")
@login_required()
def receipt(order_id: str):
    desk: PaymentDesk = require("payments")
    printer = _chosen_printer()
    if printer is None:
        return redirect(url_for("payments.index"))
    try:
        view = desk.counter_receipt(order_id, printer)
    except RequestFailed as exc:
        flash("这笔订单未支付，不能打印收据 · This order is not paid; no receipt"
              if exc.code == "not_paid" else "找不到这笔订单 · No such order")
        return redirect(url_for("payments.index"))
    _flash_sent(view, "收据", "receipt")
    return redirect(url_for("payments.index"))


@bp.get("/refunds")
@login_required()
def refunds():
    """The hall's refunds (asked of the centre each time the page opens), and their slips."""
    slips = services().refunds
    if slips is None:
        return render_template("console/refunds.html", refunds=[], printers=[], states=STATES, alarms=active_alarms(),
                               available=False, fresh=False, slips={})
    fresh = slips.refresh()
    rows = slips.recent()
    printing = services().printing
    views = {r["id"]: printing.view(r["slip_job"]) if printing is not None and r["slip_job"] else None for r in rows}
    return render_template("console/refunds.html", refunds=rows, printers=current_app.config["PRINTERS"], states=STATES,
                           alarms=active_alarms(), available=True, fresh=fresh, slips=views,
                           lines={r["id"]: json.loads(r["lines_json"]) for r in rows})


@bp.post("/refunds/<refund_id>/slip")
@login_required()
def refund_slip(refund_id: str):
    slips: RefundSlips = require("refunds")
    printer = _chosen_printer()
    if printer is None:
        return redirect(url_for("payments.refunds"))
    try:
        view = slips.print_slip(refund_id, printer)
    except RequestFailed:
        flash("找不到这笔退款 · No such refund")
        return redirect(url_for("payments.refunds"))
    _flash_sent(view, "退款凭条", "refund slip")
    return redirect(url_for("payments.refunds"))
