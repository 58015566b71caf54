"""Residents' requests on the bus: ``complaint_options`` (what the kiosk offers),
``complaint_preview`` (grade and commitment before confirming), ``complaint`` (submit),
``track`` (number + last 4) and ``rate``; and the same requests taken by staff at the
console, by phone, at the counter or from a message (:meth:`ComplaintService.take`).

A submission is validated (发生时间 too: not in the future, not before the hall opened),
graded, given a tracking number and its commitment, and stored with its first event and its
outbox record in one transaction, before the kiosk (or the console) is told it is done. The
record says through which channel it came and who took it: the kiosk, or the staff member.
An emergency raises a critical alarm at once, with the place, so staff can act while the
resident is still at the screen. Tracking shows the status and history with the
name and phone masked; wrong attempts are limited per kiosk and per number.

Example::

    service = ComplaintService(config, db_path=..., bus=bus, alarms=alarms, keep_years=3)
    service.attach(bus)        # its five methods and their checks (edge_agent.component)
    service.start()
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo


from central_sync import client as outbox
from hall_common import occurred
from hall_common.bus.methods import METHODS, NoArgs, RateArgs, TrackArgs
from hall_common.bus.payloads import ComplaintArgs, ComplaintDraft
from hall_common.channels import STAFF_CHANNELS
from hall_common.config import ComplaintsConfig
from hall_common.errors import RequestFailed
from hall_common.privacy import mask_name, mask_phone
from hall_common.storage import immediate
from hall_common.threads import locked

from ..component import Component, route
from . import tracking
from .deadline import first_feedback_due
from .grading import emergency_reasons, grade

STATUS_TEXT = {"submitted": "已受理登记，等待工作人员接单", "accepted": "工作人员已接单", "dispatched": "已派单处理",
               "in_progress": "处理中", "paused": "暂停处理（等待条件）", "resolved": "已处理完毕",
               "followed_up": "已回访", "closed": "已办结", "cancelled": "已取消", "escalated": "已升级至经理督办",
               "rated": "业主已评价", "reopened": "评价不满意，重新处理", "follow_up_attempt": "回访未接通，待再次回访"}

OPEN = ("submitted", "accepted", "dispatched", "in_progress", "paused", "resolved", "followed_up")
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "accept": (("submitted",), "accepted"),
    "dispatch": (("accepted", "in_progress"), "dispatched"),
    "start": (("accepted", "dispatched", "paused"), "in_progress"),
    "pause": (("in_progress",), "paused"),
    "return": (("dispatched", "in_progress", "paused"), "accepted"),
    "resolve": (("accepted", "dispatched", "in_progress"), "resolved"),
    "follow_up": (("resolved",), "followed_up"),
    "close": (("resolved", "followed_up"), "closed"),
    "cancel": (("submitted", "accepted"), "cancelled"),
    "force_close": (OPEN, "closed"),
    "out_of_remit": (("submitted", "accepted"), "closed"),
}
"""Action → (the statuses it may start from, the status it leads to)."""
NEEDS_NOTE = ("dispatch", "pause", "return", "cancel", "force_close", "out_of_remit")
"""Actions that must say why, to whom or with what (the department's contact, for a request
outside the property's remit, seed 000 clause 5.3.5)."""
WARN_BEFORE_S = 15 * 60
RATINGS = {"very_satisfied": "非常满意", "satisfied": "满意", "basically_satisfied": "基本满意",
           "dissatisfied": "不满意", "very_dissatisfied": "非常不满意"}
REOPEN_ON = ("dissatisfied", "very_dissatisfied")
FOLLOW_UP_OUTCOMES = {"reached": "回访完成", "no_answer": "回访未接通", "declined": "业主婉拒回访"}
MAX_FAILURES = 5
"""Wrong number + last-4 attempts allowed per kiosk and per number in FAILURE_WINDOW_S."""
FAILURE_WINDOW_S = 600
NODE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
"""A requester that is a hall node (a kiosk) names the rating's outbox record; the phone page
(``web:{addr}``) is not a node, so its ratings are the edge's."""
log = logging.getLogger(__name__)


class ComplaintService(Component):
    name = "complaints"

    def __init__(self, config: ComplaintsConfig, *, db_path: Path, bus: Any, alarms: Any = None,
                 node: str = "edge", nudge: Callable[[], None] | None = None, keep_years: int = 3,
                 clock: Callable[[], float] = time.time) -> None:
        self.config, self.bus, self.alarms, self.node, self.keep_years = config, bus, alarms, node, keep_years
        self._nudge, self.clock = nudge, clock
        self.zone = ZoneInfo(config.hours.timezone)
        self.own_connection(db_path)
        self.categories = {c.id: c for c in config.categories}
        self.every(30.0, self.check_deadlines, name="complaint-deadlines")

    # -- submit ------------------------------------------------------------------------------

    @route("complaint_options")
    def handle_options(self, requester: str, args: NoArgs) -> dict[str, Any]:
        """What the kiosk offers on its screens: categories with their one-tap phrases, the
        places, the phrases for the outcome wanted. The hall's configuration is the one
        source; the kiosk asks for it each time a resident starts."""
        return {"categories": [c.model_dump() for c in self.config.categories],
                "places": self.config.places.model_dump(), "wanted_phrases": list(self.config.wanted_phrases),
                "keep_years": self.keep_years, "opened": self.config.opened.isoformat()}

    @route("complaint_preview")
    @locked
    def handle_preview(self, requester: str, draft: ComplaintDraft) -> dict[str, Any]:
        """The grade and the commitment a draft would get, shown before the resident
        confirms; nothing is stored."""
        now = self.clock()
        g, repeat, group, reasons = self._assess(draft, now)
        return {"grade": g, "emergency": g == "emergency", "reasons": reasons, "repeat": repeat, "group": group,
                "feedback_due": first_feedback_due(now, g, self.config.hours, within_s=self.config.feedback_within_s)}

    def _assess(self, draft: ComplaintDraft, now: float) -> tuple[str, bool, bool, list[str]]:
        """(grade, repeat, group, emergency reasons) of a draft, from its kind, category,
        words and the room's recent history; a category the hall does not have, or a
        发生时间 that cannot be, is refused (``ValueError`` naming the field)."""
        if draft.category not in self.categories:
            raise ValueError(f"category: unknown category {draft.category!r}")
        occurred.check(draft.occurred_at, now=now, opened=self.config.opened, zone=self.zone)
        text = f"{draft.content} {draft.wanted} {draft.place}"
        repeat = self.db.execute(
            "SELECT count(*) FROM complaints WHERE room = ? AND category = ? AND received_at > ?",
            [draft.room, draft.category, now - self.config.repeat_days * 86400]).fetchone()[0] > 0
        group = len({r for r in draft.rooms if r != draft.room}) > 0
        return grade(draft.kind, draft.category, text, repeat=repeat, group=group), repeat, group, emergency_reasons(text)

    @route("complaint")
    @locked
    def handle_submit(self, requester: str, sub: ComplaintArgs) -> dict[str, Any]:
        """A resident's request from a kiosk: the kiosk (its broker login) took it."""
        return self._submit(sub, channel="kiosk", taken_by=requester, node=requester)

    def take(self, args: dict[str, Any], *, channel: str, who: str) -> dict[str, Any]:
        """A request staff take by phone, at the counter or from a message (seed 000 5.3.1,
        5.3.2): checked against the ``complaint`` method's own contract (arguments and
        answer) and stored by the same code as a kiosk's, with its channel and ``who`` took
        it, as the edge's record for the centre. Refused as the bus would refuse it
        (:class:`RequestFailed`, ``bad_request`` naming the field)."""
        if channel not in STAFF_CHANNELS:
            raise RequestFailed("bad_request", f"channel: one of {', '.join(STAFF_CHANNELS)}")

        def submit(requester: str, sub: ComplaintArgs) -> dict[str, Any]:
            return self._submit(sub, channel=channel, taken_by=requester, node=self.node)

        with self._lock:
            return METHODS["complaint"].call(submit, who, args)

    def _submit(self, sub: ComplaintArgs, *, channel: str, taken_by: str, node: str) -> dict[str, Any]:
        """Store a request however it came (under the lock): ``node`` is whose record it is
        for the centre (the kiosk's, or the edge's for a request staff took)."""
        with immediate(self.db):
            known = list(self.db.query("SELECT * FROM complaints WHERE request_id = ?", [sub.request]))
            if known:
                return self.receipt(known[0])  # a double tap, or a retry: the same record
            now = self.clock()
            g, repeat, group, reasons = self._assess(sub, now)
            row = {"id": str(uuid.uuid4()), "request_id": sub.request, "tracking_no": self._next_number(now),
                   "kind": sub.kind, "category": sub.category, "place": sub.place, "content": sub.content,
                   "wanted": sub.wanted, "name": sub.name, "room": sub.room, "phone": sub.phone,
                   "channel": channel, "taken_by": taken_by, "occurred_at": sub.occurred_at, "received_at": now,
                   "grade": g,
                   "emergency": ",".join(reasons), "repeat": int(repeat),
                   "feedback_due": first_feedback_due(now, g, self.config.hours,
                                                      within_s=self.config.feedback_within_s),
                   "status": "submitted"}
            self.db["complaints"].insert(row)
            self._event(row["id"], now, "submitted", taken_by,
                        "; ".join(x for x in ("repeat" if repeat else "", "group" if group else "") if x))
            outbox.add(self.db, "complaint", {**row, "rooms": sub.rooms}, node=node, record_id=row["id"])
        if g == "emergency" and self.alarms is not None:
            self.alarms.raise_(f"complaint.{row['tracking_no']}", source=f"{node}/complaint", type="emergency_report",
                               severity="critical",
                               text=f"紧急报事：{sub.place} · {sub.content[:60]} · 请立即处理 · Emergency reported at {sub.place}")
        if self._nudge is not None:
            self._nudge()
        return self.receipt(row)

    def _next_number(self, now: float) -> str:
        day = datetime.fromtimestamp(now, ZoneInfo(self.config.hours.timezone)).date().isoformat()
        self.db.execute("INSERT OR IGNORE INTO complaint_numbers (day, last) VALUES (?, 0)", [day])
        seq = self.db.execute("SELECT last FROM complaint_numbers WHERE day = ?", [day]).fetchone()[0] + 1
        self.db.execute("UPDATE complaint_numbers SET last = ? WHERE day = ?", [seq, day])
        return tracking.make(self.config.hall_code, day, seq)

    def receipt(self, row: dict[str, Any]) -> dict[str, Any]:
        """What a request's receipt says (the ``complaint`` answer): number, grade, commitment."""
        c = self.categories.get(row["category"])
        return {"id": row["id"], "tracking_no": row["tracking_no"], "readable": tracking.readable(row["tracking_no"]),
                "grade": row["grade"], "emergency": row["grade"] == "emergency", "feedback_due": row["feedback_due"],
                "category_zh": c.name_zh if c else row["category"], "category_en": c.name_en if c else row["category"],
                "kind": row["kind"], "received_at": row["received_at"]}

    # -- the workflow (staff console, centre) -------------------------------------------------

    @locked
    def transition(self, complaint_id: str, action: str, *, who: str, note: str = "",
                   grade_: str | None = None, outcome: str | None = None, rating: str | None = None) -> dict[str, Any]:
        """Move a record on; every step is timed, attributed and sent to the centre. A
        follow-up call says its ``outcome``: ``reached``, ``no_answer`` (recorded, the record
        waits for another try) or ``declined``; a resident reached may give their ``rating``
        on the call, recorded as theirs (a request taken by phone is rated this way)."""
        if action == "follow_up":
            if outcome not in FOLLOW_UP_OUTCOMES:
                raise ValueError(f"outcome: one of {', '.join(FOLLOW_UP_OUTCOMES)}")
            if rating is not None and (rating not in RATINGS or outcome != "reached"):
                raise ValueError(f"rating: one of {', '.join(RATINGS)}, when the resident was reached")
            note = f"{FOLLOW_UP_OUTCOMES[outcome]}{'：' + note if note else ''}"
            if outcome == "no_answer":
                return self._attempt(complaint_id, who, note)
        elif rating is not None:
            raise ValueError("rating: given on a follow-up call only")
        if action not in TRANSITIONS:
            raise ValueError(f"action: one of {', '.join(TRANSITIONS)}")
        if action in NEEDS_NOTE and not note.strip():
            raise ValueError(f"note: {action} needs a reason, a department or a contact")
        if grade_ is not None and grade_ not in ("emergency", "important", "general", "suggestion"):
            raise ValueError("grade: emergency, important, general or suggestion")
        froms, to = TRANSITIONS[action]
        now = self.clock()
        with immediate(self.db):
            rows = list(self.db.query("SELECT * FROM complaints WHERE id = ?", [complaint_id]))
            if not rows:
                raise RequestFailed("not_found", f"no record {complaint_id}")
            row = rows[0]
            if row["status"] not in froms:
                raise RequestFailed("wrong_status", f"{action} is not possible while {row['status']}")
            update: dict[str, Any] = {"status": to}
            if action == "accept":
                update.update(receiver=who, accepted_at=now, grade=grade_ or row["grade"])
            self.db["complaints"].update(complaint_id, update)
            self._event(complaint_id, now, to if action != "out_of_remit" else "out_of_remit", who, note)
            outbox.add(self.db, "complaint_event", {"complaint": complaint_id, "tracking_no": row["tracking_no"],
                                                    "action": action, "status": to, "who": who, "note": note,
                                                    "ts": now, **({"grade": update["grade"]} if "grade" in update else {})},
                       node=self.node)
            if rating is not None and self._rate(row, rating, "", who=f"{who}（回访）", node=self.node, now=now):
                update["status"] = "accepted"
        if action in ("accept", "cancel", "force_close", "out_of_remit") and self.alarms is not None:
            for suffix in ("", ".due", ".overdue"):  # someone has it now: the timers' alarms end
                self.alarms.clear(f"complaint.{row['tracking_no']}{suffix}")
        if self._nudge is not None:
            self._nudge()
        return {**row, **update}

    @locked
    def _attempt(self, complaint_id: str, who: str, note: str) -> dict[str, Any]:
        """A follow-up call nobody answered: kept, the record stays where it is."""
        row = self._get(complaint_id)
        if row["status"] != "resolved":
            raise RequestFailed("wrong_status", f"follow_up is not possible while {row['status']}")
        with immediate(self.db):
            self._event(complaint_id, self.clock(), "follow_up_attempt", who, note)
        return row

    def _get(self, complaint_id: str) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM complaints WHERE id = ?", [complaint_id]))
        if not rows:
            raise RequestFailed("not_found", f"no record {complaint_id}")
        return rows[0]

    @route("rate")
    @locked
    def handle_rate(self, requester: str, args: RateArgs) -> dict[str, Any]:
        """The resident rates the handling (by tracking number + last 4, at the kiosk or on
        the phone page); 不满意 or worse reopens the record."""
        rating, comment = args.rating, args.comment
        if rating not in RATINGS:
            raise ValueError(f"rating: one of {', '.join(RATINGS)}")
        row = self._verified(requester, args.number, args.last4)
        if row["status"] not in ("resolved", "followed_up", "closed"):
            raise RequestFailed("not_yet", "a request can be rated once it has been handled")
        with immediate(self.db):
            reopen = self._rate(row, rating, comment, who="resident", now=self.clock(),
                                node=requester if NODE_ID.fullmatch(requester) else self.node)  # "web:{addr}": the edge's own
        if self._nudge is not None:
            self._nudge()
        return {"rating": rating, "reopened": reopen, "status": "accepted" if reopen else row["status"]}

    def _rate(self, row: dict[str, Any], rating: str, comment: str, *, who: str, node: str, now: float) -> bool:
        """Record a rating, in the caller's transaction, with its record for the centre;
        不满意 or worse reopens the request (returns True)."""
        reopen = rating in REOPEN_ON
        self.db["complaints"].update(row["id"], {"rating": rating, "rating_comment": comment,
                                                 **({"status": "accepted"} if reopen else {})})
        self._event(row["id"], now, "rated", who, f"{RATINGS[rating]}{'：' + comment if comment else ''}")
        if reopen:
            self._event(row["id"], now, "reopened", "system", "")
        outbox.add(self.db, "rating", {"complaint": row["id"], "tracking_no": row["tracking_no"], "rating": rating,
                                       "comment": comment, "reopened": reopen, "ts": now}, node=node)
        return reopen

    @locked
    def check_deadlines(self) -> list[str]:
        """Records not accepted in time: a warning 15 minutes before the first-feedback
        deadline, then a major alarm and an escalation to the manager once it passes
        (once per record). Run every few seconds by the agent; returns what it escalated."""
        now = self.clock()
        escalated = []
        for row in list(self.db.query("SELECT * FROM complaints WHERE status = 'submitted' AND grade != 'emergency'")):
            no = row["tracking_no"]
            if now >= row["feedback_due"]:
                with immediate(self.db):
                    done = self.db.execute("SELECT count(*) FROM complaint_events WHERE complaint = ? AND "
                                           "event = 'escalated'", [row["id"]]).fetchone()[0]
                    if not done:
                        self._event(row["id"], now, "escalated", "system", "not accepted within the commitment")
                        outbox.add(self.db, "complaint_event", {"complaint": row["id"], "tracking_no": no,
                                                                "action": "escalate", "status": row["status"],
                                                                "who": "system", "note": "", "ts": now}, node=self.node)
                        escalated.append(no)
                if self.alarms is not None:
                    self.alarms.clear(f"complaint.{no}.due")
                    self.alarms.raise_(f"complaint.{no}.overdue", source="edge/complaints", type="complaint_overdue",
                                       severity="major", text=f"受理编号 {tracking.readable(no)} 逾期未接单，已升级至经理 · "
                                                               "Not accepted in time: escalated to the manager")
            elif now >= row["feedback_due"] - WARN_BEFORE_S and self.alarms is not None:
                self.alarms.raise_(f"complaint.{no}.due", source="edge/complaints", type="complaint_due",
                                   severity="warning", text=f"受理编号 {tracking.readable(no)} 即将逾期，请尽快接单 · "
                                                             "Due soon: please accept it")
        return escalated

    # -- the staff console -------------------------------------------------------------------
    # Its pages read through these, under the lock, never through ``self.db``: a read on a
    # web thread must not see half of a transaction the bus worker or the deadline timer has open.

    @locked
    def open_requests(self) -> list[dict[str, Any]]:
        """The requests not yet closed, the most urgent grade first, then by feedback deadline."""
        marks = ",".join("?" * len(OPEN))
        return list(self.db.query(
            f"SELECT * FROM complaints WHERE status IN ({marks}) ORDER BY CASE grade WHEN 'emergency' THEN 0 "
            f"WHEN 'important' THEN 1 WHEN 'general' THEN 2 ELSE 3 END, feedback_due", list(OPEN)))

    @locked
    def record(self, complaint_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """One request and its events in order, read together so they agree; ``None`` if there
        is no such request."""
        rows = list(self.db.query("SELECT * FROM complaints WHERE id = ?", [complaint_id]))
        if not rows:
            return None
        events = list(self.db.query("SELECT * FROM complaint_events WHERE complaint = ? ORDER BY seq", [complaint_id]))
        return rows[0], events

    # -- track -------------------------------------------------------------------------------

    @route("track")
    @locked
    def handle_track(self, requester: str, args: TrackArgs) -> dict[str, Any]:
        row = self._verified(requester, args.number, args.last4)
        history = [{"when": datetime.fromtimestamp(e["ts"], ZoneInfo(self.config.hours.timezone)).strftime("%m-%d %H:%M"),
                    "text": (f"不属于物业服务范围，请联系：{e['note']}" if e["event"] == "out_of_remit"
                             else STATUS_TEXT.get(e["event"], e["event"]))}
                   for e in self.db.query("SELECT * FROM complaint_events WHERE complaint = ? ORDER BY seq", [row["id"]])]
        return {"status": row["status"], "status_text": STATUS_TEXT.get(row["status"], row["status"]),
                "name": mask_name(row["name"]), "phone": mask_phone(row["phone"]), "history": history,
                "can_rate": row["status"] in ("resolved", "followed_up", "closed") and not row["rating"],
                **self.receipt(row)}

    def _verified(self, requester: str, number: str, last4: str) -> dict[str, Any]:
        """The record for a tracking number and the phone's last 4 digits; wrong attempts
        are limited per kiosk and per number."""
        number = re.sub(r"\s", "", number)
        if not re.fullmatch(r"\d{4}", last4):
            raise ValueError("last4: the last 4 digits of the phone number")
        now = self.clock()
        for key in (f"kiosk:{requester}", f"number:{number}"):
            failures = self.db.execute("SELECT count(*) FROM track_failures WHERE key = ? AND ts > ?",
                                       [key, now - FAILURE_WINDOW_S]).fetchone()[0]
            if failures >= MAX_FAILURES:
                raise RequestFailed("rate_limited", "too many wrong attempts; try again in a few minutes")
        rows = list(self.db.query("SELECT * FROM complaints WHERE tracking_no = ?", [number])) \
            if tracking.valid(number) else []
        if not rows or rows[0]["phone"][-4:] != last4:
            with immediate(self.db):
                for key in (f"kiosk:{requester}", f"number:{number}"):
                    self.db["track_failures"].insert({"key": key, "ts": now})
            raise RequestFailed("not_found", "no request matches this number and these digits")
        return rows[0]

    def _event(self, complaint: str, ts: float, event: str, who: str, note: str = "") -> None:
        self.db.execute("INSERT INTO complaint_events (complaint, ts, event, who, note) VALUES (?, ?, ?, ?, ?)",
                        [complaint, ts, event, who, note])
