"""Home Assistant discovery against a real mosquitto with the project's ACL: the documents
arrive retained where Home Assistant looks, are sent again when it comes online, and their
templates (rendered with Jinja2, as Home Assistant does) read what the edge really publishes."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jinja2
import paho.mqtt.client as mqtt
import pytest

from edge_agent.aed import Aed
from edge_agent.alarms import Alarms
from edge_agent.db import migrations
from edge_agent.ha_discovery import READINGS, HaDiscovery, object_id
from edge_agent.printing.service import PrintService
from edge_agent.registry import Registry
from hall_common.bus import contract
from hall_common.config import EdgeConfig
from hall_common.escpos_status import PrinterStatus
from hall_common.storage import open_database

from .conftest import HALL, wait_for


def edge_config(tmp_path: Path) -> EdgeConfig:
    (tmp_path / "broker.pw").write_text("x")
    return EdgeConfig(
        hall_id=HALL, hall_name="测试大厅", node_id="edge", data_dir=tmp_path / "edge",
        broker={"password_file": tmp_path / "broker.pw"}, http={"port": 8000},
        devices=[{"id": "env-01", "kind": "env_node", "model": "ESP32-S3 env", "location": "一楼大厅"},
                 {"id": "aed-01", "kind": "aed_node", "model": "AED cabinet v2", "location": "入口"}],
        printers=[{"id": "printer-1", "host": "127.0.0.1"}],
        aed={"node": "aed-01", "location": "入口"},
    )


class Watcher:
    """A bare paho client logged in as Home Assistant (or as ``user``): what it receives, with
    the retain flag. Its client id is its user name, as the broker makes it anyway."""

    def __init__(self, broker, user: str = "homeassistant") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=user)
        self.c.username_pw_set(user, broker.passwords[user])
        self.c.on_message = self._on_message
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def subscribe(self, *filters: str) -> None:
        for f in filters:
            self.c.subscribe(f, qos=1)

    def on(self, topic: str) -> list[tuple[bytes, bool]]:
        with self.lock:
            return [(p, r) for t, p, r in self.messages if t == topic]

    def topics(self, prefix: str = "") -> set[str]:
        with self.lock:
            return {t for t, _, _ in self.messages if t.startswith(prefix)}

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def hall(broker, tmp_path):
    """The edge's bus with discovery attached, a registry that knows one more ESPHome node,
    and Home Assistant's view of the broker."""
    config = edge_config(tmp_path)
    db_path = config.data_dir / "edge.db"
    db = open_database(db_path, migrations)
    registry = Registry(db, stale_after=90)
    registry.on_esphome_status("env-02", True)
    registry.on_esphome_status("aed-01", True)  # the cabinet: not an environment node
    edge = broker.client("edge", kind="edge", connect=False)
    ha = HaDiscovery(config, registry=registry, sw="test")
    ha.attach(edge)
    edge.start()
    assert edge.wait_connected(10)
    watcher = Watcher(broker)
    yield config, db_path, edge, ha, watcher
    watcher.close()
    db.close()


def discovery(watcher: Watcher) -> dict[str, dict[str, Any]]:
    """The last document on each discovery topic Home Assistant received."""
    out = {}
    for topic in watcher.topics("homeassistant/"):
        if topic.endswith("/config"):
            out[topic] = json.loads(watcher.on(topic)[-1][0])
    return out


def render(template: str, payload: bytes) -> str:
    """A value template as Home Assistant renders it: Jinja2 with ``value`` and ``value_json``."""
    return jinja2.Environment().from_string(template).render(value=payload.decode(), value_json=json.loads(payload)).strip()


