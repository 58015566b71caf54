"""Refunds a person starts from the admin console: for money that settled nothing
(``paid_conflict``) and for a manager's decision on a ``paid`` order.

What a refund may be:

- **Full**: what is left to refund of the order. For a ``paid`` order that is its lines not
  refunded yet, and they are reopened when the refund is confirmed.
- **Partial, by lines** (``paid`` orders): some of the bill lines the order settled; the
  refund is their sum (as they were charged), and those lines are reopened, unpaid and free
  again, when the provider confirms the money is back, not before.
- **Partial, by amount** (``paid_conflict`` orders only): the payment settled no lines, so a
  part of it in yuan can go back; nothing is reopened.

A reason is required (at most 80 characters: WeChat's limit). Refused, with a message in
Chinese and English and nothing written: an order that is not paid, nothing left to refund,
more than is left, lines that are not the order's or are refunded already, a wallet this
centre no longer offers. The order's hall is the caller's to check (:mod:`..payment_console`).

Two people at once cannot refund more than was paid: the order's ``refunded_fen`` is raised
by a conditional update (``... WHERE refunded_fen + x <= amount_fen``), and a line is given
back once per order (the primary key of ``payment_refund_lines``), in the transaction that
records the refund. Then the provider is asked (:func:`.refunds.ask`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from central_sync.store import Store

from ..refusal import Refused
from . import refunds
from .bills import fen_of, yuan
from .provider import PaymentError, Provider

MAX_REASON = 80
PAID = ("paid", "paid_conflict")
SCOPES = ("full", "lines", "amount")


class RefundRefused(PaymentError, Refused):
    """A refund that is not started; ``detail`` is bilingual, for the page."""


@dataclass(frozen=True)
class RefundAsk:
    """What the console's form sends."""

    scope: str
    reason: str
    line_ids: tuple[str, ...] = ()
    amount: str = ""


def order_lines(store: Store, order: dict[str, Any]) -> list[dict[str, Any]]:
    """The order's bill lines: item, period, amount as charged, the line's status now, whether
    this order settled it, and the refund that gives it back (if any)."""
    rows = store.query("SELECT l.id, l.item, l.period, ol.amount_fen, l.status, l.order_id, rl.refund_id "
                       "FROM payment_order_lines ol JOIN bill_lines l ON l.id = ol.line_id "
                       "LEFT JOIN payment_refund_lines rl ON rl.order_id = ol.order_id AND rl.line_id = ol.line_id "
                       "WHERE ol.order_id = ? ORDER BY l.due_date, l.item", (order["id"],))
    return [{"id": str(r["id"]), "item": r["item"], "period": r["period"], "amount_fen": int(r["amount_fen"]),
             "status": r["status"], "settled_here": r["status"] == "paid" and str(r["order_id"]) == str(order["id"]),
             "refund_id": r["refund_id"],
             "refundable": order["status"] == "paid" and r["status"] == "paid" and str(r["order_id"]) == str(order["id"])
             and r["refund_id"] is None} for r in rows]


def left_fen(order: dict[str, Any]) -> int:
    return int(order["amount_fen"]) - int(order.get("refunded_fen") or 0)


def _refuse(code: str, status: int, zh: str, en: str) -> RefundRefused:
    return RefundRefused(code, status, f"{zh} · {en}")


