"""The sync client: what a hall node (the edge agent, a kiosk) uses to get its records to the
centre at least once, whatever happens to the link, the process or the power.

A record goes into the node's own SQLite outbox **in the same transaction** as the fact it
carries, so a record exists if and only if the fact does::

    with immediate(db):
        db["help_requests"].insert(row, pk="id")
        outbox.add(db, "help_request", row, node="kiosk-01")

A :class:`SyncWorker` thread pushes the oldest unsent records in batches, and marks them
sent only once the centre acknowledged them (applied, or already held). A crash between
the push and the mark sends the batch again; the centre applies each record once by its
UUID. While the centre is unreachable the outbox grows on disk, and the worker backs off
(exponential, with full jitter, so a hundred halls coming back do not retry in step).
Memory stays bounded: one batch at a time is read.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hall_common.errors import HallError
from hall_common.storage import Migrations, immediate, open_database

from .protocol import MAX_RECORDS, Ack, Batch, ConfigPage, ContentPage, Record

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)


def add_outbox_tables(migrations: Migrations) -> None:
    """Register the outbox and sync-state tables in a node's migration set."""

    @migrations(name="create_outbox")
    def create_outbox(db: sqlite_utils.Database) -> None:
        db.execute(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, "
            "node TEXT NOT NULL, ts REAL NOT NULL, body TEXT NOT NULL, sent_at REAL)"
        )
        db.execute("CREATE INDEX outbox_unsent ON outbox (sent_at, seq)")
        db.execute(
            "CREATE TABLE sync_state (key TEXT PRIMARY KEY, last_success REAL, last_error TEXT, last_error_at REAL, attempts INTEGER)"
        )

    @migrations(name="create_sync_cursors")
    def create_sync_cursors(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE sync_cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")


def add(db: sqlite_utils.Database, kind: str, body: dict[str, Any], *, node: str, record_id: str | None = None) -> str:
    """Queue a record for the centre; call inside the transaction that writes its fact."""
    rid = record_id or str(uuid.uuid4())
    Record.model_validate({"id": rid, "kind": kind, "node": node, "ts": time.time(), "body": body})  # refuse early
    db.execute(
        "INSERT INTO outbox (id, kind, node, ts, body) VALUES (?, ?, ?, ?, ?)",
        [rid, kind, node, time.time(), json.dumps(body, ensure_ascii=False)],
    )
    return rid


@dataclass(frozen=True)
class SyncStatus:
    """What staff and ``hall doctor`` are shown about the link to the centre."""

    depth: int
    oldest_age: float | None
    last_success: float | None
    last_error: str | None
    last_error_at: float | None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def status(db: sqlite_utils.Database, now: float | None = None) -> SyncStatus:
    """The outbox and the last exchange with the centre. ``now`` may be taken before a
    record that another thread adds meanwhile: that record's age is 0, not negative (the
    fleet status refused a negative one and skipped its report, ``bench/edge_growth.py``)."""
    now = time.time() if now is None else now
    depth, oldest = db.execute("SELECT count(*), min(ts) FROM outbox WHERE sent_at IS NULL").fetchone()
    row = db.execute("SELECT last_success, last_error, last_error_at FROM sync_state WHERE key = 'centre'").fetchone()
    last_success, last_error, last_error_at = row if row else (None, None, None)
    # A record queued after ``now`` was read (another thread, a moment later) is not from
    # the future: its age is 0, never negative (the hall's status refuses a negative age).
    age = max(0.0, now - oldest) if oldest else None
    return SyncStatus(depth, age, last_success, last_error, last_error_at)


FEEDS: dict[str, tuple[str, Any]] = {
    "configs": ("/api/v1/sync/configs", ConfigPage),
    "content": ("/api/v1/sync/content", ContentPage),
}
"""What a hall can pull from the centre: path and page document of each feed."""


class CentreRefused(HallError, RuntimeError):
    """The centre answered with an error that retrying will not fix (4xx)."""


class SyncWorker:
    """Pushes a node's outbox to the centre on its own thread (its own database connection).

    :param db_path: the node's database, which holds the outbox.
    :param url: the centre's base URL.
    :param token: this node's credential from ``hall provision``.
    """

    def __init__(
        self,
        *,
        db_path: Path,
        url: str,
        token: str,
        hall_id: str,
        batch_size: int = 200,
        timeout: float = 10.0,
        idle_wait: float = 1.0,
        min_backoff: float = 1.0,
        max_backoff: float = 300.0,
        keep_sent: float = 7 * 86400,
        rng: Callable[[], float] = random.random,
        feeds: dict[str, Callable[[list[Any]], None]] | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_RECORDS:
            raise ValueError(f"batch_size must be 1..{MAX_RECORDS}")
        self.db_path, self.url, self.token, self.hall_id = db_path, url.rstrip("/"), token, hall_id
        self.batch_size, self.timeout, self.idle_wait = batch_size, timeout, idle_wait
        self.min_backoff, self.max_backoff, self._rng = min_backoff, max_backoff, rng
        self.keep_sent = keep_sent
        """Seconds an acknowledged record stays in the outbox (for tracing) before it is purged."""
        self.feeds = feeds or {}
        """What to pull from the centre, by feed name (``configs``, ``content``), and who
        takes the items."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sync-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def nudge(self) -> None:
        """Something was added to the outbox: push now instead of at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        db = open_database(self.db_path)
        next_purge = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= next_purge:
                        # Sent records would otherwise pile up on the node's disk forever.
                        self.purge(db, older_than=self.keep_sent)
                        next_purge = time.monotonic() + 3600
                    sent = self.push_once(db)
                    for feed in self.feeds:
                        self.pull_once(db, feed)
                except Exception as exc:  # noqa: BLE001 - any failure is retried later; logged here
                    self.failures += 1
                    delay = self.backoff()
                    try:
                        self._note_error(db, exc)
                    except sqlite3.Error as note_exc:  # a full disk: keep going, say so in the log
                        log.error("sync: cannot record the error either (%s)", note_exc)
                    log.warning("sync: push failed (%s); retrying in %.1f s", exc, delay)
                    self._wait(delay)
                    continue
                self.failures = 0
                if sent == 0:
                    self._wait(self.idle_wait)
        finally:
            db.close()

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def backoff(self) -> float:
        """Full jitter: a random wait up to an exponentially growing ceiling."""
        ceiling = min(self.max_backoff, self.min_backoff * 2 ** min(self.failures - 1, 20))
        return max(0.05, self._rng() * ceiling)

    def push_once(self, db: sqlite_utils.Database) -> int:
        """Push one batch of the oldest unsent records; returns how many were acknowledged."""
        rows = db.execute(
            "SELECT id, kind, node, ts, body FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", [self.batch_size]
        ).fetchall()
        if not rows:
            return 0
        batch = Batch(
            hall_id=self.hall_id,
            sent_at=time.time(),
            records=[Record(id=r[0], kind=r[1], node=r[2], ts=r[3], body=json.loads(r[4])) for r in rows],
        )
        ack = self._post(batch)
        done = [str(i) for i in ack.applied] + [str(i) for i in ack.duplicates]
        now = time.time()
        with immediate(db):
            db.conn.executemany("UPDATE outbox SET sent_at = ? WHERE id = ?", [(now, i) for i in done])
            db.conn.execute(
                "INSERT INTO sync_state (key, last_success, attempts) VALUES ('centre', ?, 0) "
                "ON CONFLICT (key) DO UPDATE SET last_success = excluded.last_success, attempts = 0",
                (now,),
            )
        return len(done)

    def pull_once(self, db: sqlite_utils.Database, feed: str) -> int:
        """Fetch what the centre published on ``feed`` since its cursor and hand it to the
        feed's handler; the cursor moves only after the handler returned."""
        path, page_model = FEEDS[feed]
        row = db.execute("SELECT value FROM sync_cursors WHERE name = ?", [feed]).fetchone()
        after = row[0] if row else 0
        request = urllib.request.Request(f"{self.url}{path}?after={after}", headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                page = page_model.model_validate_json(response.read())
        except urllib.error.HTTPError as exc:
            raise CentreRefused(f"centre refused the {feed} pull ({exc.code})") from None
        if page.items:
            self.feeds[feed](page.items)
        if page.cursor != after:
            with immediate(db):
                db.conn.execute("INSERT INTO sync_cursors (name, value) VALUES (?, ?) "
                                "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (feed, page.cursor))
        return len(page.items)

    def _post(self, batch: Batch) -> Ack:
        request = urllib.request.Request(
            f"{self.url}/api/v1/sync/batches",
            data=batch.model_dump_json().encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Ack.model_validate_json(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode(errors="replace")
            if 400 <= exc.code < 500:
                raise CentreRefused(f"centre refused the batch ({exc.code}): {detail}") from None
            raise

    def _note_error(self, db: sqlite_utils.Database, exc: Exception) -> None:
        with immediate(db):
            db.conn.execute(
                "INSERT INTO sync_state (key, last_error, last_error_at, attempts) VALUES ('centre', ?, ?, 1) "
                "ON CONFLICT (key) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at, "
                "attempts = sync_state.attempts + 1",
                (str(exc)[:300], time.time()),
            )

    def purge(self, db: sqlite_utils.Database, *, older_than: float) -> int:
        """Forget records the centre acknowledged more than ``older_than`` seconds ago."""
        with immediate(db):
            return db.conn.execute("DELETE FROM outbox WHERE sent_at < ?", (time.time() - older_than,)).rowcount
