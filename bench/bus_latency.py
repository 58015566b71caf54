"""Bus latency: publish -> handler through BusClient, and a request/response round trip,
against a bare paho subscriber on the same broker in the same run.

DESIGN.md gives the floor as mosquitto publish -> deliver of about 0.3 ms; BusClient adds
payload validation and a hand-off to its worker thread. Run:

    .venv/bin/python bench/bus_latency.py [--n 2000]
"""

from __future__ import annotations

import argparse
import platform
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from hall_cli.broker import Broker, free_port, render_config, write_password_file
from hall_common.bus import contract
from hall_common.bus.client import BusClient
from hall_common.bus.payloads import Telemetry

HALL = "bench"


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]



def bare_paho(port: int, pw: dict[str, str], n: int) -> list[float]:
    got = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge", protocol=mqtt.MQTTv5)
    sub.username_pw_set("edge", pw["edge"])
    sub.on_message = lambda c, u, m: got.set()
    sub.connect("127.0.0.1", port)
    sub.subscribe(contract.TELEMETRY.filter(hall=HALL), qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="env-01", protocol=mqtt.MQTTv5)
    pub.username_pw_set("env-01", pw["env-01"])
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.5)
    topic = contract.TELEMETRY.topic(hall=HALL, node="env-01", dev="env")
    out = []
    for i in range(n):
        payload = contract.TELEMETRY.encode(Telemetry(values={"i": float(i)}, ts=time.time()))
        got.clear()
        t0 = time.perf_counter()
        pub.publish(topic, payload, qos=1)
        got.wait(5)
        out.append((time.perf_counter() - t0) * 1000)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return out


def bus_client(port: int, pw: dict[str, str], n: int) -> tuple[list[float], list[float]]:
    def make(node: str) -> BusClient:
        b = BusClient(hall_id=HALL, node_id=node, kind="tool", host="127.0.0.1", port=port,
                      username=node, password=pw[node], session=1)
        b.start()
        assert b.wait_connected(10)
        return b

    edge, env = make("edge"), make("env-01")
    got = threading.Event()
    edge.subscribe(contract.TELEMETRY.filter(hall=HALL), lambda m: got.set())
    edge.serve("ping", lambda requester, args: {"ok": True})
    time.sleep(0.5)
    publish = []
    for i in range(n):
        got.clear()
        t0 = time.perf_counter()
        env.publish(contract.TELEMETRY, Telemetry(values={"i": float(i)}, ts=time.time()),
                    hall=HALL, node="env-01", dev="env")
        got.wait(5)
        publish.append((time.perf_counter() - t0) * 1000)
    rtt = []
    for _ in range(n):
        t0 = time.perf_counter()
        env.request("ping", {})
        rtt.append((time.perf_counter() - t0) * 1000)
    env.close()
    edge.close()
    return publish, rtt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pw = {n: secrets.token_urlsafe(12) for n in ("edge", "env-01")}
        write_password_file(d / "passwd", pw)
        port = free_port()
        broker = Broker(render_config(d, port=port), host="127.0.0.1", port=port)
        broker.start()
        try:
            bare = bare_paho(port, pw, args.n)
            ours, rtt = bus_client(port, pw, args.n)
        finally:
            broker.stop()
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print(f"bare paho publish->deliver  p50 {pct(bare, 50):.3f} ms  p99 {pct(bare, 99):.3f} ms  (n={args.n}, QoS 1)")
    print(f"BusClient publish->handler  p50 {pct(ours, 50):.3f} ms  p99 {pct(ours, 99):.3f} ms")
    print(f"BusClient request/response  p50 {pct(rtt, 50):.3f} ms  p99 {pct(rtt, 99):.3f} ms")
    print(f"ratio BusClient/bare at p50: {pct(ours, 50) / pct(bare, 50):.2f}")


if __name__ == "__main__":
    main()
