"""Requests from every channel (issue 17, items 1 and 4): staff take a request by phone (来电),
at the counter (来访) or from a message (微信, 短信) in the staff console, in headless Chromium,
and it becomes the same record as a kiosk's, through the same code: grading, tracking number,
timers and escalation, the receipt at the counter's printer, 回访 with the resident's rating,
and the centre's copy with its channel. 发生时间 is required and checked (not in the future,
not before the hall opened), each bad case storing nothing. The record's old ``channel`` (the
kiosk's id) becomes ``taken_by`` by migration, retention still erases these requests, and
the hall at a glance shows devices, not ``hall doctor``'s login."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from central_sync.server.db import StoreUsers
from hall_common.auth import set_password
from hall_common.errors import RequestFailed
from simulators.escpos_parse import QR, Text, parse

from .conftest import NODES, start_broker, stop_broker, wait_for
from .helpers.clock import TZ, Clock, at
from .helpers.edge_db import count, rows
from .helpers.edge_inputs import complaint
from .screens import staff_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "front-desk"
FOLLOW = "http://hall.example"
ALL_DAY = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
ADMIN_PASSWORD = "admin password 1"


@pytest.fixture
def broker(tmp_path):
    """The test's mosquitto, with a login for ``hall doctor`` (node ``doctor``) too."""
    running = start_broker(tmp_path / "broker", nodes=(*NODES, "doctor"))
    yield running
    stop_broker(running)


@pytest.fixture
def hall(mini):
    """An edge with a printer and the centre it syncs to, and its staff console."""
    printer = mini.printer()
    centre, store, token = mini.registered_centre()
    agent = mini.edge(centre_url=centre.url, token=token,
                      printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port, "timeout": 1}],
                      complaints={"hall_code": "101", "opened": "2021-05-01", "follow_url": FOLLOW, "hours": ALL_DAY})
    wait_for(lambda: agent.printing.workers["printer-1"].can_print)
    yield agent, printer, mini.console(agent), centre, store


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def local(moment: datetime) -> str:
    """A moment as the console's date-time field takes it."""
    return moment.astimezone(TZ).strftime("%Y-%m-%dT%H:%M")


def fill_request(page, *, occurred: str, phone: str = "139 0000 1111", name: str = "王建国") -> None:
    """The intake form's fields, typed as staff type them (their own keyboard)."""
    page.fill("#occurred_at", occurred)
    page.select_option("#kind", "repair")
    page.select_option("#category", "facilities")
    page.fill("#place", "3栋2单元")
    page.fill("#content", "单元门门禁坏了，刷卡没反应")
    page.fill("#wanted", "尽快修好")
    page.fill("#name", name)
    page.fill("#room", "3-2-1201")
    page.fill("#phone", phone)


def step(page, button: str, status: str) -> None:
    page.click(f"button:text('{button}')")
    page.wait_for_selector(f"h2:has-text('{status}')")  # the record page again, moved on


