"""The central server under many halls: PostgreSQL, the centre under gunicorn with several
workers (as ``central_sync/server/wsgi.py`` describes production), halls provisioned each
with its own edge credential, simulated halls (:mod:`tests.helpers.hall_sim`) in a few client
processes, and the checks that nothing was lost or doubled.

Used by ``bench/centre_halls.py`` (figures) and ``tests/test_centre_load.py`` (assertions)::

    with running_centre(tmp, halls=500, workers=4) as centre:
        result = run_load(centre, duration=120, rate=0.2)
        problems = check(centre, result)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

from central_sync.server import credentials
from central_sync.server.schema import MIGRATIONS
from central_sync.store import Store, migrate
from hall_cli.broker import free_port

from ..pg import PgServer, start_postgres
from .hall_sim import HallReport, dumps_report, run_share


@dataclass
class Centre:
    """A running centre: its URL, its database and the gunicorn master's process."""

    url: str
    db_url: str
    pg: PgServer
    master: subprocess.Popen
    tokens: dict[str, str]
    workers: int
    samples: list[tuple[float, dict[int, int], int]] = field(default_factory=list)
    """(time, RSS in bytes of each worker by pid, the database's client connections)."""

    def worker_pids(self) -> list[int]:
        with open(f"/proc/{self.master.pid}/task/{self.master.pid}/children") as f:
            return [int(p) for p in f.read().split()]


def _rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None  # the worker has just gone
    return None


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants, live or reaped (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return 0.0  # gone: its time went to its parent's reaped-children figures
    own = sum(int(x) for x in fields[11:15]) / tick  # utime, stime, cutime, cstime
    return own + sum(cpu_seconds(c) for c in children)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1):
            return True
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout} s")
        time.sleep(0.1)


def provision(store: Store, halls: int) -> dict[str, str]:
    """Register ``halls`` halls and issue each edge its own token (``hall provision``'s calls)."""
    tokens = {}
    for n in range(halls):
        hall_id = f"hall-{n:03d}"
        credentials.register_hall(store, hall_id, f"服务中心 {n:03d}")
        tokens[hall_id] = credentials.issue(store, hall_id, "edge")
    return tokens


@contextlib.contextmanager
def running_centre(tmp: Path, *, halls: int, workers: int, pg: PgServer | None = None) -> Iterator[Centre]:
    """The centre under ``gunicorn -w workers`` on a fresh database of ``pg`` (or of a
    PostgreSQL started here), with ``halls`` halls provisioned; stopped at the end. The
    centre's stderr goes to ``tmp/gunicorn.log``."""
    own_pg = pg is None
    pg = start_postgres(free_port()) if pg is None else pg
    master = None
    log = (tmp / "gunicorn.log").open("wb")
    try:
        db_url = pg.create_database(f"centre_{uuid.uuid4().hex[:10]}")
        store = Store.connect(db_url)
        try:
            migrate(store, MIGRATIONS)
            tokens = provision(store, halls)
        finally:
            store.close()
        port = free_port()
        conf = tmp / "central.toml"
        conf.write_text(f'data_dir = "centre"\nlog_level = "WARNING"\ndatabase_url = "{db_url}"\ndemo = true\n[http]\nport = {port}\n')
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5",
             f'central_sync.server.wsgi:build("{conf}")'],
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True, cwd=tmp,
        )
        centre = Centre(f"http://127.0.0.1:{port}", db_url, pg, master, tokens, workers)
        _wait(lambda: _healthy(centre.url), 60, "the centre's /healthz")
        _wait(lambda: len(centre.worker_pids()) == workers, 60, f"{workers} gunicorn workers")
        for _ in range(workers * 4):  # let every worker build its app (and pool) before the clock starts
            _healthy(centre.url)
        yield centre
    finally:
        if master is not None:
            os.killpg(master.pid, signal.SIGTERM)
            master.wait(30)
        log.close()
        if own_pg:
            pg.stop()


