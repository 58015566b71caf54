"""Exactly-once ingest at the centre, on SQLite and on a real PostgreSQL, with the same tests."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from pydantic import ValidationError

from central_sync import protocol
from central_sync.protocol import Batch
from central_sync.server import credentials
from central_sync.server.ingest import IngestError, NodeIdentity, apply_batch
from central_sync.server.schema import MIGRATIONS
from central_sync.store import Store, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/central.db"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(db_url):
    s = Store.connect(db_url)
    migrate(s, MIGRATIONS)
    credentials.register_hall(s, "h1", "幸福里")
    credentials.register_hall(s, "h2", "长寿苑")
    yield s
    s.close()


H1 = NodeIdentity("h1", "edge")


def record(kind: str = "ticket", **body) -> dict:
    return {"id": str(uuid.uuid4()), "kind": kind, "node": "kiosk-01", "ts": time.time(), "body": body or {"n": 1}}


def batch(records: list[dict], hall: str = "h1") -> Batch:
    return Batch.model_validate({"hall_id": hall, "sent_at": time.time(), "records": records})


def count(store: Store) -> int:
    return store.scalar("SELECT count(*) FROM records")


def test_a_batch_is_applied_once_and_a_replay_is_all_duplicates(store):
    recs = [record(number=f"A{i:03d}") for i in range(50)]
    ack = apply_batch(store, H1, batch(recs))
    assert len(ack.applied) == 50 and ack.duplicates == []
    again = apply_batch(store, H1, batch(recs))
    assert again.applied == [] and len(again.duplicates) == 50
    assert count(store) == 50
    assert store.scalar("SELECT last_sync FROM halls WHERE hall_id = 'h1'") is not None


def test_overlapping_and_reordered_batches(store):
    recs = [record() for _ in range(30)]
    apply_batch(store, H1, batch(recs[20:]))
    ack = apply_batch(store, H1, batch(recs[:25]))  # older records, some seen already
    assert len(ack.applied) == 20 and len(ack.duplicates) == 5
    assert count(store) == 30


def test_the_centre_keeps_its_own_receive_time_beside_the_nodes(store):
    rec = record()
    rec["ts"] = 1_000.0  # a node whose clock is far off
    apply_batch(store, H1, batch([rec]), now=2_000_000.0)
    row = store.query("SELECT node_ts, received_at, body FROM records")[0]
    assert (row["node_ts"], row["received_at"]) == (1_000.0, 2_000_000.0)


def test_a_batch_for_another_hall_is_refused_and_nothing_applied(store):
    with pytest.raises(IngestError) as err:
        apply_batch(store, H1, batch([record()], hall="h2"))
    assert err.value.status == 403 and err.value.code == "wrong_hall"
    assert count(store) == 0


def test_an_id_held_by_another_hall_refuses_the_whole_batch(store):
    taken = record()
    apply_batch(store, NodeIdentity("h2", "edge"), batch([taken], hall="h2"))
    fresh = [record() for _ in range(3)]
    with pytest.raises(IngestError) as err:
        apply_batch(store, H1, batch(fresh + [taken]))
    assert err.value.status == 409
    assert count(store) == 1  # the three fresh ones were rolled back with it


def test_an_id_twice_in_one_batch_is_refused(store):
    rec = record()
    with pytest.raises(IngestError) as err:
        apply_batch(store, H1, batch([rec, rec]))
    assert err.value.status == 422 and count(store) == 0


def test_concurrent_replays_apply_once(store, db_url):
    """Several API workers receiving the same batch at once (a retry racing the original)."""
    recs = [record() for _ in range(40)]
    results, errors = [], []

    def send():
        s = Store.connect(db_url)
        try:
            results.append(apply_batch(s, H1, batch(recs)))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(len(r.applied) for r in results) == 40
    assert count(store) == 40


def test_an_older_edges_node_state_record_is_kept_in_the_ledger_not_refused(store):
    """Edges now tell the centre which nodes are online in their ``hall_status``; one built
    before still sends ``node_state``: its batch is taken, the record kept, nothing projected."""
    old = record("node_state", node="kiosk-01", state="lost", session=1)
    ack = apply_batch(store, H1, batch([old, record()]))
    assert len(ack.applied) == 2
    assert store.scalar("SELECT kind FROM records WHERE id = ?" + ("::uuid" if store.dialect == "postgresql" else ""),
                        (old["id"],)) == "node_state"
    assert store.scalar("SELECT count(*) FROM fleet_nodes") == 0


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"hall_id": "h1", "sent_at": 1, "records": []}, "records"),
        ({"hall_id": "h1", "sent_at": 1, "records": [{**record(), "kind": "bribe"}]}, "kind"),
        ({"hall_id": "h1", "sent_at": 1, "records": [{**record(), "id": "not-a-uuid"}]}, "id"),
        ({"hall_id": "h1", "sent_at": 1, "records": [{**record(), "extra": 1}]}, "extra"),
        ({"hall_id": "H 1", "sent_at": 1, "records": [record()]}, "hall_id"),
        ({"hall_id": "h1", "sent_at": 1, "records": [record(text="x" * 40_000)]}, "body"),
    ],
)
def test_malformed_batches_are_refused_with_the_field_named(bad, where):
    with pytest.raises(ValidationError) as err:
        Batch.model_validate(bad)
    assert where in str(err.value)


def test_credentials_identify_and_revoke(store):
    token = credentials.issue(store, "h1", "edge")
    assert credentials.identify(store, token) == NodeIdentity("h1", "edge")
    assert credentials.identify(store, "forged-" + token) is None
    assert store.scalar("SELECT count(*) FROM node_credentials WHERE token_hash = ?", (token,)) == 0  # only a hash is kept
    newer = credentials.issue(store, "h1", "edge")
    assert credentials.identify(store, token) is None and credentials.identify(store, newer) is not None
    assert credentials.revoke(store, "h1", "edge")
    assert credentials.identify(store, newer) is None


def test_migrations_run_once_even_from_several_workers(db_url):
    done: list[list[str]] = []

    def run():
        s = Store.connect(db_url)
        done.append(migrate(s, MIGRATIONS))
        s.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(d) for d in done) == [0, 0, len(MIGRATIONS)]


def test_an_oversized_batch_is_refused_whole():
    with pytest.raises(ValidationError, match="at most 500"):
        batch([record() for _ in range(protocol.MAX_RECORDS + 1)])
    assert len(batch([record() for _ in range(protocol.MAX_RECORDS)]).records) == protocol.MAX_RECORDS
