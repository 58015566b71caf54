"""Paying bills at a kiosk, the hall's side: orders relayed to the centre, watched until
the money comes, the kiosk told over the bus, and a receipt for every payment.

Bus requests from kiosks (the kiosk's own orders only; another kiosk's order id is "not
found"):

* ``pay`` ``{room, bill_ids, printer?}`` → the centre makes the order from the bill ids (it
  sums the lines; an amount sent here is refused before it leaves the hall) → ``{order_id,
  out_trade_no, amount_fen, code_url, expires_at}``. The order is kept in ``edge.db`` and a
  watcher long-polls the centre for it.
  With every other wallet the centre offers, the edge asks for a second order ``beside`` the
  first for the same lines (each its own out_trade_no); the answer's ``codes`` lists one QR
  per wallet, and the kiosk knows the payment by the first order's id only: it is paid when
  either code is (:meth:`PaymentDesk._pair`). Paid with both, the centre refunds the second,
  and the receipt says so.
* ``payment_status`` ``{order_id}`` → ``{order_id, status, amount_fen, paid_at}`` (after a
  reconnect, in case an outcome was missed).
* ``payment_receipt`` ``{order_id, job}`` → the receipt's print job, once per order: asked
  again, it answers the job already made.

When the centre says an order is final (``paid``, ``paid_conflict``, ``closed``,
``failed``), the edge publishes a ``PaymentOutcome`` on ``hall/v1/{hall}/payment/{kiosk}``;
the kiosk shows "paid" and asks for the receipt. A payment that lands after the resident
left is recorded at the centre all the same; the staff console's payments page looks the
open orders up again and prints their receipts at the counter (:meth:`PaymentDesk.counter_receipt`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from hall_common.bus import contract
from hall_common.bus.methods import OrderArgs, PayArgs, ReceiptArgs
from hall_common.bus.payloads import PaymentOutcome
from hall_common.errors import RequestFailed
from hall_common.storage import open_database

from .centre_api import CentreAPI
from .component import Component, route

log = logging.getLogger(__name__)

FINAL = ("paid", "paid_conflict", "closed", "failed")
PAID = ("paid", "paid_conflict")
WAIT_S = 20.0
"""Each long poll asks the centre to answer within this long (the centre caps it at 25)."""
RESUME_S = 24 * 3600.0
"""Open orders younger than this are watched again after the agent restarts."""


class PaymentDesk(Component):
    name = "payments"

    def __init__(self, *, db_path: Any, centre: CentreAPI, bus: Any, printing: Any, timezone: str = "Asia/Shanghai",
                 clock: Callable[[], float] = time.time, retry_s: float = 2.0) -> None:
        self.db = open_database(db_path, shared_thread=True)
        self.centre, self.bus, self.printing, self.clock = centre, bus, printing, clock
        self.zone = ZoneInfo(timezone)
        self.retry_s = retry_s
        self._lock = threading.RLock()
        self._watching: set[str] = set()
        self._stop = threading.Event()
        self._closed = False

    # -- bus requests ------------------------------------------------------------------------

    @route("pay")
    def handle_pay(self, requester: str, args: PayArgs) -> dict[str, Any]:
        room, ids, printer = args.room, args.bill_ids, args.printer
        made = self.centre.call("POST", "/api/v1/payments/orders", {"room": room, "bill_ids": ids, "kiosk": requester},
                                what="payment order")
        order_id = str(made["order_id"])
        seconds = self._second_codes(made, room, ids, requester)
        # The lines for the receipt: the centre's own view (item, period, amount each).
        try:
            lines = self.centre.call("GET", f"/api/v1/payments/orders/{order_id}", what="payment order").get("lines", [])
        except RequestFailed:
            lines = []  # the watcher fills them in with the final view
        now = self.clock()
        with self._lock:
            self.db["payment_orders"].insert({
                "order_id": order_id, "out_trade_no": str(made["out_trade_no"]), "kiosk": requester, "printer": printer,
                "room": room, "amount_fen": int(made["amount_fen"]), "lines_json": json.dumps(lines, ensure_ascii=False),
                "status": "created", "created_at": now, "expires_at": float(made["expires_at"]), "paid_at": None,
                "receipt_job": None, "updated_at": now, "provider": made.get("provider"), "pair_of": None}, replace=True)
            for second in seconds:
                self.db["payment_orders"].insert({
                    "order_id": str(second["order_id"]), "out_trade_no": str(second["out_trade_no"]), "kiosk": requester,
                    "printer": printer, "room": room, "amount_fen": int(second["amount_fen"]),
                    "lines_json": json.dumps(lines, ensure_ascii=False), "status": "created", "created_at": now,
                    "expires_at": float(second["expires_at"]), "paid_at": None, "receipt_job": None, "updated_at": now,
                    "provider": second.get("provider"), "pair_of": order_id}, replace=True)
        log.info("payment order %s for %d fen started at %s (%d wallets)", order_id, int(made["amount_fen"]), requester,
                 1 + len(seconds))
        self.watch(order_id)  # the centre answers for the pair through its first order
        codes = [{"wallet": str(one.get("provider") or ""), "code_url": str(one["code_url"]),
                  "out_trade_no": str(one["out_trade_no"])} for one in (made, *seconds)]
        return {**{k: made[k] for k in ("order_id", "out_trade_no", "amount_fen", "code_url", "expires_at")},
                "codes": codes}

    def _second_codes(self, made: dict[str, Any], room: str, ids: list[str], requester: str) -> list[dict[str, Any]]:
        """One more order per other wallet the centre offers, for the same lines (``beside``
        the first): the resident pays with either. A wallet that fails is left out; the
        first code works on its own."""
        seconds = []
        for wallet in made.get("wallets") or []:
            if wallet == made.get("provider"):
                continue
            try:
                seconds.append(self.centre.call("POST", "/api/v1/payments/orders",
                                                {"room": room, "bill_ids": ids, "kiosk": requester, "provider": wallet,
                                                 "beside": str(made["order_id"])}, what="payment order"))
            except RequestFailed as exc:
                log.warning("payment order %s: no second code in %s (%s); the first stands alone", made["order_id"],
                            wallet, exc)
        return seconds

    @route("payment_status")
    def handle_status(self, requester: str, args: OrderArgs) -> dict[str, Any]:
        return self._public(self._pair(self._mine(requester, args.order_id)))

    @route("payment_receipt")
    def handle_receipt(self, requester: str, args: ReceiptArgs) -> dict[str, Any]:
        row = self._pair(self._mine(requester, args.order_id))
        job = args.job
        if row["status"] not in PAID:
            raise RequestFailed("not_paid", f"order {row['order_id']} is {row['status']}")
        with self._lock:
            row = self._pair(self._row(row["order_id"]))
            if row["receipt_job"]:
                return self.printing.view(row["receipt_job"]) or {"job": row["receipt_job"], "status": "failed"}
            view = self.printing.submit(job, requester, "payment_receipt", self.receipt_fields(row),
                                        preferred=row["printer"])
            self._update(row["order_id"], receipt_job=job)
        return view

    # -- staff console -----------------------------------------------------------------------

    def recent(self, *, days: float = 7.0) -> list[dict[str, Any]]:
        since = self.clock() - days * 86400
        with self._lock:  # a pair's second code is part of its first order's payment
            rows = list(self.db.query("SELECT * FROM payment_orders WHERE created_at >= ? AND pair_of IS NULL "
                                      "ORDER BY created_at DESC", [since]))
        return [self._pair(row) for row in rows]

    def paid_between(self, start: float, end: float) -> list[dict[str, Any]]:
        """Orders paid (``paid`` or ``paid_conflict``) from ``start`` up to ``end``, the
        earliest first: the day's and the shift's QR takings on the handover sheet."""
        with self._lock:
            if self._closed:
                return []
            return list(self.db.query(
                "SELECT order_id, out_trade_no, kiosk, amount_fen, status, paid_at FROM payment_orders "
                "WHERE status IN ('paid', 'paid_conflict') AND paid_at >= ? AND paid_at <= ? AND refund_fen IS NULL "
                "ORDER BY paid_at",
                [start, end]))

    def refresh(self) -> int:
        """Ask the centre again about orders not known to be paid (a payment may have landed
        after the order closed, or while the hall's link was down). Returns how many changed."""
        changed = 0
        since = self.clock() - RESUME_S
        with self._lock:
            rows = list(self.db.query("SELECT order_id, status FROM payment_orders WHERE status NOT IN ('paid', 'paid_conflict') "
                                      "AND created_at >= ?", [since]))
        for row in rows:
            try:
                view = self.centre.call("GET", f"/api/v1/payments/orders/{row['order_id']}", what="payment order")
            except RequestFailed:
                break
            if view.get("status") != row["status"]:
                self._record(view)
                changed += 1
        return changed

    def counter_receipt(self, order_id: str, printer: str) -> dict[str, Any]:
        """Print ``order_id``'s receipt at ``printer`` for staff: an original if no receipt
        was printed (the resident left, or the kiosk's printer failed), otherwise a reprint
        (marked as such on the paper)."""
        with self._lock:
            row = self._row(order_id)
            if row is None:
                raise RequestFailed("not_found", f"no payment order {order_id}")
            row = self._pair(row)
            order_id = row["order_id"]
            if row["status"] not in PAID:
                raise RequestFailed("not_paid", f"order {order_id} is {row['status']}")
            earlier = self.printing.view(row["receipt_job"]) if row["receipt_job"] else None
            if earlier is not None and earlier["status"] != "failed":  # a receipt is out (or on its way)
                return self.printing.reprint(row["receipt_job"], printer=printer)
            job = str(uuid.uuid4())
            view = self.printing.submit(job, contract.EDGE_NODE, "payment_receipt", self.receipt_fields(row),
                                        preferred=printer)
            self._update(order_id, receipt_job=job)
            return view

    def receipt_fields(self, row: dict[str, Any]) -> dict[str, Any]:
        lines = json.loads(row["lines_json"])
        items = [{"name": line["item"], "period": line.get("period", ""), "amount_fen": int(line["amount_fen"])}
                 for line in lines]
        paid = datetime.fromtimestamp(row["paid_at"] or row["updated_at"], self.zone).strftime("%Y-%m-%d %H:%M")
        fields = {"room": row["room"], "items": items, "total_fen": sum(i["amount_fen"] for i in items),
                  "reference": row["out_trade_no"], "paid_at": paid}
        if row.get("refund_fen"):
            fields.update(refund_notes(int(row["refund_fen"]), row.get("refund_wallet")))
        return fields

    # -- watching the centre -----------------------------------------------------------------

    def start(self) -> None:
        """Watch again the orders left open when the agent stopped."""
        since = self.clock() - RESUME_S
        with self._lock:
            open_ = list(dict.fromkeys(r["lead"] for r in self.db.query(  # a pair through its first order
                "SELECT coalesce(pair_of, order_id) AS lead FROM payment_orders "
                "WHERE status NOT IN ('paid', 'paid_conflict', 'closed', 'failed') AND created_at >= ?", [since])))
        for order_id in open_:
            self.watch(order_id)

    def stop(self) -> None:
        """Stop watching (the orders stay open at the centre; :meth:`start` resumes them)."""
        self._stop.set()

    def close(self) -> None:
        """Stop and close the database; a watcher still in a long poll finds it closed and ends."""
        self.stop()
        with self._lock:
            self._closed = True
            self.db.close()

    def watch(self, order_id: str) -> None:
        with self._lock:
            if order_id in self._watching:
                return
            self._watching.add(order_id)
        threading.Thread(target=self._watch, args=(order_id,), name=f"pay-{order_id[:8]}", daemon=True).start()

    def _watch(self, order_id: str) -> None:
        """Long-poll the centre until the payment has an outcome (the kiosk is told at once),
        then until every code of it is final (a second payment's refund is news for the
        receipt); a network failure waits and tries again (the centre keeps the order; the
        outcome is only late). One poll per payment: a pair is watched through its first
        order, so each open code does not hold one of the centre's threads."""
        until = "outcome"
        try:
            while not self._stop.is_set():
                try:
                    view = self.centre.call("GET", f"/api/v1/payments/orders/{order_id}?wait={WAIT_S:g}&until={until}",
                                            timeout=WAIT_S + 10, what="payment order")
                except RequestFailed as exc:
                    if exc.code == "not_found":
                        log.error("payment order %s: the centre does not know it", order_id)
                        return
                    self._stop.wait(self.retry_s)
                    continue
                if self._stop.is_set():
                    return
                self._record(view)
                if view.get("settled", view.get("status") in FINAL):
                    return
                if view.get("outcome") in FINAL:
                    until = "settled"
                row = self._row(order_id)
                if row is not None and self.clock() > row["expires_at"] + RESUME_S:
                    return  # the centre never closed it: the console's refresh will tell
        finally:
            with self._lock:
                self._watching.discard(order_id)

    def _record(self, view: dict[str, Any]) -> None:
        """Keep what the centre says of an order (and of its pair's other codes, when the view
        is a pair's), and tell the kiosk once the payment's outcome is known."""
        order_id = str(view["order_id"])
        with self._lock:
            row = self._row(order_id)
            if row is None:
                return
            before = self._pair(row)["status"]
            for one in (view, *(view.get("pair") or [])):
                if isinstance(one, dict) and self._row(str(one.get("order_id"))) is not None:
                    self._update(str(one["order_id"]), **self._changes(one))
            pair = self._pair(self._row(order_id))
        if pair["status"] == before:
            return  # nothing new for the kiosk (a long poll that timed out, or a refund's news)
        log.info("payment order %s: %s", order_id, pair["status"])
        if pair["status"] not in FINAL:
            return  # the other code of the pair may still be paid
        self.bus.publish(contract.PAYMENT_OUTCOME,
                         PaymentOutcome(order_id=pair["order_id"], status=pair["status"], amount_fen=int(pair["amount_fen"]),
                                        paid_at=pair.get("paid_at"), ts=self.clock()),
                         hall=self.bus.hall_id, node=row["kiosk"])

    @staticmethod
    def _changes(view: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {"status": view["status"], "paid_at": view.get("paid_at")}
        if view.get("lines"):
            changes["lines_json"] = json.dumps(view["lines"], ensure_ascii=False)
        refund = view.get("refund")
        if isinstance(refund, dict):
            changes.update(refund_status=str(refund.get("status")), refund_fen=int(refund.get("amount_fen") or 0))
        return changes

    def _pair(self, row: dict[str, Any] | None) -> dict[str, Any]:
        """A kiosk's payment as one: the first order's row with the pair's status (paid if
        either code is paid, closed when both are), the paid code's reference and time,
        and the other's refund when both were paid. A lone order is itself."""
        if row is None:
            raise RequestFailed("not_found", "no such payment order of this kiosk")
        first = str(row["pair_of"] or row["order_id"])
        with self._lock:
            members = list(self.db.query("SELECT * FROM payment_orders WHERE order_id = ? OR pair_of = ? ORDER BY created_at",
                                         [first, first]))
        lead = next((m for m in members if m["order_id"] == first), row)
        if len(members) < 2:
            return lead
        paid = [m for m in members if m["status"] == "paid"] or [m for m in members if m["status"] == "paid_conflict"]
        if paid:
            credited = paid[0]
            status = credited["status"]
        elif all(m["status"] in ("closed", "failed") for m in members):
            credited, status = lead, "closed" if any(m["status"] == "closed" for m in members) else "failed"
        else:
            credited, status = lead, "created"
        second = next((m for m in members if m["refund_fen"]), None)
        return {**lead, "status": status, "paid_at": credited["paid_at"], "out_trade_no": credited["out_trade_no"],
                "refund_fen": second["refund_fen"] if second else None,
                "refund_status": second["refund_status"] if second else None,
                "refund_wallet": second["provider"] if second else None}

    # -- rows --------------------------------------------------------------------------------

    def _mine(self, requester: str, order_id: str) -> dict[str, Any]:
        row = self._row(order_id)
        if row is None or row["kiosk"] != requester:
            raise RequestFailed("not_found", "no such payment order of this kiosk")
        return row

    def _row(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            if self._closed:
                return None
            return next(self.db.query("SELECT * FROM payment_orders WHERE order_id = ?", [order_id]), None)

    def _update(self, order_id: str, **changes: Any) -> None:
        with self._lock:
            if self._closed:
                return
            self.db["payment_orders"].update(order_id, {**changes, "updated_at": self.clock()})

    @staticmethod
    def _public(row: dict[str, Any]) -> dict[str, Any]:
        return {"order_id": row["order_id"], "status": row["status"], "amount_fen": row["amount_fen"],
                "paid_at": row["paid_at"], "receipt_job": row["receipt_job"], "refund_fen": row.get("refund_fen"),
                "refund_status": row.get("refund_status"), "refund_wallet": row.get("refund_wallet")}


WALLET_NAMES = {"alipay": ("支付宝", "Alipay"), "wechat": ("微信支付", "WeChat Pay"), "sandbox": ("微信支付", "WeChat Pay")}


def refund_notes(fen: int, wallet: str | None) -> dict[str, str]:
    """The receipt's lines for a bill paid with both wallets: the second payment goes back."""
    zh, en = WALLET_NAMES.get(wallet or "", ("另一钱包", "the other wallet"))
    money = f"¥{fen // 100}.{fen % 100:02d}"
    return {"refund_note": f"重复支付：{zh}的 {money} 正在原路退回",
            "refund_note_en": f"Paid twice: {en} {money} is being refunded"}

