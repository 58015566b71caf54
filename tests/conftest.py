"""Fixtures shared by the suite: a real mosquitto with the project's config, bus clients,
a data directory per test, a mini hall; the hypothesis profiles; how the workers share
the tests.

The suite runs in parallel (pytest-xdist, the README's command). Every test has its own
ports, temporary directories and file names, so workers share nothing; each test file runs
on one worker, in order, so a module-scoped fixture (``hall up``) starts once; the slow
tests (the campaigns, each a whole hall) come last and take turns.

Hypothesis profiles, chosen by ``HYPOTHESIS_PROFILE``: ``ci`` (the default, and what
``.ci/run`` uses) runs every example count in full; ``dev`` runs a tenth of them, for
working on a change. A test that wants more or fewer examples than the default says how
many under ``ci`` with :func:`examples`, so it scales with the profile."""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest
from hypothesis import settings as hypothesis_settings

from hall_cli.broker import Broker, free_port, render_config, write_password_file
from hall_common.bus.client import BusClient

from .minihall import MiniHall

HALL = "t1"
NODES = ("edge", "kiosk-01", "kiosk-02", "display-01", "env-01", "aed-01", "homeassistant")

CI_EXAMPLES = 100
"""Hypothesis's own default, the ``ci`` profile's: every count below is relative to it."""
hypothesis_settings.register_profile("ci", max_examples=CI_EXAMPLES)
hypothesis_settings.register_profile("dev", max_examples=CI_EXAMPLES // 10)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(ci: int) -> int:
    """``ci`` examples under the ``ci`` profile, the same share of them under another."""
    return max(1, ci * hypothesis_settings.default.max_examples // CI_EXAMPLES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests last (in their files' order): ``--dist loadfile --no-loadscope-reorder`` in
    pyproject.toml hands files out in this order, so every worker runs short tests first and
    the slow files, which take turns (:func:`one_slow_module_at_a_time`), come at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


@pytest.fixture(scope="module", autouse=True)
def one_slow_module_at_a_time(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A test file with slow tests holds the run's lock from before its first fixture to after
    its last: each is a whole hall (or a browser's hundred visits, or an arm64 root under
    qemu) that waits on its parts with a resident's patience, and four of them at once on two
    cores starved each other past those waits (one CI run lost five tests so). Workers share
    the lock through the run's common temporary folder; without ``-n`` nothing waits."""
    mine = (item for item in request.session.items if item.path == request.path)
    if not hasattr(request.config, "workerinput") or not any(item.get_closest_marker("slow") for item in mine):
        yield
        return
    with open(tmp_path_factory.getbasetemp().parent / "slow-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def pytest_terminal_summary(terminalreporter) -> None:
    """What the arm64 run found (tests/test_arm64.py: its timings and the wheels pip built
    from source), in the summary of every run that includes it: with ``-n`` a test's own
    output is not shown, so it travels as a recorded property."""
    for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed"):
        for name, value in getattr(report, "user_properties", []):
            if name == "arm64" and report.when == "call":
                terminalreporter.write_sep("-", "arm64 run")
                terminalreporter.write_line(str(value))


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
            password=self.passwords.get(node, "") if password is None else password,
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


@pytest.fixture(scope="session", autouse=True)
def ime_index() -> Path:
    """The pinyin keyboard's index, which ``scripts/setup`` builds (``.ci/run`` runs it first):
    built here only in a checkout that has not run set-up, or after its inputs changed, once
    for all workers (a few seconds). Kiosks in tests and those ``hall up`` starts read it."""
    from kiosk.ime import INDEX_PATH
    from kiosk.ime_build import ensure

    ensure(INDEX_PATH)
    return INDEX_PATH


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


@pytest.fixture
def mini(broker: RunningBroker, tmp_path: Path) -> Iterator[MiniHall]:
    """A hall in this process on the test's broker (tests/minihall.py), closed after the test."""
    hall = MiniHall(broker, tmp_path)
    yield hall
    hall.close()


@pytest.fixture(scope="module")
def module_mini(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniHall]:
    """A mini hall on a broker of its own, shared by the tests of one module (many quick
    tests against one hall)."""
    tmp = tmp_path_factory.mktemp("hall")
    running = start_broker(tmp / "broker")
    hall = MiniHall(running, tmp)
    yield hall
    hall.close()
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
def playwright():
    """The worker's one Playwright: its sync API runs an event loop on the thread that
    started it, and a second one started there while the first runs is refused."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    """Headless Chromium from Debian (never a browser Playwright downloads)."""
    b = playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
    )
    yield b
    b.close()


class Pages:
    """Opens pages in the session's Chromium and closes them all at once."""

    def __init__(self, browser) -> None:
        self.browser = browser
        self.opened: list = []

    def new_page(self, **kw):
        page = self.browser.new_page(**kw)
        self.opened.append(page)
        return page

    def close(self) -> None:
        for page in self.opened:
            page.close()


@pytest.fixture
def pages(browser) -> Iterator[Pages]:
    """Pages for one test, closed at its end. Ask for it after the hall the pages talk to, so
    they close before the hall stops: an open page keeps its event stream or long poll
    running, and a server waits for running requests when it stops."""
    opened = Pages(browser)
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def central_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for a central server: a SQLite file, and a fresh database on the run's
    PostgreSQL (a test that asks for it runs on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/central.db"
    return request.getfixturevalue("pg_server").create_database(f"c_{secrets.token_hex(6)}")


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server of this test run (see tests/pg.py)."""
    from .pg import start_postgres

    server = start_postgres(free_port())
    yield server
    server.stop()
