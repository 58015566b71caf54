"""The kiosk's own screens, rendered at the centre with a configuration not yet published.

A preview is the real kiosk app (``kiosk.create_app``, its templates and styles) built
with the settings to preview and served read only under ``/configs/preview/<token>/<lang>/``,
shown in a frame beside the form. Nothing of the hall is connected: the edge is "up" with
each configured service and no waiting figures, and the places where live data would come
(people waiting, estimated waits) say so. When the hall is closed now, the screens are
shown as at its next opening, so the open hall's screens can be seen at any hour.

The token carries the settings themselves, signed with the centre's secret and valid for a
day: an unsaved draft can be previewed, and any worker of the centre can serve it (nothing
is kept between requests but a small cache of built apps).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Flask
from itsdangerous import BadData, URLSafeTimedSerializer

from hall_common.bus.payloads import QueueState, ServiceNow
from hall_common.config import KioskConfig, KioskSettings
from hall_common.hours import today
from kiosk.status import Snapshot

LIVE_PLACEHOLDER = "〔实时：等候人数与时间 · live: people waiting, wait〕"
LANGS = ("zh_CN", "en")
MAX_AGE_S = 24 * 3600
CACHED = 16

PREVIEW_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "media-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'self'",
))
"""The console's policy, except that the console itself may frame these pages."""


class PreviewStatus:
    """The hall as a preview shows it: everything up, each configured service offered,
    no live figures (the template says where they would be)."""

    announcement = ""

    def __init__(self, settings: KioskSettings) -> None:
        self.queue = QueueState(ts=time.time(), services=[
            ServiceNow(service=s.id, name_zh=s.name_zh, name_en=s.name_en, prefix=s.prefix, waiting=0)
            for s in settings.services])

    def snapshot(self) -> Snapshot:
        return Snapshot(edge_up=True, centre_up=True, printer_ok=True)

    def printer_names(self) -> set[str]:
        return set()


def shown_at(settings: KioskSettings, now: datetime | None = None) -> tuple[datetime, bool]:
    """The moment the preview shows (now, or the next opening when closed now) and
    whether it is now."""
    now = now or datetime.now(timezone.utc)
    day = today(settings.hours, now)
    if day.open_now or day.next_open is None:
        return now, True
    return (day.next_open + timedelta(minutes=1)).astimezone(timezone.utc), False


class Previews:
    """Tokens for configurations to preview, and the kiosk apps that render them."""

    def __init__(self, secret_key: str) -> None:
        self._signer = URLSafeTimedSerializer(secret_key, salt="kiosk-preview")
        self._dir: Path | None = None
        self._apps: OrderedDict[str, Flask] = OrderedDict()
        self._lock = threading.Lock()

    def token(self, *, hall_id: str, hall_name: str, body: dict[str, Any]) -> str:
        return self._signer.dumps({"hall": hall_id, "name": hall_name, "body": body})

    def open(self, token: str) -> dict[str, Any] | None:
        """What ``token`` previews (hall, name, body), or None if forged or expired."""
        try:
            return self._signer.loads(token, max_age=MAX_AGE_S)
        except BadData:
            return None

    def app(self, token: str, what: dict[str, Any]) -> Flask:
        """The kiosk app rendering ``what``; built once for a token, a few kept."""
        with self._lock:
            if token in self._apps:
                self._apps.move_to_end(token)
                return self._apps[token]
        app = self._build(what)
        with self._lock:
            self._apps[token] = app
            while len(self._apps) > CACHED:
                self._apps.popitem(last=False)
        return app

    def _build(self, what: dict[str, Any]) -> Flask:
        import kiosk

        settings = KioskSettings.model_validate(what["body"])
        with self._lock:
            if self._dir is None:  # the kiosk app's data directory: its session key, voice cache
                self._dir = Path(tempfile.mkdtemp(prefix="kiosk-preview-"))
                atexit.register(shutil.rmtree, self._dir, True)
        config = KioskConfig(
            hall_id=what["hall"], hall_name=what["name"] or what["hall"], node_id="preview", data_dir=self._dir,
            broker={"password_file": self._dir / "no-broker"}, http={"port": 1}, settings=settings,
        )
        return kiosk.create_app(config, PreviewStatus(settings), None, {  # type: ignore[arg-type]
            "PREVIEW": LIVE_PLACEHOLDER,
            "CLOCK": lambda: shown_at(settings)[0],
        })

    def session_cookie(self, app: Flask, lang: str) -> str:
        """A kiosk session cookie choosing ``lang``: the kiosk's language is per session."""
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        return f"{app.config.get('SESSION_COOKIE_NAME', 'session')}={serializer.dumps({'lang': lang})}"
