"""Is a part's disk full? One answer for the kiosk, the edge console and ``hall doctor``.

SQLite keeps a full disk from corrupting a database (a failed commit rolls back), but that
alone leaves people guessing: the screen says "could not be sent" and nobody knows why.
A :class:`DiskWatch` gives a plain state for a part's data directory, from two sources:

* the free space of its filesystem (``shutil.disk_usage``), below ``disk_min_free_mb``
  from the part's configuration: the disk is *low*, and soon every write fails;
* a write that actually failed with ``ENOSPC`` / ``EDQUOT`` or ``SQLITE_FULL``, which a
  writer reports with :meth:`DiskWatch.write_failed`: the disk is *full* for that writer
  even when ``statvfs`` still shows some space (no inodes left, reserved blocks).

A recorded failure stands until a later write succeeds (:meth:`DiskWatch.write_ok`) or
the free space has grown since the failure, so freeing space clears the state by itself.
The first failure of an episode is logged at WARNING, the rest at DEBUG: a printer polled
every second must not fill the log (and the disk) with the same line.

Example::

    watch = disk.watch(config.data_dir, min_free_mb=config.disk_min_free_mb)
    try:
        write_private(path, data)
    except OSError as exc:
        if not watch.write_failed("applied configuration", exc):
            raise
    if watch.state().full:
        ...  # show the banner
"""

from __future__ import annotations

import errno
import logging
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MIN_FREE_MB = 50
"""The default of every part's ``disk_min_free_mb``: room for some hours of logs and the
WAL of a busy day, a margin a technician can still act in."""

FREED_MARGIN = 1024 * 1024
"""Free space must grow by this much after a failed write before the failure is forgotten
(a few bytes freed by a deleted temporary file do not make a disk usable)."""

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """True if ``exc`` says the disk (or the user's quota) has no room left."""
    # SQLite's error class, looked up among the loaded modules: a part that never opens a
    # database (the board) does not load sqlite3 for this check (about 1 MB, issue 20), and
    # an error from SQLite means sqlite3 is loaded.
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL"
    if isinstance(exc, OSError):
        return exc.errno in _DISK_FULL_ERRNOS
    return False


@dataclass(frozen=True)
class DiskState:
    """What a part tells people about its disk."""

    full: bool
    """Low on space, or a write failed for want of space: staff must act."""
    free_mb: float | None
    """Free space of the data directory's filesystem (None: it could not be measured)."""
    min_free_mb: int
    failed: str | None = None
    """What could not be written (``"edge.db"``, ``"voice cache"``), while that stands."""


@dataclass
class _Failure:
    what: str
    free_bytes: int | None


class DiskWatch:
    """The disk state of one data directory; safe to share between threads."""

    def __init__(self, path: Path, *, min_free_mb: int = DEFAULT_MIN_FREE_MB) -> None:
        self.path = Path(path)
        self.min_free_mb = min_free_mb
        self._lock = threading.Lock()
        self._failure: _Failure | None = None
        self._was_full = False

    def free_bytes(self) -> int | None:
        """Free bytes on the filesystem holding the data directory (or the nearest folder
        above it that exists yet); None if even that cannot be measured."""
        for folder in (self.path, *self.path.parents):
            try:
                return shutil.disk_usage(folder).free
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.error("disk: cannot measure free space of %s: %s", folder, exc)
                return None
        return None

    def state(self) -> DiskState:
        """The state now: measured on every call (``statvfs`` takes microseconds)."""
        free = self.free_bytes()
        with self._lock:
            failure = self._failure
            if failure is not None and free is not None and failure.free_bytes is not None \
                    and free >= failure.free_bytes + FREED_MARGIN:
                failure = self._failure = None  # space was freed since the failure
            low = free is not None and free < self.min_free_mb * 1024 * 1024
            full = low or failure is not None
            changed, self._was_full = full != self._was_full, full
        if changed:
            free_text = "unknown" if free is None else f"{free / 1048576:.1f} MB"
            if full:
                log.warning("disk: %s is full or low (%s free, at least %d MB wanted)%s", self.path, free_text,
                            self.min_free_mb, f"; {failure.what} could not be written" if failure else "")
            else:
                log.info("disk: %s has room again (%s free)", self.path, free_text)
        return DiskState(full=full, free_mb=None if free is None else free / 1048576, min_free_mb=self.min_free_mb,
                         failed=failure.what if failure else None)

    def write_failed(self, what: str, exc: BaseException) -> bool:
        """Record that writing ``what`` failed with ``exc``. True if it was for want of
        space (recorded, logged once per episode); False for any other error, which the
        caller should handle (or raise) as before."""
        if not is_disk_full(exc):
            return False
        free = self.free_bytes()
        with self._lock:
            first = self._failure is None
            self._failure = _Failure(what=what, free_bytes=free)
        if first:
            log.warning("disk: %s could not be written, the disk of %s is full (%s)", what, self.path, exc)
        else:
            log.debug("disk: %s could not be written either (%s)", what, exc)
        return True

    def write_ok(self) -> None:
        """A write succeeded: a failure recorded earlier no longer stands."""
        if self._failure is None:  # the common case, without the lock
            return
        with self._lock:
            self._failure = None


_watches: dict[Path, DiskWatch] = {}
_watches_lock = threading.Lock()


def watch(path: Path, *, min_free_mb: int | None = None) -> DiskWatch:
    """The process's one :class:`DiskWatch` for ``path``, made on first use.

    Writers deep inside a part (the edge's alarms) and the screens that show the state
    (the staff console) find the same record through the data directory they already
    know, without another argument threaded through every constructor. ``min_free_mb``
    (from the part's configuration) sets the threshold; None keeps the current one.
    """
    key = Path(path).resolve()
    with _watches_lock:
        found = _watches.get(key)
        if found is None:
            found = _watches[key] = DiskWatch(key, min_free_mb=min_free_mb or DEFAULT_MIN_FREE_MB)
        elif min_free_mb is not None:
            found.min_free_mb = min_free_mb
        return found


__all__ = ["DEFAULT_MIN_FREE_MB", "DiskState", "DiskWatch", "is_disk_full", "watch"]
