"""Chromium as the hall's screens run it, and what its tab holds in memory.

The flags are the launcher's own list, ``firmware_configs/kiosk/chromium.flags``, read here
the way ``launch-chromium.sh`` reads it, so the benchmark (``bench/chromium_memory.py``)
and the tests measure the browser the Pi runs. Memory is read three ways: the page's
JavaScript heap after a forced garbage collection and its DOM node count (Chrome DevTools
Protocol ``HeapProfiler.collectGarbage`` and ``Performance.getMetrics``), and each Chromium
process's resident and proportional set size from ``/proc/PID/smaps_rollup`` (the
processes as the browser lists them: ``SystemInfo.getProcessInfo``). PSS splits the pages
the processes share, so the PSS of all of them adds up to what Chromium costs the Pi.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
FLAGS_FILE = ROOT / "firmware_configs" / "kiosk" / "chromium.flags"
CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium, never a browser Playwright downloads."""

FAST_AUDIO = """
(() => {
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () { this.playbackRate = 16; return play.call(this); };
})();
"""
"""Run before the board's script: its voice clips play at 16 times their speed (Chromium's
fastest), so a hundred calls take seconds, not minutes; each is still decoded and played
through to its ``ended`` event, the way the board waits for it."""


def launcher_flags(path: Path = FLAGS_FILE) -> list[str]:
    """The flags ``launch-chromium.sh`` gives Chromium: one a line, ``#`` lines and blank
    lines skipped, leading and trailing blanks dropped (the launcher's reading)."""
    flags = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("--") or any(c.isspace() for c in line):
            raise ValueError(f"{path.name}:{number}: not one flag: {raw!r}")
        flags.append(line)
    return flags


def launch_args(profile: Path) -> list[str]:
    """Everything the launcher passes but the URL, for a profile folder ``profile``
    (Playwright gives ``--user-data-dir`` itself, from ``launch_persistent_context``)."""
    return [*launcher_flags(), f"--disk-cache-dir={profile / 'cache'}"]


def launch(playwright: Any, profile: Path, **context: Any) -> Any:
    """Headless Chromium with the launcher's flags on the profile folder ``profile`` (a
    tmpfs, as on the Pi), its first page the size of the kiosk's 1920x1080 panel. A
    persistent context, not ``new_context()``: that one is off the record, with its HTTP
    cache in memory and unbounded by ``--disk-cache-size``, which the Pi's is not."""
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=launch_args(profile),
        viewport={"width": 1920, "height": 1080}, **context)


@dataclass
class ProcessMemory:
    kind: str
    pid: int
    rss_kb: int
    pss_kb: int


@dataclass
class Snapshot:
    """One look at the browser and its tab."""

    js_heap_used: int
    """Bytes of the tab's JavaScript heap in use, after a full garbage collection."""
    nodes: int
    """DOM nodes alive in the tab's renderer (detached ones too, until collected)."""
    documents: int
    listeners: int
    processes: list[ProcessMemory] = field(default_factory=list)

    @property
    def pss_mb(self) -> float:
        return sum(p.pss_kb for p in self.processes) / 1024

    @property
    def rss_mb(self) -> float:
        return sum(p.rss_kb for p in self.processes) / 1024

    def by_kind(self) -> dict[str, tuple[int, float, float]]:
        """Per process type (browser, renderer, GPU, the network service ...): how many,
        their RSS and PSS in MB."""
        out: dict[str, tuple[int, float, float]] = {}
        for p in self.processes:
            n, rss, pss = out.get(p.kind, (0, 0.0, 0.0))
            out[p.kind] = (n + 1, rss + p.rss_kb / 1024, pss + p.pss_kb / 1024)
        return out


