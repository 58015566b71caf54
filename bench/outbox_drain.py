"""Draining a 100,000-record outbox: how long, and the node's peak memory while it does.

A hall that was cut off from the centre for a long time comes back with a deep outbox. The
sync worker reads one batch at a time, so its memory must not grow with the backlog. The
central server runs as its own process (SQLite, one worker) so the figure is the node's
alone; the baseline is the same process's peak RSS before draining. Run:

    .venv/bin/python bench/outbox_drain.py [--records 100000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from central_sync import client as outbox  # noqa: E402
from central_sync.client import SyncWorker  # noqa: E402
from hall_cli.broker import free_port  # noqa: E402
from hall_cli.provision import provision  # noqa: E402
from hall_common.storage import Migrations, open_database  # noqa: E402



def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drain(db_path: str, url: str, token: str, records: int) -> tuple[float, float, float]:
    """In a fresh process: (seconds, peak RSS MB at start, peak RSS MB after draining)."""
    db = open_database(Path(db_path))
    worker = SyncWorker(db_path=Path(db_path), url=url, token=token, hall_id="h1", batch_size=500)
    before = peak_rss_mb()
    t0 = time.perf_counter()
    sent = 0
    while (n := worker.push_once(db)):
        sent += n
    elapsed = time.perf_counter() - t0
    assert outbox.status(db).depth == 0 and sent == records
    return elapsed, before, peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        migrations = Migrations("bench_node")
        outbox.add_outbox_tables(migrations)
        db = open_database(d / "node.db", migrations)
        now = time.time()
        with db.conn:
            db.conn.executemany(
                "INSERT INTO outbox (id, kind, node, ts, body) VALUES (?, ?, ?, ?, ?)",
                ((str(uuid.uuid4()), "ticket", "kiosk-01", now, json.dumps({"number": f"A{i % 1000:03d}", "service": "consult"}))
                 for i in range(args.records)),
            )
        db_url = f"sqlite:///{d}/central.db"
        provision(db_url, "h1", "bench", "edge", d / "edge.token")
        port = free_port()
        (d / "central.toml").write_text(f'data_dir = "c"\nlog_level = "WARNING"\ndatabase_url = "{db_url}"\n[http]\nport = {port}\n')
        centre = subprocess.Popen([sys.executable, "-m", "central_sync.server", "--config", str(d / "central.toml")],
                                  stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            db.close()
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                elapsed, before, after = pool.apply(
                    drain, (str(d / "node.db"), f"http://127.0.0.1:{port}", (d / "edge.token").read_text(), args.records))
        finally:
            centre.terminate()
            centre.wait(10)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}")
    print(f"drained {args.records} records in {elapsed:.1f} s ({args.records / elapsed:.0f} records/s, batches of 500, centre on SQLite)")
    print(f"draining process peak RSS: {after:.1f} MB (at the start of draining {before:.1f} MB, +{after - before:.1f} MB)")


if __name__ == "__main__":
    main()
