"""Monthly reports per hall at the centre, on SQLite and on a real PostgreSQL.

Two halls' November 2025, made by the edge's own code (queue engine, complaint service,
first-aid boxes, AED cabinet, environment monitor, alarms) on clocks the test moves, pushed
by the real sync client over HTTP and projected at ingest. The figures are small enough to
check by hand (each one is worked out in the comments of :func:`halls`); the page draws
them in Chromium; the CSV and XLSX files read back to the same figures; a bad month gets the
console's bilingual message; a hall manager sees and exports only their own halls.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from pathlib import Path

import pytest

from central_sync import client as outbox
from central_sync.protocol import Record
from central_sync.server import report_projection, reports
from central_sync.server.db import StoreUsers
from central_sync.server.report_export import hall_heading
from hall_common.auth import set_password
from hall_common.config import AedConfig, ComplaintsConfig, EnvironmentConfig, HoursConfig, QueueConfig
from hall_common.storage import open_database

from .helpers.central import central_app, push
from .helpers.clock import Clock, at
from .minihall import Served
from .helpers.screens import to_docs

ALWAYS = HoursConfig(periods=[{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}])
QUEUE = QueueConfig(hours=ALWAYS, counters=[{"id": "c1", "name": "1", "services": ["procedures", "consult"]},
                                            {"id": "c2", "name": "2", "services": ["payment"]}])
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots" / "centre"
PASSWORD = "reports password 1"
MONTH = "2025-11"


class Hall:
    """One hall's edge parts on one edge.db and one clock, as the agent wires them."""

    def __init__(self, tmp: Path, hall_id: str, code: str) -> None:
        from edge_agent.aed import Aed
        from edge_agent.alarms import Alarms
        from edge_agent.complaints.service import ComplaintService
        from edge_agent.db import migrations
        from edge_agent.environment import Environment
        from edge_agent.first_aid import FirstAid
        from edge_agent.queue.engine import QueueEngine

        self.hall_id, self.path, self.clock = hall_id, tmp / f"edge-{hall_id}.db", Clock()
        self.db = open_database(self.path, migrations, shared_thread=True)
        self.queue = QueueEngine(self.db, QUEUE, clock=self.clock, hall_id=hall_id,
                                 record=lambda d, kind, body, node, rid: outbox.add(d, kind, body, node=node, record_id=rid))
        self.alarms = Alarms(self.path, None, node="edge", clock=self.clock)
        self.complaints = ComplaintService(ComplaintsConfig(hall_code=code, hours=ALWAYS), db_path=self.path, bus=None,
                                           clock=self.clock)
        self.aid = FirstAid(self.path, alarms=self.alarms, clock=self.clock)
        self.aed = Aed(AedConfig(location="一楼大厅"), db_path=self.path, alarms=self.alarms, clock=self.clock)
        self.env = Environment(EnvironmentConfig(), db_path=self.path, alarms=self.alarms, clock=self.clock)

    def at(self, *when: int) -> "Hall":
        self.clock.t = at(*when)
        return self

    def ticket(self, service: str) -> str:
        return self.queue.issue(service, kiosk="kiosk-01").ticket.code

    def complaint(self) -> dict:
        return self.complaints.answer("complaint", "kiosk-01", {
            "request": str(uuid.uuid4()), "kind": "repair", "category": "facilities", "place": "3 栋", "content": "门禁坏了",
            "wanted": "修好", "name": "张三", "room": "3-2-101", "phone": "13812345678", "occurred_at": self.clock.t - 600})

    def co2(self, value: float, *minutes: int) -> None:
        """``value`` ppm at each minute of the current hour, judged after each."""
        start = self.clock.t
        for m in minutes:
            self.clock.t = start + 60 * m
            self.env.on_reading("env-01", "co2", value)
            self.env.tick()

    def close(self) -> None:
        for part in (self.env, self.aed, self.aid, self.complaints, self.alarms):
            part.close()
        self.db.close()


