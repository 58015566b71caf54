"""What the benchmarks set up alike, so that each script holds only what it measures.

The broker, the web server thread and the polling helper are the test suite's own
(``tests/conftest.py``, ``tests/minihall.py``): a figure is taken on the same real parts
the tests prove. A benchmark runs as ``.venv/bin/python bench/<name>.py``; Python puts this
folder on the import path, and this module puts the repository there for ``tests``.

Only the standard library is imported here at first: a benchmark's child processes import
this module too, and what they measure (``outbox_drain.py``'s peak RSS) must not grow with
what the parent needs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from flask import Flask

    from edge_agent.agent import EdgeAgent
    from hall_common.config import EdgeConfig
    from tests.conftest import RunningBroker
    from tests.minihall import Served

HALL = "bench"
HALL_NAME = "基准大厅"
ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
"""Opening hours that never close: a benchmark runs whenever someone starts it."""

def options(doc: str | None, **defaults: float) -> argparse.Namespace:
    """The command line of a benchmark: ``--name`` for each default, of the default's type
    (``--n 20`` is a quick run)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser.parse_args()


@contextmanager
def scratch() -> Iterator[Path]:
    """A temporary folder for one run, removed after it."""
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def pct(values: list[float], q: int) -> float:
    """The ``q``-th percentile (1 to 99) of ``values``; the value itself when there is one."""
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (what ``lscpu`` shows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """Where a figure was taken, as bench/README.md's machine column gives it."""
    return (f"{os.cpu_count()} cores ({cpu_model()}), {platform.machine()}, "
            f"{platform.python_implementation()} {platform.python_version()}")


def run_together(jobs: Iterable[Callable[[], object]]) -> float:
    """Run every job at once, each on its own thread: seconds until the last one is done."""
    threads = [threading.Thread(target=job) for job in jobs]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


@contextmanager
def broker(d: Path, nodes: Iterable[str]) -> Iterator[RunningBroker]:
    """A real mosquitto for hall ``bench`` with a password for each of ``nodes``, each also
    written to ``d/<node>.pw`` for the parts' configurations (:func:`broker_settings`).
    On the way out the bus clients made with its ``client()`` are closed and it stops."""
    from tests.conftest import start_broker, stop_broker

    running = start_broker(d / "broker", hall=HALL, nodes=tuple(nodes))
    for node, password in running.passwords.items():
        (d / f"{node}.pw").write_text(password)
    try:
        yield running
    finally:
        stop_broker(running)


def broker_settings(d: Path, port: int, node: str) -> dict[str, Any]:
    """The ``broker`` table of ``node``'s configuration for the broker of :func:`broker`."""
    return {"host": "127.0.0.1", "port": port, "password_file": d / f"{node}.pw"}


def edge_config(d: Path, port: int, **settings: Any) -> EdgeConfig:
    """The edge agent's configuration on the bench's broker, its data in ``d/edge``; ``settings``
    are the tables a benchmark needs (printers, queue, centre ...)."""
    from hall_common.config import EdgeConfig

    return EdgeConfig(hall_id=HALL, hall_name=HALL_NAME, node_id="edge", data_dir=d / "edge", http={"port": 1},
                      broker=broker_settings(d, port, "edge"), **settings)


def start_edge(d: Path, port: int, **settings: Any) -> EdgeAgent:
    """The real edge agent of :func:`edge_config`, started and connected; the caller closes it."""
    from edge_agent.agent import EdgeAgent

    agent = EdgeAgent(edge_config(d, port, **settings))
    agent.start()
    assert agent.bus.wait_connected(10), "the edge agent did not connect"
    return agent


def serve(app: Flask) -> Served:
    """``app`` under waitress with 8 threads (a part's default) on a free port, in this
    process, until its ``stop()``."""
    from tests.minihall import Served

    return Served(app, threads=8)


@contextmanager
def part_process(argv: list[str], port: int, *, timeout: float = 60.0,
                 env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """A hall part in its own process (``python -m ...``, stderr discarded), once it listens on
    ``port``; terminated on the way out."""
    from hall_cli.broker import port_open

    proc = subprocess.Popen([sys.executable, *argv], env=env, stderr=subprocess.DEVNULL)
    try:
        # Not tests.conftest.wait_for: that would bring pytest into this process, and a
        # child process started later (outbox_drain.py's) begins at its parent's peak RSS.
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise TimeoutError(f"{' '.join(argv)} did not listen on port {port} within {timeout:g} s")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def centre_process(d: Path, *, hall: str = HALL, hall_name: str = HALL_NAME) -> Iterator[str]:
    """The central server in its own process on SQLite (``d/central.db``), with ``hall``
    provisioned and its edge's token in ``d/edge.token``: yields the centre's URL."""
    from hall_cli.broker import free_port
    from hall_cli.provision import provision

    db_url = f"sqlite:///{d}/central.db"
    provision(db_url, hall, hall_name, "edge", d / "edge.token")
    port = free_port()
    (d / "central.toml").write_text(f'data_dir = "c"\nlog_level = "WARNING"\ndatabase_url = "{db_url}"\ndemo = true\n'
                                    f'[http]\nport = {port}\n')
    with part_process(["-m", "central_sync.server", "--config", str(d / "central.toml")], port):
        yield f"http://127.0.0.1:{port}"
