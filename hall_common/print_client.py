"""Asking the edge to print, from a kiosk (or a tool): one call that returns the outcome.

The edge answers a ``print`` request as soon as the job is stored (``queued``), or at once
with ``failed`` when no printer serving this node can print; the final word (``printed``
or ``failed``, maybe after ``moved``) arrives on ``hall/v1/{hall}/print/{node}``.
:meth:`PrintClient.print` waits for it up to a deadline, and if the word was lost (a
reconnect in between) asks ``print_status``. Whatever it returns, the caller decides what
the resident sees: a ``printed`` ticket, or the ticket as an on-screen QR for anything else.

The job id is made here, once, so sending the request again is the same job.

Example::

    printing = PrintClient(bus)          # before bus.start(): it subscribes
    outcome = printing.print("queue_ticket", fields, printer="printer-1")
    if outcome.status != "printed":
        show_ticket_qr_on_screen()
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from hall_common.bus import contract
from hall_common.bus.client import BusClient, BusMessage
from hall_common.errors import BusTimeout, RequestFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """Where a job stands: ``printed``, ``failed`` (``reason`` says why), ``queued``
    (still waiting when the caller stopped waiting) or ``unknown`` (the edge did not answer)."""

    job: str
    status: str
    printer: str | None = None
    reason: str = ""
    reprint: bool = False

    @property
    def printed(self) -> bool:
        return self.status == "printed"


def job_for(kind: str, key: str) -> str:
    """The print job id of one piece of paper (``ticket`` and its id, ``complaint`` and its
    tracking number): the same id however often the print is asked for."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hall-print:{kind}:{key}"))


class PrintClient:
    def __init__(self, bus: BusClient) -> None:
        self.bus = bus
        self._waiting: dict[str, Future[Outcome]] = {}
        self._lock = threading.Lock()
        bus.subscribe(contract.PRINT_OUTCOME.filter(hall=bus.hall_id, node=bus.node_id), self._on_outcome)

    def print(self, template: str, fields: dict[str, Any], *, printer: str | None = None,
              reprint_of: str | None = None, test: bool = False, timeout: float = 10.0,
              job: str | None = None) -> Outcome:
        """Print and wait up to ``timeout`` seconds for the outcome.

        ``job`` names the job when the caller can tell "the same paper again" from a new
        one (a ticket's id): asked twice, say after the kiosk restarted while a resident
        tapped again, the edge answers with the first job instead of printing it twice."""
        args: dict[str, Any] = {"template": template, "fields": fields, "test": test}
        if printer is not None:
            args["printer"] = printer
        if reprint_of is not None:
            args["reprint_of"] = reprint_of
        return self.ask("print", args, timeout=timeout, job=job)

    def ask(self, method: str, args: dict[str, Any], *, timeout: float = 10.0, job: str | None = None) -> Outcome:
        """Send a request that makes a print job (``print``, or ``payment_receipt``, whose
        fields the edge fills in), with a new job id in ``args["job"]``, and wait up to
        ``timeout`` seconds for the job's outcome. A request the edge refuses raises
        :class:`RequestFailed`."""
        job = job or str(uuid.uuid4())
        future: Future[Outcome] = Future()
        with self._lock:
            self._waiting[job] = future
        try:
            try:
                first = _outcome(self.bus.request(method, {**args, "job": job}, timeout=min(timeout, 5.0)))
            except BusTimeout:
                return Outcome(job, "unknown", reason="offline")
            if first.status in ("printed", "failed"):
                return first
            if first.job != job:  # the edge had made this job before (a receipt asked again)
                return self.status(first.job)
            try:
                return future.result(timeout)
            except FutureTimeout:
                return self.status(job)
        finally:
            with self._lock:
                self._waiting.pop(job, None)

    def status(self, job: str) -> Outcome:
        """Ask the edge where ``job`` stands now."""
        try:
            return _outcome(self.bus.request("print_status", {"job": job}, timeout=3.0))
        except (BusTimeout, RequestFailed) as exc:
            log.warning("print job %s: no status (%s)", job, exc)
            return Outcome(job, "unknown", reason="offline")

    def _on_outcome(self, msg: BusMessage) -> None:
        o = msg.payload
        if o.status not in ("printed", "failed"):
            return  # ``moved``: on its way, keep waiting
        with self._lock:
            future = self._waiting.get(o.job)
        if future is not None and not future.done():
            future.set_result(Outcome(o.job, o.status, o.printer, o.reason, o.reprint))


def _outcome(result: dict[str, Any]) -> Outcome:
    return Outcome(str(result.get("job", "")), str(result.get("status", "unknown")), result.get("printer"),
                   str(result.get("reason", "")), bool(result.get("reprint", False)))