def test_a_phone_request_at_the_console_is_handled_and_reaches_the_centre_as_a_phone_request(hall, browser):
    agent, printer, console, centre, store = hall
    page = staff_page(browser, console.url + "complaints/")
    page.click("a.take:has-text('来电')")
    page.wait_for_selector("form.intake")
    assert page.is_checked("input[name=channel][value=phone]")
    happened = datetime.now(TZ).replace(second=0, microsecond=0) - timedelta(hours=2)
    fill_request(page, occurred=local(happened))
    page.select_option("#printer", "printer-1")
    shot(page, "intake-filled")
    page.click("button:has-text('登记 · File request')")
    page.wait_for_selector("h2:has-text('受理编号')")
    main = page.inner_text("main")
    row = rows(agent, "SELECT * FROM complaints")[0]
    readable = f"{row['tracking_no'][:3]} {row['tracking_no'][3:9]} {row['tracking_no'][9:12]} {row['tracking_no'][12:]}"
    assert f"已登记，受理编号 {readable}" in main and "回执已送 printer-1" in main
    assert "来电 · phone · 受理人 staff" in main and "13900001111" in main  # the record's own page: the whole number
    assert happened.strftime("%Y-%m-%d %H:%M") in main
    shot(page, "intake-record")
    assert (row["channel"], row["taken_by"], row["occurred_at"], row["phone"], row["grade"], row["status"]) == (
        "phone", "staff", happened.timestamp(), "13900001111", "general", "submitted")
    assert rows(agent, "SELECT node FROM outbox WHERE kind = 'complaint'") == [{"node": "edge"}]  # the edge's record
    # The receipt, at the counter's printer: the kiosk's slip, its QR the request's phone page.
    wait_for(lambda: len(printer.printed_jobs()) == 1)
    slip = parse(printer.printed_jobs()[0].data)
    assert readable in [e.text for e in slip if isinstance(e, Text)] and "受理回执" in [e.text for e in slip if isinstance(e, Text)]
    assert [e.data for e in slip if isinstance(e, QR)] == [f"{FOLLOW}/t/{row['tracking_no']}"]

    # On the list: its channel, its timer, the phone masked.
    page.goto(console.url + "complaints/")
    line = page.locator("tbody tr", has_text=readable)
    assert line.locator("td.channel").inner_text() == "来电"
    assert re.fullmatch(r"\d+ 分钟内", line.locator("td.due").inner_text())
    assert "139****1111" in line.inner_text() and "13900001111" not in page.content()

    # Handled like any request: accept, resolve, 回访 (the resident satisfied), close.
    page.click(f"text={readable}")
    page.wait_for_selector("button:text('接单 · Accept')")
    step(page, "接单 · Accept", "工作人员已接单")
    step(page, "处理完毕 · Resolve", "已处理完毕")
    follow_up = "form:has(button:text('回访 · Follow-up'))"
    page.select_option(f"{follow_up} select[name=outcome]", "reached")
    page.select_option(f"{follow_up} select[name=rating]", "satisfied")
    page.fill(f"{follow_up} input[name=note]", "已修好，业主确认")
    step(page, "回访 · Follow-up", "已回访")
    step(page, "办结 · Close", "已办结")
    assert [e["event"] for e in rows(agent, "SELECT event FROM complaint_events ORDER BY seq")] == [
        "submitted", "accepted", "resolved", "followed_up", "rated", "closed"]
    assert rows(agent, "SELECT rating FROM complaints") == [{"rating": "satisfied"}]

    # At the centre, through the edge's sync: channel phone, who took it, counted in the figures.
    from central_sync.server.complaints import figures

    wait_for(lambda: store.query("SELECT status FROM complaints WHERE status = 'closed'"), timeout=20)
    at_centre = store.query("SELECT channel, taken_by, occurred_at, phone_masked, rating, status FROM complaints")
    assert at_centre == [{"channel": "phone", "taken_by": "staff", "occurred_at": happened.timestamp(),
                          "phone_masked": "139****1111", "rating": "satisfied", "status": "closed"}]
    phone = {r["key"]: r for r in figures(store, "channel")}["phone"]
    assert (phone["received"], phone["due"], phone["on_time"], phone["rated"], phone["satisfied"]) == (1, 1, 1, 1, 1)
    set_password(StoreUsers(store), "admin", ADMIN_PASSWORD, "admin")
    admin = centre.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', admin.get("/login").get_data(as_text=True)).group(1)
    admin.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token})
    assert readable in admin.get("/complaints/?channel=phone").get_data(as_text=True)
    assert readable not in admin.get("/complaints/?channel=kiosk").get_data(as_text=True)
    page.close()


