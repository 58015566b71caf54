"""Chromium's memory on the hall's screens, with the launcher's flags: no growth over visits.

Issue 20 asks whether the hall fits a Raspberry Pi beside Chromium. The kiosk and the
board each get a Chromium of their own, as on the Pi (``hall-kiosk-browser.service``,
``hall-display-browser.service``): Debian's ``/usr/bin/chromium``, headless, started with
the flags of ``firmware_configs/kiosk/chromium.flags`` (``tests/chromium_tab.py`` reads the
file the way the launcher does) on a profile in ``/dev/shm``, a tmpfs, as the launcher's is.

- The kiosk: ``--visits`` residents each go round the screens (home, a queue ticket,
  tracking a request, bills, the hall's information, help, and a search of the disclosures
  typed on the pinyin keyboard), navigating as the kiosk does, by ``location.replace``,
  in a Chromium driven over ``--remote-debugging-pipe`` with no DevTools domain on
  (``PipeTab``): under Playwright, whose sessions hold handles into every page it drove,
  the kiosk's renderer ran out of V8 heap in some runs, which is not the Pi's browser.
- The board: open while ``--calls`` numbers are called at the counters, each waited for on
  the board; its voice clips play at 16 times their speed (``FAST_AUDIO``), every clip still
  fetched, decoded and played to its end.

After the first 10 and after all of them: the tab's JavaScript heap in use after a forced
garbage collection and its DOM nodes (Chrome DevTools Protocol), and every Chromium
process's RSS and PSS (``/proc/PID/smaps_rollup``). Playwright keeps DevTools' Network
domain on, which holds a copy of every response body in the renderer (for the board's voice
clips about 0.4 MB a call): so the board is measured a second time in a Chromium started as
the launcher starts it with nothing attached (``launch_bare``), its voice at its real speed,
``--bare-calls`` calls 4.5 s apart (a chime and a phrase), its processes' memory read the
same way. (As root, both add ``--no-sandbox``, as Playwright does.) PSS adds up to what Chromium costs the
Pi; on a machine where other Chromiums run (other test runs) it moves with them, RSS does
not. ``--baseline 1`` runs the same with Chromium's own defaults instead of the launcher's
flags (an off-the-record context, as the launcher's ``--incognito`` gave before issue 20).

    .venv/bin/python bench/chromium_memory.py                 # 100 visits, 100 + 60 calls
    .venv/bin/python bench/chromium_memory.py --visits 20 --calls 20 --bare-calls 0 --baseline 1
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from harness import broker, machine, options, scratch

from tests import chromium_tab
from tests.chromium_tab import FAST_AUDIO, PipeTab, Snapshot, board_calls, kiosk_visit, screens_hall, snapshot

FIRST = 10
"""The figures are taken after this many visits (or calls), and again after all of them."""


def browser(p: Any, profile: Path, baseline: bool) -> tuple[Any, Any]:
    """``(context, page)``: Chromium as the launcher starts it, or with its own defaults."""
    if not baseline:
        context = chromium_tab.launch(p, profile, has_touch=True)
        return context, context.pages[0]
    b = p.chromium.launch(executable_path=chromium_tab.CHROMIUM)
    context = b.new_context(viewport={"width": 1920, "height": 1080}, has_touch=True)
    return context, context.new_page()


def measure(step: Callable[[Any, int], None], page: Any, total: int,
            look: Callable[[Any], Snapshot] = snapshot) -> tuple[Snapshot, Snapshot, float]:
    """``step(page, n)`` ``total`` times: the snapshots (``look(page)``) after ``FIRST``
    and after ``total``."""
    t0 = time.monotonic()
    first = None
    for n in range(total):
        step(page, n)
        if n + 1 == FIRST:
            first = look(page)
    last = look(page)
    return first or last, last, time.monotonic() - t0


def kiosk_tab(kiosk_url: str, visits: int, baseline: bool) -> tuple[Snapshot, Snapshot, float]:
    """The kiosk's visits in :class:`~tests.chromium_tab.PipeTab`: nothing attached but a
    pipe, the launcher's flags or (``baseline``) Chromium's defaults, off the record."""
    with tempfile.TemporaryDirectory(dir="/dev/shm") as profile:
        tab = PipeTab(kiosk_url, Path(profile), flags=["--incognito"] if baseline else None)
        try:
            return measure(lambda t, n: kiosk_visit(t, kiosk_url, n), tab, visits, PipeTab.snapshot)
        finally:
            tab.close()


def run(d: Path, visits: int, calls: int, baseline: bool, bare_calls: int) -> dict[str, tuple[Snapshot, Snapshot, float]]:
    from playwright.sync_api import sync_playwright

    from kiosk.ime import INDEX_PATH
    from kiosk.ime_build import ensure
    from tests.conftest import NODES
    from tests.minihall import MiniHall

    ensure(INDEX_PATH)
    results: dict[str, tuple[Snapshot, Snapshot, float]] = {}
    with broker(d, NODES) as running:
        hall = MiniHall(running, d)
        try:
            agent, kiosk, board, _ = screens_hall(hall)
            with sync_playwright() as p:
                results["kiosk"] = kiosk_tab(kiosk.url, visits, baseline)
                for _ in range(calls + bare_calls):
                    agent.queue.answer("ticket", "kiosk-02", {"request": str(uuid.uuid4()), "service": "procedures"})
                counter = iter(range(10**6))

                def call() -> str:
                    return agent.queue.act(f"c{next(counter) % 2 + 1}", "next")["ticket"]

                with tempfile.TemporaryDirectory(dir="/dev/shm") as profile:
                    context, page = browser(p, Path(profile), baseline)
                    context.add_init_script(FAST_AUDIO)
                    page.goto(board.url)
                    page.wait_for_function("!document.body.classList.contains('offline')")
                    results["board"] = measure(lambda pg, n: board_calls(pg, call, 1), page, calls)
                    context.close()
            if bare_calls and not baseline:
                results["board, nothing attached"] = bare_board(board.url, call, bare_calls)
        finally:
            hall.close()
    return results


def bare_board(board_url: str, call: Callable[[], str], calls: int) -> tuple[Snapshot, Snapshot, float]:
    """The board in :func:`~tests.chromium_tab.launch_bare`'s Chromium: process memory only
    (the heap and DOM need DevTools), after ``FIRST`` calls and after ``calls``."""
    from tests.chromium_tab import launch_bare, process_tree

    with tempfile.TemporaryDirectory(dir="/dev/shm") as profile:
        proc = launch_bare(board_url, Path(profile))
        try:
            time.sleep(5)  # started, the page open and its event stream connected
            t0 = time.monotonic()
            first = None
            for n in range(calls):
                call()
                time.sleep(4.5)
                if n + 1 == FIRST:
                    first = Snapshot(0, 0, 0, 0, process_tree(proc.pid))
            last = Snapshot(0, 0, 0, 0, process_tree(proc.pid))
            return first or last, last, time.monotonic() - t0
        finally:
            proc.terminate()
            proc.wait(30)


def row(screen: str, done: int, s: Snapshot) -> str:
    kinds = s.by_kind()
    renderers, renderer_rss, renderer_pss = kinds.get("renderer", (0, 0.0, 0.0))
    heap = f"{s.js_heap_used / 2**20:.2f} MB" if s.nodes else "–"
    return (f"| {screen} | {done} | {heap} | {s.nodes or '–'} | {len(s.processes)} ({renderers}) | "
            f"{renderer_rss:.1f} / {renderer_pss:.1f} MB | {s.rss_mb:.1f} MB | {s.pss_mb:.1f} MB |")


def report(results: dict[str, tuple[Snapshot, Snapshot, float]], visits: int, calls: int, bare_calls: int) -> str:
    lines = ["| screen | visits or calls | JS heap after GC | DOM nodes | processes (renderers) | "
             "renderer RSS / PSS | Chromium RSS (all) | Chromium PSS (all) |", "|---|---|---|---|---|---|---|---|"]
    screens = [("kiosk", visits), ("board", calls), ("board, nothing attached", bare_calls)]
    screens = [(screen, total) for screen, total in screens if screen in results]
    for screen, total in screens:
        first, last, _ = results[screen]
        lines += [row(screen, min(FIRST, total), first), row(screen, total, last)]
    lines.append("")
    for screen, total in screens:
        first, last, seconds = results[screen]
        r0, r1 = first.by_kind().get("renderer", (0, 0.0, 0.0))[1], last.by_kind().get("renderer", (0, 0.0, 0.0))[1]
        lines.append(f"{screen}: {total} in {seconds:.0f} s; from {min(FIRST, total)} to {total}: "
                     f"JS heap {(last.js_heap_used - first.js_heap_used) / 1024:+.0f} KB, DOM nodes "
                     f"{last.nodes - first.nodes:+d}, renderer RSS {r1 - r0:+.1f} MB, all RSS "
                     f"{last.rss_mb - first.rss_mb:+.1f} MB, all PSS {last.pss_mb - first.pss_mb:+.1f} MB")
    return "\n".join(lines)


def version() -> str:
    import subprocess

    return subprocess.run([chromium_tab.CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    args = options(__doc__, visits=100, calls=100, baseline=0, bare_calls=60)
    with scratch() as d:
        results = run(d, args.visits, args.calls, bool(args.baseline), args.bare_calls)
    print(report(results, args.visits, args.calls, args.bare_calls))
    flags = "Chromium's defaults (off the record)" if args.baseline else "the launcher's flags"
    print(f"\n{flags}; machine: {machine()}; {version()}; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
