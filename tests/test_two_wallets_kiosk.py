"""One bill, two wallets, on a real hall (broker, edge agent, centre with the WeChat-shaped
sandbox and its Alipay twin, kiosk in Chromium, virtual ESC/POS printer): the kiosk shows
both codes side by side, each under its wallet's name; paying with the Alipay code (its
sandbox page, as the phone would open it) makes the kiosk say paid and print the receipt;
and paying with both codes credits once, refunds the second payment through Alipay's
refund, and the paid screen and the printed receipt say so."""

from __future__ import annotations

import ast

import pytest

from central_sync.server.payments.sandbox_alipay import AlipaySandbox
from central_sync.server.resident_demo import load_demo
from central_sync.signing import public_key_b64
from hall_common.config import CameraConfig
from kiosk.camera import camera_from

from .conftest import HALL, wait_for
from .minihall import SETTINGS
from .screens import check_screen, kiosk_session
from .test_bill_payment import SHOTS, hall, identify_and_choose, pay_on_phone, receipt_lines  # noqa: F401 (fixture)


def codes_of(page, h) -> dict[str, str]:
    session = ast.literal_eval(kiosk_session(page, h["kiosk"]))
    return {c["wallet"]: c["code_url"] for c in session["payment"]["codes"]}


def test_the_kiosk_shows_both_codes_and_the_alipay_code_pays(hall, browser):
    h = hall
    page = identify_and_choose(h, browser)
    page.click(".pay-button")
    page.wait_for_selector(".pay-code.wallet-alipay svg")
    names = page.locator(".pay-code .wallet-name").all_inner_texts()
    assert [" ".join(n.split()) for n in names] == ["微信支付 WeChat Pay", "支付宝 Alipay"]
    box = page.locator(".pay-code.wallet-alipay .pay-qr svg").bounding_box()
    assert box["width"] >= 400 and box["height"] >= 400  # scanned at arm's length
    assert "微信或支付宝" in page.inner_text(".instruction")
    check_screen(page, SHOTS, "5-two-codes")
    codes = codes_of(page, h)
    assert set(codes) == {"sandbox", "alipay"} and "/sandbox/alipay/pay/" in codes["alipay"]
    # the edge long-polls the payment through its first order alone: one of the centre's
    # threads per payment, not one per code (two held each open code's thread until expiry)
    lead = ast.literal_eval(kiosk_session(page, h["kiosk"]))["payment"]["order_id"]
    payments = h["centre"].app.extensions["payments"]
    wait_for(lambda: payments.signals.watched() == {lead})
    pay_on_phone(browser, codes["alipay"])  # the Alipay code, as the phone opens it
    page.wait_for_selector(".paid-banner")
    assert "已支付：¥ 344.20" in page.inner_text(".paid-banner")
    page.wait_for_selector(".receipt-state[data-done='printed']")
    [ali] = h["store"].query("SELECT * FROM payment_orders WHERE provider = 'alipay'")
    assert ali["status"] == "paid" and ali["pair_of"] is not None
    text = "\n".join(receipt_lines(h["printer"]))
    assert "344.20" in text and ali["out_trade_no"] in text and "退回" not in text, text
    assert page.locator(".refund-note").count() == 0
    # the WeChat code of the same lines is closed at once (the centre sweeps at 1 h here),
    # at its provider too, and the edge's poll of the pair ends; the lines were paid once
    wait_for(lambda: h["store"].scalar("SELECT status FROM payment_orders WHERE provider = 'sandbox'") == "closed")
    wx = h["store"].scalar("SELECT out_trade_no FROM payment_orders WHERE provider = 'sandbox'")
    assert payments.provider.query_order(wx).trade_state == "CLOSED"
    wait_for(lambda: not payments.signals.watched())
    assert h["store"].scalar("SELECT count(*) FROM payment_events WHERE kind = 'paid'") == 1