class Sampler:
    """Every ``every`` seconds: each worker's RSS and the database's client connections."""

    def __init__(self, centre: Centre, every: float = 0.5) -> None:
        self.centre, self.every = centre, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        store = Store.connect(self.centre.db_url)
        try:
            while not self._stop.is_set():
                rss = {pid: r for pid in self.centre.worker_pids() if (r := _rss(pid)) is not None}
                conns = store.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
                self.centre.samples.append((time.time(), rss, conns))
                self._stop.wait(self.every)
        finally:
            store.close()


@dataclass
class LoadResult:
    """What the halls saw, put together."""

    reports: list[HallReport]
    started: float
    ended: float
    lag: list[float]
    cpu: dict[str, float]
    """CPU seconds over the whole run (with the drain): ``centre`` (gunicorn), ``postgresql``,
    ``clients`` (the simulated halls), and ``wall`` seconds it took."""

    @property
    def duration(self) -> float:
        return self.ended - self.started

    def total(self, name: str) -> int:
        return sum(getattr(r, name) for r in self.reports)

    def errors(self) -> list[str]:
        return [e for r in self.reports for e in r.errors]

    def latencies(self) -> list[float]:
        return [took for r in self.reports for _, took, _ in r.latencies]

    def applied_in_window(self) -> int:
        """Records applied by answers that came within the timed run (not the drain after it)."""
        return sum(n for r in self.reports for t, _, n in r.latencies if t <= self.ended)


def _share(args: tuple) -> tuple[list[str], list[float], float, float]:
    url, halls, kwargs = args
    started = time.time()
    reports, lag = run_share(url, halls, **kwargs)
    return [dumps_report(r) for r in reports], lag, time.process_time(), started


def run_load(centre: Centre, *, duration: float, rate: float, lost_share: float = 0.05, processes: int = 2,
             threads: int = 32, seed: int = 1, pull: bool = True) -> LoadResult:
    """Every provisioned hall syncs for ``duration`` seconds (then drains its outbox), split
    over ``processes`` client processes of ``threads`` threads each."""
    halls = sorted(centre.tokens.items())
    shares = [halls[i::processes] for i in range(processes)]
    kwargs = [dict(duration=duration, rate=rate, lost_share=lost_share, threads=threads, seed=seed + 10_000 * i, pull=pull)
              for i in range(processes)]
    # spawn, not fork: this process has threads (the sampler) and database connections.
    postmaster = int((centre.pg.datadir / "postmaster.pid").read_text().split()[0])
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        cpu0 = {"centre": cpu_seconds(centre.master.pid), "postgresql": cpu_seconds(postmaster)}
        t0 = time.time()
        outcomes = list(pool.map(_share, [(centre.url, s, k) for s, k in zip(shares, kwargs)]))
        cpu = {"centre": cpu_seconds(centre.master.pid) - cpu0["centre"],
               "postgresql": cpu_seconds(postmaster) - cpu0["postgresql"],
               "clients": sum(c for _, _, c, _ in outcomes), "wall": time.time() - t0}
    reports = [_load_report(r) for rs, _, _, _ in outcomes for r in rs]
    started = max(s for _, _, _, s in outcomes)  # the last client process to come up
    return LoadResult(reports, started, started + duration, [x for _, lag, _, _ in outcomes for x in lag], cpu)


def _load_report(text: str) -> HallReport:
    d = json.loads(text)
    d["acked"] = set(d["acked"])
    d["latencies"] = [tuple(x) for x in d["latencies"]]
    return HallReport(**d)


