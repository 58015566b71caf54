"""Device-fault campaign: printers failing in the middle of jobs while a stream of jobs runs,
a sensor node gone silent among others, the kiosk camera missing.

Everything is real: mosquitto with the project's ACL, the edge agent's print service over
TCP to virtual ESC/POS printers that print line by line (so a fault can strike mid-job),
the kiosk's own ticket flow over HTTP, the staff console's pages, OpenCV on real files.
Faults are drawn from a seeded RNG (``SEED``); the tests assert on what reached the paper
(parsed back with ``simulators/escpos_parse.py``) and report their figures on stdout
(``pytest -s``). What is already proven elsewhere is not repeated here:
``tests/test_printing.py`` (paper out between jobs, hung printer, reprint marks, restart),
``tests/test_hall_devices.py`` (a node whose Last Will says lost), ``tests/test_registry.py``
(the stale rule on a fake clock), ``tests/test_kiosk_camera.py`` (a camera that never opens).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from hall_common.bus import contract
from hall_common.escpos_status import PrinterStatus
from hall_common.print_client import PrintClient
from simulators.escpos_parse import QR, parse, text_lines
from simulators.printer import Job, VirtualPrinter

from .conftest import HALL, wait_for
from .minihall import MiniHall

SEED = 20240611
ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
QUEUE = {"hours": ALWAYS, "counters": [{"id": "c1", "name": "1", "services": ["procedures", "consult"]}]}
LINE_S = 0.01
"""Seconds a print line takes on the virtual printers: a ticket of about 30 lines takes
0.3 s, long enough for a fault to land inside it."""
OK = PrinterStatus(online=True)
FAULTS: dict[str, Callable[[VirtualPrinter], None]] = {
    "paper_out": lambda p: p.set_state(PrinterStatus(online=True, paper="out")),
    "cover_open": lambda p: p.set_state(PrinterStatus(online=True, cover_open=True)),
    "hung": lambda p: p.hang(True),
}
SHOWN = {"paper_out": "缺纸 · out of paper", "cover_open": "机盖打开 · cover open", "hung": "离线 · offline"}
"""What the staff console's printer page says for each fault."""


# -- what reached the paper ---------------------------------------------------------------

def job_key(job: Job) -> str:
    """Which request a printout belongs to: its QR payload (a ticket's follow link or a
    receipt's tracking link), read from all the bytes the printer received."""
    codes = [e.data for e in parse(job.data) if isinstance(e, QR)]
    return codes[0] if codes else "?"


def marked(job: Job) -> bool:
    """The 重打 REPRINT banner is on the paper (it is the first block of a printout)."""
    return "重打" in "".join(text_lines(job.paper))


@dataclass
class Tally:
    """Per request: what the caller was told and every copy the printers produced."""

    told: dict[str, str] = field(default_factory=dict)
    copies: dict[str, list[Job]] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        f: Counter = Counter()
        problems: list[str] = []
        for key, told in self.told.items():
            copies = self.copies.get(key, [])
            on_paper = [c for c in copies if c.printed or c.partial]
            whole = [c for c in copies if c.printed]
            unmarked = [c for c in on_paper if not marked(c)]
            f[f"told_{told}"] += 1
            f["partial_copies"] += sum(1 for c in copies if c.partial)
            if len(unmarked) > 1:
                f["unmarked_doubles"] += 1
                problems.append(f"{key}: {len(unmarked)} unmarked copies on paper")
            if told == "printed":
                if not whole:
                    f["lost"] += 1
                    problems.append(f"{key}: told printed, {'only half' if on_paper else 'nothing'} on paper")
                elif len(on_paper) == 1:
                    f["printed_once"] += 1
                else:
                    f["printed_with_marked_reprint"] += 1
            elif whole:
                f["told_not_printed_but_on_paper"] += 1
        f["problems"] = problems
        return dict(f)


# -- the hall -------------------------------------------------------------------------------

@pytest.fixture
def hall(mini):
    printers = [mini.printer(None, line_seconds=LINE_S) for _ in range(2)]
    agent = mini.edge(queue=QUEUE, printing={"poll_s": 0.3}, printers=[
        {"id": f"printer-{i}", "host": "127.0.0.1", "port": p.port, "timeout": 1.0,
         "profile": "xprinter-xp58" if i == 2 else "epson-tm-t82"} for i, p in enumerate(printers, 1)])
    console = mini.console(agent, printing=agent.printing, alarms=agent.alarms)
    kiosk, app = mini.kiosk(test_config={"FOLLOW_URL": "http://edge.hall.lan:8081"})
    wait_for(lambda: app.extensions["hall_status"].queue is not None
             and app.extensions["hall_status"].printer_names() == {"printer-1", "printer-2"})
    yield mini, agent, printers, app, console


