"""Draining a 100,000-record outbox: how long, and the node's peak memory while it does.

A hall that was cut off from the centre for a long time comes back with a deep outbox. The
sync worker reads one batch at a time, so its memory must not grow with the backlog. The
central server runs as its own process (SQLite, one worker) so the figure is the node's
alone; the baseline is the same process's peak RSS before draining. Run:

    .venv/bin/python bench/outbox_drain.py [--records 100000]
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import time
import uuid
from pathlib import Path

from harness import centre_process, machine, options, scratch

from central_sync import client as outbox
from central_sync.client import SyncWorker
from hall_common.storage import Migrations, immediate, open_database


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
    args = options(__doc__, records=100_000)
    with scratch() as d:
        migrations = Migrations("bench_node")
        outbox.add_outbox_tables(migrations)
        db = open_database(d / "node.db", migrations)
        now = time.time()
        with immediate(db):
            db.conn.executemany(
                "INSERT INTO outbox (id, kind, node, ts, body) VALUES (?, ?, ?, ?, ?)",
                ((str(uuid.uuid4()), "ticket", "kiosk-01", now, json.dumps({"number": f"A{i % 1000:03d}", "service": "consult"}))
                 for i in range(args.records)),
            )
        db.close()
        with centre_process(d, hall="h1", hall_name="bench") as centre_url:
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                elapsed, before, after = pool.apply(
                    drain, (str(d / "node.db"), centre_url, (d / "edge.token").read_text(), args.records))
    print(f"machine: {machine()}")
    print(f"drained {args.records} records in {elapsed:.1f} s ({args.records / elapsed:.0f} records/s, batches of 500, centre on SQLite)")
    print(f"draining process peak RSS: {after:.1f} MB (at the start of draining {before:.1f} MB, +{after - before:.1f} MB)")


if __name__ == "__main__":
    main()