def check(centre: Centre, result: LoadResult) -> dict[str, list]:
    """Every way the run could have gone wrong, each with its examples (all empty: all well).

    ``lost``: a record the centre acknowledged that is not in PostgreSQL, or one a hall made
    that was never acknowledged; ``doubled``: an id stored more than once; ``foreign``: a
    record stored under another hall; ``unexpected``: a stored record no hall made;
    ``changed``: a record whose ``received_at`` is not that of the answer that applied it
    (a duplicate rewrote it); ``wrong_duplicates``: a retried record not answered as a
    duplicate; ``last_sync``: a hall whose last sync is not the time of its last answer;
    ``projections``: complaint or node tables that do not match the records; ``restarted``:
    a gunicorn worker that died or was killed (for a timeout) during the run."""
    store = Store.connect(centre.db_url)
    try:
        rows = store.query("SELECT id::text AS id, hall_id, received_at FROM records")
        counts = store.query("SELECT count(*) AS n, count(DISTINCT id) AS d FROM records")[0]
        last_sync = {r["hall_id"]: r["last_sync"] for r in store.query("SELECT hall_id, last_sync FROM halls")}
        tables = {t: store.scalar(f"SELECT count(*) FROM {t}") for t in ("complaints", "complaint_events", "hall_nodes")}
    finally:
        store.close()
    stored = {r["id"]: r for r in rows}
    made = {i: rep.hall_id for rep in result.reports for i in rep.created}
    problems: dict[str, list] = {k: [] for k in ("lost", "doubled", "foreign", "unexpected", "changed",
                                                 "wrong_duplicates", "last_sync", "projections", "restarted")}
    if counts["n"] != counts["d"]:
        problems["doubled"].append(f"{counts['n']} rows for {counts['d']} ids")
    for rep in result.reports:
        for i in rep.created:
            row = stored.get(i)
            if row is None or i not in rep.acked:
                problems["lost"].append(i)
            elif row["hall_id"] != rep.hall_id:
                problems["foreign"].append(i)
            elif row["received_at"] != rep.applied_at.get(i):
                problems["changed"].append(i)
        problems["wrong_duplicates"] += rep.wrong_duplicates
        if last_sync.get(rep.hall_id) != rep.last_received_at:
            problems["last_sync"].append(rep.hall_id)
    problems["unexpected"] = [i for i in stored if i not in made]
    kinds = _kinds(result)
    want = {"complaints": kinds["complaint"], "complaint_events": kinds["complaint_event"] + kinds["rating"],
            "hall_nodes": 2 * len(result.reports)}
    pids = {pid for _, rss, _ in centre.samples for pid in rss}
    if len(pids) > centre.workers:
        problems["restarted"].append(f"{len(pids)} worker processes seen for {centre.workers} workers")
    problems["projections"] = [f"{t}: {tables[t]} rows, {n} expected" for t, n in want.items() if tables[t] != n]
    return problems


def _kinds(result: LoadResult) -> dict[str, int]:
    total: dict[str, int] = {}
    for rep in result.reports:
        for k, n in rep.kinds.items():
            total[k] = total.get(k, 0) + n
    return {k: total.get(k, 0) for k in ("complaint", "complaint_event", "rating", "node_birth", *total)}


def memory(centre: Centre, result: LoadResult) -> dict[str, float]:
    """Workers' RSS in MB: each worker's mean at the first and the last sample, the largest
    worker, and the largest sum over all workers (in the whole run, in its first third, in
    its last third)."""
    timed = [(t, rss) for t, rss, _ in centre.samples if result.started <= t <= result.ended and rss]
    third = result.duration / 3

    def peak_sum(lo: float, hi: float) -> float:
        # Per sample the sum over workers: what the centre's workers hold together.
        return max((sum(rss.values()) for t, rss in timed if lo <= t <= hi), default=0) / 2**20

    first = [s for s in centre.samples if s[1]]
    return {
        "start_per_worker": statistics.mean(first[0][1].values()) / 2**20,
        "end_per_worker": statistics.mean(first[-1][1].values()) / 2**20,
        "peak_worker": max(max(rss.values()) for _, rss, _ in first) / 2**20,
        "peak_total": max(sum(rss.values()) for _, rss, _ in first) / 2**20,
        "first_third_total": peak_sum(result.started, result.started + third),
        "last_third_total": peak_sum(result.ended - third, result.ended),
    }


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else float("nan")
