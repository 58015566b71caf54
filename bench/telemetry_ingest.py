"""Telemetry ingest of the edge agent: how many ESPHome sensor readings a second it takes in
on one core, and its memory with a hall's worth of environment nodes reporting.

1. Ingest rate. A stream of ``--n`` readings (50 nodes ``env-01``..``env-50`` x 5 sensors,
   round robin, plausible values, ``hall/v1/{hall}/{node}/sensor/{object_id}/state``, QoS 0)
   is generated before the clock starts and written by ``--publishers`` processes on core 1,
   one MQTT connection per node (each node may only write under its own id), as raw,
   pre-encoded MQTT 5 PUBLISH packets, so the publishers cost next to nothing and leave
   core 1 to mosquitto. The consumer runs in its own process pinned to core 0:

   (a) the baseline: a bare paho 2.x subscriber logged in as ``edge`` that only counts;
   (b) the real :class:`~edge_agent.agent.EdgeAgent` (its bus client, registry, the
       environment service storing every reading in edge.db).

   They run one after the other on the same stream (both must log in as ``edge``: the
   ACL lets only the edge read every node). Each is measured twice:

   * flat out: the stream as fast as the broker takes it; messages handled per second
     from the first to the last, and how many were lost (QoS 0: mosquitto drops what a
     slow subscriber cannot take, the agent's bus client drops what its inbox cannot hold);
   * sustainable: the publishers paced at a given rate; the highest rate the consumer
     takes with nothing lost and no backlog left when the publishers stop (found by
     doubling, then bisecting). The ratio of those two rates is the figure when the agent
     loses messages flat out.

   Every reading the agent handles is judged; one per series every ``store_every_s``
   (5 s by default, ``--store-every`` to change it; 0 stores every reading) is written to
   ``env_readings``. Both counts are printed.

2. RSS. The agent (own process) with the 50 nodes each publishing its five readings once a
   second (250 messages/s, each node at its own offset in the second, as real nodes are),
   for ``--minutes``; the agent's RSS (VmRSS) is sampled every ``--sample-s`` seconds.

Run (the machine should have 2 cores)::

    .venv/bin/python bench/telemetry_ingest.py [--n 200000] [--minutes 2] [--profile]

``--profile`` runs the agent once more, flat out, under cProfile (bus worker and paho's
network thread) and prints where its time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import multiprocessing as mp
import os
import platform
import pstats
import random
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from harness import HALL, broker, edge_config, machine, scratch

from hall_cli.broker import find_program
from hall_common.bus import contract

NODES = [f"env-{i:02d}" for i in range(1, 51)]
SENSORS = {  # object_id: start, step of the random walk, low, high (simulators/env_node.py)
    "temperature": (22.5, 0.2, 10.0, 40.0),
    "humidity": (50.0, 1.0, 10.0, 95.0),
    "co2": (650.0, 15.0, 400.0, 900.0),
    "illuminance": (420.0, 10.0, 320.0, 2000.0),
    "noise": (42.0, 1.5, 25.0, 50.0),
}
CONSUMER_CORE, PUBLISHER_CORE = 0, 1
IDLE_S = 1.5  # a consumer is done once nothing came for this long after the publishers stopped


# -- raw MQTT 5 --------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def _packet(header: int, body: bytes) -> bytes:
    return bytes([header]) + _varint(len(body)) + body


def publish_packet(topic: str, payload: bytes, *, retain: bool = False) -> bytes:
    """A QoS 0 MQTT 5 PUBLISH (no properties)."""
    return _packet(0x30 | (1 if retain else 0), _str(topic) + b"\x00" + payload)


def raw_connect(port: int, node: str, password: str) -> socket.socket:
    """Log in as ``node`` (clean start, keepalive 60 s) and return the socket."""
    body = _str("MQTT") + b"\x05" + b"\xc2" + (60).to_bytes(2, "big") + b"\x00" + _str(node) + _str(node) + _str(password)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(_packet(0x10, body))
    head = sock.recv(2)
    rest = b""
    while len(rest) < head[1]:
        rest += sock.recv(head[1] - len(rest))
    if head[0] != 0x20 or rest[1] != 0:
        raise RuntimeError(f"broker refused {node}: {head!r} {rest!r}")
    return sock


def make_stream(n: int, seed: int = 1) -> list[tuple[int, bytes]]:
    """n readings, node by node and sensor by sensor in turn: (node index, PUBLISH packet)."""
    rng = random.Random(seed)
    values = {(j, k): v[0] for j in range(len(NODES)) for k, v in SENSORS.items()}
    names = list(SENSORS)
    topics = {(j, k): contract.ESPHOME_SENSOR.topic(hall=HALL, node=node, object_id=k)
              for j, node in enumerate(NODES) for k in names}
    out = []
    for i in range(n):
        j, k = (i // len(names)) % len(NODES), names[i % len(names)]
        _, step, low, high = SENSORS[k]
        v = min(high, max(low, values[(j, k)] + rng.uniform(-step, step)))
        values[(j, k)] = v
        out.append((j, publish_packet(topics[(j, k)], f"{v:.2f}".encode())))
    return out


def pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and core < os.cpu_count():
        os.sched_setaffinity(0, {core})


# -- publishers --------------------------------------------------------------------------------


def publisher(port: int, pw: dict[str, str], stream: list[tuple[int, bytes]], rate: float | None,
              ready, go, conn) -> None:
    """Write ``stream`` (this process's nodes only), flat out or at ``rate`` messages/s; send
    back (first write, last write) as time.time()."""
    pin(PUBLISHER_CORE)
    nodes = sorted({j for j, _ in stream})
    socks = {j: raw_connect(port, NODES[j], pw[NODES[j]]) for j in nodes}
    # Writes grouped in chunks (flat out: 1000 messages; paced: about 5 ms worth), built now.
    size = 1000 if rate is None else max(1, int(rate / 200))
    chunks: list[list[tuple[socket.socket, bytes]]] = []
    for start in range(0, len(stream), size):
        per: dict[int, list[bytes]] = {}
        for j, pkt in stream[start:start + size]:
            per.setdefault(j, []).append(pkt)
        chunks.append([(socks[j], b"".join(p)) for j, p in per.items()])
    ready.set()
    go.wait()
    t0 = time.time()
    for c, writes in enumerate(chunks):
        if rate is not None:
            due = t0 + c * size / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
        for sock, blob in writes:
            sock.sendall(blob)
    t1 = time.time()
    for sock in socks.values():
        sock.sendall(b"\xe0\x00")  # DISCONNECT
        sock.close()
    conn.send((t0, t1))


def announce(port: int, pw: dict[str, str]) -> None:
    """Every node says ``status`` online (retained), as ESPHome does on connect."""
    for node in NODES:
        sock = raw_connect(port, node, pw[node])
        sock.sendall(publish_packet(contract.ESPHOME_STATUS.topic(hall=HALL, node=node), b"online", retain=True))
        sock.sendall(b"\xe0\x00")
        sock.close()


# -- consumers ---------------------------------------------------------------------------------


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by thread name."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for t in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1].split()
            out[t.name] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return out


def bare_consumer(port: int, password: str, conn) -> None:
    import paho.mqtt.client as mqtt

    pin(CONSUMER_CORE)
    state = {"n": 0, "first": None, "last": None, "done_at": 0.0}
    subscribed = threading.Event()

    def on_message(c, u, m) -> None:
        now = time.time()
        if state["first"] is None:
            state["first"] = now
        state["n"] += 1
        state["last"] = now

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge", protocol=mqtt.MQTTv5)
    client.username_pw_set("edge", password)
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(contract.ESPHOME_SENSOR.filter(hall=HALL), qos=0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    subscribed.wait(10)
    cpu0 = time.process_time()
    conn.send("ready")
    state["done_at"] = time.time() + 3600
    threading.Thread(target=lambda: state.update(done_at=conn.recv() or time.time()), daemon=True).start()
    while time.time() - max(state["last"] or 0.0, state["done_at"]) <= IDLE_S:
        time.sleep(0.1)
    cpu = time.process_time() - cpu0
    client.loop_stop()
    client.disconnect()
    conn.send({"handled": state["n"], "first": state["first"], "last": state["last"], "cpu_s": cpu})


def agent_config(d: Path, port: int):
    return edge_config(
        d, port,
        devices=[{"id": node, "kind": "env_node", "model": "ESP32 env node", "location": "服务大厅",
                  "expected_interval_s": 1} for node in NODES],
        **({"environment": {"store_every_s": float(os.environ["BENCH_STORE_EVERY"])}}
           if os.environ.get("BENCH_STORE_EVERY") else {}),
    )


def start_agent(d: Path, port: int, profile: bool = False):
    """The real agent, with a count and the time of the first and last reading handled."""
    from edge_agent.agent import EdgeAgent

    agent = EdgeAgent(agent_config(d, port))
    agent.first = agent.last = None
    agent.handled = 0
    reading = agent.environment.on_reading

    def timed(*args, **kwargs) -> None:
        reading(*args, **kwargs)
        now = time.time()
        if agent.first is None:
            agent.first = now
        agent.handled += 1
        agent.last = now

    agent.environment.on_reading = timed  # looked up per message by the environment's handler
    profiles: list[cProfile.Profile] = []
    if profile:
        def profiled(target):
            def run(*a, **k):
                p = cProfile.Profile()
                profiles.append(p)
                p.enable()
                try:
                    return target(*a, **k)
                finally:
                    p.disable()
            return run

        agent.bus._drain = profiled(agent.bus._drain)
        paho = agent.bus._client
        paho._thread_main = profiled(paho._thread_main)
    agent.start()
    assert agent.bus.wait_connected(15), "agent did not connect"
    # The retained ``status`` of every node makes its registry row (as on a real hall).
    deadline = time.time() + 15
    while _count_nodes(agent.db_path) < len(NODES) and time.time() < deadline:
        time.sleep(0.05)
    return agent, profiles


def _count_nodes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM nodes").fetchone()[0]


def stored(d: Path) -> int:
    db = sqlite3.connect(d / "edge" / "edge.db")
    try:
        return db.execute("SELECT count(*) FROM env_readings").fetchone()[0]
    finally:
        db.close()


def agent_consumer(port: int, d: str, conn, profile: bool = False) -> None:
    d = Path(d)
    pin(CONSUMER_CORE)
    logging.basicConfig(filename=d / "agent.log", level=logging.WARNING)
    agent, profiles = start_agent(d, port, profile)
    before = stored(d)
    cpu0 = time.process_time()
    threads0 = thread_cpu()
    conn.send("ready")
    state = {"done_at": time.time() + 3600}
    threading.Thread(target=lambda: state.update(done_at=conn.recv() or time.time()), daemon=True).start()
    while time.time() - max(agent.last or 0.0, state["done_at"]) <= IDLE_S:
        time.sleep(0.1)
    cpu = time.process_time() - cpu0
    threads = {k: round(v - threads0.get(k, 0.0), 2) for k, v in thread_cpu().items()}
    counted = agent.metrics.ingested.get(contract.ESPHOME_SENSOR.name, 0)
    dropped = agent.bus.dropped
    agent.close()  # writes the last buffered readings
    prof = ""
    if profiles:
        buf = io.StringIO()
        stats = pstats.Stats(profiles[0], stream=buf)
        for p in profiles[1:]:
            stats.add(p)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        prof = buf.getvalue()
    conn.send({"handled": agent.handled, "metrics": int(counted), "inbox_dropped": dropped, "first": agent.first,
               "last": agent.last, "stored": stored(d) - before, "cpu_s": cpu, "threads": threads, "profile": prof})


def rss_agent(port: int, d: str, conn) -> None:
    d = Path(d)
    pin(CONSUMER_CORE)
    logging.basicConfig(filename=d / "agent.log", level=logging.WARNING)
    agent, _ = start_agent(d, port)
    before = stored(d)
    conn.send("ready")
    conn.recv()
    handled, dropped = agent.handled, agent.bus.dropped
    agent.close()
    conn.send({"handled": handled, "inbox_dropped": dropped, "stored": stored(d) - before})


# -- orchestration -----------------------------------------------------------------------------


CTX = mp.get_context("spawn")


def run_consumer(kind: str, port: int, pw: dict[str, str], d: Path, stream: list[tuple[int, bytes]],
                 rate: float | None, publishers: int, profile: bool = False) -> dict:
    """One measured pass: a fresh consumer, the stream published flat out or at ``rate``."""
    parent, child = CTX.Pipe()
    if kind == "bare":
        proc = CTX.Process(target=bare_consumer, args=(port, pw["edge"], child))
    else:
        proc = CTX.Process(target=agent_consumer, args=(port, str(d), child, profile))
    proc.start()
    if not parent.poll(60):
        proc.kill()
        raise RuntimeError(f"{kind} consumer did not get ready")
    parent.recv()
    go = CTX.Event()
    pubs = []
    for k in range(publishers):
        part = [(j, pkt) for j, pkt in stream if j % publishers == k]
        ready = CTX.Event()
        a, b = CTX.Pipe()
        p = CTX.Process(target=publisher,
                        args=(port, pw, part, None if rate is None else rate / publishers, ready, go, b))
        p.start()
        pubs.append((p, ready, a))
    for _, ready, _ in pubs:
        ready.wait(120)
    go.set()
    spans = [a.recv() for _, _, a in pubs]
    for p, _, _ in pubs:
        p.join()
    pub_start, pub_end = min(s for s, _ in spans), max(e for _, e in spans)
    parent.send(pub_end)
    result = parent.recv()
    proc.join(30)
    result.update(kind=kind, rate=rate, sent=len(stream), pub_start=pub_start, pub_end=pub_end)
    span = (result["last"] - result["first"]) if result.get("first") and result.get("last") else 0.0
    result["per_s"] = (result["handled"] - 1) / span if span > 0 else 0.0
    result["lost"] = len(stream) - result["handled"]
    result["backlog_s"] = (result["last"] or pub_end) - pub_end
    result["offered_per_s"] = len(stream) / (pub_end - pub_start) if pub_end > pub_start else 0.0
    return result


def describe(r: dict) -> str:
    how = "flat out" if r["rate"] is None else f"paced at {r['rate']:,.0f}/s"
    extra = ""
    if r["kind"] == "agent":
        extra = (f", agent.metrics {r['metrics']:,}, stored in edge.db {r['stored']:,}, "
                 f"dropped by its inbox {r['inbox_dropped']:,}")
    return (f"  {r['kind']:5s} {how:18s} sent {r['sent']:,} (offered {r['offered_per_s']:,.0f}/s): "
            f"handled {r['handled']:,} at {r['per_s']:,.0f}/s, lost {r['lost']:,}, "
            f"last one {r['backlog_s']:+.2f} s after the publishers stopped, CPU {r['cpu_s']:.1f} s{extra}")


def keeps_up(r: dict) -> bool:
    return r["lost"] == 0 and r["backlog_s"] < 0.5


def sustainable(kind: str, port: int, pw: dict[str, str], d: Path, seconds: float, publishers: int,
                start: float, steps: int) -> tuple[float, list[dict]]:
    """The highest paced rate with nothing lost and no backlog: double from ``start`` until
    the consumer falls behind, then bisect ``steps`` times."""
    runs: list[dict] = []

    def trial(rate: float) -> bool:
        stream = make_stream(max(2500, int(rate * seconds)), seed=int(rate))
        r = run_consumer(kind, port, pw, d, stream, rate, publishers)
        runs.append(r)
        print(describe(r), flush=True)
        return keeps_up(r)

    good, bad = 0.0, None
    rate = start
    while bad is None:
        if trial(rate):
            good, rate = rate, rate * 2
        else:
            bad = rate
        if rate > 400_000:
            break
    for _ in range(steps if bad is not None else 0):
        mid = (good + bad) / 2
        if trial(mid):
            good = mid
        else:
            bad = mid
    return good, runs


def rss_of(pid: int) -> float:
    """VmRSS of ``pid`` in MB (psutil is not needed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_run(port: int, pw: dict[str, str], d: Path, minutes: float, sample_s: float) -> dict:
    """The agent with 50 nodes reporting their five readings every second."""
    parent, child = CTX.Pipe()
    proc = CTX.Process(target=rss_agent, args=(port, str(d), child))
    proc.start()
    if not parent.poll(60):
        proc.kill()
        raise RuntimeError("agent did not get ready")
    parent.recv()
    socks = [raw_connect(port, node, pw[node]) for node in NODES]
    names = list(SENSORS)
    topics = [[contract.ESPHOME_SENSOR.topic(hall=HALL, node=node, object_id=k) for k in names] for node in NODES]
    rng = random.Random(7)
    values = [[SENSORS[k][0] for k in names] for _ in NODES]
    samples: list[tuple[float, float]] = []
    sent = 0
    t0 = time.time()
    next_sample = t0
    end = t0 + minutes * 60
    second = 0
    while time.time() < end:
        for j, sock in enumerate(socks):  # node j reports at its own offset in the second
            due = t0 + second + j / len(socks)
            while True:
                now = time.time()
                if now >= next_sample:
                    samples.append((now - t0, rss_of(proc.pid)))
                    next_sample += sample_s
                if now >= due:
                    break
                time.sleep(min(due - now, 0.005))
            blob = []
            for i, k in enumerate(names):
                _, step, low, high = SENSORS[k]
                values[j][i] = min(high, max(low, values[j][i] + rng.uniform(-step, step)))
                blob.append(publish_packet(topics[j][i], f"{values[j][i]:.2f}".encode()))
            sock.sendall(b"".join(blob))
            sent += len(names)
        second += 1
    time.sleep(2)
    samples.append((time.time() - t0, rss_of(proc.pid)))
    for sock in socks:
        sock.sendall(b"\xe0\x00")
        sock.close()
    parent.send("stop")
    result = parent.recv()
    proc.join(30)
    result.update(sent=sent, samples=samples, seconds=time.time() - t0)
    return result


def this_machine() -> str:
    """:func:`harness.machine`, the kernel, mosquitto's version and the load it starts under."""
    mosq = subprocess.run([find_program("mosquitto"), "-h"], capture_output=True, text=True).stdout.splitlines()[0]
    return f"{machine()}, {platform.platform()}, {mosq}; load average at start {os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="readings in the flat-out stream")
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--trial-s", type=float, default=8.0, help="length of one paced trial")
    parser.add_argument("--steps", type=int, default=4, help="bisection steps of the sustainable-rate search")
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the RSS run")
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--skip", choices=["rate", "rss", "sustainable"], action="append", default=[])
    parser.add_argument("--profile", action="store_true", help="also profile the agent flat out")
    parser.add_argument("--store-every", type=float, default=None,
                        help="the agent's environment.store_every_s (default: the configuration's, 5 s; 0: every reading)")
    args = parser.parse_args()
    if args.store_every is not None:
        os.environ["BENCH_STORE_EVERY"] = str(args.store_every)
    print("machine:", this_machine(), flush=True)
    pin(PUBLISHER_CORE)  # this process and mosquitto stay off the consumer's core
    with scratch() as d, broker(d, [*NODES, "edge", "bench"]) as running:
        port, pw = running.port, running.passwords
        try:
            announce(port, pw)
            if "rate" not in args.skip:
                stream = make_stream(args.n)
                print(f"\n1. ingest of {args.n:,} readings, flat out ({args.publishers} publishers on core "
                      f"{PUBLISHER_CORE} with mosquitto, consumer alone on core {CONSUMER_CORE})", flush=True)
                flat = {}
                for kind in ("bare", "agent"):
                    flat[kind] = run_consumer(kind, port, pw, d, stream, None, args.publishers)
                    print(describe(flat[kind]), flush=True)
                print(f"  agent per-thread CPU s: {flat['agent']['threads']}")
                ratio = flat["agent"]["per_s"] / flat["bare"]["per_s"]
                print(f"  flat-out ratio agent/bare: {ratio:.2f} (goal >= 0.7)", flush=True)
                if "sustainable" not in args.skip:
                    print("\n   sustainable rate (paced; nothing lost, no backlog at the end):", flush=True)
                    best = {}
                    for kind in ("bare", "agent"):
                        start = max(250.0, round(flat[kind]["per_s"] / 2, -2))
                        best[kind], _ = sustainable(kind, port, pw, d, args.trial_s, args.publishers, start, args.steps)
                        print(f"  {kind}: highest rate kept up with: {best[kind]:,.0f}/s", flush=True)
                    if best["bare"]:
                        print(f"  sustainable ratio agent/bare: {best['agent'] / best['bare']:.2f} (goal >= 0.7)")
                if args.profile:
                    prof = run_consumer("agent", port, pw, d, stream, None, args.publishers, profile=True)
                    print("\n  agent under cProfile, flat out:", describe(prof))
                    print(prof["profile"])
            if "rss" not in args.skip:
                print(f"\n2. agent RSS, 50 nodes x 5 readings every second, {args.minutes:g} min", flush=True)
                r = rss_run(port, pw, d, args.minutes, args.sample_s)
                mb = [m for _, m in r["samples"]]
                print("  samples (s, MB): " + ", ".join(f"{t:.0f}:{m:.1f}" for t, m in r["samples"]))
                print(f"  RSS start {mb[0]:.1f} MB, peak {max(mb):.1f} MB, end {mb[-1]:.1f} MB, "
                      f"growth {mb[-1] - mb[0]:+.1f} MB over {r['seconds']:.0f} s; sent {r['sent']:,}, "
                      f"handled {r['handled']:,}, stored {r['stored']:,}, dropped by inbox {r['inbox_dropped']}")
        finally:
            log = d / "agent.log"
            if log.exists() and log.stat().st_size:
                lines = log.read_text(errors="replace").splitlines()
                print(f"\nagent log: {len(lines)} lines; last: {lines[-1][:200] if lines else ''}")


if __name__ == "__main__":
    main()
