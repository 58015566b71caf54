"""Who is in the hall: every node's availability, birth and last sign of life, and the
``ping`` that tells a kiosk (or ``hall doctor``) the edge agent itself answers.

Availability (``$state``, ``birth``, ESPHome ``status``) is written to the ``nodes`` table on
the bus worker. Readings, events and text sensors only mark the node seen, in memory, on
paho's network thread for readings (hundreds a second); a timer of this
component writes the last-seen times every ``flush_every`` seconds. Every message handled
here is counted for ``/metrics``.

Example::

    nodes = Nodes(config, db_path=path, metrics=EdgeMetrics(), syncs=False)
    nodes.attach(bus)
    nodes.start()
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from central_sync import client as outbox
from hall_common.bus import contract
from hall_common.bus.client import BusMessage
from hall_common.bus.methods import NoArgs
from hall_common.config import EdgeConfig

from .component import Component, route, subscribe
from .metrics import EdgeMetrics
from .registry import Registry


class Nodes(Component):
    name = "nodes"

    def __init__(self, config: EdgeConfig, *, db_path: Path, metrics: EdgeMetrics, syncs: bool,
                 session: Callable[[], int] = lambda: 0, flush_every: float = 2.0) -> None:
        self.hall, self.node, self.syncs, self.metrics, self._session = (
            config.hall_id, config.node_id, syncs, metrics, session)
        self.registry = Registry(self.own_connection(db_path), stale_after=config.stale_after, devices=config.devices)
        self.every(flush_every, self.flush, name="last-seen")

    def flush(self) -> int:
        """Write the last-seen times noted in memory; how many nodes."""
        with self._lock:
            return self.registry.flush_seen()

    # -- availability (bus worker) ------------------------------------------------------------

    @subscribe(contract.NODE_STATE)
    @subscribe(contract.BIRTH)
    def on_availability(self, msg: BusMessage) -> None:
        """A hall node's ``$state`` or ``birth`` (the edge's own are not news to it)."""
        self.metrics.count(msg)
        if msg.parts["node"] != self.node:
            record = self.registry.on_birth if msg.family is contract.BIRTH else self.registry.on_state
            with self._lock:
                record(msg.parts["node"], msg.payload)

    @subscribe(contract.ESPHOME_STATUS)
    def on_esphome_status(self, msg: BusMessage) -> None:
        self.metrics.count(msg)
        with self._lock:
            self.registry.on_esphome_status(msg.parts["node"], msg.payload)

    @subscribe(contract.CONFIG_REPORTED)
    def on_config_reported(self, msg: BusMessage) -> None:
        self.metrics.count(msg)

    def retire(self, nodes: set[str]) -> None:
        """Logins the centre's roster took away (:mod:`.roster`): those nodes are retired."""
        with self._lock:
            for node in sorted(nodes - {self.node}):
                self.registry.retire(node)

    # -- signs of life (memory only) -----------------------------------------------------------

    @subscribe(contract.ESPHOME_SENSOR, inline=True)
    @subscribe(contract.TELEMETRY, inline=True)
    @subscribe(contract.ESPHOME_BINARY)
    @subscribe(contract.ESPHOME_TEXT)
    def on_sign_of_life(self, msg: BusMessage) -> None:
        """A reading, a door or a text sensor: the node is alive now (memory only)."""
        self.metrics.count(msg)
        self.registry.seen(msg.parts["node"])

    # -- requests ----------------------------------------------------------------------------

    @route("ping")
    def handle_ping(self, requester: str, args: NoArgs) -> dict[str, Any]:
        """Lets a kiosk (or ``hall doctor``) tell that the edge agent itself answers."""
        sync = None
        if self.syncs:
            with self._lock:
                sync = outbox.status(self.db).as_dict()
        return {"hall": self.hall, "session": self._session(), "ts": time.time(), "sync": sync}
