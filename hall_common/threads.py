"""Small helpers for objects several threads use."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def locked(method: Callable[..., T]) -> Callable[..., T]:
    """Run ``method`` holding ``self._lock``: for objects with one database connection that
    the bus worker, web threads and timers all use."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper
