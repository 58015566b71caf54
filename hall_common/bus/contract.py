"""The hall bus contract: every topic, its payload, QoS and retain rule, and who writes it.

This is the only place a topic string is built. Other modules ask a :class:`TopicFamily`
for a topic (``NODE_STATE.topic(hall="h1", node="kiosk-01")``), for a subscription filter
(``NODE_STATE.filter(hall="h1")`` gives ``hall/v1/h1/+/$state``), or match an incoming
topic back to its family with :func:`match`. ``docs/bus.md`` documents each family and a
test fails when one is missing there.

The module imports no MQTT client: it is plain data and parsing, tested with plain asserts.

Who may write what is enforced by the broker's ACL (``firmware_configs/mosquitto/acl``):
a node writes only below ``hall/v1/{hall}/{node}/``; everything hall-wide (queue, alarms,
configuration for nodes, replies to requests) is written by the edge agent alone. That is
why desired configuration and replies live outside the node's own subtree: mosquitto's ACL
can grant but not subtract, so a node that owns ``{node}/#`` could also overwrite its own
desired configuration.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, ValidationError

from hall_common.errors import PayloadError, TopicError

from . import payloads as p

VERSION = "v1"
EDGE_NODE = "edge"
"""The edge agent's node id, which is also its broker user name (see the ACL)."""

MAX_PAYLOAD = 256 * 1024
"""Largest payload any subscriber parses; a bigger one is dropped before decoding."""

_ID = re.compile(p.ID_PATTERN)
_ALARM_ID = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,95}$")
_HA_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

RESERVED_NODE_IDS = frozenset({"queue", "alarm", "config", "reply", "content", "print", "payment", "v1", "homeassistant"})
"""Hall-wide first levels below ``hall/v1/{hall}/``: no node may take one as its id."""

RESERVED_DEVICE_IDS = frozenset(
    {"req", "config", "birth", "status", "sensor", "binary_sensor", "switch", "text_sensor", "$state"}
)
"""Levels with a meaning right below a node: no device may take one as its id."""

Writer = Literal["node", "edge", "esphome", "homeassistant"]
Encoding = Literal["json", "number", "on_off", "online_offline", "json_or_empty", "json_object", "text"]


def valid_id(value: str) -> bool:
    """True if ``value`` is usable as a hall, node or device id (lowercase, digits, - and _)."""
    return bool(_ID.match(value))


@dataclass(frozen=True)
class TopicFamily:
    """One kind of topic: a pattern with named levels and the rules its messages follow."""

    name: str
    pattern: str
    qos: int
    retain: bool
    writer: Writer
    encoding: Encoding
    doc: str
    model: type[BaseModel] | None = None

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self.pattern.split("/"))

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(lv[1:-1] for lv in self.levels if lv.startswith("{"))

    def topic(self, **parts: str) -> str:
        """The concrete topic; every named level must be given and valid."""
        missing = set(self.params) - parts.keys()
        extra = parts.keys() - set(self.params)
        if missing or extra:
            raise TopicError(f"{self.name}: needs {sorted(self.params)}, got {sorted(parts)}")
        out = []
        for level in self.levels:
            if level.startswith("{"):
                key = level[1:-1]
                value = parts[key]
                _check_level(self.name, key, value)
                out.append(value)
            else:
                out.append(level)
        return "/".join(out)

    def filter(self, **parts: str) -> str:
        """A subscription filter: named levels not given become ``+``."""
        unknown = parts.keys() - set(self.params)
        if unknown:
            raise TopicError(f"{self.name}: no level named {sorted(unknown)}")
        out = []
        for level in self.levels:
            if level.startswith("{"):
                key = level[1:-1]
                if key in parts:
                    _check_level(self.name, key, parts[key])
                    out.append(parts[key])
                else:
                    out.append("+")
            else:
                out.append(level)
        return "/".join(out)

    def match(self, topic: str) -> dict[str, str] | None:
        """The named levels of ``topic`` if it belongs to this family, else None."""
        got = topic.split("/")
        if len(got) != len(self.levels):
            return None
        parts: dict[str, str] = {}
        for want, have in zip(self.levels, got):
            if want.startswith("{"):
                key = want[1:-1]
                if not _level_ok(key, have):
                    return None
                parts[key] = have
            elif want != have:
                return None
        return parts

    def parse(self, payload: bytes) -> Any:
        """Decode and validate a payload; raises :class:`PayloadError` with the reason."""
        if len(payload) > MAX_PAYLOAD:
            raise PayloadError(f"{self.name}: payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
        return _DECODERS[self.encoding](self, payload)

    def encode(self, value: Any) -> bytes:
        """Encode a value for publishing, validating it against the schema first."""
        if self.encoding in ("json", "json_or_empty"):
            if value is None and self.encoding == "json_or_empty":
                return b""
            assert self.model is not None
            model = value if isinstance(value, self.model) else self.model.model_validate(value)
            return model.model_dump_json(exclude_none=False).encode()
        if self.encoding == "json_object":
            if not isinstance(value, dict):
                raise PayloadError(f"{self.name}: expects a JSON object")
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        if self.encoding == "number":
            return repr(float(value)).encode()  # shortest text that reads back as the same float
        if self.encoding == "on_off":
            return b"ON" if value else b"OFF"
        if self.encoding == "online_offline":
            return b"online" if value else b"offline"
        if self.encoding == "text":
            return _decode_text(self, str(value).encode()).encode()
        raise AssertionError(self.encoding)


def _level_ok(key: str, value: str) -> bool:
    if key == "alarm_id":
        return bool(_ALARM_ID.match(value))
    if key in ("component", "object_id") and value and "/" not in value:
        return bool(_HA_ID.match(value))
    if not _ID.match(value):
        return False
    if key == "node" and value in RESERVED_NODE_IDS:
        return False
    if key == "dev" and value in RESERVED_DEVICE_IDS:
        return False
    return True


def _check_level(family: str, key: str, value: str) -> None:
    if not isinstance(value, str) or not _level_ok(key, value):
        raise TopicError(f"{family}: {key}={value!r} is not a valid topic level")


def _decode_json(family: TopicFamily, payload: bytes) -> Any:
    assert family.model is not None
    try:
        return family.model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "payload"
        raise PayloadError(f"{family.name}: {where}: {first['msg']}") from None


def _decode_json_or_empty(family: TopicFamily, payload: bytes) -> Any:
    return None if payload == b"" else _decode_json(family, payload)


def _decode_json_object(family: TopicFamily, payload: bytes) -> Any:
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"{family.name}: not JSON ({exc})") from None
    except RecursionError:  # "[[[[..." a thousand deep
        raise PayloadError(f"{family.name}: JSON nested too deep") from None
    if not isinstance(value, dict):
        raise PayloadError(f"{family.name}: expects a JSON object")
    return value


