"""A whole shift at the front desk in headless Chromium, on real parts: the broker, the edge
agent with its staff console, the centre (its ledger, the payment sandbox, the admin page)
and a virtual ESC/POS printer at the counter over TCP.

Open the shift; during it a kiosk payment lands, a resident files a request, a key goes out,
a parcel comes in and a renovation is registered; close it with the cash counted; the sheet
lists each of them, is printed at the counter (GB18030 text read back from the printer's
bytes) and reaches the centre; the next shift opens, leaves the sheet unacknowledged past
30 minutes on the handover's clock and the alarm comes; acknowledging clears it, a second
acknowledgement is refused. The key, the parcel and the renovation go into the agent's own
registers component, as a clerk's forms would put them there.

Screenshots: var/screenshots/handover/."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from central_sync.server.db import StoreUsers
from central_sync.server.resident_demo import load_demo
from edge_agent.complaints.tracking import readable
from edge_agent.handover import HandoverRefused
from hall_common.auth import set_password
from hall_common.errors import RequestFailed
from simulators.escpos_parse import text_lines

from .conftest import HALL, wait_for
from .helpers.clock import TZ, Clock
from .helpers.edge_db import rows
from .helpers.edge_inputs import complaint
from .screens import staff_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "handover"
ADMIN_PASSWORD = "admin password 1"


def clear_of_midnight() -> None:
    """The sheet lists the day's kiosk payments: keep the run inside one day of the hall."""
    now = datetime.now(TZ)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if (midnight - now).total_seconds() < 300:
        time.sleep((midnight - now).total_seconds() + 1)


@pytest.fixture
def hall(mini):
    clear_of_midnight()
    counter = mini.printer("counter-paper")
    centre, store, token = mini.registered_centre()
    load_demo(store, HALL)
    set_password(StoreUsers(store), "admin", ADMIN_PASSWORD, "admin")
    agent = mini.edge(centre_url=centre.url, token=token,
                      printers=[{"id": "counter-1", "host": "127.0.0.1", "port": counter.port, "timeout": 1}])
    clock = agent.handover.clock = Clock(time.time())
    console = mini.console(agent)
    SHOTS.mkdir(parents=True, exist_ok=True)
    return {"agent": agent, "centre": centre, "store": store, "counter": counter, "clock": clock,
            "console": console}


def kiosk_payment(h) -> dict:
    """A resident pays one bill line at a kiosk (the sandbox's phone page, without the phone)."""
    mine = [str(r["id"]) for r in h["store"].query(
        "SELECT id FROM bill_lines WHERE room = '3-2-1201' AND status = 'unpaid' ORDER BY item")]
    made = h["agent"].payments.answer("pay", "kiosk-01", {"room": "3-2-1201", "bill_ids": mine[:1]})
    h["centre"].app.extensions["payments"].provider.pay(made["out_trade_no"])
    wait_for(lambda: rows(h["agent"], "SELECT status FROM payment_orders WHERE order_id = ?",
                          [made["order_id"]])[0]["status"] == "paid")
    return made


