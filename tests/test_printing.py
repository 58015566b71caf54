"""Printing for real: kiosks ask the edge agent over a real mosquitto, the agent prints to
virtual ESC/POS printers over TCP, and the tests read back what each printer received.

Covers: the ticket decoded back from GB18030, its QR read with pyzbar from the rendered
paper, the cut; bitmap mode for printers without a Chinese font; a job stored before the
request is answered and printed once however often it is sent; paper running out in the
middle of a queue (the rest moves to the other printer, the uncertain one marked as a
reprint); a hung printer that times out while another keeps printing; fail-fast when no
printer can print; status changes raising and clearing alarms; reprints; recovery after a
restart; bad requests refused with nothing stored.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from PIL import Image
from pyzbar.pyzbar import decode as zbar

from hall_common.bus import contract
from hall_common.errors import RequestFailed
from hall_common.escpos_status import PrinterStatus
from hall_common.print_client import PrintClient
from simulators.escpos_parse import QR, Cut, Raster, Text, parse, text_lines
from simulators.printer import VirtualPrinter

from .conftest import HALL, wait_for
from .screens import staff_page

URL = "http://hall.example/q/A012"


def ticket(number: str = "A012", ahead: int = 3) -> dict:
    return {"number": number, "service": "手续办理", "waiting_ahead": ahead, "follow_url": URL.replace("A012", number),
            "hours_line": "服务时间 08:30-18:00"}


@pytest.fixture
def printers(tmp_path):
    started: list[VirtualPrinter] = []

    def make(**kw) -> VirtualPrinter:
        p = VirtualPrinter(port=0, out_dir=tmp_path / f"printer-{len(started) + 1}", **kw)
        p.start()
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()


def net(pid: str, printer: VirtualPrinter, **kw) -> dict:
    return {"id": pid, "host": "127.0.0.1", "port": printer.port, "timeout": 1.0, **kw}


def client(broker, node: str = "kiosk-01") -> PrintClient:
    bus = broker.client(node, kind="kiosk", connect=False)
    pc = PrintClient(bus)
    bus.start()
    assert bus.wait_connected(10)
    return pc


def numbers(printer: VirtualPrinter) -> list[str]:
    """The ticket numbers a printer put on paper, in order (the number is the big line)."""
    out = []
    for job in printer.printed_jobs():
        big = [e.text.strip() for e in parse(job.data) if isinstance(e, Text) and e.height >= 3]
        out.append(big[0] if big else "?")
    return out


def test_a_ticket_comes_out_in_chinese_with_its_qr_and_a_cut(mini, broker, printers):
    p1 = printers()
    mini.edge(printers=[net("printer-1", p1)])
    outcome = client(broker).print("queue_ticket", ticket(), printer="printer-1")
    assert outcome.status == "printed" and outcome.printer == "printer-1" and not outcome.reprint
    [job] = p1.printed_jobs()
    lines = text_lines(job.data)
    assert "测试大厅" in lines[0] or any("测试大厅" in x for x in lines)  # GB18030 decoded back
    assert any("您前面还有 3 人等候" in x for x in lines)
    assert "A012" in numbers(p1)
    elements = parse(job.data)
    assert [e.data for e in elements if isinstance(e, QR)] == [URL]
    assert isinstance(elements[-1], Cut)
    assert "重打" not in "".join(lines)
    # The paper as a person sees it: the QR on it scans.
    assert job.png is not None
    assert URL.encode() in [s.data for s in zbar(Image.open(job.png))]


def test_a_printer_without_a_chinese_font_gets_the_ticket_as_a_picture(mini, broker, printers):
    p1 = printers(paper_mm=58)
    mini.edge(printers=[net("printer-1", p1, profile="generic-58-bitmap")])
    assert client(broker).print("queue_ticket", ticket()).printed
    [job] = p1.printed_jobs()
    elements = parse(job.data)
    assert any(isinstance(e, Raster) for e in elements)
    assert not [e for e in elements if isinstance(e, Text) and e.text.strip()]
    assert isinstance(elements[-1], Cut)
    assert URL.encode() in [s.data for s in zbar(Image.open(job.png))]


def test_a_job_is_stored_before_it_is_answered_and_printed_once(mini, broker, printers):
    p1 = printers()
    agent = mini.edge(printers=[net("printer-1", p1)])
    kiosk = broker.client("kiosk-01", kind="kiosk")
    job = str(uuid.uuid4())
    args = {"job": job, "template": "queue_ticket", "fields": ticket()}
    first = kiosk.request("print", args)
    assert first["job"] == job and first["status"] in ("queued", "printed")
    row = agent.printing.spool.get(job)
    assert row is not None and row["requester"] == "kiosk-01"  # on disk when the answer came
    again = kiosk.request("print", args)  # the same request, sent again
    assert again["job"] == job
    wait_for(lambda: agent.printing.spool.get(job)["status"] == "printed")
    wait_for(lambda: len(p1.printed_jobs()) >= 1)
    assert len(p1.printed_jobs()) == 1
    assert kiosk.request("print_status", {"job": job})["status"] == "printed"


def test_the_same_paper_asked_for_again_after_a_restart_prints_once(mini, broker, printers):
    """A kiosk that restarted while a resident tapped again asks for the same ticket's
    print a second time: the job id made from the ticket's id makes that the first job."""
    from hall_common.print_client import job_for

    p1 = printers()
    mini.edge(printers=[net("printer-1", p1)])
    kiosk = client(broker)
    job = job_for("ticket", "4f1c-ticket-id")
    first = kiosk.print("queue_ticket", ticket(), job=job)
    again = client(broker).print("queue_ticket", ticket(), job=job)  # a new process, the same paper
    assert first.printed and again.printed and again.job == first.job == job
    assert len(p1.printed_jobs()) == 1
    assert job_for("ticket", "another") != job and job_for("complaint", "4f1c-ticket-id") != job