@pytest.fixture
def centre(central_db, tmp_path):
    app, store, tokens = central_app(tmp_path, central_db)
    users = StoreUsers(store)
    for name, role in (("admin", "admin"), ("auditor", "auditor"), ("mgr", "manager")):
        set_password(users, name, PASSWORD, role)
    store.execute("INSERT INTO user_halls (username, hall_id) VALUES (?, ?)", ("mgr", "h1"))
    served = Served(app)
    yield app, store, tokens, served
    served.stop()
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    store.close()


@pytest.fixture
def halls(centre, tmp_path):
    """h1 幸福里 and h2 长寿苑, November 2025 (and one ticket of h1 on 31 October).

    h1  queue 3 Nov: A001, A002 (procedures) issued 09:00, A001 called 09:02 (wait 120 s)
        done 09:07 (service 300 s), A002 called 09:10 (wait 600) done 09:14 (240); F001
        (payment) issued 10:30, called 10:31 (wait 60), recalled twice, a no-show. Waits
        120, 600, 60: mean 260 s, p90 (nearest rank, 3rd of 3) 600 s; service 300, 240:
        mean 270, p90 300. Ratings: A001 非常满意, A002 基本满意: 1 satisfied of 2 = 50 %.
        complaint 5 Nov 09:00, accepted 09:30 (due 10:00): on time; resolved, rated 非常满意.
        CO2 1300 ppm from 6 Nov 14:00, alarm 14:01, back to 600 at 14:30, cleared 14:31: 30 min.
        first aid: 创可贴 (expires 20 Nov) and 碘伏 added 1 Nov; inspected 2 Nov (创可贴
        expiring) and 25 Nov (创可贴 expired, its alarm now "expired").
        AED self-tests 1-4 Nov 08:00: pass, pass, pass, fail: 4 days of 30 = 13.3 %.
    h2  queue 10 Nov: A001 issued 14:00, called 14:05 (300 s), done 14:15 (600 s), 满意.
        complaint 12 Nov 10:00 (due 11:00), accepted 12:00: late; not rated.
        CO2 out from 20 Nov 11:59, alarm 12:00, never cleared: 10.5 days = 15120 min in November.
        AED self-tests 10 Nov 08:00 and 20:00 (one day); door opened 15 Nov 10:00, closed
        10:20, checklist 10:40 (and no self-test for 26 h then: one "missing" alarm).
    """
    app, store, tokens, served = centre
    h1, h2 = Hall(tmp_path, "h1", "101"), Hall(tmp_path, "h2", "102")
    h1.at(2025, 10, 31, 15, 0).ticket("procedures")  # October's
    h1.queue.call_next("c1")
    h1.at(2025, 10, 31, 15, 5).queue.finish("c1")
    a1, a2 = h1.at(2025, 11, 3, 9, 0).ticket("procedures"), h1.ticket("procedures")
    h1.at(2025, 11, 3, 9, 2).queue.call_next("c1")
    h1.at(2025, 11, 3, 9, 7).queue.finish("c1")
    h1.at(2025, 11, 3, 9, 10).queue.call_next("c1")
    h1.at(2025, 11, 3, 9, 14).queue.finish("c1")
    h1.at(2025, 11, 3, 10, 30).ticket("payment")
    h1.at(2025, 11, 3, 10, 31).queue.call_next("c2")
    h1.queue.recall("c2")
    h1.queue.recall("c2")
    h1.at(2025, 11, 3, 10, 40).queue.skip("c2")
    h1.at(2025, 11, 3, 11, 0).queue.rate(a1, "very_satisfied", kiosk="kiosk-01")
    h1.queue.rate(a2, "basically_satisfied", kiosk="kiosk-01")
    c = h1.at(2025, 11, 5, 9, 0).complaint()
    h1.at(2025, 11, 5, 9, 30).complaints.transition(c["id"], "accept", who="staff-li")
    h1.at(2025, 11, 5, 15, 0).complaints.transition(c["id"], "resolve", who="staff-li")
    h1.at(2025, 11, 6, 9, 0).complaints.answer("rate", "kiosk-01", {"number": c["tracking_no"], "last4": "5678",
                                                                    "rating": "very_satisfied", "comment": ""})
    h1.at(2025, 11, 6, 14, 0).co2(1300, 0, 1)
    h1.at(2025, 11, 6, 14, 30).co2(600, 0, 1)
    plaster = h1.at(2025, 11, 1, 10, 0).aid.add("first-aid-1", who="staff-li", name="创可贴", kind="supply", quantity=20,
                                                 unit="片", expiry="2025-11-20")
    h1.aid.add("first-aid-1", who="staff-li", name="碘伏", kind="medicine", marking="otc_b", quantity=1, unit="瓶",
               expiry="2026-06-30")
    h1.at(2025, 11, 2, 9, 0).aid.inspect("first-aid-1", who="staff-li", found="创可贴临期")
    h1.at(2025, 11, 25, 9, 0).aid.check()
    h1.aid.inspect("first-aid-1", who="staff-li", found="创可贴已过期", done="已申请补充")
    for day, result in ((1, "pass"), (2, "pass"), (3, "pass"), (4, "fail")):
        h1.at(2025, 11, day, 8, 0).aed.on_self_test(result)

    b1 = h2.at(2025, 11, 10, 14, 0).ticket("procedures")
    h2.at(2025, 11, 10, 14, 5).queue.call_next("c1")
    h2.at(2025, 11, 10, 14, 15).queue.finish("c1")
    h2.queue.rate(b1, "satisfied", kiosk="kiosk-01")
    d = h2.at(2025, 11, 12, 10, 0).complaint()
    h2.at(2025, 11, 12, 12, 0).complaints.transition(d["id"], "accept", who="staff-wang")
    h2.at(2025, 11, 20, 11, 59).co2(1300, 0, 1)
    h2.at(2025, 11, 10, 8, 0).aed.on_self_test("pass")
    h2.at(2025, 11, 10, 20, 0).aed.on_self_test("pass")
    h2.at(2025, 11, 15, 10, 0).aed.on_door(True)
    h2.at(2025, 11, 15, 10, 20).aed.on_door(False)
    h2.at(2025, 11, 15, 10, 40).aed.checklist(who="staff-wang", pads_replaced=True, rearmed=True)
    assert plaster["expiry"] == "2025-11-20"
    for hall in (h1, h2):
        assert push(hall.path, served.url, tokens[hall.hall_id], hall.hall_id, batch_size=50) > 0
    yield {"h1": h1, "h2": h2}
    h1.close()
    h2.close()


