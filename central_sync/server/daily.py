"""A centre job that looks every so often whether its daily work is due (retention, the
day-end reconciliation): one loop for both, on a daemon thread holding the job only weakly,
so a job dropped with its app ends its thread, and a failed look is logged and tried again."""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any, Callable

log = logging.getLogger(__name__)


def start_daily(job: Any, run: Callable[[Any], Any], stop: threading.Event, *, interval: float, first_after: float,
                name: str) -> None:
    """Call ``run(job)`` ``first_after`` seconds from now, then every ``interval`` until ``stop``."""
    threading.Thread(target=_loop, args=(weakref.ref(job), run, stop, interval, first_after, name),
                     name=name, daemon=True).start()


def _loop(ref: "weakref.ref[Any]", run: Callable[[Any], Any], stop: threading.Event, interval: float,
          first_after: float, name: str) -> None:
    wait = first_after
    while not stop.wait(wait):
        wait = interval
        job = ref()
        if job is None:
            return
        try:
            run(job)
        except Exception:  # a database or provider hiccup must not end the job: it looks again later
            log.exception("%s failed; looking again in %s s", name, interval)
        del job  # between runs the job is held only weakly
