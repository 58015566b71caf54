"""A full disk, for real: a small tmpfs mounted under the test's folder holds a part's data
directory and is filled with a file until the kernel answers ENOSPC.

Asserted: nothing is corrupted (SQLite's integrity_check, the applied configuration byte for
byte, no cut voice file, no temporary file left), and people get a clear state: the
kiosk's screens show staff a banner and keep serving residents (a ticket is taken through
it), ``/healthz`` says ``disk_full``, the edge raises an alarm for the kiosk, the staff
console shows the edge's own full disk, ``hall doctor`` fails with a plain line. Freeing
the space clears every state by itself.

The tests run as root (the project's machines and CI do): mounting is part of the test,
and a test that cannot mount fails, it is not skipped.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
import wave
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central_sync.signing import public_key_b64, sign
from hall_common import disk, logs
from hall_common.bus import contract
from hall_common.private_files import write_private
from hall_common.voice import Voice, VoiceError

from .conftest import HALL, wait_for
from .minihall import SETTINGS
from .screens import check_screen, staff_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "disk-full"
ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
FULL_BANNER = "本机存储空间已满，请联系工作人员"


# -- a real full filesystem ---------------------------------------------------------------------

@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """``path`` as a tmpfs of ``size`` (``4m``) for the duration; unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs on {path} (the disk-full tests need root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            # Still busy (a daemon thread's file): detach it now, the kernel frees it later.
            subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path) -> Path:
    """Fill ``folder``'s filesystem with one file until the kernel says ENOSPC."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 16, 1 << 12, 1):
            block = b"\0" * chunk
            try:
                while True:
                    os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    assert disk.DiskWatch(folder).free_bytes() == 0
    return filler


def leave_free(filler: Path, nbytes: int) -> None:
    """Give back the last ``nbytes`` of the filler: a disk with only that much room."""
    os.truncate(filler, filler.stat().st_size - nbytes)


def console_login(app):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "staff", "password": "correct horse 1", "csrf_token": token})
    return client


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


# -- the write paths themselves -----------------------------------------------------------------

def test_write_private_on_a_full_disk_keeps_the_old_file_whole(tmp_path):
    """Found here: ``os.write`` on an almost full disk writes part of the data and returns a
    short count without an error, so the old ``write_private`` replaced the file with a cut
    copy. Now the rest is written too, which fails, and the old file stays."""
    with tmpfs(tmp_path / "fs", "4m") as fs:
        target = fs / "applied-config.json"
        write_private(target, b"old " * 100)
        filler = fill(fs)
        leave_free(filler, 8192)  # room for two pages of the 40 KB the new file needs
        with pytest.raises(OSError) as failed:
            write_private(target, b"new " * 10_000)
        assert failed.value.errno == errno.ENOSPC
        assert target.read_bytes() == b"old " * 100
        assert sorted(p.name for p in fs.iterdir()) == ["applied-config.json", "filler.bin"]  # no temporary left
        watch = disk.DiskWatch(fs, min_free_mb=1)
        assert watch.write_failed("applied-config.json", failed.value)
        assert watch.state().full and watch.state().failed == "applied-config.json"
        filler.unlink()
        state = watch.state()
        assert not state.full and state.failed is None  # freed: cleared by itself
        write_private(target, b"new " * 10_000)
        assert target.read_bytes() == b"new " * 10_000


def test_the_voice_cache_never_keeps_a_cut_file(tmp_path):
    """Found here: espeak-ng's ``-w`` answers 0 on a full disk and leaves an empty or cut
    WAV, which the cache then served for good. Now the phrase is synthesised to memory and
    written whole or not at all."""
    with tmpfs(tmp_path / "fs", "1m") as fs:
        voice = Voice(fs / "voice")
        key = voice.register("请选择您需要办理的业务，然后取号等候叫号。", "zh")
        filler = fill(fs)
        leave_free(filler, 8192)  # less than the phrase (about 100 KB)
        with pytest.raises(VoiceError) as failed:
            voice.wav(key)
        assert disk.is_disk_full(failed.value.__cause__)
        assert list((fs / "voice").iterdir()) == []
        filler.unlink()
        path = voice.wav(key)
        with wave.open(str(path)) as w:
            assert w.getnframes() > 10_000
            assert len(w.readframes(w.getnframes())) == w.getnframes() * w.getsampwidth()
        assert path.stat().st_size == 44 + w.getnframes() * 2


def test_logging_to_a_full_disk_does_not_crash_and_recovers(tmp_path, capfd):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with tmpfs(tmp_path / "fs", "1m") as fs:
        log_file = fs / "kiosk.log"
        try:
            logs.configure(hall=HALL, node="kiosk-01", file=log_file)
            filler = fill(fs)
            for i in range(2000):
                logging.getLogger("kiosk.test").info("line %d while the disk is full %s", i, "x" * 200)
            filler.unlink()
            logging.getLogger("kiosk.test").warning("room again")
            for handler in root.handlers:
                handler.flush()
            assert "room again" in log_file.read_text(encoding="utf-8")
        finally:
            for handler in list(root.handlers):
                root.removeHandler(handler)
                handler.close()
            for handler in handlers:
                root.addHandler(handler)
            root.setLevel(level)
    capfd.readouterr()  # Python's logging reports each failed line on stderr; nothing raised


# -- the kiosk ----------------------------------------------------------------------------------

@pytest.fixture
def kiosk_hall(mini, monkeypatch):
    """Edge (with the virtual printer and its console) and kiosk; the kiosk's data directory
    is a 4 MB tmpfs."""
    monkeypatch.setenv("KIOSK_DISK_MIN_FREE_MB", "1")
    key = Ed25519PrivateKey.generate()
    with tmpfs(mini.tmp / "kiosk", "4m") as kiosk_dir:
        try:
            printer = mini.printer()
            agent = mini.edge(queue={"hours": ALWAYS}, printers=[{"id": "printer-1", "host": "127.0.0.1",
                                                                   "port": printer.port, "timeout": 1}])
            console = mini.console(agent, queue=agent.queue, alarms=agent.alarms).app
            # The kiosk looks at its disk every 0.5 s here (5 s in a hall): the test waits for it.
            kiosk, app = mini.kiosk(public_key=public_key_b64(key), test_config={"DISK_CHECK_S": 0.5})
            wait_for(lambda: app.extensions["hall_status"].queue is not None
                     and app.extensions["hall_status"].snapshot().printer_ok)
            yield mini, agent, kiosk, app, key, kiosk_dir, console
        finally:
            mini.close()  # before the tmpfs goes


def push(agent, key, version: int, phone: str):
    body = {**SETTINGS, "info": {**SETTINGS["info"], "service_phone": phone}}
    doc = sign(key, hall=HALL, node="kiosk-01", version=version, expires=time.time() + 600, body=body)
    agent.bus.publish(contract.CONFIG_DESIRED, doc, hall=HALL, node="kiosk-01")


def test_a_kiosk_with_a_full_disk_says_so_keeps_serving_and_recovers(kiosk_hall, browser):
    mini, agent, kiosk, app, key, kiosk_dir, console = kiosk_hall
    applier = app.extensions["config_applier"]
    applied = kiosk_dir / "applied-config.json"
    push(agent, key, 1, "028-1111 0001")
    wait_for(lambda: applier.version == 1 and applied.exists())
    assert get_json(kiosk.url + "healthz")["disk_full"] is False

    filler = fill(kiosk_dir)
    started = time.monotonic()
    health = get_json(kiosk.url + "healthz")
    assert health["disk_full"] is True and health["disk_free_mb"] == 0
    assert health["edge_up"] and health["printer_ok"]

    # Staff see it on every screen; residents still take a number (the edge stores it).
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    page.goto(kiosk.url)
    assert FULL_BANNER in page.inner_text(".banner.disk")
    check_screen(page, SHOTS, "kiosk-home-disk-full")
    page.click(".tile-queue")
    page.click("button.service:has-text('手续办理')")
    page.wait_for_selector(".ticket-number")
    assert page.inner_text(".ticket-number") == "A001"
    assert FULL_BANNER in page.inner_text("body")
    check_screen(page, SHOTS, "kiosk-ticket-disk-full")
    assert [t.code for t in agent.queue.engine.waiting()] == ["A001"]
    # In English too.
    page.goto(kiosk.url)
    page.click("button[lang=en]")
    page.wait_for_selector("html[lang=en] .banner.disk")
    assert "This kiosk's storage is full. Please contact staff." in page.inner_text(".banner.disk")
    page.close()

    # No voice rather than an error: the phrase is refused, nothing is written.
    voice = app.extensions["voice"]
    client = app.test_client()
    assert client.get(f"/voice/{voice.register('请取号', 'zh')}.wav").status_code == 503
    assert not (kiosk_dir / "voice").exists() or list((kiosk_dir / "voice").iterdir()) == []

    # The edge hears of it: an alarm for staff, and the kiosk's tile on the console says why.
    wait_for(lambda: any(a["id"] == "kiosk-01.disk" for a in agent.alarms.active()), timeout=20)
    alarm_seen = time.monotonic() - started
    staff = console_login(console)
    overview = staff.get("/").get_data(as_text=True)
    assert "kiosk-01 存储空间已满，请清理 · kiosk-01: storage full, free some space" in overview
    tile = re.search(r'<div class="tile bad">\s*<strong>kiosk-01</strong>.*?</div>', overview, re.S)
    assert tile and "存储已满 · storage full" in tile.group(0)

    # A configuration that cannot be stored is not applied: the old one stays, byte for byte.
    before = applied.read_bytes()
    push(agent, key, 2, "028-2222 0002")
    wait_for(lambda: applier.last is not None and applier.last.status == "rolled_back")
    assert applier.last.reason == "2: the kiosk's disk is full" and applier.version == 1
    assert applied.read_bytes() == before
    assert app.config["SETTINGS"].info.service_phone == "028-1111 0001"
    assert "028-1111 0001" in client.get("/info").get_data(as_text=True)
    assert sorted(p.name for p in kiosk_dir.iterdir()) == ["applied-config.json", "filler.bin", "secret_key"]

    # Space again: every state clears by itself, and the refused configuration is applied.
    filler.unlink()
    freed = time.monotonic()
    assert get_json(kiosk.url + "healthz")["disk_full"] is False
    assert FULL_BANNER not in client.get("/").get_data(as_text=True)
    wait_for(lambda: applier.version == 2, timeout=20)
    assert json.loads(applied.read_bytes())["version"] == 2
    assert app.config["SETTINGS"].info.service_phone == "028-2222 0002"
    wait_for(lambda: not any(a["id"] == "kiosk-01.disk" for a in agent.alarms.active()), timeout=20)
    cleared = time.monotonic() - freed
    assert "存储已满" not in staff.get("/").get_data(as_text=True)
    assert client.get(f"/voice/{voice.register('请取号', 'zh')}.wav").status_code == 200
    print(f"\nkiosk disk full -> edge alarm {alarm_seen:.1f} s; freed -> config applied and alarm cleared {cleared:.1f} s")


# -- the edge -----------------------------------------------------------------------------------

@pytest.fixture
def edge_hall(mini, monkeypatch):
    """The edge agent with its console; its data directory (edge.db) is an 8 MB tmpfs."""
    monkeypatch.setenv("EDGE_DISK_MIN_FREE_MB", "1")
    with tmpfs(mini.tmp / "edge", "8m") as edge_dir:
        try:
            agent = mini.edge(queue={"hours": ALWAYS})
            console = mini.console(agent, queue=agent.queue, alarms=agent.alarms)
            yield mini, agent, console, edge_dir
        finally:
            mini.close()  # before the tmpfs goes


def doctor(config_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hall_cli", "doctor", "--config-dir", str(config_dir)],
                          capture_output=True, text=True, timeout=60)


def test_the_edge_with_a_full_disk_tells_staff_and_doctor_and_stays_whole(edge_hall, browser, tmp_path, caplog):
    mini, agent, console, edge_dir = edge_hall
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "edge.toml").write_text(
        f'hall_id = "{HALL}"\nhall_name = "测试大厅"\nnode_id = "edge"\ndata_dir = "{edge_dir}"\n'
        f'[broker]\npassword_file = "{tmp_path / "edge.pw"}"\n[http]\nport = 1\n', encoding="utf-8")
    alarms = agent.alarms
    assert alarms.raise_("test.before", source="edge/test", type="test", severity="minor", text="满盘之前 · before")
    db_path = edge_dir / "edge.db"

    filler = fill(edge_dir)
    # A device thread's alarm on a full disk: False, logged once, never an exception. The
    # first ones may still fit in the space the WAL file already holds.
    caplog.set_level(logging.DEBUG, logger="hall_common.disk")

    def paper_alarm(i: int) -> bool:
        return alarms.raise_(f"printer-1.paper{i}", source="edge/printer-1", type="paper_out", severity="major",
                             text="打印机 printer-1 缺纸 · Printer out of paper " + "x" * 2000)

    stored = next((i for i in range(5000) if not paper_alarm(i)), None)
    assert stored is not None, "5000 alarms fit on a full disk"
    assert [paper_alarm(i) for i in range(stored + 1, stored + 21)] == [False] * 20
    assert alarms.store_error is not None and alarms.store_error.sqlite_errorname == "SQLITE_FULL"
    warned = [r for r in caplog.records if r.name == "hall_common.disk" and r.levelno == logging.WARNING
              and "could not be written, the disk of" in r.getMessage()]
    assert len(warned) == 1
    assert len(alarms.active()) == 1 + stored

    # The console says so on every page, and shows a tile.
    page = staff_page(browser, console.url)
    page.wait_for_selector("main h2")
    banner = page.inner_text(".disk-full")
    assert "边缘主机存储空间已满" in banner and "剩余 · free 0 MB" in banner and "edge.db (alarm printer-1.paper" in banner
    assert "存储已满 · storage full" in page.inner_text(".glance")
    page.screenshot(path=SHOTS / "edge-console-disk-full.png", full_page=True)
    page.goto(console.url + "alarms/")
    assert "边缘主机存储空间已满" in page.inner_text(".disk-full")

    # hall doctor fails with a plain line.
    result = doctor(config_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("✖ disk edge:"))
    assert f"only 0.0 MB free in {edge_dir} (disk_min_free_mb = 1): the disk is full" in line
    assert "✔ database edge.db: ok" in result.stdout

    # Space again: the banner goes, the next alarm is stored, the database is whole.
    filler.unlink()
    page.goto(console.url)
    assert page.locator(".disk-full").count() == 0
    assert "存储已满" not in page.inner_text(".glance")
    page.screenshot(path=SHOTS / "edge-console-freed.png", full_page=True)
    page.close()
    assert alarms.raise_("after.free", source="edge/test", type="test", severity="minor", text="腾出空间后 · after")
    assert len(alarms.active()) == 2 + stored
    result = doctor(config_dir)
    assert any(x.startswith("✔ disk edge:") for x in result.stdout.splitlines()), result.stdout
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM alarm_log WHERE alarm LIKE 'printer-1.paper%'").fetchone() == (stored,)
        assert conn.execute("SELECT count(*) FROM outbox WHERE kind = 'alarm'").fetchone()[0] == stored + 2
    finally:
        conn.close()
    print(f"\nedge: {stored} alarm(s) still fitted in the WAL's space after the disk was full")
