"""The bus against a real mosquitto running the project's config: passwords, ACL, Last Will,
reconnects, malformed payloads and request/response."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hall_common.bus import contract
from hall_common.bus.client import BusMessage
from hall_common.bus.methods import JobArgs
from hall_common.bus.payloads import NodeState, Telemetry
from hall_common.errors import BusTimeout, RequestFailed

from .conftest import HALL, wait_for


class Recorder:
    """Collects what a subscription handler receives."""

    def __init__(self) -> None:
        self.messages: list[BusMessage] = []
        self.lock = threading.Lock()

    def __call__(self, msg: BusMessage) -> None:
        with self.lock:
            self.messages.append(msg)

    def topics(self) -> list[str]:
        with self.lock:
            return [m.topic for m in self.messages]


def raw_connect(broker, username: str | None, password: str | None) -> mqtt.ReasonCode:
    """Connect with a bare paho client and return the broker's CONNACK reason."""
    result: dict[str, mqtt.ReasonCode] = {}
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if username is not None:
        c.username_pw_set(username, password)

    def on_connect(client, userdata, flags, reason, props):
        result["reason"] = reason
        done.set()

    c.on_connect = on_connect
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert done.wait(5), "no CONNACK"
    c.loop_stop()
    c.disconnect()
    return result["reason"]


class RawNode:
    """A bare paho client (MQTT 5) that records its CONNACK, every DISCONNECT and what it
    receives. It does not come back by itself during a test (a client knocked off and coming
    straight back would knock the other off in turn, and hide who started it)."""

    def __init__(self, broker, user: str, *, client_id: str | None = None, will: bytes | None = None) -> None:
        self.connack: mqtt.ReasonCode | None = None
        self.disconnects: list[int] = []
        self.received: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self._connected, self._subscribed = threading.Event(), threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or user, protocol=mqtt.MQTTv5)
        self.c.username_pw_set(user, broker.passwords[user])
        if will is not None:
            self.c.will_set(contract.NODE_STATE.topic(hall=HALL, node=user), will, qos=1, retain=True)
        self.c.reconnect_delay_set(min_delay=600, max_delay=600)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *a: self._subscribed.set()
        self.c.connect_async(broker.host, broker.port)
        self.c.loop_start()
        assert self._connected.wait(10), f"{user}: no CONNACK"

    def _on_connect(self, client, userdata, flags, reason, props) -> None:
        self.connack = reason
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason, props) -> None:
        with self.lock:
            self.disconnects.append(reason.value)

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.received.append((msg.topic, msg.payload))

    def subscribe(self, topic_filter: str) -> None:
        self._subscribed.clear()
        self.c.subscribe(topic_filter, qos=1)
        assert self._subscribed.wait(10), "no SUBACK"

    def publish(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [payload for t, payload in self.received if t == topic]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_wrong_password_is_refused(broker):
    reason = raw_connect(broker, "kiosk-01", "not-the-password")
    assert reason.is_failure
    bus = broker.client("kiosk-01", password="wrong", connect=False)
    bus.start()
    assert not bus.wait_connected(2)
    assert bus.refused and ("authori" in bus.refused.lower() or "password" in bus.refused.lower())


def test_anonymous_is_refused(broker):
    reason = raw_connect(broker, None, None)
    assert reason.is_failure
    assert reason.value in (0x86, 0x87)  # bad user name or password / not authorised


def test_right_password_is_accepted(broker):
    assert not raw_connect(broker, "kiosk-01", broker.passwords["kiosk-01"]).is_failure


def test_kiosk_cannot_publish_hall_state_or_other_nodes_topics(broker):
    seen: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        with lock:
            seen.append((msg.topic, msg.payload))

    # The edge as a bare subscriber on everything, so nothing the contract would drop is
    # hidden from us (the edge's login, so it is the edge: the broker ties id to user).
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="edge")
    spy.username_pw_set("edge", broker.passwords["edge"])
    spy.on_message = on_message
    spy.connect(broker.host, broker.port)
    spy.subscribe("hall/v1/#", qos=1)
    spy.loop_start()
    time.sleep(0.3)

    kiosk = broker.client("kiosk-01")
    forbidden = [
        contract.QUEUE_STATE.topic(hall=HALL),
        contract.QUEUE_CALLED.topic(hall=HALL),
        contract.ALARM.topic(hall=HALL, alarm_id="fake"),
        contract.CONFIG_DESIRED.topic(hall=HALL, node="kiosk-01"),
        contract.ANNOUNCEMENT.topic(hall=HALL),
        contract.REPLY.topic(hall=HALL, node="kiosk-02"),
        contract.PRINT_OUTCOME.topic(hall=HALL, node="kiosk-01"),
        contract.NODE_STATE.topic(hall=HALL, node="kiosk-02"),
        contract.DEVICE_STATE.topic(hall=HALL, node="edge", dev="printer-1"),
        contract.TELEMETRY.topic(hall=HALL, node="env-01", dev="env"),
    ]
    for topic in forbidden:
        kiosk.publish_raw(topic, b"forged", qos=1).wait_for_publish(5)
    marker = contract.EVENT.topic(hall=HALL, node="kiosk-01", dev="screen")
    kiosk.publish_raw(marker, b"marker", qos=1).wait_for_publish(5)

    wait_for(lambda: any(t == marker for t, _ in seen))
    assert spy.is_connected()
    spy.loop_stop()
    spy.disconnect()
    forged = [t for t, payload in seen if payload == b"forged"]
    assert forged == [], f"the ACL let a kiosk publish on {forged}"


