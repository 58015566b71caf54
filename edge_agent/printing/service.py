"""The edge's print service: print requests in, jobs routed to printers, outcomes out.

* ``print`` (an MQTT 5 request from a kiosk or a tool): the fields are checked against the
  template, the job is stored in the spool, and only then is the request answered (and, by
  the bus client, acknowledged). The answer says ``queued`` on which printer, or ``failed``
  at once with the reason when no printer serving the requester can print, so the kiosk
  can show the ticket as an on-screen QR instead (seed 000 clause 5.3.6).
* ``print_status``: what became of one of the requester's jobs (after a reconnect).
* Outcomes go to the requester on ``hall/v1/{hall}/print/{node}``: ``moved`` (to another
  printer), then ``printed`` or ``failed`` with a reason.
* Each printer's status is published retained on ``hall/v1/{hall}/edge/{printer}/state``
  and turned into alarms: paper near end (warning); paper out, cover open, a cutter or
  unrecoverable error, no answer (major). They clear when the printer is well again.

Routing: a job goes to the requester's own printer (the kiosk names it) if that printer
serves it and can print, else to the first other printer that serves the requester and can
print. When a printer stops being able to print, its waiting jobs move the same way or fail
with the reason. Routing decisions take one lock, so two printers failing at once cannot
hand a job back and forth.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from hall_common.bus import contract
from hall_common.bus.methods import JobArgs
from hall_common.bus.payloads import DeviceState, PrintArgs, PrintOutcome
from hall_common.config import EdgeConfig, PrinterConfig
from hall_common.errors import ConfigError, RequestFailed
from hall_common.escpos_status import PrinterStatus

from ..alarms import Alarms
from ..component import Component, route
from .compose import compose
from .driver import PrinterLink
from .profiles import PrinterProfile, load_profiles
from .spool import Spool
from .templates import STAFF_ONLY, load_templates
from .worker import PrinterWorker, reason_for

log = logging.getLogger(__name__)


class PrintService(Component):
    """Example::

        service = PrintService(config, db_path=..., bus=bus, alarms=alarms)
        service.attach(bus)     # ``print`` and ``print_status`` (edge_agent.component)
        service.start()
    """

    name = "printing"

    def __init__(self, config: EdgeConfig, *, db_path: Path, bus: Any, alarms: Alarms | None,
                 connect: Callable[[PrinterConfig], PrinterLink] = PrinterLink.open) -> None:
        self.config, self.bus, self.alarms = config, bus, alarms
        self.profiles = load_profiles()
        for i, printer in enumerate(config.printers):
            if printer.profile not in self.profiles:
                raise ConfigError(f"printers.{i}.profile: no printer profile {printer.profile!r} "
                                  f"(known: {', '.join(sorted(self.profiles))})")
        self.templates = load_templates(config.printing.templates_file)
        self.spool = Spool(db_path)
        self.printers = {p.id: p for p in config.printers}
        self.workers = {p.id: PrinterWorker(p, self, poll_s=config.printing.poll_s, retries=config.printing.retries,
                                            connect=connect) for p in config.printers}
        self._route = threading.Lock()

    def start(self) -> None:
        recovered = self.spool.recover()
        if recovered:
            log.warning("%d print jobs were being sent when the agent stopped; they print again as reprints", recovered)
        self.spool.purge(self.config.printing.keep_days)
        for worker in self.workers.values():
            worker.start()

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()

    def close(self) -> None:
        self.stop()
        self.spool.close()

    def profile(self, printer_id: str) -> PrinterProfile:
        return self.profiles[self.printers[printer_id].profile]

    # -- requests ----------------------------------------------------------------------------

    @route("print")
    def handle_print(self, requester: str, req: PrintArgs) -> dict[str, Any]:
        """The ``print`` request: store the job, then answer where it stands."""
        known = self.spool.get(req.job)
        if known is not None:
            return self._view(known)  # the same request again: the same job
        template, fields = req.template, req.fields
        if req.reprint_of is not None:
            original = self.spool.get(req.reprint_of)
            if original is None or original["requester"] != requester:
                raise RequestFailed("not_found", f"no job {req.reprint_of} of {requester}")
            template, fields = original["template"], json.loads(original["fields"])
        elif template not in self.templates.kinds:
            raise ValueError(f"template: unknown template {template!r} (known: {', '.join(sorted(self.templates.kinds))})")
        elif template in STAFF_ONLY:
            raise ValueError(f"template: {template!r} is printed from the staff console only")
        else:
            fields = self.templates.validate(template, fields).model_dump(mode="json")
        return self.submit(req.job, requester, template, fields, preferred=req.printer, reprint_of=req.reprint_of,
                           test=req.test)

    @route("print_status")
    def handle_status(self, requester: str, args: JobArgs) -> dict[str, Any]:
        """The ``print_status`` request: one of the requester's own jobs."""
        job = args.job
        row = self.spool.get(job)
        if row is None or row["requester"] != requester:
            raise RequestFailed("not_found", f"no job {job[:40]} of {requester}")
        return self._view(row)

    def submit(self, job: str, requester: str, template: str, fields: dict[str, Any], *,
               preferred: str | None = None, reprint_of: str | None = None, test: bool = False) -> dict[str, Any]:
        with self._route:
            candidates = self._serving(requester, preferred)
            target = next((p for p in candidates if self.workers[p].can_print), None)
            if target is None:
                reason = "no_printer" if not candidates else self._reason(candidates[0])
                row, _ = self.spool.add(job=job, requester=requester, template=template, fields=fields,
                                        printer=candidates[0] if candidates else None, status="failed",
                                        reason=reason, reprint_of=reprint_of, test=test)
                log.warning("print job %s from %s failed at once: %s", job, requester, reason)
                return self._view(row)
            row, _ = self.spool.add(job=job, requester=requester, template=template, fields=fields,
                                    printer=target, reprint_of=reprint_of, test=test)
        self.workers[target].wake()
        return self._view(row)

    def reprint(self, job: str, *, printer: str | None = None) -> dict[str, Any]:
        """Print a finished job again, marked as a reprint (staff console), on its own
        printer or on ``printer`` (the counter's, say)."""
        original = self.spool.get(job)
        if original is None:
            raise RequestFailed("not_found", f"no job {job}")
        requester = original["requester"] if printer is None else contract.EDGE_NODE
        return self.submit(str(uuid.uuid4()), requester, original["template"], json.loads(original["fields"]),
                           preferred=printer or original["printer"], reprint_of=job)

    def view(self, job: str) -> dict[str, Any] | None:
        """Where ``job`` stands (``queued``, ``printed``, ``failed``), or None if unknown."""
        row = self.spool.get(job)
        return None if row is None else self._view(row)

    # -- called by the printer workers -------------------------------------------------------

    def compose(self, job: dict[str, Any], printer: PrinterConfig) -> bytes:
        return compose(self.templates, job["template"], json.loads(job["fields"]), self.profiles[printer.profile],
                       hall_name=self.config.hall_name, job_no=f"{job['seq']:06d}", reprint=bool(job["reprint"]),
                       test=bool(job["test"]), timezone=self.config.printing.timezone)

    def finish(self, job: dict[str, Any], status: str, reason: str = "") -> None:
        if status == "printed":
            self.spool.printed(job["id"])
        else:
            self.spool.fail(job["id"], reason)
        self._tell(job["id"])

    def printer_down(self, printer_id: str, reason: str, *, uncertain: str | None = None) -> None:
        """``printer_id`` cannot print: each job waiting for it moves to another printer that
        serves its requester, or fails with ``reason``."""
        moved: set[str] = set()
        with self._route:
            for job in self.spool.queued(printer_id):
                others = [p for p in self._serving(job["requester"], None) if p != printer_id]
                target = next((p for p in others if self.workers[p].can_print), None)
                if target is not None:
                    self.spool.move(job["id"], target, reason, uncertain=job["id"] == uncertain)
                    moved.add(target)
                else:
                    self.spool.fail(job["id"], reason)
                self._tell(job["id"])
        for target in moved:
            self.workers[target].wake()

    def on_status(self, printer_id: str, status: PrinterStatus, *, changed: bool) -> None:
        if not changed:
            return
        log.info("printer %s: %s", printer_id, status)
        self._publish_state(printer_id, status)
        self._alarm(printer_id, status)

    # -- state and alarms --------------------------------------------------------------------

    def republish(self) -> None:
        """After a reconnect: each printer's last known state, retained again."""
        for printer_id, worker in self.workers.items():
            if worker.status is not None:
                self._publish_state(printer_id, worker.status)

    def _publish_state(self, printer_id: str, status: PrinterStatus) -> None:
        if not self.bus.connected:
            return
        profile = self.profile(printer_id)
        self.bus.publish(contract.DEVICE_STATE, DeviceState(kind="printer", online=status.online, ts=time.time(), status={
            "paper": status.paper, "cover_open": status.cover_open,
            "error": status.cutter_error or status.unrecoverable, "can_print": status.can_print,
            "model": profile.model, "mode": profile.mode, "paper_mm": profile.paper_mm,
        }), hall=self.bus.hall_id, node=self.bus.node_id, dev=printer_id)

    def _alarm(self, printer_id: str, status: PrinterStatus) -> None:
        if self.alarms is None:
            return
        a, source = self.alarms, f"{self.bus.node_id}/{printer_id}"

        def set_(key: str, on: bool, type_: str, severity: str, zh: str, en: str) -> None:
            alarm_id = f"{printer_id}.{key}"
            if on:
                a.raise_(alarm_id, source=source, type=type_, severity=severity,
                         text=f"打印机 {printer_id} {zh} · Printer {printer_id} {en}")
            else:
                a.clear(alarm_id)

        answered = status.online or status.paper == "out" or status.cover_open or status.cutter_error or status.unrecoverable
        set_("offline", not answered, "offline", "major", "离线或无应答", "offline or not answering")
        if not answered:
            return  # nothing is known of its paper or cover: their alarms stay as they were
        if status.paper == "out":
            set_("paper", True, "paper_out", "major", "缺纸", "out of paper")
        else:
            set_("paper", status.paper == "near_end", "paper_near_end", "warning", "纸将用尽", "paper near end")
        set_("cover", status.cover_open, "cover_open", "major", "机盖打开", "cover open")
        set_("error", status.cutter_error or status.unrecoverable, "printer_error", "major",
             "故障（切刀或不可恢复错误）", "error (cutter or unrecoverable)")

    # -- helpers -----------------------------------------------------------------------------

    def _serving(self, requester: str, preferred: str | None) -> list[str]:
        """The printers that may take ``requester``'s jobs, ``preferred`` first. Staff at
        the console (jobs the edge itself sends) may use any printer."""
        ids = [p.id for p in self.config.printers if requester == contract.EDGE_NODE or p.serves_node(requester)]
        if preferred in ids:
            ids.remove(preferred)
            ids.insert(0, preferred)
        return ids

    def _reason(self, printer_id: str) -> str:
        status = self.workers[printer_id].status
        return reason_for(status) if status is not None else "offline"

    def _view(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"job": row["id"], "status": "queued" if row["status"] == "printing" else row["status"],
                "printer": row["printer"], "reason": row["reason"], "reprint": bool(row["reprint"])}

    def _tell(self, job: str) -> None:
        """Tell the requester where its job stands now."""
        row = self.spool.get(job)
        if row is None:
            return
        view = self._view(row)
        status = "moved" if view["status"] == "queued" else view["status"]
        outcome = PrintOutcome(job=job, status=status, printer=row["printer"], reason=row["reason"],
                               reprint=view["reprint"], ts=time.time())
        log.info("print job %s: %s%s", job, status, f" ({row['reason']})" if row["reason"] else "")
        try:
            self.bus.publish(contract.PRINT_OUTCOME, outcome, hall=self.bus.hall_id, node=row["requester"])
        except (ValueError, RuntimeError) as exc:
            log.error("outcome of job %s not sent: %s", job, exc)
