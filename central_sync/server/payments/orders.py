"""Payment orders: which bill lines a payment is for, and settling them exactly once.

The rules that keep money right:

- The amount is always the sum of the lines at the centre; nobody sends one.
- A line is locked to one live order by a conditional update of ``bill_lines.order_id``
  (``... WHERE order_id IS NULL AND status = 'unpaid'``): a second order for it is refused.
- A payment is recorded by a conditional update of the order's status
  (``... WHERE status IN ('created', 'expired_unclosed')``) in the same transaction that
  settles its lines: whichever of 20 identical notifications gets there first does it, the
  others change nothing (and are still answered SUCCESS, or WeChat keeps retrying).
- Money that arrives for an order already closed is still recorded (it was taken): its lines
  are settled if still unpaid and free, otherwise the order is flagged ``paid_conflict`` for a
  refund. Nothing is ever credited twice.

Order statuses: ``created`` (payable), ``expired_unclosed`` (past expiry, the provider could
not be told to close it yet; lines stay locked), ``paid``, ``paid_conflict`` (money taken,
lines not settled by it: refund), ``closed`` (lines free again), ``failed`` (the provider
refused to open it; lines free again).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import uuid
from datetime import date
from typing import Any, Callable, Iterator, Mapping

from central_sync.store import Store
from hall_common.errors import HallError

from ..refusal import Refused
from .refunds import event, refund_paid_twice, refund_view
from .provider import NewOrder, NotificationRefused, OrderAlreadyPaid, PaymentError, Provider, ProviderUnavailable, Trade

log = logging.getLogger(__name__)
LIVE = ("created", "expired_unclosed")
FINAL = ("paid", "paid_conflict", "closed", "failed")
MAX_LINES = 24
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class OrderRefused(PaymentError, Refused):
    """An order that is not made; ``code`` is for the hall, ``detail`` for its log."""


class Signals:
    """One event per order that someone is waiting on, set when the order's status becomes
    final in this process. Waiters also look at the database every second, so a payment
    recorded by another worker is seen too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, tuple[threading.Event, int]] = {}

    @contextlib.contextmanager
    def watch(self, order_id: str) -> Iterator[threading.Event]:
        with self._lock:
            event, n = self._events.get(order_id, (threading.Event(), 0))
            self._events[order_id] = (event, n + 1)
        try:
            yield event
        finally:
            with self._lock:
                event, n = self._events[order_id]
                if n == 1:
                    del self._events[order_id]
                else:
                    self._events[order_id] = (event, n - 1)

    def fire(self, order_id: str, lead: str | None = None) -> None:
        """Wake the waiters on ``order_id``, and on ``lead``, the first order of its pair
        (the hall waits on the pair through it)."""
        with self._lock:
            entries = [self._events.get(i) for i in (order_id, lead) if i is not None]
        for entry in entries:
            if entry is not None:
                entry[0].set()

    def watched(self) -> set[str]:
        """The orders someone is waiting on now (one per payment a hall watches)."""
        with self._lock:
            return set(self._events)

    def fire_all(self) -> None:
        """Wake every waiter (the service is closing)."""
        with self._lock:
            events = [event for event, _ in self._events.values()]
        for event in events:
            event.set()


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _today(now: float) -> str:
    return date.fromtimestamp(now).isoformat()


def new_trade_no(now: float) -> str:
    """Unique per attempt, 6-32 characters of [0-9A-Za-z] as WeChat requires."""
    return "HP" + time.strftime("%Y%m%d%H%M%S", time.localtime(now)) + uuid.uuid4().hex[:14]


