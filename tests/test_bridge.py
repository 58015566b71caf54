"""A hall broker bridged to a central broker, both real mosquittos: the hall's live views
reach the centre, nothing else leaves the hall, and a hall cannot write another's topics."""

from __future__ import annotations

import secrets
import threading
import time

import paho.mqtt.client as mqtt

from hall_cli.broker import CENTRAL_ACL_FILE, Broker, render_bridge, render_config, write_password_file
from hall_common.bus import contract
from hall_common.bus.payloads import Alarm, QueueState

from .conftest import HALL, free_port, wait_for


def test_bridge_forwards_live_views_only(broker, tmp_path):
    central_dir = tmp_path / "central-broker"
    central_dir.mkdir()
    pw = {HALL: secrets.token_urlsafe(12), "t2": secrets.token_urlsafe(12), "ops": secrets.token_urlsafe(12)}
    write_password_file(central_dir / "passwd", pw)
    central_port = free_port()
    central = Broker(render_config(central_dir, port=central_port, acl_file=CENTRAL_ACL_FILE), host="127.0.0.1", port=central_port)
    central.start()

    # The hall's broker again, now with the bridge (the fixture's config, plus include_dir).
    bridge_dir = tmp_path / "bridge.d"
    bridge_dir.mkdir()
    render_bridge(bridge_dir, hall=HALL, address=f"127.0.0.1:{central_port}", password=pw[HALL])
    broker.broker.stop()
    render_config(broker.broker.conf.parent, port=broker.port, extra=f"include_dir {bridge_dir}")
    broker.broker.start()

    seen: list[tuple[str, bytes]] = []
    lock = threading.Lock()
    ops = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ops", protocol=mqtt.MQTTv5)
    ops.username_pw_set("ops", pw["ops"])
    ops.on_message = lambda c, u, m: (lock.acquire(), seen.append((m.topic, m.payload)), lock.release())
    ops.connect("127.0.0.1", central_port)
    ops.subscribe("hall/v1/#", qos=1)
    ops.loop_start()
    try:
        edge = broker.client("edge", kind="edge")
        kiosk = broker.client("kiosk-01", kind="kiosk")
        wait_for(lambda: any(t == contract.NODE_STATE.topic(hall=HALL, node="edge") for t, _ in seen), timeout=20)
        alarm = Alarm(id="printer-1.paper", source="printer-1", type="paper_out", severity="major",
                      state="ACTIVE_UNACK", text="打印机缺纸", raised_at=time.time())
        edge.publish(contract.ALARM, alarm, hall=HALL, alarm_id="printer-1.paper")
        edge.publish(contract.QUEUE_STATE, QueueState(ts=time.time(), waiting={"consult": 3}), hall=HALL)
        kiosk.publish_raw(contract.REQUEST.topic(hall=HALL, node="kiosk-01", method="help"), b'{"args":{}}', qos=1)
        kiosk.publish_raw(contract.TELEMETRY.topic(hall=HALL, node="kiosk-01", dev="screen"), b'{"values":{},"ts":1}', qos=1)
        wait_for(lambda: {contract.ALARM.topic(hall=HALL, alarm_id="printer-1.paper"),
                          contract.QUEUE_STATE.topic(hall=HALL)} <= {t for t, _ in seen}, timeout=20)
        time.sleep(1)
        topics = {t for t, _ in seen}
        assert contract.REQUEST.topic(hall=HALL, node="kiosk-01", method="help") not in topics
        assert contract.TELEMETRY.topic(hall=HALL, node="kiosk-01", dev="screen") not in topics
        assert any("打印机缺纸".encode() in p for t, p in seen if "/alarm/" in t)

        # A hall's credentials at the centre cannot write another hall's topics (hall t2's
        # here: a second login as t1 would take the running bridge's place, its own id).
        rogue = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t2", protocol=mqtt.MQTTv5)
        rogue.username_pw_set("t2", pw["t2"])
        rogue.connect("127.0.0.1", central_port)
        rogue.loop_start()
        rogue.publish(f"hall/v1/{HALL}/alarm/fake", b"forged", qos=1).wait_for_publish(5)
        rogue.publish("hall/v1/t2/alarm/marker", b"marker", qos=1).wait_for_publish(5)
        wait_for(lambda: any(p == b"marker" for _, p in seen))
        rogue.loop_stop()
        rogue.disconnect()
        assert not any(p == b"forged" for _, p in seen)
    finally:
        ops.loop_stop()
        ops.disconnect()
        central.stop()


def test_broker_config_command_writes_the_bridge(tmp_path):
    import subprocess
    import sys

    (tmp_path / "pw").write_text("s3cret-pw")
    out = tmp_path / "conf"
    result = subprocess.run([sys.executable, "-m", "hall_cli", "broker-config", "--out-dir", str(out), "--port", "1884",
                             "--bridge-address", "centre.example:8883", "--bridge-hall", HALL,
                             "--bridge-password-file", str(tmp_path / "pw")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    conf = (out / "mosquitto.conf").read_text()
    bridge = out / "bridge.d" / "bridge.conf"
    assert f"include_dir {out / 'bridge.d'}" in conf and "listener 1884" in conf
    assert (bridge.stat().st_mode & 0o777) == 0o600
    text = bridge.read_text()
    assert "remote_password s3cret-pw" in text and f"topic hall/v1/{HALL}/+/$state out 1" in text
