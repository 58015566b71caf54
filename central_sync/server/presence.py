"""Whether a hall and its nodes are online, as the centre knows it: the one judgement the
fleet view (fleet.py) and the rollout gate (rollout_gate.py) share.

Both read the fleet's tables (fleet_projection.py), filled from each hall's ``hall_status``
records (sent within about 2 s of a change, and every 30 s as a heartbeat). A hall is online
while it was last heard from (any batch, its heartbeat at the least) within
``FLEET_OFFLINE_AFTER`` seconds; a node is online when its hall is and the hall's last
status says so. Once a hall is silent, what it last said of its nodes is no longer known.

A hall that never sent a status (an edge older than the fleet view) has no presence at
all here: :func:`node` calls its nodes neither online nor offline.

Example::

    limit = presence.offline_after()             # the serving app's FLEET_OFFLINE_AFTER
    presence.hall_online(presence.last_contact(last_sync, status_at), now, limit)
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_app_context

UNKNOWN = "unknown"
"""The state of a node whose hall is silent."""
OFFLINE_AFTER = 90.0
"""Seconds of silence before a hall is offline, unless the app's ``FLEET_OFFLINE_AFTER`` says."""


def offline_after(app: Flask | None = None) -> float:
    """``FLEET_OFFLINE_AFTER`` of ``app`` (else of the app serving the request), else
    :data:`OFFLINE_AFTER` (outside any app: a test calling the gate directly)."""
    if app is None and has_app_context():
        app = current_app
    return float(app.config.get("FLEET_OFFLINE_AFTER", OFFLINE_AFTER)) if app is not None else OFFLINE_AFTER


def last_contact(last_sync: float | None, status_at: float | None) -> float | None:
    """When the centre last heard from the hall: its last batch or its last status."""
    return max([t for t in (last_sync, status_at) if t is not None], default=None)


def hall_online(contact: float | None, now: float, limit: float) -> bool:
    return contact is not None and now - contact <= limit


def node(row: dict[str, Any], now: float, limit: float) -> tuple[str | None, bool]:
    """``(state shown, offline)`` of one node, from a row with the node's ``fleet_state`` and
    ``fleet_online`` (fleet_nodes), its hall's ``status_at`` (fleet_halls.received_at) and
    ``last_sync`` (halls). ``(None, False)`` when the hall never sent a status, or its status
    does not list the node; ``("unknown", True)`` when the hall is silent."""
    if row["status_at"] is None:
        return None, False
    if not hall_online(last_contact(row["last_sync"], row["status_at"]), now, limit):
        return UNKNOWN, True
    if row["fleet_state"] is None:
        return None, False
    return row["fleet_state"], not row["fleet_online"]
