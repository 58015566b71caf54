"""The registry of the hall's nodes: who is there, what runs, who is online.

Pure logic on the edge database: the bus adapter calls these with parsed payloads and a
clock. A state from an older session than the one on record is ignored, so a Last Will
that the broker delivers after the node already came back cannot mark it lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import sqlite_utils

from hall_common.bus.payloads import Birth, NodeState

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

    @property
    def online(self) -> bool:
        return self.state == "ready" and not self.stale


class Registry:
    """Keeps ``nodes`` in the edge database up to date from bus messages."""

    def __init__(self, db: sqlite_utils.Database, *, stale_after: float, clock: Callable[[], float] = time.time):
        self.db = db
        self.stale_after = stale_after
        self.clock = clock

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
        if self._stale_session(node, birth.session):
            return
        now = self.clock()
        row = self._row(node) or {"node": node, "state": "ready", "first_seen": now, "state_changed_at": now}
        row.update(kind=birth.kind, sw=birth.sw, config_version=birth.config_version,
                   session=birth.session, last_seen=now)
        self.db["nodes"].upsert(row, pk="node")

    def on_esphome_status(self, node: str, online: bool) -> None:
        """ESPHome nodes have no session counter: their ``status`` topic is all we get."""
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

    def seen(self, node: str) -> None:
        """A reading or event arrived from ``node``: it is alive now."""
        if self._row(node) is not None:
            self.db["nodes"].update(node, {"last_seen": self.clock()})

    def nodes(self) -> list[NodeView]:
        now = self.clock()
        out = []
        for row in self.db["nodes"].rows_where(order_by="node"):
            last = row["last_seen"]
            stale = (
                row["state"] == "ready"
                and row["kind"] in REPORTING_KINDS
                and (last is None or now - last > self.stale_after)
            )
            out.append(NodeView(row["node"], row["kind"], row["state"], row["session"], row["sw"],
                                row["config_version"], last, stale))
        return out