def create_order(store: Store, provider: Provider, *, hall: str, room: str, bill_ids: list[str], kiosk: str,
                 ttl_s: float, notify_url: str, site_url: str, now: float, beside: str | None = None) -> dict[str, Any]:
    """Lock ``bill_ids`` (unpaid lines of ``hall``'s ``room``) to a new order for their sum,
    and open it at the provider. Refused (:class:`OrderRefused`) when a line is not that
    room's, already paid or in another live order, or when the provider does not answer.

    ``beside``: a live order of the same kiosk for the same lines in another wallet; the new
    order is its pair (one code per wallet): the lines stay locked to that first order, and
    whichever is paid first settles them (see :mod:`.refunds` for the second)."""
    ids = list(dict.fromkeys(bill_ids))
    if not ids or len(ids) > MAX_LINES or not all(isinstance(i, str) and UUID.match(i) for i in ids):
        raise OrderRefused("malformed", 422, f"bill_ids: 1 to {MAX_LINES} bill line ids")
    ids = [i.lower() for i in ids]
    order_id, trade_no = str(uuid.uuid4()), new_trade_no(now)
    with store.transaction():
        rows = store.query(f"SELECT id, amount_fen, status, order_id FROM bill_lines WHERE hall_id = ? AND room = ? "
                           f"AND id IN ({_marks(len(ids))})", (hall, room, *ids))
        if len(rows) != len(ids):
            raise OrderRefused("unknown_lines", 404, "bill_ids: not all of these are lines of this room")
        if any(r["status"] != "unpaid" for r in rows):
            raise OrderRefused("already_paid", 409, "bill_ids: a line is paid already")
        amount = sum(int(r["amount_fen"]) for r in rows)
        if beside is not None:
            _check_pair(store, provider, beside, hall=hall, room=room, kiosk=kiosk, ids=ids)
        store.execute("INSERT INTO payment_orders (id, hall_id, room, kiosk, provider, out_trade_no, amount_fen, status, "
                      "created_at, expires_at, pair_of) VALUES (?, ?, ?, ?, ?, ?, ?, 'created', ?, ?, ?)",
                      (order_id, hall, room, kiosk, provider.name, trade_no, amount, now, now + ttl_s, beside))
        if beside is not None:  # the lines are locked to the first order of the pair already
            locked = len(ids)
        else:
            locked = store.execute(f"UPDATE bill_lines SET order_id = ? WHERE hall_id = ? AND room = ? AND status = 'unpaid' "
                                   f"AND order_id IS NULL AND id IN ({_marks(len(ids))})", (order_id, hall, room, *ids)).rowcount
        if locked != len(ids):
            raise OrderRefused("locked", 409, "bill_ids: a line is in another payment that is still open; "
                                              "finish or wait for it to expire")
        store.executemany("INSERT INTO payment_order_lines (order_id, line_id, amount_fen) VALUES (?, ?, ?)",
                          [(order_id, str(r["id"]), int(r["amount_fen"])) for r in rows])
        event(store, order_id, now, "created", out_trade_no=trade_no, amount_fen=amount, kiosk=kiosk,
               **({"pair_of": beside} if beside else {}))
    try:
        code_url = provider.create_native(NewOrder(trade_no, f"物业缴费 {room}", amount, now + ttl_s, notify_url, site_url))
    except PaymentError as exc:
        log.error("payment order %s (%s): the provider did not open it: %s", order_id, trade_no, exc)
        with store.transaction():
            if store.execute("UPDATE payment_orders SET status = 'failed', closed_at = ? WHERE id = ? AND status = 'created'",
                             (now, order_id)).rowcount:
                if beside is None:  # a pair's second leaves the first order's lock alone
                    store.execute("UPDATE bill_lines SET order_id = NULL WHERE order_id = ? AND status = 'unpaid'", (order_id,))
                event(store, order_id, now, "failed", reason=str(exc)[:200])
        raise OrderRefused("provider_unavailable", 503, "the payment provider does not answer; try again") from None
    store.execute("UPDATE payment_orders SET code_url = ? WHERE id = ?", (code_url, order_id))
    return {"provider": provider.name, "order_id": order_id, "out_trade_no": trade_no, "amount_fen": amount, "code_url": code_url,
            "expires_at": now + ttl_s, "lines": order_lines(store, order_id)}


