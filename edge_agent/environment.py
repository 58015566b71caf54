"""The hall's environment (seed 000 clause 4.6.3: light, air, temperature, noise): readings
kept and drawn, and an alarm when one stays out of its range.

Judgement, per node and reading, with the reading's :class:`~hall_common.config.Limit`:

* a reading outside ``[low, high]`` *continuously* for ``min_duration_s`` raises
  ``env.<node>.<reading>`` (one in-range value restarts the wait, so a spike never alarms);
* an alarm clears once the reading is back inside the range by ``hysteresis`` (below
  ``high - hysteresis``, above ``low + hysteresis``) continuously for ``min_duration_s``;
  a value hovering at the limit neither clears it nor, when not alarmed, raises one;
* the last reading holds until the next one, but not longer than the hold time (three
  times the device's ``expected_interval_s``, else 5 minutes), so the duration is judged
  between sparse readings too, and a silent node neither raises nor clears (the registry
  shows it stale). A gap longer than that starts the wait again.

:meth:`Environment.on_reading` only notes where a reading stands; :meth:`Environment.tick`,
every second on the writer thread, raises and clears. Alarms and readings are then written
by one thread in turn: Alarms' transactions read before they write, and fail at once when
another connection commits in between.

Readings without a limit are stored and drawn but not judged.

Storage: every reading is judged, and one per series every ``store_every_s`` (5 s) is
kept: real nodes report every 30-60 s, so all of theirs are; a node sending every second
does not wear the Pi's SD card out (nor cost the CPU a write per reading).
:meth:`on_reading` only appends to a buffer; :meth:`flush` writes it in one
transaction (one fsync a second for the whole hall, not one per reading), from the thread
:meth:`start` runs, which also calls :meth:`tick` and, every ``downsample_s``,
:meth:`compact`. A crash loses at most the last second of readings.

Example::

    env = Environment(config.environment, db_path=path, alarms=alarms, devices=config.devices)
    env.start()
    env.on_reading("env-01", "co2", 1250.0)
    env.series("env-01", "co2", time.time() - 86400, time.time())
    env.close()
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Sequence

from hall_common.bus import contract
from hall_common.bus.client import BusMessage
from hall_common.config import DeviceInfo, EnvironmentConfig, Limit
from hall_common.storage import immediate, open_database

from .alarms import Alarms
from .component import Component, subscribe

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)

DAY = 86400.0
DEFAULT_HOLD_S = 300.0
MAX_BUFFER = 50_000
"""Readings kept in memory while the database refuses writes (about 17 minutes of 50
sensors at 1 Hz); older ones are dropped, with a log line, rather than the Pi's memory."""

ENGLISH = {"temperature": "Temperature", "humidity": "Humidity", "co2": "CO2", "illuminance": "Illuminance",
           "noise": "Noise"}


@dataclass
class Point:
    """One point of a chart: the readings of ``[ts, ts + step)`` (``ts`` is the bin start)."""

    ts: float
    avg: float
    min: float
    max: float
    count: int


@dataclass
class _State:
    """What the judgement of one series remembers between readings."""

    value: float | None = None
    ts: float | None = None
    alarmed: bool = False
    side: str | None = None  # "high" / "low": the side it is out on
    raised_side: str | None = None  # alarmed: the side the alarm's text names
    out_since: float | None = None  # not alarmed: out of range continuously since
    in_since: float | None = None  # alarmed: inside the range by the hysteresis since
    stored_ts: float | None = None  # when a reading of this series was last kept for storage


def side_of(limit: Limit, value: float) -> str | None:
    """``"high"`` or ``"low"`` when ``value`` is outside the limit's range, else None."""
    if limit.high is not None and value > limit.high:
        return "high"
    if limit.low is not None and value < limit.low:
        return "low"
    return None


def well_inside(limit: Limit, value: float) -> bool:
    """Inside the range by the hysteresis: far enough in for an alarm to clear."""
    h = limit.hysteresis
    return (limit.high is None or value <= limit.high - h) and (limit.low is None or value >= limit.low + h)


