"""Residents' personal data in the registers, for :mod:`edge_agent.retention`: which
entries are old enough to erase, which belong to a resident (by room + phone), and the
erasure itself. Every function works inside the caller's transaction on the caller's
connection (retention's own), so an erasure of requests and register entries is one commit.

Erasing an entry empties every personal value of it and its steps (the keys stay, their
values become empty: the entry's number, register, dates, steps and who on the staff did
them stay, so the registers' figures do not move), its room, its pickup code, its photo, its
contacts, the fields of its printed slips, and its records for the centre not sent yet;
its reminder alarm's text is replaced (by the caller, through the alarms' own connection).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Iterable

from .catalogue import registers

if TYPE_CHECKING:
    import sqlite_utils

CHUNK = 400
BLANK = "(SELECT coalesce(json_group_object(key, ''), '{{}}') FROM json_each({col}))"
"""SQL for a JSON object's keys with empty values (``{col}``: the column holding it)."""
PERSON = "'$.person'"


def stale(db: sqlite_utils.Database, cutoff: float) -> list[str]:
    """Entries whose last change (opening, step, closing) is older than ``cutoff``."""
    return [r[0] for r in db.execute(
        "SELECT id FROM register_entries WHERE erased_at IS NULL AND touched_at < ?", [cutoff])]


def find(db: sqlite_utils.Database, room: str, phone: str) -> list[dict[str, Any]]:
    """A resident's entries (room and phone as they gave them, either side of any step),
    newest first, each with its steps, personal values included (this is their copy)."""
    rows = [dict(r) for r in db.query(
        "SELECT e.* FROM register_entries e WHERE e.erased_at IS NULL AND e.id IN "
        "(SELECT entry FROM register_contacts WHERE room = ? AND phone = ?) ORDER BY e.opened_at DESC",
        [re.sub(r"\s", "", room), phone])]
    names = {name: f"{kind.zh} · {kind.en}" for name, kind in registers().items()}
    for row in rows:
        row["register_name"] = names.get(row["register"], row["register"])
        row["fields"] = {**json.loads(row.pop("details")), **json.loads(row.pop("person"))}
        row["steps"] = [{"step": s["step"], "ts": s["ts"], "who": s["who"],
                         "fields": {**json.loads(s["details"]), **json.loads(s["person"])}}
                        for s in db.query("SELECT * FROM register_steps WHERE entry = ? ORDER BY seq", [row["id"]])]
        for private in ("form_id", "code", "slip_job", "erased_at", "erased_why"):
            row.pop(private, None)
    return rows


def states(db: sqlite_utils.Database, ids: list[str]) -> list[dict[str, Any]]:
    """``id``, ``serial``, ``status``, ``erased_at`` of these entries."""
    out: list[dict[str, Any]] = []
    for part in chunks(ids):
        out += [dict(r) for r in db.query(f"SELECT id, serial, register, status, erased_at FROM register_entries "
                                          f"WHERE id IN ({marks(part)})", part)]
    return out


def erase(db: sqlite_utils.Database, ids: list[str], now: float, why: str) -> tuple[dict[str, int], list[str]]:
    """Erase these entries' personal data everywhere the edge holds it; (counts, the ids of
    their reminder alarms)."""
    counts = {"register_entries": 0, "register_steps": 0, "register_unsent": 0}
    alarm_ids: list[str] = []
    for part in chunks(ids):
        m = marks(part)
        alarm_ids += [f"register.{r[0]}.{r[1]}" for r in db.execute(
            f"SELECT register, serial FROM register_entries WHERE id IN ({m})", part)]
        jobs = [r[0] for r in db.execute(f"SELECT slip_job FROM register_entries WHERE slip_job IS NOT NULL "
                                         f"AND id IN ({m})", part)]
        counts["register_entries"] += db.execute(
            f"UPDATE register_entries SET person = {BLANK.format(col='register_entries.person')}, room = '', code = NULL, "
            f"erased_at = ?, erased_why = ? WHERE id IN ({m})", [now, why, *part]).rowcount
        counts["register_steps"] += db.execute(
            f"UPDATE register_steps SET person = {BLANK.format(col='register_steps.person')} WHERE entry IN ({m})",
            part).rowcount
        db.execute(f"DELETE FROM register_contacts WHERE entry IN ({m})", part)
        db.execute(f"DELETE FROM register_photos WHERE entry IN ({m})", part)
        if jobs:
            j = marks(jobs)
            db.execute(f"UPDATE print_jobs SET fields = '{{}}' WHERE id IN ({j}) OR reprint_of IN ({j})", [*jobs, *jobs])
        counts["register_unsent"] += db.execute(
            f"UPDATE outbox SET body = json_set(body, '$.person', json({BLANK.format(col='outbox.body, ' + PERSON)})) "
            f"WHERE sent_at IS NULL AND kind IN ('register_entry', 'register_step') AND "
            f"(CASE kind WHEN 'register_entry' THEN json_extract(body, '$.id') ELSE json_extract(body, '$.entry') END) "
            f"IN ({m})", part).rowcount
    return counts, alarm_ids


def chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def marks(part: list[str]) -> str:
    return ",".join("?" * len(part))
