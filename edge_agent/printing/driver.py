"""The one way the edge talks to a printer: python-escpos's Network, Usb or Serial device,
with a timeout in seconds, plus the real-time status request.

python-escpos moves the bytes (``_raw``/``_read``) and we keep nothing of our own for
that; what it lacks is asking ``DLE EOT 1..4`` and reading the four answers within a
deadline, which a print queue needs before and after every job.

A printer answers ``DLE EOT`` the moment the question arrives, even while the job before
it is still in its buffer: a "can print" right after sending says nothing about the job.
So after a job the link asks ``GS r 1`` (paper sensor status), which the printer answers
in turn, only once everything sent before it is printed (:meth:`PrinterLink.wait_printed`).

Example::

    link = PrinterLink.open(printer_config)     # a real printer, or the virtual one
    if link.status().can_print:
        link.write(job_bytes)
        done = link.wait_printed()              # the status once the job is on paper
    link.close()
"""

from __future__ import annotations

import logging
import socket
import time

from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError
from escpos.printer import Network, Serial, Usb

from hall_common.config import PrinterConfig
from hall_common.errors import HallError
from hall_common.escpos_status import PrinterStatus, StatusError, decode, query

log = logging.getLogger(__name__)


class PrinterError(HallError, OSError):
    """Base class for printer faults the queue reacts to."""


class PrinterUnreachable(PrinterError, ConnectionError):
    """The printer cannot be reached or broke the connection (often transient: try again)."""


class PrinterSilent(PrinterError, TimeoutError):
    """The printer took the connection but does not read or answer (hung): do not wait again."""


_ALL_STATUS = query(1) + query(2) + query(3) + query(4)
GS_R_PAPER = b"\x1dr\x01"
"""Transmit status, paper sensor: answered in order, after the data before it is printed."""
PRINT_WAIT_S = 30.0
"""Longest wait for a printer that keeps answering "printing fine" to finish one job."""


def device_for(printer: PrinterConfig) -> Escpos:
    """The python-escpos device for ``printer``, not opened yet."""
    if printer.host:
        return Network(printer.host, port=printer.port, timeout=printer.timeout)
    if printer.usb:
        vid, pid = (int(x, 16) for x in printer.usb.split(":"))
        return Usb(vid, pid, timeout=int(printer.timeout * 1000))  # pyusb counts milliseconds
    return Serial(devfile=printer.serial, baudrate=printer.baudrate, timeout=printer.timeout)


class PrinterLink:
    """An open connection to one printer. Not thread-safe: one worker owns it."""

    def __init__(self, device: Escpos, *, timeout: float, name: str = "printer") -> None:
        self.device, self.timeout, self.name = device, timeout, name

    @classmethod
    def open(cls, printer: PrinterConfig) -> PrinterLink:
        device = device_for(printer)
        try:
            device.open()
        except (EscposError, OSError) as exc:
            raise PrinterUnreachable(f"{printer.id} at {printer.address}: {exc}") from None
        if isinstance(device, Network):
            # A status question written right after a job would otherwise wait for the
            # printer's delayed ACK (Nagle): 40 ms a job, measured in bench/print_latency.py.
            device.device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(device, timeout=printer.timeout, name=printer.id)

    def write(self, data: bytes) -> None:
        """Send bytes; a printer that stops reading makes this raise after the timeout."""
        try:
            self.device._raw(data)
        except TimeoutError:
            raise PrinterSilent(f"{self.name} stopped reading") from None
        except (EscposError, OSError) as exc:
            raise PrinterUnreachable(f"{self.name}: {exc}") from None

    def status(self) -> PrinterStatus:
        """Ask DLE EOT 1..4 and decode the answers; printers answer these at once, even
        in the middle of a job, so a missing answer means the printer is not there."""
        self.write(_ALL_STATUS)
        got = bytearray()
        deadline = time.monotonic() + self.timeout
        while len(got) < 4:
            if time.monotonic() > deadline:
                raise PrinterSilent(f"{self.name} does not answer its status")
            try:
                chunk = self.device._read()
            except TimeoutError:
                raise PrinterSilent(f"{self.name} does not answer its status") from None
            except (EscposError, OSError) as exc:
                raise PrinterUnreachable(f"{self.name}: {exc}") from None
            if chunk == b"" and isinstance(self.device, Network):
                raise PrinterUnreachable(f"{self.name} closed the connection")
            got += chunk
        try:
            return decode({n: got[n - 1] for n in (1, 2, 3, 4)})
        except StatusError as exc:
            raise PrinterUnreachable(f"{self.name}: {exc}") from None

    def wait_printed(self, *, limit: float = PRINT_WAIT_S) -> PrinterStatus:
        """Wait until the printer has printed everything sent so far, then return its
        status; a printer that stops being able to print meanwhile returns that status at
        once (the job may be half on paper). While no answer comes the printer is asked
        ``DLE EOT`` every ``timeout`` seconds: one that answers is still printing, one
        that does not is silent (:class:`PrinterSilent`), as is one still printing after
        ``limit`` seconds.

        The two answers share the line and are told apart by bit 4, which every
        ``DLE EOT`` answer sets and a ``GS r 1`` answer never does. After an early return
        the ``GS r`` answer may still come: close the link rather than reuse it."""
        self.write(GS_R_PAPER)
        deadline = time.monotonic() + limit
        realtime = bytearray()
        asked = done = False
        while True:
            if done and not asked:
                return self.status()  # the job is through: how the printer is now
            if time.monotonic() > deadline:
                raise PrinterSilent(f"{self.name} has not finished the job in {limit:.0f} s")
            timed_out = False
            try:
                chunk = self.device._read()  # waits up to ``timeout`` seconds
            except TimeoutError:
                chunk, timed_out = b"", True
            except (EscposError, OSError) as exc:
                raise PrinterUnreachable(f"{self.name}: {exc}") from None
            if chunk == b"" and not timed_out and isinstance(self.device, Network):
                raise PrinterUnreachable(f"{self.name} closed the connection")
            for byte in chunk:
                if byte & 0x10:
                    realtime.append(byte)
                else:
                    done = True  # the rest of a status answer asked before may follow
            if asked and len(realtime) >= 4:
                try:
                    status = decode({n: realtime[n - 1] for n in (1, 2, 3, 4)})
                except StatusError as exc:
                    raise PrinterUnreachable(f"{self.name}: {exc}") from None
                del realtime[:4]
                asked = False
                if not status.can_print and not done:
                    return status
            if not chunk:
                if asked:  # asked a whole timeout ago, and not a word
                    raise PrinterSilent(f"{self.name} stopped answering in the middle of a job")
                self.write(_ALL_STATUS)
                asked = True

    def close(self) -> None:
        try:
            self.device.close()
        except (EscposError, OSError) as exc:
            log.debug("closing %s: %s", self.name, exc)


def ask(printer: PrinterConfig) -> PrinterStatus:
    """One status question on a connection of its own (``hall doctor`` uses this); a
    printer that cannot be reached or does not answer is offline."""
    try:
        link = PrinterLink.open(printer)
    except PrinterError:
        return PrinterStatus(online=False)
    try:
        return link.status()
    except PrinterError:
        return PrinterStatus(online=False)
    finally:
        link.close()