def login(app) -> Any:
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": "staff", "password": "correct horse 1", "csrf_token": token})
    return c


def take_ticket(client, service: str = "procedures") -> tuple[str, str, str]:
    """A resident's tap on the kiosk: (follow link, what the screen said, the page)."""
    page = client.get("/queue/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/queue/take", data={"csrf_token": token, "service": service, "priority": "no", "paper": "yes"})
    page = client.get("/queue/ticket").get_data(as_text=True)
    with client.session_transaction() as s:
        t = s["queue_ticket"]
    return t["follow"], "printed" if t["printed"] else f"failed:{t['reason']}", page


def printer_state(seen: dict[str, Any], dev: str) -> str:
    """The printer's state as kiosks get it (the retained device state on the bus)."""
    d = seen.get(dev)
    if d is None:
        return "?"
    if d.status.get("cover_open"):
        return "cover_open"
    if d.status.get("paper") == "out":
        return "paper_out"
    return "ok" if d.online else "hung"


@pytest.mark.slow
def test_printer_faults_in_the_middle_of_jobs_lose_nothing_and_double_nothing(hall, broker):
    mini, agent, printers, app, console_srv = hall
    rng = random.Random(SEED)
    kiosk = app.test_client()
    console = login(console_srv.app)
    # What kiosks see of the printers: the retained device states, as kiosk-02 gets them.
    seen: dict[str, Any] = {}
    spy = broker.client("kiosk-02", kind="kiosk", connect=False)
    receipts = PrintClient(spy)
    spy.subscribe(contract.DEVICE_STATE.filter(hall=HALL, node="edge"), lambda m: seen.__setitem__(m.parts["dev"], m.payload))
    spy.start()
    assert spy.wait_connected(10)
    wait_for(lambda: printer_state(seen, "printer-1") == printer_state(seen, "printer-2") == "ok")

    tally = Tally()
    lock = threading.Lock()
    stop = threading.Event()
    n_tickets, n_receipts = 120, 60
    qr_offered: list[bool] = []

    def tickets() -> None:
        pace = random.Random(SEED + 1)  # each thread its own draws: the seed alone decides
        for _ in range(n_tickets):
            if stop.is_set():
                return
            time.sleep(pace.uniform(0.05, 0.4))  # residents, not a loop: one tap every few tenths
            follow, told, page = take_ticket(kiosk)
            with lock:
                tally.told[follow] = told
            if told != "printed":  # the resident gets the number on screen instead
                qr_offered.append('class="qr"' in page and "<svg" in page)

    def complaint_receipts() -> None:
        pace = random.Random(SEED + 2)
        for i in range(n_receipts):
            if stop.is_set():
                return
            url = f"http://edge.hall.lan:8081/t/{1012611240000 + i}"
            outcome = receipts.print("complaint_receipt", {
                "tracking_no": str(1012611240000 + i), "kind": "投诉", "category": "环境卫生",
                "deadline": "1 个工作日内回复", "track_url": url}, timeout=8.0)
            with lock:
                tally.told[url] = "printed" if outcome.printed else f"{outcome.status}:{outcome.reason}"
            time.sleep(pace.uniform(0.1, 0.6))

    # The fault plan, drawn before anything runs so the seed alone decides it.
    plan = [(rng.choice(list(FAULTS)), rng.randint(2, 24), rng.uniform(0.3, 2.0), rng.random() < 0.15)
            for _ in range(30)]
    injected: Counter = Counter()
    shown_after: list[float] = []
    recovered_after: list[float] = []
    console_right = 0

    def faults() -> None:
        nonlocal console_right
        for kind, line, hold, both in plan:
            if stop.is_set() or not threads[0].is_alive():
                return
            # The printer the next job goes to: the kiosk's first printer while it can print.
            target = 0 if agent.printing.workers["printer-1"].can_print else 1
            victims = [target, 1 - target] if both else [target]
            fired = {i: threading.Event() for i in victims}
            for i in victims:
                printers[i].at_line(line, lambda i=i: (FAULTS[kind](printers[i]), fired[i].set()))
            for i in victims:
                if not fired[i].wait(20):  # no job reached it: take the trigger back, strike now
                    printers[i].cancel_at_line()
                    FAULTS[kind](printers[i])
                    fired[i].set()
                injected[kind] += 1
                t0 = time.monotonic()
                dev = f"printer-{i + 1}"
                wait_for(lambda: printer_state(seen, dev) == kind, timeout=15)
                shown_after.append(time.monotonic() - t0)
                page = console.get("/printers").get_data(as_text=True)
                row = page[page.index(f"<strong>{dev}</strong>"):]
                row = row[:row.index("</tr>")]
                console_right += SHOWN[kind] in row and "不能打印" in row
            time.sleep(hold)
            for i in victims:
                printers[i].hang(False)
                printers[i].set_state(OK)
            t0 = time.monotonic()
            for i in victims:
                wait_for(lambda: printer_state(seen, f"printer-{i + 1}") == "ok", timeout=15)
            recovered_after.append(time.monotonic() - t0)
            # The kiosk hears the same state on its own connection, a moment after the spy.
            wait_for(lambda: app.extensions["hall_status"].snapshot().printer_ok, timeout=15)
            time.sleep(rng.uniform(0.2, 1.0))

    errors: list[BaseException] = []

    def run(f: Callable[[], None]) -> Callable[[], None]:
        def wrapped() -> None:
            try:
                f()
            except BaseException as exc:  # handed to the test's thread below
                errors.append(exc)
                stop.set()
        return wrapped

    threads = [threading.Thread(target=run(f), daemon=True) for f in (tickets, complaint_receipts, faults)]
    started = time.monotonic()
    for t in threads:
        t.start()
    threads[0].join(600)
    threads[1].join(120)
    stop.set()
    threads[2].join(120)
    elapsed = time.monotonic() - started
    if errors:
        raise errors[0]
    assert not any(t.is_alive() for t in threads)
    # Every hung connection has been let go; give the printers a moment to print what they hold.
    wait_for(lambda: not any(agent.printing.spool.waiting(p) for p in ("printer-1", "printer-2")), timeout=30)
    time.sleep(1.0)
    for p in printers:
        for job in list(p.jobs):
            tally.copies.setdefault(job_key(job), []).append(job)
    tally.copies = {k: sorted(v, key=lambda j: j.received_at) for k, v in tally.copies.items()}
    figures = tally.figures()
    figures.update(jobs=len(tally.told), faults=dict(injected), seconds=round(elapsed, 1),
                   shown_max_s=round(max(shown_after), 2), recovered_max_s=round(max(recovered_after), 2),
                   console_right=f"{console_right}/{sum(injected.values())}")
    print("\nprinter campaign:", figures)
    assert "?" not in tally.copies  # every printout is one of the requests
    assert len(tally.told) == n_tickets + n_receipts
    assert figures["problems"] == []
    assert figures.get("lost", 0) == 0 and figures.get("unmarked_doubles", 0) == 0
    assert figures.get("partial_copies", 0) > 0  # the faults did strike mid-job
    assert figures.get("printed_with_marked_reprint", 0) > 0
    assert all(qr_offered)
    assert console_right == sum(injected.values())
    assert sum(injected.values()) >= 12
    # Printing came back by itself: the last requests went to paper with no one touching anything.
    follow, told, _ = take_ticket(kiosk)
    assert told == "printed"


