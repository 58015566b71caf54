"""The broker's ACL against the designed matrix in docs/bus.md, cell by cell.

The expected matrix is parsed from the table in "Who may publish and subscribe" (docs/bus.md),
so the page and the broker cannot drift apart: a column label maps to a family of
``contract.FAMILIES``, a row label to one or more credentials, a cell to "pub", "sub",
"pub+sub" or "—". A real mosquitto runs the project's config and ACL
(``firmware_configs/mosquitto/acl``); every cell is checked both ways:

- publish: the credential publishes a unique marker on the topic; a spy logged in as ``edge``
  (who reads everything) records what arrives. Allowed: delivered; denied: never delivered.
- subscribe: the credential subscribes to the exact topic; the edge publishes a unique marker
  there. Allowed: received; denied: not received.

"Never" is not a sleep: after its batch, each publisher sends a final marker that must arrive
through the same connection (the broker handles one client's messages in order, and a
subscriber's queue is first in, first out), and only then is the absence of a marker judged.

Each credential connects once; the whole matrix runs once per module (a few hundred cells
in about a second) and every cell is its own test item, named credential / family / action.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from hall_common.bus import contract

from .conftest import HALL, NODES, start_broker, stop_broker, wait_for

DOC = Path(__file__).resolve().parent.parent / "docs" / "bus.md"
SECTION = "## Who may publish and subscribe"

DEFAULT_TARGET = "kiosk-01"
"""The ``{node}`` of the node-level and addressed families, unless a row says "its own"."""

LEVEL_VALUES = {
    "hall": HALL, "dev": "screen", "method": "ping", "object_id": "door", "alarm_id": "printer-1.paper",
    "component": "binary_sensor",
}
"""Sensible values for the other named levels of a topic."""

EDGE_DEV = "printer-1"
"""The edge's device, for the ``edge/{dev}/state`` column."""

WRONG_PASSWORD = "wrong password"
ANONYMOUS = "anonymous"
FOOTNOTES = "¹²³⁴⁵⁶⁷⁸⁹⁰"
RIGHTS = {"pub+sub": frozenset({"pub", "sub"}), "pub": frozenset({"pub"}), "sub": frozenset({"sub"}), "—": frozenset()}


# --- the designed matrix, parsed from docs/bus.md -------------------------------------------

@dataclass(frozen=True)
class Column:
    label: str
    family: contract.TopicFamily
    fixed: dict[str, str]
    """Levels the label pins, e.g. ``node=edge`` for ``edge/{dev}/state``."""

    def topic(self, target: str) -> str:
        parts = {k: v for k, v in LEVEL_VALUES.items() if k in self.family.params}
        if "node" in self.family.params:
            parts["node"] = target
        parts.update(self.fixed)
        return self.family.topic(**parts)


@dataclass(frozen=True)
class Row:
    label: str
    credentials: tuple[str, ...]
    own: bool
    """True when the row is "toward its own topics": ``{node}`` is the credential itself."""
    refused: str | None
    """``wrong password`` or ``anonymous`` for rows refused at connect."""
    cells: tuple[frozenset[str], ...]

    def target(self, credential: str) -> str:
        return credential if self.own else DEFAULT_TARGET


def _label_regex(label: str) -> re.Pattern:
    """A label as a regex over a family pattern's tail: ``…`` stands for one or more named levels."""
    out = []
    for level in label.split("/"):
        out.append(r"\{[a-z_]+\}(?:/\{[a-z_]+\})*" if level == "…" else re.escape(level))
    return re.compile("/".join(out))


