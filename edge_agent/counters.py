"""Counter pages for staff (call next, recall, serve, finish, skip, transfer, open/close,
the waiting list) and the residents' phone page a ticket's QR code opens.

Both act on the agent's queue service (``services.queue`` of ``create_app``), the same one
the bus requests reach, so a call from this page, a GPIO button or a hardware caller is
the same call.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from hall_common.auth import login_required
from hall_common.errors import RequestFailed

from .console_services import require
from .queue.rating import RATINGS
from .queue.service import QueueService

bp = Blueprint("counters", __name__)

MESSAGES = {
    "no_ticket": "这个窗口现在没有叫到的号 · No number at this counter now",
    "recall_first": "请先重呼，再记为过号 · Recall first, then mark as no-show",
}


@bp.get("/counters")
@login_required()
def index():
    q: QueueService = require("queue")
    return render_template("console/counters.html", counters=q.engine.counter_states(),
                           waiting=q.engine.waiting_counts(), services=q.engine.services)


@bp.get("/counters/<counter>")
@login_required()
def counter(counter: str):
    q: QueueService = require("queue")
    e = q.engine
    if counter not in e.counters:
        abort(404)
    c = e.counters[counter]
    state = next(s for s in e.counter_states() if s["counter"].id == counter)
    waiting = [t for t in e.waiting() if t.service in c.services]
    return render_template("console/counter.html", c=c, state=state, waiting=waiting, services=e.services,
                           counters=e.counters, recalls_needed=e.config.recalls_before_no_show)


@bp.post("/counters/<counter>/<action>")
@login_required()
def act(counter: str, action: str):
    q: QueueService = require("queue")
    if counter not in q.engine.counters:
        abort(404)
    try:
        result = q.act(counter, action, service=request.form.get("service") or None,
                       to_counter=request.form.get("to_counter") or None, by=g.get("user"))
    except RequestFailed as exc:
        flash(MESSAGES.get(exc.code, str(exc)))
    except ValueError as exc:
        flash(f"操作无效 · Not possible: {exc}")
    else:
        if action == "next" and result["ticket"] is None:
            flash("没有人在等候 · Nobody is waiting")
    return redirect(url_for("counters.counter", counter=counter))


@bp.get("/stats")
@login_required()
def stats():
    """Today's figures per service and per counter, with a bar chart of tickets and waits,
    and residents' ratings per counter (seed 000 clause 6.1)."""
    q: QueueService = require("queue")
    figures = q.engine.stats()
    services = q.engine.services
    rows = [(services[sid], f) for sid, f in figures["services"].items() if f["issued"]]
    top = max([f["issued"] for _, f in rows] + [1])
    return render_template("console/stats.html", figures=figures, rows=rows, top=top,
                           counters=q.engine.counters, rated=q.engine.satisfaction(figures["day"]),
                           ratings=RATINGS)


@bp.get("/q/<ticket_id>")
def follow(ticket_id: str):
    """The resident's phone page: their number, the place in the line, the counter when
    called. Public (the QR code is the key: a random id), refreshed every few seconds."""
    q: QueueService = require("queue")
    found = q.engine.position(ticket_id)
    if found is None:
        abort(404)
    ticket, ahead = found
    svc = q.engine.services.get(ticket.service)
    counter = q.engine.counters.get(ticket.counter) if ticket.counter else None
    return render_template("console/follow.html", t=ticket, ahead=ahead, svc=svc, counter=counter,
                           wait_s=q.engine.estimate(ticket.service, ahead) if ticket.status == "issued" else None)
