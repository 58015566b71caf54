"""The fleet view's tables, from the halls' ``hall_status`` records (central_sync/hall_status.py).

Each record is a hall's whole picture: it replaces the hall's rows in ``fleet_halls``,
``fleet_nodes``, ``hall_alarms`` and ``fleet_printers``, unless the centre already holds a
newer one by the hall's clock (a batch sent again after a lost acknowledgement). The
ledger keeps only the newest status of each hall: a heartbeat every 30 s from every hall
would otherwise be most of what it holds, and an older status means nothing once a newer
one is here.

A malformed status is refused before anything of its batch is stored (:func:`check`,
called by :func:`central_sync.server.ingest.apply_batch`): the edge checks the same model
before writing one, so only a broken or foreign sender meets the refusal, and it learns
which field is wrong.
"""

from __future__ import annotations

from typing import Callable, Iterable

from pydantic import ValidationError

from central_sync.hall_status import SEVERITIES, HallStatus
from central_sync.protocol import Record
from central_sync.store import Store

from .refusal import Refused

AED_DOOR = "aed_door_open"
"""The alarm that may mean a rescue in progress: above every other, in every hall."""


def rank(severity: str, type_: str) -> int:
    """Sort key of an alarm across halls: the AED door 0, then critical 1 ... warning 4."""
    if type_ == AED_DOOR:
        return 0
    return 1 + (SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES))


def check(records: Iterable[Record]) -> None:
    """Refuse (422) a batch with a ``hall_status`` record the fleet view cannot read."""
    for i, r in enumerate(records):
        if r.kind != "hall_status":
            continue
        try:
            HallStatus.model_validate(r.body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "body"
            raise Refused("malformed_hall_status", 422,
                          f"hall_status 记录格式错误，整批未保存 · malformed hall_status record, nothing of the batch "
                          f"was stored: records.{i}.body.{where}: {first['msg']}") from None


def _hall_status(store: Store, hall_id: str, r: Record, received: float) -> bool:
    """Replace the hall's rows; True when a node's online state changed (the rollout gate
    judges by it, presence.py), so the hall's rollouts are judged again (ingest.py)."""
    s = HallStatus.model_validate(r.body)
    held = store.scalar("SELECT node_ts FROM fleet_halls WHERE hall_id = ?", (hall_id,))
    if held is not None and held > r.ts:
        cast = "::uuid" if store.dialect == "postgresql" else ""
        store.execute(f"DELETE FROM records WHERE id = ?{cast}", (str(r.id),))  # older than what the view shows
        return False
    before = {n["node_id"]: bool(n["online"]) for n in
              store.query("SELECT node_id, online FROM fleet_nodes WHERE hall_id = ?", (hall_id,))}
    store.execute(
        "INSERT INTO fleet_halls (hall_id, node_ts, received_at, sw, config_version, heartbeat_s, backlog, backlog_age, "
        "alarms_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hall_id) DO UPDATE SET node_ts = excluded.node_ts, "
        "received_at = excluded.received_at, sw = excluded.sw, config_version = excluded.config_version, "
        "heartbeat_s = excluded.heartbeat_s, backlog = excluded.backlog, backlog_age = excluded.backlog_age, "
        "alarms_total = excluded.alarms_total",
        (hall_id, r.ts, received, s.sw, s.config_version, s.heartbeat_s, s.backlog.depth, s.backlog.oldest_age,
         s.alarms_total))
    rows = {
        "fleet_nodes (hall_id, node_id, kind, state, online, last_seen, sw, config_version)":
            [(hall_id, n.node, n.kind, n.state, int(n.online), n.last_seen, n.sw, n.config_version)
             for n in {n.node: n for n in s.nodes}.values()],
        "hall_alarms (hall_id, alarm_id, severity, rank, state, type, source, text, raised_at)":
            [(hall_id, a.id, a.severity, rank(a.severity, a.type), a.state, a.type, a.source, a.text, a.raised_at)
             for a in {a.id: a for a in s.alarms}.values()],
        "fleet_printers (hall_id, printer_id, online, paper, can_print)":
            [(hall_id, p.id, int(p.online), p.paper, int(p.can_print)) for p in {p.id: p for p in s.printers}.values()],
    }
    for table, values in rows.items():
        store.execute(f"DELETE FROM {table.split()[0]} WHERE hall_id = ?", (hall_id,))
        if values:
            store.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(values[0]))})", values)
    # Only the newest status stays in the ledger (see the module docstring).
    store.execute("DELETE FROM records WHERE hall_id = ? AND kind = 'hall_status' AND node_ts < ?", (hall_id, r.ts))
    return before != {n.node: n.online for n in s.nodes}


PROJECTIONS: dict[str, Callable[[Store, str, Record, float], bool]] = {"hall_status": _hall_status}
