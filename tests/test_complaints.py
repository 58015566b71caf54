"""Residents' requests at the edge: grading, the one-working-hour commitment, tracking
numbers, the record stored with its outbox entry before the answer, the emergency alarm on
a real broker, tracking by number and last 4 (masked, rate-limited), and bad input."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from edge_agent.complaints import tracking
from edge_agent.complaints.deadline import add_working_time, first_feedback_due
from edge_agent.complaints.grading import grade
from hall_common.bus import contract
from hall_common.config import HoursConfig
from hall_common.errors import RequestFailed

from .conftest import HALL, wait_for
from .helpers.clock import Clock, at
from .helpers.edge_inputs import complaint
from .screens import staff_page

WORKDAYS = HoursConfig(periods=[{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:30", "close": "12:00"},
                                {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "13:30", "close": "17:30"}],
                       closed_dates=["2026-12-25"])


@pytest.mark.parametrize("kind, category, text, expected", [
    ("repair", "water_power", "楼上卫生间漏水，滴到我家客厅", "emergency"),
    ("complaint", "elevator", "3 号楼电梯困人，里面有老人", "emergency"),
    ("repair", "facilities", "地下车库停电，一片漆黑", "emergency"),
    ("consultation", "other", "楼道里有燃气味，很浓", "emergency"),
    ("suggestion", "cleaning", "垃圾桶旁边冒烟了", "emergency"),
    ("repair", "facilities", "单元门门禁坏了", "general"),
    ("repair", "facilities", "楼道灯罩松动，有坠落危险", "important"),
    ("complaint", "staff", "前台工作人员态度不好", "important"),
    ("complaint", "noise", "楼下装修太吵", "general"),
    ("suggestion", "cleaning", "建议多放几个分类垃圾桶", "suggestion"),
    ("praise", "staff", "保安师傅很热心", "suggestion"),
    ("repair", "water_power", "我家停电了", "general"),  # one home's power: not a public area
])
def test_grading_rules(kind, category, text, expected):
    assert grade(kind, category, text) == expected


def test_repeat_and_group_complaints_are_important():
    assert grade("complaint", "noise", "楼下装修太吵", repeat=True) == "important"
    assert grade("complaint", "noise", "楼下装修太吵", group=True) == "important"


def test_one_working_hour_skips_lunch_nights_weekends_and_holidays():
    assert first_feedback_due(at(2026, 11, 24, 9, 0), "general", WORKDAYS) == at(2026, 11, 24, 10, 0)
    assert first_feedback_due(at(2026, 11, 24, 11, 30), "general", WORKDAYS) == at(2026, 11, 24, 14, 0)
    assert first_feedback_due(at(2026, 11, 24, 17, 0), "general", WORKDAYS) == at(2026, 11, 25, 9, 0)
    assert first_feedback_due(at(2026, 11, 27, 20, 0), "general", WORKDAYS) == at(2026, 11, 30, 9, 30)  # Fri → Mon
    assert first_feedback_due(at(2026, 12, 24, 17, 0), "general", WORKDAYS) == at(2026, 12, 28, 9, 0)  # Christmas closed
    assert first_feedback_due(at(2026, 11, 28, 3, 0), "emergency", WORKDAYS) == at(2026, 11, 28, 3, 0)  # at once
    assert add_working_time(at(2026, 11, 24, 12, 30), 0, WORKDAYS) == at(2026, 11, 24, 13, 30)


def test_tracking_numbers_catch_typos():
    n = tracking.make("101", "2026-11-24", 42)
    assert n == "1012611240429" and tracking.valid(n) and tracking.readable(n) == "101 261124 042 9"
    assert not tracking.valid(n[:3] + n[4] + n[3] + n[5:])  # two neighbouring digits swapped
    assert not tracking.valid(n[:-1] + str((int(n[-1]) + 1) % 10))  # one digit wrong
    assert tracking.make("102", "2026-11-24", 42) != n  # another hall, another number


ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}


@pytest.fixture
def edge(mini):
    return mini.edge()


def test_a_submission_is_stored_with_its_outbox_record_before_the_answer(edge, broker):
    kiosk = broker.client("kiosk-01", kind="kiosk")
    args = complaint()
    r = kiosk.request("complaint", args)
    assert tracking.valid(r["tracking_no"]) and r["grade"] == "general" and not r["emergency"]
    assert r["feedback_due"] > r["received_at"]
    db = edge.complaints.db
    row = list(db.query("SELECT * FROM complaints WHERE tracking_no = ?", [r["tracking_no"]]))[0]
    assert (row["channel"], row["taken_by"], row["room"], row["phone"], row["status"], row["occurred_at"]) == (
        "kiosk", "kiosk-01", "3-2-101", "13812345678", "submitted", args["occurred_at"])
    assert db.execute("SELECT count(*) FROM outbox WHERE id = ? AND kind = 'complaint'", [row["id"]]).fetchone()[0] == 1
    again = kiosk.request("complaint", args)  # a double tap
    assert again["tracking_no"] == r["tracking_no"]
    assert db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 1


def test_an_emergency_raises_a_critical_alarm_at_once(edge, broker):
    seen: dict[str, dict] = {}
    # Through the edge's own login: it alone reads alarms, and a second login as the edge
    # would take the agent's place.
    edge.bus.subscribe(contract.ALARM.filter(hall=HALL), lambda m: seen.__setitem__(m.topic, m.payload.model_dump()))
    kiosk = broker.client("kiosk-01", kind="kiosk")
    r = kiosk.request("complaint", complaint(kind="complaint", category="elevator", place="5 栋电梯",
                                              content="电梯困人，有人被关在里面"))
    assert r["emergency"] and r["grade"] == "emergency" and r["feedback_due"] == r["received_at"]
    topic = contract.ALARM.topic(hall=HALL, alarm_id=f"complaint.{r['tracking_no']}")
    wait_for(lambda: topic in seen)
    alarm = seen[topic]
    assert alarm["severity"] == "critical" and alarm["state"] == "ACTIVE_UNACK" and "5 栋电梯" in alarm["text"]


def test_a_second_complaint_from_the_room_is_flagged_repeat(edge, broker):
    kiosk = broker.client("kiosk-01", kind="kiosk")
    kiosk.request("complaint", complaint(kind="complaint", category="noise", content="楼下装修太吵"))
    second = kiosk.request("complaint", complaint(kind="complaint", category="noise", content="又在装修，太吵了"))
    assert second["grade"] == "important"
    group = kiosk.request("complaint", complaint(kind="complaint", category="parking", content="消防通道被车堵了",
                                                  room="3-2-102", rooms=["3-2-201", "3-2-301"]))
    assert group["grade"] == "important"


def test_tracking_by_number_and_last4_is_masked_and_rate_limited(edge, broker):
    kiosk = broker.client("kiosk-01", kind="kiosk")
    r = kiosk.request("complaint", complaint())
    found = kiosk.request("track", {"number": r["readable"], "last4": "5678"})
    assert found["tracking_no"] == r["tracking_no"] and found["status_text"] == "已受理登记，等待工作人员接单"
    assert found["name"] == "张**" and found["phone"] == "138****5678"
    assert "13812345678" not in json.dumps(found, ensure_ascii=False)
    assert [h["text"] for h in found["history"]] == ["已受理登记，等待工作人员接单"]
    for _ in range(5):
        with pytest.raises(RequestFailed) as err:
            kiosk.request("track", {"number": r["tracking_no"], "last4": "0000"})
        assert err.value.code == "not_found"
    with pytest.raises(RequestFailed) as err:
        kiosk.request("track", {"number": r["tracking_no"], "last4": "5678"})  # right, but too late
    assert err.value.code == "rate_limited"


@pytest.mark.parametrize("change, field", [
    ({"phone": "12345"}, "phone"),
    ({"content": "字" * 501}, "content"),
    ({"kind": "lottery"}, "kind"),
    ({"category": "aliens"}, "category"),
    ({"name": ""}, "name"),
    ({"extra": 1}, "extra"),
    ({"occurred_at": time.time() + 86400}, "occurred_at: it cannot be in the future"),
    ({"occurred_at": at(1999, 12, 31, 23, 0)}, "occurred_at: it cannot be before the hall opened (2000-01-01)"),
    ({"occurred_at": None}, "occurred_at"),
    ({"occurred_at": "昨天"}, "occurred_at"),
], ids=["phone", "too-long", "kind", "category", "no-name", "unknown-field", "occurred-future", "occurred-before-opening",
        "occurred-missing", "occurred-not-a-time"])
def test_bad_submissions_are_refused_with_the_field_and_nothing_saved(edge, broker, change, field):
    kiosk = broker.client("kiosk-01", kind="kiosk")
    with pytest.raises(RequestFailed) as err:
        kiosk.request("complaint", complaint(**change))
    assert err.value.code == "bad_request" and field in str(err.value)
    assert edge.complaints.db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 0


def test_numbers_count_up_within_a_day_across_concurrent_kiosks(edge, broker):
    kiosks = [broker.client("kiosk-01", kind="kiosk"), broker.client("kiosk-02", kind="kiosk")]
    got: list[str] = []
    lock = threading.Lock()

    def send(k) -> None:
        for _ in range(10):
            n = k.request("complaint", complaint(room=f"9-{uuid.uuid4().int % 9000 + 1000}"))["tracking_no"]
            with lock:
                got.append(n)

    threads = [threading.Thread(target=send, args=(k,)) for k in kiosks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(int(n[9:12]) for n in got) == list(range(1, 21))


def test_the_kiosk_finds_a_request_by_number_and_last4(mini, broker):
    import re

    mini.edge()
    _, app = mini.kiosk()
    r = broker.client("kiosk-02", kind="kiosk").request("complaint", complaint())
    wait_for(lambda: app.extensions["hall_status"].snapshot().edge_up)
    c = app.test_client()

    def track(number: str, last4: str) -> str:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/track").get_data(as_text=True)).group(1)
        c.post("/track", data={"number": number, "last4": last4, "csrf_token": token})
        return c.get("/track/result").get_data(as_text=True)

    page = track(r["readable"], "5678")
    assert "已受理登记，等待工作人员接单" in page and r["readable"] in page
    assert "13812345678" not in page and "张三丰" not in page
    assert "没有找到对应的记录" in track(r["readable"], "0000")


class Alarms:
    """Records what the service raises and clears (the alarm model itself is tested with
    the printers and on the bus)."""

    def __init__(self) -> None:
        self.active: dict[str, dict] = {}

    def raise_(self, alarm_id: str, **kw) -> bool:
        self.active[alarm_id] = kw
        return True

    def clear(self, alarm_id: str) -> bool:
        return self.active.pop(alarm_id, None) is not None


@pytest.fixture
def desk(tmp_path):
    from edge_agent.complaints.service import ComplaintService
    from edge_agent.db import migrations
    from hall_common.config import ComplaintsConfig
    from hall_common.storage import open_database

    open_database(tmp_path / "edge.db", migrations).close()
    clock = Clock(at(2026, 11, 24, 9, 0))
    alarms = Alarms()
    service = ComplaintService(ComplaintsConfig(hall_code="101", hours=WORKDAYS), db_path=tmp_path / "edge.db",
                               bus=None, alarms=alarms, clock=clock)
    yield service, clock, alarms
    service.close()


def test_not_accepted_in_time_warns_then_escalates_once(desk):
    service, clock, alarms = desk
    r = service.answer("complaint", "kiosk-01", complaint())
    no = r["tracking_no"]
    assert r["feedback_due"] == at(2026, 11, 24, 10, 0)
    clock.t = at(2026, 11, 24, 9, 40)
    assert service.check_deadlines() == [] and alarms.active == {}
    clock.t = at(2026, 11, 24, 9, 50)  # 10 minutes before
    service.check_deadlines()
    assert alarms.active[f"complaint.{no}.due"]["severity"] == "warning"
    clock.t = at(2026, 11, 24, 10, 0)
    assert service.check_deadlines() == [no]
    assert f"complaint.{no}.due" not in alarms.active
    assert alarms.active[f"complaint.{no}.overdue"]["severity"] == "major"
    clock.t = at(2026, 11, 24, 10, 30)
    assert service.check_deadlines() == []  # escalated once
    events = [e["event"] for e in service.db.query("SELECT event FROM complaint_events ORDER BY seq")]
    assert events == ["submitted", "escalated"]
    service.transition(r["id"], "accept", who="staff-li")
    assert alarms.active == {}  # someone has it: the timer's alarms end


def test_the_workflow_is_timed_attributed_and_guarded(desk):
    service, clock, alarms = desk
    r = service.answer("complaint", "kiosk-01", complaint())
    steps = [("accept", "staff-li", ""), ("dispatch", "staff-li", "工程部 王师傅"), ("start", "wang", ""),
             ("pause", "wang", "等待配件"), ("start", "wang", ""), ("resolve", "wang", "已更换门禁读卡器"),
             ("follow_up", "staff-li", "满意"), ("close", "staff-li", "")]
    for i, (action, who, note) in enumerate(steps):
        clock.t += 600
        service.transition(r["id"], action, who=who, note=note, grade_="general" if action == "accept" else None,
                           outcome="reached" if action == "follow_up" else None)
    row = list(service.db.query("SELECT * FROM complaints WHERE id = ?", [r["id"]]))[0]
    assert (row["status"], row["receiver"]) == ("closed", "staff-li")
    assert row["accepted_at"] == at(2026, 11, 24, 9, 10)
    events = list(service.db.query("SELECT event, who, note, ts FROM complaint_events WHERE complaint = ? ORDER BY seq",
                                   [r["id"]]))
    assert [e["event"] for e in events] == ["submitted", "accepted", "dispatched", "in_progress", "paused",
                                            "in_progress", "resolved", "followed_up", "closed"]
    assert events[2]["note"] == "工程部 王师傅" and events[6]["who"] == "wang"
    assert events[7]["note"] == "回访完成：满意"
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    sent = service.db.execute("SELECT count(*) FROM outbox WHERE kind = 'complaint_event'").fetchone()[0]
    assert sent == len(steps)
    with pytest.raises(RequestFailed) as err:
        service.transition(r["id"], "accept", who="staff-li")
    assert err.value.code == "wrong_status"


def test_a_request_outside_the_remit_is_closed_with_the_departments_contact(desk, tmp_path):
    service, clock, alarms = desk
    r = service.answer("complaint", "kiosk-01", complaint(kind="consultation", category="other",
                                                    content="小区门口的公交站能不能加一班车"))
    with pytest.raises(ValueError, match="note"):
        service.transition(r["id"], "out_of_remit", who="staff-li")
    service.transition(r["id"], "out_of_remit", who="staff-li", note="公交线路请联系市公交集团 96xxx")
    found = service.answer("track", "kiosk-01", {"number": r["tracking_no"], "last4": "5678"})
    assert found["status"] == "closed"
    assert found["history"][-1]["text"] == "不属于物业服务范围，请联系：公交线路请联系市公交集团 96xxx"  # the resident sees it
    notes = [e["note"] for e in service.db.query("SELECT note FROM complaint_events WHERE event = 'out_of_remit'")]
    assert notes == ["公交线路请联系市公交集团 96xxx"]


def test_staff_accept_and_dispatch_from_the_console(mini, broker, browser, tmp_path):
    from pathlib import Path

    agent = mini.edge()
    kiosk = broker.client("kiosk-01", kind="kiosk")
    urgent = kiosk.request("complaint", complaint(kind="repair", category="water_power", place="2 栋 1 单元楼道",
                                                   content="楼道水管爆了在漏水"))
    plain = kiosk.request("complaint", complaint())
    console = mini.console(agent, complaints=agent.complaints)
    page = staff_page(browser, console.url + "complaints/")
    body = page.inner_text("main")
    assert body.index(urgent["readable"]) < body.index(plain["readable"])  # the emergency first
    assert "紧急报事：2 栋 1 单元楼道" in body  # its critical alarm, at the top
    shots = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "complaints"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=shots / "console-list.png", full_page=True)
    assert "138****5678" in body and "13812345678" not in page.content()  # masked on the list
    page.click(f"text={plain['readable']}")
    page.wait_for_selector("button:text('接单 · Accept')")
    assert "13812345678" in page.inner_text("main")  # whole on the record's own page, to call the resident back
    page.click("text=接单 · Accept")
    assert "工作人员已接单" in page.inner_text("main")
    page.click("text=派单 · Dispatch")  # without a note
    assert "请填写说明" in page.inner_text("main")
    page.fill("form:has(button:text('派单 · Dispatch')) input[name=note]", "工程部 王师傅")
    page.click("text=派单 · Dispatch")
    assert "已派单处理" in page.inner_text("main") and "工程部 王师傅" in page.inner_text("main")
    page.screenshot(path=shots / "console-record.png", full_page=True)
    row = list(agent.complaints.db.query("SELECT * FROM complaints WHERE id = ?", [plain["id"]]))[0]
    assert (row["status"], row["receiver"]) == ("dispatched", "staff")
    page.close()


def test_a_bad_rating_reopens_the_record_and_follow_up_calls_are_kept(desk):
    service, clock, alarms = desk
    r = service.answer("complaint", "kiosk-01", complaint())
    ask = {"number": r["tracking_no"], "last4": "5678"}
    with pytest.raises(RequestFailed) as err:
        service.answer("rate", "kiosk-01", {**ask, "rating": "satisfied"})
    assert err.value.code == "not_yet"  # nothing to rate before it is handled
    for action in ("accept", "resolve"):
        service.transition(r["id"], action, who="staff-li")
    service.transition(r["id"], "follow_up", who="staff-li", outcome="no_answer")
    row = service._get(r["id"])
    assert row["status"] == "resolved"  # a call nobody answered changes nothing but the record of it
    with pytest.raises(ValueError, match="outcome"):
        service.transition(r["id"], "follow_up", who="staff-li")
    assert service.answer("track", "kiosk-01", ask)["can_rate"]
    with pytest.raises(RequestFailed, match="rating") as err:
        service.answer("rate", "kiosk-01", {**ask, "rating": "meh"})
    assert err.value.code == "bad_request"
    out = service.answer("rate", "kiosk-01", {**ask, "rating": "dissatisfied", "comment": "门禁还是时好时坏"})
    assert out == {"rating": "dissatisfied", "reopened": True, "status": "accepted"}
    events = [e["event"] for e in service.db.query("SELECT event FROM complaint_events ORDER BY seq")]
    assert events[-4:] == ["resolved", "follow_up_attempt", "rated", "reopened"]
    assert service.db.execute("SELECT count(*) FROM outbox WHERE kind = 'rating'").fetchone()[0] == 1
    service.transition(r["id"], "resolve", who="staff-li", note="更换了读卡器")
    assert service.answer("rate", "kiosk-01", {**ask, "rating": "very_satisfied"})["reopened"] is False
    assert not service.answer("track", "kiosk-01", ask)["can_rate"]  # rated


def test_the_kiosk_gets_the_halls_options_and_a_preview_that_stores_nothing(edge, broker):
    kiosk = broker.client("kiosk-01", kind="kiosk")
    options = kiosk.request("complaint_options", {})
    elevator = next(c for c in options["categories"] if c["id"] == "elevator")
    assert elevator["name_zh"] == "电梯" and "电梯困人" in elevator["phrases"]
    assert "地下车库" in options["places"]["public_areas"] and options["places"]["buildings"][0] == "1栋"
    assert options["keep_years"] == 3 and options["wanted_phrases"]
    draft = {k: v for k, v in complaint(kind="repair", category="elevator", content="电梯困人").items() if k != "request"}
    preview = kiosk.request("complaint_preview", draft)
    assert preview["emergency"] and preview["grade"] == "emergency" and preview["reasons"]
    general = kiosk.request("complaint_preview", {**draft, "category": "facilities", "content": "单元门门禁坏了"})
    assert general["grade"] == "general" and general["feedback_due"] > 0
    assert edge.complaints.db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 0
    assert not edge.alarms.active()  # a preview raises nothing


@pytest.mark.parametrize("bad", [{"room": "3201"}, {"room": "三栋"}, {"phone": "1381234"}, {"content": "漏"},
                                 {"content": "漏" * 501}, {"name": ""}, {"kind": "chat"}, {"category": "weather"},
                                 {"wanted": "快" * 201}, {"extra": "x"}])
def test_a_bad_draft_is_refused_by_preview_and_submit_alike(edge, broker, bad):
    kiosk = broker.client("kiosk-01", kind="kiosk")
    args = {**complaint(), **bad}
    for method, payload in (("complaint_preview", {k: v for k, v in args.items() if k != "request"}), ("complaint", args)):
        with pytest.raises(RequestFailed) as err:
            kiosk.request(method, payload)
        assert err.value.code == "bad_request"
    assert edge.complaints.db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 0


def test_an_emergency_rings_the_bell_on_the_staff_console_until_someone_acknowledges_it(mini, broker, browser, tmp_path):
    from pathlib import Path

    agent = mini.edge()
    console = mini.console(agent, complaints=agent.complaints, alarms=agent.alarms)
    page = staff_page(browser, console.url)
    page.goto(console.url + "complaints/")  # any console page
    assert page.get_attribute("#alarm-bell", "data-sounding") == "no"
    r = broker.client("kiosk-01", kind="kiosk").request("complaint", complaint(
        kind="repair", category="elevator", place="5栋电梯", content="电梯困人，有人被关在里面"))
    page.wait_for_selector("#alarm-bell:not([hidden])", timeout=15000)
    assert "5栋电梯" in page.inner_text("#alarm-bell")
    # It keeps chiming. (Polled from here: Playwright's wait_for_function runs its predicate
    # through new Function, which the console's Content-Security-Policy refuses.)
    wait_for(lambda: page.evaluate("Number(document.getElementById('alarm-bell').dataset.rang) >= 2"))
    assert page.get_attribute("#alarm-bell", "data-sounding") == "yes"
    shots = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "complaints"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=shots / "console-bell.png", full_page=True)
    page.click(".bell-ack")
    page.wait_for_selector("#alarm-bell", state="hidden")
    assert page.get_attribute("#alarm-bell", "data-sounding") == "no"
    row = next(a for a in agent.alarms.active() if a["id"] == f"complaint.{r['tracking_no']}")
    assert (row["state"], row["acked_by"]) == ("ACTIVE_ACK", "staff")  # seen, still active until handled
    page.close()
