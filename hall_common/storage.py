"""SQLite for every hall process: one file per process, WAL, durable commits, migrations.

Each process owns its database file and no other process opens it (DESIGN rule 1).
``synchronous=FULL`` in WAL mode makes every commit survive a power cut, not only a killed
process: a ticket the screen called done must still be there after the Pi loses power.
A commit costs one fsync of the WAL (about 0.2 ms on the project's machines).

Example::

    migrations = Migrations("kiosk")

    @migrations()
    def create_outbox(db):
        db["outbox"].create({"id": str, "body": str}, pk="id")

    db = open_database(path, migrations)
    with immediate(db):
        db["outbox"].insert({"id": "1", "body": "{}"})

Every transaction that writes is :func:`immediate`: it takes the write lock at its start, so
a writer waits its turn (``busy_timeout``) instead of failing. ``tests/test_write_transactions.py``
keeps the product code to that one way.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _import_sqlite_utils_without_numpy() -> None:
    """Import sqlite-utils without letting it load numpy (about 14 MB of a process's memory
    for good): it imports numpy when installed, only to store numpy values, which the hall
    never stores. numpy is hidden while sqlite-utils loads and visible again afterwards, so
    the kiosk's camera (OpenCV) still loads it when a resident scans. Every hall module
    takes sqlite-utils through this one (the others import it for type hints only), and
    ``tests/test_footprint_imports.py`` checks the edge agent starts without numpy."""
    if "sqlite_utils" in sys.modules or "numpy" in sys.modules:
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]  # import numpy raises ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["numpy"]


_import_sqlite_utils_without_numpy()

import sqlite_utils  # noqa: E402
from sqlite_utils.migrations import Migrations  # noqa: E402

__all__ = ["Migrations", "immediate", "open_database"]


def open_database(
    path: str | os.PathLike[str], migrations: Migrations | None = None, *, shared_thread: bool = False
) -> sqlite_utils.Database:
    """Open (creating if needed) a process's database and apply its pending migrations.

    ``shared_thread=True`` lets a connection made on one thread be used by another (the bus
    worker opens its database at start and then uses it alone); it is never used by two
    threads at once.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=not shared_thread)
    db = sqlite_utils.Database(conn)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    # What is deleted or overwritten is zeroed on its page where that costs no extra I/O:
    # erased personal data (edge_agent/retention.py) must not stay readable in free space.
    conn.execute("PRAGMA secure_delete = FAST")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    if migrations is not None:
        migrations.apply(db)
    return db


CACHE_KIB = 512
"""Each connection's page cache, at most (SQLite's default is 2,000 KiB). The edge agent
holds about twenty connections to edge.db (one per component, one per printer and web
thread that prints), and each cache fills as the file grows (a day of sensor readings
alone is hundreds of thousands of rows): 40 MB at SQLite's default, 10 MB at this. A page
read again that is not in the cache comes from the system's file cache, not the disk."""


@contextmanager
def immediate(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """The write transaction of the project: it takes the write lock at its start
    (``BEGIN IMMEDIATE``), commits at the end, rolls back and re-raises on an error.

    sqlite-utils' ``atomic()`` (and ``with conn:``) begin a deferred transaction: one that
    reads and then writes fails at once with "database is locked" (``SQLITE_BUSY_SNAPSHOT``
    in WAL) when another connection wrote in between, instead of waiting ``busy_timeout``
    for its turn. sqlite-utils' own ``insert``, ``upsert`` and ``update`` read the table's
    layout before they write, so even a transaction of two inserts reads first. Hence one
    rule: every transaction that writes is this one, whatever it reads. Nested sqlite-utils
    calls inside it use savepoints.

    While it is open, write through ``db`` only: a write through another connection to the
    same file, on the same thread, would wait for this transaction, which waits for it.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (a full disk) leaves the transaction open: end it here, or the
        # connection's next BEGIN would fail too.
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
