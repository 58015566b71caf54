"""The edge agent's bus side: it listens to every node of the hall and answers requests.

The agent is the only writer of hall-wide state (DESIGN rule 1). Everything here runs on
the bus worker thread, one message at a time, so the database needs no locking.
"""

from __future__ import annotations

import logging
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from central_sync import client as outbox
from central_sync.client import SyncWorker
from central_sync.protocol import ConfigItem, ContentItem
from hall_common.bus import contract
from hall_common.bus.client import BusMessage
from hall_common.bus.payloads import Announcement
from hall_common.errors import PayloadError, TopicError
from hall_common.config import EdgeConfig
from hall_common.runner import node_bus
from hall_common.storage import open_database

from . import disclosures
from .aed import Aed
from .alarms import Alarms
from .bills import BillsRelay
from .buzzer import AlarmBuzzer
from .centre_api import CentreAPI
from .centre_link import CentreWatch
from .complaints.service import ComplaintService
from .db import migrations
from .environment import Environment
from .first_aid import FirstAid
from .ha_discovery import HaDiscovery
from .metrics import EdgeMetrics
from .payments import PaymentDesk
from .printing.service import PrintService
from .queue.service import QueueService
from .registry import Registry

log = logging.getLogger(__name__)

SW_VERSION = "0.1.0"


