"""What the monthly reports count, projected from the ledger at ingest (migration
``019_reports``): small tables with no personal data, so each figure is plain SQL on SQLite
and PostgreSQL alike (:mod:`.reports`).

* ``ticket`` (issued) and ``ticket_outcome`` (served, no-show or cancelled, with its wait and
  service time) → ``report_tickets``, one row per ticket, whichever arrives first;
* ``service_rating`` → ``report_ratings`` (the level and the counter; not the comment, not
  the staff member);
* ``alarm`` raises, updates and clears → ``report_alarms``, one row per occurrence (an
  alarm id and the time it was raised): the environment's exceedances (``env.*``), the AED's
  door openings, failed or missing self-tests and expiries (``aed.*``), the first-aid
  boxes' expiry reminders (``first_aid.*``). The alarm's text is not kept (it may quote a
  resident);
* ``device_event`` of the first-aid boxes → ``report_aid_inspections`` (each inspection and
  what it found expired or expiring) and ``report_aid_items`` (each item's expiry date);
* ``aed_check`` → ``report_aed_checks`` (each self-test result, each after-use checklist).

Times are the hall's (the body's), never the record's ``ts`` (when the outbox row was
written); months and hours are China time, as complaints' are.

Tickets are most of what halls send, so a batch is projected at once: each new record's row
is built and checked in Python, then one ``executemany`` per statement writes them, in the
batch's transaction (so once per record, like the record itself). Every statement is an
upsert whose result does not depend on the order of a ticket's or an alarm's records. A body
that cannot be read is left out (one log line per batch and kind), never refused: refusing
would stop that hall's outbox behind it for good.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from central_sync.protocol import Record
from central_sync.store import Store

from .complaint_projection import TZ

log = logging.getLogger(__name__)

Time = float
SEVERITY_RANK = {"critical": 0, "major": 1, "minor": 2, "warning": 3}
AREAS = ("env", "aed", "first_aid")
"""Alarm id prefixes the reports count; other alarms (printers, disks) are not kept here."""


class _Body(BaseModel):
    """Bodies as the reports read them: times within the calendar (2000-2100), counts that
    fit a column, text without NUL (PostgreSQL refuses it); anything else is skipped, so
    the database never refuses a row of these."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    @model_validator(mode="after")
    def _no_nul(self) -> "_Body":
        if any(isinstance(v, str) and "\x00" in v for v in self.__dict__.values()):
            raise ValueError("text with a NUL character")
        return self


def _time(*, optional: bool = False) -> Any:
    return Field(None if optional else ..., ge=946684800, le=4102444800)


class _Ticket(_Body):
    id: str = Field(min_length=1, max_length=64)
    service: str = Field(min_length=1, max_length=32)
    priority: int = Field(0, ge=0, le=1)
    issued_at: Time = _time()


class _Outcome(_Ticket):
    name_zh: str = Field("", max_length=32)
    name_en: str = Field("", max_length=64)
    status: Literal["done", "no_show", "cancelled"]
    counter: str | None = Field(None, max_length=32)
    called_at: Time | None = _time(optional=True)
    ended_at: Time | None = _time(optional=True)
    wait_s: float | None = Field(None, ge=0, le=86400 * 2)
    service_s: float | None = Field(None, ge=0, le=86400 * 2)


class _Rating(_Body):
    id: str = Field(min_length=1, max_length=64)
    service: str = Field("", max_length=32)
    counter: str | None = Field(None, max_length=32)
    rating: Literal["very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", "very_dissatisfied"]
    rated_at: Time = _time()


class _Alarm(_Body):
    id: str = Field(min_length=1, max_length=128)
    type: str = Field(min_length=1, max_length=64)
    severity: Literal["critical", "major", "minor", "warning"]
    raised_at: Time = _time()
    cleared_at: Time | None = _time(optional=True)
    event: str = ""


class _Inspection(_Body):
    id: str = Field(min_length=1, max_length=64)
    box: str = Field(min_length=1, max_length=32)
    at: Time = _time()
    items: int = Field(0, ge=0, le=100_000)
    expiring: int = Field(0, ge=0, le=100_000)
    expired: int = Field(0, ge=0, le=100_000)


class _Item(_Body):
    id: str = Field(min_length=1, max_length=64)
    box: str = Field(min_length=1, max_length=32)
    kind: str = Field("", max_length=16)
    expiry: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    removed_at: Time | None = _time(optional=True)
    updated_at: Time = _time()


class _AedCheck(_Body):
    check: Literal["self_test", "after_use"]
    result: Literal["pass", "fail"]
    at: Time = _time()


