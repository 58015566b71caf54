"""Residents' personal data at the edge: the daily retention job on records dated years back
(a controllable clock; nothing personal left in the database file, the figures unchanged,
the audit line), and a resident's access and deletion request on the staff console in
headless Chromium (find, export, erase with a reason; refusals that change nothing)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from edge_agent.alarms import Alarms
from edge_agent.complaints.service import ComplaintService
from edge_agent.db import migrations
from edge_agent.retention import ERASED_TEXT, Retention
from hall_common.config import ComplaintsConfig, PrivacyConfig
from hall_common.errors import RequestFailed
from hall_common.storage import open_database

from .conftest import wait_for
from .helpers.clock import Clock, at
from .helpers.edge_db import rows
from .helpers.edge_db import rows_in as rows_of
from .helpers.edge_inputs import complaint
from .screens import staff_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "privacy"
OLD = {"name": "欧阳娜娜", "phone": "13866661234", "room": "9-3-1701", "place": "9 栋 3 单元",
       "content": "卫生间漏水严重，楼下邻居说滴到客厅了", "wanted": "请给我回个电话"}
"""The person whose request is years old: none of this may be left once it is erased."""


@pytest.fixture
def hall(tmp_path):
    """The edge's complaint service, alarms and retention job on one edge.db and one clock."""
    path = tmp_path / "edge.db"
    open_database(path, migrations).close()
    clock = Clock(at(2022, 3, 1, 10, 0))
    alarms = Alarms(path, None, node="edge")
    desk = ComplaintService(ComplaintsConfig(hall_code="101"), db_path=path, bus=None, alarms=alarms, clock=clock)
    retention = Retention(PrivacyConfig(keep_years=3), db_path=path, alarms=alarms, clock=clock)
    yield path, clock, desk, retention
    for part in (retention, desk, alarms):
        part.close()


def _history(path: Path, clock: Clock, desk: ComplaintService) -> tuple[dict, dict]:
    """An emergency from March 2022, handled, rated with a comment and closed; a request
    from February 2025 by someone else, closed; plus a counter rating and a kiosk payment of
    each time."""
    old = desk.answer("complaint", "kiosk-01", complaint(kind="repair", category="water_power", **OLD))
    for when, action, kw in ((at(2022, 3, 1, 10, 5), "accept", {}),
                             (at(2022, 3, 1, 11, 0), "dispatch", {"note": "工程部王师傅 13700001111，欧阳女士家"}),
                             (at(2022, 3, 1, 16, 0), "resolve", {})):
        clock.t = when
        desk.transition(old["id"], action, who="staff-li", **kw)
    clock.t = at(2022, 3, 2, 9, 0)
    desk.answer("rate", "kiosk-01", {"number": old["tracking_no"], "last4": "1234", "rating": "satisfied",
                                     "comment": "欧阳娜娜很满意，谢谢王师傅"})
    clock.t = at(2022, 3, 2, 10, 0)
    desk.transition(old["id"], "close", who="staff-li")
    clock.t = at(2025, 2, 20, 9, 0)
    recent = desk.answer("complaint", "kiosk-01", complaint(name="钱七", phone="13955550000", room="2-1-301"))
    desk.transition(recent["id"], "accept", who="staff-li")
    desk.transition(recent["id"], "resolve", who="staff-li")
    desk.transition(recent["id"], "close", who="staff-li")
    db = sqlite3.connect(path)
    with db:
        for number, (rid, when, comment, room) in enumerate(
                (("r-old", at(2022, 3, 1), "欧阳娜娜说窗口很耐心", OLD["room"]),
                 ("r-new", at(2025, 2, 20), "钱七说很快", "2-1-301")), 1):
            db.execute("INSERT INTO tickets (id, day, service, issued_service, number, code, kiosk, status, issued_at, "
                       "queued_at) VALUES (?, '2022-03-01', 'A', 'A', ?, ?, 'kiosk-01', 'done', ?, ?)",
                       [rid, number, rid, when, when])
            db.execute("INSERT INTO service_ratings (id, ticket, day, code, service, rating, comment, kiosk, rated_at) "
                       "VALUES (?, ?, '2022-03-01', ?, 'A', 'satisfied', ?, 'kiosk-01', ?)", [rid, rid, rid, comment, when])
            db.execute("INSERT INTO payment_orders (order_id, out_trade_no, kiosk, room, amount_fen, lines_json, status, "
                       "created_at, expires_at, updated_at) VALUES (?, ?, 'kiosk-01', ?, 12000, '[]', 'paid', ?, ?, ?)",
                       [rid, rid, room, when, when + 900, when])
            db.execute("INSERT INTO payment_refunds (id, order_id, out_refund_no, out_trade_no, provider, room, amount_fen, "
                       "order_fen, reason, status, automatic, requested_at, lines_json, updated_at) "
                       "VALUES (?, ?, ?, ?, 'alipay', ?, 12000, 12000, '重复缴费', 'confirmed', 0, ?, '[]', ?)",
                       [rid, rid, "RM" + rid, rid, room, when + 60, when + 60])
    db.close()
    return old, recent


