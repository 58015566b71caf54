"""The now-serving board for the hall TV.

``create_app`` builds the Flask app; ``python -m hall_display --config display.toml``
follows the queue state on the bus and serves the board.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from hall_common.config import DisplayConfig
from hall_common.link import EdgeWatch
from hall_common.web import health_blueprint, instance_secret

from .board import BoardState


def create_app(
    config: DisplayConfig,
    board: BoardState | None = None,
    edge: EdgeWatch | None = None,
    test_config: dict[str, Any] | None = None,
) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=instance_secret(config.data_dir / "secret_key"),
        HALL_ID=config.hall_id,
        HALL_NAME=config.hall_name,
    )
    app.config.update(test_config or {})
    app.extensions["board_state"] = board or BoardState()
    app.extensions["edge_watch"] = edge
    from . import views

    app.register_blueprint(views.bp)
    app.register_blueprint(
        health_blueprint(lambda: {"part": "hall_display", "node": config.node_id, "edge_up": bool(edge and edge.edge_up), "ts": time.time()})
    )
    return app
