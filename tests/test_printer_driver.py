"""The printer driver on its own: python-escpos devices built with timeouts in seconds, the
status read within a deadline, and the faults a print queue must tell apart (unreachable,
silent, garbage), against the virtual printer and plain sockets over real TCP."""

from __future__ import annotations

import socket
import threading

import pytest
from escpos.printer import Network, Serial, Usb

from edge_agent.printing.driver import PrinterLink, PrinterSilent, PrinterUnreachable, ask, device_for
from hall_common.config import PrinterConfig
from hall_common.escpos_status import PrinterStatus
from simulators.printer import VirtualPrinter

from .conftest import wait_for


def test_each_connection_kind_gets_the_configured_timeout_not_60_seconds():
    net = device_for(PrinterConfig(id="p1", host="10.0.0.7", timeout=1.5))
    assert isinstance(net, Network) and net.timeout == 1.5 and net.port == 9100
    usb = device_for(PrinterConfig(id="p2", usb="0416:5011", timeout=2))
    assert isinstance(usb, Usb) and usb.timeout == 2000  # pyusb counts milliseconds
    assert (usb.usb_args["idVendor"], usb.usb_args["idProduct"]) == (0x0416, 0x5011)
    ser = device_for(PrinterConfig(id="p3", serial="/dev/ttyUSB0", baudrate=115200, timeout=1))
    assert isinstance(ser, Serial) and ser.timeout == 1 and ser.baudrate == 115200


@pytest.mark.parametrize("conn", [{}, {"host": "a", "usb": "0416:5011"}], ids=["none", "two"])
def test_a_printer_needs_exactly_one_connection(conn):
    with pytest.raises(ValueError, match="exactly one of host, usb or serial"):
        PrinterConfig(id="p1", **conn)


def test_status_over_a_link_follows_the_printer():
    printer = VirtualPrinter(port=0)
    printer.start()
    try:
        link = PrinterLink.open(PrinterConfig(id="p1", host="127.0.0.1", port=printer.port, timeout=1))
        assert link.status() == PrinterStatus(online=True)
        printer.set_state(PrinterStatus(online=True, cover_open=True))
        assert link.status().cover_open
        link.write(b"\x1b@hello\n\x1dV\x00")
        assert link.status().cover_open  # the job was dropped: the cover is open
        link.close()
        wait_for(lambda: printer.jobs)  # the printer takes the job in on its own thread
        assert not printer.jobs[-1].printed
    finally:
        printer.stop()


def test_nobody_listening_is_unreachable_and_ask_says_offline():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = PrinterConfig(id="p1", host="127.0.0.1", port=port, timeout=0.5)
    with pytest.raises(PrinterUnreachable):
        PrinterLink.open(cfg)
    assert ask(cfg) == PrinterStatus(online=False)


def test_a_hung_printer_is_silent_within_the_timeout():
    printer = VirtualPrinter(port=0)
    printer.hang()
    printer.start()
    try:
        link = PrinterLink.open(PrinterConfig(id="p1", host="127.0.0.1", port=printer.port, timeout=0.3))
        with pytest.raises(PrinterSilent):
            link.status()
        link.close()
    finally:
        printer.stop()


def test_garbage_instead_of_a_status_byte_is_not_taken_for_one():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(64)
        conn.sendall(b"OK\r\n")  # something that is no DLE EOT answer
        conn.recv(64)
        conn.close()

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        link = PrinterLink.open(PrinterConfig(id="p1", host="127.0.0.1", port=port, timeout=1))
        with pytest.raises(PrinterUnreachable, match="not a DLE EOT status byte"):
            link.status()
        link.close()
    finally:
        server.close()
