"""Paying the chosen bills at the kiosk: a payment QR code, "paid" the moment the money
lands, and a receipt for every payment (seed 001).

The kiosk sends the chosen bill ids, never an amount: the centre sums the lines and makes
the order (through the edge, which holds the hall's credential). The screen shows one QR
code per wallet the centre offers, side by side (WeChat Pay Native and Alipay 当面付, each
named in its colour; the sandbox in ``hall up``), for the same lines and the amount the
centre summed; either pays, and the page waits on ``/bills/pay/state``, which wakes the moment the edge
says the order is paid (:mod:`kiosk.payment_watch`). Then the household is wiped from the
session, the screen says "paid", and the receipt prints at this kiosk's printer; if it
cannot print, the screen says the front desk will print it (the edge keeps the order for
the staff console). An order the resident leaves unpaid expires at the centre after a few
minutes and its lines are free again; if money comes for it later it is still recorded.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, session, url_for
from flask_babel import gettext as _

from hall_common.errors import HallError

from .edge import ask_edge, refusal
from .nav import go, kept
from .qr import qr_svg

bp = Blueprint("payment", __name__, url_prefix="/bills/pay")
log = logging.getLogger(__name__)

MAX_WAIT_S = 20.0
PAY_TIMEOUT_S = 8.0
"""How long the edge has to make a payment's orders: one code per wallet, each opened at
its provider through the centre, is more than the 3 s of a screen's other requests."""
WALLETS = {"wechat": ("微信支付", "WeChat Pay"), "sandbox": ("微信支付", "WeChat Pay"), "alipay": ("支付宝", "Alipay")}
"""The wallets a code may be for, with their names as each wallet writes its own (never translated)."""
PAID = ("paid", "paid_conflict")


def _refusal(code: str) -> str:
    messages = {
        "already_paid": _("One of the chosen items has been paid already. Please look up your bills again."),
        "locked": _("One of the chosen items is being paid right now (another payment is still open). "
                    "Please wait a few minutes, or ask at the front desk."),
        "unknown_lines": _("The chosen items have changed. Please look up your bills again."),
    }
    return messages.get(code, _("Payment at this kiosk is not available right now. "
                                "Please pay at the front desk; staff will issue a receipt."))


@bp.post("/")
def start():
    """Ask for an order for the chosen lines (ids only, and only this visit's)."""
    bills = kept("bills", or_go="bills.start")
    mine = [line["id"] for line in bills["unpaid"]]
    picked = [i for i in session.get("bills_pick", []) if i in mine]
    if not picked:
        session["bills_error"] = _("Choose at least one item to pay.")
        return go(url_for("bills.show"))
    settings = current_app.config["SETTINGS"]
    args: dict[str, Any] = {"room": bills["household"]["room"], "bill_ids": picked}
    if settings.printer:
        args["printer"] = settings.printer
    try:
        order = ask_edge("pay", args, timeout=PAY_TIMEOUT_S)
    except HallError as exc:
        session["bills_error"] = _refusal(refusal(exc, doing="payment order") or "unavailable")
        return go(url_for("bills.show"))
    codes = [{"wallet": c["wallet"], "code_url": c["code_url"]} for c in order.get("codes") or []
             if c.get("wallet") in WALLETS] or [{"wallet": "wechat", "code_url": order["code_url"]}]
    session["payment"] = {"order_id": order["order_id"], "amount_fen": int(order["amount_fen"]),
                          "code_url": order["code_url"], "codes": codes, "expires_at": float(order["expires_at"]),
                          "reference": order["out_trade_no"], "count": len(picked), "status": "created"}
    return go(url_for("payment.show"))


@bp.get("/")
def show():
    """The payment QR code, the amount, and how long it stays valid."""
    pay = kept("payment", or_go="bills.show")
    if pay["status"] != "created":
        return go(url_for("payment.done"))
    left = max(0, int(pay["expires_at"] - time.time()))
    settings = current_app.config["SETTINGS"]
    codes = pay.get("codes") or [{"wallet": "wechat", "code_url": pay["code_url"]}]
    shown = [{"wallet": c["wallet"], "names": WALLETS[c["wallet"]], "qr_svg": qr_svg(c["code_url"], scale=10)}
             for c in codes]
    return render_template("kiosk/bill_pay.html", pay=pay, codes=shown, left=left,
                           idle_s=max(settings.idle.form_s, left))


@bp.get("/state")
def state():
    """Answers when this visit's order is final, or after ``wait`` (≤ 20) seconds."""
    pay = session.get("payment")
    if pay is None:
        return jsonify(status="none")
    watch = current_app.extensions.get("payments")
    if pay["status"] != "created" or watch is None:
        return jsonify(status=pay["status"])
    try:
        wait = min(max(float(request.args.get("wait", "0")), 0.0), MAX_WAIT_S)
    except ValueError:
        wait = 0.0
    status = watch.wait(pay["order_id"], wait)
    return jsonify(status=status)


@bp.get("/done")
def done():
    """Paid (the household leaves the session now) or closed unpaid."""
    pay = kept("payment", or_go="home.index")
    watch = current_app.extensions.get("payments")
    if pay["status"] == "created" and watch is not None:
        status = watch.status(pay["order_id"]) or watch.wait(pay["order_id"], 0)
        if status in PAID or status in ("closed", "failed"):
            pay["status"] = status
    if pay["status"] == "created":
        return go(url_for("payment.show"))
    if pay["status"] in PAID:
        # Privacy: once paid, nothing of the household stays in this visit's session.
        for key in ("bills", "bills_pick", "bills_form"):
            session.pop(key, None)
        pay.pop("code_url", None)
        pay.pop("codes", None)
        _refund_of(pay)
    session["payment"] = pay
    return render_template("kiosk/bill_paid.html", pay=pay, paid=pay["status"] in PAID, idle_kind="result")


def _refund_of(pay: dict[str, Any]) -> None:
    """Paid with both codes: the edge knows, once the centre has refunded the second payment;
    the paid screen says it is being given back."""
    if pay.get("refund_fen"):
        return
    try:
        answer = ask_edge("payment_status", {"order_id": pay["order_id"]})
    except HallError as exc:
        log.info("payment %s: no refund news from the edge (%s)", pay["order_id"], exc)
        return
    if answer.get("refund_fen"):
        pay["refund_fen"] = int(answer["refund_fen"])
        pay["refund_wallet"] = answer.get("refund_wallet") if answer.get("refund_wallet") in WALLETS else "wechat"


@bp.post("/receipt")
def receipt():
    """Print this order's receipt once; asked again, say what became of it."""
    pay = session.get("payment")
    if pay is None or pay["status"] not in PAID:
        return jsonify(printed=False, message=_("There is no payment to print a receipt for.")), 404
    if "receipt" not in pay:
        printing = current_app.extensions.get("printing")
        printed, reason = False, "offline"
        if printing is not None:
            try:
                outcome = printing.ask("payment_receipt", {"order_id": pay["order_id"]}, timeout=8.0)
                printed, reason = outcome.printed, outcome.reason
            except HallError as exc:
                log.warning("payment receipt for %s: %s", pay["order_id"], exc)
        pay["receipt"] = "printed" if printed else "failed"
        session["payment"] = pay
        if not printed:
            log.warning("payment receipt for %s not printed (%s); the front desk can print it", pay["order_id"], reason)
    if pay["receipt"] == "printed":
        return jsonify(printed=True, message=_("Your receipt has been printed. Please take it."))
    return jsonify(printed=False, message=_("The receipt could not be printed here. Your payment is recorded; "
                                            "the front desk will print your receipt."))
