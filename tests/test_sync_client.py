"""The sync client against a real central server over HTTP: records written with their fact
reach the centre exactly once; with the centre down they wait on disk and drain in order
afterwards, with bounded memory; refusals are visible to staff."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest

import central_sync.server
from central_sync import client as outbox
from central_sync.client import SyncWorker
from central_sync.protocol import Batch
from central_sync.server import credentials
from central_sync.store import Store
from hall_common.config import CentralConfig
from hall_common.storage import Migrations, immediate, open_database

from .conftest import wait_for
from .minihall import Served


def node_db(path):
    migrations = Migrations("test_node")
    outbox.add_outbox_tables(migrations)

    @migrations()
    def facts(db):
        db["facts"].create({"id": str, "n": int}, pk="id")

    return open_database(path, migrations)


@pytest.fixture
def centre(tmp_path):
    url = f"sqlite:///{tmp_path}/central.db"
    app = central_sync.server.create_app(CentralConfig(data_dir=tmp_path / "c", database_url=url, http={"port": 1},
                                                                    demo=True))
    store = Store.connect(url)
    credentials.register_hall(store, "h1", "幸福里")
    token = credentials.issue(store, "h1", "edge")
    served = Served(app)
    yield served, store, token
    served.stop()
    store.close()


def write_facts(db, start: int, count: int) -> list[str]:
    ids = []
    for n in range(start, start + count):
        with immediate(db):
            rid = outbox.add(db, "ticket", {"n": n}, node="kiosk-01")
            db["facts"].insert({"id": rid, "n": n})
        ids.append(rid)
    return ids


def test_records_reach_the_centre_exactly_once(tmp_path, centre):
    served, store, token = centre
    db = node_db(tmp_path / "node.db")
    ids = write_facts(db, 0, 120)
    worker = SyncWorker(db_path=tmp_path / "node.db", url=served.url, token=token, hall_id="h1", batch_size=50, idle_wait=0.1)
    worker.start()
    try:
        wait_for(lambda: outbox.status(db).depth == 0)
    finally:
        worker.stop()
    got = store.query("SELECT id, body FROM records")
    assert sorted(r["id"] for r in got) == sorted(ids)
    st = outbox.status(db)
    assert st.last_success is not None and st.last_error is None


def test_an_unacknowledged_batch_is_sent_again_and_applied_once(tmp_path, centre):
    """The centre applied a batch but the node crashed before marking it sent."""
    served, store, token = centre
    db = node_db(tmp_path / "node.db")
    write_facts(db, 0, 30)
    worker = SyncWorker(db_path=tmp_path / "node.db", url=served.url, token=token, hall_id="h1", batch_size=30)
    rows = db.execute("SELECT id, kind, node, ts, body FROM outbox").fetchall()
    batch_ack = worker._post(Batch(hall_id="h1", sent_at=time.time(), records=[
        {"id": r[0], "kind": r[1], "node": r[2], "ts": r[3], "body": json.loads(r[4])} for r in rows]))
    assert len(batch_ack.applied) == 30  # applied at the centre; the node never marked them
    assert worker.push_once(db) == 30    # sent again: all duplicates, now marked
    assert store.scalar("SELECT count(*) FROM records") == 30
    assert outbox.status(db).depth == 0


def test_centre_down_for_a_day_then_drains_in_order_with_bounded_memory(tmp_path):
    db = node_db(tmp_path / "node.db")
    # A day of a busy hall: records pile up while the centre is unreachable.
    ids = write_facts(db, 0, 6000)
    url = f"sqlite:///{tmp_path}/central.db"
    app = central_sync.server.create_app(CentralConfig(data_dir=tmp_path / "c", database_url=url, http={"port": 1},
                                                                    demo=True))
    store = Store.connect(url)
    credentials.register_hall(store, "h1", "幸福里")
    token = credentials.issue(store, "h1", "edge")
    worker = SyncWorker(db_path=tmp_path / "node.db", url="http://127.0.0.1:9", token=token, hall_id="h1",
                        timeout=1, min_backoff=0.05, max_backoff=0.2)
    worker.start()
    wait_for(lambda: outbox.status(db).last_error is not None)
    worker.stop()
    st = outbox.status(db)
    assert st.depth == 6000 and st.last_success is None and "refused" in st.last_error.lower()
    served = Served(app)
    try:
        worker = SyncWorker(db_path=tmp_path / "node.db", url=served.url, token=token, hall_id="h1", batch_size=200)
        tracemalloc.start()
        while worker.push_once(db):
            pass
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        served.stop()
    assert outbox.status(db).depth == 0
    rows = store.query("SELECT body, received_at FROM records ORDER BY received_at")
    assert len(rows) == 6000
    firsts = [json.loads(r["body"])["n"] for r in rows]
    batches: dict[float, list[int]] = {}
    for r, n in zip(rows, firsts):
        batches.setdefault(r["received_at"], []).append(n)
    ordered = [sorted(v) for _, v in sorted(batches.items())]
    assert all(a[-1] < b[0] for a, b in zip(ordered, ordered[1:])), "batches arrived out of order"
    # Memory: one batch at a time, whatever the backlog (the server shares this process here).
    assert peak < 30 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    store.close()


def test_a_revoked_credential_is_shown_as_the_last_error(tmp_path, centre):
    served, store, token = centre
    db = node_db(tmp_path / "node.db")
    write_facts(db, 0, 3)
    credentials.revoke(store, "h1", "edge")
    worker = SyncWorker(db_path=tmp_path / "node.db", url=served.url, token=token, hall_id="h1", min_backoff=5)
    worker.start()
    try:
        wait_for(lambda: outbox.status(db).last_error is not None)
    finally:
        worker.stop()
    st = outbox.status(db)
    assert "401" in st.last_error and st.depth == 3
    assert store.scalar("SELECT count(*) FROM records") == 0


def test_backoff_grows_with_full_jitter():
    worker = SyncWorker(db_path=None, url="http://x", token="t", hall_id="h1", min_backoff=1, max_backoff=60, rng=lambda: 1.0)
    ceilings = []
    for failures in range(1, 10):
        worker.failures = failures
        ceilings.append(worker.backoff())
    assert ceilings == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    worker._rng = lambda: 0.25
    worker.failures = 3
    assert worker.backoff() == 1.0


def test_a_bad_record_is_refused_before_it_reaches_the_outbox(tmp_path):
    db = node_db(tmp_path / "node.db")
    with pytest.raises(ValueError):
        with immediate(db):
            db["facts"].insert({"id": "x", "n": 1})
            outbox.add(db, "bribe", {}, node="kiosk-01")
    assert db["facts"].count == 0 and outbox.status(db).depth == 0  # the fact went with it


def test_acknowledged_records_are_purged_after_the_retention_and_unsent_ones_kept(tmp_path):
    db = node_db(tmp_path / "node.db")
    ids = write_facts(db, 0, 4)
    with immediate(db):
        db.conn.execute("UPDATE outbox SET sent_at = ? WHERE id IN (?, ?)", (time.time() - 8 * 86400, ids[0], ids[1]))
        db.conn.execute("UPDATE outbox SET sent_at = ? WHERE id = ?", (time.time(), ids[2]))
    worker = SyncWorker(db_path=tmp_path / "node.db", url="http://127.0.0.1:9", token="t", hall_id="h1")
    assert worker.purge(db, older_than=worker.keep_sent) == 2
    left = [r[0] for r in db.execute("SELECT id FROM outbox ORDER BY seq").fetchall()]
    assert left == ids[2:]  # one sent yesterday, one not sent at all


def test_a_record_added_after_now_was_taken_is_of_age_zero(tmp_path):
    """The fleet status takes ``now``, then reads the outbox, while the bus worker may add a
    record in between: its age must be 0, not a negative number the status refuses."""
    db = node_db(tmp_path / "node.db")
    before = time.time()
    with immediate(db):
        outbox.add(db, "help_request", {"node": "kiosk-01"}, node="kiosk-01")
    st = outbox.status(db, now=before - 0.5)
    assert st.depth == 1 and st.oldest_age == 0.0
