"""The centre's database: the same code on SQLite (one machine, tests, a small company) and
on PostgreSQL (production, several API workers), picked by the database URL.

SQL is written once with ``?`` placeholders and standard syntax that both understand
(``INSERT ... ON CONFLICT DO NOTHING``, ``RETURNING``); the store converts placeholders for
psycopg. Every write that belongs together runs in :meth:`Store.transaction`.

Two requests (two API workers, two admins) can run the same read-decide-write at once.
Where the write itself can carry the decision, it does: a conditional update (``UPDATE ...
WHERE status = 'created'``, checked by its row count) or ``INSERT ... ON CONFLICT``. Where
it cannot (the next version number is the largest one plus one), the transaction first
takes :meth:`Store.lock` on what it decides about.

Example::

    store = Store.connect("postgresql://centre@db/centre")
    with store.transaction():
        store.execute("INSERT INTO halls (hall_id, name, registered_at) VALUES (?, ?, ?)", ("h1", "幸福里", now))
    rows = store.query("SELECT * FROM halls")

    with store.transaction():
        store.lock("configs")  # the next admin saving waits here until this one commits
        version = (store.scalar("SELECT max(version) FROM configs") or 0) + 1
        ...
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Sequence

Dialect = Literal["sqlite", "postgresql"]

LOCK_SPACE = 7002
"""The first key of the advisory locks :meth:`Store.lock` takes on PostgreSQL (migrations
take 7001 in the one-key space, which is apart from this two-key space)."""


class Store:
    """A connection to the centre's database. One per thread (or per request)."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self._depth = 0

    @classmethod
    def connect(cls, url: str) -> "Store":
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = FAST")  # erased personal data is zeroed, not left in free space
            return cls(conn, "sqlite")
        if url.startswith(("postgresql://", "postgres://")):
            import psycopg
            from psycopg.rows import dict_row

            return cls(psycopg.connect(url, autocommit=True, row_factory=dict_row), "postgresql")
        raise ValueError(f"unsupported database URL {url.split(':', 1)[0]}: use sqlite:/// or postgresql://")

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.dialect == "postgresql":
            with self.conn.cursor() as cur:
                cur.executemany(self._sql(sql), list(rows))
        else:
            self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.execute(sql, params).fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        if row is None:
            return None
        return next(iter(dict(row).values()))

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Store"]:
        """All or nothing: commits at the end, rolls back and re-raises on an error.
        Nested calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            if self.dialect == "postgresql":
                with self.conn.transaction():
                    yield self
            else:
                # IMMEDIATE: the write lock at the start, so a transaction that reads before
                # it writes waits for another writer instead of failing "database is locked".
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                    self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:  # an error may have ended it already; a failed COMMIT has not
                        self.conn.execute("ROLLBACK")
                    raise
        finally:
            self._depth = 0

    def lock(self, name: str) -> None:
        """Make the other transactions that lock ``name`` wait until this one ends: for a
        read-decide-write that no single statement can do (say, taking the next version
        number). On PostgreSQL a transaction-level advisory lock; on SQLite nothing to do,
        the transaction's ``BEGIN IMMEDIATE`` already holds the one write lock."""
        if not self._depth:
            raise RuntimeError("Store.lock() holds until the transaction ends: call it inside store.transaction()")
        if self.dialect == "postgresql":
            self.execute(f"SELECT pg_advisory_xact_lock({LOCK_SPACE}, hashtext(?))", (name,))

    def close(self) -> None:
        self.conn.close()


class Migration:
    """One schema change, as SQL for each dialect (or the same SQL for both)."""

    def __init__(self, name: str, sqlite: list[str], postgresql: list[str] | None = None) -> None:
        self.name = name
        self.sql: dict[str, list[str]] = {"sqlite": sqlite, "postgresql": postgresql if postgresql is not None else sqlite}


_migrate_lock = threading.Lock()


def migrate(store: Store, migrations: list[Migration]) -> list[str]:
    """Apply the pending migrations in order, each in its own transaction; returns their names.

    On PostgreSQL an advisory lock makes several workers starting at once take turns, so a
    migration never runs twice.
    """
    applied: list[str] = []
    with _migrate_lock:
        store.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for m in migrations:
            with store.transaction():
                if store.dialect == "postgresql":
                    store.execute("SELECT pg_advisory_xact_lock(7001)")
                if store.scalar("SELECT count(*) FROM schema_migrations WHERE name = ?", (m.name,)):
                    continue
                for statement in m.sql[store.dialect]:
                    store.execute(statement)
                store.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, CURRENT_TIMESTAMP)", (m.name,))
                applied.append(m.name)
    return applied
