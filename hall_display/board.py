"""What the board shows: the latest retained queue state from the edge agent."""

from __future__ import annotations

import threading

from hall_common.bus import contract
from hall_common.bus.client import BusClient, BusMessage
from hall_common.bus.payloads import QueueState


class BoardState:
    """Holds the newest :class:`QueueState`; fed by the bus worker, read by web requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: QueueState | None = None

    def follow(self, bus: BusClient) -> None:
        bus.subscribe(contract.QUEUE_STATE.filter(hall=bus.hall_id), self._on_state)

    def _on_state(self, msg: BusMessage) -> None:
        with self._lock:
            self._state = msg.payload

    @property
    def current(self) -> QueueState | None:
        with self._lock:
            return self._state
