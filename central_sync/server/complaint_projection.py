"""Residents' requests at the centre: the ledger's ``complaint``, ``complaint_event`` and
``rating`` records projected into two tables (``complaints``, ``complaint_events``; migration
``007_complaints``), so the admin views and the satisfaction and on-time figures are plain SQL
on SQLite and PostgreSQL alike.

Each function runs in :func:`~central_sync.server.ingest.apply_batch`'s transaction, only for a
record stored for the first time, so each record is projected exactly once. Records of one
request may arrive in any order (separate outbox rows, batches retried): an event or a rating
that comes before its request makes a stub row that the request fills in later, and the
status only moves forward by the hall's clock (``status_ts``).

What the centre keeps of the person is masked here, before it is stored (张*, 138****5678):
the admin console never needs more, and the raw record stays in the ledger.

A body that cannot be projected (a hall on other software, a damaged record) is logged and
skipped, never refused: refusing would stop that hall's outbox behind it for good.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from central_sync.protocol import Record
from central_sync.store import Store
from hall_common.channels import CHANNELS
from hall_common.privacy import mask_name, mask_phone

log = logging.getLogger(__name__)

TZ = ZoneInfo("Asia/Shanghai")
"""The company's clock for months ("2026-11"): the central configuration has no time zone,
and every hall of a mainland company keeps China time."""
EMERGENCY_WITHIN_S = 15 * 60
"""An emergency's first feedback is due "at once" (seed 002); for the on-time rate it counts
as on time when staff responded within 15 minutes of the report."""
RESPONSES = ("accept", "cancel", "out_of_remit", "force_close")
"""Actions that are a first feedback to the resident (taken on, or answered and closed)."""
SATISFIED = ("very_satisfied", "satisfied", "basically_satisfied")


class _Complaint(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=64)
    tracking_no: str = Field(min_length=1, max_length=20)
    kind: str = ""
    category: str = ""
    place: str = ""
    content: str = ""
    wanted: str = ""
    name: str = ""
    room: str = ""
    phone: str = ""
    channel: str = ""
    taken_by: str = ""
    occurred_at: float | None = None
    grade: str = "general"
    emergency: str = ""
    repeat: int = 0
    received_at: float
    feedback_due: float

    @field_validator("occurred_at")
    @classmethod
    def _a_date(cls, value: float | None) -> float | None:
        """A time no calendar shows (a damaged record) is kept as unknown, not refused."""
        try:
            return value if value is None or datetime.fromtimestamp(value, TZ) else None
        except (OverflowError, OSError, ValueError):
            return None


class _AboutComplaint(BaseModel):
    """A record about one complaint (a step taken on it, the resident's rating), named by
    its id and tracking number, at ``ts`` by the hall's clock."""

    model_config = ConfigDict(extra="ignore")
    complaint: str = Field(min_length=1, max_length=64)
    tracking_no: str = Field(min_length=1, max_length=20)
    ts: float


class _Event(_AboutComplaint):
    action: str
    status: str = ""
    who: str = ""
    note: str = ""
    grade: str | None = None


class _Rating(_AboutComplaint):
    rating: str
    comment: str = ""
    reopened: bool = False


def mask_contact(phone: str) -> str:
    """A mobile as 138****5678; anything else (a landline) keeps only its last 4 digits."""
    masked = mask_phone(phone)
    if masked != phone or len(phone) <= 4:
        return masked
    return "*" * (len(phone) - 4) + phone[-4:]


def month_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, TZ).strftime("%Y-%m")


def parsed(model: type[BaseModel], r: Record, hall_id: str) -> Any:
    """The record's body as ``model`` reads it, or None (logged) when it cannot be read: a
    projection skips that record, which stays in the ledger as the hall sent it."""
    try:
        return model.model_validate(r.body)
    except ValidationError as exc:
        log.warning("%s record %s from hall %s not projected: %s", r.kind, r.id, hall_id,
                    exc.errors()[0]["msg"] if exc.errors() else exc)
        return None


