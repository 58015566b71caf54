"""The resident-facing touchscreen kiosk.

``create_app`` builds the Flask app; ``python -m kiosk --config kiosk.toml`` connects the
kiosk to the hall bus and serves it for Chromium in kiosk mode.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from hall_common.config import KioskConfig
from hall_common.link import EdgeWatch
from hall_common.web import health_blueprint, instance_secret


def create_app(config: KioskConfig, edge: EdgeWatch | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    """The kiosk app. ``edge`` tells it whether the edge agent answers; without one (a test
    of pages alone) the kiosk shows itself as cut off from the edge."""
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=instance_secret(config.data_dir / "secret_key"),
        HALL_ID=config.hall_id,
        HALL_NAME=config.hall_name,
        NODE_ID=config.node_id,
    )
    app.config.update(test_config or {})
    app.extensions["edge_watch"] = edge
    from . import home

    app.register_blueprint(home.bp)
    app.register_blueprint(
        health_blueprint(lambda: {"part": "kiosk", "node": config.node_id, "edge_up": bool(edge and edge.edge_up), "ts": time.time()})
    )
    return app
