"""Signed settings from the centre, applied by a hall part without a restart: one applier
for the kiosk, the edge and the board, each a subclass that names its settings model and
how to put settings in force.

The edge publishes each node's document retained on ``hall/v1/{hall}/config/{node}``. The
part checks, in order: the Ed25519 signature (made for this hall and this node), that the
version is newer than the one it runs, that it has not expired, and that the body passes
the part's own settings model; a failure is ``rejected`` with the reason (``"{version}:
why"``, so the centre can tell which document it was about). Then it puts the settings in
force and runs the part's self-check; a failure puts the previous settings back,
``rolled_back`` with the reason. Otherwise ``applied``. The outcome is reported retained on
``hall/v1/{hall}/{node}/config/reported``, which the edge syncs to the centre. The last
applied document is kept on disk (mode 600), so a restart runs it.

A document that cannot be kept on disk (a full disk) is not applied: it would be lost at the
next restart, and the part would run older settings without saying so. The settings in
force stay and the report is ``rolled_back`` with the reason; :meth:`retry_unstored`
considers it again once the disk has room.

Example (a subclass)::

    class BoardSettingsApplier(SignedConfigApplier[BoardSettings]):
        model = BoardSettings
        def current(self): ...
        def install(self, settings): ...

    applier = BoardSettingsApplier(bus, public_key=key, state_path=data_dir / "applied-config.json")
    applier.listen()          # before or after bus.start()
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from central_sync.signing import ConfigRejected, verify
from hall_common import disk
from hall_common.bus import contract
from hall_common.bus.client import BusMessage
from hall_common.bus.payloads import ConfigDesired, ConfigReported
from hall_common.private_files import write_private

log = logging.getLogger(__name__)

S = TypeVar("S", bound=BaseModel)


class SignedConfigApplier(Generic[S]):
    """Checks, applies, stores and reports signed settings documents for one node.

    Subclasses set :attr:`model` and implement :meth:`current` and :meth:`install`; they may
    add a :meth:`self_check`. ``bus`` is the part's bus client (its hall and node are the
    ones the signature must name); ``clock`` judges expiry."""

    model: ClassVar[type[BaseModel]]
    part: ClassVar[str] = "node"
    """How log lines name the part."""

    def __init__(self, bus: Any, *, public_key: str, state_path: Path, clock: Callable[[], float] = time.time) -> None:
        self.bus, self.public_key, self.state_path, self.clock = bus, public_key, state_path, clock
        self._apply_lock = threading.Lock()
        self.version = 0
        self.last: ConfigReported | None = None
        self._unstored: ConfigDesired | None = None

    # -- what a part provides ----------------------------------------------------------------

    def current(self) -> S:
        """The settings in force now."""
        raise NotImplementedError

    def install(self, settings: S) -> None:
        """Put ``settings`` in force (also used to put the previous ones back)."""
        raise NotImplementedError

    def self_check(self, settings: S) -> str | None:
        """Why the part cannot run ``settings`` (now in force), or None if it can."""
        return None

    # -- wiring ------------------------------------------------------------------------------

    def listen(self) -> None:
        """Run the stored document again, then follow this node's desired-config topic and
        report again after every reconnect."""
        self.load()
        self.bus.subscribe(contract.CONFIG_DESIRED.topic(hall=self.bus.hall_id, node=self.bus.node_id), self.on_desired)
        self.bus.on_connected(self.report_again)

    def load(self) -> None:
        """Run the last applied document again after a restart, if it still verifies."""
        try:
            doc = ConfigDesired.model_validate_json(self.state_path.read_bytes())
            verify(self.public_key, doc, hall=self.bus.hall_id, node=self.bus.node_id)
            self.install(self.model.model_validate(doc.body))  # type: ignore[arg-type]
            self.version = doc.version
            self.bus.config_version = doc.version
        except FileNotFoundError:
            return
        except (ConfigRejected, ValidationError, ValueError) as exc:
            log.error("config: the stored %s settings are not usable (%s); running the file's", self.part, exc)

    def on_desired(self, msg: BusMessage) -> None:
        with self._apply_lock:
            report = self.consider(msg.payload)
        self.report(report)

    # -- the rule ----------------------------------------------------------------------------

    def consider(self, doc: ConfigDesired) -> ConfigReported:
        """Check ``doc`` and apply it if it passes; the report to send (not sent here)."""
        try:
            settings = self.check(doc)
        except ConfigRejected as exc:
            log.warning("config: version %s rejected: %s", doc.version, exc)
            return ConfigReported(version=self.version, status="rejected", reason=f"{doc.version}: {exc}"[:500])
        if settings is None:  # the one it runs, again: the retained copy after a reconnect
            return ConfigReported(version=self.version, status="applied", reason="")
        previous = self.current()
        self.install(settings)
        problem = self.self_check(settings)
        if problem:
            self.install(previous)
            log.warning("config: version %s rolled back: %s", doc.version, problem)
            return ConfigReported(version=self.version, status="rolled_back", reason=f"{doc.version}: {problem}"[:500])
        try:
            write_private(self.state_path, doc.model_dump_json().encode())
        except OSError as exc:
            self.install(previous)
            full = disk.watch(self.state_path.parent).write_failed(self.state_path.name, exc)
            why = f"the {self.part}'s disk is full" if full else f"cannot store it: {exc.strerror or exc}"
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

    def check(self, doc: ConfigDesired) -> S | None:
        """The settings ``doc`` carries, None if it is the version in force; raises
        :class:`ConfigRejected` with the reason otherwise."""
        verify(self.public_key, doc, hall=self.bus.hall_id, node=self.bus.node_id)
        if doc.version == self.version and self.version > 0:
            return None
        if doc.version <= self.version:
            raise ConfigRejected(f"version {doc.version} is not newer than {self.version}")
        if doc.expires < self.clock():
            raise ConfigRejected(f"version {doc.version} expired")
        try:
            return self.model.model_validate(doc.body)  # type: ignore[return-value]
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigRejected(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None

    def retry_unstored(self) -> None:
        """The disk has room again: apply the document a full disk made us roll back."""
        with self._apply_lock:
            doc, self._unstored = self._unstored, None
            if doc is None or doc.version <= self.version:
                return
            report = self.consider(doc)
        self.report(report)

    # -- reports -----------------------------------------------------------------------------

    def report(self, report: ConfigReported) -> None:
        self.last = report
        self.bus.publish(contract.CONFIG_REPORTED, report, hall=self.bus.hall_id, node=self.bus.node_id)

    def report_again(self) -> None:
        if self.last is not None:
            self.bus.publish(contract.CONFIG_REPORTED, self.last, hall=self.bus.hall_id, node=self.bus.node_id)
