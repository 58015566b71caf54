"""What every hall web app shares: serving with waitress, a database per request, health.

Flask's own server is for development only; waitress is a pure-Python production server
that runs on a Pi without a build step and stops on SIGTERM from systemd or ``hall up``.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable

from flask import Blueprint, Flask, current_app, g, jsonify

from hall_common import systemd
from hall_common.config import HttpConfig

if TYPE_CHECKING:
    import sqlite_utils

    from hall_common.storage import Migrations

log = logging.getLogger(__name__)


def init_db(app: Flask, migrations: Migrations) -> None:
    """Apply the app's migrations to ``app.config["DATABASE"]`` now, and close the
    per-request connection at the end of each request.

    SQLite's helpers are imported here, not with this module: the board has no database
    and does not pay for them (sqlite-utils brings numpy, about 14 MB)."""
    from hall_common.storage import open_database

    open_database(app.config["DATABASE"], migrations).close()
    app.teardown_appcontext(_close_db)


def get_db() -> sqlite_utils.Database:
    """The current request's database connection, opened on first use."""
    if "db" not in g:
        from hall_common.storage import open_database

        g.db = open_database(current_app.config["DATABASE"])
    return g.db


def _close_db(exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def health_blueprint(status: Callable[[], dict[str, object]]) -> Blueprint:
    """``GET /healthz``: 200 with what ``status()`` reports, for ``hall up`` and systemd."""
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz():
        return jsonify({"ok": True, **status()})

    return bp


def make_server(app: Flask, http: HttpConfig) -> Any:
    """A waitress server for ``app`` on ``http``'s address, not yet running. Behind the TLS
    proxy of docs/install-pi.md (Certificates), ``http.trusted_proxy`` makes waitress take
    the client's address and the scheme from that proxy's X-Forwarded-For and -Proto, and
    only from it."""
    from waitress import create_server

    proxy: dict[str, object] = {}
    if http.trusted_proxy is not None:
        proxy = {"trusted_proxy": http.trusted_proxy, "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
                 "clear_untrusted_proxy_headers": True}
    return create_server(app, host=http.host, port=http.port, threads=http.threads, ident="hall", **proxy)


def serve(app: Flask, http: HttpConfig, *, on_stop: Callable[[], None] | None = None) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then run ``on_stop`` (close the bus cleanly)."""
    server = make_server(app, http)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("stopping on signal %s", signum)
            systemd.stopping()
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving", extra={"url": f"http://{http.host}:{http.port}/"})
    # The port is open: tell systemd (a Type=notify unit waits for this), and keep its
    # watchdog fed for as long as the server still answers.
    watchdog = systemd.start_watchdog(healthy=lambda: _answers(http))
    systemd.ready()
    try:
        server.run()
    finally:
        if watchdog is not None:
            watchdog.stop()
        server.close()
        if on_stop is not None:
            on_stop()


def _answers(http: HttpConfig) -> bool:
    """True if the part's web server accepts a connection (its accept loop is alive)."""
    import socket

    host = "127.0.0.1" if http.host in ("0.0.0.0", "") else http.host
    try:
        with socket.create_connection((host, http.port), timeout=2):
            return True
    except OSError:
        return False


def instance_secret(path: Path) -> str:
    """The Flask secret key for one part, kept in its data directory (mode 600)."""
    from hall_common.private_files import read_or_create_secret

    return read_or_create_secret(path, 32)
