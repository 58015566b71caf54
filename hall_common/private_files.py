"""Small private files every process keeps: secrets (mode 600, written atomically) and the
bus session counter.

Apart from :mod:`hall_common.storage` so that a part without a database (the board) does
not load SQLite's helpers (sqlite-utils, and numpy, which sqlite-utils imports when it is
installed) to read its broker password and count its sessions.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path


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
