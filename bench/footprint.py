"""Footprint of a running hall: each part's memory at start and at its peak, and its start time.

Issue 20 asks whether the hall fits a Raspberry Pi beside Chromium: kiosk, board and broker
at most 45 MB (kiosk, board) and 60 MB (edge agent with 50 sensor nodes) each, the four
together at most 150 MB at their peak, each part healthy at most 1.5 s after it starts.

The hall is started the way ``hall up`` starts it (the sample hall, the same configuration
files and the same :class:`~hall_cli.supervisor.Supervisor`, each process in its own
interpreter), and its start time is taken from the process's start to the first 200 from
its ``/healthz`` (the supervisor's readiness check, polled every 50 ms). Then, for
``--minutes``, 50 simulated ESPHome sensor nodes report every second
(``simulators.sensor_swarm``, one process of their own) while a resident tours the kiosk
over and over: every screen reachable by a link, the elder mode with its voice clips,
English, typing on the pinyin keyboard, a ticket, a complaint, a bill found by holding the
demo resident QR code up to the (simulated) camera, a bill paid on the payment screen
through the payment sandbox, help and a rating; and staff call numbers at the counters
while the board's event stream is read and its voice clips fetched.

Memory is the resident set (``VmRSS`` in ``/proc/PID/status``) at start (the hall up and
idle, before any visit) and at its peak (``VmHWM``, the kernel's high-water mark, which
also catches a peak between two samples), and beside it the proportional set size (``Pss``
in ``/proc/PID/smaps_rollup``, sampled: the kernel keeps no high-water mark of it). RSS
counts every shared page in full in each process that maps it: libpython, libcrypto and
libssl, the wheels' shared libraries, the interpreter's own pages are in memory once but
in every part's RSS. PSS splits each shared page among the processes that map it, so the
PSS of several processes adds up to the memory they really take. "Four together" is the
sum of the kiosk, edge, board and broker (each with any child process it runs, such as a
camera scan), sampled every ``--sample-s``, as the sum of PSS (the real memory) and the
sum of RSS (what each part's own figure adds up to); the sum of their four RSS peaks is
printed too (an upper bound: the peaks need not come at once).

Baseline, in the same run: a bare Flask app answering "hello" and ``/healthz`` under
waitress with 8 threads (how the parts serve), started and visited the same way.

    .venv/bin/python bench/footprint.py                 # the full run: a minute of load
    .venv/bin/python bench/footprint.py --minutes 0.2   # a quick one
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import ROOT, machine, options, scratch

WATCHED = ("kiosk-01", "edge", "display-01", "broker")
"""The four parts that share the hall's Pi (docs/install-pi.md), in the table's order."""
LABELS = {"kiosk-01": "kiosk", "edge": "edge agent", "display-01": "board", "broker": "mosquitto",
          "central": "central server (not on the Pi)", "hello": "bare Flask hello (baseline)"}
PINYIN = ("l", "lo", "lou", "louti", "loutideng", "dianti", "diantihuaile", "shui", "shuiguanloushui", "tingche",
          "wuye", "wuyefei", "zaoyin", "lajiqingyun", "menjin", "kongtiao", "xiexie", "nihao")
"""What a resident types on the complaint form's pinyin keyboard, letter by letter
(each prefix is asked as it is typed)."""

HELLO_APP = """
import sys
from flask import Flask
from waitress import serve
app = Flask("hello")
@app.get("/")
def hello():
    return "hello"
@app.get("/healthz")
def healthz():
    return {"ok": True}
serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=8)
"""


def status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``), 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """The process's proportional set size in kB (``Pss`` of ``/proc/PID/smaps_rollup``),
    0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (a part's camera scan runs in a child process)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


@dataclass
class Figures:
    name: str
    pid: int
    start_s: float
    rss_start_mb: float = 0.0
    pss_start_mb: float = 0.0
    peak_mb: float = 0.0
    pss_peak_mb: float = 0.0
    end_mb: float = 0.0
    pss_end_mb: float = 0.0


class Sampler:
    """Samples the watched processes (with their children) every ``every_s``: each one's
    peak PSS and the peaks of the sums of their RSS and of their PSS."""

    def __init__(self, figures: dict[str, Figures], every_s: float) -> None:
        self.figures, self.every_s = figures, every_s
        self.peak_sum_mb = 0.0
        self.peak_pss_sum_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            rss_total = pss_total = 0.0
            for f in self.figures.values():
                pids = family(f.pid)
                rss_total += sum(status_kb(p, "VmRSS") for p in pids) / 1024
                pss = sum(pss_kb(p) for p in pids) / 1024
                f.pss_peak_mb = max(f.pss_peak_mb, pss)
                pss_total += pss
            self.peak_sum_mb = max(self.peak_sum_mb, rss_total)
            self.peak_pss_sum_mb = max(self.peak_pss_sum_mb, pss_total)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the visits ---------------------------------------------------------------------------

def crawl(screen: Any, start: str = "/", limit: int = 80) -> int:
    """Every kiosk page reachable from ``start`` by a link (GET only), with the CSS, script
    and voice clips the pages load: what a resident tapping around sees. Returns the count."""
    seen: set[str] = set()
    todo = [start]
    while todo and len(seen) < limit:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        r = screen.get(path)
        if "text/html" not in r.headers.get("Content-Type", ""):
            continue
        for link in re.findall(r'(?:href|src)="(/[^"#]*)"', r.text):
            link = link.replace("&amp;", "&")
            if link not in seen and not link.startswith("/session/end"):
                todo.append(link)
    return len(seen)


def tour_kiosk(day: Any, env: Any, screen_cls: Any, resident_qr: Path, rng: Any) -> dict[str, int]:
    """One resident's visit to every screen of the kiosk (see the module's docstring)."""
    node, url = next(iter(sorted(env.kiosks.items())))
    done: dict[str, int] = {}
    s = screen_cls(url, day.ledger)
    done["pages"] = crawl(s)
    s.post("/session/elder", {"next": "/"})  # elder mode: bigger text and a voice clip on every page
    done["pages"] += crawl(s, "/", limit=20)
    s.post("/session/lang/en", {"next": "/"})
    done["pages"] += crawl(s, "/", limit=20)
    s.get("/session/end")
    for word in PINYIN:  # the keyboard asks for candidates at every letter
        for n in range(1, len(word) + 1):
            r = screen_cls(url, day.ledger).get("/ime", q=word[:n])
            assert r.status_code == 200, r.text
            done["pinyin"] = done.get("pinyin", 0) + 1
    # The resident holds the demo household's QR code up to the camera (a picture dropped in
    # the simulated camera's folder) on the bills screen.
    camera = env.data_dir / "camera" / node
    shutil.copy(resident_qr, camera / f"resident-{time.monotonic_ns()}.png")
    s = screen_cls(url, day.ledger)
    s.get("/bills/")
    r = s.post("/bills/scan", {})
    assert "/bills/list" in r.url, f"the camera scan did not find the household: {r.url}"
    done["scans"] = 1
    s.get("/session/end")
    for visit in (day.ticket, day.ticket, day.complaint, day.payment):
        # A refusal (counted in the ledger, printed at the end) still showed its screens.
        done[visit.__name__] = done.get(visit.__name__, 0) + (visit(node, url, rng) is not None)
    s = screen_cls(url, day.ledger)
    s.get("/help")
    s.post("/help/call", {})
    s.get("/rating/")
    s.get("/session/end")
    return done


def follow_board(url: str, stop: threading.Event, heard: list[str]) -> None:
    """The board's page: its event stream, and each call's voice clips as the page plays them."""
    import requests

    base = url.rstrip("/")
    requests.get(base + "/", timeout=10).raise_for_status()
    requests.get(base + "/chime.wav", timeout=10).raise_for_status()
    while not stop.is_set():
        try:
            with requests.get(base + "/events", stream=True, timeout=(5, 10)) as r:
                for line in r.iter_lines(decode_unicode=True):
                    if stop.is_set():
                        return
                    if line and line.startswith("data: ") and '"voice"' in line:
                        call = json.loads(line[6:])
                        for clip in call["voice"]:
                            requests.get(f"{base}/{clip}", timeout=30).raise_for_status()
                        heard.append(call["ticket"])
        except requests.RequestException:
            continue  # a read timeout between heartbeats: open the stream again


# -- the run ------------------------------------------------------------------------------

def start_hello(port: int) -> tuple[Any, float]:
    """The baseline app, started and timed as the supervisor times a part."""
    from hall_cli.plan import Process
    from hall_cli.supervisor import Child

    import os

    child = Child(Process("hello", [sys.executable, "-c", HELLO_APP, str(port)], port), Path("/dev/null"))
    child.start(dict(os.environ))
    while not child.ready("127.0.0.1"):
        assert child.alive, "the hello app exited"
        time.sleep(0.05)
    return child, time.monotonic() - child.last_start


def call_numbers(day: Any, counters: list[str], stop: threading.Event, calls: list[int]) -> None:
    """Staff at the console calling the next number at each counter in turn."""
    console = day.staff_console()
    n = 0
    while not stop.wait(1.0):
        console.post(f"/counters/{counters[n % len(counters)]}/next", {})
        calls[0] += 1
        n += 1


def run(d: Path, minutes: float, nodes: int, sample_s: float) -> tuple[dict[str, Figures], dict[str, Any]]:
    import os
    import random
    import subprocess

    from hall_cli.broker import free_port
    from hall_cli.plan import PORT_BLOCK, SAMPLE_HALL, HallPlan, prepare
    from hall_cli.supervisor import Supervisor
    from simulators.hall_day import HallDay, HallEnv, Screen
    from tests.conftest import free_port_block

    layout = prepare(d / "hall", HallPlan.load(SAMPLE_HALL), base_port=free_port_block(PORT_BLOCK))
    sup = Supervisor(layout)
    figures: dict[str, Figures] = {}

    def ready(child: Any, seconds: float) -> None:
        figures[child.spec.name] = Figures(child.spec.name, child.proc.pid, seconds)

    extra: dict[str, Any] = {"load": os.getloadavg()[0]}
    hello = swarm = None
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        sup.start_all(on_ready=ready)
        hello, hello_s = start_hello(free_port())
        figures["hello"] = Figures("hello", hello.proc.pid, hello_s)
        time.sleep(3.0)  # settled: retained state delivered, the first readings stored
        for f in figures.values():
            f.rss_start_mb = status_kb(f.pid, "VmRSS") / 1024
            f.pss_start_mb = f.pss_peak_mb = pss_kb(f.pid) / 1024
        env = HallEnv.discover(layout.data_dir)
        day = HallDay(env, seed=20)
        day.prepare_households()
        board_url = layout.urls["board display-01"]
        heard: list[str] = []
        calls = [0]
        threads = [threading.Thread(target=follow_board, args=(board_url, stop, heard), daemon=True),
                   threading.Thread(target=call_numbers, args=(day, env.counters, stop, calls), daemon=True)]
        with Sampler({n: figures[n] for n in WATCHED}, sample_s) as sampler:
            for t in threads:
                t.start()
            swarm = subprocess.Popen([sys.executable, "-m", "simulators.sensor_swarm", "--data-dir",
                                      str(layout.data_dir), "--count", str(nodes), "--interval", "1"],
                                     stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
            rng = random.Random(20)
            tours: dict[str, int] = {}
            hello_url = f"http://127.0.0.1:{hello.spec.port}/"
            deadline = time.monotonic() + minutes * 60
            while True:
                for what, n in tour_kiosk(day, env, Screen, layout.files["resident QR (demo)"], rng).items():
                    tours[what] = tours.get(what, 0) + n
                tours["tours"] = tours.get("tours", 0) + 1
                hello_screen = Screen(hello_url, day.ledger)
                for _ in range(20):
                    hello_screen.get("/")
                if time.monotonic() > deadline:
                    break
            assert swarm.poll() is None, "the sensor swarm stopped"
            for f in figures.values():
                f.peak_mb = status_kb(f.pid, "VmHWM") / 1024
                f.end_mb = status_kb(f.pid, "VmRSS") / 1024
                f.pss_end_mb = pss_kb(f.pid) / 1024
                f.pss_peak_mb = max(f.pss_peak_mb, f.pss_end_mb)
        extra.update(tours, calls=calls[0], refused=day.ledger.summary()["refused"], heard=len(heard),
                     peak_sum_mb=sampler.peak_sum_mb, peak_pss_sum_mb=sampler.peak_pss_sum_mb,
                     minutes=minutes, nodes=nodes, stored=stored_readings(layout.data_dir))
    finally:
        stop.set()
        if swarm is not None:
            swarm.terminate()
            swarm.wait(30)
        if hello is not None:
            hello.signal_group(15)
        sup.stop_all()
    return figures, extra


def stored_readings(data_dir: Path) -> int:
    """How many sensor readings the edge stored (the swarm's reports arrived)."""
    import sqlite3

    con = sqlite3.connect(f"file:{data_dir / 'nodes/edge/edge.db'}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM env_readings").fetchone()[0]
    except sqlite3.Error:
        return -1
    finally:
        con.close()


def table(figures: dict[str, Figures], extra: dict[str, Any]) -> str:
    rows = ["| part | RSS at start | PSS at start | peak RSS (VmHWM) | peak PSS (sampled) | RSS / PSS at the end "
            "| start → healthy |", "|---|---|---|---|---|---|---|"]
    for name in (*WATCHED, "central", "hello"):
        f = figures[name]
        rows.append(f"| {LABELS[name]} | {f.rss_start_mb:.1f} MB | {f.pss_start_mb:.1f} MB | {f.peak_mb:.1f} MB | "
                    f"{f.pss_peak_mb:.1f} MB | {f.end_mb:.1f} / {f.pss_end_mb:.1f} MB | {f.start_s:.2f} s |")
    four = sum(figures[n].peak_mb for n in WATCHED)
    rows.append(f"| the four together | {sum(figures[n].rss_start_mb for n in WATCHED):.1f} MB | "
                f"{sum(figures[n].pss_start_mb for n in WATCHED):.1f} MB | "
                f"{extra['peak_sum_mb']:.1f} MB sampled (sum of peaks {four:.1f} MB) | "
                f"**{extra['peak_pss_sum_mb']:.1f} MB** sampled | "
                f"{sum(figures[n].end_mb for n in WATCHED):.1f} / {sum(figures[n].pss_end_mb for n in WATCHED):.1f} MB | |")
    return "\n".join(rows)


def main() -> None:
    args = options(__doc__, minutes=1.0, nodes=50, sample_s=0.2)
    with scratch() as d:
        figures, extra = run(d, args.minutes, args.nodes, args.sample_s)
    print(table(figures, extra))
    print(f"\n{extra['nodes']} sensor nodes reporting every second for {extra['minutes']:g} min "
          f"({extra['stored']} readings stored by the edge); {extra['tours']} kiosk tours: "
          f"{extra['pages']} pages, {extra['pinyin']} pinyin lookups, {extra['scans']} camera scans, "
          f"{extra['ticket']} tickets, {extra['complaint']} complaints, {extra['payment']} payments; "
          f"{extra['calls']} counter calls, {extra['heard']} heard on the board; refused: {extra['refused']}")
    print("PSS splits each shared page (libpython, libcrypto, ...) among the processes that map it: the sum of "
          "PSS is the memory the four really take; the sum of RSS counts shared pages once per process.")
    print(f"machine: {machine()}; load average at start {extra['load']:.1f}")


if __name__ == "__main__":
    main()
