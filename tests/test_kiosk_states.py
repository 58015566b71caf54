"""The states a resident must understand, each caused for real: the broker killed, the edge
agent stopped, the central server stopped, a printer out of paper on the bus, the hall
closed; and the idle timeout that leaves nothing of a visit behind."""

from __future__ import annotations

import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from .helpers import edge_db
from .conftest import wait_for
from .minihall import SETTINGS
from .screens import screen_problems

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "kiosk-states"


def page_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def shot(browser, url: str, name: str) -> None:
    """Screenshot a state screen and hold it to the same touch, text and contrast rules."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    page.goto(url)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    problems = screen_problems(page)
    page.close()
    assert not problems, problems


def test_broker_down_says_numbers_at_the_counter_and_recovers(mini, broker, browser):
    mini.edge()
    kiosk, _ = mini.kiosk()
    wait_for(lambda: "大厅系统暂时无法连接" not in page_text(kiosk.url))
    broker.broker.kill()
    wait_for(lambda: "大厅系统暂时无法连接" in page_text(kiosk.url), timeout=10)
    assert "现在请到服务台取号办理" in page_text(kiosk.url)
    assert "此项服务需要大厅系统" in page_text(kiosk.url + "service/queue")
    shot(browser, kiosk.url, "edge-unreachable")
    broker.broker.start()
    wait_for(lambda: "大厅系统暂时无法连接" not in page_text(kiosk.url), timeout=45)


def test_edge_stopped_is_shown_and_help_says_call_the_desk(mini, broker):
    agent = mini.edge()
    kiosk, _ = mini.kiosk()
    wait_for(lambda: "大厅系统暂时无法连接" not in page_text(kiosk.url))
    agent.close()
    wait_for(lambda: "大厅系统暂时无法连接" in page_text(kiosk.url))
    req = urllib.request.Request(kiosk.url + "help/call", method="POST")
    # CSRF refuses a bare POST: the kiosk's own form carries the token, tested in Chromium.
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400


def test_help_call_reaches_the_staff_console(mini, broker, browser):
    agent = mini.edge()
    kiosk, _ = mini.kiosk()
    wait_for(lambda: "大厅系统暂时无法连接" not in page_text(kiosk.url))
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    page.goto(kiosk.url + "help")
    page.click("button.huge")
    page.wait_for_selector(".result.ok")
    page.close()
    rows = edge_db.rows(agent, "SELECT * FROM help_requests")
    assert [r["node"] for r in rows] == ["kiosk-01"] and rows[0]["handled_at"] is None
    # ... and the staff console lists it until someone marks it handled.
    import re

    import edge_agent

    (agent.config.data_dir / "staff.pw").write_text("staff password 1")
    from hall_common.config import BootstrapUser

    console_config = agent.config.model_copy(update={"bootstrap_user": BootstrapUser(
        username="staff", password_file=agent.config.data_dir / "staff.pw", role="staff")})
    console = edge_agent.create_app(console_config).test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', console.get("/login").get_data(as_text=True)).group(1)
    console.post("/login", data={"username": "staff", "password": "staff password 1", "csrf_token": token})
    overview = console.get("/").get_data(as_text=True)
    assert "kiosk-01" in overview and "请求工作人员协助" in overview
    token = re.search(r'name="csrf_token" value="([^"]+)"', overview).group(1)
    console.post(f"/help/{rows[0]['id']}/handled", data={"csrf_token": token})
    assert "请求工作人员协助" not in console.get("/").get_data(as_text=True)


def test_centre_down_makes_bills_unavailable_but_complaints_still_taken(mini, broker, browser):
    central = mini.central()
    mini.edge(centre_url=central.url)
    kiosk, app = mini.kiosk()
    wait_for(lambda: app.extensions["hall_status"].snapshot().centre_up)
    assert "暂不可用" not in page_text(kiosk.url)
    central.stop()
    wait_for(lambda: not app.extensions["hall_status"].snapshot().centre_up, timeout=15)
    home = page_text(kiosk.url)
    assert "暂不可用" in home
    bills = page_text(kiosk.url + "service/bills")
    assert "公司系统暂时无法连接" in bills and "投诉和报修仍可在这里提交" in bills
    shot(browser, kiosk.url + "service/bills", "centre-unreachable")


def test_printer_out_tells_the_resident_the_ticket_is_on_screen(mini, broker, browser):
    """A (virtual) printer runs out of paper: the edge's status poll sees it, the kiosk says so."""
    from hall_common.escpos_status import PrinterStatus
    from simulators.printer import VirtualPrinter

    printer = VirtualPrinter(port=0)
    printer.start()
    try:
        mini.edge(printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port, "timeout": 1}])
        kiosk, app = mini.kiosk()
        wait_for(lambda: app.extensions["hall_status"].snapshot().printer_known)
        assert "号票打印机暂时不能使用" not in page_text(kiosk.url)
        printer.set_state(PrinterStatus(online=True, paper="out"))
        wait_for(lambda: "号票打印机暂时不能使用" in page_text(kiosk.url))
        shot(browser, kiosk.url, "printer-out")
        printer.set_state(PrinterStatus(online=True, paper="near_end"))  # still prints
        wait_for(lambda: "号票打印机暂时不能使用" not in page_text(kiosk.url))
        printer.stop()  # unplugged: no answer at all
        wait_for(lambda: "号票打印机暂时不能使用" in page_text(kiosk.url))
    finally:
        printer.stop()


