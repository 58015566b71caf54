"""The central server's database for each request: a :class:`~central_sync.store.Store` on
``g``, from a connection pool on PostgreSQL (several workers share one server) or a fresh
connection on SQLite. The schema is migrated once at start."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

from flask import Flask, current_app, g

from central_sync.store import Store, migrate
from hall_common.sessions import ConsoleSession

from .schema import MIGRATIONS


def init_store(app: Flask, url: str, *, pool_size: int = 8) -> None:
    store = Store.connect(url)
    try:
        migrate(store, MIGRATIONS)
    finally:
        store.close()
    app.config["DATABASE_URL"] = url
    if url.startswith("postgresql://"):
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        app.extensions["store_pool"] = ConnectionPool(
            url, min_size=1, max_size=pool_size, kwargs={"autocommit": True, "row_factory": dict_row}, open=True
        )
    app.teardown_appcontext(_release)


@contextlib.contextmanager
def borrowed(url: str, pool: Any = None) -> Iterator[Store]:
    """A connection for a moment outside a request (a sweep, the daily retention run), never
    held while waiting: from the pool on PostgreSQL, a fresh one on SQLite."""
    if pool is not None:
        with pool.connection() as conn:
            yield Store(conn, "postgresql")
        return
    store = Store.connect(url)
    try:
        yield store
    finally:
        store.close()


def get_store() -> Store:
    if "store" not in g:
        pool = current_app.extensions.get("store_pool")
        if pool is not None:
            g.store = Store(pool.getconn(), "postgresql")
        else:
            g.store = Store.connect(current_app.config["DATABASE_URL"])
    return g.store


def _release(exc: BaseException | None = None) -> None:
    store = g.pop("store", None)
    if store is None:
        return
    pool = current_app.extensions.get("store_pool")
    if pool is not None:
        pool.putconn(store.conn)
    else:
        store.close()


class StoreUsers:
    """Admin console accounts in the central database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def find(self, username: str) -> dict[str, Any] | None:
        rows = self.store.query("SELECT * FROM users WHERE username = ?", (username,))
        return rows[0] if rows else None

    def save(self, username: str, password_hash: str, role: str) -> None:
        self.store.execute(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role",
            (username, password_hash, role, time.time()),
        )


class StoreSessions:
    """Admin console sessions in the central database (``hall_common/sessions.py``): every
    worker sees a logout at once, since none keeps sessions of its own."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, session: ConsoleSession) -> None:
        self.store.execute(
            "INSERT INTO console_sessions (key, username, role, created_at, seen_at) VALUES (?, ?, ?, ?, ?)",
            (session.key, session.username, session.role, session.created_at, session.seen_at),
        )

    def find(self, key: str) -> ConsoleSession | None:
        rows = self.store.query("SELECT key, username, role, created_at, seen_at FROM console_sessions WHERE key = ?", (key,))
        return ConsoleSession(**rows[0]) if rows else None

    def seen(self, key: str, at: float) -> None:
        self.store.execute("UPDATE console_sessions SET seen_at = ? WHERE key = ?", (at, key))

    def remove(self, key: str) -> None:
        self.store.execute("DELETE FROM console_sessions WHERE key = ?", (key,))

    def remove_user(self, username: str) -> None:
        self.store.execute("DELETE FROM console_sessions WHERE username = ?", (username,))

    def remove_expired(self, idle_before: float, created_before: float) -> None:
        self.store.execute("DELETE FROM console_sessions WHERE seen_at < ? OR created_at < ?", (idle_before, created_before))
