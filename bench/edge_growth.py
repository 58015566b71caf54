"""Does the edge agent's memory grow with ordinary requests, and where? (issue 20)

The issue saw the edge of a running ``hall up`` grow from 94 MB to 153 MB over an hour of
ordinary requests. This plays such an hour faster: the broker, the central server, the two
virtual printers and the edge agent (agent and staff console in one process) are started
from the configuration ``hall up`` writes, as ``hall up`` starts them, and then:

* ``--kiosks`` kiosks (bus clients logged in as ``kiosk-01``...) each play visits one after
  another, as the kiosk's screens ask the edge: call staff (``help``), take a number, a
  complaint (options, preview, submit, then track it), a bill lookup (the rooms, then the
  room and last 4 digits, a resident QR code, now and then wrong digits), the disclosures;
* the staff play the console over HTTP: log in (now and then a wrong password or user
  name first), look at the overview, call the next number and finish it, mark a help call
  handled, log out (one in four forgets to);

``--visits`` visits in all, as fast as the edge answers them (``--rate`` visits/s caps it;
0 = no cap). An ordinary busy hour is about 1,000 visits, so the default 6,000 is several.
The edge's RSS (VmRSS) is sampled every ``--sample-s`` seconds and printed with the visits
done so far. ``--idle-min`` first leaves the hall alone that many minutes (time-driven
growth: timers, the centre watch, the sync worker), ``--nodes`` adds that many simulated
sensor nodes reporting every second (``simulators/sensor_swarm.py``) from the start.

``--trace`` runs the edge under :mod:`tracemalloc` from the first visit on (12 frames; RSS
is then higher than without) and compares two snapshots, taken after the first tenth of
the visits and at the end: the allocations that grew most, by traceback. Memory that RSS shows and tracemalloc
does not is outside Python's allocator (C libraries, malloc's arenas).

Run (2 cores)::

    .venv/bin/python bench/edge_growth.py [--visits 6000] [--trace] [--nodes 50]
"""

from __future__ import annotations

import os
import sys

def _probe() -> dict:
    """Where the edge's memory is, seen from inside it (``--probe``): its threads, the bytes
    SQLite holds (page caches and statements of every connection), the bytes Python's
    object allocator holds in its arenas, and the most common live objects by type."""
    import collections
    import ctypes
    import gc
    import re
    import tempfile
    import threading

    sqlite = ctypes.CDLL("libsqlite3.so.0")  # the library Python's sqlite3 module uses
    sqlite.sqlite3_memory_used.restype = ctypes.c_int64

    with tempfile.TemporaryFile() as tmp:  # sys._debugmallocstats writes to the C-level stderr
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()

    def figure(label: bytes) -> float:
        found = re.search(re.escape(label) + rb" += +([\d,]+)", text)
        return int(found.group(1).replace(b",", b"")) / 2**20 if found else float("nan")

    types = collections.Counter(type(o).__name__ for o in gc.get_objects())
    return {"threads": sorted(t.name for t in threading.enumerate()), "sqlite_mb": sqlite.sqlite3_memory_used() / 2**20,
            "obmalloc_mb": figure(b"Total"), "obmalloc_used_mb": figure(b"# bytes in allocated blocks"),
            "objects": types.most_common(10)}


if __name__ == "__main__" and sys.argv[1:2] == ["--edge-child"]:
    # The edge agent as ``python -m edge_agent`` runs it, for ``--trace`` and ``--probe``:
    # the first SIGUSR1 starts tracemalloc, each later one writes a snapshot (tracing from
    # the start made starting the agent take minutes, and what is there at start is not
    # what grows); each SIGUSR2 writes a probe (:func:`_probe`).
    import json
    import signal
    import tracemalloc

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from edge_agent.__main__ import main as _edge_main

    _snaps, _probes = iter(range(1000)), iter(range(1000))
    _out = os.environ["EDGE_GROWTH_SNAPS"]

    def _on_usr1(signum: int, frame: object) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(12)
            return
        tracemalloc.take_snapshot().dump(os.path.join(_out, f"snap-{next(_snaps)}"))

    def _on_usr2(signum: int, frame: object) -> None:
        path = os.path.join(_out, f"probe-{next(_probes)}.json")
        with open(path + ".tmp", "w") as out:
            json.dump(_probe(), out)
        os.replace(path + ".tmp", path)

    signal.signal(signal.SIGUSR1, _on_usr1)
    signal.signal(signal.SIGUSR2, _on_usr2)
    _edge_main(sys.argv[2:])
    raise SystemExit(0)

import collections
import random
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from harness import machine, options, scratch

from hall_cli.plan import SAMPLE_HALL, HallPlan, prepare
from hall_cli.supervisor import Supervisor
from hall_common.bus.client import BusClient
from hall_common.errors import HallError

