"""Simulated halls that sync to a central server the way an edge agent's ``SyncWorker`` does,
many of them on a few threads, for the centre's load benchmark and test.

Each :class:`SimHall` keeps its outbox in memory (500 SQLite files with fsync would measure the
halls' disks, not the centre) and runs the loop of :class:`central_sync.client.SyncWorker`:
push the oldest unsent records (at most ``batch_size``), then pull the ``configs`` and
``content`` feeds by cursor, then wait ``idle_wait`` unless a new record nudges it. A failed
push backs off with the client's own full-jitter schedule.

A share of pushes "lose" their answer: the centre applied the batch, but the hall acts as if
the connection dropped, backs off and sends the same records again. Those records must come
back as ``duplicates`` and nothing at the centre may change.

Records follow what the edge agent writes (``edge_agent/``): tickets from the kiosks, service
ratings, complaints with their events and ratings, help requests, alarms raised and
acknowledged, device events (first-aid inspections, and the environment's hourly summary as a
``device_event``), one ``queue_daily`` per hall and a ``node_birth`` per kiosk. They arrive as a
Poisson process of ``rate`` records per second per hall.

Many halls share a few threads through :class:`Scheduler`: a hall is due at a time, a free
thread runs its next loop step, and the hall is put back with its next due time. One HTTP
connection pool per process keeps connections alive where the server allows it.
"""

from __future__ import annotations

import heapq
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import urllib3

from central_sync.client import FEEDS, SyncWorker
from central_sync.protocol import Ack, Batch, Record
from edge_agent.complaints import tracking

TZ = ZoneInfo("Asia/Shanghai")

KIND_WEIGHTS: dict[str, float] = {
    "ticket": 50, "service_rating": 10, "complaint": 4, "complaint_event": 8, "rating": 2,
    "help_request": 4, "alarm": 10, "device_event": 12,
}
"""The mix of a busy hall's records (``queue_daily`` and ``node_birth`` come once at start)."""

SERVICES = ("consult", "repair", "payment", "decoration", "parking")
COMPLAINT_ACTIONS = (("accept", "accepted"), ("respond", "accepted"), ("resolve", "resolved"), ("follow_up", "resolved"))
ALARMS = (("printer.printer-1.paper", "printer_paper", "warning", "打印机缺纸 · Printer paper out"),
          ("env.hall-env.co2", "co2_high", "warning", "大厅二氧化碳偏高 · CO2 high"),
          ("aed.aed-1.door", "aed_door_open", "critical", "AED 柜门打开 · AED cabinet opened"))


@dataclass
class HallReport:
    """What one hall saw, for the checks: every id the centre acknowledged, every id the
    hall retried after a lost answer, and the centre's ``received_at`` of its last ack."""

    hall_id: str
    created: list[str] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    applied: int = 0
    duplicates_sent: int = 0
    duplicates_acked: int = 0
    wrong_duplicates: list[str] = field(default_factory=list)
    last_received_at: float | None = None
    batches: int = 0
    pulls: int = 0
    lost_answers: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[tuple[float, float, int]] = field(default_factory=list)
    """(wall-clock time the answer came, seconds the push took, records it applied) per push."""
    applied_at: dict[str, float] = field(default_factory=dict)
    """The centre's ``received_at`` of the answer that applied each record."""
    kinds: dict[str, int] = field(default_factory=dict)