@pytest.mark.parametrize("family", [contract.REPLY, contract.PRINT_OUTCOME, contract.PAYMENT_OUTCOME],
                         ids=["reply", "print_outcome", "payment_outcome"])
def test_kiosk_cannot_read_what_is_addressed_to_another_kiosk(broker, family):
    got: list[str] = []
    snoop = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="kiosk-02")
    snoop.username_pw_set("kiosk-02", broker.passwords["kiosk-02"])
    snoop.on_message = lambda c, u, m: got.append(m.topic)
    snoop.connect(broker.host, broker.port)
    snoop.subscribe(family.topic(hall=HALL, node="kiosk-01"), qos=1)
    snoop.subscribe(family.topic(hall=HALL, node="kiosk-02"), qos=1)
    snoop.loop_start()
    time.sleep(0.3)
    edge = broker.client("edge")
    edge.publish_raw(family.topic(hall=HALL, node="kiosk-01"), b"{}", qos=1).wait_for_publish(5)
    edge.publish_raw(family.topic(hall=HALL, node="kiosk-02"), b"{}", qos=1).wait_for_publish(5)
    wait_for(lambda: family.topic(hall=HALL, node="kiosk-02") in got)
    snoop.loop_stop()
    snoop.disconnect()
    assert family.topic(hall=HALL, node="kiosk-01") not in got