def _stub(store: Store, hall_id: str, complaint_id: str, tracking_no: str) -> None:
    """Make sure the request has a row, even before its own record arrived."""
    store.execute("INSERT INTO complaints (id, hall_id, tracking_no) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                  (complaint_id, hall_id, re.sub(r"\D", "", tracking_no)))


def _move(store: Store, hall_id: str, complaint_id: str, status: str, ts: float) -> None:
    """The status, unless a later step (by the hall's clock) is already known."""
    store.execute("UPDATE complaints SET status = ?, status_ts = ? WHERE id = ? AND hall_id = ? "
                  "AND (status_ts IS NULL OR status_ts <= ?)", (status, ts, complaint_id, hall_id, ts))


def channel_of(c: _Complaint) -> tuple[str, str]:
    """(channel, taken_by) of a request. A hall on older software sent the kiosk's id as
    the channel: every request came from a kiosk then."""
    if c.channel in CHANNELS:
        return c.channel, c.taken_by
    return "kiosk", c.taken_by or c.channel


def project_complaint(store: Store, hall_id: str, r: Record, received: float) -> None:
    c = parsed(_Complaint, r, hall_id)
    if c is None:
        return
    accept_by = c.received_at + EMERGENCY_WITHIN_S if c.grade == "emergency" else c.feedback_due
    channel, taken_by = channel_of(c)
    store.execute(
        "INSERT INTO complaints (id, hall_id, tracking_no, kind, category, place, content, wanted, room, name_masked, "
        "phone_masked, channel, taken_by, occurred_at, grade, submitted_grade, emergency, is_repeat, received_at, "
        "feedback_due, accept_by, month, status, status_ts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'submitted', ?) "
        "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, category = excluded.category, place = excluded.place, "
        "content = excluded.content, wanted = excluded.wanted, room = excluded.room, name_masked = excluded.name_masked, "
        "phone_masked = excluded.phone_masked, channel = excluded.channel, taken_by = excluded.taken_by, "
        "occurred_at = excluded.occurred_at, "
        "grade = COALESCE(complaints.grade, excluded.grade), submitted_grade = excluded.submitted_grade, "
        "emergency = excluded.emergency, is_repeat = excluded.is_repeat, received_at = excluded.received_at, "
        "feedback_due = excluded.feedback_due, accept_by = excluded.accept_by, month = excluded.month, "
        "status = COALESCE(complaints.status, excluded.status), status_ts = COALESCE(complaints.status_ts, excluded.status_ts) "
        "WHERE complaints.hall_id = excluded.hall_id",
        (c.id, hall_id, re.sub(r"\D", "", c.tracking_no), c.kind, c.category, c.place, c.content, c.wanted, c.room,
         mask_name(c.name), mask_contact(c.phone), channel, taken_by, c.occurred_at, c.grade, c.grade, c.emergency,
         int(c.repeat),
         c.received_at, c.feedback_due, accept_by, month_of(c.received_at), c.received_at),
    )


def _about(store: Store, hall_id: str, r: Record, model: type[_AboutComplaint]) -> Any:
    """A record about a complaint, parsed, with the complaint's row made sure of; None (and
    nothing done) if it does not parse."""
    x = parsed(model, r, hall_id)
    if x is not None:
        _stub(store, hall_id, x.complaint, x.tracking_no)
    return x


def _add_event(store: Store, hall_id: str, r: Record, x: _AboutComplaint, action: str, status: str, who: str,
               note: str, rating: str | None = None) -> None:
    """The record as a step in its complaint's history."""
    store.execute("INSERT INTO complaint_events (id, complaint_id, hall_id, ts, action, status, who, note, rating) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (str(r.id), x.complaint, hall_id, x.ts, action, status, who, note, rating))


def project_event(store: Store, hall_id: str, r: Record, received: float) -> None:
    e = _about(store, hall_id, r, _Event)
    if e is None:
        return
    _add_event(store, hall_id, r, e, e.action, e.status, e.who, e.note)
    if e.status:
        _move(store, hall_id, e.complaint, e.status, e.ts)
    if e.action == "accept":
        store.execute("UPDATE complaints SET receiver = ?, grade = COALESCE(?, grade), accepted_at = ? WHERE id = ? "
                      "AND hall_id = ? AND (accepted_at IS NULL OR accepted_at > ?)",
                      (e.who, e.grade, e.ts, e.complaint, hall_id, e.ts))
    if e.action in RESPONSES:
        store.execute("UPDATE complaints SET responded_at = ? WHERE id = ? AND hall_id = ? "
                      "AND (responded_at IS NULL OR responded_at > ?)", (e.ts, e.complaint, hall_id, e.ts))
    if e.action == "escalate":
        store.execute("UPDATE complaints SET escalated = 1 WHERE id = ? AND hall_id = ?", (e.complaint, hall_id))


def project_rating(store: Store, hall_id: str, r: Record, received: float) -> None:
    """Every rating counts in the satisfaction rate; the request shows its latest one."""
    x = _about(store, hall_id, r, _Rating)
    if x is None:
        return
    _add_event(store, hall_id, r, x, "rate", "accepted" if x.reopened else "", "resident", x.comment[:200], x.rating)
    store.execute("UPDATE complaints SET rating = ?, rating_comment = ?, rated_at = ? WHERE id = ? AND hall_id = ? "
                  "AND (rated_at IS NULL OR rated_at <= ?)", (x.rating, x.comment[:200], x.ts, x.complaint, hall_id, x.ts))
    if x.reopened:
        store.execute("UPDATE complaints SET reopened = reopened + 1 WHERE id = ? AND hall_id = ?", (x.complaint, hall_id))
        _move(store, hall_id, x.complaint, "accepted", x.ts)


PROJECTIONS = {"complaint": project_complaint, "complaint_event": project_event, "rating": project_rating}
"""Merged into :data:`central_sync.server.ingest.PROJECTIONS`."""
