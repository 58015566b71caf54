"""One bill, two wallets at once, at the centre (SQLite and a real PostgreSQL): a second
order ``beside`` the first for the same lines in the other wallet (refused for other
lines, the same wallet, another kiosk's order, a third code); whichever is paid first
settles the lines; the second payment is refunded through its own provider, the refund
recorded, requested then confirmed, every step an event, and nothing credited twice, also
with its notification 20 times at once; a forged refund notification changes nothing; the
sweep closes a pair and frees its lines only when neither order is live."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from .test_alipay import notify as alipay_notify
from .test_alipay import twin
from .test_payments import Centre, close_centre, make_centre

ROOM = "3-2-1201"


@pytest.fixture
def centre(central_db, tmp_path):
    c = make_centre(tmp_path, central_db)
    yield c
    close_centre(c)


def pair(c: Centre, n: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The WeChat (sandbox) order and its Alipay second code for the same lines."""
    ids = list(c.unpaid(ROOM))[:n]
    first = c.order({"room": ROOM, "bill_ids": ids, "kiosk": "kiosk-01"})
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["wallets"] == ["sandbox", "alipay"]
    second = c.order({"room": ROOM, "bill_ids": ids, "kiosk": "kiosk-01", "provider": "alipay",
                      "beside": first.get_json()["order_id"]})
    assert second.status_code == 201, second.get_json()
    return first.get_json(), second.get_json()


def pay_wechat(c: Centre, made: dict[str, Any]) -> None:
    c.sandbox.pay(made["out_trade_no"], deliver=False)
    r = c.notify(*c.sandbox.notification(made["out_trade_no"]))
    assert r.status_code == 200, r.get_json()


def pay_alipay(c: Centre, made: dict[str, Any]) -> None:
    twin(c).pay(made["out_trade_no"], deliver=False)
    assert alipay_notify(c, twin(c).notification(made["out_trade_no"])) == (200, "success")


def kinds(c: Centre, order_id: str) -> list[str]:
    return [r["kind"] for r in c.store.query("SELECT kind FROM payment_events WHERE order_id = ? ORDER BY id", (order_id,))]


def lines_paid_by(c: Centre, ids: list[str]) -> set[tuple[str, str]]:
    return {(r["status"], str(r["order_id"])) for r in c.store.query(
        f"SELECT status, order_id FROM bill_lines WHERE id IN ({', '.join('?' * len(ids))})", ids)}


def test_a_second_code_beside_the_first_for_the_same_lines_only(centre):
    c = centre
    ids = list(c.unpaid(ROOM))
    first, second = pair(c, 2)
    assert second["amount_fen"] == first["amount_fen"] and second["provider"] == "alipay"
    assert second["code_url"].endswith("/sandbox/alipay/pay/" + second["out_trade_no"])
    body = {"room": ROOM, "bill_ids": ids[:2], "kiosk": "kiosk-01"}
    refusals = [
        ({**body, "provider": "alipay", "beside": first["order_id"]}, 409),  # a third code in the same wallet
        ({**body, "provider": "sandbox", "beside": first["order_id"]}, 409),  # the first order's own wallet
        ({**body, "bill_ids": ids[:1], "provider": "alipay", "beside": first["order_id"]}, 409),  # other lines
        ({**body, "kiosk": "kiosk-02", "provider": "alipay", "beside": first["order_id"]}, 409),  # another kiosk's
        ({**body, "provider": "alipay", "beside": second["order_id"]}, 409),  # beside a second code
        ({**body, "provider": "alipay", "beside": "not-an-order"}, 422),
        ({**body, "provider": "alipay"}, 409),  # without beside the lines are locked, as before
    ]
    before = c.snapshot()
    for sent, status in refusals:
        r = c.order(sent)
        assert r.status_code == status, (sent, r.get_json())
    assert c.snapshot() == before  # refused: nothing written


