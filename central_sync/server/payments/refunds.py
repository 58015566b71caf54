"""Refunds through the providers: asked, answered, confirmed, and what a confirmation does.

Two kinds of refund share these steps:

- **Automatic** (one bill, two wallets at once): an order flagged ``paid_conflict`` whose pair
  has a ``paid`` order is refunded in full here (reason ``paid twice``), without a person.
  Its number is derived from the order's out_trade_no (``RF`` + it) and the row is inserted
  with ``ON CONFLICT DO NOTHING``: however many notifications or sweeps arrive at once, one
  refund is asked for.
- **A person's** (:mod:`.person_refunds`, from the admin console): full or partial, with a
  reason, its own number (``RM`` + time + random); a partial refund of a ``paid`` order
  names bill lines (``payment_refund_lines``), which are reopened only when the refund is
  confirmed, in the confirmation's transaction.

Asking the provider again with the same number is the same refund, never a second one, so a
failed request is simply asked again by the sweep, later after each failure
(:func:`backoff_s`). A refund is ``requested`` until the provider's answer (WeChat
``SUCCESS``, Alipay ``fund_change = Y``) or its verified refund notification says the money
is back: ``confirmed``; ``failed`` only when the provider says it closed the refund (WeChat
``CLOSED``), which gives its amount and lines back to be refunded again. Every step is a
``payment_events`` line; the steps of a person's refund are also audit lines
(``payment.refund.*``, in the order's hall).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, Mapping

from central_sync.store import Store
from hall_common.errors import HallError

from .. import audit
from .provider import NotificationRefused, PaymentError, Provider, Refund

log = logging.getLogger(__name__)
PAID_TWICE = "paid twice"


class _Taken(HallError, RuntimeError):
    """Rolls back an automatic refund when a person refunded the order first."""


def event(store: Store, order_id: str, now: float, kind: str, **detail: Any) -> None:
    """A line of an order's history (``payment_events``): every step of a payment and its refunds."""
    store.execute("INSERT INTO payment_events (order_id, ts, kind, detail) VALUES (?, ?, ?, ?)",
                  (order_id, now, kind, json.dumps(detail, ensure_ascii=False, sort_keys=True)))


def audit_step(store: Store, refund: Mapping[str, Any], now: float, action: str, who: str | None = None,
           **detail: Any) -> None:
    """An audit line for a step of a person's refund (automatic ones are payment events only)."""
    if refund.get("requested_by") is None:
        return
    audit.write(store, who or f"({refund['provider']})", f"payment.refund.{action}",
                {"order": refund["order_id"], "out_refund_no": refund["out_refund_no"], **detail},
                hall=refund.get("hall_id"), ts=now)


def refund_no(out_trade_no: str) -> str:
    """The automatic refund's number: one per order, so a second request is the same refund."""
    return "RF" + out_trade_no


def new_refund_no(now: float) -> str:
    """A person's refund's number: unique per refund (WeChat and Alipay take up to 64 of
    [0-9A-Za-z])."""
    return "RM" + time.strftime("%Y%m%d%H%M%S", time.localtime(now)) + uuid.uuid4().hex[:14]


def backoff_s(attempts: int) -> float:
    """How long the sweep waits before asking again after ``attempts`` failed requests."""
    return 0.0 if attempts <= 0 else min(60.0 * 2 ** (attempts - 1), 3600.0)


def load(store: Store, out_refund_no: str) -> dict[str, Any] | None:
    """The refund with its order's out_trade_no, total and hall."""
    rows = store.query("SELECT r.*, o.out_trade_no, o.amount_fen AS total_fen, o.hall_id FROM payment_refunds r "
                       "JOIN payment_orders o ON o.id = r.order_id WHERE r.out_refund_no = ?", (out_refund_no,))
    return rows[0] if rows else None


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
    try:
        with store.transaction():
            made = store.execute("INSERT INTO payment_refunds (id, order_id, provider, out_refund_no, amount_fen, reason, "
                                 "status, requested_at) VALUES (?, ?, ?, ?, ?, ?, 'requested', ?) "
                                 "ON CONFLICT (out_refund_no) DO NOTHING",
                                 (str(uuid.uuid4()), order["id"], provider.name, number, amount, PAID_TWICE, now)).rowcount
            if made != 1:
                return None  # another notification of the same payment asked already
            if store.execute("UPDATE payment_orders SET refunded_fen = refunded_fen + ? WHERE id = ? "
                             "AND refunded_fen + ? <= amount_fen", (amount, order["id"], amount)).rowcount != 1:
                raise _Taken()
            event(store, order["id"], now, "refund_requested", out_refund_no=number, amount_fen=amount, reason=PAID_TWICE,
                   first_order=twin, provider=provider.name)
    except _Taken:
        log.warning("payment order %s paid after its pair %s: refunded by a person already", order["id"], twin)
        return None
    log.warning("payment order %s paid after its pair %s: refunding %d fen through %s", order["id"], twin, amount,
                provider.name)
    return ask(store, provider, number, now=now)


