"""The hall's alarms: one model for every source (printers now; sensors, the AED cabinet
and the queue later).

A source raises an alarm under a stable id (``printer-1.paper``) and clears it when the
condition ends; raising again while it is active only updates it (say, paper near end →
paper out raises the severity) and does not count as a new alarm. Each alarm is kept in
``edge.db``, published retained on ``hall/v1/{hall}/alarm/{id}`` so consoles see it after
a reconnect, and each raise and clear goes to the centre through the outbox in the same
transaction as the change.

States follow the usual alarm lifecycle: ``ACTIVE_UNACK`` when raised, ``ACTIVE_ACK`` once
staff acknowledge it, ``CLEARED_UNACK`` / ``CLEARED_ACK`` when the condition is gone.

Sources call this from their own threads (each printer has one), so a lock guards the one
connection.

On a full disk an alarm cannot be stored, and so it is not published either (the bus and
``edge.db`` must agree, or a cleared alarm would stay on the consoles). ``raise_``,
``clear`` and ``acknowledge`` then answer False instead of letting
``sqlite3.OperationalError`` out into a printer's thread, the environment monitor or the
AED handler: the failure is recorded with the data directory's
:class:`hall_common.disk.DiskWatch` (logged once, shown on the staff console), and the
source's next call, once there is room again, stores it.

Example::

    alarms = Alarms(db_path, bus, node="edge")
    alarms.raise_("printer-1.paper", source="edge/printer-1", type="paper_out",
                  severity="major", text="打印机缺纸 · Printer out of paper")
    alarms.clear("printer-1.paper")
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

from central_sync import client as outbox
from hall_common import disk
from hall_common.bus import contract
from hall_common.bus.payloads import Alarm
from hall_common.storage import immediate

from .component import Component

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "major", "minor", "warning")

NODE_DISK_DEV = "disk"
"""The device id under which a node reports its own disk (``{node}/disk/state``)."""


class Alarms(Component):
    name = "alarms"

    def __init__(self, db_path: Path, bus: Any, *, node: str, nudge: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``clock``: when alarms are raised and cleared (the centre's monthly reports count
        from these times; tests move it as the sources' own clocks)."""
        self.clock = clock
        self.own_connection(db_path)
        self.disk = disk.watch(Path(db_path).parent)
        self.store_error: sqlite3.OperationalError | None = None
        """The error of the last change that could not be stored (a full disk)."""
        self.bus, self.node, self._nudge = bus, node, nudge
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def attach(self, bus: Any) -> None:
        # Kiosks report their own disk (kiosk/disk_state.py); a full one is an alarm here.
        bus.subscribe(contract.DEVICE_STATE.filter(hall=bus.hall_id, dev=NODE_DISK_DEV), self._on_node_disk)

    def on_change(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener(alarm)`` after every raise, update, acknowledgement and clear (the
        buzzer, the metrics). It runs on the caller's thread and must be quick."""
        self._listeners.append(listener)


    def raise_(self, alarm_id: str, *, source: str, type: str, severity: str, text: str) -> bool:
        """Raise ``alarm_id`` or update it while active; True when something changed
        (False too when the disk is full and it could not be stored)."""
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}")
        now = self.clock()
        with self._lock:
            row = self._row(alarm_id)
            active = row is not None and row["state"].startswith("ACTIVE")
            if active and (row["severity"], row["type"], row["text"]) == (severity, type, text):
                return False
            alarm = {
                "id": alarm_id, "source": source, "type": type, "severity": severity, "text": text,
                "state": row["state"] if active else "ACTIVE_UNACK",
                "raised_at": row["raised_at"] if active else now,
                "acked_by": row["acked_by"] if active else None, "acked_at": row["acked_at"] if active else None,
                "cleared_at": None,
            }
            if not self._store(alarm, "raised" if not active else "updated"):
                return False
        log.warning("alarm %s: %s (%s)", alarm_id, text, severity)
        self._publish(alarm)
        return True

    def clear(self, alarm_id: str) -> bool:
        """Clear ``alarm_id`` if it is active; True when it was."""
        with self._lock:
            row = self._row(alarm_id)
            if row is None or not row["state"].startswith("ACTIVE"):
                return False
            alarm = dict(row)
            alarm["state"] = "CLEARED_ACK" if row["state"] == "ACTIVE_ACK" else "CLEARED_UNACK"
            alarm["cleared_at"] = self.clock()
            if not self._store(alarm, "cleared"):
                return False
        log.info("alarm %s cleared", alarm_id)
        self._publish(alarm)
        return True

    def acknowledge(self, alarm_id: str, who: str) -> bool:
        """Someone has seen ``alarm_id`` and is on it: it stays active (the condition is
        still there) but stops calling for attention. True when it was unacknowledged."""
        with self._lock:
            row = self._row(alarm_id)
            if row is None or row["state"] != "ACTIVE_UNACK":
                return False
            alarm = {**row, "state": "ACTIVE_ACK", "acked_by": who, "acked_at": self.clock()}
            if not self._store(alarm, "acknowledged"):
                return False
        log.info("alarm %s acknowledged by %s", alarm_id, who)
        self._publish(alarm)
        return True

    def redact(self, alarm_ids: list[str], text: str) -> int:
        """Replace the text of these alarms and of their history (a resident's report quoted
        in it was erased, edge_agent/retention.py) and publish them again, so the retained
        copies on the bus lose it too; how many alarms there were."""
        with self._lock, immediate(self.db):
            marks = ",".join("?" * len(alarm_ids))
            n = self.db.execute(f"UPDATE alarms SET text = ? WHERE id IN ({marks})", [text, *alarm_ids]).rowcount
            self.db.execute(f"UPDATE alarm_log SET text = ? WHERE alarm IN ({marks})", [text, *alarm_ids])
            self.db.execute(f"UPDATE outbox SET body = json_set(body, '$.text', ?) WHERE sent_at IS NULL AND kind = 'alarm' "
                            f"AND json_extract(body, '$.id') IN ({marks})", [text, *alarm_ids])
            rows = [dict(r) for r in self.db["alarms"].rows_where(f"id IN ({marks})", alarm_ids)]
        for row in rows:
            self._publish(row)
        return n

    def active(self) -> list[dict[str, Any]]:
        """Active alarms, the most severe first, then the oldest."""
        with self._lock:
            rows = [dict(r) for r in self.db["alarms"].rows_where("state LIKE 'ACTIVE%'")]
        return sorted(rows, key=lambda r: (SEVERITIES.index(r["severity"]), r["raised_at"]))

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest raises, changes, acknowledgements and clears, newest first."""
        with self._lock:
            return list(self.db.query("SELECT * FROM alarm_log ORDER BY seq DESC LIMIT ?", [limit]))

    def republish(self) -> None:
        """After a reconnect: every alarm the hall knows, retained again."""
        with self._lock:
            rows = [dict(r) for r in self.db["alarms"].rows]
        for row in rows:
            self._publish(row)

    def _on_node_disk(self, msg: Any) -> None:
        """A node's disk state (``DeviceState`` of kind ``disk``, status ``full``): raise or
        clear ``{node}.disk``, so staff learn that a kiosk can no longer store its
        configuration or voice (it keeps serving residents meanwhile)."""
        node, state = msg.parts["node"], msg.payload
        if node == self.node or state.kind != "disk":
            return
        alarm_id = f"{node}.disk"
        if state.status.get("full"):
            self.raise_(alarm_id, source=f"{node}/disk", type="disk_full", severity="major",
                        text=f"{node} 存储空间已满，请清理 · {node}: storage full, free some space")
        else:
            self.clear(alarm_id)

    def _row(self, alarm_id: str) -> dict[str, Any] | None:
        rows = list(self.db["alarms"].rows_where("id = ?", [alarm_id]))
        return rows[0] if rows else None

    def _store(self, alarm: dict[str, Any], event: str) -> bool:
        """Store the change with its log line and outbox record; False (nothing stored)
        when the disk is full. Any other database error is raised as before."""
        try:
            with immediate(self.db):
                self.db["alarms"].upsert(alarm, pk="id")
                self.db["alarm_log"].insert({"alarm": alarm["id"], "event": event, "severity": alarm["severity"],
                                             "text": alarm["text"], "who": alarm["acked_by"] if event == "acknowledged" else None,
                                             "ts": self.clock()})
                outbox.add(self.db, "alarm", {**alarm, "event": event}, node=self.node)
        except sqlite3.OperationalError as exc:  # immediate() has rolled back, a failed COMMIT too
            if not self.disk.write_failed(f"edge.db (alarm {alarm['id']} {event})", exc):
                raise
            self.store_error = exc
            return False
        self.disk.write_ok()
        if self._nudge is not None:
            self._nudge()
        return True

    def _publish(self, alarm: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(alarm)
            except Exception:  # a listener's fault must not stop the alarm itself
                log.exception("alarm listener failed for %s", alarm["id"])
        if self.bus is None or not self.bus.connected:
            return  # published again by republish() on the next connect
        try:
            self.bus.publish(contract.ALARM, Alarm(**alarm), hall=self.bus.hall_id, alarm_id=alarm["id"])
        except (ValueError, RuntimeError) as exc:
            log.error("alarm %s not published: %s", alarm["id"], exc)
