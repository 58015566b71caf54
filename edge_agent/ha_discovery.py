"""Home Assistant MQTT discovery for the hall's sensors, AED cabinet and printers.

Home Assistant builds its entities from retained JSON documents on
``homeassistant/{component}/{object_id}/config`` (``contract.HA_DISCOVERY``). The edge is the
one writer of those (the ACL grants ``homeassistant/#`` to user ``edge`` alone), so it
announces:

* for each environment node (an ESPHome node): five ``sensor`` entities (temperature,
  humidity, CO2, illuminance, noise) that read the node's own ESPHome topics
  ``hall/v1/{hall}/{node}/sensor/{reading}/state``, available while its ``status`` is
  ``online``. Home Assistant reads the node directly; the edge only describes it;
* for the AED cabinet: ``binary_sensor`` door (``ON`` = open), problem and battery (``ON`` =
  low or expired, Home Assistant's meaning for the battery class), and a cabinet temperature
  ``sensor``, all reading the edge's retained ``hall/v1/{hall}/edge/aed/state``;
* for each printer: a ``binary_sensor`` problem (paper out, cover open, cannot print) and an
  ``enum`` sensor with the paper level, reading ``hall/v1/{hall}/edge/{printer}/state``.

Entities the edge feeds are available while the edge's ``$state`` is ``ready`` (a JSON
``NodeState``, so the availability has a ``value_template``).

Which nodes are environment nodes: ``devices`` of kind ``env_node`` in the configuration, the
registry's nodes of kind ``env_node`` or ``esphome``, and any ESPHome node that comes online
later, except the AED cabinet's node and nodes the configuration lists as something else
(the same rule the environment service uses). A node known from a birth (kind ``env_node``
in the registry) is available by its ``$state``, an ESPHome node by its ``status``.

Everything is sent again on every connect and whenever Home Assistant's birth message
(``homeassistant/status`` = ``online``) arrives, so a Home Assistant that lost its retained
view, or a broker that lost its store, gets the hall back. The documents are built from
memory (configuration plus the nodes learnt), never from the database, so sending them on
paho's network thread in the connect hook does no I/O but publishing.

Example::

    ha = HaDiscovery(config, registry=agent.registry, sw="0.1.0")
    ha.attach(agent.bus)        # before bus.start(): subscribes and hooks the connect
    ha.documents()              # [(component, object_id, document), ...], pure
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any, Iterable

from hall_common.bus import contract
from hall_common.bus.client import BusMessage
from hall_common.config import EdgeConfig
from hall_common.errors import PayloadError, TopicError

from .component import Component

log = logging.getLogger(__name__)

MANUFACTURER = "service-hall"
"""Shown as the maker of devices the edge itself feeds (the AED cabinet, printers)."""

ENV_MANUFACTURER = "ESPHome"

READINGS: dict[str, dict[str, str]] = {
    "temperature": {"name": "Temperature", "unit": "°C", "device_class": "temperature"},
    "humidity": {"name": "Humidity", "unit": "%", "device_class": "humidity"},
    "co2": {"name": "CO2", "unit": "ppm", "device_class": "carbon_dioxide"},
    "illuminance": {"name": "Illuminance", "unit": "lx", "device_class": "illuminance"},
    "noise": {"name": "Noise", "unit": "dBA", "device_class": "sound_pressure"},
}
"""The environment node's ESPHome sensors (object id → name, unit, Home Assistant class).
Units are fixed: Home Assistant refuses an entity whose unit does not fit its class."""

ENV_KINDS = frozenset({"env_node", "esphome"})
"""Registry kinds announced as environment nodes."""

EDGE_READY = "{{ 'online' if value_json.state == 'ready' else 'offline' }}"
"""Availability from the edge's JSON ``$state``: up only while ``ready``."""

AED_DOOR = "{{ 'ON' if value_json.status.door_open else 'OFF' }}"
AED_PROBLEM = "{{ 'ON' if value_json.status.problem else 'OFF' }}"
AED_BATTERY = "{{ 'OFF' if value_json.status.battery_ok else 'ON' }}"
"""Home Assistant's battery class: ON means low, so a battery that is not ok is ON."""
AED_TEMPERATURE = "{{ value_json.status.temperature }}"
"""Renders ``None`` before the first reading, which Home Assistant shows as unknown."""

PRINTER_PROBLEM = ("{{ 'ON' if value_json.status.paper == 'out' or value_json.status.cover_open"
                   " or not value_json.status.can_print else 'OFF' }}")
PRINTER_PAPER = "{{ value_json.status.paper }}"
PAPER_LEVELS = ["ok", "near_end", "out"]


