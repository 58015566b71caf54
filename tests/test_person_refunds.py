"""Refunds a person starts from the centre's console (issue 19 item 3), on SQLite and a real
PostgreSQL: full and partial (by lines for a paid order, by amount for money that settled
nothing), through the sandbox's WeChat (answers PROCESSING, then its REFUND.SUCCESS
notification) and Alipay (fund_change = Y at once); the lines reopened only when the refund
is confirmed, in that transaction; every step an event and an audit line; forged refund
notifications changing nothing; over-refunds, missing reasons, unpaid orders, other halls'
orders and the auditor refused with nothing written; two people refunding the same line at
once giving it back once; the hall's list of refunds; refunds matched one by one in the
day's reconciliation; the pages in Chromium."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

from central_sync.server import accounts
from central_sync.server.payments import person_refunds, wechat
from central_sync.server.payments.person_refunds import RefundAsk, RefundRefused
from central_sync.server.payments.sandbox import Sandbox
from central_sync.server.reconciliation import china_day, reconcile
from central_sync.store import Store

from .helpers.screens import to_docs
from .test_alipay import notify as alipay_notify
from .test_alipay import twin
from .test_payments import Centre, close_centre, make_centre

ROOM = "3-2-1201"
PASSWORD = "refund password 1"
SHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots" / "refunds"


def prepare(c: Centre) -> Centre:
    c.sandbox.deliver_refunds = False  # no HTTP server here: the tests post the notifications
    twin(c).deliver_refunds = False
    for name, role, halls in (("admin", "admin", []), ("mgr", "manager", ["h1"]), ("audit", "auditor", [])):
        accounts.add(c.store, name, PASSWORD, role, halls, by="test")
    return c


@pytest.fixture
def centre(central_db, tmp_path):
    c = prepare(make_centre(tmp_path, central_db))
    yield c
    close_centre(c)


def login(c: Centre, user: str) -> tuple[Any, str]:
    client = c.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": token}).status_code == 302
    page = client.get("/payments/").get_data(as_text=True)
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def paid(c: Centre, n: int | None = None, *, wallet: str = "sandbox", hall: str = "h1") -> dict[str, Any]:
    """An order for the first ``n`` unpaid lines of the room, paid through ``wallet``."""
    ids = list(c.unpaid(ROOM, hall))[:n]
    made = c.order({"room": ROOM, "bill_ids": ids, "kiosk": "kiosk-01", "provider": wallet}, hall=hall).get_json()
    if wallet == "alipay":
        twin(c).pay(made["out_trade_no"], deliver=False)
        assert alipay_notify(c, twin(c).notification(made["out_trade_no"])) == (200, "success")
    else:
        c.sandbox.pay(made["out_trade_no"], deliver=False)
        r = c.notify(*c.sandbox.notification(made["out_trade_no"]))
        assert r.status_code == 200, r.get_json()
    made["line_ids"] = ids
    return made


def paid_conflict(c: Centre) -> dict[str, Any]:
    """Money that settled nothing: an order closed at expiry, its lines paid by another
    order, and then its own payment lands (not a pair's second, so nobody refunds it)."""
    ids = list(c.unpaid(ROOM))[:2]
    made = c.order({"room": ROOM, "bill_ids": ids, "kiosk": "kiosk-01"}).get_json()
    c.clock.advance(301)
    assert made["order_id"] in c.payments.sweep()["closed"]
    other = c.order({"room": ROOM, "bill_ids": ids, "kiosk": "kiosk-01"}).get_json()
    c.sandbox.pay(other["out_trade_no"], deliver=False)
    assert c.notify(*c.sandbox.notification(other["out_trade_no"])).status_code == 200
    c.sandbox.pay(made["out_trade_no"], deliver=False, even_if_closed=True)
    assert c.notify(*c.sandbox.notification(made["out_trade_no"])).status_code == 200
    assert order_of(c, made["order_id"])["status"] == "paid_conflict"
    return made


def order_of(c: Centre, order_id: str) -> dict[str, Any]:
    return c.store.query("SELECT * FROM payment_orders WHERE id = ?", (order_id,))[0]


def lines(c: Centre, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = c.store.query(f"SELECT id, status, order_id FROM bill_lines WHERE id IN ({', '.join('?' * len(ids))})", ids)
    return {str(r["id"]): (r["status"], None if r["order_id"] is None else str(r["order_id"])) for r in rows}


def refunds_of(c: Centre, order_id: str) -> list[dict[str, Any]]:
    return c.store.query("SELECT * FROM payment_refunds WHERE order_id = ? ORDER BY requested_at, out_refund_no",
                         (order_id,))


def events(c: Centre, order_id: str) -> list[str]:
    return [r["kind"] for r in c.store.query("SELECT kind FROM payment_events WHERE order_id = ? ORDER BY id", (order_id,))]


def audits(c: Centre) -> list[tuple[str, str, str | None]]:
    return [(r["username"], r["action"], r["hall_id"]) for r in c.store.query(
        "SELECT username, action, hall_id FROM audit_log WHERE action LIKE ? ORDER BY id", ("payment.refund.%",))]


def everything(c: Centre) -> tuple:
    """Everything a refund could write."""
    return (c.store.query("SELECT id, status, refunded_fen FROM payment_orders ORDER BY id"),
            c.store.query("SELECT id, status, paid_at, order_id FROM bill_lines ORDER BY id"),
            c.store.query("SELECT * FROM payment_refunds ORDER BY id"),
            c.store.query("SELECT * FROM payment_refund_lines ORDER BY refund_id, line_id"),
            c.store.scalar("SELECT count(*) FROM payment_events"), c.store.scalar("SELECT count(*) FROM audit_log"))


def ask_refund(client: Any, token: str, order_id: str, **form: Any) -> Any:
    return client.post(f"/payments/{order_id}/refund", data={**form, "csrf_token": token})


def wechat_refund_notice(c: Centre, out_refund_no: str, **overrides: Any) -> Any:
    headers, body = c.sandbox.refund_notification(out_refund_no, **overrides)
    return c.app.test_client().post("/api/v1/payments/refund-notify/sandbox", data=body, headers=headers,
                                    content_type="application/json")


def test_a_full_refund_reopens_the_lines_only_when_the_refund_notification_confirms_it(centre):
    c = centre
    made = paid(c, 2)
    ids = made["line_ids"]
    assert lines(c, ids) == {i: ("paid", made["order_id"]) for i in ids}
    admin, token = login(c, "admin")
    r = ask_refund(admin, token, made["order_id"], scope="full", reason="业主搬走，退回本月费用")
    assert r.status_code == 303, r.get_data(as_text=True)
    page = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert "已申请退款 ¥" in page and "确认后账单行才会重新开放" in page
    [refund] = refunds_of(c, made["order_id"])
    assert (refund["status"], int(refund["amount_fen"]), refund["requested_by"], refund["provider_status"]) == (
        "requested", made["amount_fen"], "admin", "PROCESSING")
    assert refund["out_refund_no"].startswith("RM") and refund["notify_url"].endswith("/api/v1/payments/refund-notify/sandbox")
    # The provider has not said the money is back: the lines are still paid, by this order.
    assert lines(c, ids) == {i: ("paid", made["order_id"]) for i in ids}
    assert int(order_of(c, made["order_id"])["refunded_fen"]) == made["amount_fen"]
    assert c.sandbox.refunds[refund["out_refund_no"]] == (made["out_trade_no"], made["amount_fen"])
    # The sweep asks again while it is processing: nothing changes, nothing is written twice.
    before = everything(c)
    c.payments.sweep()
    assert everything(c) == before
    # WeChat's REFUND.SUCCESS: confirmed, and the lines reopened in that transaction.
    c.sandbox.settle_refund(refund["out_refund_no"])
    answer = wechat_refund_notice(c, refund["out_refund_no"])
    assert answer.status_code == 200 and answer.get_json()["code"] == "SUCCESS"
    [refund] = refunds_of(c, made["order_id"])
    assert refund["status"] == "confirmed" and refund["confirmed_at"] is not None
    assert lines(c, ids) == {i: ("unpaid", None) for i in ids}
    assert events(c, made["order_id"])[-4:] == ["refund_requested", "refund_answered", "refund_confirmed", "lines_reopened"]
    assert audits(c) == [("admin", "payment.refund.request", "h1"), ("(sandbox)", "payment.refund.answer", "h1"),
                         ("(sandbox)", "payment.refund.confirm", "h1"), ("(sandbox)", "payment.refund.reopen_lines", "h1")]
    # The same notification again changes nothing; the lines can be paid again.
    before = everything(c)
    assert wechat_refund_notice(c, refund["out_refund_no"]).status_code == 200
    assert everything(c) == before
    again = c.order({"room": ROOM, "bill_ids": ids, "kiosk": "kiosk-01"})
    assert again.status_code == 201 and again.get_json()["amount_fen"] == made["amount_fen"]
    # Nothing is left to refund now.
    before = everything(c)
    r = ask_refund(admin, token, made["order_id"], scope="full", reason="再退一次")
    assert r.status_code == 409 and "已全部退款" in r.get_data(as_text=True) and "refunded in full" in r.get_data(as_text=True)
    assert everything(c) == before


def test_partial_refunds_by_lines_on_alipay_are_confirmed_at_once_and_reopen_only_those_lines(centre):
    c = centre
    made = paid(c, 3, wallet="alipay")
    ids = made["line_ids"]
    amounts = {str(r["id"]): int(r["amount_fen"]) for r in c.store.query("SELECT id, amount_fen FROM bill_lines")}
    manager, token = login(c, "mgr")
    r = ask_refund(manager, token, made["order_id"], scope="lines", line=[ids[0]], reason="车位费多收")
    assert r.status_code == 303
    [first] = refunds_of(c, made["order_id"])
    assert (first["status"], int(first["amount_fen"]), first["requested_by"]) == ("confirmed", amounts[ids[0]], "mgr")
    assert lines(c, ids) == {ids[0]: ("unpaid", None), ids[1]: ("paid", made["order_id"]), ids[2]: ("paid", made["order_id"])}
    assert twin(c).trade(made["out_trade_no"]).refunds == {first["out_refund_no"]: amounts[ids[0]]}
    # A line refunded already, or one of another order, is refused; nothing written. (The
    # reopened line is owed again: the next payment of the room takes it.)
    other = paid(c, 1, wallet="sandbox")
    assert other["line_ids"] == [ids[0]]
    before = everything(c)
    for chosen in ([ids[0]], [other["line_ids"][0]], [ids[1], other["line_ids"][0]], []):
        r = ask_refund(manager, token, made["order_id"], scope="lines", line=chosen, reason="再退")
        assert r.status_code in (400, 409), chosen
        assert "未退款 · nothing was refunded" in r.get_data(as_text=True)
    assert everything(c) == before
    # Full now means what is left: the two other lines.
    assert ask_refund(manager, token, made["order_id"], scope="full", reason="其余也退").status_code == 303
    rest = next(r for r in refunds_of(c, made["order_id"]) if r["reason"] == "其余也退")
    assert int(rest["amount_fen"]) == amounts[ids[1]] + amounts[ids[2]] and rest["status"] == "confirmed"
    assert lines(c, ids) == {ids[0]: ("paid", other["order_id"]), ids[1]: ("unpaid", None), ids[2]: ("unpaid", None)}
    assert int(order_of(c, made["order_id"])["refunded_fen"]) == made["amount_fen"]
    assert order_of(c, made["order_id"])["status"] == "paid"  # the payment happened; its money is back
    # Alipay's refund notification afterwards: believed, changes nothing.
    before = everything(c)
    body = twin(c).refund_notification(made["out_trade_no"], rest["out_refund_no"])
    assert alipay_notify(c, body) == (200, "success")
    assert everything(c) == before


def test_money_that_settled_nothing_is_refunded_by_amount_and_reopens_nothing(centre):
    c = centre
    made = paid_conflict(c)
    ids = [str(r["line_id"]) for r in c.store.query("SELECT line_id FROM payment_order_lines WHERE order_id = ?",
                                                    (made["order_id"],))]
    settled = lines(c, ids)
    admin, token = login(c, "admin")
    listing = admin.get("/payments/").get_data(as_text=True)
    assert "refunds-due" in listing and listing.index(made["out_trade_no"]) < listing.index('class="order status-paid"')
    before = everything(c)
    for form, words in (({"scope": "amount", "amount": "99999.00"}, ("超过可退金额", "More than is left")),
                        ({"scope": "amount", "amount": "1.234"}, ("最多两位小数", "two decimals")),
                        ({"scope": "amount", "amount": "0"}, ("最多两位小数", "two decimals")),
                        ({"scope": "lines", "line": [ids[0]]}, ("没有结清任何账单行", "settled no bill lines"))):
        r = ask_refund(admin, token, made["order_id"], reason="重复缴费", **form)
        assert r.status_code in (400, 409) and all(w in r.get_data(as_text=True) for w in words), form
    assert everything(c) == before
    assert ask_refund(admin, token, made["order_id"], scope="amount", amount="10.00", reason="先退一部分").status_code == 303
    assert ask_refund(admin, token, made["order_id"], scope="full", reason="其余退回").status_code == 303
    parts = refunds_of(c, made["order_id"])
    assert sorted(int(p["amount_fen"]) for p in parts) == sorted([1000, made["amount_fen"] - 1000])
    for p in parts:
        c.sandbox.settle_refund(p["out_refund_no"])
        assert wechat_refund_notice(c, p["out_refund_no"]).status_code == 200
    assert [p["status"] for p in refunds_of(c, made["order_id"])] == ["confirmed", "confirmed"]
    assert lines(c, ids) == settled  # settled by the other payment: untouched
    assert "lines_reopened" not in events(c, made["order_id"])
    assert "refunds-due" not in admin.get("/payments/").get_data(as_text=True)


def test_refusals_write_nothing(centre):
    c = centre
    made = paid(c, 1)
    theirs = paid(c, 1, hall="h2")
    unpaid = c.order({"room": ROOM, "bill_ids": list(c.unpaid(ROOM))[:1], "kiosk": "kiosk-01"}).get_json()
    admin, token = login(c, "admin")
    manager, mtoken = login(c, "mgr")
    auditor, atoken = login(c, "audit")
    before = everything(c)
    cases = [
        (admin, token, made["order_id"], {"scope": "full", "reason": "  "}, 400, ("请填写退款原因", "Give the reason")),
        (admin, token, made["order_id"], {"scope": "full", "reason": "长" * 81}, 400, ("最多 80 字", "at most 80")),
        (admin, token, made["order_id"], {"scope": "amount", "amount": "1.00", "reason": "x"}, 400,
         ("按账单行部分退款", "choosing its bill lines")),
        (admin, token, made["order_id"], {"scope": "everything", "reason": "x"}, 400, ("请选择全额", "Choose a full")),
        (admin, token, unpaid["order_id"], {"scope": "full", "reason": "x"}, 409, ("未支付", "not paid")),
        (manager, mtoken, theirs["order_id"], {"scope": "full", "reason": "x"}, 403, ()),
        (auditor, atoken, made["order_id"], {"scope": "full", "reason": "x"}, 403, ()),
        (admin, token, "00000000-0000-0000-0000-000000000000", {"scope": "full", "reason": "x"}, 404, ()),
    ]
    for client, tok, order_id, form, status, words in cases:
        r = ask_refund(client, tok, order_id, **form)
        text = r.get_data(as_text=True)
        assert r.status_code == status and all(w in text for w in words), (form, r.status_code)
    assert everything(c) == before
    # The auditor reads the order, without the form; the manager cannot read another hall's.
    page = auditor.get(f"/payments/{made['order_id']}").get_data(as_text=True)
    assert "只读" in page and 'id="refund-form"' not in page
    assert manager.get(f"/payments/{theirs['order_id']}").status_code == 403
    assert theirs["out_trade_no"] not in manager.get("/payments/").get_data(as_text=True)
    assert manager.get("/payments/?hall=h2").status_code == 403


def test_an_answer_that_comes_back_after_the_notification_confirmed_the_refund_changes_nothing(centre, monkeypatch):
    """Under load WeChat's REFUND.SUCCESS can be posted and confirmed while the refund call
    that started it is still on its way back: its late PROCESSING must not be written over
    the provider's SUCCESS, nor recorded as news."""
    c = centre
    made = paid(c, 1)
    asked = c.sandbox.refund

    def answered_late(*args: Any, **kwargs: Any) -> Any:
        answer = asked(*args, **kwargs)
        c.sandbox.settle_refund(answer.out_refund_no)
        assert wechat_refund_notice(c, answer.out_refund_no).status_code == 200
        return answer  # what the provider said before the notification: PROCESSING

    monkeypatch.setattr(c.sandbox, "refund", answered_late)
    refund = person_refunds.start(c.store, c.payments.providers, order_of(c, made["order_id"]),
                                  RefundAsk("full", "退回本月"), user="admin", notify_base="http://centre", now=c.clock())
    assert (refund["status"], refund["provider_status"]) == ("confirmed", "SUCCESS")
    assert events(c, made["order_id"])[-3:] == ["refund_requested", "refund_confirmed", "lines_reopened"]
    assert lines(c, made["line_ids"]) == {made["line_ids"][0]: ("unpaid", None)}


def test_a_forged_refund_notification_changes_nothing(centre, tmp_path):
    c = centre
    made = paid(c, 2)
    admin, token = login(c, "admin")
    assert ask_refund(admin, token, made["order_id"], scope="lines", line=[made["line_ids"][0]], reason="多收").status_code == 303
    [refund] = refunds_of(c, made["order_id"])
    number = refund["out_refund_no"]
    c.sandbox.settle_refund(number)
    before = everything(c)
    headers, body = c.sandbox.refund_notification(number)
    stranger = Sandbox(tmp_path / "stranger", clock=c.clock)
    stranger.refunds, stranger._trades = c.sandbox.refunds, c.sandbox._trades
    forged_headers = wechat.signed_headers(stranger._key, c.sandbox.serial, body.decode(), timestamp=int(c.clock()),
                                           nonce_str=wechat.nonce())
    tampered = body.replace(b'"resource"', b'"resource" ', 1)
    forgeries = [
        stranger.refund_notification(number),  # another platform key (an unknown serial)
        (forged_headers, body),  # signed with another key under the real serial
        (headers, tampered),  # the body changed after signing
        c.sandbox.refund_notification(number, mchid="1900009999"),  # another merchant's
        c.sandbox.refund_notification(number, amount={"total": made["amount_fen"], "refund": made["amount_fen"]}),  # the amount
        c.sandbox.refund_notification(number, out_trade_no="HP000000000000000000"),  # another order
    ]
    c.clock.advance(-400)
    forgeries.append(c.sandbox.refund_notification(number))  # stale: signed 400 s ago
    c.clock.advance(400)
    for h, b in forgeries:
        r = c.app.test_client().post("/api/v1/payments/refund-notify/sandbox", data=b, headers=h,
                                     content_type="application/json")
        assert r.status_code >= 400 and r.get_json()["code"] == "FAIL", r.get_json()
    assert everything(c) == before
    assert lines(c, made["line_ids"])[made["line_ids"][0]] == ("paid", made["order_id"])
    # The genuine one confirms it.
    assert wechat_refund_notice(c, number).status_code == 200
    assert lines(c, made["line_ids"]) == {made["line_ids"][0]: ("unpaid", None),
                                          made["line_ids"][1]: ("paid", made["order_id"])}


def test_two_people_refunding_the_same_line_at_once_refund_it_once(central_db, tmp_path):
    c = prepare(make_centre(tmp_path, central_db))
    try:
        made = paid(c, 2)
        order = order_of(c, made["order_id"])
        gate = threading.Barrier(8)
        outcomes: list[str] = []

        def one(n: int) -> None:
            store = Store.connect(central_db)
            try:
                gate.wait()
                person_refunds.start(store, c.payments.providers, order,
                                     RefundAsk("lines", f"第 {n} 人", (made["line_ids"][0],)), user=f"u{n}",
                                     notify_base="http://centre.invalid", now=c.clock())
                outcomes.append("made")
            except RefundRefused as exc:
                outcomes.append(exc.code)
            finally:
                store.close()

        threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("made") == 1 and len(outcomes) == 8, outcomes
        [refund] = refunds_of(c, made["order_id"])
        assert len(c.sandbox.refunds) == 1
        assert int(order_of(c, made["order_id"])["refunded_fen"]) == int(refund["amount_fen"])
    finally:
        close_centre(c)


def test_the_hall_learns_of_its_refunds_only(centre):
    c = centre
    made = paid(c, 1, wallet="alipay")
    theirs = paid(c, 1, hall="h2")
    admin, token = login(c, "admin")
    assert ask_refund(admin, token, made["order_id"], scope="full", reason="重复缴费").status_code == 303
    assert ask_refund(admin, token, theirs["order_id"], scope="full", reason="重复缴费").status_code == 303
    answer = c.app.test_client().get("/api/v1/payments/refunds?days=7", headers={"Authorization": f"Bearer {c.tokens['h1']}"})
    assert answer.status_code == 200
    [seen] = answer.get_json()["refunds"]
    assert (seen["order_id"], seen["room"], seen["status"], seen["reason"], seen["amount_fen"], seen["automatic"]) == (
        made["order_id"], ROOM, "confirmed", "重复缴费", made["amount_fen"], False)
    assert [line["amount_fen"] for line in seen["lines"]] == [made["amount_fen"]]
    assert c.app.test_client().get("/api/v1/payments/refunds?days=90",
                                   headers={"Authorization": f"Bearer {c.tokens['h1']}"}).status_code == 422
    assert c.app.test_client().get("/api/v1/payments/refunds").status_code == 401


def test_reconciliation_matches_refunds_one_by_one(centre):
    c = centre
    day = china_day(c.clock()).isoformat()
    admin, token = login(c, "admin")
    good = paid(c, 1)  # refunded, confirmed: in the bill and at the centre
    assert ask_refund(admin, token, good["order_id"], scope="full", reason="退款").status_code == 303
    number = refunds_of(c, good["order_id"])[0]["out_refund_no"]
    c.sandbox.settle_refund(number)
    assert wechat_refund_notice(c, number).status_code == 200
    ali = paid(c, 1, wallet="alipay")  # refunded on Alipay, then its amount changed at the centre
    assert ask_refund(admin, token, ali["order_id"], scope="full", reason="退款").status_code == 303
    changed = refunds_of(c, ali["order_id"])[0]
    c.store.execute("UPDATE payment_refunds SET amount_fen = amount_fen + 1 WHERE id = ?", (changed["id"],))
    by_hand = paid(c, 1)  # refunded in the merchant platform: the centre never heard of it
    c.sandbox.refund(by_hand["out_trade_no"], "RMBYHAND0001", 100, by_hand["amount_fen"])
    c.store.execute("INSERT INTO payment_refunds (id, order_id, provider, out_refund_no, amount_fen, reason, status, "
                    "requested_at, confirmed_at, requested_by) VALUES ('ghost', ?, 'sandbox', 'RMGHOST0001', 50, 'x', "
                    "'confirmed', ?, ?, 'admin')", (by_hand["order_id"], c.clock(), c.clock()))
    run = reconcile(c.store, c.payments.providers, day, now=c.clock(), by="test")
    found = {(r["provider"], r["out_refund_no"]): (r["kind"], r["bill_fen"], r["centre_fen"]) for r in c.store.query(
        "SELECT * FROM reconciliation_refund_differences WHERE run_id = ?", (run,))}
    assert found == {
        ("alipay", changed["out_refund_no"]): ("refund_amount_differs", ali["amount_fen"], ali["amount_fen"] + 1),
        ("sandbox", "RMBYHAND0001"): ("refund_missing_at_centre", 100, None),
        ("sandbox", "RMGHOST0001"): ("refund_missing_at_provider", None, 50),
    }
    assert c.store.query("SELECT * FROM reconciliation_differences WHERE run_id = ?", (run,)) == []
    assert c.store.scalar("SELECT differences FROM reconciliation_runs WHERE id = ?", (run,)) == 3
    page = admin.get(f"/reconciliation/?day={day}").get_data(as_text=True)
    assert "RMBYHAND0001" in page and "退款金额不符" in page


@pytest.mark.parametrize("central_db", ["sqlite"], indirect=True)
def test_the_pages_in_chromium(central_db, tmp_path, browser):
    from .minihall import Served

    c = prepare(make_centre(tmp_path, central_db))
    served = Served(c.app)
    try:
        conflict = paid_conflict(c)
        made = paid(c, 1, hall="h1")
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(served.url + "login")
        page.fill("#username", "mgr")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.click("a:has-text('缴费与退款')")
        page.wait_for_selector("#refunds-due")
        assert page.locator("tr.order").first.get_attribute("class").endswith("due")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "payments.png", full_page=True)
        to_docs(SHOTS / "payments.png", "centre-payments.png")
        page.click("tr.due a")
        page.wait_for_selector("#refund-form")
        page.check("input[value=amount]")
        page.fill("input[name=amount]", "20.00")
        page.click("#refund-form button")
        page.wait_for_selector("#refund-error")
        assert "请填写退款原因" in page.inner_text("#refund-error")
        page.fill("input[name=reason]", "订单关闭后才到账，已由另一笔结清，退回 20 元")
        page.click("#refund-form button")
        page.wait_for_selector("p.done")
        assert "已申请退款 ¥20.00" in page.inner_text("p.done")
        page.screenshot(path=SHOTS / "order-refunded.png", full_page=True)
        to_docs(SHOTS / "order-refunded.png", "centre-payment-refund.png")
        assert conflict["out_trade_no"] in page.inner_text("h2")
        page.goto(served.url + f"payments/{made['order_id']}")
        page.wait_for_selector("#refund-form")
        page.check("input[value=lines]")
        page.screenshot(path=SHOTS / "order-form.png", full_page=True)
    finally:
        served.stop()
        close_centre(c)