def test_documents_arrive_retained_with_the_right_topics_and_fields(hall):
    config, _, _, ha, watcher = hall
    watcher.subscribe("homeassistant/+/+/config")
    expected = {contract.HA_DISCOVERY.topic(component=c, object_id=o) for c, o, _ in ha.documents()}
    wait_for(lambda: watcher.topics("homeassistant/") >= expected)
    docs = discovery(watcher)
    assert set(docs) == expected
    assert all(retain for t in expected for _, retain in watcher.on(t)), "discovery must be retained"
    # Environment nodes: env-01 from the configuration, env-02 from the registry; never the AED cabinet.
    nodes = {d["state_topic"].split("/")[3] for d in docs.values() if "/sensor/" in d["state_topic"]}
    assert nodes == {"env-01", "env-02"}

    co2 = docs[f"homeassistant/sensor/{HALL}_env-01_co2/config"]
    assert co2["state_topic"] == f"hall/v1/{HALL}/env-01/sensor/co2/state"
    assert co2["device_class"] == "carbon_dioxide" and co2["unit_of_measurement"] == "ppm"
    assert co2["state_class"] == "measurement" and co2["unique_id"] == f"{HALL}_env-01_co2"
    assert co2["availability"] == [{"topic": f"hall/v1/{HALL}/env-01/status", "payload_available": "online",
                                    "payload_not_available": "offline"}]
    assert co2["device"]["identifiers"] == [f"{HALL}_env-01"]
    assert co2["device"]["model"] == "ESP32-S3 env" and co2["device"]["suggested_area"] == "一楼大厅"
    classes = {d["state_topic"].rsplit("/", 2)[-2]: d.get("device_class")
               for d in docs.values() if "/env-01/sensor/" in d["state_topic"]}
    assert classes == {k: v["device_class"] for k, v in READINGS.items()}
    noise = docs[f"homeassistant/sensor/{HALL}_env-01_noise/config"]
    assert noise["device_class"] == "sound_pressure" and noise["unit_of_measurement"] == "dBA"
    temp = docs[f"homeassistant/sensor/{HALL}_env-02_temperature/config"]
    assert temp["unit_of_measurement"] == "°C" and temp["device_class"] == "temperature"

    door = docs[f"homeassistant/binary_sensor/{HALL}_edge_aed_door/config"]
    assert door["state_topic"] == f"hall/v1/{HALL}/edge/aed/state"
    assert door["device_class"] == "door" and door["unique_id"] == f"{HALL}_edge_aed_door"
    assert door["availability"][0]["topic"] == f"hall/v1/{HALL}/edge/$state"
    assert door["device"]["model"] == "AED cabinet v2" and door["device"]["suggested_area"] == "入口"
    assert docs[f"homeassistant/binary_sensor/{HALL}_edge_aed_problem/config"]["device_class"] == "problem"
    assert docs[f"homeassistant/binary_sensor/{HALL}_edge_aed_battery/config"]["device_class"] == "battery"
    printer = docs[f"homeassistant/binary_sensor/{HALL}_edge_printer-1_problem/config"]
    assert printer["state_topic"] == f"hall/v1/{HALL}/edge/printer-1/state"
    assert printer["device_class"] == "problem" and printer["device"]["model"] == "gp-80250"
    unique_ids = [d["unique_id"] for d in docs.values()]
    assert len(unique_ids) == len(set(unique_ids))


def test_sent_again_when_home_assistant_comes_online(hall, broker):
    _, _, _, ha, watcher = hall
    watcher.subscribe("homeassistant/+/+/config")
    expected = {contract.HA_DISCOVERY.topic(component=c, object_id=o) for c, o, _ in ha.documents()}
    wait_for(lambda: watcher.topics("homeassistant/") >= expected)
    watcher.clear()
    # Home Assistant's birth message, as it sends it on start (here retained, as its will is).
    watcher.c.publish(contract.HA_STATUS.topic(), contract.HA_STATUS.encode(True), qos=1, retain=True).wait_for_publish(5)
    wait_for(lambda: watcher.topics("homeassistant/") >= expected)
    assert len(discovery(watcher)) == len(expected)


def test_an_esphome_node_that_comes_online_later_is_announced(hall):
    _, _, edge, _, watcher = hall
    watcher.subscribe("homeassistant/+/+/config")
    edge.publish(contract.ESPHOME_STATUS, True, hall=HALL, node="env-03")
    wait_for(lambda: f"homeassistant/sensor/{HALL}_env-03_illuminance/config" in watcher.topics())
    doc = discovery(watcher)[f"homeassistant/sensor/{HALL}_env-03_illuminance/config"]
    assert doc["state_topic"] == f"hall/v1/{HALL}/env-03/sensor/illuminance/state"


