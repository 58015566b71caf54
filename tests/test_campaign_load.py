"""Reliability campaign, load: the visits and sensor readings of ten minutes at ten times
the busiest hour, played in five minutes (twenty times the busiest hour).

A real hall's busiest hour is about a hundred tickets; this plays 2,000 tickets an hour
(with complaints and payments in between, ``simulators/hall_day.py``) from five kiosks,
while fifty sensor nodes report every half second (``simulators/sensor_swarm.py``: the
hall's own node plus 49, each with its own broker credential), for five minutes. The
volume is that of ten minutes at ten times the busiest hour (about 170 tickets, 150,000
readings) at twice the rate. Asserted: no error in any log, nobody left unanswered,
everything acknowledged at the centre once, and memory flat: each process's resident
memory in the last minute against the minute after warm-up. The samples go to
``var/reliability/load.json`` (docs/reliability.md).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulators.hall_day import HallDay, HallEnv, check

from .conftest import wait_for
from .hallup import campaign_plan, rss_kb, start_hall

SEED = 20261201
MINUTES = 5
TICKETS_PER_HOUR = 2000
NODES = 50
READING_EVERY_S = 0.5
SAMPLE_EVERY_S = 5
FIGURES = Path(__file__).resolve().parent.parent / "var" / "reliability"
GROWTH_LIMIT_MB = 15.0
"""Allowed rise of a process's median memory from minute 1-2 to the last minute: a leak at
this load (150,000 readings, 170 tickets) would show far above it; allocator noise stays
below."""


def _count(env: HallEnv, sql: str) -> int:
    """One number from the edge's database, on a connection of the test's own."""
    import sqlite3

    con = sqlite3.connect(f"file:{env.edge_db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


@pytest.mark.slow
def test_ten_minutes_at_ten_times_the_busiest_hour_played_in_five(tmp_path):
    hall = start_hall(tmp_path / "data", plan=campaign_plan(tmp_path / "plan.toml", kiosks=5, env_nodes=1))
    swarm = None
    try:
        env = HallEnv.discover(hall.data_dir)
        swarm = subprocess.Popen([sys.executable, "-m", "simulators.sensor_swarm", "--data-dir", str(hall.data_dir),
                                  "--count", str(NODES - 1), "--interval", str(READING_EVERY_S)],
                                 stdout=subprocess.DEVNULL, stderr=open(tmp_path / "swarm.log", "wb"))
        wait_for(lambda: _count(env, "SELECT count(*) FROM nodes WHERE node LIKE 'swarm-%'") == NODES - 1,
                 timeout=60, interval=0.5)
        # Visits are tickets about 78 % of the time (the rest complaints and payments).
        day = HallDay(env, seed=SEED, visits_per_hour=TICKETS_PER_HOUR / 0.78, patience=30)
        samples: list[dict] = []
        t0 = time.monotonic()
        day.start()
        while (elapsed := time.monotonic() - t0) < MINUTES * 60:
            samples.append({"t": round(elapsed), **{n: rss_kb(p) for n, p in hall.pids().items()}})
            time.sleep(SAMPLE_EVERY_S)
        ledger = day.stop(timeout=120)
        assert swarm.poll() is None, (tmp_path / "swarm.log").read_text()
        report = check(env, ledger)
        errors = [line for p in (hall.data_dir / "logs").glob("*.log")
                  for line in p.read_text(encoding="utf-8", errors="replace").splitlines() if '"level": "ERROR"' in line]
        readings = _count(env, "SELECT count(*) FROM env_readings")
        names = [n for n in samples[0] if n != "t"]
        early = {n: statistics.median(s[n] for s in samples if 60 <= s["t"] < 120) / 1024 for n in names}
        late = {n: statistics.median(s[n] for s in samples if s["t"] >= (MINUTES - 1) * 60) / 1024 for n in names}
        peak = {n: max(s[n] for s in samples) / 1024 for n in names}
        figures = {"minutes": MINUTES, "tickets_per_hour": TICKETS_PER_HOUR, "kiosks": len(env.kiosks),
                   "sensor_nodes": NODES, "reading_every_s": READING_EVERY_S, "day": ledger.summary(),
                   "check": report.as_dict(), "errors_in_logs": len(errors), "readings_stored": readings,
                   "rss_mb": {n: {"early": round(early[n], 1), "late": round(late[n], 1), "peak": round(peak[n], 1)}
                              for n in names},
                   "hall_peak_total_mb": round(max(sum(v for k, v in s.items() if k != "t") for s in samples) / 1024, 1)}
        FIGURES.mkdir(parents=True, exist_ok=True)
        (FIGURES / "load.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
        day_figures = ledger.summary()
        assert day_figures["tickets"] >= TICKETS_PER_HOUR * MINUTES / 60 * 0.7, day_figures
        assert day_figures["unanswered"] == {} and day_figures["refused"] == {}, day_figures
        assert errors == [], errors[:5]
        assert report.lost == [] and report.doubled == [] and report.unmarked_reprints == []
        assert report.outbox_left == 0
        grown = {n: round(late[n] - early[n], 1) for n in names if late[n] - early[n] > GROWTH_LIMIT_MB}
        assert grown == {}, grown
    finally:
        if swarm is not None:
            swarm.terminate()
            swarm.wait(30)
        hall.stop()

