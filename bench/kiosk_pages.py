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
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hall_cli.broker import Broker, free_port, render_config, write_password_file

PAGES = ["/", "/info", "/help", "/track", "/service/queue", "/service/bills"]



def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


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
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pw = {"kiosk-01": secrets.token_urlsafe(12), "edge": secrets.token_urlsafe(12)}
        write_password_file(d / "passwd", pw)
        mqtt_port, http_port = free_port(), free_port()
        broker = Broker(render_config(d, port=mqtt_port), host="127.0.0.1", port=mqtt_port)
        broker.start()
        (d / "kiosk.pw").write_text(pw["kiosk-01"])
        (d / "kiosk.toml").write_text(
            f'hall_id = "bench"\nhall_name = "幸福里物业客户服务中心"\nnode_id = "kiosk-01"\ndata_dir = "k"\nlog_level = "WARNING"\n'
            f'[broker]\nport = {mqtt_port}\npassword_file = "kiosk.pw"\n[http]\nport = {http_port}\n'
            f'[settings.info]\nservice_phone = "028-8765 4321"\ncomplaint_phone = "028-8765 4300"\n'
            '[[settings.info.conveniences]]\nname_zh = "饮用水"\nname_en = "Drinking water"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        kiosk = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(d / "kiosk.toml")],
                                 env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", http_port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            for p in PAGES:  # warm up templates and catalogs
                client(http_port, len(PAGES), {x: [] for x in PAGES}, threading.Lock())
            times: dict[str, list[float]] = {p: [] for p in PAGES}
            lock = threading.Lock()
            threads = [threading.Thread(target=client, args=(http_port, args.requests, times, lock)) for _ in range(4)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            weights = {p: weight(http_port, p) for p in PAGES}
        finally:
            kiosk.terminate()
            kiosk.wait(10)
            broker.stop()
    everything = [v for vs in times.values() for v in vs]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}")
    print(f"4 clients x {args.requests} requests in {elapsed:.2f} s ({len(everything) / elapsed:.0f} pages/s)")
    print(f"{'page':<16}{'p50 ms':>9}{'p99 ms':>9}{'weight KB':>11}")
    for p in PAGES:
        print(f"{p:<16}{pct(times[p], 50):>9.2f}{pct(times[p], 99):>9.2f}{weights[p] / 1024:>11.1f}")
    print(f"{'all pages':<16}{pct(everything, 50):>9.2f}{pct(everything, 99):>9.2f}{max(weights.values()) / 1024:>11.1f} (heaviest)")


if __name__ == "__main__":
    main()