class SimHall:
    """One hall's edge agent, as far as the centre can tell."""

    def __init__(self, hall_id: str, token: str, *, rate: float, lost_share: float, seed: int,
                 batch_size: int = 200, idle_wait: float = 1.0, pull: bool = True) -> None:
        self.hall_id, self.token = hall_id, token
        self.rate, self.lost_share, self.batch_size = rate, lost_share, batch_size
        self.idle_wait, self.pull = idle_wait, pull
        self.rng = random.Random(seed)
        # The client's own backoff (full jitter), with this hall's random numbers; the worker
        # is never started, so it needs no database.
        self._backoff = SyncWorker(db_path=Path(), url="http://centre", token="", hall_id=hall_id,
                                   batch_size=batch_size, idle_wait=idle_wait, rng=self.rng.random)
        self.outbox: list[Record] = []
        self.retrying: set[str] = set()
        self.cursors = {name: 0 for name in FEEDS}
        self.report = HallReport(hall_id)
        self.next_arrival = time.monotonic() + self._gap()
        self.complaints: list[tuple[str, str]] = []
        self.ticket_no = 0
        self.hall_code = f"{seed % 1000:03d}"
        now = time.time()
        day = datetime.fromtimestamp(now - 86400, TZ).date().isoformat()
        self._add("queue_daily", "edge", {"day": day, "issued": 312, "served": 297, "cancelled": 15, "avg_wait_s": 410.0},
                  str(uuid.uuid5(uuid.NAMESPACE_URL, f"hall/{hall_id}/queue_daily/{day}")))
        for kiosk in ("kiosk-01", "kiosk-02"):
            self._add("node_birth", "edge", {"node": kiosk, "kind": "kiosk", "sw": "0.1.0", "config_version": 3})

    # -- records --------------------------------------------------------------------------------

    def _gap(self) -> float:
        return self.rng.expovariate(self.rate) if self.rate > 0 else float("inf")

    def _add(self, kind: str, node: str, body: dict[str, Any], record_id: str | None = None) -> None:
        rid = record_id or str(uuid.uuid4())
        self.outbox.append(Record(id=rid, kind=kind, node=node, ts=time.time(), body=body))
        self.report.created.append(rid)
        self.report.kinds[kind] = self.report.kinds.get(kind, 0) + 1

    def happen(self, now: float) -> None:
        """Write the records whose moment has come (a resident tapped, a sensor reported)."""
        while self.next_arrival <= now:
            self.next_arrival += self._gap()
            kind = self.rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
            if kind in ("complaint_event", "rating") and not self.complaints:
                kind = "complaint"
            self._add(*self._record(kind, time.time()))

    def _record(self, kind: str, ts: float) -> tuple[str, str, dict[str, Any]]:
        kiosk = self.rng.choice(("kiosk-01", "kiosk-02"))
        day = datetime.fromtimestamp(ts, TZ).date().isoformat()
        if kind == "ticket":
            self.ticket_no += 1
            return kind, kiosk, {"id": str(uuid.uuid4()), "day": day, "service": self.rng.choice(SERVICES),
                                 "number": self.ticket_no, "code": f"A{self.ticket_no % 1000:03d}",
                                 "priority": int(self.rng.random() < 0.1), "kiosk": kiosk, "issued_at": ts}
        if kind == "service_rating":
            return kind, kiosk, {"id": str(uuid.uuid4()), "ticket": str(uuid.uuid4()), "day": day, "code": "A001",
                                 "service": "consult", "counter": "c1", "staff": "王*", "rating": "satisfied",
                                 "comment": "", "kiosk": kiosk, "rated_at": ts}
        if kind == "complaint":
            cid = str(uuid.uuid4())
            no = tracking.make(self.hall_code, day, len(self.complaints) % 999 + 1)
            self.complaints.append((cid, no))
            return kind, kiosk, {"id": cid, "tracking_no": no, "kind": "repair", "category": "water",
                                 "place": "3 栋 2 单元", "content": "楼道灯不亮，晚上看不见", "wanted": "尽快维修",
                                 "name": "张三", "room": "3-2-1201", "phone": "13812345678", "channel": kiosk,
                                 "received_at": ts, "grade": "general", "emergency": "", "repeat": 0,
                                 "feedback_due": ts + 3600, "status": "submitted", "rooms": []}
        if kind == "complaint_event":
            cid, no = self.rng.choice(self.complaints)
            action, status = self.rng.choice(COMPLAINT_ACTIONS)
            return kind, "edge", {"complaint": cid, "tracking_no": no, "action": action, "status": status,
                                  "who": "李*", "note": "已联系业主", "ts": ts}
        if kind == "rating":
            cid, no = self.rng.choice(self.complaints)
            return kind, kiosk, {"complaint": cid, "tracking_no": no, "rating": "satisfied", "comment": "",
                                 "reopened": False, "ts": ts}
        if kind == "help_request":
            return kind, kiosk, {"id": str(uuid.uuid4()), "node": kiosk, "ts": ts}
        if kind == "alarm":
            aid, typ, severity, text = self.rng.choice(ALARMS)
            event, state = self.rng.choice((("raised", "ACTIVE_UNACK"), ("acknowledged", "ACTIVE_ACK"),
                                            ("cleared", "CLEARED_ACK")))
            return kind, "edge", {"id": aid, "source": aid.rsplit(".", 1)[0], "type": typ, "severity": severity,
                                  "text": text, "state": state, "raised_at": ts - 60,
                                  "acked_by": "值班员" if state != "ACTIVE_UNACK" else None,
                                  "acked_at": ts if state != "ACTIVE_UNACK" else None,
                                  "cleared_at": ts if state == "CLEARED_ACK" else None, "event": event}
        if self.rng.random() < 0.5:
            return kind, "edge", {"device": "hall-env", "event": "environment.summary", "hour": day,
                                  "temperature": {"min": 22.1, "avg": 23.4, "max": 24.9},
                                  "humidity": {"min": 41.0, "avg": 45.2, "max": 50.3},
                                  "co2": {"min": 520, "avg": 780, "max": 1130}, "noise": {"avg": 48.2, "max": 61.0}}
        return kind, "edge", {"device": "first-aid-1", "event": "first_aid.inspection",
                              "inspection": {"id": str(uuid.uuid4()), "box": "first-aid-1", "at": ts, "who": "赵*",
                                             "found": "", "done": "", "items": 12, "expiring": 1, "expired": 0}}

    # -- the sync loop ------------------------------------------------------------------------------

    def step(self, http: urllib3.PoolManager, url: str) -> float:
        """One turn of ``SyncWorker._run``; returns the monotonic time of the next turn."""
        self.happen(time.monotonic())
        try:
            sent = self._push(http, url)
            if self.pull:
                for feed in FEEDS:
                    self._pull(http, url, feed)
        except _Failed as exc:
            self._backoff.failures += 1
            if not exc.lost:
                self.report.errors.append(str(exc))
            return time.monotonic() + self._backoff.backoff()
        self._backoff.failures = 0
        if sent:
            return time.monotonic()
        # Asleep until the idle wait ends or a new record nudges the worker.
        return min(time.monotonic() + self.idle_wait, self.next_arrival)

    def _push(self, http: urllib3.PoolManager, url: str) -> int:
        records = self.outbox[:self.batch_size]
        if not records:
            return 0
        body = Batch(hall_id=self.hall_id, sent_at=time.time(), records=records).model_dump_json().encode()
        retried = [str(r.id) for r in records if str(r.id) in self.retrying]
        self.report.duplicates_sent += len(retried)
        t0 = time.perf_counter()
        response = _request(http, "POST", f"{url}/api/v1/sync/batches", self.token, body)
        took = time.perf_counter() - t0
        if response.status != 200:
            raise _Failed(f"{self.hall_id}: POST batches answered {response.status}: {response.data[:200]!r}")
        ack = Ack.model_validate_json(response.data)
        self.report.batches += 1
        duplicates = {str(i) for i in ack.duplicates}
        self.report.wrong_duplicates += [i for i in retried if i not in duplicates]
        self.report.duplicates_acked += len(duplicates)
        self.report.applied += len(ack.applied)
        self.report.applied_at.update((str(i), ack.received_at) for i in ack.applied)
        self.report.latencies.append((time.time(), took, len(ack.applied)))
        if self.rng.random() < self.lost_share:
            # Applied at the centre, but the answer never reached the hall: all of it again.
            self.retrying.update(str(r.id) for r in records)
            self.report.lost_answers += 1
            raise _Failed("answer lost", lost=True)
        done = {str(i) for i in ack.applied} | duplicates
        self.report.acked |= done
        self.retrying -= done
        self.outbox = [r for r in self.outbox if str(r.id) not in done]
        self.report.last_received_at = ack.received_at
        return len(done)

    def _pull(self, http: urllib3.PoolManager, url: str, feed: str) -> None:
        path, page_model = FEEDS[feed]
        response = _request(http, "GET", f"{url}{path}?after={self.cursors[feed]}", self.token)
        if response.status != 200:
            raise _Failed(f"{self.hall_id}: GET {feed} answered {response.status}: {response.data[:200]!r}")
        self.cursors[feed] = page_model.model_validate_json(response.data).cursor
        self.report.pulls += 1


