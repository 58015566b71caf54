"""Residents' personal data at the centre: erased ``privacy.keep_years`` after a request's
last step, and at once when a hall carries a resident's erasure request (an ``erasure``
record, edge_agent/retention.py).

The front desk's registers (``register_entry``, ``register_step`` records) are erased the
same way, ``keep_years`` after an entry's last change (``register_entries.touched_at``, from
:mod:`.register_projection`, which holds nothing personal itself): the ``person`` object of
each of its records in the ledger, and the text of its reminder alarms.

The centre holds a request twice: projected (``complaints``, ``complaint_events``; name and
phone already masked) and raw in the ledger (``records``: the hall's records as sent, name
and phone in full). Erasure empties the same fields in both, and the text of the request's
emergency alarm in the ledger; the category, grade, times, status and rating stay, so the
satisfaction and on-time figures do not move. Each run and each erasure is a line in
``audit_log`` with its counts, never with the data itself.

What is not erased here, and why (docs/privacy.md): households and bill lines are the
property company's own register and accounts (kept while the household is theirs and as
accounting law asks); payment orders are accounting records.

Several API workers run the daily job's timer; ``retention_runs`` lets one of them run it a
day (the first to insert the day's row).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import datetime
from typing import Any, Callable, Iterable

from central_sync.store import Store

from .complaint_projection import TZ
from .daily import start_daily
from .db import borrowed

log = logging.getLogger(__name__)

YEAR_S = 365.25 * 86400
ERASED_TEXT = "（内容已按个人信息保护要求删除）"
PROJECTED = ("place", "content", "wanted", "room", "name_masked", "phone_masked")
LEDGER = {"complaint": ("name", "phone", "room", "place", "content", "wanted"), "complaint_event": ("note",),
          "rating": ("comment",), "register_entry": ("person",), "register_step": ("person",)}
"""Per ledger kind, the body's fields that are personal (a register's ``person`` is an object:
its keys stay, their values are emptied)."""
ABOUT = {"complaint": "id", "complaint_event": "complaint", "rating": "complaint", "register_entry": "id",
         "register_step": "entry"}
"""Per ledger kind, the body's field naming what the record is about (a request, a register entry)."""
HANDOVER_REGISTERS = ("keys_out", "parcels_waiting", "renovations_due")
"""The sections of a ``handover`` record's sheet that come from the hall's registers."""
LATE_RECORD_S = 30 * 86400
"""A daily run looks only at handover sheets that crossed the line since the last run, and
this much further back, for a hall whose records reached the centre late."""
SYNC_SLACK_S = 7 * 86400
"""How long after a request's last step its records may still reach the centre (a hall
offline for days); the ledger is searched this far beyond it."""
_CHUNK = 400
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
"""A ledger id; a request's id that is not one (another hall software's) has no record of its own."""


def run(store: Store, *, keep_years: int, now: float, day: str | None = None) -> dict[str, int] | None:
    """Erase what is older than ``keep_years``; the counts, or None if ``day`` already ran."""
    cutoff = now - keep_years * YEAR_S
    with store.transaction():
        if day is not None:
            if store.execute("INSERT INTO retention_runs (day, ts) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
                             (day, now)).rowcount == 0:
                return None
        due = store.query("SELECT id, hall_id, tracking_no, grade, received_at, status_ts, responded_at "
                          "FROM complaints WHERE erased_at IS NULL AND coalesce(status_ts, received_at) < ?", (cutoff,))
        counts = {"complaints": 0, "events": 0, "records": 0}
        for hall_id, rows in _by_hall(due).items():
            _add(counts, erase(store, hall_id, rows, now=now, why="retention"))
        entries = store.query("SELECT id, hall_id, register, serial, opened_at, touched_at FROM register_entries "
                              "WHERE erased_at IS NULL AND touched_at < ?", (cutoff,))
        for hall_id, rows in _by_hall(entries).items():
            _add(counts, erase_entries(store, hall_id, rows, now=now, why="retention"))
        counts["resident_failures"] = store.execute("DELETE FROM resident_failures WHERE ts < ?", (now - 86400,)).rowcount
        last = store.scalar("SELECT max(ts) FROM retention_runs WHERE ts < ?", (now,))
        since = None if last is None else last - keep_years * YEAR_S - LATE_RECORD_S
        counts["handovers"] = _erase_handovers(store, cutoff, since)
        _audit(store, now, "system", "privacy.retention", {"keep_years": keep_years, "before": cutoff, **counts})
    log.info("retention: personal data older than %d years erased: %s", keep_years, counts)
    return counts


