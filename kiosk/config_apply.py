"""Signed configuration from the centre, applied by the kiosk without a restart.

The rule (signature for this hall and kiosk, a newer version, not expired, the kiosk's own
schema, a self-check, kept on disk, reported) is the one every hall part follows:
:class:`hall_common.signed_config.SignedConfigApplier`. What is the kiosk's own: its
settings are :class:`~hall_common.config.KioskSettings` in ``app.config["SETTINGS"]``, and
its self-check (every screen renders; the printer it names is one the edge reports). A
configuration a full disk kept from being stored is considered again once the kiosk's
:class:`kiosk.disk_state.DiskReporter` sees room.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from flask import Flask

from hall_common.bus.client import BusClient
from hall_common.config import KioskSettings
from hall_common.signed_config import SignedConfigApplier

SCREENS = ("/", "/info", "/help", "/track")


class ConfigApplier(SignedConfigApplier[KioskSettings]):
    model = KioskSettings
    part = "kiosk"

    def __init__(
        self,
        app: Flask,
        bus: BusClient,
        *,
        public_key: str,
        state_path: Path,
        printers: Callable[[], set[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(bus, public_key=public_key, state_path=state_path, clock=clock)
        self.app, self.printers = app, printers
        self.listen()
        reporter = app.extensions.get("disk_reporter")
        if reporter is not None:
            reporter.on_room(self.retry_unstored)

    def current(self) -> KioskSettings:
        return self.app.config["SETTINGS"]

    def install(self, settings: KioskSettings) -> None:
        self.app.config["SETTINGS"] = settings

    def self_check(self, settings: KioskSettings) -> str | None:
        """Why the kiosk cannot run ``settings`` (now in place), or None if it can."""
        if settings.printer is not None and settings.printer not in self.printers():
            return f"printer {settings.printer!r} is not one of the hall's printers"
        client = self.app.test_client()
        for path in SCREENS:
            status = client.get(path).status_code
            if status != 200:
                return f"screen {path} answers {status}"
        return None


def printers_from(status) -> Callable[[], set[str]]:
    """The printers the edge reports, from the kiosk's view of the hall."""
    return lambda: status.printer_names()
