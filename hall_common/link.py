"""A node's view of the edge agent: is it there? Kiosks and the board both need this to
say plainly when the hall system is unreachable (DESIGN rule 4)."""

from __future__ import annotations

import threading

from hall_common.bus import contract
from hall_common.bus.client import BusClient, BusMessage


class EdgeWatch:
    """Follows the edge agent's retained ``$state`` on the bus.

    The edge is *up* when the broker is reachable and the edge's last state is ``ready``.
    """

    def __init__(self, bus: BusClient) -> None:
        self._bus = bus
        self._state = "unknown"
        self._session = -1
        self._lock = threading.Lock()
        bus.subscribe(contract.NODE_STATE.filter(hall=bus.hall_id, node=contract.EDGE_NODE), self._on_state)

    def _on_state(self, msg: BusMessage) -> None:
        with self._lock:
            if msg.payload.session >= self._session:
                self._state, self._session = msg.payload.state, msg.payload.session

    @property
    def broker_up(self) -> bool:
        return self._bus.connected

    @property
    def edge_up(self) -> bool:
        with self._lock:
            return self._bus.connected and self._state == "ready"
