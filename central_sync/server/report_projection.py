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
written); months and hours are China time, as complaints' are. Like the other projections,
each function runs once per record inside the batch's transaction, and a body it cannot
read is logged and skipped, never refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from central_sync.protocol import Record
from central_sync.store import Store

from .complaint_projection import TZ, parsed

Time = float
SEVERITY_RANK = {"critical": 0, "major": 1, "minor": 2, "warning": 3}
AREAS = ("env", "aed", "first_aid")
"""Alarm id prefixes the reports count; other alarms (printers, disks) are not kept here."""


class _Body(BaseModel):
    """Bodies as the reports read them: times within the calendar (2000-2100), anything
    else is a body the projection skips."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


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
    items: int = Field(0, ge=0)
    expiring: int = Field(0, ge=0)
    expired: int = Field(0, ge=0)


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


def project_ticket(store: Store, hall_id: str, r: Record, received: float) -> None:
    t = parsed(_Ticket, r, hall_id)
    if t is None:
        return
    when = local(t.issued_at)
    store.execute(
        "INSERT INTO report_tickets (id, hall_id, service, priority, issued_at, month, hour) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET service = excluded.service, priority = excluded.priority, "
        "issued_at = excluded.issued_at, month = excluded.month, hour = excluded.hour "
        "WHERE report_tickets.hall_id = excluded.hall_id",
        (t.id, hall_id, t.service, t.priority, t.issued_at, when.strftime("%Y-%m"), when.hour))


def project_outcome(store: Store, hall_id: str, r: Record, received: float) -> None:
    """The ticket's end; it also carries what its issue record does, so a ticket whose
    ``ticket`` record comes later (or never) is still counted."""
    o = parsed(_Outcome, r, hall_id)
    if o is None:
        return
    when = local(o.issued_at)
    store.execute(
        "INSERT INTO report_tickets (id, hall_id, service, service_name, priority, issued_at, month, hour, status, "
        "counter, called_at, ended_at, wait_s, service_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET service_name = excluded.service_name, status = excluded.status, "
        "counter = excluded.counter, called_at = excluded.called_at, ended_at = excluded.ended_at, "
        "wait_s = excluded.wait_s, service_s = excluded.service_s WHERE report_tickets.hall_id = excluded.hall_id",
        (o.id, hall_id, o.service, f"{o.name_zh} · {o.name_en}" if o.name_zh else "", o.priority, o.issued_at,
         when.strftime("%Y-%m"), when.hour, o.status, o.counter, o.called_at, o.ended_at, o.wait_s, o.service_s))


def project_rating(store: Store, hall_id: str, r: Record, received: float) -> None:
    x = parsed(_Rating, r, hall_id)
    if x is None:
        return
    store.execute("INSERT INTO report_ratings (id, hall_id, month, service, counter, rating, rated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                  (x.id, hall_id, local(x.rated_at).strftime("%Y-%m"), x.service, x.counter, x.rating, x.rated_at))


def project_alarm(store: Store, hall_id: str, r: Record, received: float) -> None:
    """One row per occurrence, in any order of its raise, updates and clear: the worst
    severity seen (and its type: a first-aid reminder that became "expired"), and the clear."""
    a = parsed(_Alarm, r, hall_id)
    if a is None:
        return
    area, _, subject = a.id.partition(".")
    if area not in AREAS:
        return
    if area == "env":  # env.<node>.<reading>
        subject = subject.rpartition(".")[2]
    elif area == "first_aid":  # first_aid.<box>.<item>
        subject = subject.partition(".")[0]
    cleared = a.cleared_at if a.event == "cleared" else None
    store.execute(
        "INSERT INTO report_alarms (hall_id, alarm_id, raised_at, area, subject, type, severity, rank, cleared_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hall_id, alarm_id, raised_at) DO UPDATE SET "
        "type = CASE WHEN excluded.rank < report_alarms.rank THEN excluded.type ELSE report_alarms.type END, "
        "severity = CASE WHEN excluded.rank < report_alarms.rank THEN excluded.severity ELSE report_alarms.severity END, "
        "rank = CASE WHEN excluded.rank < report_alarms.rank THEN excluded.rank ELSE report_alarms.rank END, "
        "cleared_at = COALESCE(excluded.cleared_at, report_alarms.cleared_at)",
        (hall_id, a.id, a.raised_at, area, subject[:64], a.type, a.severity, SEVERITY_RANK[a.severity], cleared))


def project_device_event(store: Store, hall_id: str, r: Record, received: float) -> None:
    """The first-aid boxes' records (edge_agent/first_aid.py sends them as device events)."""
    event = r.body.get("event")
    if event == "first_aid.inspection":
        i = _inspection(r, hall_id)
        if i is not None:
            store.execute("INSERT INTO report_aid_inspections (id, hall_id, box, at, month, items, expiring, expired) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                          (i.id, hall_id, i.box, i.at, local(i.at).strftime("%Y-%m"), i.items, i.expiring, i.expired))
    elif isinstance(event, str) and event.startswith("first_aid.") and isinstance(r.body.get("item"), dict):
        item = _item(r, hall_id)
        if item is not None:
            store.execute(
                "INSERT INTO report_aid_items (id, hall_id, box, kind, expiry, removed_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET box = excluded.box, kind = excluded.kind, "
                "expiry = excluded.expiry, removed_at = excluded.removed_at, updated_at = excluded.updated_at "
                "WHERE report_aid_items.hall_id = excluded.hall_id AND report_aid_items.updated_at <= excluded.updated_at",
                (item.id, hall_id, item.box, item.kind, item.expiry, item.removed_at, item.updated_at))


def _inspection(r: Record, hall_id: str) -> _Inspection | None:
    body = r.body.get("inspection")
    return parsed(_Inspection, r.model_copy(update={"body": body}), hall_id) if isinstance(body, dict) else None


def _item(r: Record, hall_id: str) -> _Item | None:
    return parsed(_Item, r.model_copy(update={"body": r.body["item"]}), hall_id)


def project_aed_check(store: Store, hall_id: str, r: Record, received: float) -> None:
    c = parsed(_AedCheck, r, hall_id)
    if c is None:
        return
    when = local(c.at)
    store.execute("INSERT INTO report_aed_checks (id, hall_id, kind, result, at, month, day) VALUES (?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (id) DO NOTHING",
                  (str(r.id), hall_id, c.check, c.result, c.at, when.strftime("%Y-%m"), when.date().isoformat()))


Projection = Callable[[Store, str, Record, float], None]

PROJECTIONS: dict[str, Projection] = {
    "ticket": project_ticket, "ticket_outcome": project_outcome, "service_rating": project_rating,
    "alarm": project_alarm, "device_event": project_device_event, "aed_check": project_aed_check,
}


def merge_into(projections: dict[str, Projection], run: Callable[[Store, Projection, str, Record, float], None]) -> None:
    """Add these to ingest's ``projections``. A kind another part projects too (the fleet
    view keeps alarms as well) runs both, each through ``run`` (ingest's savepoint), so a
    body one of them cannot read does not undo the other's row."""
    for kind, mine in PROJECTIONS.items():
        theirs = projections.get(kind)
        if theirs is None:
            projections[kind] = mine
            continue

        def both(store: Store, hall_id: str, r: Record, received: float, first: Projection = theirs,
                 second: Projection = mine) -> None:
            run(store, first, hall_id, r, received)
            run(store, second, hall_id, r, received)

        projections[kind] = both
