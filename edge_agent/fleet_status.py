"""The hall's status for the centre's fleet view, as a component of the edge agent.

Every ``check_every`` seconds (and at once when an alarm is raised, changed or cleared)
the component reads what the fleet view shows of the hall: each node's state and config
version (the registry), the active alarms (most severe first), each printer's paper, the
outbox's backlog. When anything but the backlog and the last-seen times changed, or when
``status_every_s`` (:class:`hall_common.config.CentreLink`) passed without a status, it
writes a ``hall_status`` record (:class:`central_sync.hall_status.HallStatus`) to the
outbox and wakes the sync worker, so an alarm reaches the centre within a push, not at the
worker's next idle poll. The backlog changes with every record queued, this one included:
counting it as a change would send a status after each status, so it rides along.

The component has its own connection to ``edge.db`` (the registry's tables and the
outbox), read on its own thread; alarms and printers are read through their components'
locked methods and in-memory status. Without a centre token it does nothing.

Example::

    fleet = FleetStatus.of(agent)      # from the agent's own parts
    fleet.start()                      # first status at once
    fleet.wake()                       # something changed: look now
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

from central_sync import client as outbox
from central_sync.hall_status import MAX_ALARMS, MAX_NODES, MAX_TEXT, Backlog, HallStatus
from central_sync.protocol import MAX_RECORD_BYTES
from hall_common import disk
from hall_common.config import EdgeConfig
from hall_common.storage import immediate

from .component import Component
from .registry import Registry

log = logging.getLogger(__name__)


class FleetStatus(Component):
    """The hall's status for the centre (see the module docstring); idle without a centre token."""

    name = "fleet"

    def __init__(self, config: EdgeConfig, *, db_path: Path, alarms: Any, printing: Any, sw: str,
                 nudge: Callable[[], None], syncs: bool, check_every: float = 2.0) -> None:
        self.services = [{"id": s.id, "prefix": s.prefix} for s in config.queue.services]
        self.node, self.sw, self.alarms, self.printing, self._nudge = config.node_id, sw, alarms, printing, nudge
        self.enabled = syncs
        self.heartbeat = config.centre.status_every_s if config.centre is not None else 30.0
        self.check_every = check_every
        self.registry = Registry(self.own_connection(db_path), stale_after=config.stale_after, devices=config.devices)
        self.disk = disk.watch(Path(db_path).parent)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._sent: tuple[Any, ...] | None = None
        self._sent_at = 0.0
        self.sent = 0
        """How many statuses were queued (for tests and the bench)."""
        if syncs:
            alarms.on_change(lambda _alarm: self.wake())

    @classmethod
    def of(cls, agent: Any) -> "FleetStatus":
        """The component for ``agent``, from its configuration, alarms, printers and sync."""
        return cls(agent.config, db_path=agent.db_path, alarms=agent.alarms, printing=agent.printing,
                   sw=agent.bus.sw, nudge=agent.sync.nudge, syncs=agent.sync.syncs)

    def wake(self) -> None:
        """Look now instead of at the next check (an alarm changed)."""
        self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self.enabled:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="fleet-status", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before reading: a change from now on wakes the next look
            try:
                self.check()
            except Exception:  # a failed look is logged; the next one comes
                log.exception("fleet status: could not read or queue the hall's status")
            self._wake.wait(self.check_every)

    # -- the status --------------------------------------------------------------------------

    def check(self, *, now: float | None = None) -> bool:
        """Queue a status if something changed or the heartbeat is due; True when one was."""
        status = self.read(now=now)
        key = self._key(status)
        due = time.monotonic() - self._sent_at >= self.heartbeat
        if key == self._sent and not due:
            return False
        body = status.model_dump()
        try:
            with self._lock, immediate(self.db):
                outbox.add(self.db, "hall_status", body, node=self.node)
        except sqlite3.OperationalError as exc:  # a full disk: said once by the watch; the next look tries again
            if not self.disk.write_failed("edge.db (hall status for the centre)", exc):
                raise
            return False
        self.disk.write_ok()
        self._sent, self._sent_at = key, time.monotonic()
        self.sent += 1
        self._nudge()
        return True

    def read(self, *, now: float | None = None) -> HallStatus:
        """The hall as the fleet view shows it, now."""
        now = time.time() if now is None else now
        active = self.alarms.active()  # most severe first
        with self._lock:
            views = [v for v in self.registry.nodes() if v.device and v.node != self.node]
            backlog = outbox.status(self.db, now)
            edge_config = self.db.execute("SELECT version FROM desired_configs WHERE node = ?", [self.node]).fetchone()
        nodes = [{"node": v.node, "kind": v.kind[:32], "state": "stale" if v.stale else v.state[:16], "online": v.online,
                  "last_seen": v.last_seen, "sw": (v.sw or None) and v.sw[:32], "config_version": v.config_version}
                 for v in views[:MAX_NODES]]
        alarms = [{"id": a["id"][:128], "severity": a["severity"], "state": a["state"], "type": a["type"][:64],
                   "source": (a["source"] or "")[:128], "text": _short(a["text"]), "raised_at": a["raised_at"]}
                  for a in active[:MAX_ALARMS]]
        printers = []
        for printer_id, worker in sorted(getattr(self.printing, "workers", {}).items()):
            s = worker.status
            printers.append({"id": printer_id, "online": bool(s and s.online), "paper": s.paper if s else None,
                             "can_print": bool(s and s.can_print)})
        body = {"at": now, "heartbeat_s": self.heartbeat, "sw": self.sw[:32],
                "config_version": int(edge_config[0]) if edge_config else None,
                "nodes": nodes, "alarms": alarms, "alarms_total": len(active), "printers": printers,
                "backlog": Backlog(depth=backlog.depth, oldest_age=backlog.oldest_age).model_dump(),
                "services": self.services}
        # A record has a size limit: the least severe alarms give way (alarms_total still counts them).
        while alarms and len(json.dumps(body, ensure_ascii=False).encode()) > MAX_RECORD_BYTES - 256:
            alarms.pop()
        return HallStatus.model_validate(body)

    @staticmethod
    def _key(status: HallStatus) -> tuple[Any, ...]:
        """What a change is: everything but the time, the backlog and the last-seen times."""
        body = status.model_dump(exclude={"at", "backlog"})
        for node in body["nodes"]:
            node.pop("last_seen", None)
        return (json.dumps(body, sort_keys=True),)


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