# -- a sensor node gone silent among others ------------------------------------------------

ENV_NODES = ("env-01", "env-02", "env-03", "env-04")
INTERVAL_S = 1.5
"""Each node's expected reporting interval: silent for 3 of them (4.5 s) is stale."""


@pytest.fixture
def sensor_broker(tmp_path):
    """The broker fixture's mosquitto and ACL, with a password for four environment nodes
    (the shared fixture has one: its node list is the bus document's ACL matrix)."""
    import secrets

    from hall_cli.broker import Broker, free_port, render_config, write_password_file

    from .conftest import NODES, RunningBroker, stop_broker

    port = free_port()
    passwords = {n: secrets.token_urlsafe(12) for n in (*NODES, *ENV_NODES)}
    d = tmp_path / "broker"
    d.mkdir()
    write_password_file(d / "passwd", passwords)
    b = Broker(render_config(d, port=port), host="127.0.0.1", port=port)
    b.start()
    running = RunningBroker(b, "127.0.0.1", port, HALL, passwords)
    yield running
    stop_broker(running)


def test_one_silent_sensor_node_among_four_goes_stale_alone_and_comes_back(sensor_broker, tmp_path):
    from edge_agent.registry import Registry
    from hall_common.storage import open_database

    broker = sensor_broker
    mini = MiniHall(broker, tmp_path)
    agent = mini.edge(devices=[{"id": n, "kind": "env_node", "model": "SCD41", "location": f"{i} 号位",
                                "expected_interval_s": INTERVAL_S} for i, n in enumerate(ENV_NODES, 1)])
    silent = random.Random(SEED).choice(ENV_NODES)
    quiet = {n: threading.Event() for n in ENV_NODES}
    last_sent: dict[str, float] = {}
    stop = threading.Event()

    def node(name: str) -> None:
        """An ESPHome env node as simulators/env_node.py publishes: status, then readings."""
        bus = broker.client(name, kind="env_node", availability="esphome")
        bus.publish_raw(f"hall/v1/{HALL}/{name}/status", b"online", qos=1, retain=True).wait_for_publish(5)
        while not stop.is_set():
            if not quiet[name].is_set():
                bus.publish_raw(f"hall/v1/{HALL}/{name}/sensor/temperature/state", b"22.5", qos=0).wait_for_publish(5)
                last_sent[name] = time.monotonic()
            stop.wait(0.5)

    threads = [threading.Thread(target=node, args=(n,), daemon=True) for n in ENV_NODES]
    for t in threads:
        t.start()
    console_srv = mini.console(agent, printing=agent.printing, alarms=agent.alarms)
    console = login(console_srv.app)
    # The registry as the console reads it: edge.db, on a connection of this thread.
    registry = Registry(open_database(agent.db_path), stale_after=90, devices=agent.config.devices)

    def views() -> dict[str, Any]:
        return {n.node: n for n in registry.nodes() if n.node in ENV_NODES}

    def tile(name: str) -> str:
        page = console.get("/").get_data(as_text=True)
        at = page.index(name)
        return page[at:at + 400]

    try:
        wait_for(lambda: len(views()) == 4 and all(v.online for v in views().values()), timeout=15)
        quiet[silent].set()
        went_quiet = time.monotonic()
        others_always_online = True
        while not views()[silent].stale:
            others_always_online &= all(v.online for n, v in views().items() if n != silent)
            assert time.monotonic() - went_quiet < 30, f"{silent} never went stale"
            time.sleep(0.1)
        stale_after = time.monotonic() - last_sent[silent]
        assert others_always_online and all(v.online for n, v in views().items() if n != silent)
        assert "无数据 · silent" in tile(silent)
        assert all("在线 · online" in tile(n) for n in ENV_NODES if n != silent)
        alarms_for_it = [a["id"] for a in agent.alarms.active() if silent in a["id"]]
        # It speaks again: back by itself, nobody touches the console.
        quiet[silent].clear()
        spoke = time.monotonic()
        wait_for(lambda: views()[silent].online, timeout=15)
        back_after = time.monotonic() - spoke
        wait_for(lambda: "在线 · online" in tile(silent), timeout=10)
        print(f"\nsilent node: {silent} stale {stale_after:.1f} s after its last reading "
              f"(3 x {INTERVAL_S} s = {3 * INTERVAL_S} s), others online throughout, alarms raised for it: "
              f"{alarms_for_it or 'none (the design shows it on the console and /metrics only)'}, "
              f"online again {back_after:.1f} s after it spoke")
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        mini.close()