def test_killed_client_is_marked_lost_by_its_last_will(broker, tmp_path: Path):
    edge = broker.client("edge")
    states = Recorder()
    edge.subscribe(contract.NODE_STATE.filter(hall=HALL), states)
    helper = Path(__file__).parent / "helpers" / "bus_node.py"
    proc = subprocess.Popen(
        [sys.executable, str(helper), str(broker.port), HALL, "kiosk-01", broker.passwords["kiosk-01"], "7"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "connected"

        def kiosk_state():
            for m in reversed(states.messages):
                if m.parts["node"] == "kiosk-01":
                    return m.payload
            return None

        wait_for(lambda: kiosk_state() is not None and kiosk_state().state == "ready")
        proc.kill()
        proc.wait(5)
        wait_for(lambda: kiosk_state().state == "lost")
        assert kiosk_state().session == 7
    finally:
        if proc.poll() is None:
            proc.kill()


def test_clean_close_says_disconnected_not_lost(broker):
    edge = broker.client("edge")
    states = Recorder()
    edge.subscribe(contract.NODE_STATE.filter(hall=HALL, node="display-01"), states)
    display = broker.client("display-01", kind="display")
    wait_for(lambda: any(m.payload.state == "ready" for m in states.messages))
    display.close()
    wait_for(lambda: states.messages[-1].payload.state == "disconnected")
    time.sleep(0.3)
    assert states.messages[-1].payload.state == "disconnected"


def test_reconnect_resubscribes(broker):
    display = broker.client("display-01", kind="display")
    got = Recorder()
    display.subscribe(contract.QUEUE_CALLED.filter(hall=HALL), got)
    broker.restart()
    wait_for(lambda: not display.connected, timeout=5)
    wait_for(lambda: display.connected, timeout=40)
    edge = broker.client("edge")
    call = {"id": "call-0001", "ticket": "A012", "counter": "c3", "counter_name": "3",
            "service": "consult", "ts": time.time()}

    def delivered() -> bool:
        # The display's SUBSCRIBE may still be in flight right after it reconnects.
        edge.publish(contract.QUEUE_CALLED, call, hall=HALL).wait_for_publish(5)
        time.sleep(0.1)
        return bool(got.messages)

    wait_for(delivered)
    assert got.messages[0].payload.ticket == "A012"


def test_malformed_payload_is_dropped_and_subscriber_keeps_working(broker, caplog):
    edge = broker.client("edge")
    got = Recorder()
    edge.subscribe(contract.TELEMETRY.filter(hall=HALL), got)
    env = broker.client("env-01", kind="env_node")
    topic = contract.TELEMETRY.topic(hall=HALL, node="env-01", dev="env")
    caplog.set_level(logging.WARNING, logger="hall_common.bus.client")
    env.publish_raw(topic, b"{not json", qos=1)
    env.publish_raw(topic, b'{"values": {"co2": "lots"}, "ts": 1}', qos=1)
    env.publish_raw(topic, b"\xff\xfe", qos=1)
    env.publish(contract.TELEMETRY, Telemetry(values={"co2": 612.0}, ts=time.time()), hall=HALL, node="env-01", dev="env")
    wait_for(lambda: got.messages)
    time.sleep(0.2)
    assert [m.payload.values["co2"] for m in got.messages] == [612.0]
    assert edge.dropped == 3
    assert sum(topic in r.getMessage() and "malformed" in r.getMessage() for r in caplog.records) == 3


def test_handler_exception_does_not_stop_the_worker(broker):
    edge = broker.client("edge")
    calls: list[float] = []

    def flaky(msg: BusMessage) -> None:
        calls.append(msg.payload.values["t"])
        if len(calls) == 1:
            raise RuntimeError("boom")

    edge.subscribe(contract.TELEMETRY.filter(hall=HALL), flaky)
    env = broker.client("env-01")
    for t in (1.0, 2.0):
        env.publish(contract.TELEMETRY, Telemetry(values={"t": t}, ts=0), hall=HALL, node="env-01", dev="env")
    wait_for(lambda: len(calls) == 2)


def test_request_response_round_trip(broker):
    edge = broker.client("edge", kind="edge")
    seen = []
    edge.serve("print_status", lambda requester, args: seen.append((requester, args)) or
               {"job": args.job, "status": "printed", "printer": "printer-1"})
    kiosk = broker.client("kiosk-01", kind="kiosk")
    assert kiosk.request("print_status", {"job": "j-1"}) == {"job": "j-1", "status": "printed", "printer": "printer-1",
                                                             "reason": "", "reprint": False}  # the contract's defaults
    assert seen == [("kiosk-01", JobArgs(job="j-1"))]  # the handler got the arguments as their model


def test_request_arguments_are_checked_by_the_contract_before_the_handler(broker):
    edge = broker.client("edge", kind="edge")
    calls = []
    edge.serve("ticket", lambda requester, args: calls.append(args))
    kiosk = broker.client("kiosk-01", kind="kiosk")
    for args, field in (({}, "service"), ({"service": 5}, "service"), ({"service": "a", "priority": "often"}, "priority"),
                        ({"service": "a", "extra": 1}, "extra")):
        with pytest.raises(RequestFailed) as err:
            kiosk.request("ticket", args)
        assert err.value.code == "bad_request" and f"ticket: {field}" in err.value.message
    assert calls == []


def test_an_answer_that_breaks_the_contract_is_answered_internal_and_logged(broker, caplog):
    edge = broker.client("edge", kind="edge")
    edge.serve("help", lambda requester, args: {"id": "h-1", "name": "张三"})  # a field the contract does not have
    kiosk = broker.client("kiosk-01", kind="kiosk")
    with pytest.raises(RequestFailed) as err:
        kiosk.request("help", {})
    assert err.value.code == "internal" and "张三" not in str(err.value)
    assert any("help handler broke the contract" in r.getMessage() for r in caplog.records)


def test_serving_a_method_the_contract_does_not_know_fails_at_once(broker):
    edge = broker.client("edge", kind="edge", connect=False)
    with pytest.raises(ValueError, match="echo"):
        edge.serve("echo", lambda requester, args: {})


def test_request_error_and_timeout(broker):
    edge = broker.client("edge")

    def refuse(requester, args):
        raise RequestFailed("closed", "outside opening hours")

    edge.serve("ticket", refuse)
    kiosk = broker.client("kiosk-01")
    with pytest.raises(RequestFailed) as err:
        kiosk.request("ticket", {"service": "consult"})
    assert err.value.code == "closed"
    with pytest.raises(BusTimeout):
        kiosk.request("bills", {"qr": "x"}, timeout=0.5)  # in the contract, served by nobody here
    with pytest.raises(ValueError, match="nobody-serves-this"):
        kiosk.request("nobody-serves-this", {})


def test_edge_refuses_a_response_topic_that_is_not_the_requesters(broker):
    """A kiosk must not be able to make the edge write on a topic it names."""
    edge = broker.client("edge")
    edge.serve("help", lambda requester, args: {"id": "ok"})
    watcher = Recorder()
    edge.subscribe(contract.QUEUE_STATE.filter(hall=HALL), watcher)
    kiosk = broker.client("kiosk-01")
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = contract.QUEUE_STATE.topic(hall=HALL)
    props.CorrelationData = b"x" * 16
    kiosk._client.publish(
        contract.REQUEST.topic(hall=HALL, node="kiosk-01", method="help"), b'{"args":{}}', qos=1, properties=props
    ).wait_for_publish(5)
    wait_for(lambda: edge.dropped >= 1)
    assert kiosk.request("help", {}) == {"id": "ok"}
    assert watcher.messages == []


def test_malformed_request_is_answered_bad_request_at_once(broker):
    edge = broker.client("edge")
    edge.serve("help", lambda requester, args: {"id": "ok"})
    kiosk = broker.client("kiosk-01")
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = kiosk.reply_topic
    props.CorrelationData = b"c" * 16
    from concurrent.futures import Future

    future: Future = Future()
    kiosk._pending[b"c" * 16] = future
    kiosk._client.publish(contract.REQUEST.topic(hall=HALL, node="kiosk-01", method="help"), b'{"args": 5}',
                          qos=1, properties=props)
    response = future.result(timeout=3)
    assert response.ok is False and response.error.code == "bad_request"


def test_spoofed_response_topic_does_not_run_the_handler(broker):
    edge = broker.client("edge")
    calls: list[str] = []
    edge.serve("help", lambda requester, args: calls.append(requester) or {"id": "ok"})
    assert edge.wait_connected(10)  # the broker has the late subscription in place
    kiosk = broker.client("kiosk-01")
    assert kiosk.request("help", {}) == {"id": "ok"}
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = contract.QUEUE_STATE.topic(hall=HALL)
    props.CorrelationData = b"x" * 16
    kiosk._client.publish(contract.REQUEST.topic(hall=HALL, node="kiosk-01", method="help"), b'{"args":{}}',
                          qos=1, properties=props)
    wait_for(lambda: edge.dropped >= 1)
    assert calls == ["kiosk-01"]  # the honest request only


# -- who a login is: the broker makes every client's id its user name ---------------------------


def broker_log(broker) -> str:
    """What mosquitto logged so far (connection messages are on in the project's config)."""
    return broker.broker.log_path.read_text(errors="replace")


def record_disconnects(bus) -> list[int]:
    """The reason codes of every disconnect ``bus`` (a BusClient) hears from now on."""
    heard: list[int] = []
    chained = bus._client.on_disconnect

    def on_disconnect(client, userdata, flags, reason, props) -> None:
        heard.append(reason.value)
        chained(client, userdata, flags, reason, props)

    bus._client.on_disconnect = on_disconnect
    return heard


@pytest.mark.parametrize(("thief", "victim"), [("display-01", "kiosk-01"), ("env-01", "edge")])
def test_a_login_asking_for_another_nodes_client_id_does_not_knock_it_off(broker, thief, victim):
    """A leaked board or sensor password used with client id ``kiosk-01`` or ``edge``: the
    broker lets the login in under its own user name, so the real node stays connected,
    hears no DISCONNECT and its Last Will is not published; the intruder acts only as the
    node whose password it has (the ACL), and that node's own next login takes it over."""
    watch = RawNode(broker, "kiosk-02")  # reads every node's $state
    watch.subscribe(contract.NODE_STATE.filter(hall=HALL))
    node = broker.client(victim, kind="tool", session=3)
    kicked = record_disconnects(node)
    victim_state = contract.NODE_STATE.topic(hall=HALL, node=victim)
    thief_state = contract.NODE_STATE.topic(hall=HALL, node=thief)
    wait_for(lambda: any(json.loads(p)["state"] == "ready" for p in watch.on(victim_state)))
    before = len(watch.on(victim_state))

    intruder = RawNode(broker, thief, client_id=victim)
    try:
        assert not intruder.connack.is_failure  # a good password is let in ...
        intruder.publish(victim_state, b"forged")  # ... as itself only
        intruder.publish(thief_state, b"intruder-marker")
        wait_for(lambda: b"intruder-marker" in watch.on(thief_state))
        # The victim's own message after the intruder's login: had it been knocked off, it
        # would have heard so before this could get through on its new connection.
        node.publish_raw(victim_state, b"victim-marker", qos=1).wait_for_publish(5)
        wait_for(lambda: b"victim-marker" in watch.on(victim_state))
        assert kicked == [] and node.connected
        assert watch.on(victim_state)[before:] == [b"victim-marker"]  # no will, no forgery, no new "ready"
        assert f"Client {victim} already connected" not in broker_log(broker)

        # The intruder's session is the thief node's: the real one logging in takes it over.
        broker.client(thief, kind="tool")
        wait_for(lambda: intruder.disconnects)
        assert f"Client {thief} already connected, closing old connection" in broker_log(broker)
        assert kicked == [] and node.connected
    finally:
        intruder.close()
        watch.close()


def test_a_node_logging_in_again_takes_over_its_own_old_session(broker):
    """Tying the id to the user must not keep a node out: a kiosk whose old connection the
    broker still thinks alive (a hung process, a pulled cable) logs in again after a restart
    and takes its own session over; the old connection is told so and is gone."""
    watch = RawNode(broker, "kiosk-02")
    watch.subscribe(contract.NODE_STATE.filter(hall=HALL, node="kiosk-01"))
    topic = contract.NODE_STATE.topic(hall=HALL, node="kiosk-01")
    old = RawNode(broker, "kiosk-01", will=contract.NODE_STATE.encode(NodeState(state="lost", session=1)))
    try:
        assert not old.connack.is_failure
        old.publish(topic, contract.NODE_STATE.encode(NodeState(state="ready", session=1, ts=time.time())))
        new = broker.client("kiosk-01", kind="kiosk", session=2)
        kicked = record_disconnects(new)
        wait_for(lambda: old.disconnects)
        assert len(old.disconnects) == 1
        assert "Client kiosk-01 already connected, closing old connection" in broker_log(broker)

        def last() -> NodeState:
            return contract.NODE_STATE.parse(watch.on(topic)[-1])

        wait_for(lambda: (last().state, last().session) == ("ready", 2))
        assert new.connected and kicked == []
    finally:
        old.close()
        watch.close()
