"""Payment orders at the centre with the WeChat Pay–format sandbox: orders only from bill ids
(never an amount), lines locked to one live order, notifications believed only when signed,
fresh and decryptable, 20 copies of one notification crediting once (SQLite and a real
PostgreSQL), the expiry sweep on a clock the test moves, money after close recorded and
settled once or flagged, the long poll, and the real provider's request signing offline.
The sandbox only in a demo centre: a production configuration naming it does not start."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

import central_sync.server
from central_sync.server.payments import wechat
from central_sync.server.payments.provider import NewOrder, NotificationRefused, ProviderUnavailable
from central_sync.server.resident_demo import load_demo
from central_sync.store import Store
from hall_common.config import CentralConfig

from .conftest import wait_for
from .helpers.central import central_app
from .helpers.clock import Clock
from .minihall import Served


class Centre:
    def __init__(self, app, store: Store, tokens: dict[str, str], clock: Clock) -> None:
        self.app, self.store, self.tokens, self.clock = app, store, tokens, clock
        self.payments = app.extensions["payments"]
        self.sandbox = self.payments.provider
        self.served: Served | None = None

    def unpaid(self, room: str, hall: str = "h1") -> dict[str, int]:
        rows = self.store.query("SELECT id, amount_fen FROM bill_lines WHERE hall_id = ? AND room = ? AND status = 'unpaid' "
                                "ORDER BY item", (hall, room))
        return {str(r["id"]): int(r["amount_fen"]) for r in rows}

    def order(self, body: dict[str, Any], hall: str = "h1"):
        return self.app.test_client().post("/api/v1/payments/orders", json=body,
                                           headers={"Authorization": f"Bearer {self.tokens[hall]}"})

    def get(self, order_id: str, wait: float = 0, hall: str = "h1"):
        return self.app.test_client().get(f"/api/v1/payments/orders/{order_id}?wait={wait}",
                                          headers={"Authorization": f"Bearer {self.tokens[hall]}"})

    def notify(self, headers: dict[str, str], body: bytes):
        return self.app.test_client().post("/api/v1/payments/notify/sandbox", data=body, headers=headers,
                                           content_type="application/json")

    def snapshot(self) -> tuple:
        """Everything a notification could change."""
        return (self.store.query("SELECT id, status, paid_at, transaction_id FROM payment_orders ORDER BY id"),
                self.store.query("SELECT id, status, paid_at, order_id FROM bill_lines ORDER BY id"),
                self.store.query("SELECT order_id, kind FROM payment_events ORDER BY id"))


def make_centre(tmp_path, url: str) -> Centre:
    clock = Clock(time.time())
    app, store, tokens = central_app(tmp_path, url, test_config={"PAYMENTS_CLOCK": clock, "PAYMENTS_SWEEP": False},
                                     payments={"sweep_s": 0})
    load_demo(store, "h1")
    load_demo(store, "h2")
    return Centre(app, store, tokens, clock)


def close_centre(c: Centre) -> None:
    if c.served is not None:
        c.served.stop()
    c.payments.close()
    pool = c.app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    c.store.close()


@pytest.fixture
def centre(tmp_path):
    c = make_centre(tmp_path, f"sqlite:///{tmp_path}/central.db")
    yield c
    close_centre(c)


@pytest.fixture
def served_centre(central_db, tmp_path):
    """The centre on a real HTTP server, on SQLite and on a real PostgreSQL."""
    url = central_db
    c = make_centre(tmp_path, url)
    c.served = Served(c.app)
    yield c
    close_centre(c)


def http(c: Centre, method: str, path: str, body: object = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> tuple[int, Any]:
    assert c.served is not None
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(c.served.url.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode()


def new_order(c: Centre, room: str = "3-2-1201", n: int | None = None) -> dict[str, Any]:
    ids = list(c.unpaid(room))[:n]
    r = c.order({"room": room, "bill_ids": ids, "kiosk": "kiosk-01"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def paid_events(c: Centre, order_id: str) -> int:
    return c.store.scalar("SELECT count(*) FROM payment_events WHERE order_id = ? AND kind = 'paid'", (order_id,))


# -- orders --------------------------------------------------------------------------------


def test_an_order_is_made_from_bill_ids_only_for_the_sum_at_the_centre(centre):
    c = centre
    mine = c.unpaid("3-2-1201")
    ids = list(mine)[:2]
    r = c.order({"room": "3-2-1201", "bill_ids": ids, "amount_fen": 1})
    assert r.status_code == 422 and r.get_json()["code"] == "amount_not_accepted"
    assert c.order({"room": "3-2-1201", "bill_ids": ids, "total": 1}).status_code == 422
    assert c.store.scalar("SELECT count(*) FROM payment_orders") == 0
    r = c.order({"room": "3-2-1201", "bill_ids": ids, "kiosk": "kiosk-01"})
    assert r.status_code == 201
    made = r.get_json()
    assert made["amount_fen"] == sum(mine[i] for i in ids)
    assert made["code_url"].endswith(f"/sandbox/pay/{made['out_trade_no']}")
    assert made["expires_at"] == pytest.approx(c.clock.t + 300)
    locked = c.store.query("SELECT id FROM bill_lines WHERE order_id = ?", (made["order_id"],))
    assert {str(r["id"]) for r in locked} == set(ids)
    assert c.sandbox.trade(made["out_trade_no"]).order.amount_fen == made["amount_fen"]


def test_other_rooms_other_halls_paid_and_locked_lines_are_refused(centre):
    c = centre
    mine, theirs = list(c.unpaid("3-2-1201")), list(c.unpaid("3-2-1202"))
    r = c.order({"room": "3-2-1201", "bill_ids": [mine[0], theirs[0]]})
    assert r.status_code == 404 and r.get_json()["code"] == "unknown_lines"
    # hall h2's edge asking for h1's lines (h2 has its own 3-2-1201): not found there
    r = c.order({"room": "3-2-1201", "bill_ids": [mine[0]]}, hall="h2")
    assert r.status_code == 404
    paid = str(c.store.scalar("SELECT id FROM bill_lines WHERE hall_id = 'h1' AND room = '3-2-1201' AND status = 'paid'"))
    r = c.order({"room": "3-2-1201", "bill_ids": [mine[0], paid]})
    assert r.status_code == 409 and r.get_json()["code"] == "already_paid"
    assert c.order({"room": "3-2-1201", "bill_ids": ["not-an-id"]}).status_code == 422
    assert c.store.scalar("SELECT count(*) FROM payment_orders") == 0
    first = new_order(c, n=2)
    r = c.order({"room": "3-2-1201", "bill_ids": [mine[1], mine[2]]})
    assert r.status_code == 409 and r.get_json()["code"] == "locked"
    assert c.store.scalar("SELECT count(*) FROM payment_orders") == 1
    # the third line, alone, is free
    assert c.order({"room": "3-2-1201", "bill_ids": [mine[2]]}).status_code == 201
    assert {str(r["id"]) for r in c.store.query("SELECT id FROM bill_lines WHERE order_id = ?", (first["order_id"],))} \
        == set(mine[:2])
    # an order of another hall is not found
    assert c.get(first["order_id"], hall="h2").status_code == 404
    assert c.get(first["order_id"]).get_json()["status"] == "created"


# -- paying -------------------------------------------------------------------------------


def test_the_sandbox_page_pays_and_the_notification_settles_the_lines(served_centre):
    c = served_centre
    token = {"Authorization": f"Bearer {c.tokens['h1']}"}
    ids = list(c.unpaid("3-2-1201"))
    status, made = http(c, "POST", "/api/v1/payments/orders", {"room": "3-2-1201", "bill_ids": ids}, token)
    assert status == 201
    assert made["code_url"].startswith(c.served.url.rstrip("/") + "/sandbox/pay/")
    page = urllib.request.urlopen(made["code_url"], timeout=10).read().decode()
    yuan = f"¥{made['amount_fen'] // 100}.{made['amount_fen'] % 100:02d}"
    assert "确认支付" in page and yuan in page
    waited: dict[str, Any] = {}
    poll = threading.Thread(target=lambda: waited.update(
        result=http(c, "GET", f"/api/v1/payments/orders/{made['order_id']}?wait=20", headers=token)))
    poll.start()
    page = urllib.request.urlopen(urllib.request.Request(made["code_url"], data=b"", method="POST"), timeout=10).read().decode()
    assert "支付成功" in page
    poll.join(30)
    status, seen = waited["result"]
    assert status == 200 and seen["status"] == "paid" and seen["paid_at"]
    assert {line["id"] for line in seen["lines"]} == set(ids) and all(line["status"] == "paid" for line in seen["lines"])
    assert c.unpaid("3-2-1201") == {}
    assert paid_events(c, made["order_id"]) == 1
    # The sandbox notes a delivery once the centre's answer is back, which can be after the poll's.
    wait_for(lambda: (made["out_trade_no"], 200) in c.sandbox.deliveries)


def test_the_same_notification_twenty_times_at_once_credits_once(served_centre):
    c = served_centre
    made = new_order(c)
    c.sandbox.pay(made["out_trade_no"], deliver=False)
    headers, body = c.sandbox.notification(made["out_trade_no"])
    answers: list[tuple[int, Any]] = []
    start = threading.Barrier(20)

    def send() -> None:
        start.wait()
        answers.append(http(c, "POST", "/api/v1/payments/notify/sandbox", headers=headers, raw=body))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 20 and all(a == (200, {"code": "SUCCESS", "message": "成功"}) for a in answers)
    assert paid_events(c, made["order_id"]) == 1
    row = c.store.query("SELECT status, transaction_id FROM payment_orders WHERE id = ?", (made["order_id"],))[0]
    assert row["status"] == "paid" and row["transaction_id"] == c.sandbox.trade(made["out_trade_no"]).transaction_id
    lines = c.store.query("SELECT status, order_id FROM bill_lines WHERE order_id = ?", (made["order_id"],))
    assert len(lines) == 4 and all(r["status"] == "paid" for r in lines) and c.unpaid("3-2-1201") == {}


def _tampered_ciphertext(c: Centre, out_trade_no: str) -> tuple[dict[str, str], bytes]:
    _, body = c.sandbox.notification(out_trade_no)
    envelope = json.loads(body)
    raw = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
    raw[5] ^= 1
    envelope["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    text = json.dumps(envelope, ensure_ascii=False)
    return c.sandbox.signed(text), text.encode()  # even signed by the platform, GCM catches it


def _bad_signature(c: Centre, out_trade_no: str) -> tuple[dict[str, str], bytes]:
    headers, body = c.sandbox.notification(out_trade_no)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return wechat.signed_headers(other, c.sandbox.serial, body.decode(), timestamp=int(c.clock.t), nonce_str="N"), body


def _edited_body(c: Centre, out_trade_no: str) -> tuple[dict[str, str], bytes]:
    headers, body = c.sandbox.notification(out_trade_no)
    return headers, body.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCES5")


FORGERIES = {
    "signature": _bad_signature,
    "edited": _edited_body,
    "amount": lambda c, no: c.sandbox.notification(no, amount={"total": 1, "payer_total": 1, "currency": "CNY"}),
    "mchid": lambda c, no: c.sandbox.notification(no, mchid="1900000999"),
    "appid": lambda c, no: c.sandbox.notification(no, appid="wx0000000000000000"),
    "unknown_order": lambda c, no: c.sandbox.notification(no, out_trade_no="HP20260101000000ffffffffffffff"),
    "not_success": lambda c, no: c.sandbox.notification(no, trade_state="NOTPAY"),
    "ciphertext": _tampered_ciphertext,
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_notification_that_is_not_believed_changes_nothing(centre, forgery):
    c = centre
    made = new_order(c)
    c.sandbox.pay(made["out_trade_no"], deliver=False)
    headers, body = FORGERIES[forgery](c, made["out_trade_no"])
    before = c.snapshot()
    r = c.notify(headers, body)
    assert 400 <= r.status_code < 500 and r.get_json()["code"] == "FAIL"
    assert c.snapshot() == before
    assert c.get(made["order_id"]).get_json()["status"] == "created"


def test_stale_and_unknown_serial_are_refused(centre):
    c = centre
    made = new_order(c)
    c.sandbox.pay(made["out_trade_no"], deliver=False)
    headers, body = c.sandbox.notification(made["out_trade_no"])
    before = c.snapshot()
    c.clock.t += 301
    r = c.notify(headers, body)
    assert r.status_code == 400 and r.get_json() == {"code": "FAIL", "message": "stale"}
    c.clock.t -= 301
    r = c.notify({**headers, "Wechatpay-Serial": "0" * 40}, body)
    assert r.status_code == 400 and r.get_json()["message"] == "serial"
    assert c.notify({k: v for k, v in headers.items() if k != "Wechatpay-Nonce"}, body).status_code == 400
    assert c.snapshot() == before


def test_a_replay_after_success_is_answered_success_and_changes_nothing(centre):
    c = centre
    made = new_order(c)
    c.sandbox.pay(made["out_trade_no"], deliver=False)
    headers, body = c.sandbox.notification(made["out_trade_no"])
    assert c.notify(headers, body).get_json()["code"] == "SUCCESS"
    after = c.snapshot()
    assert c.notify(headers, body).get_json()["code"] == "SUCCESS"
    assert c.notify(*c.sandbox.notification(made["out_trade_no"])).get_json()["code"] == "SUCCESS"  # WeChat's own retry
    assert c.snapshot() == after and paid_events(c, made["order_id"]) == 1


def test_the_long_poll_answers_with_the_payment(centre):
    c = centre
    made = new_order(c)
    assert c.get(made["order_id"], wait=0).get_json()["status"] == "created"
    got: dict[str, Any] = {}
    poll = threading.Thread(target=lambda: got.update(r=c.get(made["order_id"], wait=20).get_json()))
    poll.start()
    c.sandbox.pay(made["out_trade_no"], deliver=False)
    assert c.notify(*c.sandbox.notification(made["out_trade_no"])).status_code == 200
    poll.join(30)
    assert got["r"]["status"] == "paid" and all(line["status"] == "paid" for line in got["r"]["lines"])
    assert c.get(str(uuid.uuid4())).status_code == 404


# -- expiry ---------------------------------------------------------------------------------


def test_the_sweep_closes_expired_orders_and_frees_their_lines(centre):
    c = centre
    made = new_order(c)
    assert c.payments.sweep()["closed"] == []  # not yet due
    c.clock.t += 301
    assert c.payments.sweep()["closed"] == [made["order_id"]]
    assert c.sandbox.trade(made["out_trade_no"]).state == "CLOSED"
    assert c.get(made["order_id"]).get_json()["status"] == "closed"
    assert c.store.scalar("SELECT count(*) FROM bill_lines WHERE order_id IS NOT NULL") == 0
    again = new_order(c)  # the same lines, a new attempt with its own out_trade_no
    assert again["out_trade_no"] != made["out_trade_no"] and again["amount_fen"] == made["amount_fen"]
    # the payer still on the old page cannot pay the closed order
    with pytest.raises(PermissionError):
        c.sandbox.pay(made["out_trade_no"])


def test_the_sweep_finds_a_payment_whose_notification_was_lost(centre):
    c = centre
    made = new_order(c)
    c.sandbox.pay(made["out_trade_no"], deliver=False)
    c.clock.t += 301
    assert c.payments.sweep()["paid"] == [made["order_id"]]
    assert c.sandbox.trade(made["out_trade_no"]).state == "SUCCESS"  # never closed
    assert c.unpaid("3-2-1201") == {} and paid_events(c, made["order_id"]) == 1
    assert c.notify(*c.sandbox.notification(made["out_trade_no"])).get_json()["code"] == "SUCCESS"  # late: no change
    assert paid_events(c, made["order_id"]) == 1


def test_money_after_close_settles_free_lines_once(centre):
    c = centre
    made = new_order(c)
    c.clock.t += 301
    c.payments.sweep()
    c.sandbox.pay(made["out_trade_no"], deliver=False, even_if_closed=True)  # it landed as we closed
    assert c.notify(*c.sandbox.notification(made["out_trade_no"])).get_json()["code"] == "SUCCESS"
    assert c.get(made["order_id"]).get_json()["status"] == "paid"
    assert c.unpaid("3-2-1201") == {} and paid_events(c, made["order_id"]) == 1


def test_money_after_close_for_lines_paid_since_is_flagged_for_refund(centre):
    c = centre
    first = new_order(c)
    c.clock.t += 301
    c.payments.sweep()
    second = new_order(c)
    c.sandbox.pay(second["out_trade_no"], deliver=False)
    assert c.notify(*c.sandbox.notification(second["out_trade_no"])).status_code == 200
    settled = c.snapshot()[1]
    c.sandbox.pay(first["out_trade_no"], deliver=False, even_if_closed=True)
    headers, body = c.sandbox.notification(first["out_trade_no"])
    assert c.notify(headers, body).get_json()["code"] == "SUCCESS"  # the money is taken: WeChat must stop retrying
    assert c.get(first["order_id"]).get_json()["status"] == "paid_conflict"
    assert c.snapshot()[1] == settled  # lines paid once, by the second order
    assert paid_events(c, first["order_id"]) == 0 and paid_events(c, second["order_id"]) == 1
    assert c.notify(headers, body).get_json()["code"] == "SUCCESS"
    assert c.store.scalar("SELECT count(*) FROM payment_events WHERE kind = 'paid_conflict'") == 1


def test_an_expired_order_not_yet_swept_is_paid_normally(centre):
    c = centre
    made = new_order(c)
    c.clock.t += 600
    c.sandbox.pay(made["out_trade_no"], deliver=False)
    assert c.notify(*c.sandbox.notification(made["out_trade_no"])).status_code == 200
    assert c.get(made["order_id"]).get_json()["status"] == "paid"
    assert c.payments.sweep() == {"paid": [], "paid_conflict": [], "closed": [], "expired_unclosed": []}


# -- the real provider, offline ----------------------------------------------------------------


def test_wechat_requests_are_signed_the_way_wechat_verifies_them():
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sent: list[tuple[str, str, dict[str, str], bytes]] = []
    forge = {"reply": False}

    def send(method: str, url: str, headers: dict[str, str], body: bytes):
        sent.append((method, url, headers, body))
        reply = json.dumps({"code_url": "weixin://wxpay/bizpayurl?pr=abc"})
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if forge["reply"] else platform
        return 200, wechat.signed_headers(key, "PLAT1", reply, timestamp=int(time.time()), nonce_str="n1"), reply.encode()

    pay = wechat.WeChatPay(mchid="1900000109", appid="wxd678efh567hg6787", serial="ABCDEF0123", private_key=merchant,
                           platform_keys={"PLAT1": platform.public_key()}, apiv3_key=b"k" * 32, send=send)
    order = NewOrder("HP20260101000000abc", "物业缴费 3-2-1201", 12345, time.time() + 300,
                     "https://centre.example/api/v1/payments/notify/wechat", "https://centre.example")
    assert pay.create_native(order) == "weixin://wxpay/bizpayurl?pr=abc"
    method, url, headers, body = sent[0]
    assert (method, url) == ("POST", "https://api.mch.weixin.qq.com/v3/pay/transactions/native")
    fields = wechat.verify_authorization(headers["Authorization"], method="POST", path="/v3/pay/transactions/native",
                                         body=body.decode(), public_key=merchant.public_key())
    assert fields["mchid"] == "1900000109" and fields["serial_no"] == "ABCDEF0123"
    sent_order = json.loads(body)
    assert sent_order["amount"] == {"total": 12345, "currency": "CNY"} and sent_order["time_expire"].endswith("+08:00")
    with pytest.raises(NotificationRefused):
        wechat.verify_authorization(headers["Authorization"], method="POST", path="/v3/pay/transactions/native",
                                    body=body.decode().replace("12345", "1"), public_key=merchant.public_key())
    pay.query_order("HP20260101000000abc")
    assert sent[1][1] == "https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/HP20260101000000abc?mchid=1900000109"
    wechat.verify_authorization(sent[1][2]["Authorization"], method="GET",
                                path="/v3/pay/transactions/out-trade-no/HP20260101000000abc?mchid=1900000109",
                                body="", public_key=merchant.public_key())
    forge["reply"] = True  # a reply not signed by the platform is not believed
    with pytest.raises(ProviderUnavailable):
        pay.create_native(order)


def test_the_resource_round_trips_and_wechat_needs_its_keys(tmp_path):
    key = b"0123456789abcdef0123456789abcdef"
    resource = wechat.encrypt_resource(key, '{"out_trade_no": "x"}')
    assert wechat.decrypt_resource(key, resource) == {"out_trade_no": "x"}
    with pytest.raises(NotificationRefused):
        wechat.decrypt_resource(key, {**resource, "associated_data": "other"})
    with pytest.raises(ValidationError, match="payments.wechat"):
        CentralConfig(data_dir=tmp_path, database_url="sqlite:///x.db", http={"port": 1}, payments={"provider": "wechat"})


def test_the_sandbox_retries_until_answered_success_and_sends_duplicates_when_told(tmp_path):
    from flask import Flask

    from central_sync.server.payments.sandbox import Sandbox


    hits: list[bytes] = []
    receiver = Flask("receiver")

    @receiver.post("/notify")
    def notify():
        from flask import jsonify, request

        hits.append(request.get_data())
        return (jsonify(code="FAIL", message="busy"), 500) if len(hits) == 1 else jsonify(code="SUCCESS")

    served = Served(receiver)
    sandbox = Sandbox(tmp_path / "sb", retry_delays=(0.0, 0.05, 0.05), duplicates=2)
    try:
        sandbox.create_native(NewOrder("HP1", "物业缴费", 100, time.time() + 300, served.url + "notify", served.url))
        sandbox.pay("HP1")
        wait_for(lambda: len(sandbox.deliveries) == 4)
        assert sandbox.deliveries == [("HP1", 500), ("HP1", 200), ("HP1", 200), ("HP1", 200)]
        for body in hits:  # every copy verifies as WeChat's would
            assert json.loads(body)["resource"]["algorithm"] == "AEAD_AES_256_GCM"
        headers, body = sandbox.notification("HP1")
        assert sandbox.verify_notification(headers, body, now=time.time())["amount"]["total"] == 100
        # made once, kept: a restart keeps the serial and the keys
        assert Sandbox(tmp_path / "sb").serial == sandbox.serial
    finally:
        sandbox.close()
        served.stop()


def test_the_sandbox_pay_page_on_a_phone(served_centre, browser):
    """What a resident's phone shows after scanning the kiosk's payment code (the sandbox's
    stand-in for WeChat's own page), looked at in Chromium."""
    from pathlib import Path

    c = served_centre
    token = {"Authorization": f"Bearer {c.tokens['h1']}"}
    status, made = http(c, "POST", "/api/v1/payments/orders", {"room": "3-2-1201", "bill_ids": list(c.unpaid("3-2-1201"))},
                        token)
    assert status == 201
    shots = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "payments"
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(made["code_url"])
        yuan = f"{made['amount_fen'] // 100}.{made['amount_fen'] % 100:02d}"
        assert yuan in page.inner_text("body")
        page.screenshot(path=shots / "sandbox-pay.png", full_page=True)
        page.click("button:has-text('确认支付')")
        page.wait_for_selector("text=支付成功")
        page.screenshot(path=shots / "sandbox-paid.png", full_page=True)
    finally:
        page.close()

    wait_for(lambda: c.unpaid("3-2-1201") == {})  # the lines are settled
    assert paid_events(c, made["order_id"]) == 1


def test_the_sweeper_stops_when_the_centres_database_is_closed_but_not_on_a_hiccup():
    import sqlite3

    from psycopg_pool import PoolClosed

    from central_sync.server.payments.service import store_closed

    closed = sqlite3.connect(":memory:")
    closed.close()
    with pytest.raises(sqlite3.ProgrammingError) as err:
        closed.execute("SELECT 1")
    assert store_closed(err.value) and store_closed(PoolClosed("pool-1 is already closed"))
    assert not store_closed(ValueError("closed")) and not store_closed(sqlite3.OperationalError("database is locked"))


@pytest.mark.parametrize("payments", ["", '[payments]\nprovider = "sandbox"\n'])
def test_a_production_centre_with_the_sandbox_stops_at_start_with_the_reason(tmp_path, payments):
    """The sandbox marks orders paid without money: a centre that is not a demo refuses to
    start with it, whether named or left as the default, and says why and what to use."""
    import subprocess
    import sys

    conf = tmp_path / "central.toml"
    conf.write_text(f'data_dir = "c"\ndatabase_url = "sqlite:///c/central.db"\n[http]\nport = 1\n{payments}')
    result = subprocess.run([sys.executable, "-m", "central_sync.server", "--config", str(conf)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{conf}: payments:" in result.stderr and 'provider "sandbox"' in result.stderr
    assert "demo = true" in result.stderr and 'provider = "wechat"' in result.stderr
    assert not (tmp_path / "c" / "central.db").exists()  # stopped before anything was written


def test_the_sandbox_pay_pages_exist_only_in_a_demo_centre(tmp_path):
    demo, store, _ = central_app(tmp_path, f"sqlite:///{tmp_path}/central.db", test_config={"PAYMENTS_SWEEP": False})
    store.close()
    assert demo.test_client().get("/sandbox/pay/").status_code == 200
    # Even were a non-demo configuration to name the sandbox (validation bypassed here),
    # its pages are not there.
    cfg = CentralConfig(data_dir=tmp_path / "c2", database_url=f"sqlite:///{tmp_path}/c2.db", http={"port": 1}, demo=True)
    production = central_sync.server.create_app(cfg.model_copy(update={"demo": False}), {"PAYMENTS_SWEEP": False})
    try:
        c = production.test_client()
        assert c.get("/sandbox/pay/").status_code == 404
        assert c.post("/sandbox/pay/anything").status_code == 404
    finally:
        demo.extensions["payments"].close()
        production.extensions["payments"].close()
