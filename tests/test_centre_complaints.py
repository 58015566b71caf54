"""Residents' requests at the centre, on SQLite and on a real PostgreSQL: records made by the
edge's own ComplaintService, pushed by the real sync client over HTTP, projected at ingest;
the list (masked, filtered), a request's timeline, the satisfaction and on-time figures,
records arriving out of order and twice; and the three admin pages in headless Chromium."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest

from central_sync.server.db import StoreUsers
from hall_common.auth import set_password
from hall_common.config import ComplaintsConfig, HoursConfig
from hall_common.storage import open_database

from .helpers.central import central_app, push
from .helpers.clock import Clock, at
from .minihall import Served

ALWAYS = HoursConfig(periods=[{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}])
SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "centre"
PASSWORD = "admin password 1"


class Desk:
    """One hall's complaint service (the edge's own code) on its own database and clock."""

    def __init__(self, tmp: Path, code: str) -> None:
        from edge_agent.complaints.service import ComplaintService
        from edge_agent.db import migrations

        self.path = tmp / f"edge-{code}.db"
        open_database(self.path, migrations).close()
        self.clock = Clock()
        self.service = ComplaintService(ComplaintsConfig(hall_code=code, hours=ALWAYS), db_path=self.path, bus=None,
                                        clock=self.clock)

    def submit(self, when: float, **kw) -> dict:
        self.clock.t = when
        base = {"request": str(uuid.uuid4()), "kind": "repair", "category": "facilities", "place": "3 栋 2 单元",
                "content": "单元门门禁坏了，刷卡没反应", "wanted": "尽快修好", "name": "张三丰", "room": "3-2-101",
                "phone": "13812345678", "occurred_at": when - 600}
        return self.service.answer("complaint", "kiosk-01", {**base, **kw})

    def step(self, r: dict, when: float, action: str, **kw) -> None:
        self.clock.t = when
        self.service.transition(r["id"], action, who="staff-li", **kw)

    def rate(self, r: dict, when: float, rating: str, last4: str = "5678", comment: str = "") -> dict:
        self.clock.t = when
        return self.service.answer("rate", "kiosk-01", {"number": r["tracking_no"], "last4": last4, "rating": rating,
                                                     "comment": comment})

    def outbox(self) -> list[dict]:
        rows = self.service.db.execute("SELECT id, kind, node, ts, body FROM outbox ORDER BY seq").fetchall()
        return [{"id": i, "kind": k, "node": n, "ts": ts, "body": json.loads(b)} for i, k, n, ts, b in rows]

    def push(self, url: str, token: str, hall: str) -> int:
        """What the edge's sync worker does, batch by batch, until the outbox is empty."""
        return push(self.path, url, token, hall)

    def close(self) -> None:
        self.service.close()


@pytest.fixture
def centre(central_db, tmp_path):
    app, store, tokens = central_app(tmp_path, central_db)
    set_password(StoreUsers(store), "admin", PASSWORD, "admin")
    served = Served(app)
    yield app, store, tokens, served
    served.stop()
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    store.close()


@pytest.fixture
def halls(centre, tmp_path):
    """Two halls' histories, pushed to the centre:

    h1 (101): A facilities, Oct 2025, accepted in 30 min, resolved, 非常满意.
              B noise, accepted 90 min after (late), resolved, 不满意 (reopened), resolved, 满意.
              C elevator emergency, accepted after 10 min (on time), resolved, not rated.
    h2 (102): D cleaning, Nov 2025, from a landline, never accepted: escalated, overdue.
    """
    app, store, tokens, served = centre
    h1, h2 = Desk(tmp_path, "101"), Desk(tmp_path, "102")
    a = h1.submit(at(2025, 10, 10, 9, 0))
    h1.step(a, at(2025, 10, 10, 9, 30), "accept")
    h1.step(a, at(2025, 10, 10, 15, 0), "resolve")
    h1.rate(a, at(2025, 10, 11, 9, 0), "very_satisfied")
    b = h1.submit(at(2025, 10, 12, 10, 0), kind="complaint", category="noise", content="楼下装修太吵，电话 13900001111",
                  room="5-1-502", name="李四", phone="13712349876")
    h1.step(b, at(2025, 10, 12, 11, 30), "accept", grade_="important")
    h1.step(b, at(2025, 10, 12, 16, 0), "resolve")
    h1.rate(b, at(2025, 10, 13, 9, 0), "dissatisfied", last4="9876", comment="还是很吵")
    h1.step(b, at(2025, 10, 14, 10, 0), "resolve", note="已与装修方约定施工时间")
    h1.rate(b, at(2025, 10, 15, 9, 0), "satisfied", last4="9876")
    c = h1.submit(at(2025, 10, 20, 8, 0), kind="complaint", category="elevator", content="电梯困人，有人被关在里面",
                  room="7-1-101")
    h1.step(c, at(2025, 10, 20, 8, 10), "accept")
    h1.step(c, at(2025, 10, 20, 9, 0), "resolve")
    d = h2.submit(at(2025, 11, 3, 9, 0), kind="suggestion", category="cleaning", content="垃圾桶太少了，经常满",
                  name="王五", phone="028-87654321")
    h2.clock.t = at(2025, 11, 3, 11, 0)
    assert h2.service.check_deadlines() == [d["tracking_no"]]
    assert h1.push(served.url, tokens["h1"], "h1") == len(h1.outbox()) == 13
    assert h2.push(served.url, tokens["h2"], "h2") == 2
    yield {"A": a, "B": b, "C": c, "D": d, "h1": h1, "h2": h2}
    h1.close()
    h2.close()