def check(store: Store, order: dict[str, Any], ask: RefundAsk) -> tuple[int, list[dict[str, Any]]]:
    """The amount to refund and the lines it gives back, or :class:`RefundRefused`."""
    reason = ask.reason.strip()
    if not reason:
        raise _refuse("reason", 400, "请填写退款原因", "Give the reason for the refund")
    if len(reason) > MAX_REASON or any(ord(c) < 32 for c in reason):
        raise _refuse("reason", 400, f"退款原因最多 {MAX_REASON} 字，一行", f"The reason is one line of at most {MAX_REASON} characters")
    if order["status"] not in PAID:
        raise _refuse("not_paid", 409, "这笔订单未支付，没有可退的钱", "This order is not paid: there is nothing to refund")
    left = left_fen(order)
    if left <= 0:
        raise _refuse("refunded", 409, "这笔订单已全部退款", "This order has been refunded in full already")
    if ask.scope not in SCOPES:
        raise _refuse("scope", 400, "请选择全额退款或部分退款", "Choose a full or a partial refund")
    lines = order_lines(store, order)
    if ask.scope == "full":
        chosen = [line for line in lines if line["refundable"]]
        amount = sum(line["amount_fen"] for line in chosen) if order["status"] == "paid" else left
        if order["status"] == "paid" and amount != left:
            raise _refuse("lines", 409, "这笔订单的账单行与金额对不上，请按账单行退款",
                          "This order's lines do not add up to what is left: refund it line by line")
        return amount, chosen
    if ask.scope == "lines":
        if order["status"] != "paid":
            raise _refuse("scope", 400, "这笔付款没有结清任何账单行：请全额退款或填写金额",
                          "This payment settled no bill lines: refund it in full or give an amount")
        wanted = {i.strip().lower() for i in ask.line_ids if i.strip()}
        if not wanted:
            raise _refuse("lines", 400, "请选择要退的账单行", "Choose the bill lines to refund")
        chosen = [line for line in lines if line["id"].lower() in wanted]
        if len(chosen) != len(wanted) or not all(line["refundable"] for line in chosen):
            raise _refuse("lines", 409, "所选账单行不是这笔付款结清的，或已在退款中",
                          "A chosen line was not settled by this payment, or is being refunded already")
        return sum(line["amount_fen"] for line in chosen), chosen
    if order["status"] != "paid_conflict":
        raise _refuse("scope", 400, "已结清账单的订单按账单行部分退款", "A paid order is refunded in part by choosing its bill lines")
    fen = fen_of(ask.amount.strip().removeprefix("¥"))
    if fen is None or fen <= 0:
        raise _refuse("amount", 400, "金额以元为单位，最多两位小数，例如 12.30",
                      "The amount is in yuan with at most two decimals, e.g. 12.30")
    if fen > left:
        raise _refuse("amount", 409, f"超过可退金额 ¥{yuan(left)}", f"More than is left to refund (¥{yuan(left)})")
    return fen, []


def start(store: Store, providers: dict[str, Provider], order: dict[str, Any], ask: RefundAsk, *, user: str,
          notify_base: str, now: float) -> dict[str, Any]:
    """Record a person's refund of ``order`` and ask its provider; the refund row as it
    stands after the provider's answer. :class:`RefundRefused` (nothing written) otherwise."""
    provider = providers.get(order["provider"])
    if provider is None:
        raise _refuse("provider", 409, f"本中心已不再使用这笔订单的支付方式（{order['provider']}），请在商户平台退款",
                      f"This centre no longer offers this order's wallet ({order['provider']}): refund it in the "
                      f"merchant platform")
    amount, lines = check(store, order, ask)
    number, refund_id = refunds.new_refund_no(now), str(uuid.uuid4())
    reason = ask.reason.strip()
    notify_url = f"{notify_base.rstrip('/')}/api/v1/payments/refund-notify/{provider.name}"
    with store.transaction():
        if store.execute("UPDATE payment_orders SET refunded_fen = refunded_fen + ? WHERE id = ? "
                         "AND status IN ('paid', 'paid_conflict') AND refunded_fen + ? <= amount_fen",
                         (amount, order["id"], amount)).rowcount != 1:
            raise _refuse("amount", 409, "超过可退金额（刚有人退过这笔订单）",
                          "More than is left to refund (someone refunded this order just now)")
        store.execute("INSERT INTO payment_refunds (id, order_id, provider, out_refund_no, amount_fen, reason, status, "
                      "requested_at, requested_by, notify_url) VALUES (?, ?, ?, ?, ?, ?, 'requested', ?, ?, ?)",
                      (refund_id, order["id"], provider.name, number, amount, reason, now, user, notify_url))
        for line in lines:
            if store.execute("INSERT INTO payment_refund_lines (order_id, line_id, refund_id, amount_fen) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (order_id, line_id) DO NOTHING",
                             (order["id"], line["id"], refund_id, line["amount_fen"])).rowcount != 1:
                raise _refuse("lines", 409, "所选账单行刚被另一笔退款选中", "A chosen line was just taken by another refund")
        detail = {"out_refund_no": number, "amount_fen": amount, "reason": reason, "by": user, "provider": provider.name,
                  "lines": [line["id"] for line in lines]}
        refunds.event(store, order["id"], now, "refund_requested", **detail)
        refunds.audit_step(store, {"requested_by": user, "provider": provider.name, "order_id": order["id"],
                               "out_refund_no": number, "hall_id": order["hall_id"]}, now, "request", who=user,
                       amount_fen=amount, reason=reason, lines=[line["id"] for line in lines],
                       scope=ask.scope)
    refunds.ask(store, provider, number, now=now)
    found = refunds.load(store, number)
    assert found is not None
    return found
