"""The central server for a WSGI server with several workers (production on PostgreSQL)::

    gunicorn -w 4 -b 0.0.0.0:8000 'central_sync.server.wsgi:build("/etc/service-hall/central.toml")'

Each worker builds its own app (and its own connection pool) from the same file; nothing
is kept in a worker between requests, so any worker may answer any hall.
"""

from __future__ import annotations

from flask import Flask

from hall_common import logs
from hall_common.config import CentralConfig, load

from . import create_app


def build(config_path: str) -> Flask:
    config = load(CentralConfig, config_path)
    logs.configure(hall="-", node="central", level=config.log_level, file=config.log_file)
    return create_app(config)
