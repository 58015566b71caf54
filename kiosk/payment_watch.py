"""The kiosk's ear for payment outcomes: the edge says on ``hall/v1/{hall}/payment/{node}``
when an order this kiosk started is paid or closed, and a page waiting for it wakes at once.

The outcome is one QoS 1 message, not retained; if the kiosk was reconnecting when it came,
:meth:`PaymentWatch.wait` asks the edge (``payment_status``) when its wait runs out, so a
page that polls again learns it then.

Example::

    watch = PaymentWatch(bus)                 # before bus.start(): it subscribes
    status = watch.wait(order_id, timeout=20)  # "paid", "closed", ... or "created"
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from hall_common.bus import contract
from hall_common.bus.client import BusClient, BusMessage
from hall_common.errors import HallError

log = logging.getLogger(__name__)

FINAL = frozenset({"paid", "paid_conflict", "closed", "failed"})
KEEP_S = 3600.0


class PaymentWatch:
    def __init__(self, bus: BusClient) -> None:
        self.bus = bus
        self._cond = threading.Condition()
        self._known: dict[str, tuple[str, float]] = {}
        self._closed = False
        bus.subscribe(contract.PAYMENT_OUTCOME.filter(hall=bus.hall_id, node=bus.node_id), self._on_outcome)

    def status(self, order_id: str) -> str | None:
        with self._cond:
            known = self._known.get(order_id)
        return known[0] if known else None

    def wait(self, order_id: str, timeout: float) -> str:
        """The order's status once final, or after ``timeout`` seconds what the edge says now.
        After :meth:`close`, at once (no request may outlive the kiosk's server)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                known = self._known.get(order_id)
                if known and known[0] in FINAL:
                    return known[0]
                if self._closed:
                    return known[0] if known else "unknown"
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        return self._ask(order_id)

    def close(self) -> None:
        """Wake every page waiting on an order: the kiosk is stopping."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _ask(self, order_id: str) -> str:
        try:
            answer: dict[str, Any] = self.bus.request("payment_status", {"order_id": order_id}, timeout=3.0)
        except HallError as exc:
            log.warning("payment order %s: no status from the edge (%s)", order_id, exc)
            return "unknown"
        status = str(answer.get("status", "unknown"))
        self._note(order_id, status)
        return status

    def _on_outcome(self, msg: BusMessage) -> None:
        self._note(msg.payload.order_id, msg.payload.status)

    def _note(self, order_id: str, status: str) -> None:
        now = time.monotonic()
        with self._cond:
            self._known[order_id] = (status, now)
            for old in [k for k, (_, ts) in self._known.items() if now - ts > KEEP_S]:
                del self._known[old]
            self._cond.notify_all()
