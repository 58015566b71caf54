"""Runs the hall's processes for ``hall up``: start in order, wait until each is ready,
restart one that dies, and stop them all on Ctrl-C leaving nothing behind.

Each child gets its own process group (so a stop reaches anything it started) and asks the
kernel for SIGTERM should the supervisor itself die (``PR_SET_PDEATHSIG``), so even a
``kill -9`` of ``hall up`` leaves no orphan holding a port.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hall_common.errors import HallError

from .broker import port_open
from .plan import Layout, Process

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
STABLE_S = 10.0
"""A process that ran this long before dying is restarted at once, whatever its history
(systemd's default start-limit interval is the same ten seconds)."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class StartError(HallError, RuntimeError):
    """A process did not become ready; the message carries the end of its log."""


@dataclass
class Child:
    spec: Process
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    last_start: float = 0.0
    exited_at: float | None = None

    @property
    def ran_for(self) -> float:
        """Seconds between its last start and when it was first seen dead."""
        if self.exited_at is None:
            self.exited_at = time.monotonic()
        return self.exited_at - self.last_start

    def start(self, env: dict[str, str]) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.spec.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent, env=env,
            )
        self.last_start = time.monotonic()
        self.exited_at = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self, host: str) -> bool:
        if not self.alive:
            return False
        if self.spec.port is None:
            return time.monotonic() - self.last_start > 0.5
        if self.spec.health_path is None:
            return port_open(host, self.spec.port)
        try:
            with urllib.request.urlopen(f"http://{host}:{self.spec.port}{self.spec.health_path}", timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def signal_group(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def tail(self, chars: int = 800) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


class Supervisor:
    """Starts, watches and stops the processes of a :class:`Layout`."""

    def __init__(self, layout: Layout, *, start_timeout: float = 30.0) -> None:
        self.layout = layout
        self.start_timeout = start_timeout
        logs = layout.data_dir / "logs"
        self.children = [Child(p, logs / f"{p.name}.out") for p in layout.processes]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.pid_file = layout.data_dir / "run" / "pids.json"

    def start_all(self, on_ready: Callable[[Child, float], None] | None = None) -> None:
        """Start every process in order, each once the one before is ready. ``on_ready``
        hears each process's seconds from its start to ready (``bench/footprint.py``)."""
        for child in self.children:
            child.start(self.env)
            self._write_pids()
            deadline = time.monotonic() + self.start_timeout
            while not child.ready(self.layout.host):
                if not child.alive:
                    raise StartError(f"{child.spec.name} exited at start:\n{child.tail()}")
                if time.monotonic() > deadline:
                    raise StartError(f"{child.spec.name} was not ready within {self.start_timeout:g} s:\n{child.tail()}")
                time.sleep(0.05)
            log.info("%s is ready", child.spec.name)
            if on_ready is not None:
                on_ready(child, time.monotonic() - child.last_start)

    def watch_once(self) -> None:
        """Restart any child that died, with a pause that grows if it keeps dying."""
        for child in self.children:
            if child.alive or child.proc is None:
                continue
            code = child.proc.returncode
            if child.ran_for >= STABLE_S:
                child.restarts = 0  # it had been fine for a while: this is a new failure, not a loop
            delay = min(30.0, 2.0 ** min(child.restarts, 5))
            if time.monotonic() - child.last_start < delay:
                continue
            child.restarts += 1
            print(f"hall: {child.spec.name} exited with {code}; restarting (see {child.log_path})", flush=True)
            child.start(self.env)
            self._write_pids()

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM in reverse start order (the broker last, so nodes say goodbye), then
        SIGKILL whatever is still there after ``timeout``."""
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
            if child.proc is not None:
                try:
                    child.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %s s; killing it", child.spec.name, timeout)
                    child.signal_group(signal.SIGKILL)
                    child.proc.wait()
        self.pid_file.unlink(missing_ok=True)

    def _write_pids(self) -> None:
        pids = {c.spec.name: c.proc.pid for c in self.children if c.proc is not None and c.alive}
        # Replaced whole, never rewritten in place: a reader must not see half a file.
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pids), encoding="utf-8")
        os.replace(tmp, self.pid_file)
