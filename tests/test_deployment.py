"""The Raspberry Pi deployment: systemd units, the notify protocol, the Chromium launcher.

The units are checked as text against the modules they start, the notify protocol against
a real unix datagram socket, and the launcher by running it with a fake Chromium that
records its arguments and a small HTTP server standing in for the kiosk's ``/healthz``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from hall_common import systemd

from .chromium_tab import launcher_flags

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "firmware_configs" / "systemd"
LAUNCHER = ROOT / "firmware_configs" / "kiosk" / "launch-chromium.sh"
INSTALL_DOC = ROOT / "docs" / "install-pi.md"
PI_ROOT = "/opt/service-hall"

PARTS = {
    "kiosk": "hall-kiosk.service",
    "edge_agent": "hall-edge.service",
    "hall_display": "hall-display.service",
    "central_sync.server": "hall-central.service",
}
BROWSERS = {"hall-kiosk-browser.service": "hall-kiosk.service",
            "hall-display-browser.service": "hall-display.service"}
EXEC_START = re.compile(r"^/opt/service-hall/\.venv/bin/python -m (\S+) --config /etc/service-hall/[a-z]+\.toml$")

CHROMIUM_FLAGS = launcher_flags()
"""The launcher's flags, as ``firmware_configs/kiosk/chromium.flags`` lists them."""

Unit = dict[str, dict[str, list[str]]]


# --- systemd units ---------------------------------------------------------------------

def parse_unit(path: Path) -> Unit:
    """Sections of a unit file, each key with all its values in order.

    systemd allows a key more than once (``Environment=``, and ``ExecStart=`` emptied and set
    again in a drop-in), which configparser cannot keep, so this reads the file itself and
    fails on any line systemd would not understand.
    """
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and section is not None and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()), \
            f"{path.name}:{number}: not a key=value line in a section: {raw!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def last(unit: Unit, section: str, key: str) -> str:
    """The value systemd uses: the last one given."""
    values = unit.get(section, {}).get(key)
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


def words(unit: Unit, section: str, key: str) -> list[str]:
    return [w for value in unit.get(section, {}).get(key, []) for w in value.split()]


def test_the_journal_keeps_logs_as_long_as_the_parts_keep_theirs() -> None:
    from hall_common.config import PartConfig

    drop_in = parse_unit(UNITS / "journald.conf.d" / "service-hall.conf")
    assert last(drop_in, "Journal", "MaxRetentionSec") == f"{PartConfig.model_fields['log_keep_days'].default}day"


@pytest.mark.parametrize("module", sorted(PARTS))
def test_every_part_has_a_notify_unit_that_starts_it(module: str) -> None:
    path = UNITS / PARTS[module]
    assert path.is_file(), f"no unit for {module}: {path.name}"
    unit = parse_unit(path)
    service = unit["Service"]
    assert last(unit, "Service", "Type") == "notify"
    assert last(unit, "Service", "NotifyAccess") == "main"
    assert int(last(unit, "Service", "WatchdogSec")) > 0
    assert last(unit, "Service", "Restart") == "always"
    assert float(last(unit, "Service", "RestartSec")) > 0
    assert last(unit, "Service", "User") == "hall"
    assert last(unit, "Service", "WorkingDirectory") == PI_ROOT
    assert "PYTHONUNBUFFERED=1" in words(unit, "Service", "Environment")
    assert int(last(unit, "Unit", "StartLimitBurst")) > 1
    assert int(last(unit, "Unit", "StartLimitIntervalSec")) > 0
    assert last(unit, "Service", "TimeoutStopSec") == "15"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "ReadWritePaths": "/var/lib/service-hall"}.items():
        assert service.get(key, [None])[-1] == value, f"{path.name}: {key}= should be {value}"
    assert "network-online.target" in words(unit, "Unit", "After")
    assert "network-online.target" in words(unit, "Unit", "Wants")
    if module != "central_sync.server":
        assert "mosquitto.service" in words(unit, "Unit", "After")
    assert last(unit, "Install", "WantedBy") == "multi-user.target"

    match = EXEC_START.match(last(unit, "Service", "ExecStart"))
    assert match, f"{path.name}: ExecStart= is not the venv's python -m <part> --config /etc/service-hall/..."
    assert match.group(1) == module
    assert importlib.util.find_spec(module) is not None
    assert importlib.util.find_spec(f"{module}.__main__") is not None, f"python -m {module} needs a __main__"


