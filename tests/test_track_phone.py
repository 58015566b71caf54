"""The resident's phone page of a request (the receipt's QR code, ``/t/{number}``), in headless
Chromium at phone size against a real edge agent and broker: the last 4 digits first, then
the status and history masked, a refresh that does not resubmit, the rating that reopens a
badly rated request, and every refusal in plain words with nothing stored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge_agent.complaints import tracking

from .helpers.edge_inputs import complaint

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "track"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def hall(mini, broker):
    agent = mini.edge()
    console = mini.console(agent, complaints=agent.complaints)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    yield agent, console, kiosk


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def row(agent, complaint_id: str) -> dict:
    return list(agent.complaints.db.query("SELECT * FROM complaints WHERE id = ?", [complaint_id]))[0]


def ratings_sent(agent) -> int:
    return agent.complaints.db.execute("SELECT count(*) FROM outbox WHERE kind = 'rating'").fetchone()[0]


def enter(page, digits: str) -> None:
    page.fill("#last4", digits)
    page.click("button:has-text('查询进度')")
    page.wait_for_load_state()


def test_the_resident_follows_and_rates_a_request_on_the_phone(hall, browser):
    agent, console, kiosk = hall
    r = kiosk.request("complaint", complaint())
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{console.url}t/{r['tracking_no']}")
    assert r["readable"] in page.inner_text(".number")
    assert page.get_attribute("#last4", "inputmode") == "numeric"
    assert "138****" not in page.content()  # nothing about the request before the digits
    shot(page, "1-ask-last4")

    enter(page, "5678")
    body = page.inner_text("body")
    assert "已受理登记，等待工作人员接单" in body and "Received, waiting for staff" in body
    assert "张**" in body and "138****5678" in body and "公共设施" in body
    assert "13812345678" not in page.content() and "张三丰" not in page.content()
    assert page.locator("ol.history li").count() == 1
    assert "请评价" not in body  # nothing to rate yet
    shot(page, "2-status")

    page.reload()  # post/redirect/get: the page comes back, nothing is posted again
    assert "138****5678" in page.inner_text("body")
    assert agent.complaints.db.execute("SELECT count(*) FROM track_failures").fetchone()[0] == 0

    for action in ("accept", "resolve"):
        agent.complaints.transition(r["id"], action, who="staff-li")
    page.reload()
    history = page.locator("ol.history li").all_inner_texts()
    assert [h.split("\n")[1] if "\n" in h else h for h in history][-1].startswith("已处理完毕")
    assert len(history) == 3 and page.locator("button.rating").count() == 5
    assert page.locator("button.rating").all_inner_texts()[0].startswith("非常满意")
    shot(page, "3-rate")

    # a rating that is not one of the five (a forged form) and a comment too long: refused, nothing kept
    page.evaluate("document.querySelector('button.rating').value = 'meh'")
    page.click("button.rating >> nth=0")
    assert "请选择一个评价" in page.inner_text("body")
    page.evaluate("document.querySelector('#comment').removeAttribute('maxlength')")
    page.fill("#comment", "门" * 201)
    page.click("button.rating:has-text('满意') >> nth=1")
    assert "留言最多 200 个字" in page.inner_text("body")
    shot(page, "4-comment-too-long")
    assert row(agent, r["id"])["rating"] is None and ratings_sent(agent) == 0

    page.fill("#comment", "门禁还是时好时坏")
    page.click("button.rating:has-text('不满意') >> nth=0")
    body = page.inner_text("body")
    assert "感谢您的评价：不满意" in body and "已重新处理" in body and "staff will contact you" in body
    shot(page, "5-thanks-reopened")
    stored = row(agent, r["id"])
    assert (stored["status"], stored["rating"], stored["rating_comment"]) == ("accepted", "dissatisfied", "门禁还是时好时坏")
    assert ratings_sent(agent) == 1

    page.reload()  # rated: the answer is forgotten, and nothing is rated twice
    assert page.locator("#last4").count() == 1 and "138****" not in page.content()
    assert ratings_sent(agent) == 1
    page.close()


def test_wrong_digits_an_unknown_number_and_the_rate_limit(hall, browser):
    agent, console, kiosk = hall
    r = kiosk.request("complaint", complaint())
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{console.url}t/{r['tracking_no']}")
    enter(page, "0000")
    body = page.inner_text("body")
    assert "编号和手机后 4 位对不上" in body and "do not match" in body
    assert "138****" not in page.content() and page.locator("ol.history").count() == 0
    shot(page, "6-wrong-digits")

    other = kiosk.request("complaint", complaint(phone="13900001111"))
    body12 = other["tracking_no"][:9] + "999"
    unknown = body12 + tracking.luhn_digit(body12)  # well formed, but no such request
    page.goto(f"{console.url}t/{unknown}")
    enter(page, "1111")
    assert "编号和手机后 4 位对不上" in page.inner_text("body")
    assert page.request.get(f"{console.url}t/1234567890123").status == 404  # a mistyped number

    page.goto(f"{console.url}t/{r['tracking_no']}")
    for _ in range(3):
        enter(page, "1111")
    enter(page, "5678")  # right, but after five wrong tries from this phone
    body = page.inner_text("body")
    assert "错误次数过多" in body and "Too many wrong tries" in body and page.locator("ol.history").count() == 0
    shot(page, "7-rate-limited")
    page.close()


def test_a_form_without_its_token_is_refused_plainly(hall):
    agent, console, kiosk = hall
    r = kiosk.request("complaint", complaint())
    c = console.app.test_client()
    answer = c.post(f"/t/{r['tracking_no']}", data={"last4": "5678"})
    assert answer.status_code == 302
    page = c.get(answer.headers["Location"]).get_data(as_text=True)
    assert "页面已过期，请重新操作" in page and "138****5678" not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    c.post(f"/t/{r['tracking_no']}", data={"last4": "5678", "csrf_token": token})
    assert "138****5678" in c.get(f"/t/{r['tracking_no']}").get_data(as_text=True)
    app = console.app
    session = app.session_interface.get_signing_serializer(app).loads(c.get_cookie("session").value)
    assert list(session["track"]) == [r["tracking_no"]]
    assert "5678" not in str(session)  # the digits stay on the edge, not in the browser's cookie