def _check_pair(store: Store, provider: Provider, first_id: str, *, hall: str, room: str, kiosk: str,
                ids: list[str]) -> None:
    """Refused unless ``first_id`` is a live first order of this kiosk and room, for exactly
    these lines, in another wallet, with no pair in this wallet yet."""
    first = store.query("SELECT * FROM payment_orders WHERE id = ? AND hall_id = ?", (first_id, hall))
    if (not first or first[0]["room"] != room or first[0]["kiosk"] != kiosk or first[0]["status"] not in LIVE
            or first[0]["pair_of"] is not None):
        raise OrderRefused("beside", 409, "beside: not an open first order of this kiosk and room")
    if first[0]["provider"] == provider.name or store.scalar(
            "SELECT count(*) FROM payment_orders WHERE pair_of = ? AND provider = ?", (first_id, provider.name)):
        raise OrderRefused("beside", 409, "provider: that order has a code in this wallet already")
    theirs = {str(r["line_id"]).lower() for r in store.query("SELECT line_id FROM payment_order_lines WHERE order_id = ?",
                                                              (first_id,))}
    held = store.scalar(f"SELECT count(*) FROM bill_lines WHERE order_id = ? AND status = 'unpaid' "
                        f"AND id IN ({_marks(len(ids))})", (first_id, *ids))
    if theirs != set(ids) or held != len(ids):
        raise OrderRefused("beside", 409, "bill_ids: not the same lines as the order beside")


def _lock_of(order: Mapping[str, Any]) -> str:
    """The order the lines of ``order``'s pair are locked to (the first one)."""
    return str(order.get("pair_of") or order["id"])


