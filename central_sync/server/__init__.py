"""The central server: the sync API many halls talk to, and the admin console.

``create_app`` builds it; ``python -m central_sync.server --config central.toml`` serves it.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from hall_common import auth
from hall_common.config import CentralConfig
from hall_common.web import health_blueprint, init_db, instance_secret

from .db import migrations


def create_app(config: CentralConfig, test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        DATABASE=str(config.sqlite_path()),
        SECRET_KEY=instance_secret(config.data_dir / "secret_key"),
        CONSOLE_TITLE="物业服务中心 · 管理后台",
        CONSOLE_COLOUR="#3b2a63",
    )
    app.config.update(test_config or {})
    init_db(app, migrations)
    auth.init_app(app, bootstrap=config.bootstrap_user)
    from . import admin

    app.register_blueprint(admin.bp)
    app.register_blueprint(health_blueprint(lambda: {"part": "central", "ts": time.time()}))

    @app.template_filter("when")
    def when(ts: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "—"

    return app
