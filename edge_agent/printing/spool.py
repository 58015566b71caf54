"""The print spool: every print job of the hall, in ``edge.db``, before anyone is told it
was accepted.

A job is a row of ``print_jobs``. It is written when the request arrives (the bus
acknowledges the request only after that), so a job survives an agent restart; each
printer's worker then claims its jobs in arrival order (``seq``). Status:

``queued`` → ``printing`` → ``printed``, or back to ``queued`` (on the same printer after a
transient fault, or on another printer after a move), or ``failed`` with a reason.

A job whose bytes may have reached a printer without the printer confirming them (the
agent died while sending, or the printer went silent or ran out of paper right after) is
*uncertain*: part of it may be on paper. When it is printed again it is marked as a
reprint, so no resident ever holds two tickets that look alike.

Several threads use the spool (the bus worker submits, each printer worker claims), so
each thread gets its own SQLite connection; SQLite serialises the writes, each in an
:func:`~hall_common.storage.immediate` transaction that waits for its turn.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hall_common.storage import immediate, open_database

if TYPE_CHECKING:
    import sqlite_utils

FINAL = ("printed", "failed")


class Spool:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._local = threading.local()
        self._all: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_database(self.db_path)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        """Close every thread's connection (call when the workers have stopped)."""
        with self._lock:
            for db in self._all:
                try:
                    db.close()
                except Exception:  # a connection of a thread that is gone: nothing to keep
                    pass
            self._all.clear()
        self._local = threading.local()

    # -- the requester's side ----------------------------------------------------------------

    def add(self, *, job: str, requester: str, template: str, fields: dict[str, Any], printer: str | None,
            status: str = "queued", reason: str = "", reprint_of: str | None = None,
            test: bool = False) -> tuple[dict[str, Any], bool]:
        """Store a job; returns the row and whether it is new. A job id seen before is the
        same job (a request delivered twice), and its row comes back unchanged."""
        now = time.time()
        with immediate(self.db):
            cur = self.db.execute(
                "INSERT OR IGNORE INTO print_jobs (id, requester, template, fields, printer, status, reason, "
                "reprint, reprint_of, test, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [job, requester, template, json.dumps(fields, ensure_ascii=False), printer, status, reason,
                 int(reprint_of is not None), reprint_of, int(test), now, now],
            )
        return self.get(job), cur.rowcount == 1  # type: ignore[return-value]

    def get(self, job: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM print_jobs WHERE id = ?", [job]))
        return rows[0] if rows else None

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM print_jobs ORDER BY seq DESC LIMIT ?", [limit]))

    def waiting(self, printer: str) -> int:
        return self.db.execute(
            "SELECT count(*) FROM print_jobs WHERE printer = ? AND status IN ('queued', 'printing')", [printer]
        ).fetchone()[0]

    # -- the printer worker's side -----------------------------------------------------------

    def claim(self, printer: str) -> dict[str, Any] | None:
        """The printer's oldest queued job, now marked ``printing``; None when there is none.

        One statement, so no other worker can claim the same job between the choice and
        the mark."""
        with immediate(self.db):
            rows = list(self.db.query(
                "UPDATE print_jobs SET status = 'printing', attempts = attempts + 1, updated_at = ? "
                "WHERE seq = (SELECT seq FROM print_jobs WHERE printer = ? AND status = 'queued' ORDER BY seq LIMIT 1) "
                "RETURNING *", [time.time(), printer]))
        return rows[0] if rows else None

    def queued(self, printer: str) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT * FROM print_jobs WHERE printer = ? AND status IN ('queued', 'printing') ORDER BY seq", [printer]))

    def printed(self, job: str) -> None:
        now = time.time()
        with immediate(self.db):
            self.db.execute("UPDATE print_jobs SET status = 'printed', reason = '', printed_at = ?, updated_at = ? "
                            "WHERE id = ?", [now, now, job])

    def requeue(self, job: str, *, uncertain: bool = False) -> None:
        """Back in the queue of the same printer (a transient fault; tried again soon)."""
        with immediate(self.db):
            self.db.execute("UPDATE print_jobs SET status = 'queued', reprint = reprint OR ?, updated_at = ? WHERE id = ?",
                            [int(uncertain), time.time(), job])

    def move(self, job: str, to: str, reason: str, *, uncertain: bool = False) -> None:
        with immediate(self.db):
            self.db.execute(
                "UPDATE print_jobs SET status = 'queued', moved_from = printer, printer = ?, reason = ?, "
                "attempts = 0, reprint = reprint OR ?, updated_at = ? WHERE id = ?", [to, reason, int(uncertain), time.time(), job])

    def fail(self, job: str, reason: str) -> None:
        with immediate(self.db):
            self.db.execute("UPDATE print_jobs SET status = 'failed', reason = ?, updated_at = ? WHERE id = ?",
                            [reason, time.time(), job])

    # -- housekeeping ------------------------------------------------------------------------

    def recover(self) -> int:
        """At start: jobs caught while being sent are uncertain, so they go back to their
        queue marked as reprints. Returns how many."""
        with immediate(self.db):
            cur = self.db.execute("UPDATE print_jobs SET status = 'queued', reprint = 1, updated_at = ? "
                                  "WHERE status = 'printing'", [time.time()])
        return cur.rowcount

    def purge(self, keep_days: int) -> int:
        """Forget finished jobs older than ``keep_days`` (they are kept that long for reprints)."""
        with immediate(self.db):
            cur = self.db.execute("DELETE FROM print_jobs WHERE status IN ('printed', 'failed') AND updated_at < ?",
                                  [time.time() - keep_days * 86400])
        return cur.rowcount
