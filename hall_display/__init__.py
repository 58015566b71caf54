"""The now-serving board for the hall TV.

``create_app`` builds the Flask app; ``python -m hall_display --config display.toml``
follows the queue state on the bus and serves the board.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from hall_common.config import DisplayConfig
from hall_common.web import health_blueprint, instance_secret

from .board import BoardState


def create_app(config: DisplayConfig, board: BoardState | None = None,
               test_config: dict[str, Any] | None = None) -> Flask:
    """The board for ``config``; ``board`` follows the bus (without one the page shows the
    hall as offline: a test of the page alone). ``test_config`` may set ``HEARTBEAT_S``, how
    often a quiet event stream speaks (a stream whose page has gone ends at its next word,
    so a test's server stops sooner with a short one)."""
    from . import views

    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=instance_secret(config.data_dir / "secret_key"),
        HALL_ID=config.hall_id,
        HALL_NAME=config.hall_name,
        VOICE_DIR=config.data_dir / "voice",
        VOICE=config.voice,
        TIMEZONE=config.timezone,
        HEARTBEAT_S=views.HEARTBEAT_S,
    )
    app.config.update(test_config or {})
    state = board or BoardState()
    app.extensions["board_state"] = state
    app.register_blueprint(views.bp)
    app.register_blueprint(
        health_blueprint(lambda: {"part": "hall_display", "node": config.node_id, "edge_up": state.edge_up,
                                  "ts": time.time()})
    )
    return app
