"""The registry of the hall's nodes: who is there, what runs, who is online.

Pure logic on the edge database: the bus adapter calls these with parsed payloads and a
clock. A state from an older session than the one on record is ignored, so a Last Will
that the broker delivers after the node already came back cannot mark it lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from hall_common.bus.payloads import TOOL_KINDS, Birth, NodeState
from hall_common.config import DeviceInfo
from hall_common.storage import immediate

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)

REPORTING_KINDS = frozenset({"esphome", "env_node", "aed_node"})
"""Kinds that report on a schedule; one silent past ``stale_after`` is shown as stale."""


@dataclass(frozen=True)
class NodeView:
    node: str
    kind: str
    state: str
    session: int
    sw: str | None
    config_version: int | None
    last_seen: float | None
    stale: bool
    model: str = ""
    location: str = ""

    @property
    def online(self) -> bool:
        return self.state == "ready" and not self.stale

    @property
    def device(self) -> bool:
        """A device of the hall (kiosk, board, sensor node ...), not a tool's login such as
        ``hall doctor``'s, which comes and goes and is no news to staff."""
        return self.kind not in TOOL_KINDS


class Registry:
    """Keeps ``nodes`` in the edge database up to date from bus messages."""

    def __init__(self, db: sqlite_utils.Database, *, stale_after: float, clock: Callable[[], float] = time.time,
                 devices: Sequence[DeviceInfo] = ()):
        self.db = db
        self.stale_after = stale_after
        self.clock = clock
        self.devices = {d.id: d for d in devices}
        self._seen: dict[str, float] = {}
        self._written: dict[str, float] = {}

    def _silent_limit(self, node: str) -> float:
        """How long ``node`` may be silent: three of its reporting intervals if the
        configuration gives one (a missed message or two is not a dead node), otherwise
        ``stale_after``."""
        info = self.devices.get(node)
        if info is not None and info.expected_interval_s is not None:
            return 3 * info.expected_interval_s
        return self.stale_after

    def _row(self, node: str) -> dict | None:
        rows = list(self.db["nodes"].rows_where("node = ?", [node]))
        return rows[0] if rows else None

    def _stale_session(self, node: str, session: int) -> bool:
        row = self._row(node)
        if row is not None and session < row["session"]:
            log.info("registry: state of %s from old session %s ignored (current %s)", node, session, row["session"])
            return True
        return False

    def on_state(self, node: str, state: NodeState) -> None:
        with immediate(self.db):  # the row read is the row changed
            if self._stale_session(node, state.session):
                return
            now = self.clock()
            row = self._row(node) or {"node": node, "kind": "unknown", "first_seen": now}
            changed = row.get("state") != state.state
            row.update(state=state.state, session=state.session)
            if state.state == "ready":
                row["last_seen"] = now
            if changed:
                row["state_changed_at"] = now
                log.info("registry: %s is %s", node, state.state)
            self.db["nodes"].upsert(row, pk="node")

    def on_birth(self, node: str, birth: Birth) -> None:
        with immediate(self.db):
            if self._stale_session(node, birth.session):
                return
            now = self.clock()
            row = self._row(node) or {"node": node, "state": "ready", "first_seen": now, "state_changed_at": now}
            row.update(kind=birth.kind, sw=birth.sw, config_version=birth.config_version,
                       session=birth.session, last_seen=now)
            self.db["nodes"].upsert(row, pk="node")

    def on_esphome_status(self, node: str, online: bool) -> None:
        """ESPHome nodes have no session counter: their ``status`` topic is all we get."""
        with immediate(self.db):
            now = self.clock()
            row = self._row(node) or {"node": node, "kind": "esphome", "session": 0, "first_seen": now}
            state = "ready" if online else "lost"
            if row.get("state") != state:
                row["state_changed_at"] = now
                log.info("registry: %s is %s", node, state)
            row["state"] = state
            if online:
                row["last_seen"] = now
            self.db["nodes"].upsert(row, pk="node")

    def retire(self, node: str) -> None:
        """The hall's broker no longer lets ``node`` in (retired at the centre): no longer
        "ready", whatever its last retained state said."""
        with immediate(self.db):
            row = self._row(node)
            if row is None or row.get("state") == "retired":
                return
            row.update(state="retired", state_changed_at=self.clock())
            self.db["nodes"].upsert(row, pk="node")
            log.info("registry: %s is retired", node)

    def seen(self, node: str) -> None:
        """A reading or event arrived from ``node``: it is alive now. Kept in memory only
        (readings come hundreds a second, on the bus's network thread);
        :meth:`flush_seen` writes it every few seconds for the console's view."""
        self._seen[node] = self.clock()

    def flush_seen(self, db: sqlite_utils.Database | None = None) -> int:
        """Write the last-seen times noted since the last flush, on ``db`` (a connection
        of the caller's thread) or this registry's own; returns how many nodes."""
        db = db or self.db
        noted = [(ts, node) for node, ts in list(self._seen.items()) if self._written.get(node) != ts]
        if not noted:
            return 0
        with immediate(db):
            db.conn.executemany("UPDATE nodes SET last_seen = ? WHERE node = ? AND (last_seen IS NULL OR last_seen < ?)",
                                [(ts, node, ts) for ts, node in noted])
        for ts, node in noted:
            self._written[node] = ts
        return len(noted)

    def nodes(self) -> list[NodeView]:
        now = self.clock()
        out = []
        seen = set()
        for row in self.db["nodes"].rows_where(order_by="node"):
            last = max(row["last_seen"] or 0.0, self._seen.get(row["node"], 0.0)) or None
            info = self.devices.get(row["node"])
            kind = info.kind if info is not None and row["kind"] in ("unknown", "esphome") else row["kind"]
            stale = (
                row["state"] == "ready"
                and (kind in REPORTING_KINDS or (info is not None and info.expected_interval_s is not None))
                and (last is None or now - last > self._silent_limit(row["node"]))
            )
            seen.add(row["node"])
            out.append(NodeView(row["node"], kind, row["state"], row["session"], row["sw"], row["config_version"], last,
                                stale, info.model if info else "", info.location if info else ""))
        # Configured devices that never spoke are shown too: a node that never came is news.
        for node, info in self.devices.items():
            if node not in seen and info.kind in ("env_node", "aed_node", "kiosk", "display"):
                out.append(NodeView(node, info.kind, "never", 0, None, None, None, False, info.model, info.location))
        return sorted(out, key=lambda v: v.node)
