"""Small helpers for objects several threads use."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def locked(method: Callable[..., T]) -> Callable[..., T]:
    """Run ``method`` holding ``self._lock``: for objects with one database connection that
    the bus worker, web threads and timers all use."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Periodic:
    """``job`` every ``every`` seconds on a daemon thread of its own, until :meth:`stop`
    (first at once when ``first_now``). A run that fails is logged and the next still comes:
    one bad record must not end the reminders of all the others."""

    def __init__(self, job: Callable[[], Any], every: float, *, name: str, first_now: bool = False) -> None:
        self.job, self.every, self.name, self.first_now = job, every, name, first_now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        if not self.first_now and self._stop.wait(self.every):
            return
        while True:
            try:
                self.job()
            except Exception:
                log.exception("%s failed; again in %g s", self.name, self.every)
            if self._stop.wait(self.every):
                return
