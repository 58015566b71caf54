"""The registers' side of the handover contract, kept in memory, for tests of the handover
while the registers component (issue 17, item 3) is built beside it.

The contract: ``services.registers.open_for_handover(now) -> dict[str, list[dict]]`` with
the keys ``keys_out``, ``parcels_waiting`` and ``renovations_due``, each item a dict with at
least ``id``, ``text`` (one Chinese line) and ``since``, taken under the registers' lock.
Once the registers are on main, tests use them and this goes.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any


class PaperRegisters:
    """Keys lent, parcels received and renovations registered, as the front desk's paper
    books would list them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, list[dict[str, Any]]] = {"keys_out": [], "parcels_waiting": [], "renovations_due": []}
        self.asked: list[float] = []

    def _add(self, key: str, text: str, since: float, **extra: Any) -> dict[str, Any]:
        item = {"id": str(uuid.uuid4()), "text": text, "since": since, **extra}
        with self._lock:
            self._items[key].append(item)
        return item

    def key_out(self, text: str, since: float, due: float | None = None) -> dict[str, Any]:
        return self._add("keys_out", text, since, due=due, id_checked=True)

    def parcel_in(self, text: str, since: float) -> dict[str, Any]:
        return self._add("parcels_waiting", text, since, shelf="A-03", phone="13812345678")

    def renovation(self, text: str, since: float, due: float) -> dict[str, Any]:
        return self._add("renovations_due", text, since, due=due)

    def done(self, item_id: str) -> None:
        """The key came back, the parcel was picked up, the renovation was inspected."""
        with self._lock:
            for items in self._items.values():
                items[:] = [i for i in items if i["id"] != item_id]

    def open_for_handover(self, now: float) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            self.asked.append(now)
            return {key: [dict(i) for i in items] for key, items in self._items.items()}
