"""The queue engine: tickets, counters and the order in which the waiting are served.

A pure core over SQLite (``edge.db``): it takes a database, the queue configuration and a
clock, and returns values; the bus adapter (``bus.py``) moves requests in and state out.
Every change runs under one lock in one transaction, so tickets from several kiosks and
calls from several counters never interleave: numbers are unique per service per day,
without gaps, and never reused within a day. All state is in the database, so an agent
restart loses nothing.

**The service day** starts at ``rollover`` local time (04:00 by default). On the first
operation of a new day, tickets still waiting or at a counter from an earlier day are
cancelled (event ``day_closed``) and numbering starts again at each service's ``first``.

**A prefix or number range changed during the day** (signed settings from the centre,
``reconfigure``) applies from the next ticket; tickets already issued keep their codes, and
numbers stay unique per service per day: today's counter below the new range jumps to its
first number at once; within it, it goes on; already past its end, today's numbering goes
on from the counter (residents still get tickets) and the new range starts the next day.

**Who is called next** at a counter (``call_next``): the waiting tickets of the services
the counter serves, plus those transferred to this counter by name, are considered.

1. With ``priority_per_normal = 0`` there is no priority lane: the oldest ticket goes first.
2. Otherwise, when both priority (elderly, disabled, pregnant) and normal tickets wait, a
   priority ticket goes first, unless ``priority_per_normal`` priority tickets have been
   called in a row (hall-wide); then the oldest normal ticket goes first and the run
   starts again. So with 2: P P N P P N ... while both kinds wait.
3. Within each kind, the earliest ``queued_at`` (issue time, kept across a transfer) first.

**Statuses** (each change is also an event with its time in ``ticket_events``): ``issued``
(waiting) → ``called`` → ``serving`` → ``done``; ``called`` → ``no_show`` (skipped after
``recalls_before_no_show`` recalls); any waiting or called ticket → ``cancelled``; a
transfer is recorded as the event ``transferred`` and puts the ticket back to ``issued`` in
the target service (or for the target counter only).

**Ratings**: a ticket of the current day, once ``done``, can be rated once by the resident
(``rate``; the rules are in ``rating.py``). The rating is put on the ticket's counter and on
the staff member who served it: whoever last worked that counter from the console
(``attend``) when the ticket was served or finished.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable
from zoneinfo import ZoneInfo

from hall_common.config import CounterConfig, QueueConfig, ServiceConfig
from hall_common.errors import RequestFailed
from hall_common.hours import today
from hall_common.storage import immediate
from hall_common.threads import locked

from . import rating as ratings

if TYPE_CHECKING:
    import sqlite_utils

ACTIVE = ("called", "serving")
ENDED = ("done", "no_show", "cancelled")
@dataclass(frozen=True)
class Ticket:
    id: str
    code: str
    service: str
    number: int
    priority: bool
    status: str
    kiosk: str
    issued_at: float
    counter: str | None = None
    called_at: float | None = None
    recalls: int = 0

    @classmethod
    def of(cls, row: dict[str, Any]) -> Ticket:
        return cls(row["id"], row["code"], row["service"], row["number"], bool(row["priority"]), row["status"],
                   row["kiosk"], row["issued_at"], row["counter"], row["called_at"], row["recalls"])


@dataclass(frozen=True)
class Issued:
    """A new ticket and what the resident is told: people ahead and the estimated wait."""

    ticket: Ticket
    ahead: int
    wait_s: int | None


@dataclass(frozen=True)
class Call:
    """A number called to a counter (for the board and its voice)."""

    id: str
    ticket: Ticket
    counter: CounterConfig
    recall: bool


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _p90(values: list[float]) -> float | None:
    """The 90th percentile, nearest rank (exact for the small counts of one hall's day)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 1)


class QueueEngine:
    """Example::

        engine = QueueEngine(db, config.queue)
        issued = engine.issue("procedures", kiosk="kiosk-01", request="…uuid…")
        call = engine.call_next("c1")
        engine.finish("c1")
    """

    def __init__(self, db: sqlite_utils.Database, config: QueueConfig, *,
                 clock: Callable[[], float] = time.time, hall_id: str = "",
                 record: Callable[[sqlite_utils.Database, str, dict[str, Any], str, str], None] | None = None) -> None:
        """``record(db, kind, body, node, record_id)`` is called inside the transaction that
        issues a ticket (kind ``ticket``), ends one (``ticket_outcome``: served, no-show or
        cancelled, with its times) or closes a service day (``queue_daily``, the day's
        totals): the edge puts them in its outbox for the centre there, so both or neither."""
        self.db, self.clock, self._record, self.hall_id = db, clock, record, hall_id
        self._lock = threading.RLock()
        self.reconfigure(config)
        with self._lock, immediate(self.db):
            for c in config.counters:
                self.db.execute("INSERT OR IGNORE INTO queue_counters (counter, open, ticket) VALUES (?, 1, NULL)", [c.id])

    def reconfigure(self, config: QueueConfig) -> None:
        """Run ``config`` from now on (signed settings from the centre change the priority
        rule, the hours, which services take priority tickets); tickets already issued stay."""
        with self._lock:
            self.config = config
            self.services: dict[str, ServiceConfig] = {s.id: s for s in config.services}
            self.counters: dict[str, CounterConfig] = {c.id: c for c in config.counters}
            # A prefix given up today still finds its tickets (a resident rating A012 after
            # the centre changed procedures to P), unless another service has taken it.
            kept = getattr(self, "_by_prefix", {})
            self._by_prefix: dict[str, str] = {**kept, **{s.prefix: s.id for s in config.services}}

    # -- the day ------------------------------------------------------------------------------

    def service_day(self, now: float | None = None) -> str:
        zone = ZoneInfo(self.config.hours.timezone)
        local = datetime.fromtimestamp(self.clock() if now is None else now, zone)
        h, m = map(int, self.config.rollover.split(":"))
        return (local - timedelta(hours=h, minutes=m)).date().isoformat()

    def _roll(self, now: float) -> str:
        """Start a new service day if one began since the last operation."""
        day = self.service_day(now)
        if self._meta("day") == day:
            return day
        stale = [r["id"] for r in self.db.query(
            "SELECT id FROM tickets WHERE day < ? AND status IN ('issued', 'called', 'serving')", [day])]
        for ticket in stale:
            self._set(ticket, "cancelled", now, event="day_closed")
        self.db.execute("UPDATE queue_counters SET ticket = NULL")
        previous = self._meta("day")
        if previous is not None and self._record is not None:
            totals = self._stats(previous)
            self._record(self.db, "queue_daily", {"day": previous, **totals}, "edge",
                         str(uuid.uuid5(uuid.NAMESPACE_URL, f"hall/{self.hall_id}/queue_daily/{previous}")))
        self._meta_set("day", day)
        self._meta_set("priority_streak", "0")
        return day

    # -- residents ----------------------------------------------------------------------------

    def issue(self, service: str, *, kiosk: str, request: str | None = None, priority: bool = False) -> Issued:
        """A new ticket; the same ``request`` id again returns the same ticket."""
        if service not in self.services:
            raise ValueError(f"service: unknown service {service!r}")
        with self._lock, immediate(self.db):
            if request is not None:
                rows = list(self.db.query("SELECT * FROM tickets WHERE request_id = ?", [request]))
                if rows:
                    return self._issued(Ticket.of(rows[0]))
            now = self.clock()
            if not today(self.config.hours, datetime.fromtimestamp(now, ZoneInfo(self.config.hours.timezone))).open_now:
                raise RequestFailed("closed", "the hall is closed: tickets are given during opening hours")
            day = self._roll(now)
            svc = self.services[service]
            if priority and not svc.priority_allowed:
                raise RequestFailed("no_priority", f"{service} gives no priority tickets")
            self.db.execute("INSERT OR IGNORE INTO queue_numbers (day, service, last) VALUES (?, ?, ?)",
                            [day, service, svc.first - 1])
            last = self.db.execute("SELECT last FROM queue_numbers WHERE day = ? AND service = ?",
                                   [day, service]).fetchone()[0]
            if last > svc.last:  # the range was moved below today's numbers: go on, new range tomorrow
                number = last + 1
                if number > 9999:
                    raise RequestFailed("full", f"no numbers left today for {service}")
            elif last == svc.last:
                raise RequestFailed("full", f"no numbers left today for {service} ({svc.first}-{svc.last})")
            else:  # below a range moved up today: at once at its first number
                number = max(last, svc.first - 1) + 1
            self.db.execute("UPDATE queue_numbers SET last = ? WHERE day = ? AND service = ?", [number, day, service])
            width = max(3, len(str(svc.last)))
            row = {"id": str(uuid.uuid4()), "request_id": request, "day": day, "service": service,
                   "issued_service": service, "number": number,
                   "code": f"{svc.prefix}{number:0{width}d}", "priority": int(priority), "kiosk": kiosk,
                   "status": "issued", "issued_at": now, "queued_at": now}
            self.db["tickets"].insert(row)
            self._event(row["id"], "issued", now, detail="priority" if priority else "")
            if self._record is not None:
                self._record(self.db, "ticket", {k: row[k] for k in ("id", "day", "service", "number", "code",
                                                                     "priority", "kiosk", "issued_at")},
                             kiosk, row["id"])
            return self._issued(Ticket.of(self._get(row["id"])))

    def cancel(self, ticket_id: str) -> Ticket:
        with self._lock, immediate(self.db):
            row = self._get(ticket_id)
            if row is None or row["status"] not in ("issued", "called"):
                raise RequestFailed("not_waiting", "only a waiting or called ticket can be cancelled")
            self._set(ticket_id, "cancelled", self.clock())
            self.db.execute("UPDATE queue_counters SET ticket = NULL WHERE ticket = ?", [ticket_id])
            return Ticket.of(self._get(ticket_id))

    @locked
    def position(self, ticket_id: str) -> tuple[Ticket, int] | None:
        """A ticket and how many are ahead of it in its line (for the phone page)."""
        row = self._get(ticket_id)
        if row is None:
            return None
        ticket = Ticket.of(row)
        return ticket, (self._ahead(row) if row["status"] == "issued" else 0)

    # -- counters -----------------------------------------------------------------------------

    def call_next(self, counter: str) -> Call | None:
        """Finish the counter's current ticket, then call the next one (None: nobody waits)."""
        c = self._counter(counter)
        with self._lock, immediate(self.db):
            now = self.clock()
            self._roll(now)
            current = self._current(counter)
            if current is not None:
                self._set(current["id"], "done", now, counter=counter)
            nxt = self._pick(c)
            if nxt is None:
                self.db.execute("UPDATE queue_counters SET ticket = NULL, open = 1 WHERE counter = ?", [counter])
                return None
            streak = int(self._meta("priority_streak") or 0)
            self._meta_set("priority_streak", str(streak + 1 if nxt["priority"] else 0))
            self.db.execute("UPDATE tickets SET status = 'called', counter = ?, called_at = ?, only_counter = NULL "
                            "WHERE id = ?", [counter, now, nxt["id"]])
            self.db.execute("UPDATE queue_counters SET ticket = ?, open = 1 WHERE counter = ?", [nxt["id"], counter])
            seq = self._event(nxt["id"], "called", now, counter=counter)
            return Call(f"call-{seq:08d}", Ticket.of(self._get(nxt["id"])), c, recall=False)

    def recall(self, counter: str) -> Call:
        c = self._counter(counter)
        with self._lock, immediate(self.db):
            current = self._require(counter, ("called",))
            now = self.clock()
            self.db.execute("UPDATE tickets SET recalls = recalls + 1 WHERE id = ?", [current["id"]])
            seq = self._event(current["id"], "recalled", now, counter=counter)
            return Call(f"call-{seq:08d}", Ticket.of(self._get(current["id"])), c, recall=True)

    def serve(self, counter: str) -> Ticket:
        """The resident has come to the counter."""
        self._counter(counter)
        with self._lock, immediate(self.db):
            current = self._require(counter, ("called",))
            self._set(current["id"], "serving", self.clock(), counter=counter)
            return Ticket.of(self._get(current["id"]))

    def finish(self, counter: str) -> Ticket:
        self._counter(counter)
        with self._lock, immediate(self.db):
            current = self._require(counter, ACTIVE)
            self._set(current["id"], "done", self.clock(), counter=counter)
            self.db.execute("UPDATE queue_counters SET ticket = NULL WHERE counter = ?", [counter])
            return Ticket.of(self._get(current["id"]))

    def skip(self, counter: str) -> Ticket:
        """The called resident did not come: a no-show, once recalled enough times."""
        self._counter(counter)
        with self._lock, immediate(self.db):
            current = self._require(counter, ("called",))
            need = self.config.recalls_before_no_show
            if current["recalls"] < need:
                raise RequestFailed("recall_first", f"recall {need - current['recalls']} more time(s) before a no-show")
            self._set(current["id"], "no_show", self.clock(), counter=counter)
            self.db.execute("UPDATE queue_counters SET ticket = NULL WHERE counter = ?", [counter])
            return Ticket.of(self._get(current["id"]))

    def transfer(self, counter: str, *, service: str | None = None, to_counter: str | None = None) -> Ticket:
        """Send the counter's resident to another service's line, or to one counter."""
        self._counter(counter)
        if (service is None) == (to_counter is None):
            raise ValueError("transfer: give a service or a counter")
        if service is not None and service not in self.services:
            raise ValueError(f"service: unknown service {service!r}")
        if to_counter is not None:
            self._counter(to_counter)
        with self._lock, immediate(self.db):
            current = self._require(counter, ACTIVE)
            now = self.clock()
            target = service or current["service"]
            self.db.execute(
                "UPDATE tickets SET status = 'issued', service = ?, only_counter = ?, counter = NULL, called_at = NULL, "
                "serving_at = NULL, recalls = 0, transfers = transfers + 1 WHERE id = ?",
                [target, to_counter, current["id"]])
            self._event(current["id"], "transferred", now, counter=counter,
                        detail=f"service:{service}" if service else f"counter:{to_counter}")
            self.db.execute("UPDATE queue_counters SET ticket = NULL WHERE counter = ?", [counter])
            return Ticket.of(self._get(current["id"]))

    def set_open(self, counter: str, open_: bool) -> None:
        self._counter(counter)
        with self._lock, immediate(self.db):
            self.db.execute("UPDATE queue_counters SET open = ? WHERE counter = ?", [int(open_), counter])

    def attend(self, counter: str, staff: str) -> None:
        """``staff`` works ``counter`` now: the tickets it serves and finishes from now on
        (by the console, a button or a hardware caller) are theirs when residents rate them."""
        self._counter(counter)
        with self._lock, immediate(self.db):
            self.db.execute("UPDATE queue_counters SET staff = ? WHERE counter = ?", [staff, counter])

    # -- residents' ratings -------------------------------------------------------------------

    def rate(self, code: str, rating: str, *, kiosk: str, request: str | None = None,
             comment: str = "") -> dict[str, Any]:
        """Rate the service of today's ticket ``code`` (once, after it was served): the
        stored rating. The same ``request`` id again returns the same rating; the outbox
        record (kind ``service_rating``) is written in the same transaction."""
        prefix, number = ratings.parse_code(code)
        rating = ratings.check_rating(rating)
        comment = ratings.check_comment(comment)
        with self._lock, immediate(self.db):
            if request is not None:
                done = ratings.by_request(self.db, request)
                if done is not None:
                    return done
            now = self.clock()
            ticket = ratings.find_ticket(self.db, self.service_day(now), self._by_prefix.get(prefix), number)
            return ratings.store(self.db, ticket, rating, comment, kiosk=kiosk, request=request, now=now,
                                 record=self._record)

    @locked
    def rateable(self, code: str) -> Ticket:
        """Today's ticket ``code`` if it can be rated now; RequestFailed (as ``rate``) if not."""
        prefix, number = ratings.parse_code(code)
        return Ticket.of(ratings.find_ticket(self.db, self.service_day(), self._by_prefix.get(prefix), number))

    @locked
    def satisfaction(self, day: str | None = None) -> dict[str, Any]:
        """A day's ratings in total and per counter (see ``rating.satisfaction``)."""
        return ratings.satisfaction(self.db, day or self.service_day(), list(self.counters))

    # -- what everyone sees -------------------------------------------------------------------

    @locked
    def waiting(self, service: str | None = None) -> list[Ticket]:
        """Tickets waiting, in the order they would be called within their kind."""
        day = self.service_day()
        sql = "SELECT * FROM tickets WHERE status = 'issued' AND day = ?"
        args: list[Any] = [day]
        if service is not None:
            sql += " AND service = ?"
            args.append(service)
        return [Ticket.of(r) for r in self.db.query(sql + " ORDER BY priority DESC, queued_at, rowid", args)]

    @locked
    def counter_states(self) -> list[dict[str, Any]]:
        out = []
        for c in self.config.counters:
            row = list(self.db.query("SELECT * FROM queue_counters WHERE counter = ?", [c.id]))
            state = row[0] if row else {"open": 1, "ticket": None}
            ticket = self._get(state["ticket"]) if state["ticket"] else None
            out.append({"counter": c, "open": bool(state["open"]), "ticket": Ticket.of(ticket) if ticket else None})
        return out

    @locked
    def waiting_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in self.services}
        for r in self.db.query("SELECT service, count(*) AS n FROM tickets WHERE status = 'issued' AND day = ? "
                               "GROUP BY service", [self.service_day()]):
            counts[r["service"]] = r["n"]
        return counts

    @locked
    def estimate(self, service: str, ahead: int) -> int | None:
        """Seconds until a ticket with ``ahead`` people before it is likely called: the
        recent mean service time of this service, shared by the open counters serving it.
        None when no open counter serves it."""
        open_counters = [c for c in self.counter_states() if c["open"] and service in c["counter"].services]
        if not open_counters:
            return None
        times = [r["t"] for r in self.db.query(
            "SELECT done_at - called_at AS t FROM tickets WHERE service = ? AND status = 'done' AND called_at IS NOT NULL "
            "ORDER BY done_at DESC LIMIT 20", [service])]
        mean = sum(times) / len(times) if times else self.config.default_service_s
        return int(math.ceil(ahead * mean / len(open_counters)))

    @locked
    def last_called(self, limit: int = 10) -> list[str]:
        return [r["code"] for r in self.db.query(
            "SELECT t.code FROM ticket_events e JOIN tickets t ON t.id = e.ticket WHERE e.event = 'called' "
            "AND t.day = ? ORDER BY e.seq DESC LIMIT ?", [self.service_day(), limit])]

    @locked
    def stats(self, day: str | None = None) -> dict[str, Any]:
        """A day's figures for staff: per service, tickets issued, served, no-shows,
        cancelled, still waiting, and the mean and 90th percentile of the wait (issue to
        call) and of the service time (call to done); per counter, served and service time."""
        return self._stats(day or self.service_day())

    @locked
    def history(self, ticket_id: str) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT event, ts, counter, detail FROM ticket_events WHERE ticket = ? ORDER BY seq",
                                  [ticket_id]))

    # -- inside -------------------------------------------------------------------------------

    def _stats(self, day: str) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM tickets WHERE day = ?", [day]))

        def figures(group: list[dict[str, Any]]) -> dict[str, Any]:
            waits = [r["called_at"] - r["issued_at"] for r in group if r["called_at"]]
            services = [r["done_at"] - r["called_at"] for r in group if r["status"] == "done" and r["called_at"]]
            count = {s: sum(r["status"] == s for r in group) for s in ("done", "no_show", "cancelled", "issued")}
            return {"issued": len(group), "served": count["done"], "no_show": count["no_show"],
                    "cancelled": count["cancelled"], "waiting": count["issued"],
                    "wait_mean_s": _mean(waits), "wait_p90_s": _p90(waits),
                    "service_mean_s": _mean(services), "service_p90_s": _p90(services)}

        by_service = {s: figures([r for r in rows if r["issued_service"] == s]) for s in self.services}
        by_counter = {c: figures([r for r in rows if r["counter"] == c]) for c in self.counters}
        return {"day": day, "total": figures(rows), "services": by_service, "counters": by_counter}

    def _issued(self, ticket: Ticket) -> Issued:
        row = self._get(ticket.id)
        ahead = self._ahead(row) if row["status"] == "issued" else 0
        return Issued(ticket, ahead, self.estimate(ticket.service, ahead))

    def _ahead(self, row: dict[str, Any]) -> int:
        """People in the same line called before this ticket if nobody else arrived."""
        return self.db.execute(
            "SELECT count(*) FROM tickets WHERE status = 'issued' AND day = ? AND service = ? AND id != ? "
            "AND (priority > ? OR (priority = ? AND queued_at <= ?))",
            [row["day"], row["service"], row["id"], row["priority"], row["priority"], row["queued_at"]]).fetchone()[0]

    def _pick(self, c: CounterConfig) -> dict[str, Any] | None:
        marks = ",".join("?" * len(c.services))
        base = (f"SELECT * FROM tickets WHERE status = 'issued' AND day = ? AND "
                f"((only_counter IS NULL AND service IN ({marks})) OR only_counter = ?)")
        args = [self._meta("day"), *c.services, c.id]
        ratio = self.config.priority_per_normal
        if ratio == 0:
            rows = list(self.db.query(base + " ORDER BY queued_at, rowid LIMIT 1", args))
            return rows[0] if rows else None
        pri = list(self.db.query(base + " AND priority = 1 ORDER BY queued_at, rowid LIMIT 1", args))
        norm = list(self.db.query(base + " AND priority = 0 ORDER BY queued_at, rowid LIMIT 1", args))
        if pri and norm:
            return pri[0] if int(self._meta("priority_streak") or 0) < ratio else norm[0]
        return (pri or norm or [None])[0]

    def _counter(self, counter: str) -> CounterConfig:
        if counter not in self.counters:
            raise ValueError(f"counter: unknown counter {counter!r}")
        return self.counters[counter]

    def _current(self, counter: str) -> dict[str, Any] | None:
        """The ticket called to or served at ``counter`` now, if any."""
        rows = list(self.db.query("SELECT t.* FROM queue_counters q JOIN tickets t ON t.id = q.ticket "
                                  "WHERE q.counter = ? AND t.status IN ('called', 'serving')", [counter]))
        return rows[0] if rows else None

    def _require(self, counter: str, need: tuple[str, ...]) -> dict[str, Any]:
        row = self._current(counter)
        if row is None or row["status"] not in need:
            raise RequestFailed("no_ticket", f"counter {counter} has no {' or '.join(need)} ticket")
        return row

    def _get(self, ticket_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM tickets WHERE id = ?", [ticket_id]))
        return rows[0] if rows else None

    def _set(self, ticket_id: str, status: str, now: float, *, counter: str | None = None, event: str | None = None) -> None:
        column = {"serving": "serving_at", "done": "done_at", "no_show": "done_at", "cancelled": "done_at"}[status]
        self.db.execute(f"UPDATE tickets SET status = ?, {column} = ? WHERE id = ?", [status, now, ticket_id])
        if counter is not None and status in ("serving", "done"):
            self.db.execute("UPDATE tickets SET served_by = COALESCE((SELECT staff FROM queue_counters "
                            "WHERE counter = ?), served_by) WHERE id = ?", [counter, ticket_id])
        self._event(ticket_id, event or status, now, counter=counter)
        if status in ENDED and self._record is not None:
            self._outcome(ticket_id)

    def _outcome(self, ticket_id: str) -> None:
        """The ticket's end (served, no-show or cancelled) with its wait (issue to call) and
        service time (call to done), as :meth:`stats` counts them: the centre's monthly
        reports need each ticket's times, since a p90 cannot be made of the days' p90s. One
        record per ticket (its id is derived from the ticket's), in this transaction."""
        t = self._get(ticket_id)
        svc = self.services.get(t["issued_service"])
        called, ended = t["called_at"], t["done_at"]
        self._record(self.db, "ticket_outcome", {
            "id": t["id"], "day": t["day"], "service": t["issued_service"], "served_service": t["service"],
            "name_zh": svc.name_zh if svc else t["issued_service"], "name_en": svc.name_en if svc else t["issued_service"],
            "code": t["code"], "priority": t["priority"], "status": t["status"], "counter": t["counter"],
            "issued_at": t["issued_at"], "called_at": called, "ended_at": ended, "transfers": t["transfers"],
            "wait_s": round(called - t["issued_at"], 1) if called else None,
            "service_s": round(ended - called, 1) if called and t["status"] == "done" else None,
        }, "edge", str(uuid.uuid5(uuid.NAMESPACE_URL, f"hall/{self.hall_id}/ticket_outcome/{t['id']}")))

    def _event(self, ticket_id: str, event: str, now: float, *, counter: str | None = None, detail: str = "") -> int:
        cur = self.db.execute("INSERT INTO ticket_events (ticket, ts, event, counter, detail) VALUES (?, ?, ?, ?, ?)",
                              [ticket_id, now, event, counter, detail])
        return int(cur.lastrowid or 0)

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM queue_meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def _meta_set(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO queue_meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])