def order_row(store: Store, order_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM payment_orders WHERE id = ?", (order_id,))
    return rows[0] if rows else None


def order_lines(store: Store, order_id: str) -> list[dict[str, Any]]:
    """The order's lines as the hall shows them (item, period, amount, state), in bill order."""
    lines = store.query("SELECT l.id, l.item, l.period, ol.amount_fen, l.status FROM payment_order_lines ol "
                        "JOIN bill_lines l ON l.id = ol.line_id WHERE ol.order_id = ? ORDER BY l.due_date, l.item",
                        (order_id,))
    return [{"id": str(r["id"]), "item": r["item"], "period": r["period"], "amount_fen": int(r["amount_fen"]),
             "status": r["status"]} for r in lines]


def order_view(store: Store, order: Mapping[str, Any]) -> dict[str, Any]:
    """What the hall is told about its order: status, when paid, and each line's state."""
    return {"order_id": order["id"], "status": order["status"], "amount_fen": int(order["amount_fen"]),
            "paid_at": order["paid_at"], "expires_at": order["expires_at"], "provider": order["provider"],
            "pair_of": order.get("pair_of"), "refund": refund_view(store, order["id"]),
            "lines": order_lines(store, order["id"])}


class _LinesNotFree(HallError, RuntimeError):
    """Rolls back a late settlement that could not take every line."""


def record_payment(store: Store, order: Mapping[str, Any], trade: Trade, *, now: float, source: str) -> str:
    """Record that ``order`` is paid (``trade`` is already verified); settle its lines once.
    Returns what happened: ``paid``, ``paid_conflict`` or ``unchanged`` (already recorded)."""
    order_id = order["id"]
    with store.transaction():
        if store.execute("UPDATE payment_orders SET status = 'paid', paid_at = ?, transaction_id = ? "
                         "WHERE id = ? AND status IN ('created', 'expired_unclosed')",
                         (now, trade.transaction_id, order_id)).rowcount == 1:
            wanted = store.scalar("SELECT count(*) FROM payment_order_lines WHERE order_id = ?", (order_id,))
            settled = store.execute("UPDATE bill_lines SET status = 'paid', paid_at = ?, order_id = ? "
                                    "WHERE order_id = ? AND status = 'unpaid'", (_today(now), order_id, _lock_of(order))).rowcount
            if settled != wanted:  # a line settled by some other way meanwhile: money to give back
                store.execute("UPDATE payment_orders SET status = 'paid_conflict' WHERE id = ?", (order_id,))
                event(store, order_id, now, "paid_conflict", source=source, settled=settled, lines=wanted,
                       transaction_id=trade.transaction_id)
                log.warning("payment order %s paid, but only %d of %d lines were unpaid: refund due", order_id, settled, wanted)
                return "paid_conflict"
            event(store, order_id, now, "paid", source=source, transaction_id=trade.transaction_id)
            return "paid"
    # Not live: already recorded, or closed before the money came.
    try:
        with store.transaction():
            if store.execute("UPDATE payment_orders SET status = 'paid', paid_at = ?, transaction_id = ? "
                             "WHERE id = ? AND status = 'closed'", (now, trade.transaction_id, order_id)).rowcount != 1:
                return "unchanged"
            ids = [str(r["line_id"]) for r in store.query("SELECT line_id FROM payment_order_lines WHERE order_id = ?", (order_id,))]
            settled = store.execute(f"UPDATE bill_lines SET status = 'paid', paid_at = ?, order_id = ? WHERE status = 'unpaid' "
                                    f"AND order_id IS NULL AND id IN ({_marks(len(ids))})", (_today(now), order_id, *ids)).rowcount
            if settled != len(ids):
                raise _LinesNotFree()
            event(store, order_id, now, "paid", source=source, late=True, transaction_id=trade.transaction_id)
            log.info("payment order %s paid after it was closed; its lines were still free and are settled", order_id)
            return "paid"
    except _LinesNotFree:
        pass
    with store.transaction():
        if store.execute("UPDATE payment_orders SET status = 'paid_conflict', paid_at = ?, transaction_id = ? "
                         "WHERE id = ? AND status = 'closed'", (now, trade.transaction_id, order_id)).rowcount != 1:
            return "unchanged"
        event(store, order_id, now, "paid_conflict", source=source, late=True, transaction_id=trade.transaction_id)
    log.warning("payment order %s (%s) paid after it was closed and its lines were taken: flagged for refund",
                order_id, order["out_trade_no"])
    return "paid_conflict"


def accept_notification(store: Store, provider: Provider, headers: Mapping[str, str], body: bytes, *,
                        now: float) -> tuple[dict[str, Any], str]:
    """Verify a provider's notification and record the payment it reports. Returns the
    order and what happened; :class:`NotificationRefused` (nothing changed) otherwise."""
    data = provider.verify_notification(headers, body, now=now)
    from .wechat import trade_of

    trade = trade_of(data)
    if trade.mchid != provider.mchid or trade.appid != provider.appid:
        raise NotificationRefused("merchant", f"mchid/appid {trade.mchid!r}/{trade.appid!r} are not ours")
    rows = store.query("SELECT * FROM payment_orders WHERE out_trade_no = ? AND provider = ?", (trade.out_trade_no, provider.name))
    if not rows:
        raise NotificationRefused("unknown_order", f"out_trade_no {trade.out_trade_no[:40]!r} is not ours", status=404)
    order = rows[0]
    if trade.trade_state != "SUCCESS":
        raise NotificationRefused("trade_state", f"trade_state {trade.trade_state!r}")
    if trade.amount_total != int(order["amount_fen"]):
        raise NotificationRefused("amount", f"amount {trade.amount_total!r} is not the order's {order['amount_fen']}")
    outcome = record_payment(store, order, trade, now=now, source="notify")
    if outcome == "paid_conflict":
        refund_paid_twice(store, provider, order, now=now)
    return order, outcome


def sweep(store: Store, provider: Provider, *, now: float) -> dict[str, list[str]]:
    """Close the orders past expiry, and the other codes of a payment paid by one of them
    (the resident paid; the second code must stop taking money), and free their lines; but
    ask the provider first, in case a notification was lost: paid wins (and a pair paid
    twice is refunded). Returns the order ids by what happened."""
    done: dict[str, list[str]] = {"paid": [], "paid_conflict": [], "closed": [], "expired_unclosed": []}
    due = store.query("SELECT * FROM payment_orders o WHERE o.status IN ('created', 'expired_unclosed') AND o.provider = ? "
                      "AND (o.expires_at <= ? OR EXISTS (SELECT 1 FROM payment_orders p WHERE p.status IN ('paid', 'paid_conflict') "
                      "AND p.id != o.id AND (p.id = COALESCE(o.pair_of, o.id) OR p.pair_of = COALESCE(o.pair_of, o.id)))) "
                      "ORDER BY o.expires_at LIMIT 200", (provider.name, now))
    for order in due:
        try:
            trade = provider.query_order(order["out_trade_no"])
            if trade.trade_state != "SUCCESS":
                try:
                    provider.close_order(order["out_trade_no"])
                except OrderAlreadyPaid:  # paid between our query and the close
                    trade = provider.query_order(order["out_trade_no"])
        except ProviderUnavailable as exc:
            log.warning("payment order %s past expiry, the provider does not answer (%s): lines stay locked", order["id"], exc)
            if store.execute("UPDATE payment_orders SET status = 'expired_unclosed' WHERE id = ? AND status = 'created'",
                             (order["id"],)).rowcount:
                done["expired_unclosed"].append(order["id"])
            continue
        if trade.trade_state == "SUCCESS":
            if trade.amount_total not in (None, int(order["amount_fen"])):
                log.error("payment order %s: the provider reports %s fen paid, the order is %s: left for a person",
                          order["id"], trade.amount_total, order["amount_fen"])
                continue
            outcome = record_payment(store, order, trade, now=now, source="query")
            if outcome == "paid_conflict":
                refund_paid_twice(store, provider, order, now=now)
            if outcome != "unchanged":
                done[outcome].append(order["id"])
            continue
        with store.transaction():
            if store.execute("UPDATE payment_orders SET status = 'closed', closed_at = ? WHERE id = ? "
                             "AND status IN ('created', 'expired_unclosed')", (now, order["id"])).rowcount == 1:
                lock = _lock_of(order)  # a pair's lines are free once neither of its orders is live
                if not store.scalar("SELECT count(*) FROM payment_orders WHERE (id = ? OR pair_of = ?) "
                                    "AND status IN ('created', 'expired_unclosed')", (lock, lock)):
                    store.execute("UPDATE bill_lines SET order_id = NULL WHERE order_id = ? AND status = 'unpaid'", (lock,))
                event(store, order["id"], now, "closed", trade_state=trade.trade_state)
                done["closed"].append(order["id"])
    return done


def payment_view(store: Store, order: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`order_view`, and for the first order of a pair the resident's payment as one:
    ``pair`` (the other codes' views), ``outcome`` (``paid``/``paid_conflict`` as soon as
    either code is paid, ``closed``/``failed`` once every code is) and ``settled`` (every
    code final and a second payment's refund recorded: nothing more will change but that
    refund's status). A lone order's outcome is its status.
    The hall watches the first order alone: one long poll per payment, not one per code."""
    view = order_view(store, order)
    others = store.query("SELECT * FROM payment_orders WHERE pair_of = ? ORDER BY created_at", (order["id"],)) \
        if order.get("pair_of") is None else []
    members = [view, *(order_view(store, o) for o in others)]
    paid = [m["status"] for m in members if m["status"] in ("paid", "paid_conflict")]
    if paid:
        outcome = "paid" if "paid" in paid else paid[0]
    elif all(m["status"] in FINAL for m in members):
        outcome = "closed" if any(m["status"] == "closed" for m in members) else "failed"
    else:
        outcome = "created"
    # A second payment is flagged paid_conflict in one transaction and its refund recorded in
    # the next: between them the pair is not settled yet, or the hall's long poll would end
    # without the refund and never hear of it.
    refund_due = "paid" in paid and any(m["status"] == "paid_conflict" and m.get("refund") is None for m in members)
    view.update(outcome=outcome, settled=all(m["status"] in FINAL for m in members) and not refund_due)
    if others:
        view["pair"] = members[1:]
    return view


def siblings_due(store: Store, order: Mapping[str, Any]) -> bool:
    """Whether ``order`` (just paid) has another code still open that should now be closed."""
    lead = _lock_of(order)
    return bool(store.scalar("SELECT count(*) FROM payment_orders WHERE (id = ? OR pair_of = ?) AND id != ? "
                             "AND status IN ('created', 'expired_unclosed')", (lead, lead, order["id"])))


def wait_final(load: Callable[[], dict[str, Any] | None], event: threading.Event, timeout: float,
               clock: Callable[[], float] = time.monotonic,
               stopping: threading.Event | None = None,
               done: Callable[[dict[str, Any]], bool] = lambda view: view["status"] in FINAL) -> dict[str, Any] | None:
    """Until ``done(order)`` (by default: the order is final) or ``timeout`` passes: woken by
    ``event`` at once when this process records it, and looking at the database every second
    for other workers. Ends early, with the order as it stands, when ``stopping`` is set (the
    server is stopping: no request may outlive it)."""
    deadline = clock() + timeout
    while True:
        order = load()
        if order is None or done(order):
            return order
        left = deadline - clock()
        if left <= 0 or (stopping is not None and stopping.is_set()):
            return order
        if event.wait(min(left, 1.0)):
            event.clear()