def local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, TZ)


@dataclass(frozen=True)
class Upsert:
    """One table's insert-or-update, as SQL for one row and, on PostgreSQL, for a whole
    batch in one statement (``unnest`` of one array per column: one round trip and one plan
    for 500 tickets). The first ``key`` columns are the conflict key."""

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    conflict: str
    key: int = 1

    @property
    def sql(self) -> str:
        return f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES ({', '.join('?' for _ in self.columns)}) {self.conflict}"

    @property
    def batch_sql(self) -> str:
        arrays = ", ".join(f"?::{t}[]" for t in self.types)
        return f"INSERT INTO {self.table} ({', '.join(self.columns)}) SELECT * FROM unnest({arrays}) {self.conflict}"


TEXT, REAL, INT = "text", "double precision", "integer"
TICKET = Upsert("report_tickets", ("id", "hall_id", "service", "priority", "issued_at", "month", "hour"),
                (TEXT, TEXT, TEXT, INT, REAL, TEXT, INT),
                "ON CONFLICT (id) DO UPDATE SET service = excluded.service, priority = excluded.priority, "
                "issued_at = excluded.issued_at, month = excluded.month, hour = excluded.hour "
                "WHERE report_tickets.hall_id = excluded.hall_id")
OUTCOME = Upsert("report_tickets", ("id", "hall_id", "service", "service_name", "priority", "issued_at", "month", "hour",
                                    "status", "counter", "called_at", "ended_at", "wait_s", "service_s"),
                 (TEXT, TEXT, TEXT, TEXT, INT, REAL, TEXT, INT, TEXT, TEXT, REAL, REAL, REAL, REAL),
                 "ON CONFLICT (id) DO UPDATE SET service_name = excluded.service_name, status = excluded.status, "
                 "counter = excluded.counter, called_at = excluded.called_at, ended_at = excluded.ended_at, "
                 "wait_s = excluded.wait_s, service_s = excluded.service_s WHERE report_tickets.hall_id = excluded.hall_id")
RATING = Upsert("report_ratings", ("id", "hall_id", "month", "service", "counter", "rating", "rated_at"),
                (TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, REAL), "ON CONFLICT (id) DO NOTHING")
ALARM = Upsert("report_alarms", ("hall_id", "alarm_id", "raised_at", "area", "subject", "type", "severity", "rank",
                                 "cleared_at"), (TEXT, TEXT, REAL, TEXT, TEXT, TEXT, TEXT, INT, REAL),
               "ON CONFLICT (hall_id, alarm_id, raised_at) DO UPDATE SET "
               "type = CASE WHEN excluded.rank < report_alarms.rank THEN excluded.type ELSE report_alarms.type END, "
               "severity = CASE WHEN excluded.rank < report_alarms.rank THEN excluded.severity ELSE report_alarms.severity END, "
               "rank = CASE WHEN excluded.rank < report_alarms.rank THEN excluded.rank ELSE report_alarms.rank END, "
               "cleared_at = COALESCE(excluded.cleared_at, report_alarms.cleared_at)", key=3)
INSPECTION = Upsert("report_aid_inspections", ("id", "hall_id", "box", "at", "month", "items", "expiring", "expired"),
                    (TEXT, TEXT, TEXT, REAL, TEXT, INT, INT, INT), "ON CONFLICT (id) DO NOTHING")
ITEM = Upsert("report_aid_items", ("id", "hall_id", "box", "kind", "expiry", "removed_at", "updated_at"),
              (TEXT, TEXT, TEXT, TEXT, TEXT, REAL, REAL),
              "ON CONFLICT (id) DO UPDATE SET box = excluded.box, kind = excluded.kind, expiry = excluded.expiry, "
              "removed_at = excluded.removed_at, updated_at = excluded.updated_at "
              "WHERE report_aid_items.hall_id = excluded.hall_id AND report_aid_items.updated_at <= excluded.updated_at")
AED_CHECK = Upsert("report_aed_checks", ("id", "hall_id", "kind", "result", "at", "month", "day"),
                   (TEXT, TEXT, TEXT, TEXT, REAL, TEXT, TEXT), "ON CONFLICT (id) DO NOTHING")

Row = tuple[Upsert, tuple[Any, ...]]
"""A table's upsert and one row's values."""


def ticket_row(hall_id: str, r: Record) -> list[Row]:
    t = _Ticket.model_validate(r.body)
    when = local(t.issued_at)
    return [(TICKET, (t.id, hall_id, t.service, t.priority, t.issued_at, when.strftime("%Y-%m"), when.hour))]


