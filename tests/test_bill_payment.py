"""Paying bills at the kiosk, end to end on a real broker, edge agent, centre (SQLite, its
sandbox payment provider) and virtual ESC/POS printer: identify by a QR image in the
simulated camera's folder, choose lines, pay on the sandbox's phone page, see "paid" on the
kiosk, find the receipt's bytes at the printer; the household wiped from the session after
payment; a payment that lands after the resident left printed at the counter from the staff
console (original first, then marked reprint); an expired order told as such; and the
edge refusing amounts, other rooms' lines and other kiosks' orders."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import segno

from central_sync.server.resident_demo import load_demo
from central_sync.signing import public_key_b64
from hall_common import resident_qr
from hall_common.config import CameraConfig
from hall_common.errors import RequestFailed
from kiosk.camera import camera_from
from simulators.escpos_parse import text_lines
from simulators.printer import VirtualPrinter

from .conftest import HALL, wait_for
from .minihall import SETTINGS
from .screens import check_screen, kiosk_page, kiosk_session, staff_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "payment"


@pytest.fixture
def hall(mini, tmp_path):
    printer = mini.printer()
    counter = mini.printer("counter-paper")
    # No sweep at an interval: only a paid code's nudge sweeps (the other code closed at once)
    centre, store, token = mini.registered_centre(payments={"sweep_s": 3600})
    load_demo(store, HALL)
    agent = mini.edge(centre_url=centre.url, token=token,
                      printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port, "timeout": 1,
                                 "serves": ["kiosk-01"]},
                                {"id": "counter-1", "host": "127.0.0.1", "port": counter.port, "timeout": 1,
                                 "serves": ["counter-1"]}])
    key = centre.app.extensions["config_key"]
    settings = {**SETTINGS, "printer": "printer-1"}
    kiosk, app = mini.kiosk(settings=settings, test_config={"RESIDENT_PUBLIC_KEY": public_key_b64(key), "CAMERA_SCAN_S": 2})
    photos = tmp_path / "camera"
    photos.mkdir()
    app.extensions["camera"] = camera_from(CameraConfig(kind="images", images_dir=str(photos), scan_s=2))
    wait_for(lambda: app.extensions["hall_status"].snapshot().centre_up)
    wait_for(lambda: app.extensions["hall_status"].snapshot().printer_ok)
    yield {"mini": mini, "centre": centre, "agent": agent, "kiosk": kiosk, "app": app, "key": key, "photos": photos,
           "store": store, "printer": printer, "counter": counter, "tmp": tmp_path}


def identify_and_choose(h, browser, items: tuple[str, ...] = ("车位管理费", "水费")):
    """Scan 3-2-1201's resident code and tick ``items``; the page, on the bills screen."""
    page = kiosk_page(browser, h["kiosk"].url + "bills/")
    segno.make_qr(resident_qr.issue(h["key"], hall=HALL, room="3-2-1201", expires=time.time() + 600), error="m") \
        .save(str(h["photos"] / "resident.png"), scale=8, border=4)
    page.click("button:has-text('扫描住户二维码')")
    page.wait_for_selector(".bill-line")
    assert page.is_disabled(".pay-button")  # nothing chosen yet
    for n, item in enumerate(items, 1):
        page.click(f".bill-line:has-text('{item}') .bill-pick")
        page.wait_for_function(f"document.querySelectorAll('.bill-line.picked').length == {n}")
    return page


def pay_on_phone(browser, code_url: str) -> None:
    """The resident's phone: the sandbox's pay page, one tap."""
    phone = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True)
    phone.goto(code_url)
    phone.click("button")
    phone.wait_for_selector("text=支付成功")
    phone.close()


def receipt_lines(printer: VirtualPrinter) -> list[str]:
    wait_for(lambda: len(printer.printed_jobs()) >= 1, timeout=10)
    return text_lines(printer.printed_jobs()[-1].data)


