"""The virtual ESC/POS printer over real TCP, driven by python-escpos itself: status
answers, jobs split at the cut, nothing printed while it cannot print, and a hung printer
that blocks neither its clients' timeouts nor another printer."""

from __future__ import annotations

import socket

import pytest
from escpos.printer import Network

from hall_common.escpos_status import PrinterStatus, decode, query
from simulators.printer import VirtualPrinter

from .conftest import wait_for


@pytest.fixture
def printer():
    p = VirtualPrinter(port=0)
    p.start()
    yield p
    p.stop()


def ask_status(port: int) -> PrinterStatus:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        answers = {}
        for n in (1, 2, 3, 4):
            s.sendall(query(n))
            answers[n] = s.recv(1)[0]
    return decode(answers)


@pytest.mark.parametrize(
    "state",
    [PrinterStatus(online=True), PrinterStatus(online=True, paper="near_end"), PrinterStatus(online=True, paper="out"),
     PrinterStatus(online=True, cover_open=True), PrinterStatus(online=False)],
)
def test_status_answers_follow_the_state(printer, state):
    printer.set_state(state)
    got = ask_status(printer.port)
    assert (got.paper, got.cover_open, got.can_print) == (state.paper, state.cover_open, state.can_print)


def test_python_escpos_prints_and_reads_paper_status(printer):
    p = Network("127.0.0.1", printer.port, timeout=2)
    p.open()
    try:
        assert p.paper_status() == 2
        p.text("A012\n")
        p.cut()
        p.text("A013\n")
        p.cut()
        # Both jobs taken before the paper changes: a job the printer reads after the paper
        # ran out is rightly not printed.
        wait_for(lambda: len(printer.jobs) == 2 and all(j.printed for j in printer.jobs))
        printer.set_state(PrinterStatus(online=True, paper="near_end"))
        assert p.paper_status() == 1
        printer.set_state(PrinterStatus(online=True, paper="out"))
        assert p.paper_status() == 0
    finally:
        p.close()
    assert [b"A012" in j.data for j in printer.jobs] == [True, False]
    assert b"A013" in printer.jobs[1].data
    assert all(b"\x1dV" in j.data[-4:] for j in printer.jobs)  # each job ends with its cut


def test_nothing_is_printed_while_out_of_paper(printer):
    printer.set_state(PrinterStatus(online=True, paper="out"))
    with socket.create_connection(("127.0.0.1", printer.port), timeout=2) as s:
        s.sendall(b"\x1b@A014\n\x1dV\x00")
    wait_for(lambda: printer.jobs)
    assert printer.jobs[0].printed is False and printer.printed_jobs() == []


def test_a_hung_printer_times_its_clients_out_while_another_prints(printer):
    hung = VirtualPrinter(port=0)
    hung.start()
    hung.hang()
    try:
        stuck = Network("127.0.0.1", hung.port, timeout=1)
        stuck.open()
        assert stuck.device.gettimeout() == 1  # seconds, not python-escpos's 60 s default
        with pytest.raises(TimeoutError):
            stuck.paper_status()  # no answer ever comes
        stuck.close()
        ok = Network("127.0.0.1", printer.port, timeout=2)
        ok.open()
        ok.text("A015\n")
        ok.cut()
        ok.close()
        wait_for(lambda: printer.printed_jobs())
    finally:
        hung.stop()


def test_jobs_are_rendered_to_png_with_a_readable_qr(tmp_path):
    from PIL import Image
    from pyzbar.pyzbar import decode as zbar

    from .test_escpos_parse import ticket

    printer = VirtualPrinter(port=0, out_dir=tmp_path / "paper")
    printer.start()
    try:
        with socket.create_connection(("127.0.0.1", printer.port), timeout=2) as s:
            s.sendall(ticket())
        wait_for(lambda: printer.jobs and printer.jobs[0].png is not None)
    finally:
        printer.stop()
    png = printer.jobs[0].png
    with Image.open(png) as im:
        assert im.width == 576 and im.height > 200
        codes = zbar(im)
    assert [c.data.decode() for c in codes] == ["https://hall.example/q/A012"]
    shots = __import__("pathlib").Path(__file__).resolve().parent.parent / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    Image.open(png).save(shots / "printer-ticket-gb18030.png")


def test_the_control_port_sets_what_the_printer_is(printer):
    import json
    import urllib.error
    import urllib.request

    from simulators.printer import ControlServer

    control = ControlServer(printer)
    control.start()
    url = f"http://127.0.0.1:{control.port}/"

    def post(body: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(url, data=body.encode(), timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    try:
        assert post("paper=out") == (200, {"online": True, "paper": "out", "cover_open": False, "hung": False,
                                           "jobs": 0, "printed": 0})
        assert ask_status(printer.port).paper == "out"
        post("paper=ok&cover_open=1")
        assert ask_status(printer.port).cover_open
        code, doc = post("paper=soggy")
        assert code == 400 and "paper is ok, near_end or out" in doc["error"]
        code, doc = post("colour=red")
        assert code == 400 and "unknown setting 'colour'" in doc["error"]
        assert printer.status.cover_open and printer.status.paper == "ok"  # the bad ones changed nothing
        post("hung=1")
        assert printer.hung
    finally:
        control.stop()