def outcome_row(hall_id: str, r: Record) -> list[Row]:
    """The ticket's end; it also carries what its issue record does, so a ticket whose
    ``ticket`` record comes later (or never) is still counted."""
    o = _Outcome.model_validate(r.body)
    when = local(o.issued_at)
    return [(OUTCOME, (o.id, hall_id, o.service, f"{o.name_zh} · {o.name_en}" if o.name_zh else "", o.priority,
                       o.issued_at, when.strftime("%Y-%m"), when.hour, o.status, o.counter, o.called_at, o.ended_at,
                       o.wait_s, o.service_s))]


def rating_row(hall_id: str, r: Record) -> list[Row]:
    x = _Rating.model_validate(r.body)
    return [(RATING, (x.id, hall_id, local(x.rated_at).strftime("%Y-%m"), x.service, x.counter, x.rating, x.rated_at))]


def alarm_row(hall_id: str, r: Record) -> list[Row]:
    """One row per occurrence, in any order of its raise, updates and clear: the worst
    severity seen (and its type: a first-aid reminder that became "expired"), and the clear."""
    a = _Alarm.model_validate(r.body)
    area, _, subject = a.id.partition(".")
    if area not in AREAS:
        return []
    if area == "env":  # env.<node>.<reading>
        subject = subject.rpartition(".")[2]
    elif area == "first_aid":  # first_aid.<box>.<item>
        subject = subject.partition(".")[0]
    cleared = a.cleared_at if a.event == "cleared" else None
    return [(ALARM, (hall_id, a.id, a.raised_at, area, subject[:64], a.type, a.severity, SEVERITY_RANK[a.severity],
                     cleared))]


def device_event_rows(hall_id: str, r: Record) -> list[Row]:
    """The first-aid boxes' records (edge_agent/first_aid.py sends them as device events)."""
    event = r.body.get("event")
    if event == "first_aid.inspection":
        i = _Inspection.model_validate(r.body.get("inspection"))
        return [(INSPECTION, (i.id, hall_id, i.box, i.at, local(i.at).strftime("%Y-%m"), i.items, i.expiring, i.expired))]
    if isinstance(event, str) and event.startswith("first_aid.") and "item" in r.body:
        item = _Item.model_validate(r.body["item"])
        return [(ITEM, (item.id, hall_id, item.box, item.kind, item.expiry, item.removed_at, item.updated_at))]
    return []


def aed_check_row(hall_id: str, r: Record) -> list[Row]:
    c = _AedCheck.model_validate(r.body)
    when = local(c.at)
    return [(AED_CHECK, (str(r.id), hall_id, c.check, c.result, c.at, when.strftime("%Y-%m"), when.date().isoformat()))]


ROWS: dict[str, Callable[[str, Record], list[Row]]] = {
    "ticket": ticket_row, "ticket_outcome": outcome_row, "service_rating": rating_row, "alarm": alarm_row,
    "device_event": device_event_rows, "aed_check": aed_check_row,
}


def rows_of(hall_id: str, records: Sequence[Record]) -> list[Row]:
    """The rows of ``records`` (the batch's new ones), in order; those that cannot be read
    are left out, counted in one log line per kind."""
    out: list[Row] = []
    skipped: Counter[str] = Counter()
    first: dict[str, str] = {}
    for r in records:
        build = ROWS.get(r.kind)
        if build is None:
            continue
        try:
            out.extend(build(hall_id, r))
        except (ValidationError, ValueError, OverflowError, OSError) as exc:
            skipped[r.kind] += 1
            first.setdefault(r.kind, f"{r.id}: {exc}".splitlines()[0][:200])
    for kind, n in skipped.items():
        log.warning("%d %s record(s) from hall %s left out of the reports (first %s)", n, kind, hall_id, first[kind])
    return out


def project_batch(store: Store, hall_id: str, records: Sequence[Record]) -> None:
    """Write the reports' rows of a batch's new records: per table, one statement on
    PostgreSQL (unless a key comes twice: an alarm raised and cleared in one batch), one
    ``executemany`` otherwise."""
    grouped: dict[Upsert, list[tuple[Any, ...]]] = {}
    for upsert, values in rows_of(hall_id, records):
        grouped.setdefault(upsert, []).append(values)
    for upsert, rows in grouped.items():
        if store.dialect == "postgresql" and len(rows) > 1 and len({r[:upsert.key] for r in rows}) == len(rows):
            store.execute(upsert.batch_sql, [list(column) for column in zip(*rows)])
        else:
            store.executemany(upsert.sql, rows)