def _raw(path: Path) -> bytes:
    """Every byte of the database as it lies on disk: the file and its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_retention_erases_what_is_older_than_keep_years_everywhere_and_keeps_the_figures(hall):
    path, clock, desk, retention = hall
    old, recent = _history(path, clock, desk)
    figures = "SELECT kind, category, grade, status, rating, channel, received_at FROM complaints ORDER BY received_at"
    before = rows_of(path, figures)
    assert OLD["phone"].encode() in _raw(path)  # there to be erased
    alarm = rows_of(path, "SELECT text FROM alarms WHERE id = ?", [f"complaint.{old['tracking_no']}"])
    assert alarm and OLD["content"][:10] in alarm[0]["text"]  # the emergency alarm quotes the report

    clock.t = at(2025, 3, 5, 4, 0)  # the old request closed 2022-03-02: three years and three days ago
    counts = retention.daily()

    assert counts is not None and (counts["complaints"], counts["ratings"], counts["payments"], counts["refunds"]) == (
        1, 1, 1, 1)
    assert retention.daily() is None  # once a day, however often the timer looks
    raw = _raw(path)
    left = [k for k, v in OLD.items() if v.encode() in raw]
    assert not left, f"still in edge.db: {left}"
    for secret in ("13700001111", "欧阳女士", "欧阳娜娜很满意", "欧阳娜娜说窗口很耐心"):
        assert secret.encode() not in raw, secret
    assert rows_of(path, figures) == before  # what the figures are made of is all still there
    erased = rows_of(path, "SELECT * FROM complaints WHERE id = ?", [old["id"]])[0]
    assert (erased["erased_why"], erased["phone"], erased["rating_comment"]) == ("retention", "", "")
    kept = rows_of(path, "SELECT name, phone, room FROM complaints WHERE id = ?", [recent["id"]])[0]
    assert kept == {"name": "钱七", "phone": "13955550000", "room": "2-1-301"}  # not three years yet
    assert rows_of(path, "SELECT comment FROM service_ratings WHERE id = 'r-new'")[0]["comment"] == "钱七说很快"
    assert rows_of(path, "SELECT text FROM alarms WHERE id = ?", [f"complaint.{old['tracking_no']}"])[0]["text"] == ERASED_TEXT
    audit = retention.audit_lines()
    assert audit[0]["action"] == "privacy.retention" and audit[0]["who"] == "system"
    assert audit[0]["detail"]["complaints"] == 1 and audit[0]["detail"]["keep_years"] == 3
    assert "13866661234" not in json.dumps(audit, ensure_ascii=False)
    assert desk.answer("complaint_options", "kiosk-01", {})["keep_years"] == 3  # what the consent line says


def test_a_request_still_open_after_years_goes_too_but_a_recent_step_keeps_it(hall):
    """The clock runs from a request's last step: one left open and untouched for longer than
    keep_years is erased; one whose record still moves is not."""
    path, clock, desk, retention = hall
    stale = desk.answer("complaint", "kiosk-01", complaint())
    moving = desk.answer("complaint", "kiosk-01", complaint(name="赵六", phone="13611112222"))
    clock.t = at(2025, 1, 10, 9, 0)
    desk.transition(moving["id"], "accept", who="staff-li")
    clock.t = at(2025, 3, 5, 9, 0)
    assert retention.run()["complaints"] == 1
    assert rows_of(path, "SELECT id FROM complaints WHERE erased_at IS NOT NULL") == [{"id": stale["id"]}]


def test_a_residents_erasure_is_refused_without_a_reason_or_while_open_and_changes_nothing(hall):
    path, clock, desk, retention = hall
    closed = desk.answer("complaint", "kiosk-01", complaint())
    for action in ("accept", "resolve", "close"):
        desk.transition(closed["id"], action, who="staff-li")
    still = desk.answer("complaint", "kiosk-01", complaint(content="楼道灯不亮"))
    found = retention.find(" 3-2-101 ", "138 1234 5678")  # as staff may type them
    assert {r["id"] for r in found} == {closed["id"], still["id"]}
    before = rows_of(path, "SELECT * FROM complaints ORDER BY id")
    outbox_before = rows_of(path, "SELECT count(*) AS n FROM outbox")[0]["n"]
    with pytest.raises(ValueError, match="reason"):
        retention.erase([closed["id"]], who="staff-li", reason="  ")
    with pytest.raises(RequestFailed) as refused:
        retention.erase([closed["id"], still["id"]], who="staff-li", reason="业主书面申请")
    assert refused.value.code == "still_open"
    with pytest.raises(RequestFailed):
        retention.erase([str(uuid.uuid4())], who="staff-li", reason="业主书面申请")
    with pytest.raises(ValueError):
        retention.find("3-2-101", "")
    assert rows_of(path, "SELECT * FROM complaints ORDER BY id") == before
    assert rows_of(path, "SELECT count(*) AS n FROM outbox")[0]["n"] == outbox_before
    assert retention.audit_lines() == []

    assert retention.erase([closed["id"]], who="staff-li", reason="业主书面申请")["complaints"] == 1
    sent = rows_of(path, "SELECT body FROM outbox WHERE kind = 'erasure'")
    assert len(sent) == 1 and json.loads(sent[0]["body"])["complaints"] == [closed["id"]]
    unsent = [json.loads(r["body"]) for r in rows_of(path, "SELECT body FROM outbox WHERE kind = 'complaint'")]
    assert {b["id"]: b["phone"] for b in unsent} == {closed["id"]: "", still["id"]: "13812345678"}
    assert [r["id"] for r in retention.find("3-2-101", "13812345678")] == [still["id"]]


def test_staff_find_export_and_erase_a_residents_records_on_the_console(mini, broker, browser, tmp_path):
    agent = mini.edge()
    kiosk = broker.client("kiosk-01", kind="kiosk")
    done = kiosk.request("complaint", complaint(**OLD))
    still = kiosk.request("complaint", complaint(**{**OLD, "content": "电梯按钮失灵"}))
    other = kiosk.request("complaint", complaint())
    for action in ("accept", "resolve", "close"):
        agent.complaints.transition(done["id"], action, who="staff")
    console = mini.console(agent)
    page = staff_page(browser, console.url + "privacy/")
    page.fill("#room", OLD["room"])
    page.fill("#phone", OLD["phone"])
    page.click("text=查找 · Find")
    body = page.inner_text("main")
    listed = page.inner_text("form.privacy-erase table")
    assert "找到 2 条请求" in body and "138****1234" in listed and OLD["phone"] not in listed  # masked in the list
    assert "办理中，不能删除" in body
    assert page.url.endswith("/privacy/find") and OLD["phone"] not in page.url  # never in a URL
    with page.expect_download() as download:
        page.click("text=导出给业主")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert {r["tracking_no"] for r in exported["requests"]} == {done["tracking_no"], still["tracking_no"]}
    assert exported["requests"][0]["phone"] == OLD["phone"] and exported["keep_years"] == 3
    page.click("text=删除所选记录中的个人信息")  # no reason given
    assert "请写明删除原因" in page.inner_text("main")
    assert rows(agent, "SELECT count(*) AS n FROM complaints WHERE erased_at IS NOT NULL")[0]["n"] == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "console-privacy-found.png", full_page=True)
    page.fill("#reason", "业主本人到前台书面申请删除")
    page.click("text=删除所选记录中的个人信息")
    assert "已删除 1 条请求中的个人信息" in page.inner_text("main")
    audit = page.inner_text("table.audit")
    assert "应业主要求删除" in audit and "业主本人到前台书面申请删除" in audit and "导出给业主" in audit
    page.screenshot(path=SHOTS / "console-privacy-erased.png", full_page=True)
    row = rows(agent, "SELECT * FROM complaints WHERE id = ?", [done["id"]])[0]
    assert (row["name"], row["phone"], row["room"], row["content"], row["erased_why"]) == ("", "", "", "", "request")
    assert rows(agent, "SELECT phone FROM complaints WHERE id = ?", [still["id"]])[0]["phone"] == OLD["phone"]
    assert rows(agent, "SELECT phone FROM complaints WHERE id = ?", [other["id"]])[0]["phone"] == "13812345678"
    page.goto(console.url + f"complaints/{done['id']}")
    assert "此请求的个人信息已删除（应业主要求）" in page.inner_text("main")
    page.close()


def test_the_agent_runs_retention_at_start(mini):
    agent = mini.edge()
    wait_for(lambda: rows(agent, "SELECT count(*) AS n FROM retention_runs")[0]["n"] == 1)
    assert rows(agent, "SELECT action FROM audit_log") == [{"action": "privacy.retention"}]
