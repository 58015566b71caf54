"""Residents' personal data at the edge: erased ``privacy.keep_years`` after a request's last
step (what the kiosk's consent line promises), and found, exported or erased at once when a
resident asks (PIPL arts. 44-47, seed 003 (七)).

What erasure takes and what it leaves, so the hall's figures stay whole:

* a request (``complaints``): name, phone, room, place, what was said and wanted, the rating's
  comment become empty; its category, grade, channel, times, status and rating stay, and
  ``erased_at`` / ``erased_why`` say when and why;
* its steps (``complaint_events``): the notes (a contact, a rating's words); who and when stay;
* its emergency alarm (``complaint.{tracking_no}``): the text, which quotes the report;
* the slips printed for it (``print_jobs``): their fields;
* records for the centre not sent yet: the same fields, so nothing personal leaves afterwards;
* ratings of the service at a counter (``service_ratings``): the comment;
* the hall's copy of kiosk payments (``payment_orders``) and of their refunds
  (``payment_refunds``): the room (the centre keeps the
  accounting record, docs/privacy.md);
* the front desk's registers (``register_entries`` and their steps, photos, slips and
  unsent records; :mod:`edge_agent.registers.privacy`): every personal value, counted from an
  entry's last change (its closing, for a closed one).

Wrong tracking attempts (``track_failures``) matter for ten minutes and go after a day.
Printed slips are deleted after ``printing.keep_days`` by the spool; logs are rotated daily
(``log_keep_days``). Every run and every erasure is a line in the hall's ``audit_log`` with
its counts, never with the personal data itself; a resident's erasure also goes to the
centre (an ``erasure`` record), which erases its copies the same way.

Example::

    retention = Retention(config.privacy, db_path=path, alarms=alarms, node="edge")
    retention.start()                  # checks hourly, runs once a calendar day
    found = retention.find("3-1-1201", "13812345678")
    retention.erase([c["id"] for c in found], who="wang", reason="业主来电要求删除")
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from central_sync import client as outbox
from hall_common.config import PrivacyConfig
from hall_common.errors import RequestFailed
from hall_common.storage import immediate

from . import handover_sheet
from .complaints.service import OPEN
from .complaints.tracking import readable
from .component import Component
from .registers import privacy as registers

log = logging.getLogger(__name__)

YEAR_S = 365.25 * 86400
ERASED_TEXT = "（内容已按个人信息保护要求删除）"
"""What an erased alarm says instead of the report it quoted."""
_COMPLAINT_FIELDS = ("name", "phone", "room", "place", "content", "wanted")
_CHUNK = 400  # ids per statement: well under SQLite's limit of bound parameters


class Retention(Component):
    name = "retention"

    def __init__(self, config: PrivacyConfig, *, db_path: Path, alarms: Any = None, node: str = "edge",
                 nudge: Callable[[], None] | None = None, timezone: str = "Asia/Shanghai",
                 clock: Callable[[], float] = time.time, check_every: float = 3600.0) -> None:
        self.keep_years, self.alarms, self.node, self._nudge = config.keep_years, alarms, node, nudge
        self.zone, self.clock = ZoneInfo(timezone), clock
        self.own_connection(db_path)
        self.every(check_every, self.daily, name="retention", first_now=True)

    # -- the daily job -----------------------------------------------------------------------

    def daily(self) -> dict[str, int] | None:
        """Run :meth:`run` unless it already ran this calendar day (the timer looks hourly, so
        a restart neither skips a day nor runs twice). Returns the counts, or None."""
        day = datetime.fromtimestamp(self.clock(), self.zone).date().isoformat()
        with self._lock:
            if self.db.execute("SELECT 1 FROM retention_runs WHERE day = ?", [day]).fetchone():
                return None
        return self.run(day=day)

    def run(self, *, day: str | None = None) -> dict[str, int]:
        """Erase the personal data of everything older than ``keep_years``; the counts."""
        now = self.clock()
        cutoff = now - self.keep_years * YEAR_S
        with self._lock, immediate(self.db):
            ids = [r[0] for r in self.db.execute(
                "SELECT c.id FROM complaints c WHERE c.erased_at IS NULL AND coalesce((SELECT max(e.ts) FROM "
                "complaint_events e WHERE e.complaint = c.id), c.received_at) < ?", [cutoff])]
            counts, alarm_ids = self._erase_complaints(ids, now, "retention")
            entry_counts, entry_alarms = registers.erase(self.db, registers.stale(self.db, cutoff), now, "retention")
            counts.update(entry_counts)
            alarm_ids += entry_alarms
            counts["ratings"] = self.db.execute(
                "UPDATE service_ratings SET comment = '' WHERE rated_at < ? AND comment != ''", [cutoff]).rowcount
            counts["payments"] = self.db.execute(
                "UPDATE payment_orders SET room = '' WHERE created_at < ? AND room != ''", [cutoff]).rowcount
            counts["refunds"] = self.db.execute(  # the counter's copy of the centre's refunds
                "UPDATE payment_refunds SET room = '' WHERE requested_at < ? AND room != ''", [cutoff]).rowcount
            counts["track_failures"] = self.db.execute(
                "DELETE FROM track_failures WHERE ts < ?", [now - 86400]).rowcount
            counts["handovers"] = self._erase_sheets(cutoff)
            self._audit(now, "system", "privacy.retention", {"keep_years": self.keep_years, "before": cutoff, **counts})
            if day is not None:
                self.db.execute("INSERT OR IGNORE INTO retention_runs (day, ts) VALUES (?, ?)", [day, now])
        self._redact_alarms(alarm_ids)
        self._flush_wal()
        log.info("retention: personal data older than %d years erased: %s", self.keep_years, counts)
        return counts

    def _erase_sheets(self, cutoff: float) -> int:
        """Handover sheets closed before ``cutoff``: the registers' lines and the notes, which
        may name a resident or a room (edge_agent/handover_sheet.py), in the sheet and in its
        record if still waiting for the centre; in the caller's transaction."""
        rows = list(self.db.execute("SELECT id, sheet FROM shifts WHERE closed_at < ? AND sheet IS NOT NULL "
                                    "AND json_extract(sheet, '$.erased') IS NULL", [cutoff]))
        for shift_id, sheet in rows:
            erased = handover_sheet.erase(json.loads(sheet), ERASED_TEXT)
            self.db.execute("UPDATE shifts SET sheet = ? WHERE id = ?",
                            [json.dumps(erased, ensure_ascii=False), shift_id])
            self.db.execute("UPDATE outbox SET body = ? WHERE sent_at IS NULL AND kind = 'handover' "
                            "AND json_extract(body, '$.event') = 'closed' AND json_extract(body, '$.shift') = ?",
                            [json.dumps(handover_sheet.for_centre(shift_id, erased), ensure_ascii=False), shift_id])
        return len(rows)

    # -- a resident's request ----------------------------------------------------------------

    def find(self, room: str, phone: str, *, who: str | None = None) -> list[dict[str, Any]]:
        """The requests a resident made, by their room and phone (both as given when filing,
        spaces ignored), newest first, each with its steps. A look by a person (``who``) is
        audited, with the register entries :meth:`find_entries` finds for the same two: seed
        003 (七).2 asks for a strict procedure around looking residents up."""
        room, phone = _plain(room), re.sub(r"\D", "", phone)
        if not room or len(phone) < 7:
            raise ValueError("room and phone: both are needed to find a resident's records")
        with self._lock:
            rows = [dict(r) for r in self.db.query(
                "SELECT * FROM complaints WHERE replace(room, ' ', '') = ? AND phone = ? AND erased_at IS NULL "
                "ORDER BY received_at DESC", [room, phone])]
            for row in rows:
                row["events"] = list(self.db.query(
                    "SELECT ts, event, who, note FROM complaint_events WHERE complaint = ? ORDER BY seq", [row["id"]]))
            if who is not None:
                entries = [e["serial"] for e in registers.find(self.db, room, phone)]
                with immediate(self.db):
                    self._audit(self.clock(), who, "privacy.find", {"requests": [r["tracking_no"] for r in rows],
                                                                    "entries": entries})
        return rows

    def find_entries(self, room: str, phone: str) -> list[dict[str, Any]]:
        """The resident's entries in the front desk's registers (a parcel for them, a key
        they borrowed, their renovation...), matched by a room and phone given together on
        the entry or one of its steps, newest first, each with its steps."""
        room, phone = _plain(room), re.sub(r"\D", "", phone)
        if not room or len(phone) < 7:
            raise ValueError("room and phone: both are needed to find a resident's records")
        with self._lock:
            return registers.find(self.db, room, phone)

    def export(self, room: str, phone: str, *, who: str) -> dict[str, Any]:
        """What the hall holds on the resident, as one document for them to take (PIPL art.
        45); the export itself is audited (how many records, not whose)."""
        found, entries = self.find(room, phone), self.find_entries(room, phone)
        now = self.clock()
        with self._lock, immediate(self.db):
            self._audit(now, who, "privacy.export", {"requests": [r["tracking_no"] for r in found],
                                                     "entries": [e["serial"] for e in entries]})
        return {"exported_at": datetime.fromtimestamp(now, self.zone).isoformat(timespec="seconds"),
                "keep_years": self.keep_years,
                "requests": [{k: v for k, v in r.items() if k not in ("erased_at", "erased_why", "request_id")}
                             for r in found],
                "registers": entries}

    def erase(self, complaint_ids: list[str], *, who: str, reason: str, entries: Iterable[str] = ()) -> dict[str, int]:
        """Erase these requests' (and register ``entries``') personal data now, at a
        resident's request, with the reason; audited here and carried to the centre. A
        request still being handled is refused: it cannot be followed up without a phone
        (cancel it first); so is an entry still open (a parcel waiting, a key out)."""
        reason, entries = reason.strip(), list(entries)
        if not reason:
            raise ValueError("reason: say why (the resident's request, how it was made)")
        if not complaint_ids and not entries:
            raise ValueError("complaints: nothing chosen to erase")
        now = self.clock()
        with self._lock, immediate(self.db):
            rows, found = self._rows(list(complaint_ids)), registers.states(self.db, entries)
            missing = sorted(set(complaint_ids) - {r["id"] for r in rows}) + sorted(set(entries) - {e["id"] for e in found})
            if missing:
                raise RequestFailed("not_found", f"no request {missing[0]}")
            still_open = [readable(r["tracking_no"]) for r in rows if r["status"] in OPEN]
            still_open += [e["serial"] for e in found if e["status"] == "open"]
            if still_open:
                raise RequestFailed("still_open", ", ".join(still_open))
            counts, alarm_ids = self._erase_complaints([r["id"] for r in rows if r["erased_at"] is None], now, "request")
            entry_counts, entry_alarms = registers.erase(self.db, [e["id"] for e in found if e["erased_at"] is None],
                                                         now, "request")
            counts.update(entry_counts)
            numbers, serials = [r["tracking_no"] for r in rows], [e["serial"] for e in found]
            self._audit(now, who, "privacy.erase", {"requests": numbers, "entries": serials, "reason": reason, **counts})
            outbox.add(self.db, "erasure", {"complaints": [r["id"] for r in rows], "tracking_nos": numbers,
                                            "entries": [e["id"] for e in found], "serials": serials,
                                            "reason": reason, "who": who, "ts": now}, node=self.node)
        self._redact_alarms(alarm_ids + entry_alarms)
        self._flush_wal()
        if self._nudge is not None:
            self._nudge()
        return counts

    def audit_lines(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest erasures and exports, newest first, for the console."""
        with self._lock:
            rows = [dict(r) for r in self.db.query("SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?", [limit])]
        for row in rows:
            row["detail"] = json.loads(row["detail"])
        return rows

    # -- the erasure itself (inside the caller's transaction) ----------------------------------

    def _rows(self, ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for part in _chunks(ids):
            out += [dict(r) for r in self.db.query(
                f"SELECT id, tracking_no, status, erased_at FROM complaints WHERE id IN ({_marks(part)})", part)]
        return out

    def _erase_complaints(self, ids: list[str], now: float, why: str) -> tuple[dict[str, int], list[str]]:
        """Erase the requests ``ids`` everywhere the edge holds them; (counts, their alarm ids)."""
        counts = {"complaints": 0, "events": 0, "print_jobs": 0, "unsent": 0}
        alarm_ids: list[str] = []
        blank = ", ".join(f"{f} = ''" for f in _COMPLAINT_FIELDS)
        for part in _chunks(ids):
            marks = _marks(part)
            numbers = [r[0] for r in self.db.execute(f"SELECT tracking_no FROM complaints WHERE id IN ({marks})", part)]
            counts["complaints"] += self.db.execute(
                f"UPDATE complaints SET {blank}, rating_comment = CASE WHEN rating_comment IS NULL THEN NULL ELSE '' END, "
                f"erased_at = ?, erased_why = ? WHERE id IN ({marks})", [now, why, *part]).rowcount
            counts["events"] += self.db.execute(
                f"UPDATE complaint_events SET note = '' WHERE note != '' AND complaint IN ({marks})", part).rowcount
            for number in numbers:  # a receipt shows the number spaced for reading
                counts["print_jobs"] += self.db.execute(
                    "UPDATE print_jobs SET fields = '{}' WHERE fields != '{}' AND (instr(fields, ?) > 0 OR instr(fields, ?) > 0)",
                    [json.dumps(number), json.dumps(readable(number), ensure_ascii=False)]).rowcount
            counts["unsent"] += self._erase_unsent(part, marks)
            alarm_ids += [f"complaint.{n}" for n in numbers]
        return counts, alarm_ids

    def _erase_unsent(self, part: list[str], marks: str) -> int:
        """The same fields in records for the centre that are still waiting to go."""
        fields = ", ".join(f"'$.{f}', ''" for f in _COMPLAINT_FIELDS)
        n = self.db.execute(f"UPDATE outbox SET body = json_set(body, {fields}) WHERE sent_at IS NULL "
                            f"AND kind = 'complaint' AND json_extract(body, '$.id') IN ({marks})", part).rowcount
        n += self.db.execute(f"UPDATE outbox SET body = json_set(body, '$.note', '', '$.comment', '') WHERE sent_at IS NULL "
                             f"AND kind IN ('complaint_event', 'rating') AND json_extract(body, '$.complaint') IN ({marks})",
                             part).rowcount
        return n

    def _flush_wal(self) -> None:
        """Copy the erased pages into the database file and empty the write-ahead log, which
        still holds the pages as they were before (best effort: a reader in the middle of a
        transaction makes it wait for the next checkpoint)."""
        with self._lock:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _redact_alarms(self, alarm_ids: list[str]) -> None:
        if alarm_ids and self.alarms is not None:
            self.alarms.redact(alarm_ids, ERASED_TEXT)

    def _audit(self, ts: float, who: str, action: str, detail: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO audit_log (ts, who, action, detail) VALUES (?, ?, ?, ?)",
                        [ts, who, action, json.dumps(detail, ensure_ascii=False)])


def _plain(room: str) -> str:
    return re.sub(r"\s", "", room)


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _marks(part: list[str]) -> str:
    return ",".join("?" * len(part))