def login(app):
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    return c


def numbers_in(page: str) -> set[str]:
    return set(re.findall(r"\b\d{3} \d{6} \d{3} \d\b", page))


def test_the_list_is_newest_first_masked_and_filtered(centre, halls):
    app, store, tokens, served = centre
    c = login(app)
    page = c.get("/complaints/").get_data(as_text=True)
    order = [page.index(halls[k]["readable"]) for k in "DCBA"]
    assert order == sorted(order)  # newest first, across halls
    assert "张**" in page and "138****5678" in page and "李*" in page and "137****9876" in page
    assert "*******4321" in page  # a landline keeps only its last 4 digits
    for secret in ("张三丰", "13812345678", "13712349876", "87654321"):
        assert secret not in page
    assert store.scalar("SELECT count(*) FROM complaints WHERE phone_masked LIKE ?", ("%1234%",)) == 0  # stored masked
    assert page.count("否 · no") == 2 and page.count("是 · yes") == 2  # B late, D overdue; A, C on time

    def shown(query: str) -> set[str]:
        return numbers_in(c.get(f"/complaints/?{query}").get_data(as_text=True))

    assert shown("hall=h2") == {halls["D"]["readable"]}
    assert shown("status=submitted") == {halls["D"]["readable"]}
    assert shown("grade=emergency") == {halls["C"]["readable"]}
    assert shown("grade=important") == {halls["B"]["readable"]}  # the grade staff confirmed at acceptance
    assert shown("month=2025-11") == {halls["D"]["readable"]}
    assert shown("q=" + halls["A"]["readable"].replace(" ", "+")) == {halls["A"]["readable"]}
    assert shown("q=101") == {halls[k]["readable"] for k in "ABC"}
    assert shown("hall=h1&status=resolved&month=2025-10") == {halls[k]["readable"] for k in "ABC"}
    assert "没有符合条件的记录" in c.get("/complaints/?q=999").get_data(as_text=True)


def test_a_requests_timeline_and_rating(centre, halls):
    app, store, tokens, served = centre
    c = login(app)
    page = c.get(f"/complaints/{halls['B']['tracking_no']}").get_data(as_text=True)
    steps = ["受理登记", "接单", "处理完毕", "业主评价：不满意", "处理完毕", "业主评价：满意"]
    at_ = [page.index("办理记录")]
    for s in steps:
        at_.append(page.index(f"<td>{s}</td>", at_[-1] + 1))
    assert at_ == sorted(at_)  # every step, in the hall's order
    assert "还是很吵" in page and "已与装修方约定施工时间" in page and "重新处理 1 次" in page
    assert "139****1111" in page and "13900001111" not in page  # a number typed into the text is masked
    assert "2025-10-12 11:30" in page and "否 · no" in page  # accepted late
    assert c.get("/complaints/1012510209990").status_code == 404


