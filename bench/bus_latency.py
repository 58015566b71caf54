"""Bus latency: publish -> handler through BusClient, and a request/response round trip,
against a bare paho subscriber on the same broker in the same run.

DESIGN.md gives the floor as mosquitto publish -> deliver of about 0.3 ms; BusClient adds
payload validation and a hand-off to its worker thread. Run:

    .venv/bin/python bench/bus_latency.py [--n 2000]
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt

from harness import HALL, broker, machine, options, pct, scratch

from hall_common.bus import contract
from hall_common.bus.payloads import Telemetry

if TYPE_CHECKING:
    from tests.conftest import RunningBroker


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


def bus_client(running: RunningBroker, n: int) -> tuple[list[float], list[float]]:
    edge, env = running.client("edge"), running.client("env-01")
    got = threading.Event()
    edge.subscribe(contract.TELEMETRY.filter(hall=HALL), lambda m: got.set())
    edge.serve("ping", lambda requester, args: {"hall": HALL, "session": 1, "ts": 0.0, "sync": None})
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
    return publish, rtt


def main() -> None:
    args = options(__doc__, n=2000)
    with scratch() as d, broker(d, ("edge", "env-01")) as running:
        bare = bare_paho(running.port, running.passwords, args.n)
        ours, rtt = bus_client(running, args.n)
    print(f"machine: {machine()}")
    print(f"bare paho publish->deliver  p50 {pct(bare, 50):.3f} ms  p99 {pct(bare, 99):.3f} ms  (n={args.n}, QoS 1)")
    print(f"BusClient publish->handler  p50 {pct(ours, 50):.3f} ms  p99 {pct(ours, 99):.3f} ms")
    print(f"BusClient request/response  p50 {pct(rtt, 50):.3f} ms  p99 {pct(rtt, 99):.3f} ms")
    print(f"ratio BusClient/bare at p50: {pct(ours, 50) / pct(bare, 50):.2f}")


if __name__ == "__main__":
    main()