def column_for(label: str) -> Column:
    """The family a column label means. A label is the family's pattern relative to the node
    (``hall/v1/{hall}/{node}/``), to the hall (``hall/v1/{hall}/``) or the whole pattern; a
    label starting with the edge's node id (``edge/{dev}/state``) is a node-relative family
    with ``{node}`` pinned to the edge. Exactly one reading may fit."""
    hall_prefix = f"hall/{contract.VERSION}/{{hall}}/"
    node_prefix = hall_prefix + "{node}/"
    rx = _label_regex(label)
    found: list[Column] = []
    for fam in contract.FAMILIES:
        if rx.fullmatch(fam.pattern):
            found.append(Column(label, fam, {}))
        for prefix in (node_prefix, hall_prefix):
            if fam.pattern.startswith(prefix) and rx.fullmatch(fam.pattern[len(prefix):]):
                found.append(Column(label, fam, {}))
        edge = contract.EDGE_NODE + "/"
        if label.startswith(edge) and fam.pattern.startswith(node_prefix):
            if _label_regex(label[len(edge):]).fullmatch(fam.pattern[len(node_prefix):]):
                found.append(Column(label, fam, {"node": contract.EDGE_NODE}))
    assert len(found) == 1, (
        f"docs/bus.md matrix column {label!r} should name exactly one family of contract.FAMILIES, "
        f"it fits {[c.family.name for c in found]}"
    )
    return found[0]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_matrix(text: str) -> tuple[list[Column], list[Row]]:
    section = text.split(SECTION, 1)
    assert len(section) == 2, f"docs/bus.md has no section {SECTION!r}"
    body = section[1].split("\n## ", 1)[0]
    lines = body.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("| credential")), None)
    assert start is not None, "docs/bus.md: no matrix table (a header starting '| credential') in the section"
    header = _cells(lines[start])
    columns = [column_for(h.strip("`")) for h in header[1:]]
    rows: list[Row] = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        cells = _cells(ln)
        label = cells[0]
        assert len(cells) == len(header), f"docs/bus.md matrix row {label!r} has {len(cells) - 1} cells, not {len(columns)}"
        rights = []
        for col, cell in zip(columns, cells[1:]):
            value = cell.rstrip(FOOTNOTES).strip()
            assert value in RIGHTS, f"docs/bus.md matrix row {label!r}, column {col.label!r}: unknown cell {cell!r}"
            rights.append(RIGHTS[value])
        lowered = label.lower()
        refused = WRONG_PASSWORD if WRONG_PASSWORD in lowered else ANONYMOUS if lowered.startswith(ANONYMOUS) else None
        names = tuple(re.findall(r"`([^`]+)`", label))
        if refused is None:
            assert names, f"docs/bus.md matrix row {label!r} names no credential"
            unknown = [n for n in names if n not in NODES]
            assert not unknown, f"docs/bus.md matrix row {label!r}: {unknown} have no password in tests/conftest.py NODES"
        own = "its own topics" in lowered or "as itself" in lowered
        rows.append(Row(label, names, own, refused, tuple(rights)))
    return columns, rows


