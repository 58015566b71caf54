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

import itertools
import json
import os
import re
import subprocess
import threading
import time
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


# -- the hall the screens show -------------------------------------------------------------

ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
QUEUE = {"hours": ALWAYS, "counters": [
    {"id": "c1", "name": "1", "services": ["procedures", "consult", "repair", "payment"]},
    {"id": "c2", "name": "2", "services": ["procedures", "consult", "repair", "payment"]},
]}
"""Open all day, two counters: every visit gets a ticket and both counters can call."""


def screens_hall(hall: Any) -> tuple[Any, Any, Any, Any]:
    """In a :class:`~tests.minihall.MiniHall`: a centre, the edge with :data:`QUEUE`, a kiosk
    and a board, once the kiosk sees the queue and the centre. ``(agent, kiosk, board,
    board_state)``; the kiosk and the board are served, with ``.url``."""
    from .conftest import wait_for

    central = hall.central()
    agent = hall.edge(centre_url=central.url, queue=QUEUE)
    kiosk, app = hall.kiosk()
    board, state = hall.display()
    status = app.extensions["hall_status"]
    wait_for(lambda: status.queue is not None and status.snapshot().centre_up, 30)
    return agent, kiosk, board, state


# -- a resident at the kiosk ---------------------------------------------------------------

def tap_home(page: Any, base: str) -> None:
    """Back to the home screen the way the kiosk's own links go (``location.replace``)."""
    page.go(base)
    page.wait(".tile-queue")


def kiosk_visit(page: "PipeTab", base: str, n: int) -> None:
    """One resident's round of the kiosk: the home screen, a queue ticket, tracking a
    request (a number too short to look up), the bills screen, the hall's information, the
    help screen, and the pinyin keyboard typing a search of the disclosures. ``n`` makes
    each visit type something a little different."""
    tap_home(page, base)
    page.tap(".tile-queue")
    page.tap("button.service")
    page.wait(".ticket-number")
    tap_home(page, base)
    page.tap(".tile-track")
    page.tap(f".key[data-key='{n % 10}']")  # too short a number: the screen says what to fix
    page.tap("button.wide-btn")
    page.wait(".error")
    tap_home(page, base)
    page.tap(".tile-bills")
    page.wait("main")
    for where in ("info", "help"):
        page.go(base + where)
        page.wait("main")
    page.go(base + "disclosures/")
    page.tap("#q", until="document.activeElement.id === 'q'")
    word, pick = (("wuye", "物业"), ("weixiu", "维修"))[n % 2]
    for typed in (word[:i] for i in range(1, len(word) + 1)):
        page.tap(f".ikey[data-ime-key='{typed[-1]}']",
                 until=f"document.querySelector('.ime-pinyin').textContent === {json.dumps(typed)}")
    page.tap(".ime-cands .cand", text=pick, until=f"document.getElementById('q').value === {json.dumps(pick)}")


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
    return subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", *launch_args(profile), f"--user-data-dir={profile}",
                             url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- Chromium driven over a pipe, with no DevTools domain on --------------------------------

class TabGone(RuntimeError):
    """Chromium ended, or its tab crashed, while the test was driving it."""