def test_satisfaction_and_on_time_rates(centre, halls):
    app, store, tokens, served = centre
    from central_sync.server.complaints import figures

    by_hall = {r["key"]: r for r in figures(store, "hall_id")}
    assert (by_hall["h1"]["rated"], by_hall["h1"]["satisfied"], by_hall["h1"]["satisfaction"]) == (3, 2, 66.7)
    assert (by_hall["h1"]["due"], by_hall["h1"]["on_time"], by_hall["h1"]["on_time_rate"]) == (3, 2, 66.7)
    assert (by_hall["h2"]["due"], by_hall["h2"]["on_time"], by_hall["h2"]["on_time_rate"]) == (1, 0, 0.0)
    assert by_hall["h2"]["satisfaction"] is None and by_hall["h1"]["reopened"] == 1
    by_category = {r["key"]: r for r in figures(store, "category")}
    assert (by_category["noise"]["rated"], by_category["noise"]["satisfaction"]) == (2, 50.0)
    assert (by_category["facilities"]["satisfaction"], by_category["elevator"]["on_time_rate"]) == (100.0, 100.0)
    by_month = figures(store, "month")
    assert [(r["key"], r["received"], r["due"]) for r in by_month] == [("2025-11", 1, 1), ("2025-10", 3, 3)]
    page = login(app).get("/complaints/stats").get_data(as_text=True)
    assert "66.7%" in page and "幸福里" in page and "噪音扰民" in page and "2025-10" in page
    # a request whose deadline has not come yet is not counted as due
    h2 = halls["h2"]
    h2.submit(time.time(), category="parking", content="车位被占了，请处理")
    h2.push(served.url, tokens["h2"], "h2")
    assert {r["key"]: r for r in figures(store, "hall_id")}["h2"]["due"] == 1


def test_records_out_of_order_and_twice_are_projected_once(centre, tmp_path):
    app, store, tokens, served = centre
    desk = Desk(tmp_path, "103")
    r = desk.submit(at(2025, 10, 1, 9, 0), phone="13512345555")
    desk.step(r, at(2025, 10, 1, 9, 20), "accept")
    desk.step(r, at(2025, 10, 1, 10, 0), "resolve")
    desk.rate(r, at(2025, 10, 2, 9, 0), "very_dissatisfied", last4="5555")
    records = desk.outbox()
    assert [x["kind"] for x in records] == ["complaint", "complaint_event", "complaint_event", "rating"]
    c = app.test_client()
    auth = {"Authorization": f"Bearer {tokens['h1']}"}

    def send(recs: list[dict]):
        return c.post("/api/v1/sync/batches", json={"hall_id": "h1", "sent_at": time.time(), "records": recs},
                      headers=auth)

    assert send(list(reversed(records[1:]))).status_code == 200  # the steps and the rating before the request
    stub = store.query("SELECT * FROM complaints")[0]
    assert (stub["status"], stub["received_at"], stub["rating"]) == ("accepted", None, "very_dissatisfied")
    assert "记录未到" in login(app).get("/complaints/").get_data(as_text=True)
    assert send(records).status_code == 200  # then everything again, the request among it
    row = store.query("SELECT * FROM complaints")[0]
    assert (row["status"], row["accepted_at"], row["received_at"]) == ("accepted", at(2025, 10, 1, 9, 20), at(2025, 10, 1, 9, 0))
    assert (row["reopened"], row["name_masked"], row["phone_masked"]) == (1, "张**", "135****5555")
    assert store.scalar("SELECT count(*) FROM complaint_events") == 3  # each step once
    assert store.scalar("SELECT count(*) FROM complaints") == 1
    desk.close()


@pytest.mark.parametrize("centre", ["postgresql"], indirect=True)
def test_the_admin_pages_in_a_browser(centre, halls, browser):
    app, store, tokens, served = centre
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    page.goto(served.url + "login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#fleet-updated")  # the fleet view, the landing page, links every area
    page.click("text=报事投诉 · Complaints →")
    page.wait_for_selector("table.complaints")  # the click only starts the navigation
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert page.locator("table.complaints tbody tr").count() == 4
    page.screenshot(path=SHOTS / "list.png", full_page=True)
    page.click(f"text={halls['B']['readable']}")
    assert "业主评价：不满意" in page.inner_text("main")
    page.screenshot(path=SHOTS / "detail.png", full_page=True)
    page.goto(served.url + "complaints/stats")
    assert "66.7%" in page.inner_text("table.stats-hall")
    page.screenshot(path=SHOTS / "stats.png", full_page=True)
    page.close()


