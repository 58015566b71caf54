"""Node credentials: what lets a hall's edge agent or kiosk talk to the centre.

``hall provision`` issues one per node: a random token shown once and stored by the node
in a file of mode 600. The centre keeps only its SHA-256 (a 256-bit random token needs no
slow hash), so a copy of the central database does not let anyone act as a node. A revoked
or unknown token is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from central_sync.store import Store

from .ingest import NodeIdentity


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register_hall(store: Store, hall_id: str, name: str) -> None:
    store.execute(
        "INSERT INTO halls (hall_id, name, registered_at) VALUES (?, ?, ?) ON CONFLICT (hall_id) DO UPDATE SET name = excluded.name",
        (hall_id, name, time.time()),
    )


def issue(store: Store, hall_id: str, node_id: str) -> str:
    """A new token for ``node_id`` of ``hall_id``; an earlier one of that node stops working."""
    token = secrets.token_urlsafe(32)
    with store.transaction():
        store.lock(f"credential:{hall_id}/{node_id}")  # two at once: the second replaces the first
        store.execute("DELETE FROM node_credentials WHERE hall_id = ? AND node_id = ?", (hall_id, node_id))
        store.execute(
            "INSERT INTO node_credentials (hall_id, node_id, token_hash, created_at) VALUES (?, ?, ?, ?)",
            (hall_id, node_id, _digest(token), time.time()),
        )
    return token


def revoke(store: Store, hall_id: str, node_id: str) -> bool:
    cur = store.execute(
        "UPDATE node_credentials SET revoked_at = ? WHERE hall_id = ? AND node_id = ? AND revoked_at IS NULL",
        (time.time(), hall_id, node_id),
    )
    return cur.rowcount == 1


def identify(store: Store, token: str) -> NodeIdentity | None:
    """The node a token belongs to, or None if it is unknown or revoked."""
    rows = store.query(
        "SELECT hall_id, node_id FROM node_credentials WHERE token_hash = ? AND revoked_at IS NULL", (_digest(token),)
    )
    return NodeIdentity(rows[0]["hall_id"], rows[0]["node_id"]) if rows else None
