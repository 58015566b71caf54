"""Keep the C allocator from holding on to memory a process has freed.

Two glibc defaults cost a hall part tens of megabytes (issue 20, ``bench/edge_growth.py``,
figures in bench/README.md):

* **The dynamic mmap threshold.** A console login verifies an argon2id hash, which takes a 7
  MiB buffer (19 MiB when this was found) from ``malloc`` (hall_common/auth.py). glibc
  serves it with ``mmap`` and gives it back when freed, but then raises its threshold for
  ``mmap`` to the size just freed: from then on every such buffer comes from an arena's heap
  and stays in the process. Each web server thread had its own arena, so the staff console
  kept up to eight of them: the edge agent grew from 96 MB to 217 MB after a dozen logins.
  Setting the threshold explicitly turns the dynamic threshold off (``mallopt(3)``).
* **One arena per thread**, up to eight per core. A part runs 20-odd threads (web server,
  bus, timers, printers); each arena keeps its own free memory. Python's own objects live in
  its object allocator's arenas, not these, and the GIL lets one thread run Python at a
  time, so two arenas give up little.

Every part calls :func:`tune` at start (:func:`hall_common.runner.start_part`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
"""``mallopt`` parameter numbers (glibc's malloc.h)."""
MMAP_THRESHOLD = 128 * 1024
"""glibc's own starting value: buffers above 128 KiB are mapped on their own and returned to
the system when freed. Python's object arenas are mapped directly and are not affected;
what crosses it is the odd large buffer (argon2's, a big JSON body), for which one
``mmap`` call is cheap beside the work done with it."""
ARENA_MAX = 2
"""The main arena and one for all other threads."""


def tune(*, mmap_threshold: int = MMAP_THRESHOLD, arena_max: int = ARENA_MAX) -> bool:
    """Fix glibc's ``mmap`` threshold and cap its arenas for this process (call it before
    starting threads); True if both were set. False where there is no glibc (another libc,
    another system): nothing is changed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018  (glibc only: musl's mallopt does nothing)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = True
    for param, value, what in ((M_MMAP_THRESHOLD, mmap_threshold, "mmap threshold"), (M_ARENA_MAX, arena_max, "arenas")):
        if not mallopt(param, value):
            log.warning("malloc: could not set its %s to %d; freed memory may stay in the process", what, value)
            done = False
    return done