def test_retention_at_the_centre_erases_personal_data_and_keeps_the_figures(centre, halls):
    """keep_years = 1, run on 2026-11-01: h1's three requests (last step October 2025) are
    erased in the projection and the ledger; h2's (November 2025) are not yet."""
    from central_sync.server import retention
    from central_sync.server.complaints import figures

    app, store, tokens, served = centre
    now = at(2026, 11, 1, 3, 0)
    before = {col: figures(store, col, now) for col in ("hall_id", "category", "month")}
    counts = retention.run(store, keep_years=1, now=now, day="2026-11-01")
    # the ledger: three requests' own records, B's note and B's rating comment (nothing else has words)
    assert counts is not None and (counts["complaints"], counts["events"], counts["records"]) == (3, 2, 5)
    assert retention.run(store, keep_years=1, now=now, day="2026-11-01") is None  # another worker, same day
    assert {col: figures(store, col, now) for col in ("hall_id", "category", "month")} == before
    h1 = store.query("SELECT * FROM complaints WHERE hall_id = 'h1'")
    assert {(r["room"], r["name_masked"], r["phone_masked"], r["content"], r["erased_why"]) for r in h1} == {
        ("", "", "", "", "retention")}
    assert all(r["rating_comment"] in (None, "") for r in h1)
    ledger = " ".join(json.dumps(r["body"] if isinstance(r["body"], dict) else json.loads(r["body"]), ensure_ascii=False)
                      for r in store.query("SELECT body FROM records WHERE hall_id = 'h1'"))
    for secret in ("13812345678", "张三丰", "13712349876", "李四", "楼下装修太吵", "还是很吵", "5-1-502", "电梯困人"):
        assert secret not in ledger, secret
    d = store.query("SELECT room, content, phone_masked FROM complaints WHERE hall_id = 'h2'")[0]
    assert d["content"] == "垃圾桶太少了，经常满" and d["phone_masked"]  # a year not yet gone
    assert "王五" in json.dumps([r["body"] for r in store.query("SELECT body FROM records WHERE hall_id = 'h2'")],
                              ensure_ascii=False, default=str)
    line = store.query("SELECT * FROM audit_log WHERE action = 'privacy.retention'")
    assert len(line) == 1 and json.loads(line[0]["detail"])["complaints"] == 3 and line[0]["username"] == "system"


def test_a_residents_erasure_at_the_hall_reaches_the_centre(centre, halls):
    from edge_agent.retention import Retention
    from hall_common.config import PrivacyConfig

    app, store, tokens, served = centre
    h1, b = halls["h1"], halls["B"]
    h1.step(b, at(2025, 10, 16, 9, 0), "close")
    erasing = Retention(PrivacyConfig(), db_path=h1.path, clock=h1.clock)
    try:
        found = erasing.find("5-1-502", "13712349876")
        assert [r["id"] for r in found] == [b["id"]]
        erasing.erase([b["id"]], who="staff-li", reason="业主书面申请删除")
    finally:
        erasing.close()
    assert h1.push(served.url, tokens["h1"], "h1") == 2  # the close, then the erasure
    row = store.query("SELECT * FROM complaints WHERE id = ?", (b["id"],))[0]
    assert (row["room"], row["name_masked"], row["content"], row["erased_why"]) == ("", "", "", "request")
    assert store.query("SELECT content FROM complaints WHERE id = ?", (halls["A"]["id"],))[0]["content"]  # not A
    ledger = json.dumps([r["body"] if isinstance(r["body"], dict) else json.loads(r["body"])
                         for r in store.query("SELECT body FROM records WHERE hall_id = 'h1' AND kind != 'erasure'")],
                        ensure_ascii=False)
    assert "13712349876" not in ledger and "楼下装修太吵" not in ledger and "还是很吵" not in ledger
    assert "13812345678" in ledger  # A's resident asked nothing
    line = store.query("SELECT * FROM audit_log WHERE action = 'privacy.erase'")
    assert len(line) == 1 and line[0]["username"] == "h1/staff-li"
    assert json.loads(line[0]["detail"])["reason"] == "业主书面申请删除"