def _decode_number(family: TopicFamily, payload: bytes) -> float:
    try:
        value = float(payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise PayloadError(f"{family.name}: {payload[:40]!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise PayloadError(f"{family.name}: {payload[:40]!r} is not a finite number")
    return value


def _decode_on_off(family: TopicFamily, payload: bytes) -> bool:
    if payload == b"ON":
        return True
    if payload == b"OFF":
        return False
    raise PayloadError(f"{family.name}: expects ON or OFF, got {payload[:40]!r}")


def _decode_online(family: TopicFamily, payload: bytes) -> bool:
    if payload == b"online":
        return True
    if payload == b"offline":
        return False
    raise PayloadError(f"{family.name}: expects online or offline, got {payload[:40]!r}")


TEXT_MAX = 64


def _decode_text(family: TopicFamily, payload: bytes) -> str:
    """A short UTF-8 text (ESPHome's text sensors), printable, at most ``TEXT_MAX`` characters."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(f"{family.name}: not UTF-8 text") from None
    if not text or len(text) > TEXT_MAX or not text.isprintable():
        raise PayloadError(f"{family.name}: expects 1 to {TEXT_MAX} printable characters, got {payload[:40]!r}")
    return text


_DECODERS: dict[str, Callable[[TopicFamily, bytes], Any]] = {
    "json": _decode_json,
    "json_or_empty": _decode_json_or_empty,
    "json_object": _decode_json_object,
    "number": _decode_number,
    "on_off": _decode_on_off,
    "online_offline": _decode_online,
    "text": _decode_text,
}

_H = f"hall/{VERSION}/{{hall}}"

# The families, each with its topic (below the hall's prefix unless it is Home Assistant's
# own), payload model, writer and what differs from QoS 1, not retained, JSON.


def _family(name: str, path: str, model: type[BaseModel] | None, *, writer: Writer, doc: str, qos: int = 1,
            retain: bool = False, encoding: Encoding = "json") -> TopicFamily:
    """A family below the hall's prefix ``hall/v1/{hall}/``. Most are QoS 1, not retained,
    JSON: a declaration names only where it differs."""
    return TopicFamily(name, f"{_H}/{path}", qos, retain, writer, encoding, doc, model)


NODE_STATE = _family("node_state", "{node}/$state", p.NodeState, writer="node", retain=True,
                     doc="Availability of a node: init, ready, disconnected (clean stop) or lost (its Last Will).")

BIRTH = _family("birth", "{node}/birth", p.Birth, writer="node", retain=True,
                doc="Sent on every connect: session counter, kind, software and configuration version.")

DEVICE_STATE = _family("device_state", "{node}/{dev}/state", p.DeviceState, writer="node", retain=True,
                       doc="Retained status of one device of a node, e.g. a printer's paper and cover.")

TELEMETRY = _family("telemetry", "{node}/{dev}/telemetry", p.Telemetry, writer="node", qos=0,
                    doc="Readings of a device, on change beyond a deadband or every N seconds.")

EVENT = _family("event", "{node}/{dev}/event", p.Event, writer="node",
                doc="Something that happened once (door opened, button pressed); consumers dedupe on id.")

CONFIG_REPORTED = _family("config_reported", "{node}/config/reported", p.ConfigReported, writer="node", retain=True,
                          doc="The configuration version a node runs and whether the last one was applied.")

REQUEST = _family("request", "{node}/req/{method}", p.Request, writer="node",
                  doc="An MQTT 5 request from a node (response topic + correlation data); the edge answers.")

ESPHOME_STATUS = _family("esphome_status", "{node}/status", None, writer="esphome", retain=True,
                         encoding="online_offline",
                         doc="ESPHome's own birth and will: online or offline.")

ESPHOME_SENSOR = _family("esphome_sensor", "{node}/sensor/{object_id}/state", None, writer="esphome", qos=0,
                         encoding="number",
                         doc="An ESPHome sensor reading, a plain number (ESPHome's own layout under the node prefix).")

ESPHOME_BINARY = _family("esphome_binary", "{node}/binary_sensor/{object_id}/state", None, writer="esphome",
                         retain=True, encoding="on_off",
                         doc="An ESPHome binary sensor (a door reed switch): ON or OFF.")

ESPHOME_TEXT = _family("esphome_text", "{node}/text_sensor/{object_id}/state", None, writer="esphome", retain=True,
                       encoding="text",
                       doc="An ESPHome text sensor, e.g. the AED's self-test result (pass or fail): short plain text.")

ALARM = _family("alarm", "alarm/{alarm_id}", p.Alarm, writer="edge", retain=True, encoding="json_or_empty",
                doc="One alarm with severity and state; an empty retained payload means it is gone.")

QUEUE_STATE = _family("queue_state", "queue/state", p.QueueState, writer="edge", retain=True,
                      doc="The now-serving board: counters, last called, people waiting per service.")

QUEUE_CALLED = _family("queue_called", "queue/called", p.QueueCalled, writer="edge",
                       doc="One call of a number to a counter, for the board's voice announcement.")

CONFIG_DESIRED = _family("config_desired", "config/{node}", p.ConfigDesired, writer="edge", retain=True,
                         doc="The signed configuration a node should run (version, expiry, body, signature).")

REPLY = _family("reply", "reply/{node}", p.Response, writer="edge",
                doc="Responses to a node's requests; the only response topic the edge accepts.")

ANNOUNCEMENT = _family("announcement", "content/announcement", p.Announcement, writer="edge", retain=True,
                       doc="The hall's announcement line from the centre, for kiosks and the board (kept offline).")

PRINT_OUTCOME = _family("print_outcome", "print/{node}", p.PrintOutcome, writer="edge",
                        doc="What became of a node's print job: moved to another printer, printed, or failed and why.")

PAYMENT_OUTCOME = _family("payment_outcome", "payment/{node}", p.PaymentOutcome, writer="edge",
                          doc="What became of a payment order a node started: paid, closed (expired or cancelled).")

HA_STATUS = TopicFamily("ha_status", "homeassistant/status", qos=1, retain=True, writer="homeassistant",
                        encoding="online_offline",
                        doc="Home Assistant's availability; discovery is re-sent when it comes online.")

HA_DISCOVERY = TopicFamily("ha_discovery", "homeassistant/{component}/{object_id}/config", qos=1, retain=True,
                           writer="edge", encoding="json_object",
                           doc="Home Assistant MQTT discovery documents for the hall's devices.")

FAMILIES: tuple[TopicFamily, ...] = (
    NODE_STATE, BIRTH, DEVICE_STATE, TELEMETRY, EVENT, CONFIG_REPORTED, REQUEST,
    ESPHOME_STATUS, ESPHOME_SENSOR, ESPHOME_BINARY, ESPHOME_TEXT,
    ALARM, QUEUE_STATE, QUEUE_CALLED, CONFIG_DESIRED, REPLY, ANNOUNCEMENT, PRINT_OUTCOME, PAYMENT_OUTCOME,
    HA_STATUS, HA_DISCOVERY,
)

# Most literal levels first; where two families tie (``{node}/req/state`` could read as a
# device named ``req``), the reserved device ids settle it.
_BY_SPECIFICITY = sorted(FAMILIES, key=lambda f: -sum(not lv.startswith("{") for lv in f.levels))


def match(topic: str) -> tuple[TopicFamily, dict[str, str]] | None:
    """The family and named levels of an incoming topic, or None if it is not ours."""
    for family in _BY_SPECIFICITY:
        parts = family.match(topic)
        if parts is not None:
            return family, parts
    return None
