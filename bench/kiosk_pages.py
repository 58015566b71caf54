"""Kiosk pages: response time per page under 4 concurrent clients, and page weight.

DESIGN.md asks for kiosk pages with a server p99 of at most 20 ms and at most 200 KB each.
The kiosk runs as its own process (``python -m kiosk``, waitress, connected to a real
mosquitto started here); four client threads request every screen over keep-alive
connections on loopback. Times are measured at the client, so they include loopback and
the client's own parsing: an upper bound on server time. Weight is the page plus the CSS,
script and logo it loads (uncompressed; the elder-mode voice clip is fetched separately,
only in elder mode). Run:

    .venv/bin/python bench/kiosk_pages.py [--requests 400]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import threading
import time
from functools import partial

from harness import broker, machine, part_process, pct, run_together, scratch

from hall_cli.broker import free_port

PAGES = ["/", "/info", "/help", "/track", "/service/queue", "/service/bills"]


def client(port: int, n: int, out: dict[str, list[float]], lock: threading.Lock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    mine: dict[str, list[float]] = {p: [] for p in PAGES}
    for i in range(n):
        path = PAGES[i % len(PAGES)]
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        mine[path].append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, (path, r.status)
    conn.close()
    with lock:
        for p, v in mine.items():
            out[p].extend(v)


def weight(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    html = conn.getresponse().read()
    total = len(html)
    for asset in set(re.findall(rb'(?:href|src)="(/static/[^"]+)"', html)):
        conn.request("GET", asset.decode())
        total += len(conn.getresponse().read())
    conn.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="requests per client")
    args = parser.parse_args()
    with scratch() as d, broker(d, ("kiosk-01", "edge")) as running:
        http_port = free_port()
        (d / "kiosk.toml").write_text(
            f'hall_id = "bench"\nhall_name = "幸福里物业客户服务中心"\nnode_id = "kiosk-01"\ndata_dir = "k"\nlog_level = "WARNING"\n'
            f'[broker]\nport = {running.port}\npassword_file = "kiosk-01.pw"\n[http]\nport = {http_port}\n'
            f'[settings.info]\nservice_phone = "028-8765 4321"\ncomplaint_phone = "028-8765 4300"\n'
            '[[settings.info.conveniences]]\nname_zh = "饮用水"\nname_en = "Drinking water"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with part_process(["-m", "kiosk", "--config", str(d / "kiosk.toml")], http_port, timeout=20, env=env):
            for p in PAGES:  # warm up templates and catalogs
                client(http_port, len(PAGES), {x: [] for x in PAGES}, threading.Lock())
            times: dict[str, list[float]] = {p: [] for p in PAGES}
            lock = threading.Lock()
            elapsed = run_together(partial(client, http_port, args.requests, times, lock) for _ in range(4))
            weights = {p: weight(http_port, p) for p in PAGES}
    everything = [v for vs in times.values() for v in vs]
    print(f"machine: {machine()}")
    print(f"4 clients x {args.requests} requests in {elapsed:.2f} s ({len(everything) / elapsed:.0f} pages/s)")
    print(f"{'page':<16}{'p50 ms':>9}{'p99 ms':>9}{'weight KB':>11}")
    for p in PAGES:
        print(f"{p:<16}{pct(times[p], 50):>9.2f}{pct(times[p], 99):>9.2f}{weights[p] / 1024:>11.1f}")
    print(f"{'all pages':<16}{pct(everything, 50):>9.2f}{pct(everything, 99):>9.2f}{max(weights.values()) / 1024:>11.1f} (heaviest)")


if __name__ == "__main__":
    main()
