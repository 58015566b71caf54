"""The console's payments pages (``/payments/``): the halls' kiosk payments, each order with its
lines, events and refunds, and the refund form.

- The list (``view``) narrows to the user's halls, filters by hall and status, and puts the
  orders that took money and settled nothing (``paid_conflict``) with money still to give back
  first, highlighted: they wait for a person.
- An order's page (``view``, its hall checked) shows its bill lines (and which are refunded or
  reopened), its ``payment_events``, its refunds and, to those who may ``refund`` (admins, and
  managers of the order's hall; auditors read only), the form.
- A refund (``refund``): full, or partial by lines (``paid``) or by amount
  (``paid_conflict``), with a reason; :mod:`.payments.person_refunds` decides and asks the
  provider. A refusal re-shows the page with the reason in Chinese and English (4xx) and
  writes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from . import access
from .db import get_store
from .payments.orders import UUID
from .payments.person_refunds import RefundAsk, RefundRefused, left_fen, order_lines, start

bp = Blueprint("payment_console", __name__, url_prefix="/payments")
STATUS = {"created": "待支付 · awaiting payment", "expired_unclosed": "已过期未关闭 · expired, not closed",
          "paid": "已支付 · paid", "paid_conflict": "已收款未销账，待退款 · paid, settled nothing: refund due",
          "closed": "已关闭 · closed", "failed": "未能下单 · not opened"}
REFUND_STATUS = {"requested": "退款处理中 · refund in progress", "confirmed": "已退款 · refunded",
                 "failed": "退款失败 · refund failed"}
WALLETS = {"sandbox": "微信支付（沙箱） · WeChat Pay (sandbox)", "wechat": "微信支付 · WeChat Pay", "alipay": "支付宝 · Alipay"}
LIMIT = 300


def _now() -> float:
    clock = current_app.config.get("PAYMENTS_CLOCK") or time.time
    return float(clock())


@bp.get("/")
@access.require("view")
def index():
    hall, status = request.args.get("hall", ""), request.args.get("status", "")
    where, args = access.hall_clause("o.hall_id")
    if hall:
        access.check_hall(hall)
        where, args = f"{where} AND o.hall_id = ?", [*args, hall]
    if status:
        if status not in STATUS:
            abort(400)
        where, args = f"{where} AND o.status = ?", [*args, status]
    orders = get_store().query(
        f"SELECT o.id, o.hall_id, h.name AS hall_name, o.room, o.provider, o.out_trade_no, o.amount_fen, o.refunded_fen, "
        f"o.status, o.created_at, o.paid_at, (SELECT count(*) FROM payment_refunds r WHERE r.order_id = o.id "
        f"AND r.status = 'requested') AS refunding FROM payment_orders o LEFT JOIN halls h ON h.hall_id = o.hall_id "
        f"WHERE {where} ORDER BY CASE WHEN o.status = 'paid_conflict' AND o.refunded_fen < o.amount_fen THEN 0 ELSE 1 END, "
        f"o.created_at DESC LIMIT {LIMIT}", args)
    due = sum(1 for o in orders if o["status"] == "paid_conflict" and int(o["refunded_fen"]) < int(o["amount_fen"]))
    return render_template("admin/payments.html", orders=orders, halls=access.hall_rows(), hall=hall, status=status,
                           statuses=STATUS, wallets=WALLETS, due=due, limit=LIMIT)


def _order(order_id: str) -> dict[str, Any]:
    """The order, if the user may see its hall (404 for no such order, 403 for another hall's)."""
    if not UUID.match(order_id):
        abort(404)
    rows = get_store().query("SELECT o.*, h.name AS hall_name FROM payment_orders o LEFT JOIN halls h "
                             "ON h.hall_id = o.hall_id WHERE o.id = ?", (order_id,))
    if not rows:
        abort(404)
    access.check_hall(rows[0]["hall_id"])
    return rows[0]


def _page(order: dict[str, Any], *, error: str | None = None, form: dict[str, Any] | None = None, status: int = 200):
    store = get_store()
    events = store.query("SELECT ts, kind, detail FROM payment_events WHERE order_id = ? ORDER BY id", (order["id"],))
    refunds = store.query("SELECT * FROM payment_refunds WHERE order_id = ? ORDER BY requested_at", (order["id"],))
    refund_lines: dict[str, list[str]] = {}
    for row in store.query("SELECT refund_id, line_id FROM payment_refund_lines WHERE order_id = ?", (order["id"],)):
        refund_lines.setdefault(row["refund_id"], []).append(str(row["line_id"]))
    lines = order_lines(store, order)
    items = {line["id"]: line["item"] for line in lines}
    page = render_template("admin/payment_order.html", order=order, lines=lines, refunds=refunds, left=left_fen(order),
                           events=[{**e, "detail": json.loads(e["detail"] or "{}")} for e in events],
                           refund_lines={k: [items.get(i, i) for i in v] for k, v in refund_lines.items()},
                           statuses=STATUS, refund_statuses=REFUND_STATUS, wallets=WALLETS, error=error,
                           form=form or {}, offered=order["provider"] in current_app.extensions["payments"].providers)
    return page, status


@bp.get("/<order_id>")
@access.require("view")
def order(order_id: str):
    return _page(_order(order_id))


@bp.post("/<order_id>/refund")
@access.require("refund")
def refund(order_id: str):
    """Start a person's refund of the order; the page again with the outcome."""
    found = _order(order_id)
    ask = RefundAsk(scope=request.form.get("scope", ""), reason=request.form.get("reason", ""),
                    line_ids=tuple(request.form.getlist("line")), amount=request.form.get("amount", ""))
    pay = current_app.extensions["payments"]
    base = pay.config.notify_base_url or request.host_url
    try:
        made = start(get_store(), pay.providers, found, ask, user=str(g.get("user")), notify_base=base, now=_now())
    except RefundRefused as exc:
        form = {"scope": ask.scope, "reason": ask.reason, "lines": set(ask.line_ids), "amount": ask.amount}
        return _page(found, error=f"{exc.detail}；未退款 · nothing was refunded", form=form, status=exc.status)
    fen = int(made["amount_fen"])
    money = f"¥{fen // 100}.{fen % 100:02d}"
    if made["status"] == "confirmed":
        flash(f"已退款 {money}（{made['out_refund_no']}） · {money} refunded ({made['out_refund_no']})")
    elif made["error"]:
        flash(f"已记录退款 {money}，但支付渠道暂未受理，系统会自动重试 · The refund of {money} is recorded, but the "
              f"provider did not take it yet; it is asked again automatically")
    else:
        flash(f"已申请退款 {money}，等待支付渠道确认；确认后账单行才会重新开放 · A refund of {money} is asked for; the "
              f"bill lines reopen when the provider confirms it")
    return redirect(url_for("payment_console.order", order_id=found["id"])), 303
