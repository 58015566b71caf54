"""The hall's screens in Chromium as the Pi runs it (the launcher's flags, headless): the
kiosk's tab does not grow over visits nor the board's over many calls, and the benchmark
measures that browser. The kiosk is driven over a pipe with no DevTools domain on
(:class:`~tests.chromium_tab.PipeTab`): driven by Playwright, its renderer ran out of V8
heap in some runs (bench/README.md), which a Chromium with nothing attached does not show.

Growth is judged on what does not depend on timing or on other processes of the machine:
the JavaScript heap after a forced full garbage collection and the DOM node count, each
against the same tab earlier in the test, with generous margins (a leak of one list entry
or one element per visit or call exceeds them; noise of a few KB does not)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from . import chromium_tab
from .chromium_tab import FAST_AUDIO, PipeTab, board_calls, kiosk_visit, launcher_flags, screens_hall, snapshot
from .test_deployment import LAUNCHER, fake_chromium, launcher_env, launches

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "chromium_memory.py"
HEAP_MARGIN = 256 * 1024
"""Bytes the heap may differ by between two looks at the same screen: a few KB is noise."""


@pytest.fixture
def tab(playwright, tmp_path):
    """A function opening Chromium as the launcher starts it, on a profile under
    ``tmp_path``; every browser it opened is closed after the test."""
    opened = []

    def open_tab(**context):
        profile = tmp_path / f"profile-{len(opened)}"
        ctx = chromium_tab.launch(playwright, profile, **context)
        opened.append(ctx)
        return ctx, ctx.pages[0]

    yield open_tab
    for ctx in opened:
        ctx.close()


def test_the_launcher_and_the_bench_give_chromium_one_list_of_flags(tmp_path: Path) -> None:
    chromium, record = fake_chromium(tmp_path)
    env = launcher_env(tmp_path, CHROMIUM=str(chromium), MAX_RESTARTS="0", SCREEN_POLL="0")
    result = subprocess.run(["bash", str(LAUNCHER), "http://127.0.0.1:1/"], env=env, capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    [args] = launches(record)
    [profile] = [a.removeprefix("--user-data-dir=") for a in args if a.startswith("--user-data-dir=")]
    launched = [a for a in args[:-1] if a != f"--user-data-dir={profile}"]
    assert launched == chromium_tab.launch_args(Path(profile))
    # No copy of a flag anywhere else: the bench and the helper take them from the file.
    for source in (BENCH, Path(chromium_tab.__file__)):
        text = source.read_text(encoding="utf-8")
        assert not [f for f in launcher_flags() if f in text], source.name
    assert "chromium_tab.launch(" in BENCH.read_text(encoding="utf-8")


def test_launcher_flags_reject_a_line_that_is_not_one_flag(tmp_path: Path) -> None:
    bad = tmp_path / "chromium.flags"
    bad.write_text("# fine\n--kiosk\n--a --b\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"chromium.flags:3: not one flag"):
        launcher_flags(bad)


def test_the_browser_runs_with_those_flags_and_one_renderer(tab) -> None:
    """Chromium itself got every flag, and shows a page with one renderer process (no
    preloaded address-bar popup, no spare renderer)."""
    context, page = tab()
    page.goto("data:text/html,<p>kiosk</p>")
    procs = chromium_tab.processes(context)
    [browser] = [p for p in procs if p.kind == "browser"]
    cmdline = Path(f"/proc/{browser.pid}/cmdline").read_bytes().decode().split("\0")
    assert set(launcher_flags()) <= set(cmdline)
    assert [p.kind for p in procs].count("renderer") == 1, procs


@pytest.fixture
def hall(mini):
    return screens_hall(mini)


@pytest.mark.slow
def test_the_kiosk_tab_does_not_grow_over_visits(hall, tmp_path) -> None:
    """Thirty residents' rounds of every screen (a ticket, a lookup refused, bills,
    information, help, the pinyin keyboard): the tab's heap after a collection and its DOM
    are what they were after ten, and one renderer serves every page."""
    _, kiosk, _, _ = hall
    tab = PipeTab(kiosk.url, tmp_path / "profile")
    try:
        for n in range(10):
            kiosk_visit(tab, kiosk.url, n)
        first = tab.snapshot()
        for n in range(10, 30):
            kiosk_visit(tab, kiosk.url, n)
        last = tab.snapshot()
        typed = tab.evaluate("document.getElementById('q').value")
    finally:
        tab.close()
    assert typed == "维修"  # the last visit's search, typed on the pinyin keyboard
    assert last.js_heap_used <= first.js_heap_used + HEAP_MARGIN, (first, last)
    assert last.nodes <= first.nodes + 50 and last.documents <= first.documents, (first, last)
    assert [p.kind for p in last.processes].count("renderer") == 1, last.processes


def test_a_pipe_tab_taps_where_a_finger_would(mini, tmp_path) -> None:
    """The driver the kiosk's test stands on: a tap reaches the element it names (the
    keypad's digit lands in the field), and an element covered by another is not tapped
    but waited for, then named in the error."""
    kiosk, _ = mini.kiosk()
    tab = PipeTab(kiosk.url + "track", tmp_path / "profile")
    try:
        tab.tap(".key[data-key='7']")
        tab.tap(".key[data-key='3']")
        assert tab.evaluate("document.getElementById('number').value") == "73"
        tab.evaluate("const c = document.createElement('div'); c.style.cssText = "
                     "'position:fixed;inset:0;z-index:99'; document.body.append(c); 1")
        tab.STEP_S = 1.0
        with pytest.raises(chromium_tab.TabGone, match=r"no \".key\[data-key='5'\]\" within 1 s \(page, found, "
                           r"topmost at its centre: \['http://[^']+/track', True, 'DIV#\.'\]\)"):
            tab.tap(".key[data-key='5']")
        assert tab.evaluate("document.getElementById('number').value") == "73"
    finally:
        tab.close()


@pytest.mark.slow
def test_the_board_tab_does_not_grow_and_forgets_old_calls(hall, tab) -> None:
    """More calls than the board remembers: its DOM and heap stay as they were after ten,
    it keeps the ids of the last ``KEEP`` calls only, and still speaks each call once."""
    agent, _, board, state = hall
    context, page = tab()
    context.add_init_script(FAST_AUDIO)
    page.goto(board.url)
    page.wait_for_function("!document.body.classList.contains('offline')")
    keep = page.evaluate("window.__board.keep")
    for _ in range(keep + 20):
        agent.queue.answer("ticket", "kiosk-02", {"request": str(uuid.uuid4()), "service": "procedures"})
    counter = iter(range(10**6))

    def call() -> str:
        return agent.queue.act(f"c{next(counter) % 2 + 1}", "next")["ticket"]

    board_calls(page, call, 10)
    first = snapshot(page)
    board_calls(page, call, keep + 10)
    last = snapshot(page)
    spoken = page.evaluate("window.__board.spoken")
    assert len(spoken) == len(set(spoken)) == keep  # the last KEEP, none twice
    recent = [c.call.id for c in state.calls_after(0)]  # the server keeps fewer
    assert spoken[-len(recent):] == recent  # in the order called
    assert last.nodes <= first.nodes + 20, (first, last)
    assert last.js_heap_used <= first.js_heap_used + HEAP_MARGIN, (first, last)


OLDER_CHROMIUM_ONLY = {"ozone-platform-hint"}
"""Flags chromium.flags keeps for the Chromium of an older Raspberry Pi OS image; it says why."""


def test_every_flag_is_one_this_chromium_knows() -> None:
    """Chromium ignores a flag it does not know, silently: each switch's name must be in the
    installed binary (switch names are kept there as strings)."""
    binary = Path("/usr/lib/chromium/chromium")
    if not binary.exists():
        pytest.skip("Debian's Chromium is not installed here")
    data = binary.read_bytes()
    names = {f[2:].split("=", 1)[0] for f in launcher_flags()}
    unknown = sorted(n for n in names if n.encode() + b"\0" not in data)
    assert unknown == sorted(OLDER_CHROMIUM_ONLY), unknown
