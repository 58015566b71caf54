"""The front desk's registers at the centre: the ledger's ``register_entry`` and
``register_step`` records (edge_agent/registers/) projected into two small tables
(``register_entries``, ``register_steps``; migration ``013_registers``) that hold no personal
data at all: which register, the entry's number, when it was opened, last changed and
closed. The admin console counts them per hall; retention finds by them which ledger
records to empty (``touched_at``, the entry's last change by the hall's clock).

Like :mod:`.complaint_projection`, each function runs once per record, in the batch's
transaction; a step may arrive before its entry (it makes a stub the entry fills in), and a
body that cannot be read is logged and skipped, never refused.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from central_sync.protocol import Record
from central_sync.store import Store

from .complaint_projection import parsed


class _Entry(BaseModel):
    """A ``register_entry`` record's body, as far as counting needs it (``register`` is read
    as ``book``: pydantic models keep ``register`` for ABC registration)."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=64)
    book: str = Field(min_length=1, max_length=32, validation_alias="register")
    serial: str = Field("", max_length=24)
    opened_at: float
    due_at: float | None = None


class _Step(BaseModel):
    model_config = ConfigDict(extra="ignore")
    entry: str = Field(min_length=1, max_length=64)
    book: str = Field(min_length=1, max_length=32, validation_alias="register")
    serial: str = Field("", max_length=24)
    step: str = Field(min_length=1, max_length=32)
    ts: float
    closes: bool = False


_LATER = "CASE WHEN register_entries.touched_at IS NULL OR register_entries.touched_at < ? THEN ? ELSE register_entries.touched_at END"


def _stub(store: Store, hall_id: str, entry_id: str, register: str, serial: str, ts: float) -> None:
    store.execute("INSERT INTO register_entries (id, hall_id, register, serial, status, touched_at) "
                  "VALUES (?, ?, ?, ?, 'open', ?) ON CONFLICT (id) DO NOTHING", (entry_id, hall_id, register, serial, ts))


def project_entry(store: Store, hall_id: str, r: Record, received: float) -> None:
    e = parsed(_Entry, r, hall_id)
    if e is None:
        return
    _stub(store, hall_id, e.id, e.book, e.serial, e.opened_at)
    store.execute(f"UPDATE register_entries SET register = ?, serial = ?, opened_at = ?, due_at = ?, touched_at = {_LATER} "
                  "WHERE id = ? AND hall_id = ?",
                  (e.book, e.serial, e.opened_at, e.due_at, e.opened_at, e.opened_at, e.id, hall_id))


def project_step(store: Store, hall_id: str, r: Record, received: float) -> None:
    s = parsed(_Step, r, hall_id)
    if s is None:
        return
    _stub(store, hall_id, s.entry, s.book, s.serial, s.ts)
    store.execute("INSERT INTO register_steps (id, hall_id, entry_id, step, ts, closes) VALUES (?, ?, ?, ?, ?, ?)",
                  (str(r.id), hall_id, s.entry, s.step, s.ts, int(s.closes)))
    store.execute(f"UPDATE register_entries SET touched_at = {_LATER} WHERE id = ? AND hall_id = ?",
                  (s.ts, s.ts, s.entry, hall_id))
    if s.closes:
        store.execute("UPDATE register_entries SET status = 'closed', closed_at = ? WHERE id = ? AND hall_id = ?",
                      (s.ts, s.entry, hall_id))


PROJECTIONS = {"register_entry": project_entry, "register_step": project_step}
"""Merged into :data:`central_sync.server.ingest.PROJECTIONS`."""