@pytest.mark.parametrize("first_wallet", ["alipay", "wechat"])
def test_both_wallets_paid_one_credit_the_second_refunded_and_confirmed(centre, first_wallet):
    c = centre
    ids = list(c.unpaid(ROOM))[:2]
    wx, ali = pair(c, 2)
    first, second = (ali, wx) if first_wallet == "alipay" else (wx, ali)
    (pay_alipay if first_wallet == "alipay" else pay_wechat)(c, first)
    assert lines_paid_by(c, ids) == {("paid", first["order_id"])}
    (pay_wechat if first_wallet == "alipay" else pay_alipay)(c, second)
    statuses = {r["id"]: r["status"] for r in c.store.query("SELECT id, status FROM payment_orders")}
    assert (statuses[first["order_id"]], statuses[second["order_id"]]) == ("paid", "paid_conflict")
    assert lines_paid_by(c, ids) == {("paid", first["order_id"])}  # settled once, by the first
    refunds = c.store.query("SELECT * FROM payment_refunds")
    assert len(refunds) == 1
    refund = refunds[0]
    assert (refund["order_id"], refund["provider"], int(refund["amount_fen"]), refund["reason"], refund["status"]) == (
        second["order_id"], second["provider"], second["amount_fen"], "paid twice", "confirmed")
    assert refund["refund_id"] and refund["confirmed_at"] is not None
    assert kinds(c, second["order_id"]) == ["created", "paid_conflict", "refund_requested", "refund_answered",
                                            "refund_confirmed"]
    assert kinds(c, first["order_id"]) == ["created", "paid"]
    # the provider gave the money back once
    if first_wallet == "alipay":
        assert [fen for no, fen in c.sandbox.refunds.values()] == [second["amount_fen"]]
    else:
        assert twin(c).trade(second["out_trade_no"]).refunds == {refund["out_refund_no"]: second["amount_fen"]}
        # Alipay's refund notification arrives afterwards: believed, and nothing changes
        before = c.snapshot()
        assert alipay_notify(c, twin(c).refund_notification(second["out_trade_no"], refund["out_refund_no"])) == (
            200, "success")
        assert c.snapshot() == before
    # the hall is told: the second order's view carries its refund
    view = c.get(second["order_id"]).get_json()
    assert view["status"] == "paid_conflict" and view["refund"] == {"status": "confirmed",
                                                                    "amount_fen": second["amount_fen"],
                                                                    "reason": "paid twice"}
    assert c.get(first["order_id"]).get_json()["refund"] is None


def test_the_second_payments_notification_twenty_times_at_once_refunds_once(centre):
    c = centre
    wx, ali = pair(c)
    pay_wechat(c, wx)
    twin(c).pay(ali["out_trade_no"], deliver=False)
    bodies = [twin(c).notification(ali["out_trade_no"]) for _ in range(20)]
    answers: list[tuple[int, str]] = []
    gate = threading.Barrier(20)

    def send(body: bytes) -> None:
        gate.wait()
        answers.append(alipay_notify(c, body))

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [(200, "success")] * 20
    assert c.store.scalar("SELECT count(*) FROM payment_refunds") == 1
    assert len(twin(c).trade(ali["out_trade_no"]).refunds) == 1
    assert c.store.scalar("SELECT count(*) FROM payment_events WHERE kind = 'paid'") == 1
    assert kinds(c, ali["order_id"]).count("refund_requested") == 1


def test_a_forged_refund_notification_changes_nothing(centre):
    c = centre
    wx, ali = pair(c)
    pay_wechat(c, wx)
    twin(c).pay(ali["out_trade_no"], deliver=False)
    # a refund asked for and not yet confirmed (its notification will say)
    c.store.execute("INSERT INTO payment_refunds (id, order_id, provider, out_refund_no, amount_fen, reason, status, "
                    "requested_at) VALUES ('r1', ?, 'alipay', 'RFforged', ?, 'paid twice', 'requested', 0)",
                    (ali["order_id"], ali["amount_fen"]))
    forger = twin(c).impostor()
    twin(c)._trades[ali["out_trade_no"]] = replace(twin(c).trade(ali["out_trade_no"]), refunds={"RFforged": ali["amount_fen"]})
    before = c.snapshot(), c.store.query("SELECT * FROM payment_refunds")
    assert alipay_notify(c, forger.refund_notification(ali["out_trade_no"], "RFforged"))[0] >= 400
    assert (c.snapshot(), c.store.query("SELECT * FROM payment_refunds")) == before
    # the genuine one confirms it
    assert alipay_notify(c, twin(c).refund_notification(ali["out_trade_no"], "RFforged")) == (200, "success")
    assert c.store.scalar("SELECT status FROM payment_refunds WHERE out_refund_no = 'RFforged'") == "confirmed"


def test_the_sweep_closes_a_pair_and_frees_its_lines_when_neither_is_live(centre):
    c = centre
    ids = list(c.unpaid(ROOM))[:1]
    wx, ali = pair(c, 1)
    c.clock.advance(c.payments.config.order_ttl_s + 1)
    done = c.payments.sweep()
    assert sorted(done["closed"]) == sorted([wx["order_id"], ali["order_id"]])
    assert lines_paid_by(c, ids) == {("unpaid", "None")}
    again = c.order({"room": ROOM, "bill_ids": ids, "kiosk": "kiosk-01"})
    assert again.status_code == 201


