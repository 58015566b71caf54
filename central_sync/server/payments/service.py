"""The centre's payment service (one per process, on ``app.extensions["payments"]``): the
provider, the connection it takes for a moment, the waiters on each order, and the expiry
sweep thread.

Its own module so that the views can reach the running service (:func:`current`) without
importing the package that registers them.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import weakref
from typing import Any, Callable, Iterator

from flask import current_app

from central_sync.store import Store
from hall_common.config import PaymentsConfig

from ..db import borrowed
from . import refunds
from .orders import Signals, sweep
from .provider import Provider

log = logging.getLogger(__name__)


class Payments:
    """The centre's payment service: one per process, on ``app.extensions["payments"]``."""

    def __init__(self, *, provider: Provider, config: PaymentsConfig, database_url: str, pool: Any = None,
                 clock: Callable[[], float] = time.time, more: tuple[Provider, ...] = ()) -> None:
        self.provider, self.config, self.clock = provider, config, clock
        self.providers: dict[str, Provider] = {p.name: p for p in (provider, *more)}
        """Every wallet offered, by name (the notify URL's last part); ``provider`` is the default."""
        self.sandboxes: list[Any] = []
        """The sandbox's parts to close with the service (demo only)."""
        self.signals = Signals()
        self._url, self._pool = database_url, pool
        self._stop = threading.Event()
        self._due = threading.Event()
        """Set to sweep before the interval is over (a pair's code was paid)."""
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        """A connection for a moment (a long poll's look, a sweep), never held while waiting."""
        with borrowed(self._url, self._pool) as store:
            yield store

    def sweep(self) -> dict[str, list[str]]:
        """Close expired orders now (see :func:`.orders.sweep`) and wake whoever waits on them."""
        done: dict[str, list[str]] = {}
        with self.store() as store:
            for provider in self.providers.values():
                for outcome, ids in sweep(store, provider, now=self.clock()).items():
                    done.setdefault(outcome, []).extend(ids)
                refunds.retry(store, provider, now=self.clock())
            changed = [i for ids in done.values() for i in ids]
            leads = {str(r["id"]): r["pair_of"] for r in store.query(
                f"SELECT id, pair_of FROM payment_orders WHERE id IN ({', '.join('?' * len(changed))})", changed)} \
                if changed else {}
        for order_id in changed:
            self.signals.fire(order_id, leads.get(order_id))
        return done

    def sweep_soon(self) -> None:
        """A pair's code was just paid: sweep now rather than at the next interval, so the
        other code stops taking money and the hall's long poll of the pair ends."""
        self._due.set()

    def start_sweeper(self, interval: float) -> None:
        """Sweep every ``interval`` seconds in a daemon thread, until :meth:`close` or until
        this service is gone (the thread holds it weakly, so a discarded app stops it)."""
        self._thread = threading.Thread(target=_sweep_forever, args=(weakref.ref(self), self._stop, self._due, interval),
                                        name="payment-sweep", daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> threading.Event:
        """Set once :meth:`close` is called: long polls answer at once."""
        return self._stop

    def close(self) -> None:
        self._stop.set()
        self._due.set()
        self.signals.fire_all()
        for part in (*self.providers.values(), *self.sandboxes):
            closer = getattr(part, "close", None)
            if closer is not None:
                closer()


def _sweep_forever(ref: "weakref.ref[Payments]", stop: threading.Event, due: threading.Event, interval: float) -> None:
    while True:
        due.wait(interval)
        due.clear()
        if stop.is_set():
            return
        live = ref()
        if live is None:
            return
        try:
            live.sweep()
        except Exception as exc:  # a database or provider hiccup must not end the sweeper
            if store_closed(exc):
                log.info("payment sweep stops: the centre's database is closed")
                return
            log.exception("payment sweep failed; trying again in %s s", interval)
        del live  # between sweeps the service is held only weakly


def store_closed(exc: Exception) -> bool:
    """Whether ``exc`` says the app's database has been closed (the centre is stopping),
    as opposed to a hiccup worth trying again."""
    from psycopg_pool import PoolClosed

    return isinstance(exc, PoolClosed) or (isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc))


def current() -> Payments:
    """The payment service of the app handling this request."""
    return current_app.extensions["payments"]