EXPECTED = {
    "h1": {
        "services": {"procedures": {"issued": 2, "served": 2, "no_show": 0, "cancelled": 0},
                     "payment": {"issued": 1, "served": 0, "no_show": 1, "cancelled": 0}},
        "times": {"called": 3, "wait_mean_s": 260.0, "wait_p90_s": 600.0, "served": 2, "service_mean_s": 270.0,
                  "service_p90_s": 300.0},
        "satisfaction": {"rated": 2, "satisfied": 1, "share": 50.0},
        "complaints": {"received": 1, "due": 1, "on_time": 1, "on_time_rate": 100.0, "rated": 1, "satisfaction": 100.0},
        "environment": {"co2": {"exceedances": 1, "minutes": 30.0}},
        "first_aid": {"inspections": 2, "found_expired": 1, "found_expiring": 1, "expiring_in_month": 1, "expired_in_box": 1},
        "aed": {"self_tests": 4, "passed": 3, "failed": 1, "days_tested": 4, "days": 30, "coverage": 13.3,
                "door_openings": 0, "after_use_checks": 0, "missing_alarms": 0},
    },
    "h2": {
        "services": {"procedures": {"issued": 1, "served": 1, "no_show": 0, "cancelled": 0}},
        "times": {"called": 1, "wait_mean_s": 300.0, "wait_p90_s": 300.0, "served": 1, "service_mean_s": 600.0,
                  "service_p90_s": 600.0},
        "satisfaction": {"rated": 1, "satisfied": 1, "share": 100.0},
        "complaints": {"received": 1, "due": 1, "on_time": 0, "on_time_rate": 0.0, "rated": 0, "satisfaction": None},
        "environment": {"co2": {"exceedances": 1, "minutes": 15120.0}},
        "first_aid": {"inspections": 0, "found_expired": 0, "found_expiring": 0, "expiring_in_month": 0, "expired_in_box": 0},
        "aed": {"self_tests": 2, "passed": 2, "failed": 0, "days_tested": 1, "days": 30, "coverage": 3.3,
                "door_openings": 1, "after_use_checks": 1, "missing_alarms": 1},
    },
}