def test_paper_out_in_the_middle_of_a_queue_moves_the_rest(mini, broker, printers):
    # printer-1 prints two tickets, then its roll is empty; each job takes it a while, so
    # all five are waiting in its queue when the roll runs out.
    p1 = printers(paper_jobs=2, job_seconds=0.4)
    p2 = printers()
    agent = mini.edge(printers=[net("printer-1", p1), net("printer-2", p2)])
    kiosk = broker.client("kiosk-01", kind="kiosk")
    outcomes: list = []
    jobs = [str(uuid.uuid4()) for _ in range(5)]
    for i, job in enumerate(jobs, 1):
        r = kiosk.request("print", {"job": job, "template": "queue_ticket", "fields": ticket(f"A00{i}"),
                                    "printer": "printer-1"})
        outcomes.append(r)
    assert [r["printer"] for r in outcomes] == ["printer-1"] * 5  # all queued on printer-1
    wait_for(lambda: all(agent.printing.spool.get(j)["status"] == "printed" for j in jobs), timeout=20)
    assert numbers(p1) == ["A001", "A002"]
    assert numbers(p2) == ["A003", "A004", "A005"]  # moved, still in order
    rows = [agent.printing.spool.get(j) for j in jobs]
    assert [r["moved_from"] for r in rows] == [None, None, "printer-1", "printer-1", "printer-1"]
    assert [r["reason"] for r in rows[2:]] == ["", "", ""]  # printed in the end
    # A003 was sent to printer-1 when the roll ran out: part of it may be on paper, so the
    # copy from printer-2 says it is a reprint. The two that never left the queue do not.
    reprinted = ["重打" in "".join(text_lines(j.data)) for j in p2.printed_jobs()]
    assert reprinted == [True, False, False]
    assert not any("重打" in "".join(text_lines(j.data)) for j in p1.printed_jobs())
    alarm = {a["id"]: a for a in agent.alarms.active()}["printer-1.paper"]
    assert alarm["severity"] == "major" and alarm["type"] == "paper_out"


def test_the_requester_hears_moved_then_printed(mini, broker, printers):
    p1 = printers(paper_jobs=0)  # an empty roll nobody has noticed yet
    p2 = printers()
    mini.edge(printers=[net("printer-1", p1), net("printer-2", p2)], printing={"poll_s": 30})
    heard: list = []
    kiosk = broker.client("kiosk-01", kind="kiosk", connect=False)
    kiosk.subscribe(contract.PRINT_OUTCOME.filter(hall=HALL, node="kiosk-01"), lambda m: heard.append(m.payload))
    kiosk.start()
    assert kiosk.wait_connected(10)
    job = str(uuid.uuid4())
    kiosk.request("print", {"job": job, "template": "queue_ticket", "fields": ticket(), "printer": "printer-1"})
    wait_for(lambda: any(o.status == "printed" for o in heard))
    assert [(o.status, o.printer, o.reason) for o in heard] == [("moved", "printer-2", "paper_out"),
                                                                ("printed", "printer-2", "")]
    assert heard[-1].reprint  # it was sent to printer-1 before the paper-out showed


