"""Many simulated environment nodes in one process, joined to a running ``hall up``: what a
large hall (or a load test) looks like to the edge agent without fifty processes.

Each node is a :class:`~simulators.env_node.EnvNodeSim` with its own broker connection and
credential, so the broker's ACL and the edge's registry see fifty separate nodes. The
hall's broker learns their passwords first: each gets a secret in the hall's
``secrets/broker/``, the password file is written again from every secret there, and
mosquitto is told to reload it (SIGHUP). ::

    .venv/bin/python -m simulators.sensor_swarm --data-dir var/hall --count 50 --interval 1

Runs until SIGTERM or Ctrl-C, then takes its nodes off the bus cleanly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
import tomllib
from pathlib import Path

from hall_cli.broker import write_password_file
from hall_common.bus.client import BusClient
from hall_common.private_files import read_or_create_secret

from .env_node import SW_VERSION, EnvNodeSim

log = logging.getLogger(__name__)


def admit(data_dir: Path, nodes: list[str]) -> dict[str, str]:
    """Give ``nodes`` broker credentials in the running hall; returns their passwords."""
    secrets = data_dir / "secrets" / "broker"
    passwords = {n: read_or_create_secret(secrets / n) for n in nodes}
    every = {p.name: p.read_text(encoding="utf-8").strip() for p in secrets.iterdir() if p.is_file()}
    write_password_file(data_dir / "broker" / "passwd", every)
    pid = json.loads((data_dir / "run" / "pids.json").read_text(encoding="utf-8"))["broker"]
    os.kill(pid, signal.SIGHUP)  # mosquitto reloads its password file
    return passwords


def swarm(data_dir: Path, *, count: int, interval: float, prefix: str = "swarm") -> list[EnvNodeSim]:
    """Start ``count`` nodes named ``{prefix}-01``... (not their ticks: see :func:`run`)."""
    edge = tomllib.loads((data_dir / "config" / "edge.toml").read_text(encoding="utf-8"))
    nodes = [f"{prefix}-{n:02d}" for n in range(1, count + 1)]
    passwords = admit(data_dir, nodes)
    session = int(time.time())
    sims = []
    for n, node in enumerate(nodes):
        def make_bus(node: str = node) -> BusClient:
            return BusClient(hall_id=edge["hall_id"], node_id=node, kind="env_node", host=edge["broker"]["host"],
                             port=edge["broker"]["port"], password=passwords[node], session=session,
                             sw=SW_VERSION, availability="esphome")
        sims.append(EnvNodeSim(make_bus, interval=interval, seed=n))
    for sim in sims:
        sim.start()
    return sims


def run(sims: list[EnvNodeSim], interval: float, stop: threading.Event) -> None:
    """Tick every node every ``interval`` seconds, spread over the interval as real nodes
    (each on its own clock) would be."""
    step = interval / max(1, len(sims))
    while not stop.is_set():
        for sim in sims:
            if stop.wait(step):
                return
            sim.tick()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.sensor_swarm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("var/hall"), help="the data directory of `hall up`")
    parser.add_argument("--count", type=int, default=50, help="how many nodes (1-99)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a node's readings")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 99 or args.interval <= 0:
        parser.error("count must be 1-99 and interval positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sims = swarm(args.data_dir, count=args.count, interval=args.interval)
    log.info("%d nodes publishing every %g s", len(sims), args.interval)
    try:
        run(sims, args.interval, stop)
    finally:
        for sim in sims:
            sim.close()


if __name__ == "__main__":
    main()
