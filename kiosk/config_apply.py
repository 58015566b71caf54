"""Signed configuration from the centre, applied by the kiosk without a restart.

The edge agent publishes each kiosk's desired configuration retained on
``hall/v1/{hall}/config/{node}``. The kiosk checks, in order: the Ed25519 signature (made
for this hall and this kiosk), that the version is newer than the one it runs, that it has
not expired, and that the body passes the kiosk's own schema; a failure is ``rejected``
with the reason. Then it applies the settings and runs a self-check (every screen renders;
the printer it names is one the edge reports); a failure rolls back to the last good
configuration, ``rolled_back`` with the reason. Otherwise ``applied``. The outcome is
reported retained on ``hall/v1/{hall}/{node}/config/reported``, which the edge syncs to
the centre. The last applied document is kept on disk (mode 600), so a restart runs it.

A configuration that cannot be kept on disk (a full disk) is not applied: it would be lost
at the next restart, and the kiosk would run an older one without saying so. The settings
in force stay, the stored document stays byte for byte, and the report is ``rolled_back``
with the reason, which reaches the centre. Once the disk has room again (the kiosk's
:class:`kiosk.disk_state.DiskReporter` sees it), that document is considered again.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from flask import Flask
from pydantic import ValidationError

from central_sync.signing import ConfigRejected, verify
from hall_common import disk
from hall_common.bus import contract
from hall_common.bus.client import BusClient, BusMessage
from hall_common.bus.payloads import ConfigDesired, ConfigReported
from hall_common.config import KioskSettings
from hall_common.storage import write_private

log = logging.getLogger(__name__)

SCREENS = ("/", "/info", "/help", "/track")


class ConfigApplier:
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
        self.app, self.bus, self.public_key = app, bus, public_key
        self.state_path, self.printers, self.clock = state_path, printers, clock
        self._lock = threading.Lock()
        self.version = 0
        self.last: ConfigReported | None = None
        self._unstored: ConfigDesired | None = None
        self._load()
        bus.subscribe(contract.CONFIG_DESIRED.topic(hall=bus.hall_id, node=bus.node_id), self._on_desired)
        bus.on_connected(self._report_again)
        reporter = app.extensions.get("disk_reporter")
        if reporter is not None:
            reporter.on_room(self._retry_unstored)

    def _load(self) -> None:
        """Run the last applied configuration again after a restart, if it still verifies."""
        try:
            doc = ConfigDesired.model_validate_json(self.state_path.read_bytes())
            verify(self.public_key, doc, hall=self.bus.hall_id, node=self.bus.node_id)
            self.app.config["SETTINGS"] = KioskSettings.model_validate(doc.body)
            self.version = doc.version
            self.bus.config_version = doc.version
        except FileNotFoundError:
            return
        except (ConfigRejected, ValidationError, ValueError) as exc:
            log.error("config: the stored configuration is not usable (%s); running the file's settings", exc)

    def _on_desired(self, msg: BusMessage) -> None:
        with self._lock:
            report = self.consider(msg.payload)
        self._report(report)

    def consider(self, doc: ConfigDesired) -> ConfigReported:
        try:
            verify(self.public_key, doc, hall=self.bus.hall_id, node=self.bus.node_id)
            if doc.version == self.version and self.version > 0:
                # The one it runs, again: the retained copy after a reconnect or a restart.
                return ConfigReported(version=self.version, status="applied", reason="")
            if doc.version <= self.version:
                raise ConfigRejected(f"version {doc.version} is not newer than {self.version}")
            if doc.expires < self.clock():
                raise ConfigRejected(f"version {doc.version} expired")
            try:
                settings = KioskSettings.model_validate(doc.body)
            except ValidationError as exc:
                first = exc.errors()[0]
                raise ConfigRejected(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        except ConfigRejected as exc:
            log.warning("config: version %s rejected: %s", doc.version, exc)
            return ConfigReported(version=self.version, status="rejected", reason=f"{doc.version}: {exc}"[:500])
        previous = self.app.config["SETTINGS"]
        self.app.config["SETTINGS"] = settings
        problem = self.self_check(settings)
        if problem:
            self.app.config["SETTINGS"] = previous
            log.warning("config: version %s rolled back: %s", doc.version, problem)
            return ConfigReported(version=self.version, status="rolled_back", reason=f"{doc.version}: {problem}"[:500])
        try:
            write_private(self.state_path, doc.model_dump_json().encode())
        except OSError as exc:
            self.app.config["SETTINGS"] = previous
            full = disk.watch(self.state_path.parent).write_failed("applied-config.json", exc)
            why = "the kiosk's disk is full" if full else f"cannot store it: {exc.strerror or exc}"
            log.error("config: version %s rolled back: %s", doc.version, why)
            if full:
                self._unstored = doc
            return ConfigReported(version=self.version, status="rolled_back", reason=f"{doc.version}: {why}"[:500])
        disk.watch(self.state_path.parent).write_ok()
        self.version = doc.version
        self.bus.config_version = doc.version
        log.info("config: version %s applied", doc.version)
        self.last = ConfigReported(version=doc.version, status="applied", reason="")
        return self.last

    def _retry_unstored(self) -> None:
        """The disk has room again: apply the document a full disk made us roll back."""
        with self._lock:
            doc, self._unstored = self._unstored, None
            if doc is None or doc.version <= self.version:
                return
            report = self.consider(doc)
        self._report(report)

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

    def _report(self, report: ConfigReported) -> None:
        self.last = report
        self.bus.publish(contract.CONFIG_REPORTED, report, hall=self.bus.hall_id, node=self.bus.node_id)

    def _report_again(self) -> None:
        if self.last is not None:
            self.bus.publish(contract.CONFIG_REPORTED, self.last, hall=self.bus.hall_id, node=self.bus.node_id)


def printers_from(status) -> Callable[[], set[str]]:
    """The printers the edge reports, from the kiosk's view of the hall."""
    return lambda: status.printer_names()


