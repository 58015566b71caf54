"""Printing speed: from a print request on the bus to the last byte at the printer, and jobs
per second per printer, in GB18030 text mode and in bitmap mode.

A kiosk's BusClient sends ``print`` requests to a real edge agent (its spool in SQLite with
``synchronous=FULL``) over a real mosquitto; the agent prints to in-process virtual printers
over TCP, which note the time the job's last byte (the cut) arrived. The baseline, measured
in the same run, writes the same composed bytes straight to a virtual printer with
python-escpos, with the status check before and after that the agent also does: what is left
is the bus, the spool and the worker hand-off. The issue's goal: p99 ≤ 30 ms in text mode.

Run:

    .venv/bin/python bench/print_latency.py [--n 300] [--burst 200]
"""

from __future__ import annotations

import time
import uuid

from harness import HALL_NAME, broker, machine, options, pct, scratch, start_edge

from edge_agent.agent import EdgeAgent
from edge_agent.printing.compose import compose
from edge_agent.printing.driver import PrinterLink
from hall_common.bus.client import BusClient
from hall_common.config import PrinterConfig
from simulators.printer import VirtualPrinter

FIELDS = {"number": "A012", "service": "手续办理", "waiting_ahead": 3, "follow_url": "http://hall.example/q/A012",
          "hours_line": "服务时间 08:30-18:00"}


def wait_jobs(printer: VirtualPrinter, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(printer.jobs) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"printer on {printer.port}: {len(printer.jobs)} of {count} jobs")
        time.sleep(0.0005)


def latency(kiosk: BusClient, printer: VirtualPrinter, printer_id: str, n: int) -> list[float]:
    """One job at a time: request sent → the printer has the job's last byte (ms)."""
    out = []
    for i in range(n):
        before = len(printer.jobs)
        t0 = time.time()
        kiosk.request("print", {"job": str(uuid.uuid4()), "template": "queue_ticket", "fields": FIELDS,
                                "printer": printer_id})
        wait_jobs(printer, before + 1)
        out.append((printer.jobs[-1].received_at - t0) * 1000)
    return out


def throughput(kiosk: BusClient, printer: VirtualPrinter, printer_id: str, burst: int) -> float:
    """``burst`` jobs sent at once: jobs per second until the last one is at the printer."""
    before = len(printer.jobs)
    t0 = time.time()
    for _ in range(burst):
        kiosk.request("print", {"job": str(uuid.uuid4()), "template": "queue_ticket", "fields": FIELDS,
                                "printer": printer_id})
    wait_jobs(printer, before + burst)
    return burst / (printer.jobs[-1].received_at - t0)


def baseline(agent: EdgeAgent, printer: VirtualPrinter, printer_cfg: PrinterConfig, n: int) -> list[float]:
    """The same bytes straight to the printer with python-escpos (status before and after)."""
    service = agent.printing
    data = compose(service.templates, "queue_ticket", FIELDS, service.profiles[printer_cfg.profile],
                   hall_name=HALL_NAME, job_no="000001")
    link = PrinterLink.open(printer_cfg)
    out = []
    for _ in range(n):
        before = len(printer.jobs)
        t0 = time.time()
        link.status()
        link.write(data)
        link.status()
        wait_jobs(printer, before + 1)
        out.append((printer.jobs[-1].received_at - t0) * 1000)
    link.close()
    return out


def main() -> None:
    args = options(__doc__, n=300, burst=200)
    with scratch() as d, broker(d, ("edge", "kiosk-01")) as running:
        text_p, bitmap_p, base_p = VirtualPrinter(port=0), VirtualPrinter(port=0), VirtualPrinter(port=0)
        for p in (text_p, bitmap_p, base_p):
            p.start()
        agent = start_edge(
            d, running.port,
            printers=[{"id": "text", "host": "127.0.0.1", "port": text_p.port, "profile": "gp-80250"},
                      {"id": "bitmap", "host": "127.0.0.1", "port": bitmap_p.port, "profile": "generic-80-bitmap"}],
            printing={"poll_s": 30},
        )
        kiosk = running.client("kiosk-01", kind="kiosk")
        try:
            time.sleep(0.5)
            latency(kiosk, text_p, "text", 20)  # warm up: connections open, caches filled
            latency(kiosk, bitmap_p, "bitmap", 5)
            text = latency(kiosk, text_p, "text", args.n)
            bitmap = latency(kiosk, bitmap_p, "bitmap", max(20, args.n // 3))
            base = baseline(agent, base_p, PrinterConfig(id="base", host="127.0.0.1", port=base_p.port,
                                                         profile="gp-80250"), args.n)
            text_rate = throughput(kiosk, text_p, "text", args.burst)
            bitmap_rate = throughput(kiosk, bitmap_p, "bitmap", max(20, args.burst // 4))
            job_bytes = {"text": len(text_p.jobs[-1].data), "bitmap": len(bitmap_p.jobs[-1].data)}
        finally:
            agent.close()
            for p in (text_p, bitmap_p, base_p):
                p.stop()
    print(f"machine: {machine()}")
    print(f"text mode   request -> last byte  p50 {pct(text, 50):.2f} ms  p99 {pct(text, 99):.2f} ms  "
          f"(n={args.n}, {job_bytes['text']} bytes a ticket; goal p99 <= 30 ms)")
    print(f"bitmap mode request -> last byte  p50 {pct(bitmap, 50):.2f} ms  p99 {pct(bitmap, 99):.2f} ms  "
          f"({job_bytes['bitmap']} bytes a ticket)")
    print(f"baseline: the same text-mode bytes straight to the printer  p50 {pct(base, 50):.2f} ms  "
          f"p99 {pct(base, 99):.2f} ms; ratio at p50 {pct(text, 50) / pct(base, 50):.1f}")
    print(f"throughput per printer: text {text_rate:.0f} jobs/s (burst {args.burst}), "
          f"bitmap {bitmap_rate:.0f} jobs/s")


if __name__ == "__main__":
    main()
