"""The edge agent: the hall's one writer of hall-wide state (DESIGN rule 1), as a list of
components (:mod:`edge_agent.component`) on one bus client. Each component owns one
connection to ``edge.db`` and the lock every thread holds to use it (docs/architecture.md,
"the thread-and-connection rule")."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from hall_common.config import EdgeConfig
from hall_common.runner import node_bus
from hall_common.storage import open_database

from .aed import Aed
from .alarms import Alarms
from .bills import BillsRelay
from .buzzer import AlarmBuzzer
from .complaints.service import ComplaintService
from .component import Component
from .db import migrations
from .disclosures import DisclosureLibrary
from .environment import Environment
from .first_aid import FirstAid
from .gpio import pin_factory
from .ha_discovery import HaDiscovery
from .handover import Handover
from .help_requests import HelpRequests
from .managed import managed_components
from .metrics import EdgeMetrics
from .nodes import Nodes
from .payments import PaymentDesk
from .refund_slips import RefundSlips
from .printing.service import PrintService
from .queue.service import QueueService
from .registers.service import Registers
from .retention import Retention
from .services import NAMES, EdgeServices
from .sync import CentreSync

log = logging.getLogger(__name__)

SW_VERSION = "0.1.0"


class EdgeAgent:
    """Builds the components, attaches them to the bus, starts them in order and closes
    them in reverse. Example: ``agent = EdgeAgent(config); agent.start(); ...; agent.close()``."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        path = self.db_path = Path(config.data_dir) / "edge.db"
        open_database(path, migrations).close()  # the schema, before any component opens the file
        # Requests and events sent while the agent restarts wait at the broker for it.
        bus = self.bus = node_bus(config, kind="edge", sw=SW_VERSION, session_expiry=3600)
        self.pin_factory = pins = pin_factory(config.hardware)
        zone, node = config.printing.timezone, config.node_id
        self.sync = CentreSync(config, db_path=path, bus=bus)
        nudge = self.sync.nudge
        self.alarms = Alarms(path, bus, node=node, nudge=nudge)
        self.environment = Environment(config.environment, db_path=path, alarms=self.alarms, devices=config.devices,
                                       ignore={config.aed.node} - {None})
        self.aed = Aed(config.aed, db_path=path, alarms=self.alarms, bus=bus, timezone=zone, pin_factory=pins)
        self.buzzer = (AlarmBuzzer(self.alarms, pin=config.hardware.buzzer_pin, pin_factory=pins)
                       if config.hardware.buzzer_pin is not None else None)
        self.first_aid = FirstAid(path, devices=config.devices, config=config.first_aid, alarms=self.alarms, node=node,
                                  nudge=nudge, timezone=zone)
        self.printing = PrintService(config, db_path=path, bus=bus, alarms=self.alarms)
        self.queue = QueueService(config.queue, db_path=path, bus=bus, node=node, nudge=nudge, pin_factory=pins)
        self.complaints = ComplaintService(config.complaints, db_path=path, bus=bus, alarms=self.alarms, node=node,
                                           nudge=nudge, keep_years=config.privacy.keep_years)
        self.disclosures = DisclosureLibrary(db_path=path)
        self.help = HelpRequests(db_path=path, nudge=nudge)
        self.retention = Retention(config.privacy, db_path=path, alarms=self.alarms, node=node, nudge=nudge, timezone=zone)
        self.registers = Registers(config.registers, db_path=path, alarms=self.alarms, printing=self.printing, node=node,
                                   nudge=nudge, timezone=zone)
        api = self.sync.api()
        self.bills, self.payments, self.refunds = (None, None, None) if api is None else (
            BillsRelay(api), PaymentDesk(db_path=path, centre=api, bus=bus, printing=self.printing, timezone=zone),
            RefundSlips(db_path=path, centre=api, printing=self.printing, timezone=zone))
        self.metrics = EdgeMetrics(alarms=self.alarms, printing=self.printing, environment=self.environment, bus=bus)
        self.nodes = Nodes(config, db_path=path, metrics=self.metrics, syncs=self.sync.syncs, session=lambda: bus.session)
        self.ha = HaDiscovery(config, registry=self.nodes.registry, sw=SW_VERSION)
        self.handover = Handover(path, lambda: self.services, node=node, nudge=nudge, timezone=zone)
        self.components: list[Component] = [c for c in (
            self.nodes, self.alarms, self.buzzer, self.environment, self.aed, self.first_aid, self.printing, self.queue,
            self.complaints, self.disclosures, self.help, self.registers, self.retention, self.bills, self.payments,
            self.refunds, self.handover, self.ha, self.sync, *managed_components(self),
        ) if c is not None]
        for component in self.components:
            component.attach(bus)
        bus.on_connected(lambda: threading.Thread(target=self._republish, name="republish", daemon=True).start())

    @property
    def services(self) -> EdgeServices:
        """What the staff console uses of the agent: each service its attribute of that name (None if none)."""
        return EdgeServices(**{name: getattr(self, name, None) for name in NAMES})

    def start(self) -> None:
        self.bus.start()
        for component in self.components:
            component.start()

    def close(self) -> None:
        """In reverse order of start: stop each component's threads (bus still up), close the bus, release each."""
        for component in reversed(self.components):
            component.stop()
        self.bus.close()
        for component in reversed(self.components):
            component.close()

    def _republish(self) -> None:
        """After a reconnect, on its own thread (it reads the database): retain what the broker lost."""
        for component in self.components:
            try:
                component.republish()
            except Exception:  # one component's failure must not keep the others' state off the bus
                log.exception("republishing %s failed", component.name)