# -- the kiosk camera missing ---------------------------------------------------------------

def test_a_camera_missing_or_unplugged_leaves_the_keypad_and_comes_back_by_itself(mini, tmp_path):
    from kiosk.camera import CameraError, OpenCVCamera

    from .test_kiosk_camera import NUMBER, RECEIPT, receipt_png, write_video

    mini.edge()
    _, app = mini.kiosk()
    c = app.test_client()
    video = write_video(tmp_path / "receipt.avi", receipt_png(tmp_path / "code.png", scale=5))
    away = tmp_path / "unplugged.avi"

    def scan() -> str:
        page = c.get("/track").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = c.post("/track/scan", data={"csrf_token": token}, headers={"X-Kiosk-Nav": "1"})
        assert r.status_code == 200 and r.get_json() == {"location": "/track"}
        return c.get("/track").get_data(as_text=True)

    # Configured with a device that does not exist: a plain sentence, the keypad stays.
    app.extensions["camera"] = OpenCVCamera(str(tmp_path / "video97"))
    page = scan()
    assert "摄像头暂时无法使用" in page and 'id="number"' in page and "data-key=" in page
    # The keypad still reaches the edge: a typed number gets its answer.
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/track", data={"csrf_token": token, "number": NUMBER, "last4": "5678"})
    assert r.status_code in (200, 303)
    result = c.get("/track/result")
    assert result.status_code == 200 and NUMBER[:3] in result.get_data(as_text=True)

    # A camera that works, is unplugged while the kiosk runs, and is plugged in again.
    camera = OpenCVCamera(str(video))
    app.extensions["camera"] = camera
    assert f'value="{NUMBER}"' in scan()
    video.rename(away)
    assert "摄像头暂时无法使用" in scan()
    # Its device node left behind with no pictures (opens, not one frame): the same plain
    # sentence, not "no code seen" (kiosk/camera.py fix).
    import cv2

    empty = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    empty.release()
    with pytest.raises(CameraError, match="gives no pictures"):
        camera.scan(1)
    assert "摄像头暂时无法使用" in scan()
    away.replace(video)
    assert f'value="{NUMBER}"' in scan()  # back by itself: each scan opens the device anew
    assert RECEIPT.endswith(NUMBER)