class _Failed(Exception):
    def __init__(self, message: str, *, lost: bool = False) -> None:
        super().__init__(message)
        self.lost = lost


def _request(http: urllib3.PoolManager, method: str, url: str, token: str, body: bytes | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        return http.request(method, url, body=body, headers=headers, timeout=urllib3.Timeout(connect=10, read=30),
                            retries=False)
    except urllib3.exceptions.HTTPError as exc:
        raise _Failed(f"{method} {url.split('/api/', 1)[-1]}: {exc}") from None


class Scheduler:
    """Runs many halls' loops on ``threads`` threads until ``deadline`` (monotonic), then
    keeps pushing until every hall's outbox is empty (or ``drain`` seconds passed)."""

    def __init__(self, halls: list[SimHall], url: str, *, threads: int) -> None:
        self.halls, self.url, self.threads = halls, url.rstrip("/"), threads
        self.http = urllib3.PoolManager(maxsize=threads, block=True)
        self._heap = [(time.monotonic() + i * 1.0 / max(1, len(halls)), i) for i in range(len(halls))]
        heapq.heapify(self._heap)
        self._cond = threading.Condition()
        self.lag: list[float] = []
        """Seconds each turn started after it was due: whether these threads kept up."""

    def run(self, deadline: float, drain: float = 60.0) -> None:
        workers = [threading.Thread(target=self._work, args=(deadline, deadline + drain), daemon=True)
                   for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        self.http.clear()

    def _work(self, deadline: float, give_up: float) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    if not self._heap or now >= give_up:
                        return
                    due, i = self._heap[0]
                    if due <= now:
                        heapq.heappop(self._heap)
                        break
                    self._cond.wait(due - now)
            self.lag.append(now - due)
            hall = self.halls[i]
            if now >= deadline:
                hall.rate, hall.pull = 0.0, False  # the run is over: only what is left goes out
                hall.next_arrival = float("inf")
            nxt = hall.step(self.http, self.url)
            if now >= deadline and not hall.outbox:
                continue  # this hall is done
            with self._cond:
                heapq.heappush(self._heap, (nxt, i))
                self._cond.notify()


def run_share(url: str, halls: list[tuple[str, str]], *, duration: float, rate: float, lost_share: float,
              threads: int, seed: int, pull: bool = True, idle_wait: float = 1.0) -> tuple[list[HallReport], list[float]]:
    """Run these halls for ``duration`` seconds on ``threads`` threads; for one client process.
    Returns each hall's report and the scheduling lags."""
    sims = [SimHall(h, token, rate=rate, lost_share=lost_share, seed=seed + n, pull=pull, idle_wait=idle_wait)
            for n, (h, token) in enumerate(halls)]
    scheduler = Scheduler(sims, url, threads=threads)
    scheduler.run(time.monotonic() + duration)
    return [s.report for s in sims], scheduler.lag


def dumps_report(report: HallReport) -> str:
    """A report as JSON (sets as lists), to hand from a client process to the parent."""
    d = dict(report.__dict__)
    d["acked"] = sorted(report.acked)
    return json.dumps(d)
