"""The queue's speeds, on one machine with real parts (mosquitto, edge agent with SQLite,
kiosk app under waitress, virtual printer over TCP, the board in headless Chromium):

1. kiosk tap → last ticket byte at the printer: the HTTP POST of the service button, the
   ``ticket`` request, the ``print`` request, the printer's cut (goal p99 ≤ 50 ms);
2. counter call → the number visible on the board in Chromium, pushed by server-sent
   events (goal p99 ≤ 300 ms);
3. tickets per second with three kiosks asking at once, and the duplicates found (goal 0).

The baseline for (1), measured in the same run, is the ``ticket`` request alone over the
bus: what the kiosk page and the printing add on top of the queue itself.

Run:

    .venv/bin/python bench/queue_latency.py [--n 200] [--calls 60] [--burst 300]
"""

from __future__ import annotations

import http.cookiejar
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from functools import partial

from harness import (
    ALWAYS, HALL, HALL_NAME, broker, broker_settings, machine, options, pct, run_together, scratch, serve, start_edge,
)

import hall_display
import kiosk
from edge_agent.agent import EdgeAgent
from hall_common.bus.client import BusClient
from hall_common.config import DisplayConfig, KioskConfig
from hall_display.board import BoardState
from kiosk.status import HallStatus
from simulators.printer import VirtualPrinter

NODES = ("edge", "kiosk-01", "kiosk-02", "kiosk-03", "display-01")


def taps(url: str, printer: VirtualPrinter, n: int) -> list[float]:
    """Tap a service button n times (a fresh visit each time): POST → the printer's cut."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    out = []
    for _ in range(n):
        page = opener.open(url + "queue/", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"csrf_token": token, "service": "consult", "priority": "no",
                                       "paper": "yes"}).encode()
        req = urllib.request.Request(url + "queue/take", data=body, headers={"X-Kiosk-Nav": "1"})
        before = len(printer.jobs)
        t0 = time.time()
        opener.open(req, timeout=10).read()
        while len(printer.jobs) <= before:
            time.sleep(0.0005)
        out.append((printer.jobs[-1].received_at - t0) * 1000)
    return out


def bare_tickets(kiosk_bus: BusClient, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        kiosk_bus.request("ticket", {"request": str(uuid.uuid4()), "service": "consult"})
        out.append((time.perf_counter() - t0) * 1000)
    return out


def burst(buses: list[BusClient], total: int) -> tuple[float, int, int]:
    """Three kiosks at once: tickets per second, duplicates, and gaps in the numbers."""
    codes: list[str] = []
    lock = threading.Lock()

    def take(b: BusClient) -> None:
        for _ in range(total // len(buses)):
            code = b.request("ticket", {"request": str(uuid.uuid4()), "service": "payment"}, timeout=10)["code"]
            with lock:
                codes.append(code)

    elapsed = run_together(partial(take, b) for b in buses)
    numbers = sorted(int(c[1:]) for c in codes)
    duplicates = len(numbers) - len(set(numbers))
    gaps = (numbers[-1] - numbers[0] + 1) - len(set(numbers))
    return len(codes) / elapsed, duplicates, gaps


def board_calls(agent: EdgeAgent, board_url: str, calls: int) -> list[float]:
    """Counter call → the number drawn in the counter's box on the board (a
    MutationObserver notes the time)."""
    from playwright.sync_api import sync_playwright

    for _ in range(calls):
        agent.queue.engine.issue("procedures", kiosk="kiosk-01")
    agent.queue.publish_state()
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(board_url)
        page.wait_for_function("!document.body.classList.contains('offline')")
        # The counter's own box shows its number as soon as the state arrives; the big
        # "now calling" box follows the voice, one call after another, by design.
        page.evaluate("""() => { window.__seen = {};
            new MutationObserver(() => { const box = document.querySelector('[data-counter=c1] .ticket');
              const t = box && box.textContent;
              if (t && !(t in window.__seen)) window.__seen[t] = Date.now(); })
            .observe(document.getElementById('counters'), {subtree: true, childList: true, characterData: true}); }""")
        for _ in range(calls):
            t0 = time.time() * 1000
            code = agent.queue.act("c1", "next")["ticket"]
            page.wait_for_function("(code) => code in window.__seen", arg=code, timeout=10000)
            out.append(page.evaluate("(code) => window.__seen[code]", code) - t0)
            time.sleep(0.05)
        browser.close()
    return out


def main() -> None:
    args = options(__doc__, n=200, calls=60, burst=300)
    with scratch() as d, broker(d, NODES) as running:
        printer = VirtualPrinter(port=0)
        printer.start()
        agent = start_edge(
            d, running.port,
            printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port, "profile": "gp-80250"}],
            printing={"poll_s": 30},
            queue={"hours": ALWAYS, "counters": [{"id": "c1", "name": "1", "services": ["procedures", "consult"]},
                                                 {"id": "c3", "name": "3", "services": ["payment"]}]},
        )
        common = {"hall_id": HALL, "hall_name": HALL_NAME, "http": {"port": 1}}
        kcfg = KioskConfig(**common, node_id="kiosk-01", data_dir=d / "kiosk",
                           broker=broker_settings(d, running.port, "kiosk-01"),
                           settings={"info": {"service_phone": "028-1000", "complaint_phone": "028-2000"}, "hours": ALWAYS},
                           follow_url="http://127.0.0.1:1")
        kbus = running.client("kiosk-01", kind="kiosk", connect=False)
        app = kiosk.create_app(kcfg, HallStatus(kbus), kbus)
        kbus.start()
        dcfg = DisplayConfig(**common, node_id="display-01", data_dir=d / "display",
                             broker=broker_settings(d, running.port, "display-01"), voice=False)
        dbus = running.client("display-01", kind="display", connect=False)
        board = BoardState()
        board.follow(dbus)
        dbus.start()
        others = [running.client(node, kind="kiosk") for node in ("kiosk-02", "kiosk-03")]
        kiosk_site, board_site = serve(app), serve(hall_display.create_app(dcfg, board))
        try:
            for b in (kbus, dbus):
                assert b.wait_connected(10)
            status = app.extensions["hall_status"]
            while status.queue is None or not status.snapshot().printer_ok:
                time.sleep(0.05)
            taps(kiosk_site.url, printer, 10)  # warm up
            tap = taps(kiosk_site.url, printer, args.n)
            bare = bare_tickets(kbus, args.n)
            rate, duplicates, gaps = burst([kbus, *others], args.burst)
            board_ms = board_calls(agent, board_site.url, args.calls)
        finally:
            kiosk_site.stop()
            board_site.stop()
            agent.close()
            printer.stop()
    print(f"machine: {machine()}")
    print(f"kiosk tap -> last ticket byte   p50 {pct(tap, 50):.2f} ms  p99 {pct(tap, 99):.2f} ms  "
          f"(n={args.n}; goal p99 <= 50 ms)")
    print(f"baseline: ticket request alone  p50 {pct(bare, 50):.2f} ms  p99 {pct(bare, 99):.2f} ms; "
          f"ratio at p50 {pct(tap, 50) / pct(bare, 50):.1f}")
    print(f"counter call -> board in Chromium  p50 {pct(board_ms, 50):.1f} ms  p99 {pct(board_ms, 99):.1f} ms  "
          f"(n={args.calls}; goal p99 <= 300 ms)")
    print(f"three kiosks at once: {rate:.0f} tickets/s ({args.burst} tickets), duplicates {duplicates}, gaps {gaps}")


if __name__ == "__main__":
    main()
