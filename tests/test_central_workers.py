"""The centre on PostgreSQL behind several gunicorn workers: concurrent and repeated batches
from many halls are applied exactly once, even when a worker is killed mid-stream."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

from central_sync.server import credentials
from central_sync.server.schema import MIGRATIONS
from central_sync.store import Store, migrate

from .conftest import free_port, wait_for


def post(url: str, token: str, body: bytes) -> dict:
    req = urllib.request.Request(f"{url}/api/v1/sync/batches", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_several_workers_apply_each_record_once(pg_server, tmp_path):
    db_url = pg_server.create_database(f"w_{uuid.uuid4().hex[:10]}")
    store = Store.connect(db_url)
    migrate(store, MIGRATIONS)
    halls = [f"h{i}" for i in range(5)]
    tokens = {}
    for h in halls:
        credentials.register_hall(store, h, h)
        tokens[h] = credentials.issue(store, h, "edge")
    port = free_port()
    conf = tmp_path / "central.toml"
    conf.write_text(f'data_dir = "c"\nlog_level = "WARNING"\ndatabase_url = "{db_url}"\ndemo = true\n[http]\nport = {port}\n')
    log = (tmp_path / "gunicorn.log").open("wb")
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "3", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "2",
         f'central_sync.server.wsgi:build("{conf}")'],
        stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    return True
            except OSError:
                return False

        wait_for(up, timeout=30)

        def workers() -> list[str]:
            with open(f"/proc/{gunicorn.pid}/task/{gunicorn.pid}/children") as f:
                return f.read().split()

        wait_for(lambda: len(workers()) == 3, timeout=30)  # all booted, even on a loaded machine
        # Each hall has 10 batches of 50 records; every batch is sent by two threads at once
        # (a retry racing its original), and a worker is killed while they run.
        batches = {h: [json.dumps({"hall_id": h, "sent_at": time.time(), "records": [
            {"id": str(uuid.uuid4()), "kind": "ticket", "node": "kiosk-01", "ts": time.time(), "body": {"i": i}}
            for i in range(50)]}).encode() for _ in range(10)] for h in halls}
        failures: list[str] = []

        def send(hall: str) -> None:
            for body in batches[hall]:
                for attempt in range(60):
                    try:
                        post(url, tokens[hall], body)
                        break
                    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
                        # HTTPException: the answer was cut off (its worker killed): not acknowledged
                        if attempt == 59:
                            failures.append(f"{hall}: {exc}")
                        time.sleep(0.2)  # at least once: retried until acknowledged

        threads = [threading.Thread(target=send, args=(h,)) for h in halls for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        os.kill(int(workers()[0]), signal.SIGKILL)
        for t in threads:
            t.join(120)
        assert not failures, failures
        assert store.scalar("SELECT count(*) FROM records") == 5 * 10 * 50
        per_hall = {r["hall_id"]: r["n"] for r in store.query("SELECT hall_id, count(*) AS n FROM records GROUP BY hall_id")}
        assert per_hall == {h: 500 for h in halls}
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(20)
        log.close()
        store.close()
