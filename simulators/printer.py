"""A virtual ESC/POS thermal printer on TCP: the hall's printers with no hardware.

It speaks what a networked Xprinter, GP or Epson TM-T82 speaks on port 9100: it takes
ESC/POS bytes into an input buffer, answers the real-time status request ``DLE EOT n``
(n = 1..4) from its state as soon as it arrives, even in the middle of a job (as real
printers do), answers ``GS r 1`` (paper sensor) in turn, once everything before it is
printed, and treats ``GS V`` (cut) as the end of a job. Commands are split by their own
lengths (:func:`simulators.escpos_parse.next_unit`), so image bytes that happen to look
like a command are not taken for one.

It can be told to be out of paper, near the end, cover open, offline, or hung (it stops
reading and answering, as a printer whose buffer is full does), so the driver's timeouts,
retries and fail-over can be tested against it. With ``line_seconds`` it prints at a
thermal printer's pace, one print line at a time, so a fault can strike in the middle of
a job; :meth:`VirtualPrinter.at_line` makes one strike after a given line. While it cannot
print, print data is received and dropped: what was printed before stays on paper
(:attr:`Job.paper`), and the job is recorded as not printed. A real printer does not print
on an empty roll either.

Example::

    printer = VirtualPrinter(port=0)
    printer.start()
    ...  # python-escpos Network("127.0.0.1", printer.port) prints to it
    printer.set_state(PrinterStatus(online=True, paper="out"))
    printer.stop()
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

from hall_common.escpos_status import PrinterStatus, encode

from .escpos_parse import Cut, Feed, Text, Unit, next_unit, parse
from .http_control import ControlHandler, HttpControl

log = logging.getLogger(__name__)

RX_BUFFER = 64 * 1024
"""The input buffer: while it is full the printer reads no more (TCP holds the rest)."""


@dataclass
class Job:
    """Bytes between two cuts, whether the printer printed all of them, what reached the
    paper, and the picture."""

    data: bytes
    printed: bool
    received_at: float = field(default_factory=time.time)
    png: Path | None = None
    paper: bytes = b""
    """The commands and text the printer handled while it could print: what is on paper."""

    @property
    def partial(self) -> bool:
        """Not printed whole, yet something of it is on paper (a half ticket)."""
        return not self.printed and any(
            e.text.strip() if isinstance(e, Text) else not isinstance(e, (Feed, Cut)) for e in parse(self.paper))


@dataclass
class _Paper:
    """The job the print engine is working on."""

    data: bytearray = field(default_factory=bytearray)
    paper: bytearray = field(default_factory=bytearray)
    started: bool = False
    complete: bool = True
    lines: int = 0


class VirtualPrinter:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 9100, status: PrinterStatus | None = None,
                 out_dir: Path | None = None, paper_mm: int = 80, paper_jobs: int | None = None,
                 job_seconds: float = 0.0, line_seconds: float = 0.0) -> None:
        self.host = host
        self.paper_jobs = paper_jobs
        """Jobs left on the roll (None: endless); the job after the last finds no paper."""
        self.job_seconds = job_seconds
        """How long a job keeps the printer busy after its cut; it reads nothing meanwhile,
        as a real one with a full buffer."""
        self.line_seconds = line_seconds
        """How long one print line takes (a real 80 mm printer: about 4 ms at 250 mm/s);
        0 prints at once."""
        self.out_dir = out_dir
        self.paper_mm = paper_mm
        self._requested_port = port
        self.port = port
        self._status = status or PrinterStatus(online=True)
        self.hung = False
        self.jobs: list[Job] = []
        self._triggers: list[tuple[int, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # -- control ---------------------------------------------------------------------------

    @property
    def status(self) -> PrinterStatus:
        with self._lock:
            return self._status

    def set_state(self, status: PrinterStatus) -> None:
        with self._lock:
            self._status = status
        log.info("virtual printer on %s: %s", self.port, status)

    def hang(self, hung: bool = True) -> None:
        """Stop reading and answering (a printer stuck with a full buffer), or go on."""
        self.hung = hung

    def at_line(self, line: int, action: Callable[[], None]) -> None:
        """Run ``action`` once, on the print engine, when the job being printed has used
        ``line`` print lines and is not finished: a fault that strikes mid-job. A job
        shorter than that leaves it for the next one."""
        with self._lock:
            self._triggers.append((line, action))

    def cancel_at_line(self) -> None:
        """Forget the faults :meth:`at_line` set that have not struck yet."""
        with self._lock:
            self._triggers.clear()

    def printed_jobs(self) -> list[Job]:
        with self._lock:
            return [j for j in self.jobs if j.printed]

    # -- server ----------------------------------------------------------------------------

    def start(self) -> None:
        server = socket.create_server((self.host, self._requested_port), reuse_port=False)
        server.settimeout(0.2)
        self.port = server.getsockname()[1]
        self._server = server
        t = threading.Thread(target=self._accept, name=f"vprinter-{self.port}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()
        for t in self._threads:
            t.join(2)

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        """One connection: the receiver answers ``DLE EOT`` as soon as it arrives (a real
        printer does, even mid-job), and the print engine works through the input buffer
        unit by unit, ``line_seconds`` a print line, so a fault can strike in the middle
        of a job. A hung printer does neither: it reads nothing and answers nothing."""
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # status answers leave at once
            rx = bytearray()                       # received, not yet split into units
            queued: deque[tuple[bytes, Unit]] = deque()  # the input buffer, in units
            held = 0                               # bytes in ``queued``
            job = _Paper()
            busy_until = 0.0
            eof = False
            while not self._stop.is_set():
                if self.hung:
                    self._stop.wait(0.05)
                    continue
                while queued and not self.hung and time.monotonic() >= busy_until:
                    data, unit = queued.popleft()
                    held -= len(data)
                    busy_until = self._engine(conn, job, data, unit)
                    if unit.kind == "cut":
                        job = _Paper()
                if eof:
                    if not queued:
                        break
                    self._stop.wait(max(0.0, min(0.01, busy_until - time.monotonic())))
                    continue
                if held >= RX_BUFFER:
                    self._stop.wait(0.005)
                    continue
                conn.settimeout(max(0.001, min(0.01, busy_until - time.monotonic())) if queued else 0.01)
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    eof = True
                    continue
                rx += chunk
                held += self._split(conn, rx, queued)
            leftover = bytes(rx)
            if job.data or leftover:
                self._finish_job(job, extra=leftover)

    def _split(self, conn: socket.socket, rx: bytearray, queued: deque) -> int:
        """Move the complete units at the start of ``rx`` into ``queued``, answering the
        real-time ones at once; returns the bytes queued."""
        added = i = 0
        while True:
            unit = next_unit(rx, i)
            if unit is None:
                break
            data = bytes(rx[i:i + unit.length])
            i += unit.length
            if unit.kind == "realtime":
                n = data[2]
                if n in (1, 2, 3, 4):
                    _answer(conn, bytes([encode(self.status)[n]]))
                continue
            queued.append((data, unit))
            added += len(data)
        del rx[:i]
        return added

    def _engine(self, conn: socket.socket, job: _Paper, data: bytes, unit: Unit) -> float:
        """Print one unit of ``job``; returns when the engine is free again (negative:
        the job ended and the engine rests until then)."""
        now = time.monotonic()
        if unit.kind == "ordered":
            if data[2] in (1, 49):  # GS r 1: the paper sensor, answered once all before it is done
                paper = self.status.paper
                _answer(conn, bytes([0x0F if paper == "out" else 0x03 if paper == "near_end" else 0x00]))
            else:
                _answer(conn, b"\x00")
            return now
        job.data += data
        if unit.kind == "cut":
            job.paper += data if self.status.can_print else b""
            if not self.status.can_print:
                job.complete = False
            record = self._finish_job(job)
            if self.job_seconds and record is not None and record.printed:
                self._stop.wait(self.job_seconds)  # busy with the paper: reads nothing meanwhile
            return time.monotonic()
        if unit.kind == "print" and not job.started:
            job.started = True
            with self._lock:
                if self.paper_jobs is not None and self._status.can_print:
                    if self.paper_jobs <= 0:
                        self._status = PrinterStatus(online=True, paper="out")
                    else:
                        self.paper_jobs -= 1
        if not self.status.can_print:
            if unit.kind == "print":
                job.complete = False  # dropped: the paper does not move
            return now
        job.paper += data
        if unit.kind == "print" and unit.lines:
            job.lines += unit.lines
            self._at_line(job.lines)
            return now + unit.lines * self.line_seconds
        return now

    def _finish_job(self, job: _Paper, extra: bytes = b"") -> Job | None:
        data = bytes(job.data + extra)
        if not data.strip(b"\x1b@"):
            return None  # only an initialise: not a job
        printed = job.started and job.complete and not extra
        record = Job(data, printed, paper=bytes(job.paper))
        if printed and self.out_dir is not None:
            from .escpos_render import render

            self.out_dir.mkdir(parents=True, exist_ok=True)
            with self._lock:
                number = len(self.jobs) + 1
            record.png = self.out_dir / f"job-{number:04d}.png"
            # The bytes as received beside the picture: what campaign checks parse (text,
            # QR payloads, the 重打 mark) to count what reached the paper.
            record.png.with_suffix(".bin").write_bytes(data)
            try:
                render(data, paper_mm=self.paper_mm).save(record.png)
            except (OSError, ValueError) as exc:
                log.error("virtual printer on %s could not render job %s: %s", self.port, number, exc)
                record.png = None
        with self._lock:
            self.jobs.append(record)
        if not printed:
            log.warning("virtual printer on %s did not print all of a job (%s): %s", self.port,
                        "part of it is on paper" if record.partial else "nothing on paper", self.status)
        return record

    def _at_line(self, lines: int) -> None:
        with self._lock:
            due = [t for t in self._triggers if lines >= t[0]]
            self._triggers = [t for t in self._triggers if lines < t[0]]
        for _, action in due:
            action()


def _answer(conn: socket.socket, data: bytes) -> None:
    """Send a status answer; one for a client that has gone is lost, as on a real printer."""
    try:
        conn.sendall(data)
    except OSError as exc:
        log.debug("virtual printer: answer not sent: %s", exc)


class ControlServer(HttpControl):
    """Tell a running virtual printer what to be, over HTTP on its own port (``hall up``
    gives each printer one), so a person or a test can take the paper away from a hall::

        curl http://127.0.0.1:18805/                      # its state and job counts (JSON)
        curl -d paper=out http://127.0.0.1:18805/         # out of paper (near_end, ok)
        curl -d cover_open=1 http://127.0.0.1:18805/      # cover open (0 closes it)
        curl -d online=0 http://127.0.0.1:18805/          # offline
        curl -d hung=1 http://127.0.0.1:18805/            # takes connections, never reads
    """

    def __init__(self, printer: VirtualPrinter, *, host: str = "127.0.0.1", port: int = 0) -> None:
        vp = printer

        class Handler(ControlHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.send_json(200, _describe(vp))

            def do_POST(self) -> None:  # noqa: N802
                try:
                    _apply(vp, parse_qs(self.form_body()))
                except ValueError as exc:
                    self.send_json(400, {"error": str(exc)})
                    return
                self.send_json(200, _describe(vp))

        super().__init__(Handler, host=host, port=port)


def _describe(printer: VirtualPrinter) -> dict:
    st = printer.status
    return {"online": st.online, "paper": st.paper, "cover_open": st.cover_open, "hung": printer.hung,
            "jobs": len(printer.jobs), "printed": len(printer.printed_jobs())}


def _apply(printer: VirtualPrinter, form: dict[str, list[str]]) -> None:
    unknown = set(form) - {"paper", "cover_open", "online", "hung"}
    if unknown:
        raise ValueError(f"unknown setting {sorted(unknown)[0]!r}: use paper, cover_open, online or hung")

    def flag(name: str, current: bool) -> bool:
        if name not in form:
            return current
        value = form[name][-1].lower()
        if value not in ("1", "0", "true", "false", "on", "off"):
            raise ValueError(f"{name} is 1 or 0")
        return value in ("1", "true", "on")

    st = printer.status
    paper = form.get("paper", [st.paper])[-1]
    if paper not in ("ok", "near_end", "out"):
        raise ValueError("paper is ok, near_end or out")
    printer.set_state(PrinterStatus(online=flag("online", st.online), paper=paper,  # type: ignore[arg-type]
                                    cover_open=flag("cover_open", st.cover_open)))
    printer.hang(flag("hung", printer.hung))


def main(argv: list[str] | None = None) -> None:
    """``python -m simulators.printer --port 9100 --out-dir DIR [--control-port N]``: run
    until SIGTERM."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="simulators.printer", description="A virtual ESC/POS printer on TCP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--out-dir", type=Path, required=True, help="where each job is rendered as a PNG")
    parser.add_argument("--paper-mm", type=int, choices=(58, 80), default=80)
    parser.add_argument("--control-port", type=int, help="HTTP port to set paper, cover, online and hung")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    printer = VirtualPrinter(host=args.host, port=args.port, out_dir=args.out_dir, paper_mm=args.paper_mm)
    control = ControlServer(printer, host=args.host, port=args.control_port) if args.control_port else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    printer.start()
    if control is not None:
        control.start()
    log.info("virtual printer listening on %s:%s, jobs in %s", args.host, printer.port, args.out_dir)
    stop.wait()
    if control is not None:
        control.stop()
    printer.stop()


if __name__ == "__main__":
    main()
