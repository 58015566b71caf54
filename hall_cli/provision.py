"""``hall provision``: give a hall's node its credential for the centre.

Run at the centre (it writes to the central database): it registers the hall if needed and
issues a fresh token for the node, written to a file of mode 600 that goes to the node
(``[centre] token_file`` in its configuration). Issuing again replaces the old token.
"""

from __future__ import annotations

from pathlib import Path

from central_sync.server import credentials
from central_sync.server.schema import MIGRATIONS
from central_sync.store import Store, migrate
from hall_common.private_files import write_private


def provision(database_url: str, hall_id: str, hall_name: str, node_id: str, out: Path) -> None:
    store = Store.connect(database_url)
    try:
        migrate(store, MIGRATIONS)
        credentials.register_hall(store, hall_id, hall_name)
        token = credentials.issue(store, hall_id, node_id)
    finally:
        store.close()
    write_private(out, token.encode())


def revoke(database_url: str, hall_id: str, node_id: str) -> bool:
    store = Store.connect(database_url)
    try:
        return credentials.revoke(store, hall_id, node_id)
    finally:
        store.close()