def test_when_it_happened_is_required_and_checked_and_a_bad_form_stores_nothing(hall, browser):
    """Missing, in the future, before the hall opened (2021-05-01): each refused with the
    field named in Chinese and English, what was typed kept, nothing stored or sent."""
    agent, printer, console, centre, store = hall
    page = staff_page(browser, console.url + "complaints/new?channel=walk_in")
    page.wait_for_selector("form.intake")
    assert page.is_checked("input[name=channel][value=walk_in]")
    tomorrow = datetime.now(TZ) + timedelta(days=1)
    for typed, message in (("", "发生时间：请填写事情发生的日期和时间 · When it happened: give the date and time it happened"),
                           (local(tomorrow), "发生时间：不能晚于现在 · When it happened: it cannot be in the future"),
                           ("2021-04-30T23:00", "发生时间：不能早于本服务中心启用的日期（2021-05-01） · "
                                                "When it happened: it cannot be before the hall opened (2021-05-01)")):
        fill_request(page, occurred=typed)
        page.click("button:has-text('登记 · File request')")
        page.wait_for_selector(f"#occurred_at-error:has-text('{message[:9]}')")
        assert page.inner_text("#occurred_at-error") == f"✖ {message}"
        assert page.input_value("#occurred_at") == typed and page.input_value("#content") == "单元门门禁坏了，刷卡没反应"
        assert count(agent, "complaints") == 0 and count(agent, "outbox", "kind = 'complaint'") == 0
    # Every wrong field at once, the date among them.
    fill_request(page, occurred=local(tomorrow), phone="1381234", name="")
    page.click("button:has-text('登记 · File request')")
    page.wait_for_selector("#phone-error")
    errors = page.inner_text("form.intake")
    assert "11 位手机号" in errors and "请填写业主姓名" in errors and "不能晚于现在" in errors
    shot(page, "intake-refused")
    assert count(agent, "complaints") == 0
    # Put right, it is filed once, however often the button is pressed.
    fill_request(page, occurred="2021-05-01T08:00")
    page.dblclick("button:has-text('登记 · File request')")
    page.wait_for_selector("h2:has-text('受理编号')")
    assert rows(agent, "SELECT channel, occurred_at FROM complaints") == [
        {"channel": "walk_in", "occurred_at": at(2021, 5, 1, 8, 0)}]
    page.close()


def test_what_the_kiosks_choices_and_the_consoles_field_mean():
    import doctest
    from datetime import date

    from hall_common import occurred

    assert doctest.testmod(occurred).failed == 0
    now = at(2026, 3, 1, 0, 30)  # just after midnight, the first of a month

    def choose(day: str, t: str = "", d: str = "") -> float:
        return occurred.from_choice(day, t, d, now=now, zone=TZ)

    assert choose("now", "99:99", "nonsense") == now  # 刚才 takes neither the time nor the date
    assert choose("yesterday", "23:10") == at(2026, 2, 28, 23, 10)
    assert choose("today", "0:05") == choose("today", "005") == choose("today", "00：05") == at(2026, 3, 1, 0, 5)
    assert choose("earlier", "14", "20251231") == choose("earlier", "14:00", "2025-12-31") == at(2025, 12, 31, 14, 0)
    for day, t, d, problem in (("", "", "", "day"), ("tomorrow", "10:00", "", "day"), ("today", "", "", "time"),
                               ("today", "24:00", "", "time"), ("today", "12:60", "", "time"), ("today", "１２:00", "", "time"),
                               ("earlier", "10:00", "", "date"), ("earlier", "10:00", "2026-02-30", "date"),
                               ("earlier", "10:00", "26-2-3", "date")):
        with pytest.raises(occurred.OccurredError) as err:
            choose(day, t, d)
        assert err.value.problem == problem, (day, t, d)
    opened = date(2021, 5, 1)
    assert occurred.check(now + 299, now=now, opened=opened, zone=TZ) == now + 299  # a clock a little fast
    assert occurred.check(at(2021, 5, 1, 0, 0), now=now, opened=opened, zone=TZ) == at(2021, 5, 1, 0, 0)
    for ts, problem in ((now + 301, "future"), (at(2021, 4, 30, 23, 59), "before_opened")):
        with pytest.raises(occurred.OccurredError) as err:
            occurred.check(ts, now=now, opened=opened, zone=TZ)
        assert err.value.problem == problem
    assert occurred.from_local("2026-02-28T23:10", TZ) == at(2026, 2, 28, 23, 10)
    assert occurred.local_text(at(2026, 2, 28, 23, 10), TZ) == "2026-02-28T23:10"
    for bad in ("", "  ", "yesterday", "2026-02-30T10:00"):
        with pytest.raises(occurred.OccurredError, match="occurred_at"):
            occurred.from_local(bad, TZ)


