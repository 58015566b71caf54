"""Keep the C allocator from holding on to big buffers a process has freed.

A console login verifies an argon2id hash, which takes a 19 MiB buffer from ``malloc``
(hall_common/auth.py). glibc serves such a request with ``mmap`` and gives it back when it
is freed, but it also raises its threshold for ``mmap`` to the size just freed (the
"dynamic mmap threshold"): from then on every 19 MiB buffer comes from an arena's heap and
stays in the process when freed. Each web server thread has its own arena, so a console
under ordinary use (staff logging in, one login per waitress thread) kept up to eight of
them: the edge agent grew from 96 MB to 217 MB after a dozen logins
(``bench/edge_growth.py``, bench/README.md), issue 20's "94 MB to 153 MB in an hour".

Setting the threshold explicitly turns the dynamic threshold off (``mallopt(3)``): every
buffer above :data:`MMAP_THRESHOLD` is mapped and unmapped on its own. Every part calls
:func:`pin_mmap_threshold` at start (:func:`hall_common.runner.start_part`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter number (glibc's malloc.h)."""
MMAP_THRESHOLD = 128 * 1024
"""glibc's own starting value: buffers above 128 KiB are mapped on their own and returned to
the system when freed. Python's object arenas are mapped directly and are not affected;
what crosses it is the odd large buffer (argon2's, a big JSON body), for which one
``mmap`` call is cheap beside the work done with it."""


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's ``mmap`` threshold at ``threshold`` bytes for this process; True if set.
    False where there is no glibc (another libc, another system): nothing is changed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018  (glibc only: musl's mallopt does nothing)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, threshold))
    if not done:
        log.warning("malloc: could not fix the mmap threshold at %d bytes; freed big buffers may stay", threshold)
    return done
