"""Public disclosures (信息公示) end to end: the centre's admin form refuses bad input with
nothing saved (SQLite and a real PostgreSQL) and versions what it publishes; a real edge
pulls the items, keeps the newest version, drops withdrawn ones and answers the kiosk's bus
requests, searching Chinese with the trigram index; and in headless Chromium a resident goes
category → item → print → question, and still reads the notices with the centre stopped."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from central_sync.server import credentials
from central_sync.server.db import StoreUsers
from central_sync.server.disclosure_demo import seed
from hall_common.auth import set_password
from simulators.escpos_parse import Text, parse

from .conftest import wait_for
from .helpers import edge_db
from .helpers.central import central_app
from .screens import check_screen, kiosk_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "disclosures"


# -- the centre's admin form ------------------------------------------------------------------

@pytest.fixture
def centre(central_db, tmp_path):
    app, store, _ = central_app(tmp_path, central_db, halls=("h1",))
    set_password(StoreUsers(store), "admin", "admin password 1", "admin")
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": "admin", "password": "admin password 1", "csrf_token": token})
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/disclosures/").get_data(as_text=True)).group(1)
    yield c, store, token
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    store.close()


def picture(fmt: str, size=(2400, 1200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 160)).save(out, fmt)
    return out.getvalue()


GOOD = {"category": "fees", "title": "收费标准", "effective_date": "2026-01-01", "body": "按月缴纳", "table": ""}
BAD = [
    ({"title": ""}, "请填写标题 · Enter a title"),
    ({"category": ""}, "请选择公示类别 · Choose a category"),
    ({"category": "lottery"}, "请选择公示类别 · Choose a category"),
    ({"effective_date": ""}, "请填写生效日期"),
    ({"effective_date": "2026-02-30"}, "YYYY-MM-DD"),
    ({"title": "标" * 61}, "标题最多 60 字"),
    ({"body": "字" * 4001}, "正文最多 4000 字"),
    ({"body": "", "table": ""}, "Enter a text or a table"),
    ({"table": "项目 | 标准\n只有一格"}, "表格第 2 行只有一格"),
    ({"table": "项目 | 标准\n物业费 | 2.3 | 多一格"}, "Every table line needs the same number of cells"),
]


def publish(c, token, form: dict, files=None):
    data = {**GOOD, "hall": "*", "csrf_token": token, **form}
    if files:
        data["files"] = files
    return c.post("/disclosures/", data=data, content_type="multipart/form-data")


@pytest.mark.parametrize("change,message", BAD)
def test_bad_input_is_refused_with_what_to_fix_and_nothing_saved(centre, change, message):
    c, store, token = centre
    r = publish(c, token, change)
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert store.scalar("SELECT count(*) FROM content WHERE kind = 'disclosure'") == 0


@pytest.mark.parametrize("upload,message", [
    ((b"hello, not a picture", "notes.txt"), "notes.txt：不是 PNG、JPEG 图片或 PDF"),
    ((b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "broken.png"), "broken.png：不是 PNG、JPEG 图片或 PDF"),
    ((b"%PDF-" + b"x" * (8 * 1024 * 1024), "huge.pdf"), "huge.pdf is over 8 MB"),
])
def test_a_file_that_is_not_a_picture_or_too_big_is_refused(centre, upload, message):
    c, store, token = centre
    r = publish(c, token, {}, files=[(io.BytesIO(upload[0]), upload[1])])
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert store.scalar("SELECT count(*) FROM content WHERE kind = 'disclosure'") == 0


def test_publish_downscales_pictures_renders_pdf_pages_bumps_versions_and_audits(centre):
    c, store, token = centre
    pdf = io.BytesIO()
    pages = [Image.new("RGB", (595, 842), "white"), Image.new("RGB", (595, 842), "grey")]
    pages[0].save(pdf, "PDF", save_all=True, append_images=pages[1:])
    r = publish(c, token, {"table": "项目\t标准\n物业费\t2.30 元"},
                files=[(io.BytesIO(picture("PNG")), "licence.png"), (io.BytesIO(pdf.getvalue()), "fees.pdf")])
    assert r.status_code == 302
    row = store.query("SELECT key, body FROM content WHERE kind = 'disclosure'")[0]
    body = row["body"] if isinstance(row["body"], dict) else json.loads(row["body"])
    assert body["version"] == 1 and body["table"] == [["项目", "标准"], ["物业费", "2.30 元"]]
    assert len(body["images"]) == 3  # the photo and the PDF's two pages
    assert all(img["width"] <= 1080 for img in body["images"]) and body["images"][0]["width"] == 1080
    r = publish(c, token, {"id": row["key"], "title": "收费标准（修订）"})
    assert r.status_code == 302
    latest = store.query("SELECT body FROM content WHERE kind = 'disclosure' ORDER BY seq DESC")[0]["body"]
    latest = latest if isinstance(latest, dict) else json.loads(latest)
    assert latest["version"] == 2 and len(latest["images"]) == 3  # no upload keeps the pictures
    page = c.get("/disclosures/").get_data(as_text=True)
    assert "收费标准（修订）" in page and "已发布第 2 版" in page
    assert c.post(f"/disclosures/{row['key']}/withdraw", data={"csrf_token": token}).status_code == 302
    actions = [r["action"] for r in store.query("SELECT action FROM audit_log WHERE action LIKE ? ORDER BY ts", ("disclosure.%",))]
    assert actions == ["disclosure.publish", "disclosure.publish", "disclosure.withdraw"]
    assert "信息公示 · Disclosures" in c.get("/halls").get_data(as_text=True)


def test_an_item_moved_to_another_hall_is_withdrawn_from_the_first(centre):
    c, store, token = centre
    credentials.register_hall(store, "h2", "长寿苑")
    tokens = {h: credentials.issue(store, h, "edge") for h in ("h1", "h2")}

    def feed(hall: str) -> list[tuple[str, bool]]:
        r = c.get("/api/v1/sync/content?after=0", headers={"Authorization": f"Bearer {tokens[hall]}"})
        return [(i["kind"], i["deleted"]) for i in r.json["items"]]

    assert publish(c, token, {"hall": "h1"}).status_code == 302
    assert feed("h1") == [("disclosure", False)] and feed("h2") == []
    item = store.query("SELECT key FROM content WHERE kind = 'disclosure'")[0]["key"]
    assert publish(c, token, {"hall": "h2", "id": item}).status_code == 302
    assert feed("h1") == [("disclosure", False), ("disclosure", True)]  # h1 takes it down
    assert feed("h2") == [("disclosure", False)]


# -- a real hall: sync, bus requests, the kiosk ------------------------------------------------

@pytest.fixture
def hall(mini):
    printer = mini.printer()
    centre, store, token = mini.registered_centre()
    seed(store)
    agent = mini.edge(centre_url=centre.url, token=token,
                      printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port, "timeout": 1}])
    kiosk, app = mini.kiosk()
    wait_for(lambda: edge_db.count(agent, "disclosures") == 4)
    wait_for(lambda: app.extensions["hall_status"].snapshot().printer_ok)
    yield agent, printer, kiosk, app, store, centre


def ids_of(result: dict) -> set[str]:
    return {i["title"] for i in result["items"]}


def test_the_edge_keeps_the_newest_version_searches_chinese_and_drops_withdrawn_items(hall):
    agent, printer, kiosk, app, store, centre = hall
    bus = app.extensions["bus"]
    listing = bus.request("disclosures", {})
    counts = {c["id"]: c["count"] for c in listing["categories"]}
    assert counts["fees"] == 1 and counts["repair_fund"] == 1 and counts["licence"] == 0 and len(counts) == 8
    fees = bus.request("disclosures", {"category": "fees"})["items"]
    assert [(i["title"], i["version"]) for i in fees] == [("2026 年度物业服务收费标准", 1)]
    item = bus.request("disclosure", {"id": fees[0]["id"]})
    assert item["table"][1] == ["物业服务费（住宅）", "2.30 元/㎡·月", "物业服务合同第五条"]
    assert ids_of(bus.request("disclosure_search", {"q": "维修资金"})) == {"2025 年第四季度专项维修资金使用情况"}
    found = bus.request("disclosure_search", {"q": "电梯"})  # two characters: LIKE, not the trigram index
    assert "电梯、供水、供电设施设备维保单位" in ids_of(found)
    hit = next(i for i in bus.request("disclosure_search", {"q": "安达电梯"})["items"])
    assert hit["title"] == "电梯、供水、供电设施设备维保单位" and ["安达电梯", True] in hit["snippet"]
    assert bus.request("disclosure_search", {"q": "不存在的词"})["items"] == []
    # A new version replaces the old; a withdrawn item leaves the hall.
    from central_sync.server import disclosure_doc as doc

    with store.transaction():
        doc.publish(store, doc.check({**GOOD, "title": "2026 年度物业服务收费标准（修订）"}), hall="*", user="t",
                    item_id=fees[0]["id"])
        repair = bus.request("disclosures", {"category": "repair_fund"})["items"][0]["id"]
        doc.withdraw(store, repair, user="t")
    agent.sync.nudge()
    wait_for(lambda: bus.request("disclosures", {"category": "fees"})["items"][0]["version"] == 2)
    wait_for(lambda: bus.request("disclosure_search", {"q": "维修资金"})["items"] == [])
    assert ids_of(bus.request("disclosure_search", {"q": "修订"})) == {"2026 年度物业服务收费标准（修订）"}


def test_a_picture_travels_to_the_hall_and_the_kiosk_serves_it(hall):
    agent, printer, kiosk, app, store, centre = hall
    from central_sync.server import disclosure_doc as doc
    from central_sync.server.disclosure_images import pictures_from

    pics = pictures_from(picture("PNG"))
    with store.transaction():
        saved = doc.publish(store, doc.check({**GOOD, "category": "licence", "title": "营业执照"}), hall="*", user="t",
                            images=pics)
    agent.sync.nudge()
    bus = app.extensions["bus"]
    wait_for(lambda: bus.request("disclosures", {"category": "licence"})["items"])
    item = bus.request("disclosure", {"id": saved["id"]})
    assert [i["sha256"] for i in item["images"]] == [pics[0]["sha256"]] and item["images"][0]["width"] == 1080
    r = app.test_client().get(f"/disclosures/img/{pics[0]['sha256']}")
    assert r.status_code == 200 and r.mimetype == "image/jpeg" and "immutable" in r.headers["Cache-Control"]
    assert Image.open(io.BytesIO(r.data)).size == (1080, 540)
    assert app.test_client().get("/disclosures/img/" + "0" * 64).status_code == 404


def check(page, name: str) -> None:
    check_screen(page, SHOTS, name)


def test_a_resident_reads_prints_and_questions_a_notice_and_reads_on_with_the_centre_down(hall, browser):
    agent, printer, kiosk, app, store, centre = hall
    page = kiosk_page(browser, kiosk.url)
    page.click(".tile-disclosures")
    page.wait_for_selector(".disc-cat")
    assert "1 项" in page.inner_text(".disc-cat:has-text('收费项目')")
    check(page, "1-categories")
    page.click(".disc-cat:has-text('收费项目')")
    page.wait_for_selector(".disc-item")
    assert "生效日期 2026-01-01" in page.inner_text(".disc-item") and "第 1 版" in page.inner_text(".disc-item")
    check(page, "2-items")
    page.click(".disc-item")
    page.wait_for_selector(".disc-table")
    assert "2.30 元/㎡·月" in page.inner_text(".disc-table")
    check(page, "3-item")
    page.click("button:has-text('打印')")
    page.wait_for_selector(".result.ok")
    wait_for(lambda: len(printer.printed_jobs()) == 1)
    texts = "".join("".join(e.text.split()) for e in parse(printer.printed_jobs()[0].data) if isinstance(e, Text))
    assert "2026年度物业服务收费标准" in texts and "物业服务费（住宅）" in texts  # the title wraps at double size
    page.click("a:has-text('对此有疑问')")
    page.wait_for_selector("#question")
    page.click("button:has-text('提交')")  # nothing filled in: each field says what to fix
    page.wait_for_selector("#question-error")
    assert "至少 2 个字" in page.inner_text("#question-error") and page.is_visible("#phone-error")
    assert agent.complaints.db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 0
    page.click(".phrase:has-text('费用标准不清楚')")
    page.click("#name")
    for ch in "wang":
        page.click(f".ikey[data-ime-key='{ch}']")
    page.click(".ime-cands .cand:text-is('王')")
    page.click("#room")
    for ch in "3-2-1201":
        page.click(f".keypad .key[data-key='{ch}']")
    page.click("#phone")
    for ch in "13812345678":
        page.click(f".keypad .key[data-key='{ch}']")
    check(page, "4-question")
    page.click("button:has-text('提交')")
    page.wait_for_selector(".tracking-number")
    check(page, "5-asked")
    row = agent.complaints.db.execute("SELECT kind, category, place, content FROM complaints").fetchone()
    assert row[0] == "consultation" and row[1] == "fees" and row[2] == "信息公示"
    assert row[3] == "【公示：2026 年度物业服务收费标准 v1】费用标准不清楚"
    # The centre goes away; the hall still shows and searches its notices.
    centre.stop()
    page.goto(kiosk.url + "/disclosures/")
    page.click("#q")
    for ch in "weixiu":
        page.click(f".ikey[data-ime-key='{ch}']")
    page.click(".ime-cands .cand:text-is('维修')")
    page.click(".disc-search button:has-text('搜索')")
    page.wait_for_selector(".disc-snippet mark")
    assert "专项维修资金" in page.inner_text(".disc-items")
    check(page, "6-search-centre-down")
