"""What the kiosk knows of the hall right now, from the bus: is the edge agent there, can
the centre be reached, can a ticket be printed. Each answer picks a screen a resident
understands (DESIGN rule 4): the kiosk never shows a stack trace for a missing part."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from hall_common.bus import contract
from hall_common.bus.client import BusClient, BusMessage
from hall_common.bus.payloads import DeviceState, QueueState
from hall_common.link import EdgeWatch


@dataclass(frozen=True)
class Snapshot:
    edge_up: bool
    centre_up: bool
    printer_ok: bool
    printer_known: bool = False
    """True once the edge has reported any printer: with none reported yet, the kiosk says
    nothing about paper."""


class HallStatus:
    """Follows the edge's retained ``$state`` and the state of the edge's devices: the
    ``centre`` link it checks, and its printers."""

    def __init__(self, bus: BusClient) -> None:
        self.bus = bus
        self.edge = EdgeWatch(bus)
        self._devices: dict[str, DeviceState] = {}
        self._lock = threading.Lock()
        self.announcement = ""
        """The hall's announcement line from the centre ("" for none), via the edge."""
        self.queue: QueueState | None = None
        """The queue as the edge last published it (services, people waiting, estimates)."""
        bus.subscribe(contract.DEVICE_STATE.filter(hall=bus.hall_id, node=contract.EDGE_NODE), self._on_device)
        bus.subscribe(contract.QUEUE_STATE.topic(hall=bus.hall_id), self._on_queue)
        bus.subscribe(contract.ANNOUNCEMENT.topic(hall=bus.hall_id), self._on_announcement)

    def _on_device(self, msg: BusMessage) -> None:
        with self._lock:
            self._devices[msg.parts["dev"]] = msg.payload

    def _on_queue(self, msg: BusMessage) -> None:
        self.queue = msg.payload

    def _on_announcement(self, msg: BusMessage) -> None:
        self.announcement = msg.payload.text

    def printer_names(self) -> set[str]:
        """The printers the edge has reported, by device id."""
        with self._lock:
            return {dev for dev, d in self._devices.items() if d.kind == "printer"}

    def snapshot(self) -> Snapshot:
        edge_up = self.edge.edge_up
        with self._lock:
            devices = dict(self._devices)
        centre = devices.get("centre")
        printers = [d for d in devices.values() if d.kind == "printer"]
        printer_ok = any(d.online and d.status.get("paper") != "out" and not d.status.get("cover_open") for d in printers)
        return Snapshot(
            edge_up=edge_up,
            centre_up=edge_up and centre is not None and centre.online,
            printer_ok=edge_up and printer_ok,
            printer_known=bool(printers),
        )


OFFLINE = Snapshot(edge_up=False, centre_up=False, printer_ok=False)
"""What a kiosk without a bus (a test of pages alone) reports."""
