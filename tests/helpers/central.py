"""A central server app for tests that talk to the centre alone: its database, the halls
registered, an edge token for each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import central_sync.server
from central_sync.server import credentials
from central_sync.store import Store
from hall_common.config import CentralConfig

HALLS = {"h1": "幸福里", "h2": "长寿苑"}


def central_app(tmp_path: Path, url: str, halls: tuple[str, ...] = ("h1", "h2"),
                test_config: dict[str, Any] | None = None, **config: Any) -> tuple[Any, Store, dict[str, str]]:
    """The app on database ``url`` (not served; ``config`` adds to its CentralConfig), a
    connection of the test's own to the database, and an edge token per hall of ``halls``."""
    config.setdefault("demo", True)  # the payment sandbox, as `hall up` runs it
    cfg = CentralConfig(data_dir=tmp_path / "c", database_url=url, http={"port": 1}, **config)
    app = central_sync.server.create_app(cfg, test_config)
    store = Store.connect(url)
    for hall in halls:
        credentials.register_hall(store, hall, HALLS[hall])
    return app, store, {hall: credentials.issue(store, hall, "edge") for hall in halls}


def push(path: Path, url: str, token: str, hall: str, *, batch_size: int = 4) -> int:
    """What an edge's sync worker does with the outbox of the edge.db at ``path``, batch by
    batch, until it is empty; how many records went."""
    from central_sync.client import SyncWorker
    from hall_common.storage import open_database

    worker = SyncWorker(db_path=path, url=url, token=token, hall_id=hall, batch_size=batch_size)
    db = open_database(path)
    try:
        total = 0
        while sent := worker.push_once(db):
            total += sent
        return total
    finally:
        db.close()