def test_identify_pay_on_the_phone_see_paid_and_take_the_receipt(hall, browser):
    h = hall
    page = identify_and_choose(h, browser)
    assert page.inner_text(".total") == "¥ 344.20"
    page.click(".pay-button")
    page.wait_for_selector(".pay-screen svg")
    assert page.inner_text(".amount") == "¥ 344.20" and "2 项" in page.inner_text(".pay-facts")
    check_screen(page, SHOTS, "1-pay-qr")
    session = kiosk_session(page, h["kiosk"])
    code_url = session.split("'code_url': '")[1].split("'")[0]
    assert "/sandbox/pay/" in code_url and "34420" not in code_url
    # Nothing is printed before the money comes.
    assert h["printer"].printed_jobs() == []
    # Without a phone: the sandbox's list of open codes links to the same pay page.
    phone = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True)
    phone.goto(h["centre"].url + "sandbox/pay/")
    assert phone.inner_text("main").count("¥344.20") == 1
    phone.screenshot(path=SHOTS / "0-sandbox-list.png", full_page=True)
    phone.click("a:has-text('¥344.20')")
    assert phone.url == code_url
    phone.click("button")
    phone.wait_for_selector("text=支付成功")
    page.wait_for_selector(".paid-banner")
    assert "已支付：¥ 344.20" in page.inner_text(".paid-banner")
    page.wait_for_selector(".receipt-state[data-done='printed']")
    assert "收据已打印" in page.inner_text(".receipt-state")
    check_screen(page, SHOTS, "2-paid")
    lines = receipt_lines(h["printer"])
    text = "\n".join(lines)
    assert "3-2-1201" in text and "车位管理费" in text and "水费" in text and "344.20" in text, text
    assert "重打" not in text and "张三" not in text and "5678" not in text
    order = h["store"].query("SELECT * FROM payment_orders WHERE pair_of IS NULL")[0]
    assert order["status"] == "paid" and order["out_trade_no"] in text
    # Paid lines are settled at the centre once; the household has left the session.
    statuses = {r["item"]: r["status"] for r in h["store"].query(
        "SELECT item, status FROM bill_lines WHERE room = '3-2-1201'")}
    assert statuses["车位管理费"] == "paid" and statuses["水费"] == "paid" and statuses["物业费"] == "unpaid"
    session = kiosk_session(page, h["kiosk"])
    assert "3-2-1201" not in session and "bills" not in session and "code_url" not in session
    page.goto(h["kiosk"].url + "bills/list")
    page.wait_for_selector("text=扫描住户二维码")  # back to "who are you?"
    # Reloading the paid page does not print a second receipt.
    page.goto(h["kiosk"].url + "bills/pay/done")
    page.wait_for_selector(".receipt-state")
    time.sleep(0.5)
    assert len(h["printer"].printed_jobs()) == 1


def test_a_payment_after_the_resident_left_is_printed_at_the_counter(hall, browser):
    h = hall
    page = identify_and_choose(h, browser, ("水费",))
    page.click(".pay-button")
    page.wait_for_selector(".pay-screen svg")
    code_url = kiosk_session(page, h["kiosk"]).split("'code_url': '")[1].split("'")[0]
    page.click("a:has-text('返回')")
    page.wait_for_selector(".bill-line")
    page.goto(h["kiosk"].url + "session/end")  # the resident walks away
    pay_on_phone(browser, code_url)             # ... and pays on the way out
    agent = h["agent"]
    wait_for(lambda: agent.payments.recent()[0]["status"] == "paid")
    assert h["printer"].printed_jobs() == []  # nobody is at the kiosk to take it
    # The staff console lists it and prints it at the counter: an original, then a reprint.
    console = h["mini"].console(agent, printing=agent.printing, payments=agent.payments)
    staff = staff_page(browser, console.url + "payments/")
    row = staff.inner_text("tr.order")
    assert "3-2-1201" in row and "¥44.20" in row and "已支付" in row and "未打印" in row
    staff.select_option("tr.order select[name=printer]", "counter-1")
    staff.click("tr.order button:has-text('打印收据')")
    staff.wait_for_selector("text=收据已送 counter-1")
    first = "\n".join(receipt_lines(h["counter"]))
    assert "44.20" in first and "3-2-1201" in first and "重打" not in first
    # The bytes reach the printer before the edge has asked it how the job went: wait for
    # the job to be marked printed, then look at the page again.
    receipt_job = agent.payments.recent()[0]["receipt_job"]
    wait_for(lambda: (agent.printing.view(receipt_job) or {}).get("status") == "printed")
    staff.goto(console.url + "payments/")
    staff.wait_for_selector("tr.order:has-text('已打印')")
    staff.screenshot(path=SHOTS / "4-console-payments.png", full_page=True)  # staff's desk, not the kiosk's rules
    staff.select_option("tr.order select[name=printer]", "counter-1")
    staff.click("tr.order button:has-text('重打收据')")
    wait_for(lambda: len(h["counter"].printed_jobs()) == 2)
    assert "重打" in "\n".join(text_lines(h["counter"].printed_jobs()[1].data))
    # An unpaid order has no receipt.
    assert h["printer"].printed_jobs() == []


def test_an_expired_order_is_told_and_nothing_is_charged(hall, browser):
    h = hall
    page = identify_and_choose(h, browser, ("水费",))
    page.click(".pay-button")
    page.wait_for_selector(".pay-screen svg")
    payments = h["centre"].app.extensions["payments"]
    payments.clock = lambda: time.time() + 3600
    payments.sweep()
    page.wait_for_selector("text=付款码已过期")
    assert "没有扣款" in page.inner_text("main")
    check_screen(page, SHOTS, "3-expired")
    assert h["store"].query("SELECT status FROM payment_orders")[0]["status"] == "closed"
    assert h["printer"].printed_jobs() == []