def test_templates_read_what_the_edge_publishes(hall):
    config, db_path, edge, ha, watcher = hall
    docs = {oid: doc for _, oid, doc in ha.documents()}
    aed_topic = contract.DEVICE_STATE.topic(hall=HALL, node="edge", dev="aed")
    printer_topic = contract.DEVICE_STATE.topic(hall=HALL, node="edge", dev="printer-1")
    edge_state = contract.NODE_STATE.topic(hall=HALL, node="edge")
    watcher.subscribe(aed_topic, printer_topic, edge_state)

    # The edge is ready: available.
    avail = docs[f"{HALL}_edge_aed_door"]["availability"][0]
    state_payload = wait_for(lambda: watcher.on(edge_state))[-1][0]
    assert render(avail["value_template"], state_payload) == avail["payload_available"]

    # The real AED service publishes its state; battery expiry not entered yet = not ok = ON (low).
    alarms = Alarms(db_path, edge, node="edge")
    aed = Aed(config.aed, db_path=db_path, alarms=alarms, bus=edge)
    try:
        def last_aed() -> bytes:
            return watcher.on(aed_topic)[-1][0]

        def rendered(key: str, payload: bytes) -> str:
            doc = docs[f"{HALL}_edge_aed_{key}"]
            out = render(doc["value_template"], payload)
            assert out in (doc["payload_on"], doc["payload_off"]), out
            return "on" if out == doc["payload_on"] else "off"

        aed.on_door(False)
        wait_for(lambda: watcher.on(aed_topic))
        closed = last_aed()
        assert (rendered("door", closed), rendered("battery", closed)) == ("off", "on")
        aed.set_expiry("battery", (date.today() + timedelta(days=400)).isoformat(), who="staff")
        wait_for(lambda: json.loads(last_aed())["status"]["battery_ok"])
        assert rendered("battery", last_aed()) == "off"
        assert rendered("problem", last_aed()) == "off"
        count = len(watcher.on(aed_topic))
        aed.on_door(True)  # a rescue: door open, critical alarm, a problem
        wait_for(lambda: len(watcher.on(aed_topic)) > count)
        opened = last_aed()
        assert (rendered("door", opened), rendered("problem", opened)) == ("on", "on")
        temp = docs[f"{HALL}_edge_aed_temperature"]
        assert render(temp["value_template"], opened) == "None"  # Home Assistant: unknown
        aed.on_temperature(21.5)
        wait_for(lambda: json.loads(last_aed())["status"]["temperature"] == 21.5)
        assert float(render(temp["value_template"], last_aed())) == 21.5
    finally:
        aed.close()
        alarms.close()

    # The real print service publishes a printer's state as its worker reports it.
    service = PrintService(config, db_path=db_path, bus=edge, alarms=None)
    problem, paper = docs[f"{HALL}_edge_printer-1_problem"], docs[f"{HALL}_edge_printer-1_paper"]
    try:
        cases = [
            (PrinterStatus(online=True), "OFF", "ok"),
            (PrinterStatus(online=True, paper="near_end"), "OFF", "near_end"),
            (PrinterStatus(online=True, paper="out"), "ON", "out"),
            (PrinterStatus(online=True, cover_open=True), "ON", "ok"),
            (PrinterStatus(online=False), "ON", "ok"),
        ]
        for status, want_problem, want_paper in cases:
            count = len(watcher.on(printer_topic))
            service.on_status("printer-1", status, changed=True)
            wait_for(lambda: len(watcher.on(printer_topic)) > count)
            payload = watcher.on(printer_topic)[-1][0]
            assert render(problem["value_template"], payload) == want_problem, status
            assert render(paper["value_template"], payload) == want_paper
            assert want_paper in paper["options"]
    finally:
        service.spool.close()  # its workers were never started


def test_home_assistant_account_reads_only_what_it_needs_and_cannot_forge(broker):
    watcher = Watcher(broker)
    spy = Watcher(broker, user="edge")  # the edge, reading everything and writing the edge's messages
    try:
        watcher.subscribe(f"hall/v1/{HALL}/reply/kiosk-01", f"hall/v1/{HALL}/payment/kiosk-01",
                          f"hall/v1/{HALL}/env-01/sensor/co2/state", f"hall/v1/{HALL}/edge/aed/state")
        spy.subscribe("homeassistant/#", f"hall/v1/{HALL}/#")
        time.sleep(0.3)  # the subscriptions are in place (SUBACKs are not awaited by the bare clients)
        forged = contract.HA_DISCOVERY.topic(component="sensor", object_id="forged")
        watcher.c.publish(forged, b'{"name": "x"}', qos=1).wait_for_publish(5)
        watcher.c.publish(f"hall/v1/{HALL}/queue/state", b"forged", qos=1).wait_for_publish(5)
        for topic in (f"hall/v1/{HALL}/reply/kiosk-01", f"hall/v1/{HALL}/payment/kiosk-01"):
            spy.c.publish(topic, b"{}", qos=1).wait_for_publish(5)
        spy.c.publish(f"hall/v1/{HALL}/env-01/sensor/co2/state", b"612", qos=1).wait_for_publish(5)
        spy.c.publish(f"hall/v1/{HALL}/edge/aed/state", b"{}", qos=1).wait_for_publish(5)
        watcher.c.publish(contract.HA_STATUS.topic(), b"online", qos=1).wait_for_publish(5)
        wait_for(lambda: spy.on(contract.HA_STATUS.topic()))  # its own birth does get through
        wait_for(lambda: watcher.on(f"hall/v1/{HALL}/edge/aed/state"))
        assert watcher.on(f"hall/v1/{HALL}/env-01/sensor/co2/state")
        assert not watcher.on(f"hall/v1/{HALL}/reply/kiosk-01")
        assert not watcher.on(f"hall/v1/{HALL}/payment/kiosk-01")
        assert not spy.on(forged) and not spy.on(f"hall/v1/{HALL}/queue/state")
    finally:
        watcher.close()
        spy.close()


def test_long_ids_make_a_valid_object_id():
    long = object_id("h" * 32, "n" * 32, "temperature")
    assert len(long) == 64 and contract.HA_DISCOVERY.topic(component="sensor", object_id=long)
    assert long != object_id("h" * 32, "n" * 31 + "m", "temperature")
    assert object_id("t1", "env-01", "co2") == "t1_env-01_co2"
