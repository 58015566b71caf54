"""Fixtures shared by the suite: a real mosquitto with the project's config, bus clients,
and a data directory per test."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from hall_cli.broker import Broker, free_port, render_config, write_password_file
from hall_common.bus.client import BusClient

HALL = "t1"
NODES = ("edge", "kiosk-01", "kiosk-02", "display-01", "env-01", "aed-01", "homeassistant")



def free_port_block(size: int) -> int:
    """A base port with ``size`` consecutive free ports after it (for ``hall up``).

    Chosen below Linux's ephemeral range (32768-60999): there, the source ports of the hall's
    own outgoing connections could take one of the block between this check and the bind."""
    import random

    for _ in range(200):
        base = random.randrange(20000, 32768 - size)
        ok = True
        for port in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no block of free ports")


@dataclass
class RunningBroker:
    """A mosquitto started for one test, with a password per node of hall ``t1``."""

    broker: Broker
    host: str
    port: int
    hall: str
    passwords: dict[str, str]
    clients: list[BusClient] = field(default_factory=list)

    def client(self, node: str, *, kind: str = "tool", password: str | None = None,
               connect: bool = True, session: int = 1, **kw) -> BusClient:
        bus = BusClient(
            hall_id=self.hall, node_id=node, kind=kind, host=self.host, port=self.port,
            username=node, password=self.passwords.get(node, "") if password is None else password,
            session=session, keepalive=10, **kw,
        )
        self.clients.append(bus)
        if connect:
            bus.start()
            assert bus.wait_connected(10), f"{node} did not connect: {bus.refused}"
        return bus

    def restart(self) -> None:
        self.broker.kill()
        self.broker.start()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Each test's own data directory."""
    d = tmp_path / "data"
    d.mkdir()
    return d


def start_broker(broker_dir: Path, *, hall: str = HALL, nodes: tuple[str, ...] = NODES) -> RunningBroker:
    """A real mosquitto on a free port with the project's mosquitto.conf template and ACL,
    and a password for each of ``nodes`` of ``hall`` (the benchmarks name their own)."""
    port = free_port()
    passwords = {node: secrets.token_urlsafe(12) for node in nodes}
    broker_dir.mkdir(parents=True, exist_ok=True)
    write_password_file(broker_dir / "passwd", passwords)
    b = Broker(render_config(broker_dir, port=port), host="127.0.0.1", port=port)
    b.start()
    return RunningBroker(b, "127.0.0.1", port, hall, passwords)


def stop_broker(running: RunningBroker) -> None:
    for c in running.clients:
        c.close(timeout=1)
    running.broker.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RunningBroker]:
    """A real mosquitto for one test (see :func:`start_broker`)."""
    running = start_broker(tmp_path / "broker")
    yield running
    stop_broker(running)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02):
    """Poll until ``predicate()`` is truthy; returns its value or fails the test."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from Debian (never a browser Playwright downloads)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
        )
        yield b
        b.close()


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server of this test run (see tests/pg.py)."""
    from .pg import start_postgres

    server = start_postgres(free_port())
    yield server
    server.stop()
