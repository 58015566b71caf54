"""The one way the edge talks to a printer: python-escpos's Network, Usb or Serial device,
with a timeout in seconds, plus the real-time status request.

python-escpos moves the bytes (``_raw``/``_read``) and we keep nothing of our own for
that; what it lacks is asking ``DLE EOT 1..4`` and reading the four answers within a
deadline, which a print queue needs before and after every job.

Example::

    link = PrinterLink.open(printer_config)     # a real printer, or the virtual one
    if link.status().can_print:
        link.write(job_bytes)
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
from hall_common.escpos_status import PrinterStatus, StatusError, decode, query

log = logging.getLogger(__name__)


class PrinterError(Exception):
    """Base class for printer faults the queue reacts to."""


class PrinterUnreachable(PrinterError, ConnectionError):
    """The printer cannot be reached or broke the connection (often transient: try again)."""


class PrinterSilent(PrinterError, TimeoutError):
    """The printer took the connection but does not read or answer (hung): do not wait again."""


_ALL_STATUS = query(1) + query(2) + query(3) + query(4)


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
