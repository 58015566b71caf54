"""The centre under many halls: 500 simulated halls syncing to the central server on
PostgreSQL, served by several gunicorn workers, for a few minutes.

Each hall has its own edge credential and runs the sync worker's loop (push the oldest
unsent records, pull the ``configs`` and ``content`` feeds, wait a second unless a record
comes): a busy hall's mix of tickets, service ratings, complaints and their steps and
ratings, help requests, alarms and device events (first-aid inspections, environment
summaries), with a share of answers "lost" so the hall sends the same batch again. The halls
run on a few client processes of a few threads (see ``tests/helpers/hall_sim.py``), on the
same machine as the centre and PostgreSQL.

Figures: records applied per second, batch (POST) latency p50/p99 at the hall, every
answer that was not 200, the workers' RSS (start, peak, end), PostgreSQL client
connections, CPU seconds of centre, database and clients, and the checks of
``tests/helpers/centre_load.py`` (nothing lost, nothing doubled). Run:

    .venv/bin/python bench/centre_halls.py [--halls 500] [--duration 120] [--rate 0.2] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from harness import machine

from tests.helpers.centre_load import Sampler, check, memory, percentile, run_load, running_centre


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--halls", type=int, default=500)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (the outboxes drain after it)")
    parser.add_argument("--rate", type=float, default=0.2, help="records per second per hall (a busy hall at peak)")
    parser.add_argument("--lost-share", type=float, default=0.05, help="share of pushes whose answer is lost")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--processes", type=int, default=2, help="client processes for the halls")
    parser.add_argument("--threads", type=int, default=32, help="threads per client process")
    parser.add_argument("--no-pull", action="store_true", help="push only: no configs/content polling")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with running_centre(Path(tmp), halls=args.halls, workers=args.workers) as centre:
            with Sampler(centre):
                result = run_load(centre, duration=args.duration, rate=args.rate, lost_share=args.lost_share,
                                  processes=args.processes, threads=args.threads, pull=not args.no_pull)
            problems = check(centre, result)
    mem = memory(centre, result)
    lat = result.latencies()
    errors = result.errors()
    applied = result.applied_in_window()
    cpu = result.cpu
    conns = max(c for _, _, c in centre.samples)
    print(f"machine: {machine()}, PostgreSQL (fsync on); centre, database and halls on this one machine")
    print(f"halls: {args.halls} for {args.duration:.0f} s at {args.rate} records/s each, {args.lost_share:.0%} of answers lost; "
          f"gunicorn -w {args.workers} (sync workers); clients: {args.processes} processes x {args.threads} threads")
    print(f"records made: {sum(len(r.created) for r in result.reports)}, applied in the timed run: {applied} "
          f"({applied / result.duration:.0f} records/s), all applied after the drain: {result.total('applied')}")
    print(f"batches: {result.total('batches')} ({result.total('batches') / result.duration:.0f}/s), feed pulls: "
          f"{result.total('pulls')} ({result.total('pulls') / result.duration:.0f}/s)")
    print(f"answers lost on purpose: {result.total('lost_answers')}, records sent again: {result.total('duplicates_sent')}, "
          f"answered as duplicates: {result.total('duplicates_acked')}")
    print(f"batch latency at the hall: p50 {percentile(lat, 0.5) * 1000:.1f} ms, p99 {percentile(lat, 0.99) * 1000:.1f} ms, "
          f"max {max(lat) * 1000:.1f} ms (n = {len(lat)}); hall turns started late: p99 {percentile(result.lag, 0.99) * 1000:.0f} ms")
    print(f"errors (answers other than 200, connection failures): {len(errors)}" + (f", e.g. {errors[:3]}" if errors else ""))
    print(f"worker RSS: {mem['start_per_worker']:.1f} MB each at start, {mem['end_per_worker']:.1f} MB at the end, "
          f"peak {mem['peak_worker']:.1f} MB; all {args.workers} workers: peak {mem['peak_total']:.1f} MB, first third "
          f"{mem['first_third_total']:.1f} MB, last third {mem['last_third_total']:.1f} MB")
    print(f"PostgreSQL client connections: peak {conns}")
    print(f"CPU over {cpu['wall']:.1f} s: centre {cpu['centre']:.1f} s, PostgreSQL {cpu['postgresql']:.1f} s, "
          f"halls {cpu['clients']:.1f} s (of {cpu['wall'] * (os.cpu_count() or 1):.0f} core-seconds); centre "
          f"{cpu['centre'] / (result.total('batches') + result.total('pulls')) * 1000:.2f} ms per request")
    print("checks: " + ", ".join(f"{k} {len(v)}" for k, v in problems.items()))
    if any(problems.values()):
        print({k: v[:5] for k, v in problems.items() if v})
        sys.exit(1)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
