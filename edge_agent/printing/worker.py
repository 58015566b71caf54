"""One thread per printer: it prints that printer's jobs in order and, when idle, asks the
printer its status every few seconds.

The thread owns the printer's one connection (many network printers take only one at a
time, so printing and polling must share it). Everything it may wait on has a timeout in
seconds, so a hung or unplugged printer holds up this thread alone: other printers, the bus
and the staff console carry on.

A job is printed like this:

1. ask the status (``DLE EOT 1..4``); a printer that cannot print gives its jobs up to the
   service, which moves them to another printer or fails them with the reason;
2. send the bytes, composed for this printer's profile (text or bitmap mode);
3. wait until the printer has printed them (``GS r 1``, answered in order, while
   ``DLE EOT`` says it is still well): only a printer that got through the whole job and
   still can print confirms it. One that ran out of paper, had its cover opened or fell
   silent meanwhile may have printed part of it, so the job moves on as *uncertain* and
   is marked as a reprint where it is printed next.

A refused or broken connection is retried (``retries`` times, 0.3 s apart; a job whose bytes
had gone out is retried as a reprint); a printer that takes the connection but does not
answer is not waited for twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol

from hall_common.config import PrinterConfig
from hall_common.escpos_status import PrinterStatus

from .driver import PrinterError, PrinterLink, PrinterSilent
from .profiles import PrinterProfile
from .spool import Spool

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.3


def reason_for(status: PrinterStatus) -> str:
    """Why a printer cannot print, as the reason code a requester gets."""
    if status.cover_open:
        return "cover_open"
    if status.paper == "out":
        return "paper_out"
    if status.cutter_error or status.unrecoverable:
        return "error"
    return "offline"


class Dispatcher(Protocol):
    """What a worker needs of whoever hands it jobs (the print service): declared here so
    that the worker does not import the service that builds it."""

    spool: Spool

    def compose(self, job: dict[str, Any], printer: PrinterConfig) -> bytes: ...

    def profile(self, printer_id: str) -> PrinterProfile: ...

    def finish(self, job: dict[str, Any], status: str, reason: str = "") -> None: ...

    def printer_down(self, printer_id: str, reason: str, *, uncertain: str | None = None) -> None: ...

    def on_status(self, printer_id: str, status: PrinterStatus, *, changed: bool) -> None: ...


class PrinterWorker:
    def __init__(self, printer: PrinterConfig, service: Dispatcher, *, poll_s: float, retries: int,
                 connect: Callable[[PrinterConfig], PrinterLink] = PrinterLink.open) -> None:
        self.printer, self.service = printer, service
        self.poll_s, self.retries, self._connect = poll_s, retries, connect
        self.status: PrinterStatus | None = None
        self._link: PrinterLink | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"printer-{printer.id}", daemon=True)

    @property
    def can_print(self) -> bool:
        """As far as we know: a printer not asked yet gets the benefit of the doubt (the
        worker asks before sending anything)."""
        return self.status is None or self.status.can_print

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(self.printer.timeout * 3 + 2)
        self._disconnect()

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            try:
                job = self.service.spool.claim(self.printer.id)
                if job is not None:
                    self._print(job)
                    continue
                if time.monotonic() >= next_poll:
                    self._poll()
                    next_poll = time.monotonic() + self.poll_s
                self._wake.wait(max(0.0, next_poll - time.monotonic()))
                self._wake.clear()
            except Exception:
                # A bug must not end the printer's thread for good: log it, breathe, go on.
                log.exception("printer %s: worker error", self.printer.id)
                self._stop.wait(1.0)

    def _poll(self) -> None:
        try:
            status = self._link_or_open().status()
        except PrinterError as exc:
            log.debug("printer %s: %s", self.printer.id, exc)
            self._disconnect()
            status = PrinterStatus(online=False)
        self._report(status)

    def _print(self, job: dict) -> None:
        try:
            data = self.service.compose(job, self.printer)
        except (ValueError, OSError) as exc:
            log.error("printer %s: job %s cannot be composed: %s", self.printer.id, job["id"], exc)
            self.service.finish(job, "failed", "error")
            return
        sent = False
        try:
            link = self._link_or_open()
            status = link.status()
            self._report(status)
            if not status.can_print:
                self.service.printer_down(self.printer.id, reason_for(status))
                return
            sent = True
            link.write(data)
            # Only a printer that has printed the whole job and still can print confirms
            # it: "can print" asked right after sending would come before the paper.
            confirms = self.service.profile(self.printer.id).confirms_jobs
            status = link.wait_printed() if confirms else link.status()
            self._report(status)
            if status.can_print:
                self.service.finish(job, "printed")
            else:
                # Stopped mid-job: its answer to the "printed yet?" question may still
                # come, so this connection is not used again.
                self._disconnect()
                self.service.printer_down(self.printer.id, reason_for(status), uncertain=job["id"])
            return
        except PrinterSilent as exc:
            log.warning("printer %s: %s", self.printer.id, exc)
            give_up = True
        except PrinterError as exc:
            log.warning("printer %s: attempt %d: %s", self.printer.id, job["attempts"], exc)
            give_up = job["attempts"] > self.retries
        self._disconnect()
        if give_up:
            self._report(PrinterStatus(online=False))
            self.service.printer_down(self.printer.id, "offline", uncertain=job["id"] if sent else None)
        else:
            # Claimed again after a pause; if its bytes went out, the next print is a reprint.
            self.service.spool.requeue(job["id"], uncertain=sent)
            self._stop.wait(RETRY_PAUSE)

    # -- connection and status ---------------------------------------------------------------

    def _link_or_open(self) -> PrinterLink:
        if self._link is None:
            self._link = self._connect(self.printer)
        return self._link

    def _disconnect(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    def _report(self, status: PrinterStatus) -> None:
        changed = status != self.status
        self.status = status
        self.service.on_status(self.printer.id, status, changed=changed)