def login(app, user: str = "admin"):
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": token})
    return c


def build(store, halls=(("h1", "幸福里"), ("h2", "长寿苑")), month=MONTH):
    return reports.build(store, list(halls), month)


def test_each_figure_per_hall_and_month(centre, halls):
    app, store, tokens, served = centre
    report = build(store)
    f = report.figures
    for hall, expected in EXPECTED.items():
        assert f["services"][hall] == expected["services"], hall
        assert f["times"][hall] == expected["times"], hall
        assert {k: f["satisfaction"][hall][k] for k in ("rated", "satisfied", "share")} == expected["satisfaction"], hall
        assert {k: f["complaints"][hall][k] for k in expected["complaints"]} == expected["complaints"], hall
        assert f["environment"][hall] == expected["environment"], hall
        assert {k: f["first_aid"][hall][k] for k in expected["first_aid"]} == expected["first_aid"], hall
        assert f["aed"][hall] == expected["aed"], hall
    hours = f["hours"]
    assert (hours["h1"][9], hours["h1"][10], hours["h2"][14], sum(hours["h1"]), sum(hours["h2"])) == (2, 1, 1, 3, 1)
    assert f["satisfaction"]["h1"]["levels"]["basically_satisfied"] == 1  # shown, not counted as satisfied
    assert f["satisfaction"]["h1"]["counters"] == {"c1": {"rated": 2, "satisfied": 1, "share": 50.0}}
    assert report.services["procedures"] == "手续办理 · Procedures"
    # October holds only h1's ticket of the 31st; the rows lay the same figures out.
    october = build(store, month="2025-10").figures
    assert october["services"] == {"h1": {"procedures": {"issued": 1, "served": 1, "no_show": 0, "cancelled": 0}}, "h2": {}}
    table = {(r.section, r.figure, r.item): r.values for r in reports.rows(report)}
    assert table[("等候与办理 · Waiting and service", "90% 等候不超过（分钟） · Wait p90 (min)", "")] == {"h1": 10.0, "h2": 5.0}
    assert table[("分时段取号 · Tickets by hour", "取号 · Issued", "09:00-10:00")] == {"h1": 2, "h2": 0}


def test_records_sent_again_or_unreadable_change_no_figure(centre, halls):
    """The ledger applies each record once; a body a projection cannot read is kept in the
    ledger, skipped by the reports, and the batch is still acknowledged."""
    app, store, tokens, served = centre
    before = build(store).figures
    h1 = halls["h1"]
    h1.db.execute("UPDATE outbox SET sent_at = NULL")  # as after a lost acknowledgement
    assert push(h1.path, served.url, tokens["h1"], "h1", batch_size=50) > 0
    bad = [{"id": str(uuid.uuid4()), "kind": kind, "node": "edge", "ts": 1.0, "body": body} for kind, body in (
        ("ticket_outcome", {"id": "x", "service": "procedures", "issued_at": 1e308, "status": "done"}),
        ("ticket", {"id": {"a": 1}, "service": ["x"], "issued_at": "soon"}),
        ("service_rating", {"id": "r", "rating": "superb", "rated_at": at(2025, 11, 3, 9, 0)}),
        ("alarm", {"id": "env.e.co2", "type": "env_high", "severity": "major", "raised_at": -5}),
        ("device_event", {"event": "first_aid.inspection", "inspection": {"id": "i", "box": "b", "at": "x"}}),
        ("aed_check", {"check": "self_test", "result": "maybe", "at": at(2025, 11, 3, 9, 0)}),
        ("device_event", {"event": "first_aid.inspection", "inspection": {"id": "j", "box": "b", "at": at(2025, 11, 3, 9, 0),
                                                                          "items": 10 ** 12}}),  # beyond an INTEGER
    )]
    r = app.test_client().post("/api/v1/sync/batches", json={"hall_id": "h1", "sent_at": 1.0, "records": bad},
                               headers={"Authorization": f"Bearer {tokens['h1']}"})
    assert r.status_code == 200 and len(r.get_json()["applied"]) == len(bad)
    assert build(store).figures == before
    # The sync API already turns a NUL into U+FFFD; a NUL reaching the projection (apply_batch
    # called some other way) is left out too, since PostgreSQL refuses it in text.
    nul = bad[0].copy() | {"kind": "ticket", "id": uuid.uuid4(), "body": {"id": "t\x00", "service": "procedures",
                                                                        "issued_at": at(2025, 11, 3, 9, 0)}}
    assert report_projection.rows_of("h1", [Record.model_validate(nul)]) == []


