"""The queue on the bus: kiosks ask for tickets, counters (the staff console, a GPIO
button, a hardware caller) call numbers; the state for boards and kiosks and each call for
the board's voice go out.

* ``ticket`` request ``{"request": uuid, "service": id, "priority": bool}`` → the ticket,
  people ahead and the estimated wait; ``closed`` outside opening hours, ``full`` when a
  service has no numbers left today. The same request id returns the same ticket.
* ``counter`` request ``{"counter": id, "action": "next" | "recall" | "serve" | "finish" |
  "skip" | "transfer" | "open" | "close", "service"?, "to_counter"?}``, only from the nodes
  listed as the counter's ``callers`` (``forbidden`` otherwise).
* ``rate_service`` request ``{"request": uuid, "code": "A012", "rating": level, "comment"?: text}``
  → the rating (see ``rating.py``); ``{"code", "check": true}`` only checks that the ticket
  can be rated and says where it was served. Refusals: ``not_found``, ``not_yet``,
  ``not_served``, ``already_rated``; the same request id returns the same rating.
* ``queue/state`` (retained) after every change and on every reconnect; ``queue/called``
  for every call and recall.

The engine has its own connection to ``edge.db`` and its own lock, so the staff console's
threads and the bus worker can both act on it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from central_sync import client as outbox
from hall_common.bus import contract
from hall_common.bus.methods import CounterArgs, RateServiceArgs, TicketArgs
from hall_common.bus.payloads import CounterNow, QueueCalled, QueueState, ServiceNow
from hall_common.config import QueueConfig
from hall_common.errors import RequestFailed
from hall_common.storage import open_database

from ..component import Component, route
from .engine import Call, QueueEngine

if TYPE_CHECKING:
    import sqlite_utils

    from ..buttons import CounterButtons

log = logging.getLogger(__name__)

ACTIONS = ("next", "recall", "serve", "finish", "skip", "transfer", "open", "close")


class QueueService(Component):
    """The queue component. ``pin_factory`` is the agent's one gpiozero pin factory, for the
    counters' call-next buttons (``button_pin`` in the configuration)."""

    name = "queue"

    def __init__(self, config: QueueConfig, *, db_path: Path, bus: Any, node: str,
                 nudge: Callable[[], None] | None = None, clock: Callable[[], float] = time.time,
                 pin_factory: Any = None) -> None:
        self.bus, self.node, self._nudge = bus, node, nudge
        self.db = open_database(db_path, shared_thread=True)
        self.engine = QueueEngine(self.db, config, clock=clock, record=self._record, hall_id=bus.hall_id)
        pins = {c.id: c.button_pin for c in config.counters if c.button_pin is not None}
        self.buttons: CounterButtons | None = None
        if pins:
            from .. import buttons  # gpiozero only where a counter has a button

            self.buttons = buttons.CounterButtons(pins, lambda counter: self.act(counter, "next"), pin_factory=pin_factory)

    def republish(self) -> None:
        self.publish_state()

    def stop(self) -> None:
        if self.buttons is not None:
            self.buttons.close()

    def close(self) -> None:
        self.db.close()

    # -- requests ----------------------------------------------------------------------------

    @route("ticket")
    def handle_ticket(self, requester: str, args: TicketArgs) -> dict[str, Any]:
        issued = self.engine.issue(args.service, kiosk=requester, request=args.request, priority=args.priority)
        self.publish_state()
        if self._nudge is not None:
            self._nudge()
        t, svc = issued.ticket, self.engine.services[issued.ticket.service]
        return {"id": t.id, "code": t.code, "service": t.service, "name_zh": svc.name_zh, "name_en": svc.name_en,
                "priority": t.priority, "ahead": issued.ahead, "wait_s": issued.wait_s, "issued_at": t.issued_at}

    @route("counter")
    def handle_counter(self, requester: str, args: CounterArgs) -> dict[str, Any]:
        if args.counter not in self.engine.counters:
            raise ValueError(f"counter: unknown counter {args.counter!r}")
        if requester not in self.engine.counters[args.counter].callers:
            raise RequestFailed("forbidden", f"{requester} is not a caller of counter {args.counter}")
        return self.act(args.counter, args.action, service=args.service, to_counter=args.to_counter)

    @route("rate_service")
    def handle_rate_service(self, requester: str, args: RateServiceArgs) -> dict[str, Any]:
        """A resident rates the service of their ticket at a kiosk (or checks it can be)."""
        if args.check:
            t = self.engine.rateable(args.code)
            return {"code": t.code, "check": True, **self._where(t.service, t.counter)}
        row = self.engine.rate(args.code, args.rating, kiosk=requester, request=args.request,
                               comment=args.comment or "")
        if self._nudge is not None:
            self._nudge()
        return {"id": row["id"], "code": row["code"], "rating": row["rating"], "comment": row["comment"],
                "rated_at": row["rated_at"], **self._where(row["service"], row["counter"])}

    def _where(self, service: str, counter: str | None) -> dict[str, Any]:
        """Names of a ticket's service and counter, for the kiosk to show."""
        svc = self.engine.services.get(service)
        c = self.engine.counters.get(counter) if counter else None
        return {"service": service, "name_zh": svc.name_zh if svc else service,
                "name_en": svc.name_en if svc else service, "counter": counter, "counter_name": c.name if c else None}

    # -- counters (requests, the console, GPIO buttons) --------------------------------------

    def act(self, counter: str, action: str, *, service: str | None = None, to_counter: str | None = None,
            by: str | None = None) -> dict[str, Any]:
        """Do ``action`` at ``counter``; returns the ticket now at the counter (or None).
        ``by`` is the staff member doing it (the console's user): they now work the counter,
        so residents' ratings of the tickets served there are theirs."""
        if action not in ACTIONS:
            raise ValueError(f"action: one of {', '.join(ACTIONS)}")
        e = self.engine
        if by:
            e.attend(counter, by)
        call: Call | None = None
        if action == "next":
            call = e.call_next(counter)
        elif action == "recall":
            call = e.recall(counter)
        elif action == "serve":
            e.serve(counter)
        elif action == "finish":
            e.finish(counter)
        elif action == "skip":
            e.skip(counter)
        elif action == "transfer":
            e.transfer(counter, service=service, to_counter=to_counter)
        else:
            e.set_open(counter, action == "open")
        if call is not None:
            self._announce(call)
        self.publish_state()
        now = next((c["ticket"] for c in e.counter_states() if c["counter"].id == counter), None)
        return {"counter": counter, "ticket": now.code if now else None, "status": now.status if now else None}

    # -- out ---------------------------------------------------------------------------------

    def state(self) -> QueueState:
        e = self.engine
        counts = e.waiting_counts()
        counters = [CounterNow(counter=c["counter"].id, name=c["counter"].name, open=c["open"],
                               ticket=c["ticket"].code if c["ticket"] else None,
                               service=c["ticket"].service if c["ticket"] else None,
                               called_at=c["ticket"].called_at if c["ticket"] else None)
                    for c in e.counter_states()]
        services = [ServiceNow(service=s.id, name_zh=s.name_zh, name_en=s.name_en, prefix=s.prefix,
                               waiting=counts[s.id], wait_s=e.estimate(s.id, counts[s.id]))
                    for s in e.config.services]
        return QueueState(ts=time.time(), counters=counters, waiting=counts, last_called=e.last_called(),
                          services=services, day=e.service_day())

    def publish_state(self) -> None:
        if self.bus.connected:
            self.bus.publish(contract.QUEUE_STATE, self.state(), hall=self.bus.hall_id)

    def _announce(self, call: Call) -> None:
        t = call.ticket
        log.info("queue: %s to counter %s%s", t.code, call.counter.name, " (recall)" if call.recall else "")
        self.bus.publish(contract.QUEUE_CALLED, QueueCalled(
            id=call.id, ticket=t.code, counter=call.counter.id, counter_name=call.counter.name, service=t.service,
            recall=call.recall, ts=time.time()), hall=self.bus.hall_id)

    def _record(self, db: sqlite_utils.Database, kind: str, body: dict[str, Any], node: str, record_id: str) -> None:
        outbox.add(db, kind, body, node=node, record_id=record_id)