def test_a_whole_shift_from_opening_to_the_next_shift_signing_for_it(hall, browser):
    h = hall
    agent, clock, url = h["agent"], h["clock"], h["console"].url
    page = staff_page(browser, url + "handover/")
    try:
        # -- open ---------------------------------------------------------------------------
        assert "交接班 · Handover" in page.inner_text("nav")
        page.fill("#open-form input[name=label]", "早班")
        page.fill("#open-form input[name=staff]", "")
        page.click("#open-form button")
        page.wait_for_selector(".refused")  # no names: refused, the field named, nothing stored
        assert "请填写当班人员姓名" in page.inner_text(".refused")
        assert page.get_attribute(".refused", "data-field") == "staff"
        assert rows(agent, "SELECT count(*) AS n FROM shifts")[0]["n"] == 0
        assert page.input_value("#open-form input[name=label]") == "早班"  # kept for correcting
        page.fill("#open-form input[name=staff]", "张三、李四")
        page.screenshot(path=SHOTS / "1-open.png", full_page=True)
        page.click("#open-form button")
        page.wait_for_selector(".ho-card.current")
        assert page.inner_text(".ho-card.current .staff") == "张三、李四"
        [shift] = rows(agent, "SELECT * FROM shifts")
        assert (shift["label"], shift["opened_by"], shift["opened_at"]) == ("早班", "staff", clock())

        # -- the shift ----------------------------------------------------------------------
        made = kiosk_payment(h)
        filed = agent.complaints.answer("complaint", "kiosk-01", complaint())
        def day(days: float) -> datetime:
            return datetime.fromtimestamp(time.time() + days * 86400, TZ)

        agent.registers.open("keys", {"key": "3-2-1201 入户门钥匙", "name": "王五", "phone": "13812345678",
                                      "room": "3-2-1201", "id_checked": "on", "id_type": "id_card", "id_last4": "1234",
                                      "due_back": day(0.2).strftime("%Y-%m-%dT%H:%M"), "purpose": "装修工人进场"},
                             who="staff")
        agent.registers.open("parcels", {"kind": "parcel", "carrier": "顺丰", "tracking_no": "SF1234567", "room": "5-1-601",
                                         "name": "赵六", "phone": "13900001111", "shelf": "A-03"}, who="staff")
        agent.registers.open("renovations", {"room": "7-2-301", "owner_name": "钱七", "owner_phone": "13700001111",
                                             "contractor": "好家装饰", "foreman_name": "孙八", "foreman_phone": "13600002222",
                                             "works": "厨房改造", "start_date": day(-14).date().isoformat(),
                                             "end_date": day(2).date().isoformat(), "deposit_fen": "2000",
                                             "notice_ack": "on"}, who="staff")
        clock.t = time.time() + 60  # the payment landed by the centre's clock before this
        page.goto(url + "handover/")
        page.wait_for_selector("#close-form")
        assert "¥" in page.inner_text(".qr-total") and page.inner_text(".qr-total") != "¥0.00"
        page.screenshot(path=SHOTS / "2-on-shift.png", full_page=True)

        # -- close: bad cash first, then the real count ---------------------------------------
        page.fill("#close-form input[name=cash_expected]", "350")
        page.fill("#close-form input[name=cash_counted]", "-5")
        page.click("#close-form button")
        page.wait_for_selector(".refused")
        assert "现金实点金额不能为负数" in page.inner_text(".refused")
        assert page.get_attribute(".refused", "data-field") == "cash_counted"
        assert rows(agent, "SELECT count(*) AS n FROM shifts WHERE closed_at IS NOT NULL")[0]["n"] == 0
        assert rows(agent, "SELECT count(*) AS n FROM outbox WHERE kind = 'handover'")[0]["n"] == 0
        page.fill("#close-form input[name=cash_counted]", "349.50")
        page.fill("#close-form textarea[name=notes]", "3 栋电梯明早 9 点维保，已张贴公告")
        page.select_option("#close-form select[name=printer]", "counter-1")
        page.click("#close-form button")
        page.wait_for_selector(".sheet-head")

        # -- the sheet lists each item ----------------------------------------------------------
        main = page.inner_text("main")
        assert "钥匙 3-2-1201 入户门钥匙 · 借用人 王*" in page.inner_text("[data-section=keys_out]")
        assert "顺丰 · 5-1-601 赵*" in page.inner_text("[data-section=parcels_waiting]")
        assert "货架 A-03" in page.inner_text("[data-section=parcels_waiting]")
        assert "7-2-301 装修 · 好家装饰" in page.inner_text("[data-section=renovations_due]")
        assert "13812345678" not in main and "13900001111" not in main  # masked on the sheet
        assert readable(filed["tracking_no"]) in page.inner_text("[data-section=requests]")
        paid = f"¥{made['amount_fen'] // 100:,}.{made['amount_fen'] % 100:02d}"
        assert paid in page.inner_text("[data-section=payments]") and made["out_trade_no"][-6:] in main
        assert page.inner_text(".qr") == paid and page.inner_text(".cash-counted") == "¥349.50"
        assert page.inner_text(".difference") == "短款 ¥0.50"
        assert "3 栋电梯明早 9 点维保，已张贴公告" in page.inner_text(".ho-notes")
        assert "交接单已送 counter-1" in main
        page.screenshot(path=SHOTS / "3-sheet.png", full_page=True)

        # -- printed at the counter: GB18030 text read back from the printer's bytes ----------
        wait_for(lambda: len(h["counter"].printed_jobs()) == 1)
        data = h["counter"].printed_jobs()[0].data
        lines = text_lines(data)
        printed = "".join(lines)
        assert "交接班记录" in lines and "班次：早班" in lines and "当班：张三、李四" in lines
        for title in ("【未办结报事投诉（1）】", "【钥匙借出未还（1）】", "【待取快递/邮件（1）】", "【装修登记到期（1）】",
                      "【今日自助缴费（扫码）（1）】"):
            assert title in lines, lines
        for text in ("入户门钥匙", "借用人 王*", "货架 A-03", "7-2-301 装修", filed["tracking_no"][:3]):
            assert text in printed
        assert "现金实点" in printed and "现金差额：短款 ￥0.50" in lines and "接班人：____________（签字）" in lines
        assert "重打" not in printed and "13812345678" not in printed and "张三丰" not in printed
        assert "交接班记录".encode("gb18030") in data

        # -- kept at the centre -----------------------------------------------------------------
        wait_for(lambda: h["store"].query("SELECT count(*) AS n FROM records WHERE kind = 'handover'")[0]["n"] == 1)
        admin = browser.new_page(viewport={"width": 1600, "height": 900})
        admin.goto(h["centre"].url + "login")
        admin.fill("#username", "admin")
        admin.fill("#password", ADMIN_PASSWORD)
        admin.click("button[type=submit]")
        admin.wait_for_selector("text=交接班 · Handovers →")
        admin.click("text=交接班 · Handovers →")
        admin.wait_for_selector("table.handovers tr.handover")
        row = admin.inner_text("table.handovers tr.handover")
        assert "早班" in row and "张三、李四" in row and "短款" in row and "未签收" in row
        admin.click("table.handovers summary")
        assert "货架 A-03" in admin.inner_text("table.handovers")
        admin.screenshot(path=SHOTS / "5-centre.png", full_page=True)

        # -- the next shift leaves it unacknowledged past 30 minutes ---------------------------
        page.goto(url + "handover/")
        page.fill("#open-form input[name=label]", "中班")
        page.fill("#open-form input[name=staff]", "王五")
        page.click("#open-form button")
        page.wait_for_selector(".ho-card.current")
        assert page.locator(".ho-card.pending").count() == 1
        alarm_id = f"handover.{shift['id']}"

        def active() -> bool:
            return bool(rows(agent, "SELECT 1 FROM alarms WHERE id = ? AND state LIKE 'ACTIVE%'", [alarm_id]))

        clock.advance(29 * 60)
        assert agent.handover.check() == [] and not active()
        clock.advance(2 * 60)
        wait_for(active)
        page.goto(url + "handover/")
        page.wait_for_selector(".ho-overdue")
        assert "交接单未签收：早班" in page.inner_text("section.alarms")
        page.screenshot(path=SHOTS / "4-overdue.png", full_page=True)

        # -- acknowledged: the alarm clears; once only -------------------------------------------
        page.click(".ho-card.pending a")
        page.wait_for_selector("#ack-form")
        page.fill("#ack-form input[name=name]", "王五")
        page.click("#ack-form button")
        page.wait_for_selector("#acked")
        assert "王五" in page.inner_text("#acked")
        wait_for(lambda: not active())
        again = page.evaluate("""(url) => {
            const body = new URLSearchParams({name: "赵六", from: "sheet"});
            body.set("csrf_token", document.querySelector("input[name=csrf_token]").value);
            return fetch(url, {method: "POST", body}).then(async r => [r.status, await r.text()]);
        }""", f"{url}handover/{shift['id']}/ack")
        assert again[0] == 422 and "不能重复签收" in again[1]
        [row] = rows(agent, "SELECT acked_by, acked_user FROM shifts WHERE id = ?", [shift["id"]])
        assert row == {"acked_by": "王五", "acked_user": "staff"}
        # Printed again: marked a reprint, with who signed for it.
        page.click("#print-form button")
        said = "document.body.innerText.includes('交接单已送') || document.body.innerText.includes('交接单未打出')"
        page.wait_for_function(said, timeout=60000)  # either outcome, said on the page
        assert "（重打）" in page.inner_text("body"), page.inner_text("body")[:500]
        wait_for(lambda: len(h["counter"].printed_jobs()) == 2)
        reprint = text_lines(h["counter"].printed_jobs()[1].data)
        assert "重打 REPRINT" in reprint and any(x.startswith("接班人：王五（") for x in reprint)
        page.screenshot(path=SHOTS / "6-acknowledged.png", full_page=True)
        wait_for(lambda: h["store"].query("SELECT count(*) AS n FROM records WHERE kind = 'handover'")[0]["n"] == 2)
    finally:
        page.close()