def test_a_hung_printer_does_not_delay_another(mini, broker):
    from hall_common.escpos_status import PrinterStatus
    from simulators.printer import VirtualPrinter

    good, hung = VirtualPrinter(port=0), VirtualPrinter(port=0)
    good.start()
    hung.start()
    hung.hang()
    try:
        # The hung printer holds each poll for 30 s; the other's change must still show well
        # within that, which only polling each printer on its own can do.
        agent = mini.edge(printers=[{"id": "printer-1", "host": "127.0.0.1", "port": hung.port, "timeout": 30},
                                    {"id": "printer-2", "host": "127.0.0.1", "port": good.port, "timeout": 1}])
        workers = agent.printing.workers
        wait_for(lambda: workers["printer-2"].status is not None)
        good.set_state(PrinterStatus(online=True, paper="out"))
        wait_for(lambda: workers["printer-2"].status.paper == "out", timeout=10)
        assert workers["printer-1"].status is None  # still waiting on the hung one
    finally:
        good.stop()
        hung.stop()


def test_closed_hall_shows_hours_and_after_hours_channels(mini, broker, browser):
    mini.edge()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    settings = {**SETTINGS, "hours": {**SETTINGS["hours"], "closed_dates": [today.isoformat()]}}
    kiosk, _ = mini.kiosk(settings)
    home = page_text(kiosk.url)
    assert "服务中心现在已下班" in home and "028-8765 4399" in home
    queue = page_text(kiosk.url + "service/queue")
    assert "营业时间" in queue and "微信公众号：幸福里物业" in queue and "下次营业时间" in queue
    import json

    assert json.loads(page_text(kiosk.url + "healthz"))["screen"] == "off"
    shot(browser, kiosk.url + "service/queue", "closed")


def test_idle_timeout_leaves_nothing_of_the_visit(mini, broker, browser):
    mini.edge()
    kiosk, app = mini.kiosk()
    context = browser.new_context(viewport={"width": 1080, "height": 1920})
    page = context.new_page()
    page.clock.install()
    try:
        page.goto(kiosk.url)
        start = page.evaluate("history.length")  # the launcher's first page; the visit adds none
        page.click("button[lang=en]")  # a choice of this visit: must not outlive it
        page.wait_for_selector("html[lang=en]")
        page.click("a.tile-track")
        page.wait_for_selector("#number")
        for k in "20261122":
            page.click(f".key[data-key='{k}']")
        page.click("#last4")
        page.click(".key[data-key='9']")
        page.click("button.wide-btn")  # invalid last 4: the form comes back with what was typed
        page.wait_for_selector(".error")
        assert page.input_value("#number") == "20261122"
        assert page.evaluate("history.length") == start
        page.clock.run_for(89_000)
        assert page.is_hidden("#idle")
        page.clock.run_for(3_000)
        assert page.is_visible("#idle")  # the countdown, with continue and home
        page.clock.run_for(31_000)
        page.wait_for_url(kiosk.url)
        page.wait_for_selector("html[lang=zh-CN]")
        assert "20261122" not in page.content()
        assert page.evaluate("history.length") == start
        cookies = [c for c in context.cookies() if c["name"] == "session"]
        with app.test_request_context():
            serializer = app.session_interface.get_signing_serializer(app)
            data = serializer.loads(cookies[0]["value"]) if cookies else {}
        assert "track_form" not in data and "lang" not in data
        page.goto(kiosk.url + "track")
        assert page.input_value("#number") == "" and page.input_value("#last4") == ""
        for field in ("#number", "#last4"):
            assert page.get_attribute(field, "autocomplete") == "off"
    finally:
        context.close()


def test_continue_keeps_the_visit(mini, broker, browser):
    mini.edge()
    kiosk, _ = mini.kiosk()
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    page.clock.install()
    try:
        page.goto(kiosk.url + "track")
        page.click(".key[data-key='7']")
        page.clock.run_for(95_000)
        assert page.is_visible("#idle")
        page.click("#idle-continue")
        assert page.is_hidden("#idle")
        page.clock.run_for(40_000)
        assert page.input_value("#number") == "7" and page.url.endswith("/track")
    finally:
        page.close()