class PipeTab:
    """Chromium started as the launcher starts it (``launch_args``, headless, the kiosk
    panel's 1920x1080 set by ``Emulation.setDeviceMetricsOverride``) and driven over
    ``--remote-debugging-pipe`` with no DevTools domain enabled: Playwright keeps the
    Network, Page and Runtime domains on and holds handles into every page it drove, so
    what it measures is not the Pi's browser (the kiosk's renderer ran out of V8 heap under
    it, see bench/README.md). Here each step is one
    ``Runtime.evaluate`` returning a plain value or one mouse press at an element's
    centre (``Input.dispatchMouseEvent``), and nothing on the page side outlives a step.

    Chromium reads commands from its fd 3 and writes answers to its fd 4, each a JSON text
    ended by a NUL byte (the protocol Puppeteer's pipe transport speaks)."""

    STEP_S = 30.0
    """How long a step may wait for an element, an answer or a page: a resident's patience,
    and room for a renderer slowed by a test run on a busy 2-core machine."""

    def __init__(self, url: str, profile: Path, flags: list[str] | None = None) -> None:
        """Opens ``url`` in a Chromium on the profile folder ``profile``, with the launcher's
        flags, or ``flags`` instead (a baseline)."""
        to_chromium, self._out = os.pipe()
        self._in, from_chromium = os.pipe()

        def fds() -> None:  # in the child, before exec: the two pipe ends as fds 3 and 4
            os.dup2(to_chromium, 3)
            os.dup2(from_chromium, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", *(launch_args(profile) if flags is None else flags),
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=fds)
        os.close(to_chromium)
        os.close(from_chromium)
        self._ids = itertools.count(1)
        self._answers: dict[int, dict[str, Any]] = {}
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="cdp-pipe", daemon=True)
        self._reader.start()
        self._session: str | None = None
        self._session = self._attach()
        # Headless Chromium in kiosk mode opens an 800x600 screen, whatever the window size.
        self.send("Emulation.setDeviceMetricsOverride", width=1920, height=1080, deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", url=url)  # answered once the new document has committed
        self._until_loaded(url)

    def _attach(self) -> str:
        deadline = time.monotonic() + self.STEP_S
        while time.monotonic() < deadline:
            pages = [t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page"]
            if pages:
                return self.send("Target.attachToTarget", targetId=pages[0]["targetId"], flatten=True)["sessionId"]
            time.sleep(0.1)
        raise TabGone("Chromium opened no page")

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._in, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._arrived:
                        self._answers[message["id"]] = message
                        self._arrived.notify_all()
        with self._arrived:
            self._answers[-1] = {}  # Chromium closed the pipe
            self._arrived.notify_all()

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One command, to the tab once attached (to the browser before); its result."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        with self._arrived:
            if not self._arrived.wait_for(lambda: number in self._answers or -1 in self._answers, self.STEP_S):
                raise TabGone(f"no answer to {method} within {self.STEP_S:g} s")
            answer = self._answers.pop(number, None)
        if answer is None:
            raise TabGone(f"Chromium ended during {method} (status {self.proc.poll()})")
        if "error" in answer:
            raise TabGone(f"{method}: {answer['error'].get('message')}")
        return answer["result"]

    def evaluate(self, expression: str) -> Any:
        """``expression``'s value in the page (JSON-able), or ``None`` while the page is
        between documents."""
        try:
            result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        except TabGone:
            if self.proc.poll() is not None:
                raise
            return None  # the document went away under the call (a navigation)
        if "exceptionDetails" in result:
            return None
        return result["result"].get("value")

    def _find(self, selector: str, text: str | None) -> str:
        return (f"[...document.querySelectorAll({json.dumps(selector)})]"
                f".find(e => {json.dumps(text)} === null || e.textContent.trim() === {json.dumps(text)})")

    def wait(self, selector: str, text: str | None = None) -> dict[str, float]:
        """Waits for an element matching ``selector`` (and whose text is ``text``), scrolled
        into the screen as a resident would scroll, where a finger would reach it: the
        topmost thing at its centre, and at the same place in two looks 50 ms apart (a
        screen still laying out moves it: a tap at the old place lands on something else).
        The centre of its box."""
        probe = ("(() => { if (document.readyState !== 'complete') return null; "
                 f"const e = {self._find(selector, text)}; if (!e) return null; "
                 "e.scrollIntoView({block: 'nearest'}); const r = e.getBoundingClientRect(); "
                 "const x = r.x + r.width / 2, y = r.y + r.height / 2, top = document.elementFromPoint(x, y); "
                 "return top && e.contains(top) ? {x, y} : null; })()")
        deadline = time.monotonic() + self.STEP_S
        last = None
        while time.monotonic() < deadline:
            box = self.evaluate(probe)
            if box and box == last:
                return box
            last = box
            if self.proc.poll() is not None:
                raise TabGone(f"Chromium ended (status {self.proc.returncode})")
            time.sleep(0.05)
        seen = self.evaluate(f"(() => {{ const e = {self._find(selector, text)}, r = e && e.getBoundingClientRect(), "
                             "top = r && document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2); "
                             "return [location.href, !!e, top && (top.tagName + '#' + top.id + '.' + top.className)]; })()")
        raise TabGone(f"no {selector!r}{f' saying {text!r}' if text else ''} within {self.STEP_S:g} s "
                      f"(page, found, topmost at its centre: {seen})")

    def tap(self, selector: str, text: str | None = None, until: str | None = None) -> None:
        """A press and release of the mouse at the element's centre, as a finger would.

        With ``until`` (a script's condition), a tap on the same screen whose effect is
        known: the condition holds once the tap's click handlers have run (Chromium answers
        the release after the page handled it), and a tap that missed, because the screen
        moved between the look and the press on a machine under load, is tapped again, as a
        resident would, at most twice."""
        for _ in range(3):
            box = self.wait(selector, text)
            for kind in ("mousePressed", "mouseReleased"):
                self.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)
            if until is None or self.evaluate(until) is True:
                return
            time.sleep(0.2)
        raise TabGone(f"tapping {selector!r} three times did not make {until!r} true")

    def go(self, url: str) -> None:
        """Where the kiosk's own links go (``location.replace``, no history kept), waited
        for until the new document has loaded."""
        self.evaluate(f"window.__leaving = true; window.location.replace({json.dumps(url)}); 1")
        self._until_loaded(url)

    def _until_loaded(self, url: str) -> None:
        deadline = time.monotonic() + self.STEP_S
        while self.evaluate("!window.__leaving && document.readyState === 'complete' && location.href") != url:
            if time.monotonic() > deadline:
                raise TabGone(f"{url} did not load within {self.STEP_S:g} s")
            time.sleep(0.05)

    def snapshot(self) -> Snapshot:
        """The tab's JavaScript heap after a full collection, its DOM counters, and the
        memory of every Chromium process (none of these turns a domain on)."""
        self.send("HeapProfiler.collectGarbage")
        heap = self.send("Runtime.getHeapUsage")
        counters = self.send("Memory.getDOMCounters")
        return Snapshot(int(heap["usedSize"]), counters["nodes"], counters["documents"],
                        counters["jsEventListeners"], process_tree(self.proc.pid))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        os.close(self._out)
        self._reader.join(10)
        os.close(self._in)