def test_channels_who_took_them_and_the_figures_of_every_channel(centre, halls):
    """A request staff took by phone (ComplaintService.take, the edge's own code) reaches the
    centre with its channel, who took it and when it happened; a record from a hall on older
    software (the kiosk's id as its channel) is a kiosk's; the list filters by channel, and
    the on-time and satisfaction figures count the phone request like any other."""
    from central_sync.server.complaints import figures

    app, store, tokens, served = centre
    h1 = halls["h1"]
    h1.clock.t = at(2025, 10, 21, 9, 0)
    p = h1.service.take({"request": str(uuid.uuid4()), "kind": "repair", "category": "water_power", "place": "3栋2单元",
                         "content": "楼道灯不亮", "name": "赵六", "room": "3-2-801", "phone": "13655554444",
                         "occurred_at": at(2025, 10, 20, 20, 0)}, channel="phone", who="staff-wang")
    h1.step(p, at(2025, 10, 21, 9, 20), "accept")
    h1.step(p, at(2025, 10, 21, 15, 0), "resolve")
    h1.step(p, at(2025, 10, 22, 10, 0), "follow_up", outcome="reached", rating="basically_satisfied")
    assert [r["node"] for r in h1.outbox() if r["kind"] in ("complaint", "rating")][-2:] == ["edge", "edge"]
    h1.push(served.url, tokens["h1"], "h1")
    old = {"id": str(uuid.uuid4()), "tracking_no": "1012510250017", "kind": "repair", "category": "cleaning",
           "channel": "kiosk-07", "received_at": at(2025, 10, 25, 9, 0), "feedback_due": at(2025, 10, 25, 10, 0),
           "occurred_at": 1e300}  # damaged: kept as unknown
    r = app.test_client().post("/api/v1/sync/batches", headers={"Authorization": f"Bearer {tokens['h1']}"}, json={
        "hall_id": "h1", "sent_at": time.time(),
        "records": [{"id": old["id"], "kind": "complaint", "node": "kiosk-07", "ts": old["received_at"], "body": old}]})
    assert r.status_code == 200
    rows = {r["tracking_no"]: r for r in store.query("SELECT tracking_no, channel, taken_by, occurred_at, rating "
                                                     "FROM complaints")}
    assert rows[p["tracking_no"]] == {"tracking_no": p["tracking_no"], "channel": "phone", "taken_by": "staff-wang",
                                      "occurred_at": at(2025, 10, 20, 20, 0), "rating": "basically_satisfied"}
    assert (rows[halls["A"]["tracking_no"]]["channel"], rows[halls["A"]["tracking_no"]]["taken_by"]) == ("kiosk", "kiosk-01")
    assert [rows[old["tracking_no"]][k] for k in ("channel", "taken_by", "occurred_at")] == ["kiosk", "kiosk-07", None]
    c = login(app)
    assert c.get(f"/complaints/{old['tracking_no']}").status_code == 200
    assert numbers_in(c.get("/complaints/?channel=phone").get_data(as_text=True)) == {p["readable"]}
    assert p["readable"] not in c.get("/complaints/?channel=kiosk").get_data(as_text=True)
    detail = c.get(f"/complaints/{p['tracking_no']}").get_data(as_text=True)
    assert "来电 · phone · staff-wang" in detail and "2025-10-20 20:00" in detail
    by_channel = {r["key"]: r for r in figures(store, "channel", now=at(2025, 11, 30, 9, 0))}
    phone = by_channel["phone"]
    assert (phone["received"], phone["due"], phone["on_time"], phone["rated"], phone["satisfied"]) == (1, 1, 1, 1, 1)
    assert by_channel["kiosk"]["received"] == 5 and by_channel["kiosk"]["rated"] == 3  # A, B, C, D and the old one
    by_hall = {r["key"]: r for r in figures(store, "hall_id", now=at(2025, 11, 30, 9, 0))}
    assert (by_hall["h1"]["received"], by_hall["h1"]["rated"], by_hall["h1"]["satisfied"]) == (5, 4, 3)  # phone counted
    assert "按受理渠道 · By channel" in c.get("/complaints/stats").get_data(as_text=True)


def test_the_channel_migration_makes_the_old_kiosk_ids_channels_of_kiosks(central_db):
    """Until migration 013 the centre kept the kiosk's id as a request's channel."""
    from central_sync.server.schema import MIGRATIONS
    from central_sync.store import Store, migrate

    store = Store.connect(central_db)
    try:
        mine = next(i for i, m in enumerate(MIGRATIONS) if m.name == "013_complaint_channels")
        migrate(store, MIGRATIONS[:mine])
        with store.transaction():
            for cid, number, channel in (("a", "1012510100011", "kiosk-01"), ("b", "1012510100029", None)):
                store.execute("INSERT INTO complaints (id, hall_id, tracking_no, channel) VALUES (?, 'h1', ?, ?)",
                              (cid, number, channel))
        assert migrate(store, MIGRATIONS)[0] == "013_complaint_channels"
        rows = {r["id"]: (r["channel"], r["taken_by"]) for r in store.query("SELECT id, channel, taken_by FROM complaints")}
        assert rows == {"a": ("kiosk", "kiosk-01"), "b": (None, None)}  # a stub keeps waiting for its record
    finally:
        store.close()