def ask(store: Store, provider: Provider, number: str, *, now: float) -> str:
    """Ask the provider for the refund ``number`` (again, with the same number, if it failed
    before or is still processing). Returns its status now."""
    r = load(store, number)
    if r is None:
        return "unknown"
    if r["status"] != "requested":
        return str(r["status"])
    try:
        answer = provider.refund(r["out_trade_no"], number, int(r["amount_fen"]), int(r["total_fen"]), r["reason"],
                                 notify_url=r["notify_url"] or "")
    except PaymentError as exc:
        reason = str(exc)[:200]
        with store.transaction():
            store.execute("UPDATE payment_refunds SET attempts = attempts + 1, error = ?, tried_at = ? "
                          "WHERE out_refund_no = ? AND status = 'requested'", (reason, now, number))
            event(store, r["order_id"], now, "refund_failed", out_refund_no=number, reason=reason,
                   attempt=int(r["attempts"]) + 1)
            audit_step(store, r, now, "fail", reason=reason, attempt=int(r["attempts"]) + 1)
        log.error("refund %s of order %s: the provider did not take it (%s); the sweep asks again in %.0f s", number,
                  r["order_id"], exc, backoff_s(int(r["attempts"]) + 1))
        return "requested"
    # Only while still requested: the notification (or a sweep) may have confirmed the refund
    # while this call was on its way back, and its late PROCESSING is no news then.
    with store.transaction():
        if store.execute("UPDATE payment_refunds SET refund_id = COALESCE(?, refund_id), provider_status = ?, error = NULL, "
                         "tried_at = ? WHERE out_refund_no = ? AND status = 'requested' "
                         "AND (provider_status IS NULL OR provider_status != ?)",
                         (answer.refund_id, answer.status, now, number, answer.status)).rowcount:
            event(store, r["order_id"], now, "refund_answered", out_refund_no=number, status=answer.status,
                   refund_id=answer.refund_id)
            audit_step(store, r, now, "answer", status=answer.status, refund_id=answer.refund_id)
    return settle(store, answer, now=now, source="answer")


def settle(store: Store, refund: Refund, *, now: float, source: str) -> str:
    """What the provider's word on a refund (an answer or a verified notification) does:
    ``SUCCESS`` confirms it, ``CLOSED`` fails it, anything else leaves it requested."""
    if refund.status == "SUCCESS":
        return confirm(store, refund, now=now, source=source) or "unknown"
    if refund.status == "CLOSED":
        return fail(store, refund.out_refund_no, now=now, reason=f"the provider closed it ({source})")
    if refund.status == "ABNORMAL":  # WeChat: the payer's card refused it; finished by hand in the merchant platform
        r = load(store, refund.out_refund_no)
        if r is not None and r["status"] == "requested":
            with store.transaction():
                event(store, r["order_id"], now, "refund_abnormal", out_refund_no=r["out_refund_no"], source=source)
                audit_step(store, r, now, "abnormal", source=source)
            log.error("refund %s of order %s is ABNORMAL at the provider: finish it in the merchant platform",
                      r["out_refund_no"], r["order_id"])
    return "requested"


def confirm(store: Store, refund: Refund, *, now: float, source: str) -> str | None:
    """Mark the refund confirmed (the provider says the money is back) and, in the same
    transaction, reopen the bill lines it gives back; None when unknown."""
    if refund.status != "SUCCESS":
        return None
    with store.transaction():
        r = load(store, refund.out_refund_no)
        if r is None:
            return None
        if store.execute("UPDATE payment_refunds SET status = 'confirmed', confirmed_at = ?, provider_status = 'SUCCESS', "
                         "refund_id = COALESCE(refund_id, ?), error = NULL WHERE out_refund_no = ? AND status = 'requested'",
                         (now, refund.refund_id, refund.out_refund_no)).rowcount != 1:
            return str(r["status"])
        event(store, r["order_id"], now, "refund_confirmed", out_refund_no=refund.out_refund_no, source=source)
        audit_step(store, r, now, "confirm", source=source, amount_fen=int(r["amount_fen"]))
        reopened = _reopen_lines(store, r)
        if reopened:
            event(store, r["order_id"], now, "lines_reopened", out_refund_no=refund.out_refund_no, lines=reopened)
            audit_step(store, r, now, "reopen_lines", lines=reopened)
    log.info("refund %s of order %s confirmed (%s)", refund.out_refund_no, r["order_id"], source)
    return "confirmed"