def test_the_page_draws_the_halls_side_by_side_in_a_browser(centre, halls, pages):
    app, store, tokens, served = centre
    page = pages.new_page(viewport={"width": 1440, "height": 900})
    page.goto(served.url + "login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=月度报表 · Monthly reports →")  # linked from the overview
    page.wait_for_selector("form.pick")
    page.fill("input[name=month]", MONTH)
    page.click("text=查看 · Show")
    page.wait_for_selector(f"h2:has-text('{MONTH}')")
    assert page.locator("svg.report-chart").count() == 5  # hours, services, times, rates, environment
    assert page.locator("table.report thead th").all_inner_texts()[2:] == ["幸福里 (h1)", "长寿苑 (h2)"]
    text = page.inner_text("table.report")
    assert "15120" in text and "13.3" in text and "手续办理 · Procedures" in text
    bars = page.locator("svg.report-chart").first.locator("rect[height]")
    assert bars.count() >= 3 + 2  # h1's two hours and h2's one, and the legend's two swatches
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "reports.png", full_page=True)
    if store.dialect == "sqlite":  # one copy for the docs
        to_docs(SHOTS / "reports.png", "reports.png")


def _csv_table(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_csv_and_xlsx_read_back_to_the_same_figures(centre, halls):
    from openpyxl import load_workbook

    app, store, tokens, served = centre
    c = login(app, "auditor")  # read only, but may export
    query = f"month={MONTH}&hall=h1&hall=h2"
    expected = [[r.section, r.figure, r.item, r.values["h1"], r.values["h2"]] for r in reports.rows(build(store))]
    got = c.get(f"/reports/export.csv?{query}")
    assert got.status_code == 200 and got.mimetype == "text/csv"
    assert f'hall-report-{MONTH}.csv' in got.headers["Content-Disposition"]
    table = _csv_table(got.data)
    assert table[0][3:] == [hall_heading("h1", "幸福里"), hall_heading("h2", "长寿苑")]
    assert [[*r[:3], *(None if v == "" else float(v) for v in r[3:])] for r in table[1:]] == expected
    got = c.get(f"/reports/export.xlsx?{query}")
    assert got.status_code == 200 and got.data[:2] == b"PK"
    sheet = load_workbook(io.BytesIO(got.data)).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == f"服务中心月报 · Monthly report {MONTH}" and values[1][3:] == table[0][3:]
    assert [[*(v or "" for v in r[:3]), *r[3:]] for r in values[2:]] == expected
    # The auditor reads but does not change: the page is there, no hall's settings are.
    assert c.get(f"/reports/?{query}").status_code == 200


@pytest.mark.parametrize("month", ["2025-13", "2025/11", "11-2025", "abc", "1999-12", "2025-11-01", "２０２５-11"])
def test_a_bad_month_gets_a_bilingual_message_and_no_report(centre, month):
    app, store, tokens, served = centre
    c = login(app)
    for url in ("/reports/", "/reports/export.csv", "/reports/export.xlsx"):
        r = c.get(url, query_string={"month": month})
        page = r.get_data(as_text=True)
        assert r.status_code == 400 and r.mimetype == "text/html", url
        assert "请按 2026-11 的格式选择年月" in page and "choose it as 2026-11 (year-month)" in page
        assert 'class="report"' not in page


def test_a_hall_that_does_not_exist_or_too_many_halls_are_refused(centre):
    app, store, tokens, served = centre
    c = login(app)
    r = c.get("/reports/", query_string={"month": MONTH, "hall": ["h1", "nowhere"]})
    assert r.status_code == 400 and "没有这个服务中心：nowhere" in r.get_data(as_text=True)
    assert "No such hall: nowhere" in r.get_data(as_text=True)


def test_a_manager_sees_and_exports_only_their_own_halls(centre, halls):
    app, store, tokens, served = centre
    c = login(app, "mgr")
    page = c.get(f"/reports/?month={MONTH}").get_data(as_text=True)
    assert 'value="h1"' in page and 'value="h2"' not in page and "长寿苑" not in page
    assert "幸福里 (h1)" in page
    for url in ("/reports/", "/reports/export.csv", "/reports/export.xlsx"):
        assert c.get(url, query_string={"month": MONTH, "hall": ["h1", "h2"]}).status_code == 403, url
        assert c.get(url, query_string={"month": MONTH, "hall": "h2"}).status_code == 403, url
    table = _csv_table(c.get(f"/reports/export.csv?month={MONTH}").data)
    assert table[0][3:] == [hall_heading("h1", "幸福里")]  # by default: every hall of theirs, no other
    # A manager with no hall yet: the page says so, and the file has no hall's column.
    set_password(StoreUsers(store), "newmgr", PASSWORD, "manager")
    c = login(app, "newmgr")
    assert "没有可查看的服务中心 · No hall to report on" in c.get(f"/reports/?month={MONTH}").get_data(as_text=True)
    assert _csv_table(c.get(f"/reports/export.csv?month={MONTH}").data)[0][3:] == []
    # Without a login: to the login page, nothing of the report.
    anonymous = app.test_client().get(f"/reports/export.csv?month={MONTH}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"] and "幸福里".encode() not in anonymous.data


def test_the_ticket_outcome_comes_before_its_ticket_and_is_counted_once(centre):
    """Records of one ticket arrive in any order (separate batches, retries)."""
    app, store, tokens, served = centre
    tid, issued = str(uuid.uuid4()), at(2025, 11, 7, 16, 30)
    outcome = {"id": tid, "day": "2025-11-07", "service": "consult", "status": "done", "counter": "c1", "priority": 0,
               "issued_at": issued, "called_at": issued + 90, "ended_at": issued + 390, "wait_s": 90.0, "service_s": 300.0,
               "name_zh": "业务咨询", "name_en": "Enquiries"}
    ticket = {"id": tid, "day": "2025-11-07", "service": "consult", "number": 1, "code": "C001", "priority": 0,
              "kiosk": "kiosk-01", "issued_at": issued}
    for kind, body in (("ticket_outcome", outcome), ("ticket", ticket)):
        r = app.test_client().post("/api/v1/sync/batches", headers={"Authorization": f"Bearer {tokens['h2']}"}, json={
            "hall_id": "h2", "sent_at": 1.0, "records": [{"id": str(uuid.uuid4()), "kind": kind, "node": "edge", "ts": 1.0,
                                                          "body": body}]})
        assert r.status_code == 200, r.get_data()
    f = build(store, [("h2", "长寿苑")]).figures
    assert f["services"]["h2"] == {"consult": {"issued": 1, "served": 1, "no_show": 0, "cancelled": 0}}
    assert f["hours"]["h2"][16] == 1 and f["times"]["h2"]["service_mean_s"] == 300.0
    assert json.loads(json.dumps(f))  # plain data, as the exports need


def test_months_are_china_time_and_the_default_is_the_last_whole_month(centre):
    app, store, tokens, served = centre
    assert reports.last_month(at(2026, 1, 15, 9, 0)) == "2025-12" and reports.last_month(at(2026, 3, 1, 0, 30)) == "2026-02"
    assert reports.bounds("2025-12") == (at(2025, 12, 1, 0, 0), at(2026, 1, 1, 0, 0))
    page = login(app).get("/reports/").get_data(as_text=True)  # no month, no hall: the last month, every hall
    assert f'value="{reports.last_month()}"' in page and "幸福里 (h1)" in page and "长寿苑 (h2)" in page
