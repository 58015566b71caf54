"""One bill, two wallets at once: when both orders of a pair (the same lines, one code per
wallet) get paid, the first payment's credit stands and the second is given back through
its own provider's refund API, without a person.

Rules:

- Only an order flagged ``paid_conflict`` whose pair has a ``paid`` order is refunded here
  (reason ``paid twice``); any other conflict waits for a person (issue 19 item 3).
- The refund's number is derived from the order's out_trade_no (``RF`` + it), and the row
  is inserted with ``ON CONFLICT DO NOTHING``: however many notifications or sweeps arrive
  at once, one refund is asked for, and asking the provider again with the same number is
  the same refund, never a second one.
- ``requested`` until the provider's answer (WeChat ``SUCCESS``, Alipay ``fund_change = Y``)
  or its verified refund notification says the money is back: ``confirmed``. A refund whose
  request failed is asked again by the sweep. Every step is a ``payment_events`` line.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Mapping

from central_sync.store import Store

from .provider import PaymentError, Provider, Refund

log = logging.getLogger(__name__)
PAID_TWICE = "paid twice"


def _event(store: Store, order_id: str, now: float, kind: str, **detail: Any) -> None:
    store.execute("INSERT INTO payment_events (order_id, ts, kind, detail) VALUES (?, ?, ?, ?)",
                  (order_id, now, kind, json.dumps(detail, ensure_ascii=False, sort_keys=True)))


def refund_no(out_trade_no: str) -> str:
    """The refund's own number: one per order, so a second request is the same refund."""
    return "RF" + out_trade_no


def paid_twin(store: Store, order: Mapping[str, Any]) -> str | None:
    """The id of the other order of ``order``'s pair that is ``paid`` (it settled the lines)."""
    lead = order.get("pair_of") or order["id"]
    rows = store.query("SELECT id FROM payment_orders WHERE status = 'paid' AND id != ? AND (id = ? OR pair_of = ?)",
                       (order["id"], lead, lead))
    return str(rows[0]["id"]) if rows else None


def refund_paid_twice(store: Store, provider: Provider, order: Mapping[str, Any], *, now: float) -> str | None:
    """Refund ``order`` (just flagged ``paid_conflict``) if its pair was paid first; the
    refund's status (``requested``/``confirmed``), or None when it is not a pair's second."""
    twin = paid_twin(store, order)
    if twin is None:
        return None
    number = refund_no(order["out_trade_no"])
    amount = int(order["amount_fen"])
    with store.transaction():
        made = store.execute("INSERT INTO payment_refunds (id, order_id, provider, out_refund_no, amount_fen, reason, status, "
                             "requested_at) VALUES (?, ?, ?, ?, ?, ?, 'requested', ?) ON CONFLICT (out_refund_no) DO NOTHING",
                             (str(uuid.uuid4()), order["id"], provider.name, number, amount, PAID_TWICE, now)).rowcount
        if made != 1:
            return None  # another notification of the same payment asked already
        _event(store, order["id"], now, "refund_requested", out_refund_no=number, amount_fen=amount, reason=PAID_TWICE,
               first_order=twin, provider=provider.name)
    log.warning("payment order %s paid after its pair %s: refunding %d fen through %s", order["id"], twin, amount,
                provider.name)
    return ask(store, provider, order, number, now=now)


def ask(store: Store, provider: Provider, order: Mapping[str, Any], number: str, *, now: float) -> str:
    """Ask the provider for the refund (again, with the same number, if it failed before)."""
    amount = int(order["amount_fen"])
    try:
        answer = provider.refund(order["out_trade_no"], number, amount, amount, PAID_TWICE)
    except PaymentError as exc:
        with store.transaction():
            _event(store, order["id"], now, "refund_failed", out_refund_no=number, reason=str(exc)[:200])
        log.error("refund %s of order %s: the provider did not take it (%s); the sweep asks again", number, order["id"], exc)
        return "requested"
    with store.transaction():
        store.execute("UPDATE payment_refunds SET refund_id = ? WHERE out_refund_no = ?", (answer.refund_id, number))
        _event(store, order["id"], now, "refund_answered", out_refund_no=number, status=answer.status,
               refund_id=answer.refund_id)
    if answer.status == "SUCCESS":
        return confirm(store, answer, now=now, source="answer") or "confirmed"
    return "requested"


def confirm(store: Store, refund: Refund, *, now: float, source: str) -> str | None:
    """Mark the refund confirmed (the provider says the money is back); None when unknown."""
    if refund.status != "SUCCESS":
        return None
    with store.transaction():
        rows = store.query("SELECT order_id, status FROM payment_refunds WHERE out_refund_no = ?", (refund.out_refund_no,))
        if not rows:
            return None
        if store.execute("UPDATE payment_refunds SET status = 'confirmed', confirmed_at = ?, "
                         "refund_id = COALESCE(refund_id, ?) WHERE out_refund_no = ? AND status = 'requested'",
                         (now, refund.refund_id, refund.out_refund_no)).rowcount == 1:
            _event(store, rows[0]["order_id"], now, "refund_confirmed", out_refund_no=refund.out_refund_no, source=source)
            log.info("refund %s of order %s confirmed (%s)", refund.out_refund_no, rows[0]["order_id"], source)
    return "confirmed"


def retry(store: Store, provider: Provider, *, now: float) -> int:
    """Ask again about this provider's refunds still ``requested`` (a failed request, or a
    ``PROCESSING`` answer). Returns how many are confirmed now."""
    due = store.query("SELECT r.out_refund_no, o.id, o.out_trade_no, o.amount_fen FROM payment_refunds r "
                      "JOIN payment_orders o ON o.id = r.order_id WHERE r.status = 'requested' AND r.provider = ? "
                      "ORDER BY r.requested_at LIMIT 50", (provider.name,))
    done = 0
    for row in due:
        if ask(store, provider, row, row["out_refund_no"], now=now) == "confirmed":
            done += 1
    return done


def refund_view(store: Store, order_id: str) -> dict[str, Any] | None:
    """What a hall is told about an order's refund: status and amount."""
    rows = store.query("SELECT status, amount_fen, reason FROM payment_refunds WHERE order_id = ?", (order_id,))
    if not rows:
        return None
    return {"status": rows[0]["status"], "amount_fen": int(rows[0]["amount_fen"]), "reason": rows[0]["reason"]}