def _reopen_lines(store: Store, r: Mapping[str, Any]) -> list[str]:
    """The refund's bill lines back to unpaid and free: the resident owes them again."""
    ids = sorted(str(x["line_id"]) for x in store.query("SELECT line_id FROM payment_refund_lines WHERE refund_id = ?",
                                                        (r["id"],)))
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    still = sorted(str(x["id"]) for x in store.query(
        f"SELECT id FROM bill_lines WHERE order_id = ? AND status = 'paid' AND id IN ({marks})", (r["order_id"], *ids)))
    if still:
        store.execute(f"UPDATE bill_lines SET status = 'unpaid', paid_at = NULL, order_id = NULL WHERE order_id = ? "
                      f"AND status = 'paid' AND id IN ({', '.join('?' * len(still))})", (r["order_id"], *still))
    if len(still) != len(ids):
        log.error("refund %s: %d of its %d lines were no longer settled by order %s; only those were reopened",
                  r["out_refund_no"], len(still), len(ids), r["order_id"])
    return still


def fail(store: Store, out_refund_no: str, *, now: float, reason: str) -> str:
    """The provider closed the refund: ``failed``; its amount and lines may be refunded again."""
    with store.transaction():
        r = load(store, out_refund_no)
        if r is None:
            return "unknown"
        if store.execute("UPDATE payment_refunds SET status = 'failed', failed_at = ?, error = ? WHERE out_refund_no = ? "
                         "AND status = 'requested'", (now, reason[:200], out_refund_no)).rowcount != 1:
            return str(r["status"])
        store.execute("UPDATE payment_orders SET refunded_fen = refunded_fen - ? WHERE id = ?", (int(r["amount_fen"]),
                                                                                              r["order_id"]))
        store.execute("DELETE FROM payment_refund_lines WHERE refund_id = ?", (r["id"],))
        event(store, r["order_id"], now, "refund_closed", out_refund_no=out_refund_no, reason=reason[:200])
        audit_step(store, r, now, "closed", reason=reason[:200])
    log.error("refund %s of order %s failed: %s", out_refund_no, r["order_id"], reason)
    return "failed"


def accept_refund_notification(store: Store, provider: Provider, headers: Mapping[str, str], body: bytes, *,
                               now: float) -> tuple[dict[str, Any] | None, str]:
    """Verify a provider's refund notification and apply it: the refund and its status now,
    or :class:`NotificationRefused` with nothing changed. It must be genuine (the provider's
    own checks: signature, freshness, our merchant), for the order the refund was asked on,
    and the amount asked (Alipay reports the trade's refunds so far: at least this one's, at
    most the trade's total). A genuine notification of a refund the centre did not ask for
    (one made by hand in the merchant platform) changes nothing and is acknowledged, or the
    provider would retry it for a day: (None, ``unknown``)."""
    refund = provider.verify_refund_notification(headers, body, now=now)
    r = load(store, refund.out_refund_no)
    if r is None or r["provider"] != provider.name:
        log.warning("a genuine refund notification from %s for %r, a refund the centre did not ask for: nothing changed",
                    provider.name, refund.out_refund_no[:64])
        return None, "unknown"
    if refund.out_trade_no and refund.out_trade_no != r["out_trade_no"]:
        raise NotificationRefused("refund_order", "the refund is not of the order it was asked on")
    amount, total = int(r["amount_fen"]), int(r["total_fen"])
    if provider.name == "alipay":
        if refund.refunded_fen is None or not amount <= refund.refunded_fen <= total:
            raise NotificationRefused("amount", f"refund_fee {refund.refunded_fen!r} does not cover this refund")
    elif refund.amount_fen != amount:
        raise NotificationRefused("amount", f"refund {refund.amount_fen!r} is not the {amount} asked")
    return r, settle(store, refund, now=now, source="notify")


def retry(store: Store, provider: Provider, *, now: float) -> int:
    """Ask again about this provider's refunds still ``requested`` (a failed request, later
    after each failure, or a ``PROCESSING`` answer). Returns how many are confirmed now."""
    due = store.query("SELECT out_refund_no, attempts, tried_at FROM payment_refunds WHERE status = 'requested' "
                      "AND provider = ? ORDER BY requested_at LIMIT 200", (provider.name,))
    done = 0
    for row in due:
        if row["tried_at"] is not None and now < float(row["tried_at"]) + backoff_s(int(row["attempts"])):
            continue
        if ask(store, provider, row["out_refund_no"], now=now) == "confirmed":
            done += 1
    return done


def refund_view(store: Store, order_id: str) -> dict[str, Any] | None:
    """What a hall's kiosk is told about an order's automatic refund (paid twice): status and
    amount. A person's refunds reach the hall through ``/api/v1/payments/refunds``."""
    rows = store.query("SELECT status, amount_fen, reason FROM payment_refunds WHERE order_id = ? AND requested_by IS NULL",
                       (order_id,))
    if not rows:
        return None
    return {"status": rows[0]["status"], "amount_fen": int(rows[0]["amount_fen"]), "reason": rows[0]["reason"]}