SERVICES = ("procedures", "certificates", "consult", "repair", "complaint", "payment", "other")
COUNTERS = ("c1", "c2", "c3")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Counts:
    """Visits done and answers seen, shared by the players."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.visits = 0
        self.requests = 0
        self.refused: dict[str, int] = {}
        self.logins = 0

    def add(self, *, visits: int = 0, requests: int = 0, refused: str | None = None, logins: int = 0) -> None:
        with self.lock:
            self.visits += visits
            self.requests += requests
            self.logins += logins
            if refused:
                self.refused[refused] = self.refused.get(refused, 0) + 1


class Kiosk:
    """One kiosk's bus client playing visits."""

    def __init__(self, bus: BusClient, counts: Counts, qr: str, rng: random.Random) -> None:
        self.bus, self.counts, self.qr, self.rng = bus, counts, qr, rng

    def ask(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.bus.request(method, args, timeout=10)
        except HallError as exc:
            code = getattr(exc, "code", type(exc).__name__)
            detail = f" ({exc.message[:70]})" if code == "bad_request" else ""
            self.counts.add(refused=f"{method}: {code}{detail}")
            return None
        finally:
            self.counts.add(requests=1)

    def visit(self) -> None:
        rng = self.rng
        kind = rng.choices(("help", "ticket", "complaint", "bills", "disclosures"), (1, 4, 2, 3, 2))[0]
        if kind == "help":
            self.ask("help", {})
        elif kind == "ticket":
            self.ask("ticket", {"request": str(uuid.uuid4()), "service": rng.choice(SERVICES), "priority": rng.random() < 0.1})
        elif kind == "complaint":
            self.ask("complaint_options", {})
            draft = {"kind": rng.choice(("complaint", "repair", "suggestion", "consultation")),
                     "category": "facilities", "place": f"{rng.randint(1, 9)} 栋 {rng.randint(1, 3)} 单元",
                     "content": rng.choice(("楼道灯不亮了", "电梯有异响", "小区门口有积水", "垃圾没有及时清运")),
                     "wanted": "请尽快处理", "name": "陈建国", "room": f"{rng.randint(1, 9)}-{rng.randint(1, 3)}-{rng.randint(1, 18)}01",
                     "phone": f"139{rng.randrange(10**8):08d}", "occurred_at": time.time() - 600}
            self.ask("complaint_preview", draft)
            receipt = self.ask("complaint", {**draft, "request": str(uuid.uuid4())})
            if receipt is not None:
                self.ask("track", {"number": receipt["tracking_no"], "last4": draft["phone"][-4:]})
        elif kind == "bills":
            self.ask("bill_rooms", {})
            roll = rng.random()
            if roll < 0.5:
                self.ask("bills", {"room": "3-2-1201", "last4": "5678"})
            elif roll < 0.9:
                self.ask("bills", {"qr": self.qr})
            else:
                self.ask("bills", {"room": "5-1-601", "last4": f"{rng.randrange(10**4):04d}"})
        else:
            answer = self.ask("disclosures", {})
            cats = (answer or {}).get("categories") or []
            if cats:
                self.ask("disclosures", {"category": rng.choice(cats)["id"]})
            self.ask("disclosure_search", {"q": rng.choice(("物业费", "电梯", "公共收益", "维修资金"))})
        self.counts.add(visits=1)


class Staff:
    """A staff member at the console (HTTP, the browser's forms and CSRF token)."""

    def __init__(self, url: str, password: str, counts: Counts, rng: random.Random) -> None:
        self.url, self.password, self.counts, self.rng = url.rstrip("/"), password, counts, rng

    def shift(self) -> None:
        import requests

        http = requests.Session()
        csrf = _CSRF.search(http.get(self.url + "/login", timeout=30).text).group(1)
        roll = self.rng.random()
        if roll < 0.15:  # a typo in the password first
            http.post(self.url + "/login", data={"username": "staff", "password": "wrong", "csrf_token": csrf}, timeout=30)
        elif roll < 0.25:  # or in the user name
            http.post(self.url + "/login", data={"username": f"staf{self.rng.randrange(10**6)}", "password": "x",
                                                 "csrf_token": csrf}, timeout=30)
        r = http.post(self.url + "/login", data={"username": "staff", "password": self.password, "csrf_token": csrf},
                      timeout=30)
        self.counts.add(logins=1)
        page = r.text
        csrf = _CSRF.search(page).group(1) if _CSRF.search(page) else csrf
        for _ in range(3):
            counter = self.rng.choice(COUNTERS)
            http.post(f"{self.url}/counters/{counter}/next", data={"csrf_token": csrf}, timeout=30)
            http.post(f"{self.url}/counters/{counter}/finish", data={"csrf_token": csrf}, timeout=30)
        help_ids = re.findall(r'action="/help/([0-9a-f-]{36})/handled"', http.get(self.url + "/", timeout=30).text)
        for hid in help_ids[:5]:
            http.post(f"{self.url}/help/{hid}/handled", data={"csrf_token": csrf}, timeout=30)
        if self.rng.random() < 0.75:
            http.post(self.url + "/logout", data={"csrf_token": csrf}, timeout=30)
        http.close()


def play(kiosks: list[Kiosk], staff: Staff, counts: Counts, visits: int, rate: float, staff_every: int,
         on_progress: Callable[[int], None]) -> None:
    """Play ``visits`` visits over the kiosks at once (at most ``rate`` a second in all), and a
    staff shift every ``staff_every`` visits (0: none)."""
    todo = iter(range(visits))
    lock = threading.Lock()
    t0 = time.monotonic()

    def kiosk_loop(k: Kiosk) -> None:
        while True:
            with lock:
                n = next(todo, None)
            if n is None:
                return
            if rate > 0:
                delay = t0 + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            k.visit()
            if staff_every and n % staff_every == 0:
                staff.shift()
            on_progress(n + 1)

    threads = [threading.Thread(target=kiosk_loop, args=(k,), daemon=True) for k in kiosks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _short(path: str) -> str:
    """A traceback's file, from the package on (``site-packages/`` and the repository cut)."""
    marker = "site-packages/"
    if marker in path:
        return path.split(marker, 1)[1]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    return path.removeprefix(root)


def top_growth(before: Path, after: Path, n: int = 12) -> str:
    """The ``n`` tracebacks whose allocations grew most from ``before`` to ``after``."""
    import tracemalloc

    skip = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>")]
    a = tracemalloc.Snapshot.load(str(before)).filter_traces(skip)
    b = tracemalloc.Snapshot.load(str(after)).filter_traces(skip)
    total = (sum(s.size for s in b.statistics("filename")) - sum(s.size for s in a.statistics("filename"))) / 2**20
    lines = [f"  traced by tracemalloc: {total:+.2f} MB between the snapshots"]
    for stat in b.compare_to(a, "traceback")[:n]:
        lines.append(f"  {stat.size_diff / 1024:+9.1f} KB  {stat.count_diff:+7d} blocks")
        frames = list(stat.traceback)[-6:]
        for frame in frames:
            lines.append(f"        {_short(frame.filename)}:{frame.lineno}")
    return "\n".join(lines)


def probe_edge(proc: subprocess.Popen, snaps: Path) -> dict:
    """Ask the edge (run by ``--edge-child``) for a probe and read it."""
    import json

    n = len(list(snaps.glob("probe-*.json")))
    proc.send_signal(signal.SIGUSR2)
    path = snaps / f"probe-{n}.json"
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the edge wrote no probe")
        time.sleep(0.2)
    return json.loads(path.read_text())


def show_probe(label: str, p: dict) -> None:
    names = collections.Counter(re.sub(r"[-_]?[0-9a-f]{6,}$|-\d+$|\(.*\)", "", n) for n in p["threads"])
    print(f"probe {label}: {len(p['threads'])} threads ({', '.join(f'{k} x{v}' if v > 1 else k for k, v in sorted(names.items()))}); "
          f"SQLite {p['sqlite_mb']:.1f} MB; Python's small-object arenas {p['obmalloc_mb']:.1f} MB "
          f"({p['obmalloc_used_mb']:.1f} MB in use); "
          f"most objects: {', '.join(f'{k} {v}' for k, v in p['objects'][:6])}", flush=True)


def main() -> None:
    args = options(__doc__, visits=6000, rate=0.0, kiosks=3, sample_s=5.0, idle_min=0.0, nodes=0, trace=0, probe=0,
                   settle_s=15.0, staff_every=25)
    with scratch() as root:
        data = root / "data"
        plan = HallPlan.load(SAMPLE_HALL).model_copy(update={"kiosks": [f"kiosk-{i:02d}" for i in range(1, args.kiosks + 1)]})
        from tests.conftest import free_port_block

        layout = prepare(data, plan, base_port=free_port_block(40))
        keep = {"broker", "central", "printer-1", "printer-2", "edge"}
        layout.processes = [p for p in layout.processes if p.name in keep]
        snaps = root / "snaps"
        snaps.mkdir()
        if args.trace or args.probe:
            edge = next(p for p in layout.processes if p.name == "edge")
            layout.processes[layout.processes.index(edge)] = type(edge)(
                edge.name, [sys.executable, str(Path(__file__).resolve()), "--edge-child", *edge.argv[3:]], edge.port)
        sup = Supervisor(layout, start_timeout=60)
        sup.env["EDGE_GROWTH_SNAPS"] = str(snaps)
        swarm = None
        kiosks: list[Kiosk] = []
        try:
            sup.start_all()
            edge_pid = next(c.proc.pid for c in sup.children if c.spec.name == "edge")
            samples: list[tuple[float, int, float]] = []
            t0 = time.monotonic()
            counts = Counts()
            print(f"edge pid {edge_pid}, RSS at ready {rss_mb(edge_pid):.1f} MB", flush=True)
            if args.nodes:
                swarm = subprocess.Popen([sys.executable, "-m", "simulators.sensor_swarm", "--data-dir", str(data),
                                          "--count", str(args.nodes), "--interval", "1"], stderr=subprocess.DEVNULL)
            stop = threading.Event()

            def sampler() -> None:
                while not stop.is_set():
                    samples.append((time.monotonic() - t0, counts.visits, rss_mb(edge_pid)))
                    stop.wait(args.sample_s)

            threading.Thread(target=sampler, daemon=True).start()
            time.sleep(args.settle_s)
            start_rss = rss_mb(edge_pid)
            edge_proc = next(c.proc for c in sup.children if c.spec.name == "edge")
            if args.probe:
                show_probe("at start", probe_edge(edge_proc, snaps))
            print(f"RSS after {args.settle_s:g} s settled{f' with {args.nodes} nodes' if args.nodes else ''}: "
                  f"{start_rss:.1f} MB", flush=True)
            if args.idle_min:
                time.sleep(args.idle_min * 60)
                print(f"RSS after {args.idle_min:g} min idle: {rss_mb(edge_pid):.1f} MB", flush=True)
            secrets = data / "secrets"
            from hall_cli.resident_codes import VALID_DAYS
            from hall_common import resident_qr
            from central_sync.signing import load_or_create_key

            qr = resident_qr.issue(load_or_create_key(secrets / "centre/config_signing.key"), hall=plan.hall_id,
                                   room="3-2-1201", expires=time.time() + VALID_DAYS * 86400)
            rng = random.Random(1)
            for node in plan.kiosks:
                bus = BusClient(hall_id=plan.hall_id, node_id=node, kind="kiosk", host="127.0.0.1", port=layout.broker_port,
                                password=(secrets / "broker" / node).read_text().strip(), session=int(time.time()))
                bus.start()
                assert bus.wait_connected(10), f"{node} did not connect"
                kiosks.append(Kiosk(bus, counts, qr, random.Random(rng.random())))
            staff = Staff(layout.urls["staff console"], (secrets / "console/staff").read_text().strip(), counts,
                          random.Random(2))
            mark = max(1, args.visits // 10)

            def progress(n: int) -> None:
                if args.trace and n == mark:
                    edge_proc.send_signal(signal.SIGUSR1)
                if n % 500 == 0:
                    print(f"  {n} visits, {time.monotonic() - t0:.0f} s, RSS {rss_mb(edge_pid):.1f} MB", flush=True)

            if args.trace:
                edge_proc.send_signal(signal.SIGUSR1)  # tracing starts
            t_play = time.monotonic()
            play(kiosks, staff, counts, args.visits, args.rate, args.staff_every, progress)
            played = time.monotonic() - t_play
            time.sleep(args.settle_s)  # what the edge still does after the last answer (sync, printing)
            end_rss = rss_mb(edge_pid)
            if args.probe:
                show_probe("at the end", probe_edge(edge_proc, snaps))
            if args.trace:
                edge_proc.send_signal(signal.SIGUSR1)
                deadline = time.monotonic() + 120
                while len(list(snaps.glob("snap-*"))) < 2 and time.monotonic() < deadline:
                    time.sleep(0.5)
                time.sleep(2)  # the dump is written whole
            stop.set()
            peak = max(s[2] for s in samples)
            print(f"\n{counts.visits} visits ({counts.requests} requests, {counts.logins} staff logins) in {played:.0f} s "
                  f"({counts.visits / played:.1f} visits/s)")
            print(f"refused or unanswered: {counts.refused or 'none'}")
            print(f"edge RSS: start {start_rss:.1f} MB, end {end_rss:.1f} MB ({end_rss - start_rss:+.1f} MB), peak {peak:.1f} MB")
            print("samples (s, visits, MB): " + ", ".join(f"{t:.0f}/{v}/{m:.1f}" for t, v, m in samples[:: max(1, len(samples) // 20)]))
            if args.trace:
                print("\ntracemalloc, growth from the first tenth of the visits to the end:")
                print(top_growth(snaps / "snap-0", snaps / "snap-1"))
            print(f"\nmachine: {machine()}")
        finally:
            for k in kiosks:
                k.bus.close()
            if swarm is not None:
                swarm.terminate()
                swarm.wait(30)
            sup.stop_all()


if __name__ == "__main__":
    main()
