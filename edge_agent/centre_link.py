"""The edge agent's watch on the centre: it checks the central server every few seconds
and publishes the result as the retained state of its ``centre`` device, so kiosks can
say "bills are unavailable now" without each of them probing the centre."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request

from typing import Callable

from hall_common.bus import contract
from hall_common.bus.client import BusClient
from hall_common.bus.payloads import DeviceState
from hall_common.config import CentreLink

log = logging.getLogger(__name__)


class CentreWatch:
    """Polls ``{url}/healthz`` on its own thread (never the bus worker's) and publishes
    ``hall/v1/{hall}/edge/centre/state`` when the answer changes, and once a minute."""

    def __init__(self, bus: BusClient, link: CentreLink, *, every: float = 5.0,
                 on_online: Callable[[], None] | None = None) -> None:
        self.bus, self.link, self.every = bus, link, every
        self.on_online = on_online
        """Called when the centre answers again after it did not (the sync worker pushes at
        once instead of sleeping out a backoff that grew during a long outage)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.online: bool | None = None

    def check(self) -> bool:
        try:
            with urllib.request.urlopen(self.link.url.rstrip("/") + "/healthz", timeout=self.link.timeout) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _run(self) -> None:
        last_sent = 0.0
        while not self._stop.is_set():
            online = self.check()
            if online != self.online or time.monotonic() - last_sent > 60:
                if online != self.online:
                    log.info("centre %s is %s", self.link.url, "reachable" if online else "unreachable")
                    if online and self.online is False and self.on_online is not None:
                        self.on_online()
                self.online = online
                if self.bus.connected:
                    self.bus.publish(contract.DEVICE_STATE, DeviceState(kind="centre", online=online, ts=time.time()),
                                     hall=self.bus.hall_id, node=self.bus.node_id, dev="centre")
                    last_sent = time.monotonic()
            self._stop.wait(self.every)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="centre-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