def object_id(*parts: str) -> str:
    """A discovery object id (``^[A-Za-z0-9_-]{1,64}$``) from ids joined by ``_``. Hall and
    node ids may be 32 characters each, so a long one keeps its start and a hash of the
    whole: still unique, still readable."""
    joined = "_".join(parts)
    if len(joined) <= 64:
        return joined
    digest = hashlib.sha1(joined.encode()).hexdigest()[:12]
    return f"{joined[:51]}_{digest}"


class HaDiscovery(Component):
    name = "ha_discovery"

    """Publishes Home Assistant discovery documents for the hall. See the module docstring.

    :param config: the edge configuration (hall, ``devices``, ``printers``, ``aed``).
    :param registry: the edge's :class:`~edge_agent.registry.Registry`; read once, in
        :meth:`attach` (before the bus starts), for environment nodes already known.
    :param sw: the edge's software version, sent as the documents' origin.
    """

    def __init__(self, config: EdgeConfig, *, registry: Any = None, sw: str = "0") -> None:
        self.config = config
        self.hall = config.hall_id
        self.sw = sw
        self.bus: Any = None
        self._registry = registry
        self._devices = {d.id: d for d in config.devices}
        self._lock = threading.Lock()  # nodes are learnt on the bus worker, read on the network thread
        self._nodes: dict[str, str] = {}  # node -> availability: "esphome" (status) or "hall" ($state)
        for d in config.devices:
            if d.kind == "env_node" and d.id != config.aed.node:
                self._nodes[d.id] = "esphome"

    # -- wiring ------------------------------------------------------------------------------

    def attach(self, bus: Any) -> None:
        """Subscribe to Home Assistant's status and ESPHome nodes' status, and send every
        document on each connect. Call before ``bus.start()``."""
        self.bus = bus
        if self._registry is not None:
            for view in self._registry.nodes():
                if view.kind in ENV_KINDS and self._is_env(view.node):
                    with self._lock:
                        self._nodes.setdefault(view.node, "hall" if view.kind == "env_node" else "esphome")
        bus.subscribe(contract.HA_STATUS.topic(), self._on_ha_status)
        bus.subscribe(contract.ESPHOME_STATUS.filter(hall=self.hall), self._on_esphome_status)
        bus.on_connected(self.publish_all)
        if bus.connected:  # attached late: the connect hook has already run
            self.publish_all()

    def _is_env(self, node: str) -> bool:
        if node == self.config.aed.node or node == contract.EDGE_NODE:
            return False
        device = self._devices.get(node)
        return device is None or device.kind == "env_node"

    def _on_ha_status(self, msg: BusMessage) -> None:
        """Home Assistant came online: it wants every document again. A *retained*
        ``online`` is only the replay of an old birth that every (re)subscription brings,
        and the connect hook has just sent everything; Home Assistant's own birth reaches a
        subscriber that is already connected as a live, non-retained message."""
        if msg.payload and not msg.retain:
            log.info("Home Assistant is online: sending discovery")
            self.publish_all()

    def _on_esphome_status(self, msg: BusMessage) -> None:
        """An ESPHome node we did not know came online: announce its sensors."""
        node = msg.parts["node"]
        if not msg.payload or not self._is_env(node):
            return
        with self._lock:
            if node in self._nodes:
                return
            self._nodes[node] = "esphome"
        log.info("Home Assistant discovery: new environment node %s", node)
        self._publish(self._env_documents(node, "esphome"))

    # -- publishing --------------------------------------------------------------------------

    def publish_all(self) -> int:
        """Send every document (retained); returns how many went out. Only publishes, so it
        may run on paho's network thread."""
        return self._publish(self.documents())

    def _publish(self, docs: Iterable[tuple[str, str, dict[str, Any]]]) -> int:
        if self.bus is None or not self.bus.connected:
            return 0  # sent on the next connect
        sent = 0
        for component, oid, doc in docs:
            try:
                self.bus.publish(contract.HA_DISCOVERY, doc, component=component, object_id=oid)
                sent += 1
            except (PayloadError, TopicError, ValueError, RuntimeError) as exc:
                log.error("Home Assistant discovery %s/%s not published: %s", component, oid, exc)
        return sent

    # -- documents (pure) --------------------------------------------------------------------

    def documents(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every discovery document as ``(component, object_id, document)``."""
        with self._lock:
            nodes = sorted(self._nodes.items())
        docs: list[tuple[str, str, dict[str, Any]]] = []
        for node, availability in nodes:
            docs += self._env_documents(node, availability)
        docs += self._aed_documents()
        for printer in self.config.printers:
            docs += self._printer_documents(printer.id, printer.profile)
        return docs

    def _origin(self) -> dict[str, str]:
        return {"name": "service-hall edge agent", "sw_version": self.sw}

    def _edge_availability(self) -> list[dict[str, str]]:
        return [{"topic": contract.NODE_STATE.topic(hall=self.hall, node=contract.EDGE_NODE),
                 "value_template": EDGE_READY, "payload_available": "online", "payload_not_available": "offline"}]

    def _env_documents(self, node: str, availability: str) -> list[tuple[str, str, dict[str, Any]]]:
        info = self._devices.get(node)
        location = info.location if info else ""
        device: dict[str, Any] = {
            "identifiers": [object_id(self.hall, node)],
            "name": f"{node} · {location}" if location else node,
            "manufacturer": ENV_MANUFACTURER,
            "model": (info.model if info and info.model else "environment node"),
        }
        if location:
            device["suggested_area"] = location
        if availability == "hall":
            avail = [{"topic": contract.NODE_STATE.topic(hall=self.hall, node=node), "value_template": EDGE_READY,
                      "payload_available": "online", "payload_not_available": "offline"}]
        else:
            avail = [{"topic": contract.ESPHOME_STATUS.topic(hall=self.hall, node=node),
                      "payload_available": "online", "payload_not_available": "offline"}]
        out = []
        for reading, meta in READINGS.items():
            oid = object_id(self.hall, node, reading)
            out.append(("sensor", oid, {
                "name": meta["name"],
                "unique_id": oid,
                "state_topic": contract.ESPHOME_SENSOR.topic(hall=self.hall, node=node, object_id=reading),
                "unit_of_measurement": meta["unit"],
                "device_class": meta["device_class"],
                "state_class": "measurement",
                "availability": avail,
                "device": device,
                "origin": self._origin(),
            }))
        return out

    def _aed_documents(self) -> list[tuple[str, str, dict[str, Any]]]:
        aed = self.config.aed
        if aed.node is None and aed.door_pin is None:
            return []  # no cabinet in this hall
        info = self._devices.get(aed.node) if aed.node else None
        topic = contract.DEVICE_STATE.topic(hall=self.hall, node=contract.EDGE_NODE, dev="aed")
        device = {"identifiers": [object_id(self.hall, contract.EDGE_NODE, "aed")], "name": f"AED · {aed.location}",
                  "manufacturer": MANUFACTURER, "model": info.model if info and info.model else "AED cabinet",
                  "suggested_area": aed.location}
        common = {"state_topic": topic, "availability": self._edge_availability(), "device": device,
                  "origin": self._origin()}
        out: list[tuple[str, str, dict[str, Any]]] = []
        for key, name, device_class, template in (
            ("door", "Door", "door", AED_DOOR),
            ("problem", "Problem", "problem", AED_PROBLEM),
            ("battery", "Battery", "battery", AED_BATTERY),
        ):
            oid = object_id(self.hall, contract.EDGE_NODE, "aed", key)
            out.append(("binary_sensor", oid, {"name": name, "unique_id": oid, "device_class": device_class,
                                               "value_template": template, "payload_on": "ON", "payload_off": "OFF",
                                               **common}))
        oid = object_id(self.hall, contract.EDGE_NODE, "aed", "temperature")
        out.append(("sensor", oid, {"name": "Cabinet temperature", "unique_id": oid, "device_class": "temperature",
                                    "unit_of_measurement": "°C", "state_class": "measurement",
                                    "value_template": AED_TEMPERATURE, **common}))
        return out

    def _printer_documents(self, printer: str, profile: str) -> list[tuple[str, str, dict[str, Any]]]:
        device = {"identifiers": [object_id(self.hall, contract.EDGE_NODE, printer)], "name": f"Printer {printer}",
                  "manufacturer": MANUFACTURER, "model": profile}
        common = {"state_topic": contract.DEVICE_STATE.topic(hall=self.hall, node=contract.EDGE_NODE, dev=printer),
                  "availability": self._edge_availability(), "device": device, "origin": self._origin()}
        problem = object_id(self.hall, contract.EDGE_NODE, printer, "problem")
        paper = object_id(self.hall, contract.EDGE_NODE, printer, "paper")
        return [
            ("binary_sensor", problem, {"name": "Problem", "unique_id": problem, "device_class": "problem",
                                        "value_template": PRINTER_PROBLEM, "payload_on": "ON", "payload_off": "OFF",
                                        **common}),
            ("sensor", paper, {"name": "Paper", "unique_id": paper, "device_class": "enum", "options": PAPER_LEVELS,
                               "value_template": PRINTER_PAPER, **common}),
        ]