def _erase_handovers(store: Store, cutoff: float, since: float | None = None) -> int:
    """Halls' handover sheets in the ledger from before ``cutoff``: the registers' lines
    (keys, parcels, renovations) and the notes, which may name a resident or a room, as the
    hall erases its own copy (edge_agent/handover_sheet.py); the rest of the sheet stays."""
    changed = []
    after, bound = ("", ()) if since is None else (" AND node_ts >= ?", (since,))
    for hall in store.query("SELECT hall_id FROM halls"):
        for rec in store.query("SELECT id, body FROM records WHERE hall_id = ? AND kind = 'handover' AND node_ts < ?" + after,
                               (hall["hall_id"], cutoff, *bound)):
            body = rec["body"] if isinstance(rec["body"], dict) else json.loads(rec["body"])
            sheet = body.get("sheet")
            if not isinstance(sheet, dict) or sheet.get("erased"):
                continue
            for section in sheet.get("sections") or []:
                if isinstance(section, dict) and section.get("key") in HANDOVER_REGISTERS:
                    for item in section.get("items") or []:
                        if isinstance(item, dict):
                            item["text"] = ERASED_TEXT
            if sheet.get("notes"):
                sheet["notes"] = ERASED_TEXT
            sheet["erased"] = True
            changed.append((json.dumps(body, ensure_ascii=False), rec["id"]))
    if changed:
        store.executemany("UPDATE records SET body = ? WHERE id = ?", changed)
    return len(changed)


def erase_requested(store: Store, hall_id: str, body: dict[str, Any], *, now: float) -> dict[str, int]:
    """A hall's ``erasure`` record: erase the requests it names (this hall's only), audited
    under the staff member who did it at the hall."""
    ids = [str(i) for i in body.get("complaints", []) if isinstance(i, str)][:1000]
    rows = []
    for part in _chunks(ids):
        rows += store.query(f"SELECT id, hall_id, tracking_no, grade, received_at, status_ts, responded_at "
                            f"FROM complaints WHERE hall_id = ? AND id IN ({_marks(part)})", (hall_id, *part))
    counts = erase(store, hall_id, rows, now=now, why="request")
    ids = [str(i) for i in body.get("entries", []) if isinstance(i, str)][:1000]
    entries = []
    for part in _chunks(ids):
        entries += store.query(f"SELECT id, hall_id, register, serial, opened_at, touched_at FROM register_entries "
                               f"WHERE hall_id = ? AND id IN ({_marks(part)})", (hall_id, *part))
    _add(counts, erase_entries(store, hall_id, entries, now=now, why="request"))
    _audit(store, now, f"{hall_id}/{str(body.get('who', '?'))[:40]}", "privacy.erase",
           {"hall": hall_id, "requests": [r["tracking_no"] for r in rows], "entries": [e["serial"] for e in entries],
            "reason": str(body.get("reason", ""))[:200], **counts}, hall=hall_id)
    return counts


def erase(store: Store, hall_id: str, rows: list[dict[str, Any]], *, now: float, why: str) -> dict[str, int]:
    """Erase these requests of one hall in the projection and the ledger (inside the caller's
    transaction)."""
    counts = {"complaints": 0, "events": 0, "records": 0}
    if not rows:
        return counts
    blank = ", ".join(f"{f} = ''" for f in PROJECTED)
    for part in _chunks([r["id"] for r in rows]):
        marks = _marks(part)
        counts["complaints"] += store.execute(
            f"UPDATE complaints SET {blank}, rating_comment = CASE WHEN rating_comment IS NULL THEN NULL ELSE '' END, "
            f"erased_at = ?, erased_why = ? WHERE hall_id = ? AND id IN ({marks})", (now, why, hall_id, *part)).rowcount
        counts["events"] += store.execute(
            f"UPDATE complaint_events SET note = '' WHERE hall_id = ? AND note != '' AND complaint_id IN ({marks})",
            (hall_id, *part)).rowcount
    counts["records"] = _erase_ledger(store, hall_id, rows)
    return counts


def erase_entries(store: Store, hall_id: str, rows: list[dict[str, Any]], *, now: float, why: str) -> dict[str, int]:
    """Erase these register entries of one hall: marked in the projection, emptied in the
    ledger (the entry's record, its steps', its reminder alarms' texts). Inside the caller's
    transaction."""
    counts = {"register_entries": 0, "records": 0}
    if not rows:
        return counts
    ids = [r["id"] for r in rows]
    record_ids = [i for i in ids if _UUID.fullmatch(i)]
    for part in _chunks(ids):
        counts["register_entries"] += store.execute(
            f"UPDATE register_entries SET erased_at = ?, erased_why = ? WHERE hall_id = ? AND id IN ({_marks(part)})",
            (now, why, hall_id, *part)).rowcount
        record_ids += [s["id"] for s in store.query(
            f"SELECT id FROM register_steps WHERE hall_id = ? AND entry_id IN ({_marks(part)})", (hall_id, *part))]
    found = _records(store, hall_id, record_ids)
    for r in rows:
        start, end = (r["opened_at"] or r["touched_at"] or now) - 86400, (r["touched_at"] or now) + SYNC_SLACK_S
        found += store.query("SELECT id, kind, body FROM records WHERE hall_id = ? AND kind = 'alarm' "
                             "AND node_ts BETWEEN ? AND ?", (hall_id, start, end))
    alarms = {f"register.{r['register']}.{r['serial']}" for r in rows}
    changed = [c for c in (_erased(rec, set(ids), alarms) for rec in found) if c is not None]
    if changed:
        store.executemany("UPDATE records SET body = ? WHERE id = ?", changed)
    counts["records"] = len(changed)
    return counts