def test_the_edge_refuses_amounts_other_rooms_and_other_kiosks_orders(hall):
    h = hall
    agent, store = h["agent"], h["store"]
    mine = [str(r["id"]) for r in store.query("SELECT id FROM bill_lines WHERE room = '3-2-1201' AND status = 'unpaid'")]
    theirs = [str(r["id"]) for r in store.query("SELECT id FROM bill_lines WHERE room = '3-2-1202' AND status = 'unpaid'")]
    desk = agent.payments

    def refused(args: dict, requester: str = "kiosk-01") -> str:
        with pytest.raises(RequestFailed) as exc:
            desk.answer("pay", requester, args)
        return exc.value.code if exc.value.code != "bad_request" else exc.value.message.split(":")[1].strip()

    # An amount never leaves the hall; arguments that do not fit are refused naming the field.
    assert refused({"room": "3-2-1201", "bill_ids": mine, "amount_fen": 1}) == "amount_fen"
    assert refused({"room": "3-2-1201", "bill_ids": mine, "total": 1}) == "total"
    assert refused({"room": "3-2-1201", "bill_ids": theirs}) == "unknown_lines"
    assert refused({"room": "3-2-1201", "bill_ids": mine + theirs[:1]}) == "unknown_lines"
    assert refused({"room": "3-2-1201", "bill_ids": []}) == "bill_ids"
    assert refused({"room": "3-2-1201", "bill_ids": ["1; DROP TABLE bill_lines"]}) == "bill_ids.0"
    assert refused({"room": "../1201", "bill_ids": mine}) == "room"
    assert store.query("SELECT count(*) AS n FROM payment_orders")[0]["n"] == 0
    made = desk.answer("pay", "kiosk-01", {"room": "3-2-1201", "bill_ids": mine[:1]})
    assert made["amount_fen"] > 0
    # The same lines again, while that order is open: refused at the centre.
    assert refused({"room": "3-2-1201", "bill_ids": mine[:1]}, requester="kiosk-02") == "locked"
    # Another kiosk cannot see or print this order.
    for method, args in (("payment_status", {"order_id": made["order_id"]}),
                         ("payment_receipt", {"order_id": made["order_id"], "job": str(uuid.uuid4())})):
        with pytest.raises(RequestFailed) as exc:
            desk.answer(method, "kiosk-02", args)
        assert exc.value.code == "not_found"
    # Not paid: no receipt.
    with pytest.raises(RequestFailed) as exc:
        desk.answer("payment_receipt", "kiosk-01", {"order_id": made["order_id"], "job": str(uuid.uuid4())})
    assert exc.value.code == "not_paid"


def test_the_kiosk_learns_of_a_payment_over_the_bus(hall):
    """The watch wakes on the edge's outcome message, not by polling the centre."""
    h = hall
    watch = h["app"].extensions["payments"]
    mine = [str(r["id"]) for r in h["store"].query("SELECT id FROM bill_lines WHERE room = '3-2-1201' AND status = 'unpaid'")]
    made = h["agent"].payments.answer("pay", "kiosk-01", {"room": "3-2-1201", "bill_ids": mine[:1]})
    assert watch.status(made["order_id"]) is None
    sandbox = h["centre"].app.extensions["payments"].provider
    sandbox.pay(made["out_trade_no"])
    assert watch.wait(made["order_id"], 10) == "paid"
    assert watch.status(made["order_id"]) == "paid"  # it came as a message, and is kept


def test_a_tampered_pay_form_pays_only_what_the_visit_chose(hall, browser):
    """An amount or another household's line id posted to the kiosk is not used: the order
    is for this visit's ticked lines, summed at the centre."""
    h = hall
    page = identify_and_choose(h, browser, ("水费",))
    theirs = str(h["store"].query("SELECT id FROM bill_lines WHERE room = '3-2-1202' AND status = 'unpaid'")[0]["id"])
    page.evaluate("""([theirs]) => {
        const body = new URLSearchParams({amount_fen: "1", total: "1", bill_ids: theirs, line: theirs});
        body.set("csrf_token", document.querySelector("input[name=csrf_token]").value);
        return fetch("/bills/pay/", {method: "POST", body, headers: {"X-Kiosk-Nav": "1"}});
    }""", [theirs])
    [order] = h["store"].query("SELECT * FROM payment_orders WHERE pair_of IS NULL")  # and its Alipay second code
    assert order["amount_fen"] == 4420 and order["room"] == "3-2-1201"
    assert [(r["amount_fen"], r["provider"]) for r in h["store"].query("SELECT * FROM payment_orders WHERE pair_of = ?",
                                                                        (order["id"],))] == [(4420, "alipay")]
    lines = [r["line_id"] for r in h["store"].query("SELECT line_id FROM payment_order_lines WHERE order_id = ?",
                                                    (order["id"],))]
    assert [str(x) for x in lines] != [theirs] and len(lines) == 1
    # With nothing ticked, the kiosk asks for a choice and makes no order.
    page.goto(h["kiosk"].url + "bills/list")
    page.click(".bill-line.picked .bill-pick")
    page.wait_for_function("document.querySelectorAll('.bill-line.picked').length == 0")
    page.evaluate("""() => {
        const body = new URLSearchParams();
        body.set("csrf_token", document.querySelector("input[name=csrf_token]").value);
        return fetch("/bills/pay/", {method: "POST", body, headers: {"X-Kiosk-Nav": "1"}});
    }""")
    page.goto(h["kiosk"].url + "bills/list")
    assert "请至少选择一项再缴费" in page.inner_text(".result.bad")
    assert len(h["store"].query("SELECT * FROM payment_orders")) == 2  # the one payment's two codes only
