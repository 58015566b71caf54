"""The edge agent's watch on its printers: each printer is asked its real-time status
(DLE EOT 1..4) every few seconds, on a thread of its own with a timeout in seconds, so a
hung or unplugged printer delays nobody else. Its state is published retained on the bus
(``hall/v1/{hall}/edge/{printer}/state``) when it changes: kiosks use it to offer the
on-screen ticket when paper is out, and staff see it."""

from __future__ import annotations

import logging
import socket
import threading
import time

from hall_common.bus import contract
from hall_common.bus.client import BusClient
from hall_common.bus.payloads import DeviceState
from hall_common.config import PrinterConfig
from hall_common.escpos_status import PrinterStatus, StatusError, decode, query

log = logging.getLogger(__name__)


def ask(host: str, port: int, timeout: float) -> PrinterStatus:
    """Ask a network printer its status; an unreachable or silent one is offline."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            answers = {}
            for n in (1, 2, 3, 4):
                s.sendall(query(n))
                reply = s.recv(1)
                if not reply:
                    raise ConnectionError("closed")
                answers[n] = reply[0]
        return decode(answers)
    except (OSError, StatusError) as exc:
        log.debug("printer %s:%s does not answer: %s", host, port, exc)
        return PrinterStatus(online=False)


class PrinterWatch:
    def __init__(self, bus: BusClient, printers: list[PrinterConfig], *, every: float = 3.0) -> None:
        self.bus, self.printers, self.every = bus, printers, every
        self.states: dict[str, PrinterStatus] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for p in self.printers:
            t = threading.Thread(target=self._run, args=(p,), name=f"printer-{p.id}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)

    def _run(self, printer: PrinterConfig) -> None:
        last_sent = 0.0
        while not self._stop.is_set():
            status = ask(printer.host, printer.port, printer.timeout)
            changed = self.states.get(printer.id) != status
            if changed:
                log.info("printer %s: %s", printer.id, status)
            self.states[printer.id] = status
            if (changed or time.monotonic() - last_sent > 60) and self.bus.connected:
                self.bus.publish(
                    contract.DEVICE_STATE,
                    DeviceState(kind="printer", online=status.online, ts=time.time(), status={
                        "paper": status.paper, "cover_open": status.cover_open,
                        "error": status.cutter_error or status.unrecoverable, "can_print": status.can_print}),
                    hall=self.bus.hall_id, node=self.bus.node_id, dev=printer.id,
                )
                last_sent = time.monotonic()
            self._stop.wait(self.every)