def test_both_codes_paid_one_credit_the_second_refunded_and_the_receipt_says_so(hall, browser):
    h = hall
    page = identify_and_choose(h, browser)
    page.click(".pay-button")
    page.wait_for_selector(".pay-code.wallet-alipay svg")
    pay = ast.literal_eval(kiosk_session(page, h["kiosk"]))["payment"]
    page.goto("about:blank")  # the resident holds two phones; the screen looks again after both paid
    payments = h["centre"].app.extensions["payments"]
    twin = next(s for s in payments.sandboxes if isinstance(s, AlipaySandbox))
    orders = {r["provider"]: r for r in h["store"].query("SELECT * FROM payment_orders")}
    payments.provider.pay(orders["sandbox"]["out_trade_no"])  # WeChat first ...
    wait_for(lambda: h["store"].scalar("SELECT status FROM payment_orders WHERE provider = 'sandbox'") == "paid")
    twin.pay(orders["alipay"]["out_trade_no"])  # ... then Alipay for the same lines
    wait_for(lambda: h["store"].scalar("SELECT status FROM payment_refunds") == "confirmed")
    [refund] = h["store"].query("SELECT * FROM payment_refunds")
    assert (refund["order_id"], refund["provider"], int(refund["amount_fen"]), refund["reason"]) == (
        orders["alipay"]["id"], "alipay", 34420, "paid twice")
    assert twin.trade(orders["alipay"]["out_trade_no"]).refunds == {refund["out_refund_no"]: 34420}
    assert {(r["status"], str(r["order_id"])) for r in h["store"].query(
        "SELECT status, order_id FROM bill_lines WHERE room = '3-2-1201' AND item IN ('车位管理费', '水费')")} == {
        ("paid", orders["sandbox"]["id"])}
    assert h["store"].scalar("SELECT count(*) FROM payment_events WHERE kind = 'paid'") == 1
    # the edge has heard of the refund from the centre
    desk = h["agent"].payments
    wait_for(lambda: desk._pair(desk._row(pay["order_id"])).get("refund_fen") == 34420)
    page.goto(h["kiosk"].url + "bills/pay/done")
    page.wait_for_selector(".paid-banner")
    note = page.inner_text(".refund-note")
    assert "支付宝 ¥ 344.20" in note and "退回" in note, note
    page.wait_for_selector(".receipt-state[data-done='printed']")
    check_screen(page, SHOTS, "6-paid-twice")
    text = "\n".join(receipt_lines(h["printer"])).replace("￥", "¥")  # the printer's full-width yuan sign
    assert orders["sandbox"]["out_trade_no"] in text and "重复支付：支付宝的 ¥344.20 正在原路退回" in text, text
    assert "Paid twice: Alipay ¥344.20 is being refunded" in text, text


@pytest.fixture
def one_wallet_hall(mini, tmp_path):
    """A hall whose centre offers WeChat Pay only (the sandbox without its Alipay twin)."""
    centre, store, token = mini.registered_centre(payments={"providers": ["sandbox"]})
    load_demo(store, HALL)
    agent = mini.edge(centre_url=centre.url, token=token)
    key = centre.app.extensions["config_key"]
    kiosk, app = mini.kiosk(settings=SETTINGS, test_config={"RESIDENT_PUBLIC_KEY": public_key_b64(key), "CAMERA_SCAN_S": 2})
    photos = tmp_path / "camera"
    photos.mkdir()
    app.extensions["camera"] = camera_from(CameraConfig(kind="images", images_dir=str(photos), scan_s=2))
    wait_for(lambda: app.extensions["hall_status"].snapshot().centre_up)
    yield {"mini": mini, "centre": centre, "agent": agent, "kiosk": kiosk, "app": app, "key": key, "photos": photos,
           "store": store}


def test_a_centre_offering_one_wallet_shows_one_code(one_wallet_hall, browser):
    h = one_wallet_hall
    page = identify_and_choose(h, browser, ("水费",))
    page.click(".pay-button")
    page.wait_for_selector(".pay-code svg")
    assert page.locator(".pay-code").count() == 1 and page.locator(".pay-codes.two").count() == 0
    assert " ".join(page.inner_text(".pay-code .wallet-name").split()) == "微信支付 WeChat Pay"
    assert "请用手机微信扫码" in page.inner_text(".instruction")
    assert [r["provider"] for r in h["store"].query("SELECT provider FROM payment_orders")] == ["sandbox"]
    assert list(codes_of(page, h)) == ["sandbox"]
