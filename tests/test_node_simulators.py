"""The ESPHome node simulators against a real mosquitto: driven through their HTTP
controls, they publish exactly the topics and payloads of firmware_configs/esphome/, and a
silent node is marked offline by the broker's will."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import paho.mqtt.client as mqtt
import pytest
import tomli_w
from paho.mqtt.subscribeoptions import SubscribeOptions

from hall_common.bus import contract
from simulators import aed_node, env_node
from simulators.control import ControlServer, SimNode

from .conftest import HALL, RunningBroker, wait_for

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Seen:
    """One message as a subscriber got it, matched and parsed with the contract."""

    family: contract.TopicFamily
    parts: dict[str, str]
    value: Any
    raw: bytes
    qos: int
    retain: bool


class Snoop:
    """A raw paho subscriber on one node's subtree (as the edge), keeping what it sees in order.

    Subscribed with retain-as-published, so a message's retain flag is the publisher's. One
    snoop at a time may log in as the edge (the broker makes a client's id its user name, so
    a second would take the first one's place); another logs in as ``homeassistant``, which
    reads a node's ``status`` and ESPHome states (``HA_LEVELS``) but nothing else."""

    HA_LEVELS = ("status", "sensor/#", "binary_sensor/#", "text_sensor/#")

    def __init__(self, broker: RunningBroker, node: str, *, user: str = "edge") -> None:
        self.node = node
        self.seen: list[Seen] = []
        self.unmatched: list[str] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        levels = ("#",) if user == "edge" else self.HA_LEVELS
        filters = [(f"hall/v1/{HALL}/{node}/{level}", SubscribeOptions(qos=1, retainAsPublished=True)) for level in levels]
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
        client.username_pw_set(user, broker.passwords[user])
        client.on_message = self._on_message
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_connect = lambda c, *a: c.subscribe(filters)
        client.connect(broker.host, broker.port)
        client.loop_start()
        assert subscribed.wait(10), "no SUBACK"
        self.client = client

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        found = contract.match(msg.topic)
        with self._lock:
            if found is None:
                self.unmatched.append(msg.topic)
                return
            family, parts = found
            self.seen.append(Seen(family, parts, family.parse(msg.payload), msg.payload, msg.qos, bool(msg.retain)))

    def messages(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def index_of(self, family: contract.TopicFamily, raw: bytes, *, after: int = -1, **parts: str) -> int:
        """The position of the first message after ``after`` on ``family`` with payload ``raw``
        (and these levels), or -1."""
        for i, m in enumerate(self.messages()):
            if i > after and m.family is family and m.raw == raw and all(m.parts.get(k) == v for k, v in parts.items()):
                return i
        return -1

    def wait(self, family: contract.TopicFamily, raw: bytes, *, after: int = -1, **parts: str) -> int:
        return wait_for(lambda: (i := self.index_of(family, raw, after=after, **parts)) >= 0 and i + 1) - 1

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def post(url: str, query: str) -> dict[str, Any]:
    with urllib.request.urlopen(urllib.request.Request(url + query, method="POST", data=b""), timeout=5) as r:
        return json.loads(r.read())


def post_error(url: str, query: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(urllib.error.HTTPError) as info:
        post(url, query)
    return info.value.code, json.loads(info.value.read())


@dataclass
class Running:
    sim: SimNode
    control: ControlServer
    snoop: Snoop
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.control.url


def run_sim(broker: RunningBroker, node: str, module: Any, cls: type[SimNode], kind: str) -> Iterator[Running]:
    """Start a simulator in threads with its control server, an hour between ticks (tests
    drive it), and a snoop on its topics that subscribed before it connected."""
    snoop = Snoop(broker, node)
    sim = cls(lambda: broker.client(node, kind=kind, connect=False, availability="esphome"), interval=3600, seed=1)
    control = module.controls(sim)
    control.start()
    sim.start()
    thread = threading.Thread(target=sim.run, daemon=True)
    thread.start()
    try:
        yield Running(sim, control, snoop, thread)
    finally:
        control.stop()
        sim.close()
        thread.join(5)
        snoop.close()


@pytest.fixture
def env(broker: RunningBroker) -> Iterator[Running]:
    yield from run_sim(broker, "env-01", env_node, env_node.EnvNodeSim, "env_node")


@pytest.fixture
def aed(broker: RunningBroker) -> Iterator[Running]:
    yield from run_sim(broker, "aed-01", aed_node, aed_node.AedNodeSim, "aed_node")


S, B, T, STATUS = contract.ESPHOME_SENSOR, contract.ESPHOME_BINARY, contract.ESPHOME_TEXT, contract.ESPHOME_STATUS


def test_env_node_says_online_then_every_reading(env):
    snoop = env.snoop
    online = snoop.wait(STATUS, b"online")
    for key in env_node.BASELINE:
        snoop.wait(S, S.encode(env_node.BASELINE[key][0]), after=online, object_id=key)
    first = snoop.messages()[online]
    assert (first.qos, first.retain, first.parts) == (1, True, {"hall": HALL, "node": "env-01"})
    readings = [m for m in snoop.messages() if m.family is S]
    assert {m.parts["object_id"] for m in readings} == set(env_node.BASELINE)
    assert all(m.qos == 0 and not m.retain for m in readings)
    assert not snoop.unmatched


def test_env_node_co2_set_and_trend_through_the_control(env):
    snoop = env.snoop
    snoop.wait(S, S.encode(650), object_id="co2")
    state = post(env.url, "set?co2=1500&temperature=27.5")
    assert (state["co2"], state["temperature"]) == (1500, 27.5)
    snoop.wait(S, S.encode(1500), object_id="co2")
    snoop.wait(S, S.encode(27.5), object_id="temperature")

    assert post(env.url, "trend?co2=200")["trends"] == {"co2": 200}
    env.sim.tick()  # one interval
    co2 = wait_for(lambda: [m.value for m in env.snoop.messages() if m.family is S
                            and m.parts["object_id"] == "co2" and m.value > 1500])
    assert 1685 <= co2[0] <= 1715  # 1500 + 200, plus or minus one random step of 15


def test_env_node_control_refuses_what_it_cannot_do(env):
    assert post_error(env.url, "set?radon=3") == (400, {"error": "no reading 'radon': use one of temperature, humidity, co2, illuminance, noise"})
    assert post_error(env.url, "set?co2=lots")[0] == 400
    assert post_error(env.url, "set?co2=nan")[0] == 400
    assert post_error(env.url, "silent?on=maybe")[0] == 400
    assert post_error(env.url, "reboot")[0] == 404


def test_silent_env_node_is_offline_by_its_will_and_comes_back(env):
    snoop = env.snoop
    online = snoop.wait(STATUS, b"online")
    snoop.wait(S, S.encode(650), object_id="co2", after=online)
    assert post(env.url, "silent?on=1")["silent"] is True
    offline = snoop.wait(STATUS, b"offline", after=online)
    assert snoop.messages()[offline].retain
    # Told things while dead, it publishes nothing and keeps them for when it is back.
    post(env.url, "set?co2=2000")
    env.sim.tick()
    assert post(env.url, "silent?on=0")["silent"] is False
    back = snoop.wait(STATUS, b"online", after=offline)
    snoop.wait(S, S.encode(2000), object_id="co2", after=back)
    between = snoop.messages()[offline + 1:back]
    assert between == [], "a silent node publishes nothing"


def test_aed_node_starts_shut_passed_and_at_22_degrees(aed):
    snoop = aed.snoop
    online = snoop.wait(STATUS, b"online")
    # wait first, then read the list: ``messages()[wait()]`` took the list before waiting,
    # and an index of a message that came meanwhile was out of its range
    door_at = snoop.wait(B, b"OFF", after=online, object_id="door")
    test_at = snoop.wait(T, b"pass", after=online, object_id="self_test")
    temp_at = snoop.wait(S, S.encode(22), after=online, object_id="cabinet_temperature")
    seen = snoop.messages()
    door, test, temp = seen[door_at], seen[test_at], seen[temp_at]
    assert (door.value, door.qos, door.retain) == (False, 1, True)
    assert (test.value, test.qos, test.retain) == ("pass", 1, True)
    assert (temp.value, temp.qos, temp.retain) == (22.0, 0, False)
    assert not snoop.unmatched


def test_aed_node_door_temperature_and_self_test_through_the_control(aed):
    snoop = aed.snoop
    start = snoop.wait(B, b"OFF", object_id="door")
    assert post(aed.url, "door?open=1")["door_open"] is True
    opened = snoop.wait(B, b"ON", after=start, object_id="door")
    post(aed.url, "door?open=1")  # no change, nothing sent
    post(aed.url, "door?open=0")
    shut = snoop.wait(B, b"OFF", after=opened, object_id="door")
    assert [m.raw for m in snoop.messages()[opened:shut + 1] if m.family is B] == [b"ON", b"OFF"]

    post(aed.url, "set?cabinet_temperature=55.5")
    snoop.wait(S, S.encode(55.5), object_id="cabinet_temperature")
    post(aed.url, "self_test?result=fail")
    failed = snoop.wait(T, b"fail", object_id="self_test")
    post(aed.url, "self_test?result=pass")
    snoop.wait(T, b"pass", after=failed, object_id="self_test")

    assert post_error(aed.url, "self_test?result=maybe") == (400, {"error": "result is pass or fail"})
    assert post_error(aed.url, "set?temperature=3")[0] == 400
    assert post_error(aed.url, "door")[0] == 400


def test_silent_aed_node_leaves_offline_and_its_states_retained(aed, broker):
    snoop = aed.snoop
    online = snoop.wait(STATUS, b"online")
    post(aed.url, "door?open=1")
    post(aed.url, "self_test?result=fail")
    snoop.wait(T, b"fail", after=online, object_id="self_test")
    post(aed.url, "silent?on=1")
    offline = snoop.wait(STATUS, b"offline", after=online)

    # Someone subscribing now (Home Assistant, the edge after a restart) learns all of it
    # from the broker.
    late = Snoop(broker, "aed-01", user="homeassistant")
    try:
        late.wait(STATUS, b"offline")
        late.wait(B, b"ON", object_id="door")
        late.wait(T, b"fail", object_id="self_test")
        assert all(m.retain for m in late.messages())
    finally:
        late.close()

    post(aed.url, "door?open=0")
    post(aed.url, "silent?on=0")
    back = snoop.wait(STATUS, b"online", after=offline)
    snoop.wait(B, b"OFF", after=back, object_id="door")
    snoop.wait(T, b"fail", after=back, object_id="self_test")
    assert snoop.messages()[offline + 1:back] == []


def test_control_page_and_state(aed):
    with urllib.request.urlopen(aed.url, timeout=5) as r:
        page = r.read().decode()
    assert "<html" in page and 'action="/door"' in page and 'action="/silent"' in page
    with urllib.request.urlopen(aed.url + "state", timeout=5) as r:
        state = json.loads(r.read())
    assert state["node"] == "aed-01" and state["door_open"] is False and state["self_test"] == "pass"
    # The page's form posts a form body and is sent back to the page.
    request = urllib.request.Request(aed.url + "door", data=b"open=1", headers={"Accept": "text/html"})
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(request, timeout=5)
    assert info.value.code == 303 and info.value.headers["Location"] == "/"
    assert aed.sim.describe()["door_open"] is True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_aed_node_as_a_process_from_its_configuration(broker, tmp_path):
    from .conftest import free_port_block

    control_port = free_port_block(1)
    (tmp_path / "pw").write_text(broker.passwords["aed-01"])
    conf = tmp_path / "aed-01.toml"
    conf.write_text(tomli_w.dumps({
        "hall_id": HALL, "hall_name": "测试大厅", "node_id": "aed-01", "data_dir": str(tmp_path / "data"),
        "broker": {"host": broker.host, "port": broker.port, "password_file": str(tmp_path / "pw")},
        "interval": 3600, "control_port": control_port,
    }))
    snoop = Snoop(broker, "aed-01")
    proc = subprocess.Popen([sys.executable, "-m", "simulators.aed_node", "--config", str(conf)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        online = snoop.wait(STATUS, b"online")
        url = f"http://{broker.host}:{control_port}/"
        wait_for(lambda: _answers(url))
        post(url, "door?open=1")
        snoop.wait(B, b"ON", after=online, object_id="door")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stderr.read() if proc.stderr else ""
        snoop.wait(STATUS, b"offline", after=online)  # the clean stop, as ESPHome's shutdown message
    finally:
        if proc.poll() is None:
            proc.kill()
        snoop.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "state", timeout=1):
            return True
    except OSError:
        return False


def test_hall_up_runs_both_simulators_with_their_controls(tmp_path):
    from hall_cli.plan import PORT_BLOCK, SAMPLE_HALL, HallPlan, prepare
    from hall_common.config import SensorSimConfig, load

    from .conftest import free_port_block

    base = free_port_block(PORT_BLOCK)
    layout = prepare(tmp_path / "data", HallPlan.load(SAMPLE_HALL), base_port=base)
    processes = {p.name: p for p in layout.processes}
    for node, module, key in (("env-01", "simulators.env_node", "sensor env-01"),
                              ("aed-01", "simulators.aed_node", "AED cabinet aed-01")):
        config = load(SensorSimConfig, tmp_path / "data" / "config" / f"{node}.toml")
        assert processes[node].argv[1:3] == ["-m", module]
        assert (processes[node].port, processes[node].health_path) == (config.control_port, "/state")
        assert layout.urls[key].startswith(f"http://127.0.0.1:{config.control_port}/  ")
        assert (tmp_path / "data" / "secrets" / "broker" / node).exists()
    ports = [p.port for p in layout.processes if p.port is not None]
    assert len(ports) == len(set(ports)) and all(base <= p < base + PORT_BLOCK for p in ports)
