"""A virtual ESC/POS thermal printer on TCP: the hall's printers with no hardware.

It speaks what a networked Xprinter, GP or Epson TM-T82 speaks on port 9100: it takes
ESC/POS bytes, answers the real-time status request ``DLE EOT n`` (n = 1..4) from its
state at once, even in the middle of a job (as real printers do), and treats ``GS V``
(cut) as the end of a job. It can be told to be out of paper, near the end, cover open,
offline, or hung (it accepts connections and never reads, as a printer whose buffer is
full does), so the driver's timeouts, retries and fail-over can be tested against it.
While it cannot print, print data is received and dropped, and the job is recorded as
not printed: a real printer does not print on an empty roll either.

Example::

    printer = VirtualPrinter(port=0)
    printer.start()
    ...  # python-escpos Network("127.0.0.1", printer.port) prints to it
    printer.set_state(PrinterStatus(online=True, paper="out"))
    printer.stop()
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from hall_common.escpos_status import PrinterStatus, encode

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"
GS_V = b"\x1dV"
_CUT_WITH_FEED = {65, 66, 97, 98, 103, 104}  # GS V m n
_CUT_PLAIN = {0, 1, 48, 49}                  # GS V m


@dataclass
class Job:
    """Bytes between two cuts, whether the printer could print them, and the picture."""

    data: bytes
    printed: bool
    received_at: float = field(default_factory=time.time)
    png: Path | None = None


class VirtualPrinter:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 9100, status: PrinterStatus | None = None,
                 out_dir: Path | None = None, paper_mm: int = 80, paper_jobs: int | None = None,
                 job_seconds: float = 0.0) -> None:
        self.host = host
        self.paper_jobs = paper_jobs
        """Jobs left on the roll (None: endless); the job after the last finds no paper."""
        self.job_seconds = job_seconds
        """How long printing one job takes (a real thermal printer needs about a second for a
        ticket); the printer reads nothing more meanwhile, as a real one with a full buffer."""
        self.out_dir = out_dir
        self.paper_mm = paper_mm
        self._requested_port = port
        self.port = port
        self._status = status or PrinterStatus(online=True)
        self.hung = False
        self.jobs: list[Job] = []
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
        """Accept connections but never read from them (a printer stuck with a full buffer)."""
        self.hung = hung

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
        with conn:
            if self.hung:
                # Never read: the client's sends fill the socket buffers and then block.
                while not self._stop.is_set() and self.hung:
                    time.sleep(0.05)
                return
            conn.settimeout(0.2)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # status answers leave at once
            pending = bytearray()
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                pending += chunk
                pending = self._consume(conn, pending)
            if pending:
                self._finish_job(bytes(pending))

    def _consume(self, conn: socket.socket, buf: bytearray) -> bytearray:
        """Answer status requests and cut jobs out of ``buf``; return what is left over."""
        out = bytearray()
        i = 0
        while i < len(buf):
            if buf[i:i + 2] == DLE_EOT:
                if i + 2 >= len(buf):
                    break  # the n byte has not arrived yet
                n = buf[i + 2]
                if n in (1, 2, 3, 4):
                    conn.sendall(bytes([encode(self.status)[n]]))
                i += 3
                continue
            if buf[i:i + 2] == GS_V:
                if i + 2 >= len(buf):
                    break
                m = buf[i + 2]
                length = 4 if m in _CUT_WITH_FEED else 3 if m in _CUT_PLAIN else 3
                if i + length > len(buf):
                    break
                out += buf[i:i + length]
                self._finish_job(bytes(out))
                out = bytearray()
                i += length
                continue
            out.append(buf[i])
            i += 1
        return out + buf[i:]

    def _finish_job(self, data: bytes) -> None:
        if not data.strip(b"\x1b@"):
            return  # only an initialise: not a job
        with self._lock:
            if self.paper_jobs is not None and self._status.can_print:
                if self.paper_jobs <= 0:
                    self._status = PrinterStatus(online=True, paper="out")
                else:
                    self.paper_jobs -= 1
        printed = self.status.can_print
        job = Job(data, printed)
        if printed and self.out_dir is not None:
            from .escpos_render import render

            self.out_dir.mkdir(parents=True, exist_ok=True)
            with self._lock:
                number = len(self.jobs) + 1
            job.png = self.out_dir / f"job-{number:04d}.png"
            try:
                render(data, paper_mm=self.paper_mm).save(job.png)
            except (OSError, ValueError) as exc:
                log.error("virtual printer on %s could not render job %s: %s", self.port, number, exc)
                job.png = None
        with self._lock:
            self.jobs.append(job)
        if not printed:
            log.warning("virtual printer on %s dropped a job: %s", self.port, self.status)
        elif self.job_seconds:
            self._stop.wait(self.job_seconds)


class ControlServer:
    """Tell a running virtual printer what to be, over HTTP on its own port (``hall up``
    gives each printer one), so a person or a test can take the paper away from a hall::

        curl http://127.0.0.1:18805/                      # its state and job counts (JSON)
        curl -d paper=out http://127.0.0.1:18805/         # out of paper (near_end, ok)
        curl -d cover_open=1 http://127.0.0.1:18805/      # cover open (0 closes it)
        curl -d online=0 http://127.0.0.1:18805/          # offline
        curl -d hung=1 http://127.0.0.1:18805/            # takes connections, never reads
    """

    def __init__(self, printer: VirtualPrinter, *, host: str = "127.0.0.1", port: int = 0) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        vp = printer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._answer(200, _describe(vp))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 4096)).decode("utf-8", errors="replace")
                try:
                    _apply(vp, parse_qs(body))
                except ValueError as exc:
                    self._answer(400, {"error": str(exc)})
                    return
                self._answer(200, _describe(vp))

            def _answer(self, code: int, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                log.info("control: " + format, *args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
