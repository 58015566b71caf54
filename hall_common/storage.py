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
import secrets
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils
from sqlite_utils.migrations import Migrations

__all__ = ["Migrations", "immediate", "open_database", "next_session", "read_or_create_secret", "write_private"]


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


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (mode 600), atomically: a crash leaves the
    old content or the new, never half of it.

    On a full disk ``os.write`` may write part of the data and return a short count
    without an error: the loop writes the rest, which then fails with ``ENOSPC``. A failed
    write removes its temporary file and leaves ``path`` as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_or_create_secret(path: Path, nbytes: int = 24) -> str:
    """A random secret kept in ``path`` (mode 600); made on first use."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = secrets.token_urlsafe(nbytes)
        write_private(path, value.encode())
        return value


def next_session(path: Path) -> int:
    """Increment and return the node's session counter kept in ``path``.

    The counter goes into the Last Will and the birth message, so a subscriber can tell a
    will from an earlier run (delivered late) from the live session.
    """
    try:
        current = int(path.read_text(encoding="ascii").strip() or 0)
    except FileNotFoundError:
        current = 0
    except ValueError:
        # A damaged counter must not go backwards: the clock is larger than any count.
        current = int(time.time())
    value = current + 1
    write_private(path, str(value).encode())
    return value