def _records(store: Store, hall_id: str, record_ids: list[str]) -> list[dict[str, Any]]:
    """The hall's ledger records with these ids (by primary key alone: SQLite would rather
    walk the hall's index)."""
    found: list[dict[str, Any]] = []
    for part in _chunks(record_ids):
        found += [rec for rec in store.query(f"SELECT id, hall_id, kind, body FROM records WHERE id IN ({_marks(part)})",
                                             part) if rec["hall_id"] == hall_id]
    return found


def _erase_ledger(store: Store, hall_id: str, rows: list[dict[str, Any]]) -> int:
    """The raw records about these requests: each request's own record (its id is the
    request's), its steps' and ratings' (their ids are the projected steps'), and, for an
    emergency, its alarm's (raised at the report, cleared once staff responded: searched
    in the hall's alarms between the two, by the hall's clock)."""
    ids = [r["id"] for r in rows]
    record_ids = [i for i in ids if _UUID.fullmatch(i)]
    for part in _chunks(ids):
        record_ids += [e["id"] for e in store.query(
            f"SELECT id FROM complaint_events WHERE hall_id = ? AND complaint_id IN ({_marks(part)})", (hall_id, *part))]
    found = _records(store, hall_id, record_ids)
    for r in rows:
        if r["grade"] == "emergency" and r["received_at"] is not None:
            end = (r["responded_at"] or r["status_ts"] or r["received_at"]) + SYNC_SLACK_S
            found += store.query("SELECT id, kind, body FROM records WHERE hall_id = ? AND kind = 'alarm' "
                                 "AND node_ts BETWEEN ? AND ?", (hall_id, r["received_at"] - 86400, end))
    about, alarms = set(ids), {f"complaint.{r['tracking_no']}" for r in rows}
    changed = [c for c in (_erased(rec, about, alarms) for rec in found) if c is not None]
    if changed:
        store.executemany("UPDATE records SET body = ? WHERE id = ?", changed)
    return len(changed)


def _erased(rec: dict[str, Any], ids: set[str], alarms: set[str]) -> tuple[str, str] | None:
    """(the body with its personal fields emptied, the record's id) for a ledger record about
    these requests; None if there is nothing to empty."""
    body = rec["body"] if isinstance(rec["body"], dict) else json.loads(rec["body"])
    kind = rec["kind"]
    if kind == "alarm":
        if body.get("id") not in alarms or body.get("text") == ERASED_TEXT:
            return None
        body["text"] = ERASED_TEXT
    else:
        about = body.get(ABOUT.get(kind, ""))
        fields = [f for f in LEDGER.get(kind, ()) if _personal(body.get(f))]
        if about not in ids or not fields:
            return None
        body.update({f: {k: "" for k in body[f]} if isinstance(body[f], dict) else "" for f in fields})
    return json.dumps(body, ensure_ascii=False, sort_keys=True), str(rec["id"])


def _personal(value: Any) -> bool:
    """Whether a personal field still holds something (an object: any non-empty value)."""
    return any(v not in ("", None) for v in value.values()) if isinstance(value, dict) else bool(value)


class RetentionJob:
    """The daily run in one API worker (``app.extensions["retention"]``): a daemon thread
    looks every ``interval`` seconds, the first time a minute after start, and runs
    :func:`run` unless another worker did today. The thread holds the job weakly, so a
    discarded app stops it."""

    def __init__(self, *, keep_years: int, database_url: str, pool: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.keep_years, self.clock = keep_years, clock
        self._url, self._pool = database_url, pool
        self._stop = threading.Event()

    def run_today(self) -> dict[str, int] | None:
        now = self.clock()
        with borrowed(self._url, self._pool) as store:
            return run(store, keep_years=self.keep_years, now=now, day=datetime.fromtimestamp(now, TZ).date().isoformat())

    def start(self, interval: float = 3600.0, first_after: float = 60.0) -> None:
        start_daily(self, RetentionJob.run_today, self._stop, interval=interval, first_after=first_after, name="retention")

    def close(self) -> None:
        self._stop.set()



def _audit(store: Store, ts: float, who: str, action: str, detail: dict[str, Any], hall: str | None = None) -> None:
    store.execute("INSERT INTO audit_log (ts, username, action, detail, hall_id) VALUES (?, ?, ?, ?, ?)",
                  (ts, who, action, json.dumps(detail, ensure_ascii=False, sort_keys=True), hall))


def _by_hall(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["hall_id"], []).append(r)
    return out


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _marks(part: list[str]) -> str:
    return ",".join("?" * len(part))