COLUMNS, ROWS = parse_matrix(DOC.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Cell:
    credential: str
    column: Column
    topic: str
    action: str  # "pub" or "sub"
    allowed: bool
    row: str

    @property
    def id(self) -> str:
        return f"{self.credential}->{self.topic.replace(f'hall/v1/{HALL}/', '')}[{self.column.family.name}]-{self.action}"


def expected_cells() -> list[Cell]:
    """One cell per (credential, topic, action), checked against every row that names it."""
    cells: dict[tuple[str, str, str], Cell] = {}
    for row in ROWS:
        if row.refused:
            continue
        for cred in row.credentials:
            for col, rights in zip(COLUMNS, row.cells):
                topic = col.topic(row.target(cred))
                for action in ("pub", "sub"):
                    cell = Cell(cred, col, topic, action, action in rights, row.label)
                    key = (cred, topic, action)
                    if key in cells:
                        assert cells[key].allowed == cell.allowed, (
                            f"docs/bus.md matrix contradicts itself for {cred} {action} {topic}: "
                            f"row {cells[key].row!r} and row {row.label!r}"
                        )
                    else:
                        cells[key] = cell
    return list(cells.values())


CELLS = expected_cells()
CREDENTIALS = sorted({c.credential for c in CELLS})


# --- the doc's own shape ----------------------------------------------------------------------

def test_matrix_has_a_column_for_every_family():
    covered = {c.family.name for c in COLUMNS}
    missing = [f.name for f in contract.FAMILIES if f.name not in covered]
    assert not missing, f"docs/bus.md matrix has no column for {missing}"


def test_matrix_has_a_row_for_every_credential_and_the_refused_ones():
    named = {n for r in ROWS for n in r.credentials if not r.refused}
    assert set(NODES) <= named, f"docs/bus.md matrix has no row for {sorted(set(NODES) - named)}"
    assert {r.refused for r in ROWS} >= {WRONG_PASSWORD, ANONYMOUS}
    for row in ROWS:
        if row.refused:
            assert not any(row.cells), f"docs/bus.md: row {row.label!r} is refused at connect, yet grants rights"


# --- the broker -------------------------------------------------------------------------------

class Peer:
    """One raw paho client (MQTT 5) that records what it receives and its acks."""

    def __init__(self, broker, username: str | None, password: str | None, client_id: str) -> None:
        self.received: set[tuple[str, bytes]] = set()
        self.suback: dict[str, int] = {}
        self.puback: dict[int, int] = {}
        self.lock = threading.Lock()
        self.connack: mqtt.ReasonCode | None = None
        self.connected = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.c.max_inflight_messages_set(100)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_publish = self._on_publish
        self._sub_topics: dict[int, list[str]] = {}
        self.c.on_subscribe = self._on_subscribe
        self.c.connect_async(broker.host, broker.port)
        self.c.loop_start()

    def _on_connect(self, client, userdata, flags, reason, props):
        self.connack = reason
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.received.add((msg.topic, msg.payload))

    def _on_publish(self, client, userdata, mid, reason, props):
        with self.lock:
            self.puback[mid] = reason.value

    def _on_subscribe(self, client, userdata, mid, reasons, props):
        with self.lock:
            for topic, reason in zip(self._sub_topics.get(mid, []), reasons):
                self.suback[topic] = reason.value

    def wait_connack(self) -> mqtt.ReasonCode:
        assert self.connected.wait(10), "no CONNACK within 10 s"
        assert self.connack is not None
        return self.connack

    def subscribe(self, topics: list[str]) -> None:
        with self.lock:
            rc, mid = self.c.subscribe([(t, SubscribeOptions(qos=1)) for t in topics])
            assert rc == mqtt.MQTT_ERR_SUCCESS
            self._sub_topics[mid] = list(topics)
        wait_for(lambda: all(t in self.suback for t in topics), timeout=10)

    def unsubscribe(self, topics: list[str]) -> None:
        done = threading.Event()
        self.c.on_unsubscribe = lambda *a: done.set()
        rc, _ = self.c.unsubscribe(topics)
        assert rc == mqtt.MQTT_ERR_SUCCESS and done.wait(10), "no UNSUBACK"
        with self.lock:
            for t in topics:
                self.suback.pop(t, None)

    def publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        info = self.c.publish(topic, payload, qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish on {topic} failed locally: {info.rc}"
        return info

    def got(self, topic: str, payload: bytes) -> bool:
        with self.lock:
            return (topic, payload) in self.received

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def sentinel_topic(credential: str) -> str:
    """A topic the credential may both write and read: its own ``$state`` (Home Assistant's
    node id is reserved, so its ``homeassistant/status``)."""
    if credential == "homeassistant":
        return contract.HA_STATUS.topic()
    return contract.NODE_STATE.topic(hall=HALL, node=credential)


@dataclass
class Observed:
    delivered: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    acks: dict[tuple[str, str, str], int | None] = field(default_factory=dict)
    connack: dict[str, mqtt.ReasonCode] = field(default_factory=dict)


def _marker(nonce: str, *parts: str) -> bytes:
    return " ".join(("acl-matrix", nonce, *parts)).encode()


def run_matrix(broker) -> Observed:
    """The spy that sees every publish and the feeder that publishes every marker are the
    ``edge`` credential's own connection, the only one that reads and writes everything: the
    broker makes a client's id its user name, so a second ``edge`` login would take the
    first one's place. Its wildcard subscriptions go before it checks its own subscribe
    cells, so those are judged by its exact subscriptions alone."""
    nonce = secrets.token_hex(4)
    obs = Observed()
    peers: dict[str, Peer] = {}
    try:
        for cred in sorted({*CREDENTIALS, "edge"}):
            peers[cred] = Peer(broker, cred, broker.passwords[cred], cred)
        spy = feeder = peers["edge"]
        wrong = Peer(broker, DEFAULT_TARGET, "not-the-password", "acl-wrong-password")
        anon = Peer(broker, None, None, "acl-anonymous")
        for name, peer in peers.items():
            reason = peer.wait_connack()
            assert not reason.is_failure, f"{name} was refused at connect: {reason}"
        obs.connack[WRONG_PASSWORD] = wrong.wait_connack()
        obs.connack[ANONYMOUS] = anon.wait_connack()
        wrong.close()
        anon.close()

        # (a) publish: every credential publishes its markers, then its sentinel.
        everything = [f"hall/{contract.VERSION}/#", "homeassistant/#"]
        spy.subscribe(everything)
        pubs = [c for c in CELLS if c.action == "pub"]
        infos: dict[tuple[str, str, str], mqtt.MQTTMessageInfo] = {}
        for cell in pubs:
            infos[(cell.credential, cell.topic, "pub")] = peers[cell.credential].publish(
                cell.topic, _marker(nonce, "pub", cell.credential, cell.topic))
        for key, info in infos.items():
            info.wait_for_publish(10)
        sentinels = {cred: _marker(nonce, "pub-done", cred) for cred in CREDENTIALS}
        for cred, payload in sentinels.items():
            peers[cred].publish(sentinel_topic(cred), payload)
        for cred, payload in sentinels.items():
            try:
                wait_for(lambda: spy.got(sentinel_topic(cred), payload), timeout=10)
            except AssertionError:
                raise AssertionError(f"{cred} could not publish its final marker on {sentinel_topic(cred)}") from None
        for cell in pubs:
            key = (cell.credential, cell.topic, "pub")
            obs.delivered[key] = spy.got(cell.topic, _marker(nonce, "pub", cell.credential, cell.topic))
            obs.acks[key] = peers[cell.credential].puback.get(infos[key].mid)

        # (b) subscribe: every credential subscribes to its exact topics, the edge publishes.
        spy.unsubscribe(everything)
        subs = [c for c in CELLS if c.action == "sub"]
        for cred in CREDENTIALS:
            topics = sorted({c.topic for c in subs if c.credential == cred} | {sentinel_topic(cred)})
            peers[cred].subscribe(topics)
        feed = [feeder.publish(c.topic, _marker(nonce, "sub", c.credential, c.topic)) for c in subs]
        for info in feed:
            info.wait_for_publish(10)
        sentinels = {cred: _marker(nonce, "sub-done", cred) for cred in CREDENTIALS}
        for cred, payload in sentinels.items():
            feeder.publish(sentinel_topic(cred), payload)
        for cred, payload in sentinels.items():
            try:
                wait_for(lambda: peers[cred].got(sentinel_topic(cred), payload), timeout=10)
            except AssertionError:
                raise AssertionError(f"{cred} never received the final marker on {sentinel_topic(cred)} "
                                     f"(SUBACK {peers[cred].suback.get(sentinel_topic(cred))})") from None
        for cell in subs:
            key = (cell.credential, cell.topic, "sub")
            obs.delivered[key] = peers[cell.credential].got(cell.topic, _marker(nonce, "sub", cell.credential, cell.topic))
            obs.acks[key] = peers[cell.credential].suback.get(cell.topic)
    finally:
        for peer in peers.values():
            peer.close()
    return obs


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> Observed:
    running = start_broker(tmp_path_factory.mktemp("acl-broker"))
    try:
        yield run_matrix(running)
    finally:
        stop_broker(running)


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_acl_cell(observed, cell: Cell):
    key = (cell.credential, cell.topic, cell.action)
    got = observed.delivered[key]
    verb = {"pub": "publish on", "sub": "subscribe to and receive"}[cell.action]
    ack = {"pub": "PUBACK", "sub": "SUBACK"}[cell.action]
    if got != cell.allowed:
        pytest.fail(
            f"{cell.credential} may {'' if cell.allowed else 'NOT '}{verb} {cell.column.family.name} "
            f"(column {cell.column.label!r}, topic {cell.topic}) per docs/bus.md row {cell.row!r}, "
            f"but the broker {'delivered' if got else 'did not deliver'} the marker "
            f"({ack} reason 0x{(observed.acks[key] or 0):02x})",
            pytrace=False,
        )


@pytest.mark.parametrize("who", [WRONG_PASSWORD, ANONYMOUS])
def test_refused_at_connect(observed, who: str):
    reason = observed.connack[who]
    # 0x86 bad user name or password, 0x87 not authorised (docs/bus.md)
    assert reason.is_failure and reason.value in (0x86, 0x87), f"{who}: CONNACK {reason} ({reason.value:#x})"