def test_a_kiosk_cannot_print_a_handover_sheet(mini, broker):
    """The sheet is the staff's: a kiosk login asking for one is refused, nothing spooled."""
    printer = mini.printer(None)
    agent = mini.edge(printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port, "timeout": 1}])
    kiosk = broker.client("kiosk-01", kind="kiosk")
    job = str(uuid.uuid4())
    with pytest.raises(RequestFailed) as err:
        kiosk.request("print", {"job": job, "template": "handover_sheet", "fields": {}})
    assert err.value.code == "bad_request" and "staff console only" in err.value.message
    assert agent.printing.spool.get(job) is None and printer.jobs == []


def test_a_sheet_that_could_not_print_prints_later_as_the_original(mini):
    """Paper out at the close: the sheet is saved all the same, and once paper is back the
    first sheet on paper is the original, the next one a reprint."""
    from hall_common.escpos_status import PrinterStatus

    counter = mini.printer("counter-paper", status=PrinterStatus(online=True, paper="out"))
    agent = mini.edge(printers=[{"id": "counter-1", "host": "127.0.0.1", "port": counter.port, "timeout": 1}])
    wait_for(lambda: agent.printing.workers["counter-1"].status is not None)
    handover = agent.handover
    shift = handover.open_shift(label="夜班", staff="赵六", who="staff")
    handover.close_shift(shift["id"], who="staff", cash_counted="0", cash_expected="0")
    assert handover.print_sheet(shift["id"], "counter-1")["status"] == "failed"
    assert handover.shift(shift["id"])["sheet"] is not None and counter.printed_jobs() == []
    counter.set_state(PrinterStatus(online=True))
    wait_for(lambda: agent.printing.workers["counter-1"].can_print)
    first = handover.print_sheet(shift["id"], "counter-1")
    assert not first["reprint"]
    wait_for(lambda: len(counter.printed_jobs()) == 1)
    assert "重打" not in "".join(text_lines(counter.printed_jobs()[0].data))
    assert handover.print_sheet(shift["id"], "counter-1")["reprint"]
    wait_for(lambda: len(counter.printed_jobs()) == 2)
    assert "重打 REPRINT" in text_lines(counter.printed_jobs()[1].data)
    with pytest.raises(HandoverRefused) as err:
        handover.print_sheet(shift["id"], "printer-9")
    assert err.value.field == "printer"
