"""Payment orders at the centre: a hall's kiosk asks for an order for some bill lines, the
resident pays by QR code, the provider's notification settles the lines exactly once.

:func:`init_app` wires it into the central server: the provider named by the
``[payments]`` configuration (``sandbox`` for ``hall up`` and the tests, ``wechat`` for WeChat
Pay), the API for halls and the notification endpoint (:mod:`.views`), and the expiry sweep
in a thread. See ``docs/payments.md``.

Test configuration keys: ``PAYMENTS_CLOCK`` (a callable returning the time, for tests that
move it), ``PAYMENTS_SWEEP`` (False: no sweep thread; the test calls :meth:`Payments.sweep`).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import weakref
from typing import Any, Callable, Iterator

from flask import Flask, current_app

from central_sync.store import Store
from hall_common.config import CentralConfig, PaymentsConfig
from hall_common.errors import ConfigError

from .orders import Signals, sweep
from .provider import PaymentError, Provider

log = logging.getLogger(__name__)


class Payments:
    """The centre's payment service: one per process, on ``app.extensions["payments"]``."""

    def __init__(self, *, provider: Provider, config: PaymentsConfig, database_url: str, pool: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.provider, self.config, self.clock = provider, config, clock
        self.signals = Signals()
        self._url, self._pool = database_url, pool
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        """A connection for a moment (a long poll's look, a sweep), never held while waiting."""
        if self._pool is not None:
            with self._pool.connection() as conn:
                yield Store(conn, "postgresql")
            return
        store = Store.connect(self._url)
        try:
            yield store
        finally:
            store.close()

    def sweep(self) -> dict[str, list[str]]:
        """Close expired orders now (see :func:`.orders.sweep`) and wake whoever waits on them."""
        with self.store() as store:
            done = sweep(store, self.provider, now=self.clock())
        for ids in done.values():
            for order_id in ids:
                self.signals.fire(order_id)
        return done

    def start_sweeper(self, interval: float) -> None:
        """Sweep every ``interval`` seconds in a daemon thread, until :meth:`close` or until
        this service is gone (the thread holds it weakly, so a discarded app stops it)."""
        self._thread = threading.Thread(target=_sweep_forever, args=(weakref.ref(self), self._stop, interval),
                                        name="payment-sweep", daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> threading.Event:
        """Set once :meth:`close` is called: long polls answer at once."""
        return self._stop

    def close(self) -> None:
        self._stop.set()
        self.signals.fire_all()
        closer = getattr(self.provider, "close", None)
        if closer is not None:
            closer()


def _sweep_forever(ref: "weakref.ref[Payments]", stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        live = ref()
        if live is None:
            return
        try:
            live.sweep()
        except Exception as exc:  # a database or provider hiccup must not end the sweeper
            if _store_closed(exc):
                log.info("payment sweep stops: the centre's database is closed")
                return
            log.exception("payment sweep failed; trying again in %s s", interval)
        del live  # between sweeps the service is held only weakly


def _store_closed(exc: Exception) -> bool:
    """Whether ``exc`` says the app's database has been closed (the centre is stopping),
    as opposed to a hiccup worth trying again."""
    from psycopg_pool import PoolClosed

    return isinstance(exc, PoolClosed) or (isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc))


def make_provider(config: CentralConfig, clock: Callable[[], float]) -> Provider:
    if config.payments.provider == "sandbox":
        from .sandbox import Sandbox

        return Sandbox(config.data_dir / "payments-sandbox", clock=clock)
    from .wechat import WeChatPay

    try:
        return WeChatPay.from_config(config.payments.wechat)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"payments.wechat: {exc}") from None


def init_app(app: Flask, config: CentralConfig) -> Payments:
    from hall_common import auth

    from . import views

    clock = app.config.get("PAYMENTS_CLOCK") or time.time
    payments = Payments(provider=make_provider(config, clock), config=config.payments, database_url=config.database_url,
                        pool=app.extensions.get("store_pool"), clock=clock)
    app.extensions["payments"] = payments
    app.register_blueprint(views.bp)
    auth.csrf.exempt(views.bp)  # halls use a bearer token; WeChat Pay signs its notifications
    if payments.provider.name == "sandbox":
        app.register_blueprint(views.sandbox_bp)
        auth.csrf.exempt(views.sandbox_bp)  # the payer's phone, standing in for WeChat's own page
    if config.payments.sweep_s > 0 and app.config.get("PAYMENTS_SWEEP", True):
        payments.start_sweeper(config.payments.sweep_s)
    return payments


def service() -> Payments:
    return current_app.extensions["payments"]


__all__ = ["Payments", "PaymentError", "init_app", "service"]
