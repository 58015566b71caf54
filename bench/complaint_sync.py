"""A resident's complaint from the kiosk's request to the centre's acknowledgement, with the
centre up: p50/p99 of

* **durable**: the ``complaint`` request answered (the record, its event and its outbox
  entry committed in edge.db with ``synchronous=FULL``), and
* **acknowledged**: the edge's sync worker has the centre's acknowledgement for it (the
  outbox row marked sent).

Real parts: mosquitto, the edge agent (nudging its sync worker on each record), and the
central server in its own process on SQLite. The baseline, measured in the same run, is a
``ping`` request: the bus round trip alone.

Run:

    .venv/bin/python bench/complaint_sync.py [--n 200]
"""

from __future__ import annotations

import argparse
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from edge_agent.agent import EdgeAgent
from hall_cli.broker import Broker, free_port, render_config, write_password_file
from hall_cli.provision import provision
from hall_common.bus.client import BusClient
from hall_common.config import EdgeConfig

HALL = "bench"


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def submission(i: int) -> dict:
    return {"request": str(uuid.uuid4()), "kind": "repair", "category": "facilities", "place": "3 栋 2 单元",
            "content": f"单元门门禁坏了，刷卡没反应（{i}）", "name": "张三", "room": f"3-2-{i % 900 + 100}",
            "phone": "13812345678"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pw = {node: secrets.token_urlsafe(12) for node in ("edge", "kiosk-01")}
        write_password_file(d / "passwd", pw)
        (d / "edge.pw").write_text(pw["edge"])
        port = free_port()
        broker = Broker(render_config(d, port=port), host="127.0.0.1", port=port)
        broker.start()
        db_url = f"sqlite:///{d}/central.db"
        provision(db_url, HALL, "基准大厅", "edge", d / "edge.token")
        cport = free_port()
        (d / "central.toml").write_text(f'data_dir = "c"\nlog_level = "WARNING"\ndatabase_url = "{db_url}"\n'
                                        f'[http]\nport = {cport}\n')
        centre = subprocess.Popen([sys.executable, "-m", "central_sync.server", "--config", str(d / "central.toml")],
                                  stderr=subprocess.DEVNULL)
        agent = None
        kiosk = BusClient(hall_id=HALL, node_id="kiosk-01", kind="kiosk", host="127.0.0.1", port=port,
                          username="kiosk-01", password=pw["kiosk-01"], session=1)
        try:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", cport), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            agent = EdgeAgent(EdgeConfig(
                hall_id=HALL, hall_name="基准大厅", node_id="edge", data_dir=d / "edge", http={"port": 1},
                broker={"host": "127.0.0.1", "port": port, "password_file": d / "edge.pw"},
                centre={"url": f"http://127.0.0.1:{cport}", "token_file": d / "edge.token"},
                complaints={"hall_code": "101"},
            ))
            agent.start()
            kiosk.start()
            assert agent.bus.wait_connected(10) and kiosk.wait_connected(10)
            db = agent.complaints.db
            ping, durable, acked = [], [], []
            for i in range(args.n + 10):
                t0 = time.perf_counter()
                kiosk.request("ping", {})
                t1 = time.perf_counter()
                r = kiosk.request("complaint", submission(i))
                t2 = time.perf_counter()
                while db.execute("SELECT sent_at FROM outbox WHERE id = ?", [r["id"]]).fetchone()[0] is None:
                    time.sleep(0.0005)
                t3 = time.perf_counter()
                if i >= 10:  # the first ones warm up connections
                    ping.append((t1 - t0) * 1000)
                    durable.append((t2 - t1) * 1000)
                    acked.append((t3 - t1) * 1000)
        finally:
            kiosk.close()
            if agent is not None:
                agent.close()
            centre.terminate()
            centre.wait(10)
            broker.stop()
    print(f"machine: {platform.machine()}, CPython {platform.python_version()}")
    print(f"submit -> durable (answered)        p50 {pct(durable, 50):.2f} ms  p99 {pct(durable, 99):.2f} ms  (n={args.n})")
    print(f"submit -> acknowledged by the centre p50 {pct(acked, 50):.2f} ms  p99 {pct(acked, 99):.2f} ms")
    print(f"baseline: ping round trip           p50 {pct(ping, 50):.2f} ms  p99 {pct(ping, 99):.2f} ms; "
          f"durable/ping at p50 {pct(durable, 50) / pct(ping, 50):.1f}")


if __name__ == "__main__":
    main()