def number(value: float) -> str:
    """A reading as staff read it: 1250, 22.4."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


class Environment(Component):
    """Readings of the hall's environment nodes: stored, judged against limits, drawn.

    ``devices`` gives nodes their location (for the alarm text) and reporting interval;
    ``ignore`` names nodes whose readings are not the hall's environment (the AED cabinet).
    ``clock`` is the time readings get when none is given and :meth:`tick` judges at.
    """

    def __init__(self, config: EnvironmentConfig, *, db_path: Path, alarms: Alarms | None,
                 devices: Sequence[DeviceInfo] = (), ignore: Collection[str] = (),
                 clock: Callable[[], float] = time.time, flush_every: float = 1.0, flush_rows: int = 500) -> None:
        self.config, self.alarms, self.clock = config, alarms, clock
        self.db_path = Path(db_path)
        self.limits: dict[str, Limit] = dict(config.limits)
        self.min_duration_s = config.min_duration_s
        self.store_every_s = config.store_every_s
        self.devices = {d.id: d for d in devices}
        self.ignore = frozenset(ignore)
        self.flush_every, self.flush_rows = flush_every, flush_rows
        self.db = open_database(self.db_path, shared_thread=True)
        self._db_lock = threading.Lock()  # the writer thread's connection, also used by close()
        self._lock = threading.Lock()  # the judgement state; alarms are raised while holding it
        self._states: dict[tuple[str, str], _State] = {}
        self._buffer: list[tuple[str, str, float, float]] = []
        self._buffer_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._restore()

    name = "environment"

    # -- what comes in ------------------------------------------------------------------------

    @subscribe(contract.ESPHOME_SENSOR, inline=True)
    def on_esphome_sensor(self, msg: BusMessage) -> None:
        """An ESPHome node's reading (network thread: into memory only)."""
        node = msg.parts["node"]
        if self.accepts(node, esphome=True):
            self.on_reading(node, msg.parts["object_id"], msg.payload)

    @subscribe(contract.TELEMETRY, inline=True)
    def on_telemetry(self, msg: BusMessage) -> None:
        """A hall node's readings (network thread: into memory only)."""
        node = msg.parts["node"]
        if self.accepts(node, esphome=False):
            for reading, value in msg.payload.values.items():
                self.on_reading(node, reading, value)

    def accepts(self, node: str, *, esphome: bool) -> bool:
        """Whether ``node``'s readings are the hall's environment: a node listed in
        ``devices`` as an ``env_node``; an unlisted ESPHome node unless ignored. Telemetry
        of unlisted nodes (a kiosk's CPU temperature) is not."""
        if node in self.devices:
            return self.devices[node].kind == "env_node"
        return esphome and node not in self.ignore

    def on_reading(self, node: str, reading: str, value: float, ts: float | None = None) -> None:
        """Keep one reading and note where it stands. Cheap: the row goes to a buffer that
        :meth:`flush` writes, and alarms are raised and cleared by :meth:`tick`, on the
        writer thread between flushes, so the two never contend for the database."""
        ts = self.clock() if ts is None else ts
        if not math.isfinite(value):
            log.warning("environment: %s %s = %r is not a number; skipped", node, reading, value)
            return
        limit = self.limits.get(reading)
        with self._lock:
            state = self._states.get((node, reading))
            if state is None:
                state = self._states[(node, reading)] = _State()
            store = state.stored_ts is None or ts - state.stored_ts >= self.store_every_s or ts < state.stored_ts
            if store:
                state.stored_ts = ts
            if limit is not None and state.ts is not None and ts - state.ts > self._hold(node):
                state.out_since = state.in_since = None  # a gap in the data: the wait starts again
            state.value, state.ts = value, ts
            if limit is not None:
                side = side_of(limit, value)
                if not state.alarmed:
                    if side is None:
                        state.out_since, state.side = None, None
                    elif side != state.side or state.out_since is None:
                        state.out_since, state.side = ts, side
                else:
                    if well_inside(limit, value):
                        state.in_since = state.in_since if state.in_since is not None else ts
                    else:
                        state.in_since = None
                    state.side = side or state.side
        if store:
            with self._buffer_lock:
                self._buffer.append((node, reading, ts, value))
                full = len(self._buffer) >= self.flush_rows
            if full:
                self._wake.set()

    def tick(self, now: float | None = None) -> None:
        """Judge every series at ``now``: out (or back in) long enough raises (or clears),
        however sparse the readings."""
        now = self.clock() if now is None else now
        with self._lock:
            for (node, reading), state in list(self._states.items()):
                limit = self.limits.get(reading)
                if limit is not None:
                    self._judge(node, reading, limit, state, now)

    def _hold(self, node: str) -> float:
        device = self.devices.get(node)
        if device is not None and device.expected_interval_s is not None:
            return 3 * device.expected_interval_s
        return DEFAULT_HOLD_S

    def _judge(self, node: str, reading: str, limit: Limit, state: _State, now: float) -> None:
        # The state changes only once the alarm call returned: one that failed is retried.
        if state.ts is None or now - state.ts > self._hold(node):
            return  # nothing recent to judge by
        if not state.alarmed and state.out_since is not None and now - state.out_since >= self.min_duration_s:
            self._raise(node, reading, limit, state)
            state.alarmed, state.raised_side, state.out_since, state.in_since = True, state.side, None, None
        elif state.alarmed and state.in_since is not None and now - state.in_since >= self.min_duration_s:
            if self.alarms is not None:
                self.alarms.clear(self.alarm_id(node, reading))
            state.alarmed, state.side, state.raised_side, state.in_since = False, None, None, None
        elif state.alarmed and state.side != state.raised_side:  # too hot, then too cold: say so
            self._raise(node, reading, limit, state)
            state.raised_side = state.side

    # -- alarms -------------------------------------------------------------------------------

    @staticmethod
    def alarm_id(node: str, reading: str) -> str:
        return f"env.{node}.{reading}"

    def text(self, node: str, reading: str, limit: Limit, value: float, side: str) -> str:
        """"服务大厅 二氧化碳 1250 ppm，高于 1000 ppm · CO2 1250 ppm above 1000 ppm (env-01)"."""
        device = self.devices.get(node)
        where = device.location if device is not None and device.location else node
        bound = limit.high if side == "high" else limit.low
        unit = f" {limit.unit}" if limit.unit else ""
        zh_word, en_word = ("高于", "above") if side == "high" else ("低于", "below")
        zh = f"{where} {limit.label or reading} {number(value)}{unit}，{zh_word} {number(bound)}{unit}"
        en = f"{ENGLISH.get(reading, reading)} {number(value)}{unit} {en_word} {number(bound)}{unit} ({node})"
        return f"{zh} · {en}"

    def _raise(self, node: str, reading: str, limit: Limit, state: _State) -> None:
        if self.alarms is None or state.value is None or state.side is None:
            return
        self.alarms.raise_(self.alarm_id(node, reading), source=f"{node}/{reading}", type=f"env_{state.side}",
                           severity=limit.severity, text=self.text(node, reading, limit, state.value, state.side))

    def _restore(self) -> None:
        """After a restart: the active ``env.*`` alarms are this module's state again (they
        clear once readings are back in range for ``min_duration_s``; one whose reading has
        lost its limit clears now), and the latest reading of each series is known again.
        A wait under way before the restart starts again."""
        if self.alarms is not None:
            for alarm in self.alarms.active():
                if not alarm["id"].startswith("env."):
                    continue
                node, _, reading = alarm["id"][len("env."):].partition(".")
                if reading not in self.limits:
                    self.alarms.clear(alarm["id"])
                    continue
                side = "low" if alarm["type"] == "env_low" else "high"
                self._states[(node, reading)] = _State(alarmed=True, side=side, raised_side=side)
        for node, reading in series_keys(self.db, "env_readings"):
            row = self.db.execute("SELECT ts, value FROM env_readings WHERE node = ? AND reading = ? "
                                  "ORDER BY ts DESC LIMIT 1", [node, reading]).fetchone()
            state = self._states.setdefault((node, reading), _State())
            state.ts, state.value = row

    # -- what staff see -----------------------------------------------------------------------

    def snapshot(self, now: float | None = None) -> list[dict[str, Any]]:
        """Every node with readings (and every configured ``env_node``), each reading's
        latest value and state: ``ok``, ``out`` (out of range, not yet for long enough),
        ``alarm`` or ``unjudged`` (no limit); ``stale`` when older than the hold time."""
        now = self.clock() if now is None else now
        with self._lock:
            states = {k: _State(**vars(s)) for k, s in self._states.items()}
        nodes: dict[str, dict[str, Any]] = {}
        for d in self.devices.values():
            if d.kind == "env_node":
                nodes[d.id] = {"node": d.id, "location": d.location, "model": d.model, "readings": []}
        for (node, reading), s in sorted(states.items()):
            if s.value is None or s.ts is None:
                continue
            device = self.devices.get(node)
            entry = nodes.setdefault(node, {"node": node, "location": device.location if device else "",
                                            "model": device.model if device else "", "readings": []})
            limit = self.limits.get(reading)
            if limit is None:
                status = "unjudged"
            elif s.alarmed:
                status = "alarm"
            else:
                status = "out" if side_of(limit, s.value) else "ok"
            entry["readings"].append({"reading": reading, "value": s.value, "ts": s.ts, "limit": limit,
                                      "status": status, "stale": now - s.ts > self._hold(node)})
        order = list(self.limits)
        for entry in nodes.values():
            entry["readings"].sort(key=lambda r: (order.index(r["reading"]) if r["reading"] in order else 99,
                                                  r["reading"]))
        return [nodes[k] for k in sorted(nodes)]

    def series(self, node: str, reading: str, since: float, until: float, step: float | None = None) -> list[Point]:
        """The readings of ``[since, until)`` in bins of ``step`` seconds (by default 720
        bins): raw readings and downsampled buckets alike (a bucket counts in the bin its
        start falls in), plus those not yet flushed. Empty bins are left out: a chart
        shows a gap there."""
        step = step or max(1.0, (until - since) / 720)
        db = open_database(self.db_path)  # a connection of the caller's (a console request's)
        try:
            bins = {i: [s, lo, hi, n] for i, s, lo, hi, n in db.execute(
                """SELECT CAST((ts - :since) / :step AS INTEGER) AS i, sum(value), min(value), max(value), count(*)
                   FROM env_readings WHERE node = :node AND reading = :reading AND ts >= :since AND ts < :until
                   GROUP BY i""",
                {"since": since, "until": until, "step": step, "node": node, "reading": reading})}
            for i, s, lo, hi, n in db.execute(
                    """SELECT CAST((bucket - :since) / :step AS INTEGER) AS i, sum(avg * count), min(min), max(max),
                              sum(count)
                       FROM env_buckets WHERE node = :node AND reading = :reading AND bucket >= :since
                       AND bucket < :until GROUP BY i""",
                    {"since": since, "until": until, "step": step, "node": node, "reading": reading}):
                _merge(bins, i, s, lo, hi, n)
        finally:
            db.close()
        with self._buffer_lock:
            pending = [(ts, v) for n_, r, ts, v in self._buffer if (n_, r) == (node, reading) and since <= ts < until]
        for ts, v in pending:
            _merge(bins, int((ts - since) // step), v, v, v, 1)
        return [Point(since + i * step, s / n, lo, hi, n) for i, (s, lo, hi, n) in sorted(bins.items())]

    # -- storage ------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write the buffered readings in one transaction; how many were written."""
        with self._buffer_lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return 0
        try:
            with self._db_lock, immediate(self.db):
                # A reading repeated with the same time (a retransmission) is kept once.
                self.db.conn.executemany("INSERT OR IGNORE INTO env_readings (node, reading, ts, value) "
                                         "VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error:
            with self._buffer_lock:
                self._buffer[:0] = rows
                dropped = max(0, len(self._buffer) - MAX_BUFFER)
                del self._buffer[:dropped]
            log.exception("environment: %d readings not written (%d kept to retry, %d dropped)", len(rows),
                          len(self._buffer), dropped)
            return 0
        return len(rows)

    def compact(self, now: float | None = None) -> dict[str, int]:
        """Raw readings older than ``keep_raw_days`` become ``downsample_s`` buckets (average,
        minimum, maximum, count), deleted in the same transaction; buckets older than
        ``keep_days`` are deleted. The cut is a bucket boundary, so buckets are whole."""
        now = self.clock() if now is None else now
        step = self.config.downsample_s
        raw_cut = math.floor((now - self.config.keep_raw_days * DAY) / step) * step
        bucket_cut = now - self.config.keep_days * DAY
        moved = dropped = 0
        with self._db_lock, immediate(self.db):  # it reads before it writes
            conn = self.db.conn
            for node, reading in series_keys(self.db, "env_readings"):
                args = {"node": node, "reading": reading, "cut": raw_cut, "step": step}
                conn.execute(
                    """INSERT INTO env_buckets (node, reading, bucket, avg, min, max, count)
                       SELECT node, reading, CAST(ts / :step AS INTEGER) * :step AS b, avg(value), min(value),
                              max(value), count(*)
                       FROM env_readings WHERE node = :node AND reading = :reading AND ts < :cut GROUP BY b
                       ON CONFLICT (node, reading, bucket) DO UPDATE SET
                         avg = (avg * count + excluded.avg * excluded.count) / (count + excluded.count),
                         min = min(min, excluded.min), max = max(max, excluded.max),
                         count = count + excluded.count""", args)
                moved += conn.execute("DELETE FROM env_readings WHERE node = :node AND reading = :reading "
                                      "AND ts < :cut", args).rowcount
            for node, reading in series_keys(self.db, "env_buckets"):
                dropped += conn.execute("DELETE FROM env_buckets WHERE node = ? AND reading = ? AND bucket < ?",
                                        [node, reading, bucket_cut]).rowcount
        if moved or dropped:
            log.info("environment: %d readings downsampled, %d old buckets dropped", moved, dropped)
        return {"downsampled": moved, "dropped": dropped}

    # -- the writer thread --------------------------------------------------------------------

    def start(self) -> None:
        """Flush every ``flush_every`` seconds (sooner when ``flush_rows`` are waiting),
        judge, and compact every ``downsample_s``, on a thread of its own."""
        def run() -> None:
            next_compact = 0.0
            while not self._stop.is_set():
                self._wake.wait(self.flush_every)
                self._wake.clear()
                try:
                    self.flush()
                    self.tick()
                    if time.monotonic() >= next_compact:
                        next_compact = time.monotonic() + self.config.downsample_s
                        self.compact()
                except Exception:  # one bad round must not stop the hall's environment watch
                    log.exception("environment: writer round failed")

        self._thread = threading.Thread(target=run, name="environment", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread, write what is buffered, close the connection."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()
        with self._db_lock:
            self.db.close()


def _merge(bins: dict[int, list[Any]], i: int, s: float, lo: float, hi: float, n: int) -> None:
    if i in bins:
        b = bins[i]
        b[0] += s
        b[1], b[2], b[3] = min(b[1], lo), max(b[2], hi), b[3] + n
    else:
        bins[i] = [s, lo, hi, n]


def series_keys(db: sqlite_utils.Database, table: str) -> list[tuple[str, str]]:
    """The distinct (node, reading) of ``table`` by skipping along its primary key: one
    index seek per series, not a scan of millions of rows."""
    keys: list[tuple[str, str]] = []
    row = db.execute(f"SELECT node, reading FROM {table} ORDER BY node, reading LIMIT 1").fetchone()
    while row is not None:
        keys.append((row[0], row[1]))
        row = db.execute(f"SELECT node, reading FROM {table} WHERE (node, reading) > (?, ?) "
                         "ORDER BY node, reading LIMIT 1", [row[0], row[1]]).fetchone()
    return keys
