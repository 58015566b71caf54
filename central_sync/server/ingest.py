"""Applying a hall's batch at the centre: exactly once per record, all or nothing per batch.

The node's identity comes from its credential (never from the batch): a batch naming
another hall is refused, and so is a record whose id the centre already holds for another
hall. New records are inserted with ``ON CONFLICT DO NOTHING``; the ones that were already
there are reported as duplicates, so a hall that sends a batch again after a lost
acknowledgement learns that the centre has them, and nothing is applied twice.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from uuid import UUID

from typing import Callable

from central_sync.protocol import Ack, Batch, Record
from central_sync.store import Store

from . import (complaint_projection, fleet_projection, register_projection, report_projection, retention,
               rollout_gate)
from .refusal import Refused

log = logging.getLogger(__name__)


class IngestError(Refused):
    """A batch refused whole (another hall's, or a record id twice or held by another hall)."""


@dataclass(frozen=True)
class NodeIdentity:
    hall_id: str
    node_id: str


def apply_batch(store: Store, who: NodeIdentity, batch: Batch, *, now: float | None = None) -> Ack:
    if batch.hall_id != who.hall_id:
        raise IngestError("wrong_hall", 403, f"this credential belongs to hall {who.hall_id}, not {batch.hall_id}")
    ids = [r.id for r in batch.records]
    if len(set(ids)) != len(ids):
        raise IngestError("duplicate_ids", 422, "a record id appears twice in the batch")
    fleet_projection.check(batch.records)  # before anything is stored
    received = time.time() if now is None else now
    rows = [
        (str(r.id), who.hall_id, r.node, r.kind, r.ts, received, json.dumps(r.body, ensure_ascii=False, sort_keys=True))
        for r in batch.records
    ]
    with store.transaction():
        inserted = _insert_new(store, rows)
        gate = any(r.kind in GATE_KINDS and str(r.id) in inserted for r in batch.records)
        for r in batch.records:
            project = PROJECTIONS.get(r.kind)
            if project is not None and str(r.id) in inserted:
                gate = _project(store, project, who.hall_id, r, received) or gate
        report_projection.project_batch(store, who.hall_id, [r for r in batch.records if str(r.id) in inserted])
        old = [i for i in ids if str(i) not in inserted]
        if old:
            owners = _owners(store, [str(i) for i in old])
            foreign = [i for i, hall in owners.items() if hall != who.hall_id]
            if foreign:
                # Rolls back this batch's inserts too: nothing of it stays.
                raise IngestError("id_taken", 409, f"record {foreign[0]} belongs to another hall")
        store.execute("UPDATE halls SET last_sync = ? WHERE hall_id = ?", (received, who.hall_id))
        if gate:
            _judge_rollouts(store, who.hall_id, received)
    return Ack(applied=[i for i in ids if str(i) in inserted], duplicates=old, received_at=received)


def _project(store: Store, project: Projection, hall_id: str, r: Record, received: float) -> bool:
    """Update the record's own table, in a savepoint: a body the projection cannot read
    (a version that is not a number, a date out of range) leaves the record stored as the
    hall sent it and the table as it was. Refusing the record instead would stop that hall's
    outbox behind it for good; answering 500 would have it sent again forever. True when
    the projection says the hall's rollouts should be judged again (see :data:`PROJECTIONS`)."""
    store.execute("SAVEPOINT projection")
    judge = False
    try:
        judge = bool(project(store, hall_id, r, received))
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as exc:
        store.execute("ROLLBACK TO SAVEPOINT projection")
        log.warning("record %s (%s) from %s stored, but its body could not be projected: %s", r.id, r.kind, hall_id, exc)
    except Exception as exc:
        if not _is_bad_value(exc):
            raise
        store.execute("ROLLBACK TO SAVEPOINT projection")
        log.warning("record %s (%s) from %s stored, but the database refused its projection: %s", r.id, r.kind, hall_id, exc)
        judge = False
    store.execute("RELEASE SAVEPOINT projection")
    return judge


def _is_bad_value(exc: Exception) -> bool:
    """A database error caused by the values (a dict as a parameter, a type the column
    refuses), not by the database being unwell."""
    import sqlite3

    try:
        import psycopg
        pg = (psycopg.DataError, psycopg.ProgrammingError)
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pg = ()
    return isinstance(exc, (sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.IntegrityError, *pg))


def _config_report(store: Store, hall_id: str, r: Record, received: float) -> None:
    """The configuration a node runs: kept if newer (by the node's clock) than the last one."""
    b = r.body
    store.execute(
        "INSERT INTO config_reports (hall_id, node_id, version, status, reason, node_ts, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (hall_id, node_id) DO UPDATE SET version = excluded.version, status = excluded.status, "
        "reason = excluded.reason, node_ts = excluded.node_ts, received_at = excluded.received_at "
        "WHERE config_reports.node_ts < excluded.node_ts",
        (hall_id, str(b.get("node", r.node)), int(b.get("version", 0)), str(b.get("status", "")), str(b.get("reason", ""))[:500], r.ts, received),
    )


def _node_birth(store: Store, hall_id: str, r: Record, received: float) -> None:
    """A node of the hall said who it is: the centre learns the hall's kiosks from this."""
    b = r.body
    store.execute(
        "INSERT INTO hall_nodes (hall_id, node_id, kind, sw, config_version, node_ts) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (hall_id, node_id) DO UPDATE SET kind = excluded.kind, sw = excluded.sw, "
        "config_version = excluded.config_version, node_ts = excluded.node_ts WHERE hall_nodes.node_ts < excluded.node_ts",
        (hall_id, str(b.get("node", r.node)), str(b.get("kind", "")), str(b.get("sw", "")), b.get("config_version"), r.ts),
    )


def _erasure(store: Store, hall_id: str, r: Record, received: float) -> None:
    """A resident asked the hall to erase their requests: the centre's copies go too."""
    retention.erase_requested(store, hall_id, r.body, now=received)


GATE_KINDS = frozenset({"config_report"})
"""Kinds after which a waiting rollout of the hall is judged again, in the batch's transaction;
also after a projection that says so (a ``hall_status`` that changed a node's online state)."""


def _judge_rollouts(store: Store, hall_id: str, received: float) -> None:
    """Judge the hall's waiting rollouts again, in a savepoint: a judging that fails is
    logged and left to the next tick or page view, never a reason to refuse the batch."""
    store.execute("SAVEPOINT rollouts")
    try:
        rollout_gate.judge_waiting(store, hall=hall_id, now=received, publisher=_publisher())
    except Exception:
        store.execute("ROLLBACK TO SAVEPOINT rollouts")
        log.exception("rollouts of %s not judged after its batch", hall_id)
    store.execute("RELEASE SAVEPOINT rollouts")


def _publisher() -> rollout_gate.Publisher | None:
    """The centre's signing key while a request is being served (a rollout that continues
    by itself publishes its next stage); None outside one (judged, not continued)."""
    from flask import current_app, has_app_context

    return rollout_gate.Publisher.of(current_app) if has_app_context() and "config_key" in current_app.extensions else None


Projection = Callable[[Store, str, Record, float], bool | None]

PROJECTIONS: dict[str, Projection] = {
    "config_report": _config_report,
    "node_birth": _node_birth,
    "erasure": _erasure,
    **complaint_projection.PROJECTIONS,
    **register_projection.PROJECTIONS,
    **fleet_projection.PROJECTIONS,
}
"""Kinds that also update a table of their own, in the transaction that first stores them
(so exactly once, like the record itself). A projection returns True when what it changed
may decide a waiting rollout's gate (fleet_projection: a node went offline or came back);
the hall's rollouts are then judged after the batch, as after a :data:`GATE_KINDS` record.
A kind without a projection (``node_state`` from an older edge) is only kept in the ledger."""


_INSERT = ("INSERT INTO records (id, hall_id, node_id, kind, node_ts, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (id) DO NOTHING")


def _insert_new(store: Store, rows: list[tuple]) -> set[str]:
    """Insert what is new; return the ids inserted by this call.

    On PostgreSQL the batch is COPYed into a temporary table (emptied at commit) and moved
    with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``: COPY is the
    fastest way in, and the one statement reports exactly which ids were new.
    """
    if store.dialect == "postgresql":
        conn = store.conn
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS incoming (id UUID, hall_id TEXT, node_id TEXT, kind TEXT, "
            "node_ts DOUBLE PRECISION, received_at DOUBLE PRECISION, body JSONB) ON COMMIT DELETE ROWS"
        )
        with conn.cursor() as cur:
            with cur.copy("COPY incoming (id, hall_id, node_id, kind, node_ts, received_at, body) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            result = cur.execute(
                "INSERT INTO records (id, hall_id, node_id, kind, node_ts, received_at, body) "
                "SELECT id, hall_id, node_id, kind, node_ts, received_at, body FROM incoming "
                "ON CONFLICT (id) DO NOTHING RETURNING id"
            ).fetchall()
        return {str(r["id"]) for r in result}
    inserted = set()
    for row in rows:
        if store.execute(_INSERT, row).rowcount == 1:
            inserted.add(row[0])
    return inserted


def _owners(store: Store, ids: list[str]) -> dict[UUID, str]:
    cast = "::uuid" if store.dialect == "postgresql" else ""
    marks = ",".join("?" + cast for _ in ids)
    rows = store.query(f"SELECT id, hall_id FROM records WHERE id IN ({marks})", ids)
    return {UUID(str(r["id"])): r["hall_id"] for r in rows}
