"""The HTTP side of a simulator's control server: a small threaded server on its own port
(``hall up`` gives each simulated node and printer one), in a daemon thread.

A simulator's :class:`HttpControl` subclass builds its request handler from
:class:`ControlHandler`, which reads a form body and answers JSON or a page; requests are
logged at INFO, not printed to stderr as :mod:`http.server` does.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

MAX_BODY = 4096
"""The largest form body read; a control request is a few fields."""


class ControlHandler(BaseHTTPRequestHandler):
    """A request to a control server."""

    def form_body(self) -> str:
        """The request's body (a form, ``a=1&b=2``), at most :data:`MAX_BODY` bytes of it."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)).decode("utf-8", errors="replace")

    def send_json(self, code: int, doc: dict[str, Any]) -> None:
        self.send(code, "application/json", json.dumps(doc).encode())

    def send(self, code: int, kind: str, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        log.info("control: " + format, *args)


class HttpControl:
    """Serves ``handler`` on ``host``:``port`` (0: a free port, then in :attr:`port`) from
    :meth:`start` until :meth:`stop`."""

    def __init__(self, handler: type[ControlHandler], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = ThreadingHTTPServer((host, port), handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