def test_a_hung_printer_times_out_while_another_keeps_printing(mini, broker, printers):
    hung = printers()
    hung.hang()
    ok = printers()
    agent = mini.edge(printers=[net("printer-h", hung, serves=["kiosk-01"], timeout=4.0),
                                net("printer-2", ok, serves=["kiosk-02"])], printing={"poll_s": 30})
    k1, k2 = client(broker, "kiosk-01"), client(broker, "kiosk-02")
    result: dict = {}
    t = threading.Thread(target=lambda: result.setdefault("hung", k1.print("queue_ticket", ticket("A001"))))
    t.start()
    for i in range(10):
        assert k2.print("queue_ticket", ticket(f"B{i:03d}")).printed
    assert len(ok.printed_jobs()) == 10
    assert k2.bus.request("ping", {})["hall"] == HALL  # the agent answers meanwhile
    t.join(15)
    assert result["hung"].status == "failed" and result["hung"].reason == "offline"
    hung_row = agent.printing.spool.get(result["hung"].job)
    # printer-2 did not wait for the hung one: its first job was on paper before the hung
    # job gave up (how many of the ten came before depends on the machine's load)
    assert min(j.received_at for j in ok.printed_jobs()) < hung_row["updated_at"]
    assert hung.printed_jobs() == []
    assert "printer-h.offline" in {a["id"] for a in agent.alarms.active()}


def test_no_printer_able_to_print_fails_at_once_with_the_reason(mini, broker, printers):
    p1 = printers(status=PrinterStatus(online=True, paper="out"))
    agent = mini.edge(printers=[net("printer-1", p1)])
    wait_for(lambda: agent.printing.workers["printer-1"].status is not None)
    outcome = client(broker).print("queue_ticket", ticket())
    assert (outcome.status, outcome.reason) == ("failed", "paper_out")
    assert p1.jobs == []


def test_status_changes_raise_and_clear_alarms(mini, broker, printers):
    p1 = printers()
    agent = mini.edge(printers=[net("printer-1", p1)])
    seen: dict[str, dict] = {}
    lock = threading.Lock()

    def on_alarm(msg):
        with lock:
            seen[msg.parts["alarm_id"]] = msg.payload.model_dump() if msg.payload else {}

    # Alarms as the broker delivers them, through the edge's own login (the only one that
    # reads them; a second login as the edge would take the agent's place).
    agent.bus.subscribe(contract.ALARM.filter(hall=HALL), on_alarm)

    def alarm(key: str) -> dict:
        with lock:
            return dict(seen.get(f"printer-1.{key}", {}))

    p1.set_state(PrinterStatus(online=True, paper="near_end"))
    wait_for(lambda: alarm("paper").get("severity") == "warning")
    assert alarm("paper")["state"] == "ACTIVE_UNACK" and alarm("paper")["type"] == "paper_near_end"
    p1.set_state(PrinterStatus(online=True, paper="out"))
    wait_for(lambda: alarm("paper").get("severity") == "major")
    assert alarm("paper")["type"] == "paper_out"
    p1.set_state(PrinterStatus(online=True, cover_open=True))
    wait_for(lambda: alarm("cover").get("state") == "ACTIVE_UNACK")
    wait_for(lambda: alarm("paper").get("state") == "CLEARED_UNACK")
    p1.set_state(PrinterStatus(online=True))
    wait_for(lambda: alarm("cover").get("state") == "CLEARED_UNACK")
    assert alarm("cover")["cleared_at"] >= alarm("cover")["raised_at"]
    p1.stop()  # unplugged
    wait_for(lambda: alarm("offline").get("state") == "ACTIVE_UNACK")
    assert alarm("offline")["severity"] == "major"


def test_a_reprint_says_so(mini, broker, printers):
    p1 = printers()
    mini.edge(printers=[net("printer-1", p1)])
    pc = client(broker)
    first = pc.print("queue_ticket", ticket())
    again = pc.print("queue_ticket", {}, reprint_of=first.job)
    assert again.printed and again.reprint
    a, b = p1.printed_jobs()
    assert "重打" not in "".join(text_lines(a.data)) and "重打" in "".join(text_lines(b.data))
    assert numbers(p1) == ["A012", "A012"]


