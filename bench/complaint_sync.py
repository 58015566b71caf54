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

import time
import uuid

from harness import broker, centre_process, machine, options, pct, scratch, start_edge


def submission(i: int) -> dict:
    return {"request": str(uuid.uuid4()), "kind": "repair", "category": "facilities", "place": "3 栋 2 单元",
            "content": f"单元门门禁坏了，刷卡没反应（{i}）", "name": "张三", "room": f"3-2-{i % 900 + 100}",
            "phone": "13812345678", "occurred_at": time.time() - 600}


def main() -> None:
    args = options(__doc__, n=200)
    with scratch() as d:
        with broker(d, ("edge", "kiosk-01")) as running, centre_process(d) as centre_url:
            kiosk = running.client("kiosk-01", kind="kiosk")
            agent = start_edge(d, running.port, centre={"url": centre_url, "token_file": d / "edge.token"},
                               complaints={"hall_code": "101"})
            try:
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
                agent.close()
    print(f"machine: {machine()}")
    print(f"submit -> durable (answered)        p50 {pct(durable, 50):.2f} ms  p99 {pct(durable, 99):.2f} ms  (n={args.n})")
    print(f"submit -> acknowledged by the centre p50 {pct(acked, 50):.2f} ms  p99 {pct(acked, 99):.2f} ms")
    print(f"baseline: ping round trip           p50 {pct(ping, 50):.2f} ms  p99 {pct(ping, 99):.2f} ms; "
          f"durable/ping at p50 {pct(durable, 50) / pct(ping, 50):.1f}")


if __name__ == "__main__":
    main()