def test_the_sweep_finds_the_second_payment_and_refunds_it(centre):
    c = centre
    wx, ali = pair(c)
    pay_alipay(c, ali)
    c.sandbox.pay(wx["out_trade_no"], deliver=False)  # its notification is lost
    c.clock.advance(c.payments.config.order_ttl_s + 1)
    done = c.payments.sweep()
    assert done["paid_conflict"] == [wx["order_id"]]
    assert c.store.scalar("SELECT status FROM payment_refunds WHERE order_id = ?", (wx["order_id"],)) == "confirmed"


def test_the_first_order_answers_for_the_pair(centre):
    """The hall long-polls a payment through its first order: its view carries the pair's
    outcome (paid as soon as either code is), whether every code is final, and the others."""
    c = centre
    wx, ali = pair(c)
    view = c.get(wx["order_id"]).get_json()
    assert (view["outcome"], view["settled"]) == ("created", False)
    assert [(p["order_id"], p["status"], p["provider"]) for p in view["pair"]] == [(ali["order_id"], "created", "alipay")]
    pay_alipay(c, ali)  # the second code is paid
    view = c.get(wx["order_id"]).get_json()
    assert (view["status"], view["outcome"], view["settled"]) == ("created", "paid", False)
    assert view["pair"][0]["status"] == "paid"
    assert "pair" not in c.get(ali["order_id"]).get_json()  # a second code answers for itself
    done = c.payments.sweep()  # before expiry: the first code is closed, the payment settled
    assert done["closed"] == [wx["order_id"]]
    assert c.sandbox.query_order(wx["out_trade_no"]).trade_state == "CLOSED"
    view = c.get(wx["order_id"]).get_json()
    assert (view["status"], view["outcome"], view["settled"]) == ("closed", "paid", True)


def test_a_paid_code_closes_the_other_before_expiry_and_a_late_payment_is_refunded(centre):
    c = centre
    ids = list(c.unpaid(ROOM))[:2]
    wx, ali = pair(c, 2)
    pay_wechat(c, wx)
    twin(c).pay(ali["out_trade_no"], deliver=False)  # paid a moment before the close; its notification is late
    done = c.payments.sweep()
    assert done["paid_conflict"] == [ali["order_id"]] and not done["closed"]
    assert lines_paid_by(c, ids) == {("paid", wx["order_id"])}
    assert c.store.scalar("SELECT status FROM payment_refunds WHERE order_id = ?", (ali["order_id"],)) == "confirmed"
    view = c.get(wx["order_id"]).get_json()
    assert (view["outcome"], view["settled"]) == ("paid", True)
    assert view["pair"][0]["refund"]["status"] == "confirmed"


def test_a_pair_is_not_settled_before_the_second_payments_refund_is_recorded(centre):
    """The second payment is flagged ``paid_conflict`` in one transaction and its refund is
    recorded in the next: a hall's long poll that looked in between ended with no refund and
    never heard of it (seen once under load in the suite)."""
    from central_sync.server.payments.refunds import refund_paid_twice

    c = centre
    wx, ali = pair(c)
    pay_wechat(c, wx)
    c.store.execute("UPDATE payment_orders SET status = 'paid_conflict' WHERE id = ?", (ali["order_id"],))
    view = c.get(wx["order_id"]).get_json()
    assert (view["outcome"], view["settled"], view["pair"][0]["refund"]) == ("paid", False, None)
    [second] = c.store.query("SELECT * FROM payment_orders WHERE id = ?", (ali["order_id"],))
    twin(c).pay(ali["out_trade_no"], deliver=False)  # the provider has the money to give back
    assert refund_paid_twice(c.store, c.payments.providers["alipay"], second, now=time.time()) is not None
    view = c.get(wx["order_id"]).get_json()
    assert (view["outcome"], view["settled"], view["pair"][0]["refund"]["amount_fen"]) == ("paid", True, second["amount_fen"])


def test_a_long_poll_waits_for_the_outcome_or_for_every_code(centre):
    c = centre
    wx, ali = pair(c)
    pay_wechat(c, wx)
    client = c.app.test_client()
    auth = {"Authorization": f"Bearer {c.tokens['h1']}"}
    # outcome known: answered at once; settled asked: answered after the wait, not settled
    r = client.get(f"/api/v1/payments/orders/{wx['order_id']}?wait=0.2&until=outcome", headers=auth)
    assert r.get_json()["outcome"] == "paid"
    r = client.get(f"/api/v1/payments/orders/{wx['order_id']}?wait=0.2&until=settled", headers=auth)
    assert r.get_json()["settled"] is False
    bad = client.get(f"/api/v1/payments/orders/{wx['order_id']}?wait=0&until=forever", headers=auth)
    assert bad.status_code == 422 and "until" in bad.get_json()["detail"]
