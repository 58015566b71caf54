"""Nothing acknowledged is lost, and nothing is applied twice, when the process that holds
the sync worker is killed (SIGKILL) at random moments while records stream in.

A kiosk sends help requests to the edge agent over the real broker; each answered request
is a record the hall acknowledged. The edge agent (a real subprocess, with its sync worker)
is killed 20 times at random points and started again. At the end the centre must hold
every acknowledged record exactly once, and every record it holds must be a fact the edge
stored.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import central_sync.server
from central_sync.server import credentials
from central_sync.store import Store
from hall_common.config import CentralConfig
from hall_common.errors import HallError
from hall_common.storage import open_database
from hall_common.bus.client import BusClient

from .conftest import HALL, wait_for
from .minihall import Served

KILLS = 20


def edge_config(tmp_path, broker, centre_url: str, token_file) -> str:
    (tmp_path / "edge.pw").write_text(broker.passwords["edge"])
    conf = tmp_path / "edge.toml"
    conf.write_text(
        f'hall_id = "{HALL}"\nhall_name = "测试"\nnode_id = "edge"\ndata_dir = "edge"\nlog_level = "WARNING"\n'
        f'[broker]\nport = {broker.port}\npassword_file = "edge.pw"\n[http]\nport = {_free()}\n'
        f'[centre]\nurl = "{centre_url}"\ntoken_file = "{token_file.name}"\nbatch_size = 20\ntimeout = 2\n'
    )
    return str(conf)


def _free() -> int:
    from .conftest import free_port

    return free_port()


@pytest.mark.slow
def test_sigkill_of_the_sync_worker_loses_and_doubles_nothing(broker, tmp_path):
    url = f"sqlite:///{tmp_path}/central.db"
    served = Served(central_sync.server.create_app(CentralConfig(data_dir=tmp_path / "c", database_url=url, http={"port": 1},
                                                                     demo=True)))
    store = Store.connect(url)
    credentials.register_hall(store, HALL, "测试")
    token_file = tmp_path / "edge.token"
    token_file.write_text(credentials.issue(store, HALL, "edge"))
    conf = edge_config(tmp_path, broker, served.url, token_file)

    def start_edge() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "edge_agent", "--config", conf],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    kiosk = BusClient(hall_id=HALL, node_id="kiosk-01", kind="kiosk", host=broker.host, port=broker.port,
                      password=broker.passwords["kiosk-01"], session=1)
    kiosk.start()
    assert kiosk.wait_connected(10)
    acknowledged: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            try:
                acknowledged.append(kiosk.request("help", {}, timeout=1.5)["id"])
            except HallError:
                time.sleep(0.05)  # the edge is down or restarting: not acknowledged, tried again

    edge = start_edge()
    producer = threading.Thread(target=stream, daemon=True)
    producer.start()
    rng = random.Random(2026)
    kills = 0
    try:
        while kills < KILLS:
            # Once this agent answers (start-up takes a second or more on a slow machine),
            # kill it at a random moment: mid-request, mid-push, mid-commit.
            answered = len(acknowledged)
            wait_for(lambda: len(acknowledged) > answered, timeout=30)
            time.sleep(rng.uniform(0.0, 1.2))
            edge.send_signal(signal.SIGKILL)
            edge.wait(10)
            kills += 1
            edge = start_edge()
        stop.set()
        producer.join(10)

        def drained() -> bool:
            held = {r["id"] for r in store.query("SELECT id FROM records WHERE kind = 'help_request'")}
            return set(acknowledged) <= held

        wait_for(drained, timeout=60)

        def all_sent() -> bool:  # facts stored but never acknowledged to the kiosk go too
            conn = sqlite3.connect(f"file:{tmp_path / 'edge' / 'edge.db'}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0
            finally:
                conn.close()

        wait_for(all_sent, timeout=60)
    finally:
        stop.set()
        edge.send_signal(signal.SIGTERM)
        edge.wait(15)
        kiosk.close()
        served.stop()

    held = store.query("SELECT id, kind FROM records")
    assert len(held) == len({r["id"] for r in held})  # nothing applied twice, of any kind
    ids = [r["id"] for r in held if r["kind"] == "help_request"]
    assert kills == KILLS
    assert len(acknowledged) == len(set(acknowledged)) > 50
    assert set(acknowledged) <= set(ids), "an acknowledged record never reached the centre"
    assert len(ids) == len(set(ids))
    edge_db = open_database(tmp_path / "edge" / "edge.db")
    facts = {r["id"] for r in edge_db["help_requests"].rows}
    # Facts only: the hall's status (a snapshot, superseded by the next) may be queued as the edge stops.
    unsent = edge_db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND kind <> 'hall_status'").fetchone()[0]
    assert set(ids) <= facts, "the centre holds a record the edge has no fact for"
    assert set(acknowledged) <= facts
    assert unsent == 0 and len(facts) == len(ids), "a stored fact did not reach the centre"
    store.close()