def test_a_request_staff_take_goes_through_the_kiosks_code(tmp_path):
    """``take`` is the ``complaint`` method's own path: its checks, grading, tracking number,
    timers, escalation and record, with the channel and who took it. A kiosk cannot claim a
    channel (it is not an argument), and only staff channels are taken."""
    from edge_agent.complaints.service import ComplaintService
    from edge_agent.db import migrations
    from hall_common.config import ComplaintsConfig
    from hall_common.storage import open_database

    open_database(tmp_path / "edge.db", migrations).close()
    clock = Clock(at(2026, 11, 24, 9, 0))
    raised: dict[str, dict] = {}

    class Alarms:
        def raise_(self, alarm_id: str, **kw) -> bool:
            raised[alarm_id] = kw
            return True

        def clear(self, alarm_id: str) -> bool:
            return raised.pop(alarm_id, None) is not None

    service = ComplaintService(ComplaintsConfig(hall_code="101", hours=ALL_DAY), db_path=tmp_path / "edge.db", bus=None,
                               alarms=Alarms(), clock=clock)
    try:
        args = complaint(occurred_at=at(2026, 11, 24, 8, 0))
        r = service.take(args, channel="wechat", who="staff-li")
        assert service.take(args, channel="wechat", who="staff-li")["tracking_no"] == r["tracking_no"]  # once
        row = service._get(r["id"])
        assert (row["channel"], row["taken_by"], row["grade"], row["feedback_due"]) == (
            "wechat", "staff-li", "general", at(2026, 11, 24, 10, 0))
        body = service.db.execute("SELECT node, body FROM outbox WHERE kind = 'complaint'").fetchone()
        assert body[0] == "edge" and '"channel": "wechat"' in body[1] and '"taken_by": "staff-li"' in body[1]
        clock.t = at(2026, 11, 24, 10, 1)
        assert service.check_deadlines() == [r["tracking_no"]]  # not accepted in time: escalated, like a kiosk's
        urgent = service.take(complaint(kind="repair", category="elevator", place="5栋电梯", content="电梯困人",
                                        occurred_at=clock.t - 60), channel="phone", who="staff-li")
        assert urgent["emergency"] and raised[f"complaint.{urgent['tracking_no']}"]["severity"] == "critical"
        assert raised[f"complaint.{urgent['tracking_no']}"]["source"] == "edge/complaint"
        for channel in ("kiosk", "fax", ""):
            with pytest.raises(RequestFailed, match="channel") as err:
                service.take(complaint(), channel=channel, who="staff-li")
            assert err.value.code == "bad_request"
        with pytest.raises(RequestFailed, match="channel"):  # a kiosk saying it is a phone call
            service.answer("complaint", "kiosk-01", complaint(channel="phone"))
        for bad in ({"occurred_at": clock.t + 3600}, {"occurred_at": at(1999, 12, 31, 12, 0)}, {"phone": "12"}):
            with pytest.raises(RequestFailed) as err:
                service.take(complaint(**bad), channel="phone", who="staff-li")
            assert err.value.code == "bad_request"
        assert service.db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 2
    finally:
        service.close()


def test_the_migration_moves_the_kiosk_id_to_taken_by(tmp_path):
    """Before it, ``channel`` held the kiosk's id: every request then came from a kiosk."""
    from edge_agent.db import migrations
    from hall_common.storage import open_database

    db = open_database(tmp_path / "edge.db")
    try:
        migrations.apply(db, stop_before="add_complaint_channels")
        db["complaints"].insert({"id": "old", "request_id": "r-old", "tracking_no": "1012511240011", "kind": "repair",
                                 "category": "facilities", "place": "3栋", "content": "门禁坏了", "name": "张三",
                                 "room": "3-2-101", "phone": "13812345678", "channel": "kiosk-02", "received_at": 1.0,
                                 "grade": "general", "feedback_due": 2.0, "status": "closed"})
        migrations.apply(db)
        row = db.execute("SELECT channel, taken_by, occurred_at FROM complaints").fetchone()
        assert tuple(row) == ("kiosk", "kiosk-02", None)
    finally:
        db.close()