class EdgeAgent:
    """Wires the registry and request handlers to the bus.

    Example::

        agent = EdgeAgent(config)
        agent.start()
        ...
        agent.close()
    """

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self._aed_node = config.aed.node
        self._stopping = threading.Event()
        self.db_path: Path = config.data_dir / "edge.db"
        self.db = open_database(self.db_path, migrations, shared_thread=True)
        self.registry = Registry(self.db, stale_after=config.stale_after, devices=config.devices)
        # Requests and events sent while the agent restarts wait at the broker for it.
        self.bus = node_bus(config, kind="edge", sw=SW_VERSION, session_expiry=3600)
        hall = config.hall_id
        self.bus.subscribe(contract.NODE_STATE.filter(hall=hall), self._on_state)
        self.bus.subscribe(contract.BIRTH.filter(hall=hall), self._on_birth)
        self.bus.subscribe(contract.ESPHOME_STATUS.filter(hall=hall), self._on_esphome_status)
        # Readings are handled on the network thread: they only touch memory (the registry's
        # last-seen, the environment's buffer and judgement state), see bench/telemetry_ingest.py.
        self.bus.subscribe(contract.ESPHOME_SENSOR.filter(hall=hall), self._on_reading, qos=0, inline=True)
        self.bus.subscribe(contract.TELEMETRY.filter(hall=hall), self._on_reading, qos=0, inline=True)
        self.bus.serve("ping", self._ping)
        self.bus.serve("help", self._help)
        self.sync: SyncWorker | None = None
        self.centre = (CentreWatch(self.bus, config.centre, on_online=lambda: self.sync and self.sync.nudge())
                       if config.centre is not None else None)
        if config.centre is not None and config.centre.token_file is not None:
            self.sync = SyncWorker(db_path=self.db_path, url=config.centre.url, token=config.centre.token() or "",
                                   hall_id=config.hall_id, batch_size=config.centre.batch_size,
                                   timeout=config.centre.timeout,
                                   feeds={"configs": self._configs_from_centre, "content": self._content_from_centre})
        self.bus.subscribe(contract.CONFIG_REPORTED.filter(hall=hall), self._on_config_reported)
        self.alarms = Alarms(self.db_path, self.bus, node=config.node_id, nudge=self._nudge)
        self.environment = Environment(config.environment, db_path=self.db_path, alarms=self.alarms,
                                       devices=config.devices, ignore={config.aed.node} - {None})
        pins = self._pin_factory(config)
        self.aed = Aed(config.aed, db_path=self.db_path, alarms=self.alarms, bus=self.bus,
                       timezone=config.printing.timezone, pin_factory=pins)
        self.bus.subscribe(contract.ESPHOME_BINARY.filter(hall=hall), self._on_binary)
        self.bus.subscribe(contract.ESPHOME_TEXT.filter(hall=hall), self._on_text)
        self.buzzer: AlarmBuzzer | None = None
        if config.hardware.buzzer_pin is not None:
            self.buzzer = AlarmBuzzer(self.alarms, pin=config.hardware.buzzer_pin, pin_factory=pins)
        self.first_aid = FirstAid(self.db_path, devices=config.devices, config=config.first_aid, alarms=self.alarms,
                                  node=config.node_id, nudge=self._nudge, timezone=config.printing.timezone)
        self.printing = PrintService(config, db_path=self.db_path, bus=self.bus, alarms=self.alarms)
        self.bus.serve("print", self.printing.handle_print)
        self.bus.serve("print_status", self.printing.handle_status)
        self.payments: PaymentDesk | None = None
        if config.centre is not None:
            centre_api = CentreAPI(url=config.centre.url, token=config.centre.token, timeout=min(3.0, config.centre.timeout),
                                   centre_online=lambda: self.centre.online if self.centre is not None else None)
            self.bills = BillsRelay(centre_api)
            self.bus.serve("bills", self.bills.handle_bills)
            self.bus.serve("bill_rooms", self.bills.handle_rooms)
            self.payments = PaymentDesk(db_path=self.db_path, centre=centre_api, bus=self.bus, printing=self.printing,
                                        timezone=config.printing.timezone)
            self.bus.serve("pay", self.payments.handle_pay)
            self.bus.serve("payment_status", self.payments.handle_status)
            self.bus.serve("payment_receipt", self.payments.handle_receipt)
        self.queue = QueueService(config.queue, db_path=self.db_path, bus=self.bus, node=config.node_id,
                                  nudge=self._nudge)
        self.bus.serve("ticket", self.queue.handle_ticket)
        self.bus.serve("counter", self.queue.handle_counter)
        self.bus.serve("rate_service", self.queue.handle_rate_service)
        self.buttons = self._buttons(config)
        self.complaints = ComplaintService(config.complaints, db_path=self.db_path, bus=self.bus, alarms=self.alarms,
                                           node=config.node_id, nudge=self._nudge)
        self.bus.serve("complaint_options", self.complaints.handle_options)
        self.bus.serve("complaint_preview", self.complaints.handle_preview)
        self.bus.serve("complaint", self.complaints.handle_submit)
        self.bus.serve("track", self.complaints.handle_track)
        self.bus.serve("rate", self.complaints.handle_rate)
        self.disclosures = disclosures.DisclosureLibrary(db_path=self.db_path)
        self.bus.serve("disclosures", self.disclosures.handle_list)
        self.bus.serve("disclosure", self.disclosures.handle_item)
        self.bus.serve("disclosure_search", self.disclosures.handle_search)
        self.bus.serve("disclosure_image", self.disclosures.handle_image)
        self.ha = HaDiscovery(config, registry=self.registry, sw=SW_VERSION)
        self.ha.attach(self.bus)
        self.metrics = EdgeMetrics(alarms=self.alarms, printing=self.printing, environment=self.environment, bus=self.bus)
        # Off the network thread: it reads the database.
        self.bus.on_connected(lambda: threading.Thread(target=self._republish, daemon=True).start())

    def _buttons(self, config: EdgeConfig) -> Any:
        pins = {c.id: c.button_pin for c in config.queue.counters if c.button_pin is not None}
        if not pins:
            return None
        from .buttons import CounterButtons

        factory = None
        if config.queue.gpio == "mock":
            from gpiozero.pins.mock import MockFactory

            factory = MockFactory()
        return CounterButtons(pins, lambda counter: self.queue.act(counter, "next"), pin_factory=factory)

    def start(self) -> None:
        self.bus.start()
        if self.centre is not None:
            self.centre.start()
        self.printing.start()
        self.environment.start()
        self.aed.start()
        self.first_aid.start()
        self._ticker = threading.Thread(target=self._tick, name="aed-tick", daemon=True)
        self._ticker.start()
        self.complaints.start()
        if self.payments is not None:
            self.payments.start()
        if self.sync is not None:
            self.sync.start()

    def close(self) -> None:
        if self.sync is not None:
            self.sync.stop()
        if self.payments is not None:
            self.payments.stop()
        self.printing.stop()
        if self.centre is not None:
            self.centre.stop()
        if self.buttons is not None:
            self.buttons.close()
        self.bus.close()
        self.complaints.close()
        self.disclosures.close()
        self.queue.close()
        self.environment.close()  # writes the last buffered readings
        self._stopping.set()
        self.first_aid.close()
        self.aed.close()
        if self.buzzer is not None:
            self.buzzer.close()
        self.alarms.close()
        if self.payments is not None:
            self.payments.close()
        self.db.close()

    def _on_state(self, msg: BusMessage) -> None:
        self.metrics.count(msg)
        if msg.parts["node"] != self.config.node_id:
            self.registry.on_state(msg.parts["node"], msg.payload)

    def _on_birth(self, msg: BusMessage) -> None:
        self.metrics.count(msg)
        node = msg.parts["node"]
        if node == self.config.node_id:
            return
        birth = msg.payload
        self.registry.on_birth(node, birth)
        if self.sync is not None and birth.kind in ("kiosk", "display"):
            # The centre learns the hall's kiosks (for publishing configuration) from these.
            self._to_centre("node_birth", {"node": node, "kind": birth.kind, "sw": birth.sw,
                                           "config_version": birth.config_version}, node)

    def _on_config_reported(self, msg: BusMessage) -> None:
        self.metrics.count(msg)
        if self.sync is not None:
            r = msg.payload
            self._to_centre("config_report", {"node": msg.parts["node"], "version": r.version, "status": r.status,
                                              "reason": r.reason}, msg.parts["node"])

    def _to_centre(self, kind: str, body: dict[str, Any], node: str) -> None:
        with self.db.atomic():
            outbox.add(self.db, kind, body, node=node)
        self._nudge()

    def _nudge(self) -> None:
        if self.sync is not None:
            self.sync.nudge()

    def _configs_from_centre(self, items: list[ConfigItem]) -> None:
        """Signed configurations from the centre (on the sync worker's thread, with a
        connection of its own): kept, then published retained for each node."""
        db = open_database(self.db_path)
        try:
            with db.atomic():
                for item in items:
                    db["desired_configs"].upsert({"node": item.node, "version": item.doc.get("version", 0),
                                                  "doc": json.dumps(item.doc), "received_at": time.time()}, pk="node")
        finally:
            db.close()
        for item in items:
            self._publish_config(item.node, item.doc)

    def _publish_config(self, node: str, doc: dict[str, Any]) -> None:
        try:
            self.bus.publish(contract.CONFIG_DESIRED, doc, hall=self.config.hall_id, node=node)
        except (PayloadError, TopicError, ValueError) as exc:
            log.error("config for %s from the centre not published: %s", node, exc)

    def _content_from_centre(self, items: list[ContentItem]) -> None:
        """Public content from the centre, kept so the hall shows it offline, then published."""
        db = open_database(self.db_path)
        try:
            with db.atomic():
                disclosures.apply(db, items)  # kept in tables of their own, searchable
                for item in items:
                    if item.kind == "disclosure":
                        continue
                    if item.deleted:
                        db["content"].delete_where("kind = ? AND key = ?", [item.kind, item.key])
                    else:
                        db["content"].upsert({"kind": item.kind, "key": item.key, "seq": item.seq,
                                              "body": json.dumps(item.body, ensure_ascii=False)}, pk=("kind", "key"))
            self._publish_announcement(db)
        finally:
            db.close()

    def _publish_announcement(self, db: Any) -> None:
        rows = list(db["content"].rows_where("kind = 'announcement' AND key = 'line'"))
        text = json.loads(rows[0]["body"]).get("text", "") if rows else ""
        seq = rows[0]["seq"] if rows else 0
        self.bus.publish(contract.ANNOUNCEMENT, Announcement(text=text[:200], version=seq, ts=time.time()),
                         hall=self.config.hall_id)

    def _republish(self) -> None:
        """After a reconnect: every node's desired configuration, the announcement, the
        printers' states, the alarms and the queue are retained again (the broker may have
        lost them)."""
        self.printing.republish()
        self.alarms.republish()
        self.aed.publish()
        self.queue.publish_state()
        db = open_database(self.db_path)
        try:
            rows = list(db["desired_configs"].rows)
            for row in rows:
                self._publish_config(row["node"], json.loads(row["doc"]))
            if self.sync is not None:
                self._publish_announcement(db)
        finally:
            db.close()

    def _on_esphome_status(self, msg: BusMessage) -> None:
        self.metrics.count(msg)
        self.registry.on_esphome_status(msg.parts["node"], msg.payload)

    def _on_reading(self, msg: BusMessage) -> None:
        """On the network thread (``inline``): memory only, no database, no blocking."""
        self.metrics.count(msg)
        node = msg.parts["node"]
        self.registry.seen(node)
        if node == self._aed_node and msg.family is contract.ESPHOME_SENSOR:
            if msg.parts["object_id"] == "cabinet_temperature":
                self.aed.on_temperature(msg.payload)
            return
        if msg.family is contract.ESPHOME_SENSOR:
            if self.environment.accepts(node, esphome=True):
                self.environment.on_reading(node, msg.parts["object_id"], msg.payload)
        elif self.environment.accepts(node, esphome=False):
            for reading, value in msg.payload.values.items():
                self.environment.on_reading(node, reading, value)

    def _on_binary(self, msg: BusMessage) -> None:
        self.metrics.count(msg)
        node = msg.parts["node"]
        self.registry.seen(node)
        if node == self.config.aed.node and msg.parts["object_id"] == "door" and self.config.aed.door_pin is None:
            self.aed.on_door(msg.payload, source=node)

    def _on_text(self, msg: BusMessage) -> None:
        self.metrics.count(msg)
        node = msg.parts["node"]
        self.registry.seen(node)
        if node == self.config.aed.node and msg.parts["object_id"] == "self_test":
            self.aed.on_self_test(msg.payload)

    def _tick(self) -> None:
        """Every 2 s, write the nodes' last-seen times (kept in memory as readings come);
        every minute, judge what depends on time alone (AED expiry, a missing self-test).
        On a connection of this thread's own."""
        db = open_database(self.db_path)
        n = 0
        try:
            while not self._stopping.wait(2):
                n += 1
                try:
                    self.registry.flush_seen(db)
                    if n % 30 == 0:
                        self.aed.tick()
                except Exception:  # one bad tick must not end the ticking
                    log.exception("edge tick failed")
        finally:
            db.close()

    @staticmethod
    def _pin_factory(config: EdgeConfig) -> Any:
        """gpiozero's MockFactory on a workstation (``hardware.gpio = "mock"``), else the
        default (the Pi's pins)."""
        if config.hardware.gpio == "mock":
            from gpiozero.pins.mock import MockFactory

            return MockFactory()
        return None

    def _help(self, requester: str, args: dict[str, Any]) -> dict[str, Any]:
        """A resident pressed "call staff" on a kiosk: the staff console lists it until handled."""
        request_id = str(uuid.uuid4())
        row = {"id": request_id, "node": requester, "ts": time.time()}
        with self.db.atomic():  # the fact and its record for the centre, or neither
            self.db["help_requests"].insert(row, pk="id")
            outbox.add(self.db, "help_request", row, node=requester, record_id=request_id)
        if self.sync is not None:
            self.sync.nudge()
        log.info("help requested at %s", requester)
        return {"id": request_id}

    def _ping(self, requester: str, args: dict[str, Any]) -> dict[str, Any]:
        """Lets a kiosk (or ``hall doctor``) tell that the edge agent itself answers."""
        return {"hall": self.config.hall_id, "session": self.bus.session, "ts": time.time(),
                "sync": outbox.status(self.db).as_dict() if self.sync is not None else None}
