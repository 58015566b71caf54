"""The hall's edge agent: the one writer of hall-wide state, and the staff console.

``create_app`` builds the staff console; ``python -m edge_agent --config edge.toml`` runs
the agent (bus side) and serves the console.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from hall_common import auth, disk
from hall_common.config import EdgeConfig
from hall_common.sessions import MemorySessions
from hall_common.web import get_db, health_blueprint, init_db, instance_secret

from . import console_services
from .db import migrations
from .services import EdgeServices


def create_app(config: EdgeConfig, test_config: dict[str, Any] | None = None, *,
               services: EdgeServices | None = None) -> Flask:
    """The staff console for the hall described by ``config``. ``services`` are the agent's
    live services when the console runs beside it (``agent.services``); a page that needs
    one that is not there answers 503 saying so (see :mod:`edge_agent.console_services`).
    Without any, the console still shows what ``edge.db`` holds."""
    app = Flask(__name__)
    disk.watch(config.data_dir, min_free_mb=config.disk_min_free_mb)  # the console's disk banner
    app.config.from_mapping(
        DATABASE=str(config.data_dir / "edge.db"),
        SECRET_KEY=instance_secret(config.data_dir / "secret_key"),
        HALL_ID=config.hall_id,
        HALL_NAME=config.hall_name,
        CONSOLE_TITLE=f"{config.hall_name} · 员工控制台",
        STALE_AFTER=config.stale_after,
        DEVICES=config.devices,
        HALL_TZ=config.printing.timezone,
        SYNCS=config.centre is not None and config.centre.token_file is not None,
        PRINTERS=config.printers,
    )
    app.config.update(test_config or {})
    console_services.init_app(app, services)
    init_db(app, migrations)
    # Logins live in this process, not in edge.db: staff can log in on a full disk to read
    # the banner saying so (hall_common/sessions.py).
    sessions = MemorySessions()
    auth.init_app(app, lambda: auth.SqliteUsers(get_db()), lambda: sessions,
                  bootstrap=config.bootstrap_user, console=config.console)
    _register_blueprints(app)
    app.register_blueprint(health_blueprint(lambda: {"part": "edge_agent", "hall": config.hall_id, "ts": time.time()}))

    @app.template_filter("ago")
    def ago(ts: float | None) -> str:
        if ts is None:
            return "—"
        seconds = max(0, int(time.time() - ts))
        return f"{seconds} 秒前" if seconds < 120 else f"{seconds // 60} 分钟前"

    return app


def _register_blueprints(app: Flask) -> None:
    """One blueprint per area of the console, imported here rather than with the package, so
    the agent and the tools that import ``edge_agent`` do not load every page."""
    from . import (aed_views, complaint_views, console, counters, environment_views, first_aid_views, handover_views,
                   metrics_views, payment_views, privacy_views, register_views, track_views)

    for area in (console, counters, track_views, complaint_views, payment_views, privacy_views, environment_views,
                 first_aid_views, aed_views, metrics_views, handover_views, register_views):
        app.register_blueprint(area.bp)