def test_no_unit_starts_something_that_is_not_a_part() -> None:
    started = set()
    for path in UNITS.glob("hall-*.service"):
        if path.name in BROWSERS:
            continue
        match = EXEC_START.match(last(parse_unit(path), "Service", "ExecStart"))
        assert match, path.name
        started.add(match.group(1))
    assert started == set(PARTS)


@pytest.mark.parametrize("name", sorted(BROWSERS))
def test_browser_units_run_the_launcher_in_the_graphical_session(name: str) -> None:
    unit = parse_unit(UNITS / name)
    command = shlex.split(last(unit, "Service", "ExecStart"))
    scripts = [w for w in command if w.endswith(".sh")]
    assert scripts and scripts[0].startswith(PI_ROOT + "/")
    assert (ROOT / scripts[0].removeprefix(PI_ROOT + "/")) == LAUNCHER
    assert last(unit, "Service", "Restart") == "always"
    assert last(unit, "Install", "WantedBy") == "graphical.target"
    assert BROWSERS[name] in words(unit, "Unit", "After")
    assert last(unit, "Service", "User") not in ("root", "hall")
    # Chromium's profile and cache on a tmpfs of the unit's own (the launcher's $RUNTIME_DIRECTORY).
    assert last(unit, "Service", "RuntimeDirectory") == name.removesuffix(".service")
    assert last(unit, "Service", "RuntimeDirectoryMode") == "0700"


def test_the_flags_keep_chromium_small() -> None:
    """One renderer, nothing in the background, a bounded cache; flags Chromium 156 does not
    know or that would undo these are not there."""
    flags = set(CHROMIUM_FLAGS)
    assert {"--renderer-process-limit=1", "--process-per-site", "--disable-background-networking",
            "--disable-component-update", "--disable-default-apps", "--disable-extensions", "--disable-sync",
            "--no-first-run"} <= flags
    assert "--enable-low-end-device-mode" not in flags  # the kiosk's tab died of V8 OOM with it
    assert not flags & {"--single-process", "--incognito", "--disable-session-crashed-bubble"}
    assert not [f for f in flags if "max-old-space-size" in f]  # see chromium.flags: it crashed the tab
    [size] = [int(f.split("=")[1]) for f in flags if f.startswith("--disk-cache-size=")]
    assert 0 < size <= 16 * 2**20
    [features] = [f for f in CHROMIUM_FLAGS if f.startswith("--disable-features=")]  # Chromium reads only the last
    assert {"TouchpadOverscrollHistoryNavigation", "WebUIOmniboxPopup"} <= set(features.split("=")[1].split(","))
    assert not any(f.startswith(("--user-data-dir", "--disk-cache-dir")) for f in flags)  # per launch


def test_mosquitto_drop_in_keeps_the_broker_running() -> None:
    unit = parse_unit(UNITS / "mosquitto.service.d" / "hall-broker.conf")
    assert last(unit, "Service", "Restart") == "always"
    assert float(last(unit, "Service", "RestartSec")) > 0
    exec_start = unit["Service"]["ExecStart"]
    # In a drop-in, ExecStart= must be emptied before it is set, or systemd refuses the unit.
    assert exec_start[0] == "" and len(exec_start) == 2
    assert exec_start[1].startswith("/usr/sbin/mosquitto -c ")


def test_install_guide_names_every_unit_and_no_file_names_this_machine() -> None:
    guide = INSTALL_DOC.read_text(encoding="utf-8")
    files = [p for p in UNITS.rglob("*") if p.is_file()] + [LAUNCHER, INSTALL_DOC]
    for path in files:
        if path.parent == UNITS:
            assert path.name in guide, f"docs/install-pi.md does not mention {path.name}"
        assert str(ROOT) not in path.read_text(encoding="utf-8"), f"{path.name} names a development path"
    assert "hall-broker.conf" in guide


