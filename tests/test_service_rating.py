"""Residents rate the counter service of their ticket (seed 000 clause 6.1).

On the edge, over a real mosquitto and the agent's real SQLite file: only a ticket of
today's queue that was served can be rated, once; the rating carries the counter and the
staff member who served it and goes to the outbox in the same transaction; a double tap
is one rating; bad payloads are refused with the field. At the kiosk, in headless
Chromium: take a number, get served, rate it through the screens, and see it on the staff
console's statistics; and the plain message for a ticket not served yet.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from edge_agent.db import migrations
from edge_agent.queue.engine import QueueEngine
from hall_common.config import QueueConfig
from hall_common.errors import RequestFailed
from hall_common.storage import open_database

from .conftest import wait_for
from .helpers import edge_db
from .helpers.clock import Clock
from .screens import check_screen, staff_page

ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
QUEUE = {"hours": ALWAYS, "counters": [
    {"id": "c1", "name": "1", "services": ["procedures", "consult"], "callers": ["env-01"]},
    {"id": "c3", "name": "3", "services": ["payment"]},
]}


def served(agent, kiosk, service: str = "procedures", *, counter: str = "c1", staff: str | None = "wang") -> str:
    """Take a number at the kiosk and have it served and finished at ``counter``."""
    code = kiosk.request("ticket", {"request": str(uuid.uuid4()), "service": service})["code"]
    agent.queue.act(counter, "next", by=staff)
    agent.queue.act(counter, "serve")
    agent.queue.act(counter, "finish")
    return code


def rate(kiosk, code: str, rating: str = "satisfied", **extra) -> dict:
    return kiosk.request("rate_service", {"request": str(uuid.uuid4()), "code": code, "rating": rating, **extra})


def stored(agent) -> list[dict]:
    return edge_db.rows(agent, "SELECT * FROM service_ratings ORDER BY rated_at")


def outbox(agent) -> list[dict]:
    return edge_db.rows(agent, "SELECT * FROM outbox WHERE kind = 'service_rating' ORDER BY ts")


def test_a_served_ticket_is_rated_with_its_counter_and_staff_and_queued_for_the_centre(mini, broker, tmp_path):
    agent = mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    code = served(agent, kiosk)
    got = rate(kiosk, code.replace("A00", "a"), "very_satisfied", comment="办理快；态度好")  # "a1" is A001
    assert (got["code"], got["rating"], got["counter_name"], got["name_zh"]) == ("A001", "very_satisfied", "1", "手续办理")
    [row] = stored(agent)
    assert (row["code"], row["counter"], row["staff"], row["rating"], row["comment"], row["kiosk"]) == \
        ("A001", "c1", "wang", "very_satisfied", "办理快；态度好", "kiosk-01")
    [record] = outbox(agent)
    body = json.loads(record["body"])
    assert record["id"] == row["id"] == got["id"] and record["node"] == "kiosk-01"
    assert (body["ticket"], body["counter"], body["staff"], body["rating"]) == \
        (row["ticket"], "c1", "wang", "very_satisfied")
    # Committed to the file, not only visible to the agent's own connection.
    db = open_database(tmp_path / "edge" / "edge.db")
    assert [r["rating"] for r in db.query("SELECT rating FROM service_ratings")] == ["very_satisfied"]
    db.close()


def test_a_ticket_still_waiting_or_at_the_counter_is_not_yet_rateable(mini, broker):
    agent = mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    code = kiosk.request("ticket", {"request": str(uuid.uuid4()), "service": "consult"})["code"]
    for step in (None, "next", "serve"):  # issued, called, serving
        if step:
            agent.queue.act("c1", step)
        with pytest.raises(RequestFailed) as err:
            rate(kiosk, code)
        assert err.value.code == "not_yet"
        with pytest.raises(RequestFailed) as err:
            kiosk.request("rate_service", {"code": code, "check": True})
        assert err.value.code == "not_yet"
    assert stored(agent) == [] and outbox(agent) == []


def test_a_no_show_cannot_be_rated(mini, broker):
    agent = mini.edge(queue={**QUEUE, "recalls_before_no_show": 0})
    kiosk = broker.client("kiosk-01", kind="kiosk")
    code = kiosk.request("ticket", {"request": str(uuid.uuid4()), "service": "consult"})["code"]
    agent.queue.act("c1", "next")
    agent.queue.act("c1", "skip")
    with pytest.raises(RequestFailed) as err:
        rate(kiosk, code)
    assert err.value.code == "not_served" and stored(agent) == []


def test_a_ticket_is_rated_once(mini, broker):
    agent = mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    code = served(agent, kiosk)
    rate(kiosk, code, "dissatisfied")
    with pytest.raises(RequestFailed) as err:
        rate(kiosk, code, "very_satisfied")
    assert err.value.code == "already_rated"
    with pytest.raises(RequestFailed) as err:
        kiosk.request("rate_service", {"code": code, "check": True})
    assert err.value.code == "already_rated"
    assert [r["rating"] for r in stored(agent)] == ["dissatisfied"] and len(outbox(agent)) == 1


def test_a_double_tap_is_one_rating_with_the_same_answer(mini, broker):
    agent = mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    code = served(agent, kiosk)
    args = {"request": str(uuid.uuid4()), "code": code, "rating": "basically_satisfied", "comment": "等待太久"}
    first, second = kiosk.request("rate_service", args), kiosk.request("rate_service", args)
    assert first == second and first["rating"] == "basically_satisfied"
    assert len(stored(agent)) == 1 and len(outbox(agent)) == 1


def test_checking_a_ticket_says_where_it_was_served_and_stores_nothing(mini, broker):
    agent = mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    code = served(agent, kiosk, "payment", counter="c3")
    got = kiosk.request("rate_service", {"code": code, "check": True})
    assert (got["code"], got["counter_name"], got["name_zh"], got["check"]) == ("F001", "3", "费用缴纳", True)
    assert stored(agent) == [] and outbox(agent) == []


@pytest.mark.parametrize("code", ["A002", "Z001", "E001"], ids=["next-number", "no-such-service", "not-issued"])
def test_an_unknown_code_is_not_found(mini, broker, code):
    agent = mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    served(agent, kiosk)
    with pytest.raises(RequestFailed) as err:
        rate(kiosk, code)
    assert err.value.code == "not_found" and stored(agent) == []


@pytest.mark.parametrize("change, field", [
    ({"rating": "great"}, "rating"),
    ({"rating": None}, "rating"),
    ({"comment": "太" * 201}, "comment"),
    ({"comment": ["办理快"]}, "comment"),
    ({"code": None}, "code"),
    ({"code": 1}, "code"),
    ({"code": "1A"}, "code"),
    ({"code": "A-1"}, "code"),
    ({"request": "x"}, "request"),
    ({"request": 12345678}, "request"),
], ids=["unknown-rating", "no-rating", "comment-too-long", "comment-not-text", "no-code", "code-not-text",
        "digits-first", "punctuation", "short-request-id", "request-not-text"])
def test_malformed_ratings_are_refused_with_the_field_and_nothing_is_stored(mini, broker, change, field):
    agent = mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    code = served(agent, kiosk)
    args = {"request": str(uuid.uuid4()), "code": code, "rating": "satisfied", **change}
    args = {k: v for k, v in args.items() if v is not None}
    with pytest.raises(RequestFailed) as err:
        kiosk.request("rate_service", args)
    assert err.value.code == "bad_request" and field in str(err.value)
    assert stored(agent) == [] and outbox(agent) == []
    rate(kiosk, code, comment="太" * 200)  # the longest comment allowed still goes in
    assert len(stored(agent)) == 1


# -- the engine alone, with a clock the test moves ------------------------------------------


@pytest.fixture
def engine(tmp_path):
    from zoneinfo import ZoneInfo

    records: list[tuple] = []
    db = open_database(tmp_path / "edge.db", migrations, shared_thread=True)
    clock = Clock(datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
    e = QueueEngine(db, QueueConfig(**QUEUE), clock=clock, hall_id="h1",
                    record=lambda db, kind, body, node, rid: records.append((kind, body, node, rid)))
    e.records, e.test_clock = records, clock  # type: ignore[attr-defined]
    yield e
    db.close()


def serve_one(e: QueueEngine, service: str = "procedures", counter: str = "c1") -> str:
    code = e.issue(service, kiosk="kiosk-01").ticket.code
    e.call_next(counter)
    e.finish(counter)
    return code


def test_yesterdays_ticket_cannot_be_rated_today(engine):
    code = serve_one(engine)
    engine.test_clock.t += 86400  # the next service day: numbering starts again, A001 is not issued yet
    with pytest.raises(RequestFailed) as err:
        engine.rate(code, "satisfied", kiosk="kiosk-01")
    assert err.value.code == "not_found"
    assert [r[0] for r in engine.records] == ["ticket", "ticket_outcome"]  # no rating went


def test_the_staff_is_whoever_works_the_counter_and_the_share_counts_the_satisfied(engine):
    engine.attend("c1", "wang")
    a = serve_one(engine)
    b = serve_one(engine)
    engine.attend("c1", "li")
    c = serve_one(engine)
    f = serve_one(engine, "payment", "c3")  # nobody signed on at counter 3: its staff is unknown
    for code, level in ((a, "very_satisfied"), (b, "basically_satisfied"), (c, "satisfied"), (f, "dissatisfied")):
        engine.rate(code, level, kiosk="kiosk-01", request=str(uuid.uuid4()))
    staff = {r["code"]: r["staff"] for r in engine.db.query("SELECT code, staff FROM service_ratings")}
    assert staff == {"A001": "wang", "A002": "wang", "A003": "li", "F001": None}
    figures = engine.satisfaction()
    c1, c3 = figures["counters"]["c1"], figures["counters"]["c3"]
    assert (c1["rated"], c1["satisfied"], c1["share"]) == (3, 2, 0.667)  # 基本满意 is not counted as satisfied
    assert (c3["rated"], c3["satisfied"], c3["share"]) == (1, 0, 0.0)
    assert figures["total"]["levels"]["basically_satisfied"] == 1 and figures["total"]["rated"] == 4
    kinds = [r[0] for r in engine.records if r[0] == "service_rating"]
    assert len(kinds) == 4


# -- at the kiosk, in headless Chromium ------------------------------------------------------

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "rating"


@pytest.fixture
def hall(mini):
    """Edge agent, its staff console (user ``staff``) and a kiosk, over the test broker."""
    agent = mini.edge(queue=QUEUE)
    console = mini.console(agent, queue=agent.queue)
    kiosk, app = mini.kiosk()
    status = app.extensions["hall_status"]
    wait_for(lambda: status.queue is not None and status.snapshot().edge_up)
    yield mini, agent, kiosk, console, app


def check(page, name: str) -> None:
    check_screen(page, SHOTS, name)


def type_code(page, code: str) -> None:
    page.click(".key[data-key=clear]")
    for key in code:
        page.click(f".key[data-key='{key}']")
    assert page.input_value("#code") == code


def test_take_a_number_get_served_and_rate_it_at_the_kiosk(hall, browser):
    mini, agent, kiosk, console, app = hall
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    page.goto(kiosk.url)
    page.click(".tile-queue")
    page.click("button.service:has-text('手续办理')")
    page.wait_for_selector(".ticket-number")
    code = page.inner_text(".ticket-number")
    assert code == "A001"
    agent.queue.act("c1", "next", by="wang")  # 王 works counter 1 from the console
    agent.queue.act("c1", "serve")
    agent.queue.act("c1", "finish")

    page.goto(kiosk.url)
    page.click(".tile-rate")
    page.wait_for_selector("#code")
    letters = page.locator(".key.letter").all_inner_texts()
    assert letters == ["A", "B", "C", "D", "E", "F", "G"]  # the hall's services, from the queue state
    type_code(page, code)
    check(page, "1-number")
    page.click("button:has-text('下一步')")
    page.wait_for_selector(".rate-levels")
    assert "A001" in page.inner_text(".rate-ticket") and "1 号窗口" in page.inner_text(".rate-ticket")
    assert page.locator(".rate-level").all_inner_texts() == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    page.click("button:has-text('提交')")  # nothing chosen yet: asked to choose, nothing stored
    page.wait_for_selector(".result.bad")
    assert "请先点选" in page.inner_text(".result.bad") and stored(agent) == []
    page.click(".rate-very_satisfied")
    page.click(".rate-phrases label:has-text('办理快')")
    page.click(".rate-phrases label:has-text('态度好')")
    check(page, "2-rating")
    page.click("button:has-text('提交')")
    page.wait_for_selector(".rate-done")
    assert "A001" in page.inner_text(".rate-done") and "非常满意" in page.inner_text(".rate-done")
    check(page, "3-thanks")
    [row] = stored(agent)
    assert (row["code"], row["rating"], row["comment"], row["counter"], row["staff"]) == \
        ("A001", "very_satisfied", "办理快；态度好", "c1", "wang")
    assert len(outbox(agent)) == 1
    page.click("a:has-text('完成')")
    page.wait_for_selector(".tiles")
    page.close()

    staff = staff_page(browser, console.url + "stats")
    text = staff.inner_text("main")
    assert "评价 · Ratings 1" in text and "满意率 · Satisfied 100%" in text
    row1 = staff.locator("table.ratings tbody tr").first.inner_text().split("\t")
    assert row1[:3] == ["1 号窗口", "1", "100%"]
    assert "办理快；态度好" in staff.inner_text(".comments") and "wang" in staff.inner_text(".comments")
    SHOTS.mkdir(parents=True, exist_ok=True)
    staff.screenshot(path=SHOTS / "4-stats.png", full_page=True)
    staff.close()


def test_the_kiosk_says_plainly_why_a_number_cannot_be_rated(hall, browser):
    mini, agent, kiosk, console, app = hall
    waiting = agent.queue.engine.issue("procedures", kiosk="kiosk-02").ticket.code
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    page.goto(kiosk.url + "rate/")
    type_code(page, "12")
    page.click("button:has-text('下一步')")
    page.wait_for_selector(".result.bad")
    assert "请按排队票上的号码输入" in page.inner_text(".result")
    type_code(page, waiting)
    page.click("button:has-text('下一步')")
    page.wait_for_selector(".result.warn")
    assert "这个号码还没有办理" in page.inner_text(".result") and page.input_value("#code") == waiting
    check(page, "1-not-served-yet")
    type_code(page, "B007")
    page.click("button:has-text('下一步')")
    page.wait_for_selector(".result.bad")
    assert "今天没有发出这个号码" in page.inner_text(".result")

    # Served, then the edge goes away while the resident chooses: the kiosk says so plainly.
    agent.queue.act("c1", "next")
    agent.queue.act("c1", "finish")
    type_code(page, waiting)
    page.click("button:has-text('下一步')")
    page.wait_for_selector(".rate-levels")
    page.click("button.navbtn:has-text('大字')")  # elder mode: the same screen, larger
    page.wait_for_selector("body.elder .rate-levels")
    check(page, "2-rating-elder")
    mini.closers.remove(agent.close)
    agent.close()
    wait_for(lambda: not app.extensions["hall_status"].snapshot().edge_up)
    page.click(".rate-dissatisfied")
    page.click(".rate-phrases label:has-text('等待太久')")
    page.click("button:has-text('提交')")
    page.wait_for_selector(".result.warn")
    assert "系统暂时无法连接" in page.inner_text(".result.warn")
    assert page.locator(".rate-dissatisfied input").is_checked()  # the choice is kept for another try
    check(page, "2-unreachable")
    page.click("button.navbtn:has-text('English')")  # the longest words, in large text
    page.wait_for_selector("html[lang=en] .rate-levels")
    assert "Very dissatisfied" in page.inner_text(".rate-levels")
    check(page, "2-rating-elder-en")
    page.close()
