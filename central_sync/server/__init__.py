"""The central server: the sync API many halls talk to, and the admin console.

``create_app`` builds it; ``python -m central_sync.server --config central.toml`` serves it.
The database URL picks SQLite (one machine) or PostgreSQL (production, where several
stateless workers run against one database: nothing here keeps state between requests).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from central_sync.signing import load_or_create_key
from hall_common import auth
from hall_common.config import CentralConfig
from hall_common.web import health_blueprint, instance_secret

from .db import StoreSessions, StoreUsers, get_store, init_store


def create_app(config: CentralConfig, test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=instance_secret(config.data_dir / "secret_key"),
        CONSOLE_TITLE="物业服务中心 · 管理后台",
        CONSOLE_COLOUR="#3b2a63",
        MAX_BATCH_BYTES=config.max_batch_bytes,
        CONFIG_VALID_DAYS=config.config_valid_days,
        FLEET_OFFLINE_AFTER=config.fleet_offline_after_s,
    )
    app.config.update(test_config or {})
    init_store(app, config.database_url)
    app.extensions["config_key"] = load_or_create_key(config.signing_key_file or config.data_dir / "config_signing.key")
    auth.init_app(app, lambda: StoreUsers(get_store()), lambda: StoreSessions(get_store()),
                  bootstrap=config.bootstrap_user, console=config.console)
    from . import (access, admin, api, complaints, config_views, configs, content, devices, disclosures, enrol_api,
                   fleet, handovers, payment_console, report_views, rollouts, users)

    for area in (admin, fleet, configs, config_views, content, disclosures, complaints, handovers, report_views, users,
                 devices, rollouts, payment_console, api, enrol_api):
        app.register_blueprint(area.bp)
    app.context_processor(access.template_helpers)
    auth.csrf.exempt(api.bp)  # halls authenticate with a bearer token, not a browser cookie
    auth.csrf.exempt(enrol_api.bp)  # a join code or a hall's bearer token, not a browser cookie
    from .payments import init_app as init_payments

    init_payments(app, config)
    from .reconciliation_views import init_app as init_reconciliation

    init_reconciliation(app, config)
    from .retention import RetentionJob

    job = app.extensions["retention"] = RetentionJob(keep_years=config.privacy.keep_years, database_url=config.database_url,
                                                     pool=app.extensions.get("store_pool"))
    if app.config.get("RETENTION_THREAD", True):  # tests that move the clock call retention.run themselves
        job.start()
    app.register_blueprint(health_blueprint(lambda: {"part": "central", "ts": time.time()}))

    @app.template_filter("when")
    def when(ts: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "—"

    return app
