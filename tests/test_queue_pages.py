"""Taking a number at the kiosk, following it on a phone, and calling it at the counter, in
headless Chromium against a real edge agent, broker and virtual printer. Each screen is
screenshotted and held to the kiosk's touch, text and contrast rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from pyzbar.pyzbar import decode as zbar

from hall_common.escpos_status import PrinterStatus
from simulators.escpos_parse import Text, parse

from .conftest import wait_for
from .screens import check_screen, staff_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "queue"
ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
QUEUE = {"hours": ALWAYS, "counters": [
    {"id": "c1", "name": "1", "services": ["procedures", "certificates", "consult"]},
    {"id": "c3", "name": "3", "services": ["payment"]},
]}


@pytest.fixture
def hall(mini):
    printer = mini.printer()
    agent = mini.edge(queue=QUEUE, printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port,
                                               "timeout": 1}])
    console = mini.console(agent, printing=agent.printing, queue=agent.queue)
    kiosk, app = mini.kiosk(test_config={"FOLLOW_URL": console.url})
    wait_for(lambda: app.extensions["hall_status"].queue is not None and app.extensions["hall_status"].snapshot().printer_ok)
    yield mini, agent, printer, kiosk, console, app


def kiosk_page(browser, name: str | None = None):
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    return page


def check(page, name: str) -> None:
    check_screen(page, SHOTS, name)


def test_take_a_number_and_get_it_on_paper(hall, browser):
    mini, agent, printer, kiosk, console, app = hall
    page = kiosk_page(browser)
    page.goto(kiosk.url)
    page.click(".tile-queue")
    page.wait_for_selector(".services")
    body = page.inner_text("main")
    assert "手续办理" in body and "费用缴纳" in body and "正在等候：0 人" in body
    assert "暂无窗口办理" in body  # nobody serves repairs at this hall's counters
    check(page, "kiosk-choose")
    page.click("label.toggle:has-text('需要：老年人')")
    page.click("button.service:has-text('手续办理')")
    page.wait_for_selector(".ticket-number")
    assert page.inner_text(".ticket-number") == "A001"
    assert "排队票已打印" in page.inner_text("main") and "优先" in page.inner_text(".ticket")
    check(page, "kiosk-ticket-printed")
    wait_for(lambda: len(printer.printed_jobs()) == 1)
    big = [e.text for e in parse(printer.printed_jobs()[0].data) if isinstance(e, Text) and e.height >= 3]
    assert big == ["A001"]
    assert agent.queue.engine.waiting()[0].priority
    page.close()


def test_printer_out_gives_the_number_as_a_qr_that_opens_the_phone_page(hall, browser, tmp_path):
    mini, agent, printer, kiosk, console, app = hall
    agent.queue.engine.issue("consult", kiosk="kiosk-02")  # someone is ahead
    printer.set_state(PrinterStatus(online=True, paper="out"))
    wait_for(lambda: not app.extensions["hall_status"].snapshot().printer_ok)
    page = kiosk_page(browser)
    page.goto(kiosk.url + "queue/")
    assert "打印机暂时不能使用" in page.inner_text("main")
    page.click("button.service:has-text('业务咨询')")
    page.wait_for_selector(".qr svg")
    assert page.inner_text(".ticket-number") == "C002"
    assert "您前面还有 1 人" in page.inner_text("main")
    check(page, "kiosk-ticket-qr")
    shot = tmp_path / "qr.png"
    page.locator(".qr svg").screenshot(path=shot)
    [code] = zbar(Image.open(shot))
    url = code.data.decode()
    assert url.startswith(console.url + "q/")
    assert printer.jobs == []  # nothing was sent to a printer without paper
    page.close()

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(url)
    assert "C002" in phone.inner_text("body") and "您前面还有 1 人等候" in phone.inner_text("body")
    SHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=SHOTS / "phone-waiting.png", full_page=True)
    agent.queue.act("c1", "next")
    agent.queue.act("c1", "next")
    phone.reload()
    assert "请到 1 号窗口办理" in phone.inner_text("body")
    phone.screenshot(path=SHOTS / "phone-called.png", full_page=True)
    phone.close()


def test_the_counter_page_calls_recalls_and_marks_a_no_show(hall, browser):
    mini, agent, printer, kiosk, console, app = hall
    for _ in range(3):
        agent.queue.engine.issue("procedures", kiosk="kiosk-01")
    page = staff_page(browser, console.url + "counters/c1")
    assert "A001" in page.inner_text("main") and page.is_disabled("text=重呼 · Recall")
    page.click("text=叫下一位 · Call next")
    assert page.inner_text(".now-number") == "A001"
    assert page.is_disabled("text=过号 · No-show")  # not before two recalls
    page.click("text=重呼 · Recall")
    page.click("text=重呼 · Recall")
    assert "已重呼 2 次" in page.inner_text(".now")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "counter.png", full_page=True)
    page.click("text=过号 · No-show")
    assert page.inner_text(".now-number") == "—"
    page.click("text=叫下一位 · Call next")
    page.select_option("select[name=service]", "payment")
    page.click("text=转出 · Transfer")
    assert page.inner_text(".now-number") == "—"
    events = [e["event"] for e in agent.queue.engine.history(agent.queue.engine.waiting("payment")[0].id)]
    assert events[-1] == "transferred"
    state = agent.queue.state()
    assert state.waiting["payment"] == 1 and state.waiting["procedures"] == 1
    page.goto(console.url + "stats")
    text = page.inner_text("main")
    assert "取号 · Tickets 3" in text and "过号 · No-shows 1" in text
    assert page.locator(".chart rect").count() == 1  # all three were procedures tickets (one transferred)
    page.screenshot(path=SHOTS / "stats.png", full_page=True)
    page.close()


def test_a_forged_service_gets_a_plain_message_and_no_ticket(hall, browser):
    mini, agent, printer, kiosk, console, app = hall
    page = kiosk_page(browser)
    page.goto(kiosk.url + "queue/")
    page.evaluate("document.querySelector('button.service').value = 'lottery'")
    page.click("button.service >> nth=0")
    page.wait_for_selector(".result.bad")
    assert "请在下面选择一项业务" in page.inner_text(".result.bad")
    assert sum(agent.queue.engine.waiting_counts().values()) == 0 and printer.jobs == []
    page.close()
