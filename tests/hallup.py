"""``hall up`` as a subprocess for tests: start it on free ports in a temporary directory,
read its banner, find its processes, stop it. Used by the ``hall up`` tests and by the
reliability campaign, which plays a hall day against it (``simulators/hall_day.py``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import tomli_w

from hall_cli.doctor import http_ok
from hall_cli.plan import PORT_BLOCK, SAMPLE_HALL

from .conftest import free_port_block


class Hall:
    def __init__(self, proc: subprocess.Popen, data_dir: Path, base: int, banner: str) -> None:
        self.proc, self.data_dir, self.base, self.banner = proc, data_dir, base, banner
        self.urls = dict(re.findall(r"^  (\S.*?\S)\s{2,}(\S+://\S+)", banner, re.M))
        self.logins = dict(re.findall(r"^  (\S.*?\S)\s{2,}\S+\s+login: (\S+ / \S+)", banner, re.M))

    def pids(self) -> dict[str, int]:
        return json.loads((self.data_dir / "run" / "pids.json").read_text())

    def stop(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout)


def start_hall(data_dir: Path, base: int | None = None, *, plan: Path | None = None) -> Hall:
    """Run ``hall up`` and wait for its banner (the hall is ready when it prints it)."""
    base = base if base is not None else free_port_block(PORT_BLOCK)
    argv = [sys.executable, "-m", "hall_cli", "up", "--data-dir", str(data_dir), "--base-port", str(base)]
    if plan is not None:
        argv += ["--hall", str(plan)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C" in line:
            return Hall(proc, data_dir, base, "".join(lines))
    proc.kill()
    raise AssertionError("hall up did not come up:\n" + "".join(lines))


def campaign_plan(path: Path, *, kiosks: int = 2, env_nodes: int = 1) -> Path:
    """The sample hall, open around the clock (a campaign runs whenever CI does), with
    ``kiosks`` kiosks and ``env_nodes`` sensor nodes."""
    doc = tomllib.loads(SAMPLE_HALL.read_text(encoding="utf-8"))
    doc["kiosks"] = [f"kiosk-{n:02d}" for n in range(1, kiosks + 1)]
    doc["env_nodes"] = [f"env-{n:02d}" for n in range(1, env_nodes + 1)]
    doc["kiosk_settings"]["hours"]["periods"] = [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def answers(url: str) -> bool:
    """``hall doctor``'s check of a web part, with a test's patience."""
    return http_ok(url, timeout=5)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it no longer runs.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def rss_kb(pid: int) -> int:
    """Resident memory of a process (kB), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