def smaps_rollup(pid: int) -> tuple[int, int]:
    """``(Rss, Pss)`` in kB of a process; zeros once it is gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


KINDS = {"network.mojom.NetworkService": "network", "storage.mojom.StorageService": "storage"}


def processes(context: Any) -> list[ProcessMemory]:
    """Every process of the browser that ``context`` belongs to, with its memory."""
    session = context.browser.new_browser_cdp_session()
    try:
        info = session.send("SystemInfo.getProcessInfo")["processInfo"]
    finally:
        session.detach()
    return [ProcessMemory(KINDS.get(p["type"], p["type"]), p["id"], *smaps_rollup(p["id"])) for p in info]


def snapshot(page: Any) -> Snapshot:
    """The tab's memory after a full garbage collection, and its browser's processes."""
    session = page.context.new_cdp_session(page)
    try:
        session.send("HeapProfiler.collectGarbage")
        session.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}
    finally:
        session.detach()
    return Snapshot(int(metrics["JSHeapUsedSize"]), int(metrics["Nodes"]), int(metrics["Documents"]),
                    int(metrics["JSEventListeners"]), processes(page.context))


# -- a resident at the kiosk ---------------------------------------------------------------

def tap_home(page: Any, base: str) -> None:
    """Back to the home screen the way the kiosk's own links go (``location.replace``)."""
    page.evaluate("url => window.location.replace(url)", base)
    page.wait_for_selector(".tile-queue")


def kiosk_visit(page: Any, base: str, n: int) -> None:
    """One resident's round of the kiosk: the home screen, a queue ticket, tracking a
    request (a number too short to look up), the bills screen, the hall's information, the
    help screen, and the pinyin keyboard typing a search of the disclosures. ``n`` makes
    each visit type something a little different."""
    tap_home(page, base)
    page.click(".tile-queue")
    page.click("button.service >> nth=0")
    page.wait_for_selector(".ticket-number")
    tap_home(page, base)
    page.click(".tile-track")
    page.click(f".key[data-key='{n % 10}']")  # too short a number: the screen says what to fix
    page.click("button.wide-btn")
    page.wait_for_selector(".error")
    tap_home(page, base)
    page.click(".tile-bills")
    page.wait_for_selector("main")
    for where in ("info", "help"):
        page.evaluate("url => window.location.replace(url)", base + where)
        page.wait_for_selector("main")
    page.evaluate("url => window.location.replace(url)", base + "disclosures/")
    page.click("#q")
    word, pick = (("wuye", "物业"), ("weixiu", "维修"))[n % 2]
    for ch in word:
        page.click(f".ikey[data-ime-key='{ch}']")
    page.click(f".ime-cands .cand:text-is('{pick}')")


# -- the board while numbers are called ---------------------------------------------------

def board_calls(page: Any, call: Callable[[], str], count: int) -> None:
    """``count`` numbers called (``call()`` calls one and returns its ticket), each waited
    for until the board shows it: it shows a call once the one before has been spoken."""
    for _ in range(count):
        ticket = call()
        page.wait_for_function("t => document.getElementById('latest-ticket').textContent === t", arg=ticket)


# -- Chromium with nothing attached -------------------------------------------------------

def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (Chromium's zygotes fork the renderers)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def process_tree(pid: int) -> list[ProcessMemory]:
    """The memory of Chromium's processes under the browser ``pid``, each named by its
    ``--type=`` (``browser`` for the one without)."""
    out = []
    for p in descendants(pid):
        try:
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        # A child rewrites its command line into one string: look for the flag anywhere.
        found = re.search(rb"--type=([\w.-]+)", cmdline)
        kind = found.group(1).decode() if found else "browser"
        out.append(ProcessMemory(kind, p, *smaps_rollup(p)))
    return out


def launch_bare(url: str, profile: Path) -> Any:
    """Chromium started as the launcher starts it (its flags, ``--user-data-dir`` and
    ``--disk-cache-dir``, the URL), headless, with no DevTools client attached: Playwright
    keeps the Network domain on, whose copies of every response body grow the renderer
    (the board's voice clips: about 0.4 MB a call), which the Pi's Chromium does not do.
    Returns the ``subprocess.Popen``; the caller terminates it."""
    import subprocess

    return subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", *launch_args(profile), f"--user-data-dir={profile}",
                             url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