# --- the notify protocol -----------------------------------------------------------------

@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound unix datagram socket standing in for systemd's, and its path."""
    path = tmp_path / "notify"
    if len(str(path)) > 100:  # sun_path holds 108 bytes
        path = Path(tempfile.mkdtemp(prefix="hall-")) / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(1.0)
        yield sock, str(path)


def received(sock: socket.socket, seconds: float) -> list[str]:
    """Every datagram that arrives within ``seconds``."""
    messages: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            messages.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    return messages


def test_ready_stopping_and_watchdog_reach_the_socket(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}
    assert systemd.ready(env) is True
    assert sock.recv(4096) == b"READY=1"

    watchdog = systemd.start_watchdog(env)
    assert watchdog is not None and watchdog.daemon
    try:
        pings = received(sock, 1.0)
    finally:
        watchdog.stop()
        watchdog.join(2)
    assert pings and set(pings) == {"WATCHDOG=1"}
    assert len(pings) >= 5, f"expected a ping every 0.1 s, got {len(pings)} in 1 s"

    assert systemd.stopping(env) is True
    assert received(sock, 0.5)[-1] == "STOPPING=1"


def test_abstract_socket() -> None:
    name = f"hall-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(1.0)
        assert systemd.notify("STATUS=serving", {"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(4096) == b"STATUS=serving"


def test_nothing_happens_outside_systemd(notify_socket: tuple[socket.socket, str], tmp_path: Path) -> None:
    sock, path = notify_socket
    assert systemd.notify("READY=1", {}) is False
    assert systemd.ready({}) is False
    assert systemd.start_watchdog({}) is None
    assert systemd.start_watchdog({"NOTIFY_SOCKET": path}) is None  # no WatchdogSec
    # The environment a child inherited from its parent: the pings are the parent's job.
    assert systemd.start_watchdog({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000",
                                   "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    # A socket that is gone: logged, not raised, so the part keeps serving.
    assert systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False
    assert received(sock, 0.2) == []


def test_watchdog_stays_silent_while_unhealthy(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": str(os.getpid())}
    watchdog = systemd.start_watchdog(env, healthy=lambda: False)
    assert watchdog is not None
    try:
        assert received(sock, 0.4) == []
    finally:
        watchdog.stop()
        watchdog.join(2)


# --- the Chromium launcher ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_chromium(tmp_path: Path, *, sleep: float = 0) -> tuple[Path, Path]:
    """A stand-in for Chromium that appends its arguments, one per line, and a ``---``."""
    record = tmp_path / "chromium-args"
    script = tmp_path / "fake-chromium"
    script.write_text(
        "#!/bin/bash\n"
        f"printf '%s\\n' \"$@\" --- >> {shlex.quote(str(record))}\n"
        + (f"sleep {sleep}\n" if sleep else ""),
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script, record


def launcher_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A clean environment: no desktop session, no defaults file, the profiles in tmp_path
    (where the unit's ``RuntimeDirectory=`` would be)."""
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RUNTIME_DIRECTORY": str(profiles),
            "HALL_BROWSER_DEFAULTS": str(tmp_path / "no-such-defaults"), **settings}


def launches(record: Path) -> list[list[str]]:
    runs, current = [], []
    for line in record.read_text(encoding="utf-8").splitlines():
        if line == "---":
            runs.append(current)
            current = []
        else:
            current.append(line)
    return runs


def test_launcher_syntax() -> None:
    result = subprocess.run(["bash", "-n", str(LAUNCHER)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_launcher_relaunches_chromium_with_the_kiosk_flags(tmp_path: Path) -> None:
    chromium, record = fake_chromium(tmp_path)
    url = f"http://127.0.0.1:{free_port()}/"  # nobody serves it: /healthz fails, quietly
    env = launcher_env(tmp_path, CHROMIUM=str(chromium), MAX_RESTARTS="2", SCREEN_POLL="3600")
    result = subprocess.run(["bash", str(LAUNCHER), url], env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr

    runs = launches(record)
    assert len(runs) == 3, result.stderr
    profiles = []
    for args in runs:
        [profile] = [a.removeprefix("--user-data-dir=") for a in args if a.startswith("--user-data-dir=")]
        assert args == [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--disk-cache-dir={profile}/cache", url]
        profiles.append(profile)
    assert len(set(profiles)) == 3, "each launch needs a fresh profile"
    assert all(Path(p).parent == tmp_path / "profiles" for p in profiles)
    assert list((tmp_path / "profiles").iterdir()) == [], "profiles are removed after each launch"
    assert result.stderr.count("restarting in 2 s") == 2


def test_launcher_reads_its_defaults_file(tmp_path: Path) -> None:
    chromium, record = fake_chromium(tmp_path)
    defaults = tmp_path / "hall-kiosk-browser"
    url = f"http://127.0.0.1:{free_port()}/board/"
    defaults.write_text(f"HALL_URL={url}\nCHROMIUM_FLAGS='--lang=zh-CN --force-device-scale-factor=1'\n",
                        encoding="utf-8")
    env = launcher_env(tmp_path, CHROMIUM=str(chromium), MAX_RESTARTS="0", SCREEN_POLL="0",
                       HALL_BROWSER_DEFAULTS=str(defaults))
    result = subprocess.run(["bash", str(LAUNCHER)], env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    [args] = launches(record)
    assert args[-1] == url
    assert "--lang=zh-CN" in args and "--force-device-scale-factor=1" in args


class ScreenHealth(BaseHTTPRequestHandler):
    """``/healthz`` of a kiosk whose hall closes, then opens: "off" first, "on" after."""

    calls = 0

    def do_GET(self) -> None:
        if self.path != "/healthz":
            self.send_error(404)
            return
        type(self).calls += 1
        body = json.dumps({"ok": True, "screen": "off" if self.calls == 1 else "on"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_launcher_blanks_and_wakes_the_screen(tmp_path: Path) -> None:
    chromium, _ = fake_chromium(tmp_path, sleep=3)
    screen = tmp_path / "screen"
    handler = type("Health", (ScreenHealth,), {"calls": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # The page is below the root: /healthz must still be asked at the root.
        url = f"http://127.0.0.1:{server.server_address[1]}/kiosk/"
        env = launcher_env(tmp_path, CHROMIUM=str(chromium), MAX_RESTARTS="0", SCREEN_POLL="0.2",
                           SCREEN_OFF_CMD=f"echo off >> {shlex.quote(str(screen))}",
                           SCREEN_ON_CMD=f"echo on >> {shlex.quote(str(screen))}")
        result = subprocess.run(["bash", str(LAUNCHER), url], env=env, capture_output=True, text=True,
                                timeout=20)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert result.returncode == 0, result.stderr
    assert screen.read_text(encoding="utf-8").split() == ["off", "on"], result.stderr
    assert handler.calls >= 3


def test_a_part_tells_systemd_it_is_ready_and_stopping(tmp_path):
    """The board, started the way its unit starts it, says READY=1 once it serves and
    STOPPING=1 on SIGTERM (no broker is needed for that: it connects in the background)."""
    import signal
    import sys

    from .conftest import free_port

    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    (tmp_path / "pw").write_text("x")
    port = free_port()
    conf = tmp_path / "display-01.toml"
    conf.write_text(
        f'hall_id = "t1"\nhall_name = "测试"\nnode_id = "display-01"\ndata_dir = "d"\n'
        f'[broker]\nport = {free_port()}\npassword_file = "pw"\n[http]\nport = {port}\n'
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen([sys.executable, "-m", "hall_display", "--config", str(conf)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        got = set()
        while not {"READY=1", "WATCHDOG=1"} <= got:
            got.add(sock.recv(256).decode())
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # READY came after the port opened
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in got:
            got.add(sock.recv(256).decode())
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
