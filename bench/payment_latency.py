"""Payment notification → the kiosk shows "paid", on one machine with real parts: the
central server (SQLite, sandbox provider) under waitress, mosquitto, the edge agent
long-polling the centre for each order, and the kiosk app under waitress whose page waits
on ``/bills/pay/state`` (the long poll the kiosk's script holds open while the QR code is up).

For each of ``--n`` orders (one bill line each; a fresh household per order): the kiosk's
``pay`` request makes the order, a client holds the kiosk's long poll open, then the
sandbox's signed notification is POSTed to the centre. Measured from just before that POST:

* the centre has verified, recorded and answered it (SUCCESS) — the baseline;
* the kiosk's long poll has answered ``paid`` — the figure (goal: within a second of the
  centre, i.e. the difference well under 1 s).

Run:

    .venv/bin/python bench/payment_latency.py [--n 100]
"""

from __future__ import annotations

import argparse
import json
import platform
import secrets
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from waitress import create_server

import central_sync.server
import kiosk
from central_sync.server import credentials
from central_sync.store import Store
from edge_agent.agent import EdgeAgent
from hall_cli.broker import Broker, free_port, render_config, write_password_file
from hall_common.bus.client import BusClient
from hall_common.config import CentralConfig, EdgeConfig, KioskConfig
from kiosk.status import HallStatus

HALL = "bench"
NODES = ("edge", "kiosk-01")
ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def serve(app) -> str:
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    return f"http://127.0.0.1:{server.effective_port}"


def add_households(store: Store, n: int) -> list[tuple[str, str]]:
    """``n`` rooms with one unpaid water line each: (room, line id)."""
    out = []
    for i in range(n):
        room, line = f"9-{1 + i // 400}-{1001 + i % 400}", str(uuid.uuid4())
        store.execute("INSERT INTO households (hall_id, room, building, unit, owner_name, phone) VALUES (?, ?, ?, ?, ?, ?)",
                      (HALL, room, room.split("-")[0], room.split("-")[1], "测试", "13800000000"))
        store.execute("INSERT INTO bill_lines (id, hall_id, room, item, period, amount_fen, standard, basis, due_date, status) "
                      "VALUES (?, ?, ?, '水费', '2026年10月', 4420, '3.40 元/吨 × 13 吨', '成都市居民用水阶梯价格', "
                      "'2026-12-10', 'unpaid')", (line, HALL, room))
        out.append((room, line))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pw = {node: secrets.token_urlsafe(12) for node in NODES}
        write_password_file(d / "passwd", pw)
        for node in NODES:
            (d / f"{node}.pw").write_text(pw[node])
        port = free_port()
        broker = Broker(render_config(d, port=port), host="127.0.0.1", port=port)
        broker.start()
        centre_app = central_sync.server.create_app(CentralConfig(data_dir=d / "central", http={"port": 1},
                                                                  database_url=f"sqlite:///{d}/central.db"))
        centre_url = serve(centre_app)
        store = Store.connect(f"sqlite:///{d}/central.db")
        credentials.register_hall(store, HALL, "基准大厅")
        (d / "edge.token").write_text(credentials.issue(store, HALL, "edge"))
        rooms = add_households(store, args.n)
        common = {"hall_id": HALL, "hall_name": "基准大厅"}
        agent = EdgeAgent(EdgeConfig(
            **common, node_id="edge", data_dir=d / "edge", http={"port": 1},
            broker={"host": "127.0.0.1", "port": port, "password_file": d / "edge.pw"},
            centre={"url": centre_url, "token_file": d / "edge.token"}))
        agent.start()
        kcfg = KioskConfig(**common, node_id="kiosk-01", data_dir=d / "kiosk", http={"port": 1},
                           broker={"host": "127.0.0.1", "port": port, "password_file": d / "kiosk-01.pw"},
                           settings={"info": {"service_phone": "028-1000", "complaint_phone": "028-2000"}, "hours": ALWAYS})
        kbus = BusClient(hall_id=HALL, node_id="kiosk-01", kind="kiosk", host="127.0.0.1", port=port,
                         username="kiosk-01", password=pw["kiosk-01"], session=1)
        app = kiosk.create_app(kcfg, HallStatus(kbus), kbus)
        kbus.start()
        kiosk_url = serve(app)
        sandbox = centre_app.extensions["payments"].provider
        signer = app.session_interface.get_signing_serializer(app)
        to_centre, to_kiosk = [], []
        try:
            assert kbus.wait_connected(10)
            for room, line in rooms:
                order = kbus.request("pay", {"room": room, "bill_ids": [line]}, timeout=10)
                cookie = signer.dumps({"payment": {"order_id": order["order_id"], "amount_fen": order["amount_fen"],
                                                   "code_url": order["code_url"], "expires_at": order["expires_at"],
                                                   "reference": order["out_trade_no"], "count": 1, "status": "created"}})
                seen: dict[str, float] = {}

                def long_poll() -> None:
                    req = urllib.request.Request(f"{kiosk_url}/bills/pay/state?wait=20", headers={"Cookie": f"session={cookie}"})
                    status = json.loads(urllib.request.urlopen(req, timeout=30).read())["status"]
                    seen[status] = time.perf_counter()

                poller = threading.Thread(target=long_poll)
                poller.start()
                time.sleep(0.05)  # the poll is waiting at the kiosk
                sandbox.pay(order["out_trade_no"], deliver=False)
                headers, body = sandbox.notification(order["out_trade_no"])
                req = urllib.request.Request(f"{centre_url}/api/v1/payments/notify/sandbox", data=body,
                                             headers={**headers, "Content-Type": "application/json"}, method="POST")
                t0 = time.perf_counter()
                answer = json.loads(urllib.request.urlopen(req, timeout=10).read())
                t_centre = time.perf_counter()
                poller.join(30)
                assert answer["code"] == "SUCCESS" and "paid" in seen, (answer, seen)
                to_centre.append((t_centre - t0) * 1000)
                to_kiosk.append((seen["paid"] - t0) * 1000)
        finally:
            kbus.close()
            agent.close()
            centre_app.extensions["payments"].close()
            store.close()
            broker.stop()
    n = len(to_kiosk)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, n = {n}")
    print(f"notification → centre answered SUCCESS (verified, recorded): p50 {pct(to_centre, 50):.1f} ms, "
          f"p99 {pct(to_centre, 99):.1f} ms")
    print(f"notification → kiosk long poll answers 'paid': p50 {pct(to_kiosk, 50):.1f} ms, p99 {pct(to_kiosk, 99):.1f} ms, "
          f"max {max(to_kiosk):.1f} ms (goal: within 1000 ms of the centre)")
    print(f"ratio at p50: {pct(to_kiosk, 50) / pct(to_centre, 50):.2f}")


if __name__ == "__main__":
    main()