def test_retention_erases_a_request_staff_took_like_a_kiosks(tmp_path):
    from edge_agent.complaints.service import ComplaintService
    from edge_agent.db import migrations
    from edge_agent.retention import Retention
    from hall_common.config import ComplaintsConfig, PrivacyConfig
    from hall_common.storage import open_database

    path = tmp_path / "edge.db"
    open_database(path, migrations).close()
    clock = Clock(at(2022, 3, 1, 10, 0))
    desk = ComplaintService(ComplaintsConfig(hall_code="101"), db_path=path, bus=None, clock=clock)
    retention = Retention(PrivacyConfig(keep_years=3), db_path=path, clock=clock)
    try:
        r = desk.take(complaint(name="欧阳娜娜", phone="13866661234", occurred_at=at(2022, 3, 1, 7, 0)),
                      channel="phone", who="staff-li")
        desk.transition(r["id"], "cancel", who="staff-li", note="业主自行解决")
        clock.t = at(2025, 3, 2, 10, 0)
        assert retention.run()["complaints"] == 1
        row = desk._get(r["id"])
        assert (row["name"], row["phone"], row["room"], row["content"]) == ("", "", "", "")
        assert (row["channel"], row["taken_by"], row["occurred_at"]) == ("phone", "staff-li", at(2022, 3, 1, 7, 0))
        assert b"13866661234" not in path.read_bytes()
    finally:
        retention.close()
        desk.close()


def test_the_hall_at_a_glance_shows_devices_not_tools(mini, broker, browser):
    """``hall doctor`` logs in as ``doctor`` (birth kind ``tool``) and leaves: no grey
    "stopped" tile beside the kiosks, only a line naming it below the node table."""
    agent = mini.edge()
    broker.client("kiosk-01", kind="kiosk")
    broker.client("doctor", kind="tool").close()
    wait_for(lambda: rows(agent, "SELECT kind, state FROM nodes WHERE node = 'doctor'") == [
        {"kind": "tool", "state": "disconnected"}])
    wait_for(lambda: rows(agent, "SELECT state FROM nodes WHERE node = 'kiosk-01'") == [{"state": "ready"}])
    console = mini.console(agent)
    page = staff_page(browser, console.url)
    page.wait_for_selector(".glance .tile")
    glance = page.inner_text(".glance")
    assert "kiosk-01" in glance and "自助终端" in glance
    assert "doctor" not in glance and "已停止" not in glance
    assert "doctor" not in page.inner_text("table.nodes") and "kiosk-01" in page.inner_text("table.nodes")
    assert "doctor（已停止 · stopped" in page.inner_text(".tools")
    shot(page, "overview")
    page.close()


def test_a_viewer_sees_the_phone_masked_on_the_record_page(hall):
    """The whole number is for the staff who call the resident back."""
    from hall_common.auth import SqliteUsers
    from hall_common.storage import open_database

    agent, printer, console, centre, store = hall
    r = agent.complaints.take(complaint(occurred_at=at(2026, 1, 5, 9, 0)), channel="sms", who="staff")
    db = open_database(agent.db_path)
    try:
        set_password(SqliteUsers(db), "guest", "viewer password 1", "viewer")
    finally:
        db.close()
    client = console.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "guest", "password": "viewer password 1", "csrf_token": token})
    page = client.get(f"/complaints/{r['id']}").get_data(as_text=True)
    assert "138****5678" in page and "13812345678" not in page and "短信 · SMS" in page
    assert client.get("/complaints/new").status_code == 403  # and takes no requests
