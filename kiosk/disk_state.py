"""The kiosk's own disk, told to the hall: retained on ``hall/v1/{hall}/{node}/disk/state``.

A kiosk needs its disk only for its applied configuration, the voice cache and its logs;
tickets, complaints and bills are the edge's to store. So a full disk does not stop the
kiosk: its screens show staff a banner, ``/healthz`` says ``disk_full``, and this reporter
publishes the state (a ``DeviceState`` of kind ``disk``) so the edge raises an alarm on the
staff console. It looks every ``every_s`` seconds, publishes on a change and again after
every reconnect. While the disk has room it calls the hooks given to
:meth:`DiskReporter.on_room` on every round (the configuration a full disk refused is
applied then; a hook with nothing to do returns at once).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from hall_common.bus import contract
from hall_common.bus.client import BusClient
from hall_common.bus.payloads import DeviceState
from hall_common.disk import DiskState, DiskWatch
from hall_common.threads import Periodic

log = logging.getLogger(__name__)

DEV = "disk"
EVERY_S = 5.0
"""How often the kiosk looks at its disk (the app's ``DISK_CHECK_S``; tests look more often)."""


def payload(state: DiskState) -> DeviceState:
    """What the hall is told: full or not, the free space, what could not be written."""
    return DeviceState(kind="disk", online=True, ts=time.time(), status={
        "full": state.full,
        "free_mb": None if state.free_mb is None else round(state.free_mb, 1),
        "min_free_mb": state.min_free_mb,
        "failed": state.failed,
    })


class DiskReporter:
    """Publishes the kiosk's disk state on the bus when it changes."""

    def __init__(self, watch: DiskWatch, bus: BusClient, *, every_s: float = EVERY_S) -> None:
        self.watch, self.bus, self.every_s = watch, bus, every_s
        self._last: bool | None = None
        self._room_hooks: list[Callable[[], None]] = []
        self._periodic = Periodic(self.check, every_s, name="disk-state", first_now=True)
        bus.on_connected(self._again)

    def start(self) -> "DiskReporter":
        self._periodic.start()
        return self

    def stop(self) -> None:
        self._periodic.stop()

    def on_room(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` (on this reporter's thread) on every round the disk has room."""
        self._room_hooks.append(hook)

    def check(self) -> None:
        """Publish the state if it changed since the last publication; run the hooks
        while the disk has room."""
        state = self.watch.state()
        if state.full != self._last and self._publish(state):
            self._last = state.full
        if not state.full:
            for hook in self._room_hooks:
                try:
                    hook()
                except Exception:  # one hook's fault must not keep the others from running
                    log.exception("disk: a hook for 'room again' failed")

    def _again(self) -> None:
        # On the network thread after a (re)connect: publish only, never block.
        self._publish(self.watch.state())

    def _publish(self, state: DiskState) -> bool:
        if not self.bus.connected:
            return False
        try:
            self.bus.publish(contract.DEVICE_STATE, payload(state), hall=self.bus.hall_id, node=self.bus.node_id,
                             dev=DEV)
        except (ValueError, RuntimeError) as exc:
            log.error("disk: state not published: %s", exc)
            return False
        return True