def test_a_job_caught_mid_send_by_a_restart_prints_again_as_a_reprint(mini, broker, printers, tmp_path):
    from edge_agent.printing.spool import Spool

    p1 = printers()
    spool = Spool(tmp_path / "edge" / "edge.db")
    from edge_agent.db import migrations
    from hall_common.storage import open_database

    open_database(tmp_path / "edge" / "edge.db", migrations).close()
    spool.add(job=str(uuid.uuid4()), requester="kiosk-01", template="queue_ticket", fields=ticket("A077"),
              printer="printer-1")
    spool.claim("printer-1")  # the agent died here, in the middle of sending it
    spool.close()
    mini.edge(printers=[net("printer-1", p1)])
    wait_for(lambda: len(p1.printed_jobs()) == 1)
    assert numbers(p1) == ["A077"] and "重打" in "".join(text_lines(p1.printed_jobs()[0].data))


@pytest.mark.parametrize("args, names", [
    ({"template": "lottery", "fields": {}}, "template"),
    ({"template": "queue_ticket", "fields": {**ticket(), "waiting_ahead": -1}}, "waiting_ahead"),
    ({"template": "queue_ticket", "fields": {**ticket(), "colour": "red"}}, "colour"),
    ({"template": "queue_ticket", "fields": {k: v for k, v in ticket().items() if k != "number"}}, "number"),
], ids=["unknown-template", "negative-ahead", "unknown-field", "missing-number"])
def test_a_bad_print_request_is_refused_and_nothing_is_stored(mini, broker, printers, args, names):
    p1 = printers()
    agent = mini.edge(printers=[net("printer-1", p1)])
    kiosk = broker.client("kiosk-01", kind="kiosk")
    job = str(uuid.uuid4())
    with pytest.raises(RequestFailed) as err:
        kiosk.request("print", {"job": job, **args})
    assert err.value.code == "bad_request" and names in str(err.value)
    assert agent.printing.spool.get(job) is None
    assert p1.jobs == []


def test_only_the_requester_may_ask_after_or_reprint_its_job(mini, broker, printers):
    p1 = printers()
    mini.edge(printers=[net("printer-1", p1)])
    first = client(broker, "kiosk-01").print("queue_ticket", ticket())
    other = broker.client("kiosk-02", kind="kiosk")
    with pytest.raises(RequestFailed) as err:
        other.request("print_status", {"job": first.job})
    assert err.value.code == "not_found"
    with pytest.raises(RequestFailed):
        other.request("print", {"job": str(uuid.uuid4()), "template": "queue_ticket", "reprint_of": first.job})
    assert len(p1.printed_jobs()) == 1


def test_an_unknown_printer_profile_stops_the_agent_with_the_key(mini, printers):
    from hall_common.errors import ConfigError

    with pytest.raises(ConfigError, match=r"printers\.0\.profile.*no-such-model"):
        mini.edge(printers=[net("printer-1", printers(), profile="no-such-model")])


def test_png_of_every_job_is_written_for_a_person_to_open(mini, broker, printers):
    p1 = printers()
    mini.edge(printers=[net("printer-1", p1)])
    client(broker).print("queue_ticket", ticket())
    [job] = p1.printed_jobs()
    assert job.png is not None and job.png.exists() and Path(job.png).suffix == ".png"
    assert Image.open(job.png).width == 576  # 80 mm paper


SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "console"


def test_staff_console_shows_the_printers_and_reprints_a_job(mini, broker, printers, browser, tmp_path):
    p1 = printers()
    p2 = printers(status=PrinterStatus(online=True, paper="out"), paper_mm=58)
    agent = mini.edge(printers=[net("printer-1", p1, serves=["kiosk-01"]),
                                net("printer-2", p2, profile="generic-58-bitmap")])
    wait_for(lambda: agent.printing.workers["printer-2"].status is not None)
    # The worker knows the paper is out a moment before its alarm is stored: wait for both.
    wait_for(lambda: any("printer-2 缺纸" in a["text"] for a in agent.alarms.active()))
    first = client(broker).print("queue_ticket", ticket())
    served = mini.console(agent, printing=agent.printing)

    page = staff_page(browser, served.url + "printers")
    body = page.inner_text("main")
    assert "printer-1" in body and "可打印 · ready" in body
    assert "缺纸 · out of paper" in body and "图像模式 · bitmap" in body
    assert "打印机 printer-2 缺纸" in body  # the alarm, at the top
    assert "已打印 · printed" in body
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "printers.png", full_page=True)

    page.click("text=重打 · Reprint")
    assert "已送 printer-1 重打" in page.inner_text("main")
    wait_for(lambda: len(p1.printed_jobs()) == 2)
    assert "重打" in "".join(text_lines(p1.printed_jobs()[1].data))
    assert agent.printing.spool.get(first.job)["status"] == "printed"
    page.screenshot(path=SHOTS / "printers-after-reprint.png", full_page=True)
    page.close()
