"""Alipay 当面付 beside WeChat Pay, on the centre's real app: the real AlipayPay
(python-alipay-sdk, RSA2) talking to the sandbox's Alipay-shaped gateway; notifications
believed only when signed by "Alipay", fresh, ours and for the order's amount, and applied
once (20 at once, SQLite and PostgreSQL); query before close on expiry; refunds full and
partial, each confirmed; forged refund notifications change nothing (both wallets)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from central_sync.server.payments import alipay, wechat
from central_sync.server.payments.provider import NotificationRefused, ProviderUnavailable
from central_sync.server.payments.sandbox_alipay import AlipaySandbox
from hall_common.config import PaymentsConfig

from .test_payments import Centre, close_centre, http, make_centre, paid_events

ROOM = "3-2-1201"


@pytest.fixture
def centre(tmp_path):
    c = make_centre(tmp_path, f"sqlite:///{tmp_path}/central.db")
    yield c
    close_centre(c)


@pytest.fixture
def served_centre(central_db, tmp_path):
    """The centre on a real HTTP server, on SQLite and on a real PostgreSQL."""
    from .minihall import Served

    c = make_centre(tmp_path, central_db)
    c.served = Served(c.app)
    yield c
    close_centre(c)


def twin(c: Centre) -> AlipaySandbox:
    return next(s for s in c.payments.sandboxes if isinstance(s, AlipaySandbox))


def wallet(c: Centre):
    return c.payments.providers["alipay"]


def alipay_order(c: Centre, n: int | None = None) -> dict[str, Any]:
    ids = list(c.unpaid(ROOM))[:n]
    r = c.order({"room": ROOM, "bill_ids": ids, "kiosk": "kiosk-01", "provider": "alipay"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def notify(c: Centre, body: bytes) -> tuple[int, str]:
    r = c.app.test_client().post("/api/v1/payments/notify/alipay", data=body,
                                 content_type="application/x-www-form-urlencoded; charset=utf-8")
    return r.status_code, r.get_data(as_text=True)


def paid_order(c: Centre, n: int | None = None) -> dict[str, Any]:
    made = alipay_order(c, n)
    twin(c).pay(made["out_trade_no"], deliver=False)
    assert notify(c, twin(c).notification(made["out_trade_no"])) == (200, "success")
    return made


# -- orders ----------------------------------------------------------------------------------


def test_precreate_gives_the_qr_code_url_and_the_sdk_signs_what_the_gateway_checks(centre):
    c = centre
    assert list(c.payments.providers) == ["sandbox", "alipay"]
    unpaid = c.unpaid(ROOM)
    made = alipay_order(c)
    assert made["amount_fen"] == sum(unpaid.values())
    assert made["code_url"].endswith(f"/sandbox/alipay/pay/{made['out_trade_no']}")
    trade = twin(c).trade(made["out_trade_no"])
    assert trade is not None and trade.order.amount_fen == made["amount_fen"] and trade.state == "NOTPAY"
    assert trade.order.notify_url.endswith("/api/v1/payments/notify/alipay")
    assert twin(c).calls == [("alipay.trade.precreate", made["out_trade_no"])]
    row = c.store.query("SELECT provider, status FROM payment_orders WHERE id = ?", (made["order_id"],))[0]
    assert (row["provider"], row["status"]) == ("alipay", "created")
    # the gateway refuses a request signed with another app key: the SDK raises, nothing is made
    stranger = twin(c).impostor()
    other = alipay.AlipayPay(app_id=twin(c).app_id, seller_id=twin(c).seller_id, app_private_key_pem=stranger.app_private_key_pem,
                             alipay_public_key_pem=twin(c).alipay_public_key_pem,
                             gateway="http://x.invalid/gateway.do",
                             transport=lambda url: twin(c).gateway(urllib.parse.urlsplit(url).query))
    with pytest.raises(ProviderUnavailable):
        other.query_order(made["out_trade_no"])
    # and a reply signed by someone else than "Alipay" is not believed
    forged = alipay.AlipayPay(app_id=twin(c).app_id, seller_id=twin(c).seller_id, app_private_key_pem=twin(c).app_private_key_pem,
                              alipay_public_key_pem=stranger.alipay_public_key_pem,
                              transport=lambda url: twin(c).gateway(urllib.parse.urlsplit(url).query))
    with pytest.raises(ProviderUnavailable, match="does not verify"):
        forged.query_order(made["out_trade_no"])
    assert c.order({"room": ROOM, "bill_ids": list(unpaid), "provider": "paypal"}).status_code == 422
    assert c.order({"room": ROOM, "bill_ids": list(unpaid), "provider": ["alipay"]}).status_code == 422
    r = c.order({"room": ROOM, "bill_ids": list(unpaid), "provider": "wechat"})  # a wallet, not offered by this centre
    assert r.status_code == 409 and r.get_json()["code"] == "provider_not_offered"


# -- notifications -----------------------------------------------------------------------------


def test_a_genuine_notification_is_accepted_once_and_credits(centre):
    c = centre
    made = alipay_order(c)
    twin(c).pay(made["out_trade_no"], deliver=False)
    body = twin(c).notification(made["out_trade_no"])
    assert notify(c, body) == (200, "success")
    assert c.unpaid(ROOM) == {} and paid_events(c, made["order_id"]) == 1
    row = c.store.query("SELECT status, transaction_id FROM payment_orders WHERE id = ?", (made["order_id"],))[0]
    assert row["status"] == "paid" and row["transaction_id"] == twin(c).trade(made["out_trade_no"]).transaction_id
    before = c.snapshot()
    assert notify(c, body) == (200, "success")  # replayed: answered so Alipay stops, nothing changes
    c.clock.advance(60)
    assert notify(c, twin(c).notification(made["out_trade_no"])) == (200, "success")  # Alipay's own retry
    assert c.snapshot() == before


def _resigned_by_a_stranger(c: Centre, no: str) -> bytes:
    return twin(c).impostor().notification(no)


def _edited_after_signing(c: Centre, no: str) -> bytes:
    fields = dict(urllib.parse.parse_qsl(twin(c).notification(no).decode()))
    fields["total_amount"] = "0.01"
    return urllib.parse.urlencode(fields).encode()


def _unsigned(c: Centre, no: str) -> bytes:
    fields = dict(urllib.parse.parse_qsl(twin(c).notification(no).decode()))
    del fields["sign"]
    return urllib.parse.urlencode(fields).encode()


FORGERIES = {
    "signature": _resigned_by_a_stranger,
    "edited": _edited_after_signing,
    "unsigned": _unsigned,
    "amount": lambda c, no: twin(c).notification(no, total_amount="0.01"),
    "amount_junk": lambda c, no: twin(c).notification(no, total_amount="NaN"),
    "app_id": lambda c, no: twin(c).notification(no, app_id="2021000000009999"),
    "seller_id": lambda c, no: twin(c).notification(no, seller_id="2088000000009999"),
    "stale": lambda c, no: twin(c).notification(no, notify_time=alipay.china_time(c.clock() - alipay.MAX_AGE_S - 1)),
    "future": lambda c, no: twin(c).notification(no, notify_time=alipay.china_time(c.clock() + alipay.MAX_AHEAD_S + 1)),
    "not_paid": lambda c, no: twin(c).notification(no, trade_status="WAIT_BUYER_PAY"),
    "unknown_order": lambda c, no: twin(c).notification(no, out_trade_no="HP20260101000000ffffffffffffff"),
    "not_a_form": lambda c, no: b"\xff\xfe{}",
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_notification_that_is_not_believed_changes_nothing(centre, forgery):
    c = centre
    made = alipay_order(c)
    twin(c).pay(made["out_trade_no"], deliver=False)
    before = c.snapshot()
    status, text = notify(c, FORGERIES[forgery](c, made["out_trade_no"]))
    assert status >= 400 and text == "fail"
    assert c.snapshot() == before and paid_events(c, made["order_id"]) == 0


def test_the_same_notification_twenty_times_at_once_credits_once(served_centre):
    c = served_centre
    made = alipay_order(c)
    twin(c).pay(made["out_trade_no"], deliver=False)
    body = twin(c).notification(made["out_trade_no"])
    answers: list[tuple[int, Any]] = []
    start = threading.Barrier(20)

    def send() -> None:
        start.wait()
        answers.append(http(c, "POST", "/api/v1/payments/notify/alipay", raw=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 20 and all(a == (200, "success") for a in answers)
    assert paid_events(c, made["order_id"]) == 1
    assert c.store.scalar("SELECT status FROM payment_orders WHERE id = ?", (made["order_id"],)) == "paid"
    assert c.unpaid(ROOM) == {}


def test_the_sandbox_page_pays_by_alipay_and_the_notification_comes_over_http(served_centre):
    c = served_centre
    token = {"Authorization": f"Bearer {c.tokens['h1']}"}
    status, made = http(c, "POST", "/api/v1/payments/orders",
                        {"room": ROOM, "bill_ids": list(c.unpaid(ROOM)), "provider": "alipay"}, token)
    assert status == 201 and made["code_url"].startswith(c.served.url.rstrip("/") + "/sandbox/alipay/pay/")
    path = urllib.parse.urlsplit(made["code_url"]).path
    status, page = http(c, "GET", path)
    assert status == 200 and "确认支付" in page and "Alipay" in page
    status, page = http(c, "POST", path, raw=b"", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "支付成功" in page
    assert c.get(made["order_id"], wait=25).get_json()["status"] == "paid"
    assert c.unpaid(ROOM) == {} and paid_events(c, made["order_id"]) == 1
    # the gateway over HTTP is the same function
    status, reply = http(c, "GET", "/sandbox/alipay/gateway.do?method=alipay.trade.query")
    assert status == 200 and reply["error_response"]["sub_code"] == "isv.invalid-signature"


def test_the_alipay_sandbox_page_on_a_phone(served_centre, browser):
    """What a phone shows after scanning the Alipay code (the sandbox's stand-in for
    Alipay's own sheet), looked at in Chromium."""
    from pathlib import Path

    from .conftest import wait_for

    c = served_centre
    token = {"Authorization": f"Bearer {c.tokens['h1']}"}
    status, made = http(c, "POST", "/api/v1/payments/orders",
                        {"room": ROOM, "bill_ids": list(c.unpaid(ROOM)), "provider": "alipay"}, token)
    assert status == 201
    shots = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "payments"
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(made["code_url"])
        assert alipay.yuan(made["amount_fen"]) in page.inner_text("body") and page.title() == "支付宝（沙箱）"
        page.screenshot(path=shots / "sandbox-alipay-pay.png", full_page=True)
        page.click("button:has-text('确认支付')")
        page.wait_for_selector("text=支付成功")
        page.screenshot(path=shots / "sandbox-alipay-paid.png", full_page=True)
    finally:
        page.close()
    wait_for(lambda: c.unpaid(ROOM) == {})
    assert paid_events(c, made["order_id"]) == 1


# -- expiry ------------------------------------------------------------------------------------


def test_on_expiry_the_sweep_queries_before_it_closes(centre):
    c = centre
    made = alipay_order(c)
    c.clock.advance(301)
    assert c.payments.sweep()["closed"] == [made["order_id"]]
    no = made["out_trade_no"]
    assert [m for m, n in twin(c).calls if n == no] == ["alipay.trade.precreate", "alipay.trade.query", "alipay.trade.close"]
    assert twin(c).trade(no).state == "CLOSED" and c.get(made["order_id"]).get_json()["status"] == "closed"
    with pytest.raises(PermissionError):
        twin(c).pay(no)
    wallet(c).close_order(no)  # closed already: Alipay's ACQ.TRADE_STATUS_ERROR, asked about, is fine
    wallet(c).close_order("HP20260101000000ffffffffffffff")  # never scanned: nothing to close


def test_closing_a_paid_trade_says_so(centre):
    from central_sync.server.payments.provider import OrderAlreadyPaid

    c = centre
    made = alipay_order(c)
    twin(c).pay(made["out_trade_no"], deliver=False)
    with pytest.raises(OrderAlreadyPaid):
        wallet(c).close_order(made["out_trade_no"])


def test_on_expiry_a_payment_whose_notification_was_lost_is_found_by_the_query(centre):
    c = centre
    made = alipay_order(c)
    twin(c).pay(made["out_trade_no"], deliver=False)
    c.clock.advance(301)
    assert c.payments.sweep()["paid"] == [made["order_id"]]
    assert ("alipay.trade.close", made["out_trade_no"]) not in twin(c).calls
    assert c.unpaid(ROOM) == {} and paid_events(c, made["order_id"]) == 1


# -- refunds -----------------------------------------------------------------------------------


def test_refunds_full_and_partial_through_the_gateway_are_confirmed(centre):
    c = centre
    first = paid_order(c, 1)  # one line: refunded in full at once
    full = wallet(c).refund(first["out_trade_no"], "RF-full", first["amount_fen"], first["amount_fen"], "整单退款")
    assert (full.status, full.refunded_fen) == ("SUCCESS", first["amount_fen"])
    with pytest.raises(ProviderUnavailable):
        wallet(c).refund(first["out_trade_no"], "RF-full-again", 1, first["amount_fen"])  # nothing left to refund
    made = paid_order(c)  # the other lines: refunded in parts
    no, total = made["out_trade_no"], made["amount_fen"]
    part = wallet(c).refund(no, "RF-" + no + "-1", 100, total, "多收一项")
    assert (part.status, part.amount_fen, part.refunded_fen) == ("SUCCESS", 100, 100)
    again = wallet(c).refund(no, "RF-" + no + "-1", 100, total, "多收一项")  # asked twice: one refund
    assert again.refunded_fen == 100 and twin(c).trade(no).refunds == {"RF-" + no + "-1": 100}
    with pytest.raises(ProviderUnavailable, match="REFUND_AMT"):
        wallet(c).refund(no, "RF-" + no + "-2", total, total)  # more than is left
    rest = wallet(c).refund(no, "RF-" + no + "-3", total - 100, total, "全额退款")
    assert (rest.status, rest.refunded_fen) == ("SUCCESS", total)
    # Alipay's refund notification, verified, pays nothing and changes nothing
    before = c.snapshot()
    body = twin(c).refund_notification(no, "RF-" + no + "-3")
    confirmed = wallet(c).verify_refund_notification({}, body, now=c.clock())
    assert (confirmed.out_refund_no, confirmed.refunded_fen, confirmed.out_trade_no) == ("RF-" + no + "-3", total, no)
    assert notify(c, body) == (200, "success") and c.snapshot() == before


def test_a_forged_refund_notification_changes_nothing(centre):
    c = centre
    made = paid_order(c)
    no = made["out_trade_no"]
    wallet(c).refund(no, "RF1", made["amount_fen"], made["amount_fen"])
    before = c.snapshot()
    stranger = twin(c).impostor()
    for body in (stranger.refund_notification(no, "RF1"), twin(c).refund_notification(no, "RF1", seller_id="2088000000009999"),
                 twin(c).refund_notification(no, "RF1", notify_time=alipay.china_time(c.clock() - 3600))):
        with pytest.raises(NotificationRefused):
            wallet(c).verify_refund_notification({}, body, now=c.clock())
        assert notify(c, body)[1] == "fail"
    assert c.snapshot() == before


def test_wechat_refunds_and_their_notifications(centre):
    c = centre
    made = c.order({"room": ROOM, "bill_ids": list(c.unpaid(ROOM)), "kiosk": "kiosk-01"}).get_json()
    c.sandbox.pay(made["out_trade_no"], deliver=False)
    assert c.notify(*c.sandbox.notification(made["out_trade_no"])).get_json()["code"] == "SUCCESS"
    total = made["amount_fen"]
    part = c.sandbox.refund(made["out_trade_no"], "WR1", 50, total, "partial")
    assert (part.status, part.refunded_fen) == ("SUCCESS", 50)
    with pytest.raises(ProviderUnavailable):
        c.sandbox.refund(made["out_trade_no"], "WR2", total, total)
    headers, body = c.sandbox.refund_notification("WR1")
    got = c.sandbox.verify_refund_notification(headers, body, now=c.clock())
    assert (got.out_refund_no, got.status, got.amount_fen) == ("WR1", "SUCCESS", 50)
    forged = body.replace(b"REFUND.SUCCESS", b"REFUND.SUCCES5")
    for h, b in ((headers, forged), (c.sandbox.refund_notification("WR1", mchid="1900000999"))):
        with pytest.raises(NotificationRefused):
            c.sandbox.verify_refund_notification(h, b, now=c.clock())
    c.clock.advance(400)
    with pytest.raises(NotificationRefused, match="stale"):
        c.sandbox.verify_refund_notification(headers, body, now=c.clock())


def test_wechat_refund_requests_are_signed_and_replies_checked():
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sent: list[tuple[str, str, dict[str, str], bytes]] = []

    def send(method: str, url: str, headers: dict[str, str], body: bytes):
        sent.append((method, url, headers, body))
        asked = json.loads(body)
        reply = json.dumps({"refund_id": "50000000382019052709732678859", "out_refund_no": asked["out_refund_no"],
                            "out_trade_no": asked["out_trade_no"], "status": "PROCESSING",
                            "amount": {"refund": asked["amount"]["refund"], "total": asked["amount"]["total"]}})
        return 200, wechat.signed_headers(platform, "PLAT1", reply, timestamp=int(time.time()), nonce_str="n1"), reply.encode()

    pay = wechat.WeChatPay(mchid="1900000109", appid="wxd678efh567hg6787", serial="ABCDEF0123", private_key=merchant,
                           platform_keys={"PLAT1": platform.public_key()}, apiv3_key=b"k" * 32, send=send)
    got = pay.refund("HP20260101000000abc", "RF20260101000000abc", 300, 12345, "多收")
    assert (got.out_refund_no, got.status, got.amount_fen, got.refund_id) == \
        ("RF20260101000000abc", "PROCESSING", 300, "50000000382019052709732678859")
    method, url, headers, body = sent[0]
    assert (method, url) == ("POST", "https://api.mch.weixin.qq.com/v3/refund/domestic/refunds")
    wechat.verify_authorization(headers["Authorization"], method="POST", path="/v3/refund/domestic/refunds",
                                body=body.decode(), public_key=merchant.public_key())
    assert json.loads(body)["amount"] == {"refund": 300, "total": 12345, "currency": "CNY"}


# -- configuration -----------------------------------------------------------------------------


def test_both_wallets_in_the_configuration(tmp_path):
    assert PaymentsConfig().providers == ["sandbox", "alipay"]
    assert PaymentsConfig(provider="sandbox", providers=["sandbox"]).providers == ["sandbox"]
    with pytest.raises(ValidationError, match=r"\[payments.alipay\]"):
        PaymentsConfig(providers=["wechat", "alipay"])
    with pytest.raises(ValidationError, match="mixed"):
        PaymentsConfig(provider="sandbox", providers=["sandbox", "wechat"])
    sandbox = AlipaySandbox(tmp_path / "keys")
    (tmp_path / "app.pem").write_text(sandbox.app_private_key_pem)
    (tmp_path / "alipay.pem").write_text(sandbox.alipay_public_key_pem)
    section = {"app_id": "2021000000000001", "seller_id": "2088000000000001",
               "app_private_key_file": tmp_path / "app.pem", "alipay_public_key_file": tmp_path / "alipay.pem"}
    with pytest.raises(ValidationError, match="notify_base_url"):
        PaymentsConfig(provider="alipay", alipay=section)
    cfg = PaymentsConfig(provider="alipay", alipay=section, notify_base_url="https://centre.example.com")
    assert cfg.providers == ["alipay"]
    assert alipay.AlipayPay.from_config(cfg.alipay).appid == "2021000000000001"
    with pytest.raises(ValidationError, match="seller_id"):
        PaymentsConfig(provider="alipay", alipay={**section, "seller_id": "1234"}, notify_base_url="https://c.example")


def test_amounts_in_yuan():
    assert [alipay.fen_of(x) for x in ("12.30", "0.01", "5", "1.005", "-1", "NaN", "Infinity", "x")] == \
        [1230, 1, 500, None, None, None, None, None]
    assert alipay.yuan(1230) == "12.30" and alipay.yuan(5) == "0.05"
