"""The first-aid and convenience boxes (seed 000 clauses 4.4.5, 4.4.6): OTC medicine only,
bad input refused with nothing written, expiry reminders through the hall's alarms on a
controllable clock, inspection records, and the console pages in Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

import edge_agent
from edge_agent.alarms import Alarms
from edge_agent.db import migrations
from edge_agent.first_aid import OUTBOX_KIND, FirstAid, Refused
from edge_agent.services import EdgeServices
from hall_common.storage import open_database

from .helpers.clock import Clock, at
from .helpers.edge_inputs import console_config

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "first-aid"


class Hall:
    def __init__(self, tmp_path: Path) -> None:
        self.config = console_config(tmp_path)
        self.db_path = self.config.data_dir / "edge.db"
        open_database(self.db_path, migrations).close()
        self.clock = Clock(at(2026, 6, 1, 9, 0))
        self.alarms = Alarms(self.db_path, bus=None, node="edge")
        self.aid = FirstAid(self.db_path, devices=self.config.devices, config=self.config.first_aid,
                            alarms=self.alarms, clock=self.clock)

    def count(self, sql: str, args: list[Any] | None = None) -> int:
        return self.aid.db.execute(sql, args or []).fetchone()[0]

    def written(self) -> tuple[int, int, int, int]:
        return (self.count("SELECT count(*) FROM first_aid_items"), self.count("SELECT count(*) FROM first_aid_events"),
                self.count("SELECT count(*) FROM first_aid_inspections"), self.count("SELECT count(*) FROM outbox"))

    def alarm(self, item: dict[str, Any]) -> dict[str, Any] | None:
        rows = list(self.aid.db.query("SELECT * FROM alarms WHERE id = ?", [f"first_aid.{item['box']}.{item['id']}"]))
        return rows[0] if rows else None

    def raised(self, item: dict[str, Any]) -> list[str]:
        """The alarm events of ``item`` sent to the centre, in order."""
        rows = self.aid.db.query("SELECT body FROM outbox WHERE kind = 'alarm' ORDER BY seq")
        return [b["event"] for b in (json.loads(r["body"]) for r in rows)
                if b["id"] == f"first_aid.{item['box']}.{item['id']}"]

    def close(self) -> None:
        self.aid.close()
        self.alarms.close()


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[Hall]:
    h = Hall(tmp_path)
    yield h
    h.close()


IBUPROFEN = dict(name="布洛芬缓释胶囊", kind="medicine", marking="otc_b", quantity=2, unit="盒", batch="B2405",
                 expiry="2027-05-31")


def test_the_default_hall_has_one_box_of_each(hall):
    assert {b.id: b.kind for b in hall.aid.boxes.values()} == {"first-aid-1": "first_aid_box",
                                                               "convenience-1": "convenience_box"}


@pytest.mark.parametrize("marking, words", [
    ("rx", ["处方药不得放入", "4.4.5", "不得提供非OTC药品"]),
    ("none", ["没有OTC标识", "4.4.5"]),
    (None, ["没有OTC标识", "4.4.5"]),
])
@pytest.mark.parametrize("box", ["first-aid-1", "convenience-1"])
def test_medicine_without_an_otc_mark_is_refused_and_nothing_written(hall, marking, words, box):
    with pytest.raises(Refused) as err:
        hall.aid.add(box, who="staff-li", **{**IBUPROFEN, "marking": marking})
    assert all(w in err.value.zh for w in words), err.value.zh
    assert "clause 4.4.5" in err.value.en and "OTC medicine only" in err.value.en
    assert err.value.field == "marking"
    assert hall.written() == (0, 0, 0, 0)
    with pytest.raises(Exception):  # the table refuses it too, should a caller skip the service
        hall.aid.db.execute("INSERT INTO first_aid_items (id, box, name, kind, marking, quantity, unit, expiry, added_by, "
                            "added_at, updated_at) VALUES ('x', ?, '阿莫西林', 'medicine', 'rx', 1, '盒', '2027-01-01', "
                            "'s', 0, 0)", [box])


def test_otc_medicine_and_supplies_go_in_with_their_record_for_the_centre(hall):
    med = hall.aid.add("first-aid-1", who="staff-li", **IBUPROFEN)
    brolly = hall.aid.add("convenience-1", who="staff-li", name="雨伞", kind="supply", quantity=3, unit="把",
                          marking="otc_a")  # a supply keeps no expiry and no medicine mark
    assert (brolly["marking"], brolly["expiry"]) == (None, None)
    assert [i["name"] for i in hall.aid.items("first-aid-1")] == ["布洛芬缓释胶囊"]
    records = [json.loads(r["body"]) for r in hall.aid.db.query(
        "SELECT body FROM outbox WHERE kind = ? ORDER BY seq", [OUTBOX_KIND])]
    assert [(r["device"], r["event"], r["item"]["id"]) for r in records] == [
        ("first-aid-1", "first_aid.added", med["id"]), ("convenience-1", "first_aid.added", brolly["id"])]
    assert records[0]["item"]["marking"] == "otc_b" and records[0]["who"] == "staff-li"


@pytest.mark.parametrize("change, message, field", [
    ({"name": "  "}, "请填写名称", "name"),
    ({"quantity": 0}, "数量须为 1 到 9999 之间的整数", "quantity"),
    ({"quantity": -3}, "数量须为 1 到 9999 之间的整数", "quantity"),
    ({"quantity": "两盒"}, "数量须为 1 到 9999 之间的整数", "quantity"),
    ({"unit": ""}, "请填写单位", "unit"),
    ({"expiry": "2026-05-31"}, "有效期 2026-05-31 已过，过期物品不能放入箱内", "expiry"),
    ({"expiry": "2026-13-01"}, "有效期格式不对", "expiry"),
    ({"expiry": "2026/06/30"}, "有效期格式不对", "expiry"),
    ({"expiry": "明年"}, "有效期格式不对", "expiry"),
    ({"expiry": None}, "药品须填写有效期", "expiry"),
    ({"batch": "B" * 33}, "批号过长（最多 32 个字符）", "batch"),
    ({"name": "药" * 65}, "名称过长", "name"),
    ({"kind": "food"}, "请选择类别", "kind"),
])
def test_bad_input_is_refused_with_its_message_and_nothing_written(hall, change, message, field):
    with pytest.raises(Refused) as err:
        hall.aid.add("first-aid-1", who="staff-li", **{**IBUPROFEN, **change})
    assert message in err.value.zh and err.value.en and err.value.field == field
    assert " · " in str(err.value)  # Chinese · English
    assert hall.written() == (0, 0, 0, 0)


def test_an_unknown_box_and_taking_out_more_than_there_is_are_refused(hall):
    with pytest.raises(Refused, match="没有这个箱子"):
        hall.aid.add("first-aid-9", who="staff-li", **IBUPROFEN)
    item = hall.aid.add("first-aid-1", who="staff-li", **IBUPROFEN)
    before = hall.written()
    with pytest.raises(Refused, match="箱内只有 2 盒，不能取出 3"):
        hall.aid.take_out(item["id"], 3, who="staff-li")
    with pytest.raises(Refused, match="有效期 2026-01-01 已过"):
        hall.aid.restock(item["id"], 1, who="staff-li", batch="B0101", expiry="2026-01-01")
    assert hall.written() == before and hall.aid.item(item["id"])["quantity"] == 2
    assert hall.aid.take_out(item["id"], 1, who="staff-li")["quantity"] == 1
    assert hall.aid.restock(item["id"], 4, who="staff-li")["quantity"] == 5  # same batch: added
    moves = [(e["event"], e["change"], e["quantity"]) for e in reversed(hall.aid.events("first-aid-1"))]
    assert moves == [("added", 2, 2), ("taken_out", -1, 1), ("restocked", 4, 5)]


def test_reminders_at_30_and_7_days_and_on_expiry_each_raised_once(hall):
    item = hall.aid.add("first-aid-1", who="staff-li", **{**IBUPROFEN, "expiry": "2026-07-15"})
    assert hall.aid.check() == [] and hall.alarm(item) is None  # 44 days left
    hall.clock.t = at(2026, 6, 15, 9, 0)  # 30 days
    assert hall.aid.check() == [item["id"]]
    a = hall.alarm(item)
    assert (a["severity"], a["type"], a["state"]) == ("warning", "expiry_soon", "ACTIVE_UNACK")
    assert "布洛芬缓释胶囊（批号 B2405）将于 2026-07-15 到期（30 天内）" in a["text"] and " · First-aid box" in a["text"]
    hall.clock.t = at(2026, 6, 20, 9, 0)
    assert hall.aid.check() == [] and hall.aid.check() == []  # the hourly check does not raise it again
    hall.clock.t = at(2026, 7, 8, 9, 0)  # 7 days
    hall.aid.check()
    assert (hall.alarm(item)["severity"], hall.alarm(item)["state"]) == ("minor", "ACTIVE_UNACK")
    assert "（7 天内）" in hall.alarm(item)["text"]
    hall.clock.t = at(2026, 7, 15, 23, 0)  # the last day it may be used
    assert hall.aid.check() == []
    hall.clock.t = at(2026, 7, 16, 0, 5)
    hall.aid.check()
    a = hall.alarm(item)
    assert (a["severity"], a["type"]) == ("major", "expired")
    assert "已于 2026-07-15 过期，须撤出" in a["text"] and "withdraw it now" in a["text"]
    assert hall.aid.check() == []
    assert hall.raised(item) == ["raised", "updated", "updated"]  # one alarm, its severity rising
    assert [i["status"] for i in hall.aid.items("first-aid-1")] == ["expired"]

    hall.aid.restock(item["id"], 2, who="staff-li", batch="B2607", expiry="2028-06-30")  # a new batch
    assert hall.alarm(item)["state"] == "CLEARED_UNACK" and hall.raised(item)[-1] == "cleared"
    assert hall.aid.item(item["id"])["quantity"] == 2  # the old two were withdrawn
    assert "换批，撤出 2（批号 B2405，有效期 2026-07-15）" in hall.aid.events("first-aid-1")[0]["note"]
    assert hall.aid.check() == []


def test_removing_correcting_or_using_up_an_item_clears_its_reminder(hall):
    hall.clock.t = at(2026, 6, 1, 9, 0)
    gauze = hall.aid.add("first-aid-1", who="staff-li", name="无菌纱布", kind="supply", quantity=5, unit="包",
                         expiry="2026-06-05")
    iodine = hall.aid.add("first-aid-1", who="staff-li", name="碘伏", kind="medicine", marking="otc_a", quantity=1,
                          unit="瓶", expiry="2026-06-20")
    plasters = hall.aid.add("first-aid-1", who="staff-li", name="创可贴", kind="supply", quantity=2, unit="片",
                            expiry="2026-06-03")
    assert hall.alarm(gauze)["severity"] == "minor"  # judged the moment it went in
    assert hall.alarm(iodine)["severity"] == "warning"
    hall.aid.remove(gauze["id"], who="staff-li", reason="过期撤出 · expired, withdrawn")
    assert hall.alarm(gauze)["state"] == "CLEARED_UNACK" and hall.aid.items("first-aid-1")[0]["name"] == "创可贴"
    hall.aid.correct(iodine["id"], who="staff-li", expiry="2027-06-20")  # it had been typed wrong
    assert hall.alarm(iodine)["state"] == "CLEARED_UNACK"
    hall.aid.take_out(plasters["id"], 2, who="staff-li")  # nothing left to expire
    assert hall.alarm(plasters)["state"] == "CLEARED_UNACK"
    assert hall.aid.check() == [] and not [a for a in hall.alarms.active() if a["id"].startswith("first_aid.")]
    with pytest.raises(Refused, match="找不到这件物品"):
        hall.aid.take_out(gauze["id"], 1, who="staff-li")


def test_an_inspection_is_recorded_listed_and_sent_to_the_centre(hall):
    hall.aid.add("first-aid-1", who="staff-li", **IBUPROFEN)
    hall.aid.add("first-aid-1", who="staff-li", name="碘伏", kind="medicine", marking="otc_a", quantity=1, unit="瓶",
                 expiry="2026-06-20")
    with pytest.raises(Refused, match="请填写检查情况"):
        hall.aid.inspect("first-aid-1", who="staff-wang", found=" ")
    hall.clock.t = at(2026, 6, 2, 10, 30)
    row = hall.aid.inspect("first-aid-1", who="staff-wang", found="药品齐全，碘伏 30 天内到期", done="已申购碘伏 2 瓶")
    listed = hall.aid.inspections("first-aid-1")
    assert [(r["who"], r["found"], r["done"], r["items"], r["expiring"], r["expired"]) for r in listed] == [
        ("staff-wang", "药品齐全，碘伏 30 天内到期", "已申购碘伏 2 瓶", 2, 1, 0)]
    assert hall.aid.local(listed[0]["at"]) == "2026-06-02 10:30"
    assert hall.aid.inspections("convenience-1") == []
    bodies = [json.loads(r["body"]) for r in hall.aid.db.query("SELECT body FROM outbox WHERE kind = ?", [OUTBOX_KIND])]
    assert bodies[-1] == {"device": "first-aid-1", "event": "first_aid.inspection", "inspection": row}


def login(client) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "staff", "password": "correct horse 1", "csrf_token": token})


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_the_console_refuses_prescription_medicine_and_keeps_what_was_typed(hall):
    app = edge_agent.create_app(hall.config, services=EdgeServices(alarms=hall.alarms, first_aid=hall.aid))
    c = app.test_client()
    assert c.get("/first-aid/").status_code == 302  # login first
    login(c)
    assert "急救箱 · First aid" in c.get("/").get_data(as_text=True)  # in the navigation
    form = {"name": "阿莫西林胶囊", "kind": "medicine", "marking": "rx", "quantity": "1", "unit": "盒",
            "batch": "A1", "expiry": "2027-01-31"}
    assert c.post("/first-aid/first-aid-1/items", data=form).status_code == 400  # no CSRF token
    r = c.post("/first-aid/first-aid-1/items", data={**form, "csrf_token": csrf(c, "/first-aid/first-aid-1")})
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "处方药不得放入：按《客户服务中心服务规范》4.4.5，急救医药箱不得提供非OTC药品" in page
    assert "Prescription (Rx) medicine is not allowed" in page
    assert 'value="阿莫西林胶囊"' in page  # kept for correcting
    assert hall.written() == (0, 0, 0, 0)
    r = c.post("/first-aid/first-aid-1/items", data={**form, "name": "布洛芬", "marking": "otc_b",
                                                       "csrf_token": csrf(c, "/first-aid/first-aid-1")})
    assert r.status_code == 302
    item = hall.aid.items("first-aid-1")[0]
    assert (item["name"], item["added_by"]) == ("布洛芬", "staff")
    r = c.post(f"/first-aid/first-aid-1/items/{item['id']}/take_out",
               data={"quantity": "5", "csrf_token": csrf(c, "/first-aid/first-aid-1")})
    assert r.status_code == 422 and "箱内只有 1 盒，不能取出 5" in r.get_data(as_text=True)
    r = c.post(f"/first-aid/convenience-1/items/{item['id']}/remove",  # the item is not in that box
               data={"csrf_token": csrf(c, "/first-aid/first-aid-1")})
    assert r.status_code == 404 and hall.aid.item(item["id"])["removed_at"] is None
    r = c.post("/first-aid/first-aid-1/inspections", data={"found": "正常", "done": "",
                                                            "csrf_token": csrf(c, "/first-aid/first-aid-1")})
    assert r.status_code == 302 and hall.aid.inspections("first-aid-1")[0]["who"] == "staff"
    assert c.get("/first-aid/nowhere").status_code == 404


def test_box_page_in_chromium_shows_each_expiry_state_and_the_inspection_form(hall, browser):
    from .minihall import Served

    aid = hall.aid
    for name, kind, marking, qty, unit, batch, expiry in [
        ("布洛芬缓释胶囊", "medicine", "otc_b", 2, "盒", "B2405", "2027-05-31"),
        ("碘伏消毒液", "medicine", "otc_a", 1, "瓶", "DF2311", "2026-06-20"),
        ("藿香正气水", "medicine", "otc_b", 3, "支", "HX2306", "2026-06-17"),
        ("医用纱布", "supply", None, 4, "包", "SB2301", "2026-06-10"),
        ("弹性绷带", "supply", None, 2, "卷", "", None),
    ]:
        aid.add("first-aid-1", who="staff-li", name=name, kind=kind, marking=marking, quantity=qty, unit=unit,
                batch=batch, expiry=expiry)
    aid.add("first-aid-1", who="staff-li", name="体温计（一次性）", kind="supply", quantity=1, unit="支",
            expiry="2026-06-03")
    hall.clock.t = at(2026, 6, 12, 9, 0)  # the gauze and the thermometer have expired since
    aid.check()
    console = Served(edge_agent.create_app(hall.config, services=EdgeServices(alarms=hall.alarms, first_aid=aid)))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(console.url + "first-aid/first-aid-1")
        page.fill("#username", "staff")
        page.fill("#password", "correct horse 1")
        page.click("button[type=submit]")
        page.goto(console.url + "first-aid/first-aid-1")
        states = page.eval_on_selector_all("tr.item", "rows => rows.map(r => r.className)")
        assert states == ["item row-expired", "item row-expired", "item row-near", "item row-soon", "item row-ok",
                          "item row-ok"]
        assert "已过期，须撤出" in page.inner_text("main") and "告警 · Alarms" in page.inner_text("main")
        page.screenshot(path=SHOTS / "box.png", full_page=True)
        page.click("tr.item >> nth=0 >> summary")
        page.screenshot(path=SHOTS / "box-actions.png", full_page=False,
                        clip={"x": 0, "y": 0, "width": 1366, "height": 900})
        page.select_option("#add-form select[name=kind]", "medicine")
        page.fill("#add-form input[name=name]", "阿莫西林胶囊")
        page.select_option("#add-form select[name=marking]", "rx")
        page.fill("#add-form input[name=expiry]", "2027-01-31")
        page.click("#add-form button")
        page.wait_for_selector("text=未保存 · Not saved")
        assert "未保存 · Not saved" in page.inner_text("main") and "不得提供非OTC药品" in page.inner_text("main")
        page.screenshot(path=SHOTS / "refused.png", full_page=False)
        page.goto(console.url + "first-aid/first-aid-1#inspections")
        page.fill("#inspect-form textarea[name=found]", "纱布、体温计已过期；藿香正气水 7 天内到期")
        page.fill("#inspect-form textarea[name=done]", "过期物品已撤出，已申购补充")
        page.locator("#inspect-form").screenshot(path=SHOTS / "inspection-form.png")
        page.click("#inspect-form button")
        page.wait_for_selector("text=检查记录已保存")  # the click only starts the navigation
        assert "检查记录已保存" in page.inner_text("main")
        assert "过期物品已撤出，已申购补充" in page.inner_text("table.fa-inspections")
        page.locator("#inspections").scroll_into_view_if_needed()
        page.screenshot(path=SHOTS / "inspections.png", full_page=True)
        page.goto(console.url + "first-aid/")
        rows = page.eval_on_selector_all("main table:not(.alarms table) tbody tr",
                                         "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")
        first_aid = next(r for r in rows if "first-aid-1" in r[0])
        assert first_aid[2:5] == ["6", "2", "2"]  # items, expiring, expired
        assert first_aid[5].startswith("2026-06-12 09:00") and "staff" in first_aid[5]
        page.screenshot(path=SHOTS / "index.png", full_page=True)
    finally:
        page.close()
        console.stop()
