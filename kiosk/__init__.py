"""The resident-facing touchscreen kiosk.

``create_app`` builds the Flask app; ``python -m kiosk --config kiosk.toml`` connects the
kiosk to the hall bus and serves it for Chromium in kiosk mode.

Every screen is server-rendered in the resident's language (zh-CN by default, English on
request, for this session only), sized for touch on the configured panel, and forgets the
resident when the session ends: on idle timeout, at the end of a flow, or when the next
person starts.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any, Callable

from babel import Locale
from flask import Flask, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from hall_common import disk
from hall_common.bus.client import BusClient
from hall_common.config import KioskConfig
from hall_common.print_client import PrintClient
from hall_common.privacy import mask_name, mask_phone
from hall_common.voice import Voice
from hall_common.web import health_blueprint, instance_secret

from . import disk_state
from .camera import camera_from
from .ime import INDEX_PATH, PinyinIME
from .payment_watch import PaymentWatch
from .status import OFFLINE, HallStatus


def create_app(
    config: KioskConfig,
    status: HallStatus | None = None,
    bus: BusClient | None = None,
    test_config: dict[str, Any] | None = None,
) -> Flask:
    """The kiosk app. ``status`` and ``bus`` connect it to the hall; without them (a test
    of pages alone) it shows itself cut off from the edge agent."""
    app = Flask(__name__)
    settings = config.settings
    watch = disk.watch(config.data_dir, min_free_mb=config.disk_min_free_mb)
    app.config.from_mapping(
        SECRET_KEY=_secret_key(config, watch),
        HALL_ID=config.hall_id,
        HALL_NAME=config.hall_name,
        NODE_ID=config.node_id,
        SETTINGS=settings,
        CLOCK=lambda: datetime.now(timezone.utc),
        BUS_TIMEOUT=3.0,
        FOLLOW_URL=config.follow_url,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        # A kiosk session never outlives the browser; the idle timer ends it much sooner.
        SESSION_PERMANENT=False,
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE=settings.hours.timezone,
        WTF_CSRF_TIME_LIMIT=None,
        DISK_CHECK_S=disk_state.EVERY_S,
    )
    app.config.update(test_config or {})
    app.extensions["hall_status"] = status
    app.extensions["bus"] = bus
    # The kiosk's own disk: a banner for staff, /healthz, and the state on the bus.
    app.extensions["disk"] = watch
    if bus is not None:
        reporter = disk_state.DiskReporter(watch, bus, every_s=app.config["DISK_CHECK_S"])
        app.extensions["disk_reporter"] = reporter.start()
    # Tickets and receipts go through the edge's print service (flows call .print()).
    app.extensions["printing"] = PrintClient(bus) if bus is not None else None
    # Payment outcomes for orders started here wake the page that waits for them.
    app.extensions["payments"] = PaymentWatch(bus) if bus is not None else None
    app.extensions["voice"] = Voice(config.data_dir / "voice")
    # The pinyin index is a file built at set-up, opened on first use (kiosk.__main__ opens it at start).
    app.extensions["ime"] = PinyinIME(config.ime_index or INDEX_PATH)
    app.extensions["camera"] = camera_from(config.camera)  # None: no scan button on /track
    app.config.setdefault("CAMERA_SCAN_S", config.camera.scan_s)
    # Resident QR codes are signed with the centre's configuration key (domain-separated).
    app.config.setdefault("RESIDENT_PUBLIC_KEY", config.config_public_key)

    # Parsed once: Babel's Locale.parse of a string scans every known locale (0.5 ms a page).
    locales = {code: Locale.parse(code) for code in settings.languages}

    def locale() -> Locale:
        lang = session.get("lang")
        return locales[lang if lang in locales else settings.languages[0]]

    Babel(app, locale_selector=locale)
    CSRFProtect(app)

    from . import (bill_payment, bills, complaints, disclosures, features, flows, home, keyboard, kiosk_session, queue,
                   rating, voice_views)

    for screens in (home, kiosk_session, flows, queue, complaints, disclosures, bills, bill_payment, rating, keyboard,
                    voice_views):
        app.register_blueprint(screens.bp)
    app.register_blueprint(health_blueprint(lambda: _health(app, config)))
    app.context_processor(features.template_context)
    app.add_template_filter(mask_phone)
    app.add_template_filter(mask_name)

    @app.after_request
    def no_store(response):
        # Nothing a resident saw may come back from the browser's cache for the next one.
        # Disclosure pictures are public and addressed by their hash: those may be cached.
        if request.endpoint not in ("static", "disclosures.image"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


def _secret_key(config: KioskConfig, watch: disk.DiskWatch) -> str:
    """The session key kept in the data directory. A kiosk started on a full disk before
    it ever stored one still starts, with a key for this run only: a kiosk session never
    outlives the browser's, so nothing is lost but the sessions open at a restart."""
    try:
        return instance_secret(config.data_dir / "secret_key")
    except OSError as exc:
        if not watch.write_failed("secret_key", exc):
            raise
        return secrets.token_urlsafe(32)


def _health(app: Flask, config: KioskConfig) -> dict[str, object]:
    from hall_common.hours import today

    status = app.extensions["hall_status"]
    snap = status.snapshot() if status else OFFLINE
    now: Callable[[], datetime] = app.config["CLOCK"]
    open_now = today(config.settings.hours, now()).open_now
    disk_state = app.extensions["disk"].state()
    return {
        "part": "kiosk",
        "node": config.node_id,
        "edge_up": snap.edge_up,
        "centre_up": snap.centre_up,
        "printer_ok": snap.printer_ok,
        "disk_full": disk_state.full,
        "disk_free_mb": None if disk_state.free_mb is None else round(disk_state.free_mb, 1),
        "open": open_now,
        "screen": "off" if config.settings.blank_when_closed and not open_now else "on",
        "ts": time.time(),
    }
