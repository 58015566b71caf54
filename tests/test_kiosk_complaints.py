"""A resident's request at the kiosk, end to end in headless Chromium: the kind and category,
the place, when it happened (one tap, and a time on the keypad), the problem typed in
Chinese on the on-screen pinyin keyboard and with one-tap phrases, the contact on keypads with the consent line, the commitment before confirming,
the receipt printed on the virtual printer, and the record at the centre. Also: each
screen's bad input answered on that screen in the resident's language with nothing stored,
a double tap that is one record, the emergency screen, and the phone gone from the kiosk."""

from __future__ import annotations

import re
import time
from datetime import datetime, time as time_of_day, timedelta
from pathlib import Path

import pytest

from simulators.escpos_parse import QR, Text, parse

from .conftest import HALL, wait_for
from .helpers.clock import TZ
from .screens import check_screen, kiosk_page, kiosk_session

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "complaints"
FOLLOW = "http://hall.example"


@pytest.fixture
def hall(mini):
    printer = mini.printer()
    centre, store, token = mini.registered_centre()
    agent = mini.edge(centre_url=centre.url, token=token,
                      printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port, "timeout": 1}])
    kiosk, app = mini.kiosk(test_config={"FOLLOW_URL": FOLLOW})
    wait_for(lambda: app.extensions["hall_status"].snapshot().printer_ok)
    yield agent, printer, kiosk, store


def check(page, name: str) -> None:
    check_screen(page, SHOTS, name)


def type_pinyin(page, letters: str, pick: str) -> None:
    """Type ``letters`` on the on-screen keyboard and tap the candidate ``pick``."""
    for ch in letters:
        page.click(f".ikey[data-ime-key='{ch}']")
    page.wait_for_selector(f".ime-cands .cand:text-is('{pick}')")
    page.click(f".ime-cands .cand:text-is('{pick}')")


def fill_what_and_place(page, kind: str = "报修", category: str = "公共设施", area: str = "地下车库") -> None:
    page.click(f"label.toggle:has-text('{kind}')")
    page.click(f"label.toggle:has-text('{category}')")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("legend:has-text('楼栋')")
    page.click(f"button.pick:has-text('{area}')")
    answer_when(page)
    page.wait_for_selector("textarea#content")


def answer_when(page, day: str = "刚才", keys: str = "", date_keys: str = "") -> None:
    """On the "when" screen: tap ``day``, type ``keys`` (the time) and ``date_keys`` (the
    date, for 更早) on the keypad, and go on."""
    page.wait_for_selector("legend:has-text('哪一天')")
    page.click(f"label.toggle:has-text('{day}')")
    for field, typed in (("#time", keys), ("#date", date_keys)):
        if typed:
            page.click(field)
            page.click(".keypad .key[data-key='clear']")
            for ch in typed:
                page.click(f".keypad .key[data-key='{ch}']")
    page.click("button:has-text('下一步')")


def fill_contact(page, name_pinyin=("zhang", "张"), room="3-2-1201", phone="13812345678") -> None:
    page.click("#name")
    type_pinyin(page, *name_pinyin)
    page.click("#room")
    for ch in room:
        page.click(f".keypad .key[data-key='{ch}']")
    page.click("#phone")
    for ch in phone:
        page.click(f".keypad .key[data-key='{ch}']")


def test_the_whole_flow_typing_chinese_prints_a_receipt_and_reaches_the_centre(hall, browser):
    agent, printer, kiosk, store = hall
    page = kiosk_page(browser, kiosk.url)
    page.click(".tile-complaints")
    page.wait_for_selector("legend:has-text('类型')")
    assert "028-8765 4399" in page.inner_text(".emergency-hint")
    check(page, "1-what")
    page.click("label.toggle:has-text('报修')")
    page.click("label.toggle:has-text('公共设施')")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("legend:has-text('楼栋')")
    page.click("button.pick:has-text('地下车库')")
    # When: yesterday evening, the time typed on the keypad with its colon key.
    page.wait_for_selector("legend:has-text('哪一天')")
    assert not page.is_visible("#date")  # the date is for 更早 only
    page.click("label.toggle:has-text('昨天')")
    page.click("#time")
    for ch in "20:30":
        page.click(f".keypad .key[data-key='{ch}']")
    assert page.input_value("#time") == "20:30"
    check(page, "2-when")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("textarea#content")
    # The problem: words from pinyin, then a one-tap phrase after an automatic comma.
    page.click("#content")
    type_pinyin(page, "louti", "楼梯")
    type_pinyin(page, "deng", "灯")
    page.click(".phrase:has-text('楼道灯不亮')")
    assert page.input_value("#content") == "楼梯灯，楼道灯不亮"
    page.click("#wanted")
    page.click(".phrase[data-for='wanted']:has-text('尽快上门维修')")
    page.click("#content")
    type_pinyin(page, "louti", "楼梯")
    page.click(".ikey[data-ime-key='back']")  # a typo: delete a character
    assert page.input_value("#content") == "楼梯灯，楼道灯不亮楼"
    page.click(".ikey[data-ime-key='back']")
    assert "9 / 500" in page.inner_text(".count")
    check(page, "3-content")
    for ch in "shui":  # letters typed, candidates offered, then taken back letter by letter
        page.click(f".ikey[data-ime-key='{ch}']")
    page.wait_for_selector(".ime-cands .cand:text-is('水')")
    assert page.inner_text(".ime-pinyin") == "shui"
    check(page, "3-content-candidates")
    for _ in "shui":
        page.click(".ikey[data-ime-key='back']")
    assert page.inner_text(".ime-pinyin") == "" and page.input_value("#content") == "楼梯灯，楼道灯不亮"
    page.click("button:has-text('下一步')")
    page.wait_for_selector("#phone")
    fill_contact(page)
    assert "3 年" in page.inner_text(".consent")
    check(page, "4-contact")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("#commitment")
    summary = page.inner_text(".summary")
    assert "公共区域·地下车库" in summary and "楼梯灯，楼道灯不亮" in summary and "张" in summary
    yesterday = (datetime.now(TZ) - timedelta(days=1)).date()
    assert f"{yesterday.isoformat()} 20:30" in summary
    assert "13812345678" not in summary and "138****5678" in summary  # masked even here
    assert "1 个工作小时" in page.inner_text("#commitment")
    check(page, "5-confirm")
    assert agent.complaints.db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 0  # nothing yet
    assert "13812345678" in kiosk_session(page, kiosk)  # until it is sent
    page.click("button:has-text('确认提交')")
    page.wait_for_selector(".tracking-number")
    readable = page.inner_text(".tracking-number")
    number = readable.replace(" ", "")
    assert re.fullmatch(r"\d{13}", number) and "回执已打印" in page.inner_text("main")
    check(page, "6-done")

    row = list(agent.complaints.db.query("SELECT * FROM complaints"))[0]
    assert (row["tracking_no"], row["kind"], row["category"], row["place"], row["content"], row["wanted"], row["name"],
            row["room"], row["phone"], row["channel"], row["taken_by"], row["occurred_at"]) == (
        number, "repair", "facilities", "公共区域·地下车库", "楼梯灯，楼道灯不亮", "尽快上门维修", "张", "3-2-1201",
        "13812345678", "kiosk", "kiosk-01", datetime.combine(yesterday, time_of_day(20, 30), TZ).timestamp())
    wait_for(lambda: len(printer.printed_jobs()) == 1)
    elements = parse(printer.printed_jobs()[0].data)
    texts = [e.text for e in elements if isinstance(e, Text)]
    assert readable in texts and "受理回执" in texts and "类型：报修 · 公共设施" in texts
    assert [e.data for e in elements if isinstance(e, QR)] == [f"{FOLLOW}/t/{number}"]
    wait_for(lambda: store.query("SELECT body FROM records WHERE kind = 'complaint'"), timeout=20)
    body = store.query("SELECT body FROM records WHERE kind = 'complaint'")[0]["body"]
    assert number in str(body)
    at_centre = store.query("SELECT hall_id, kind, category, status, phone_masked FROM complaints WHERE tracking_no = ?",
                            [number])
    assert [dict(r) for r in at_centre] == [{"hall_id": HALL, "kind": "repair", "category": "facilities",
                                             "status": "submitted", "phone_masked": "138****5678"}]
    # The flow is over: the session no longer holds the phone.
    page.click("a:has-text('完成')")
    page.wait_for_selector(".tiles")
    held = kiosk_session(page, kiosk)
    assert "13812345678" not in held and "5678" not in held
    page.close()


def test_each_screen_answers_bad_input_on_that_screen_and_stores_nothing(hall, browser):
    agent, printer, kiosk, store = hall
    page = kiosk_page(browser, kiosk.url + "complaints/")
    page.wait_for_selector("legend:has-text('类型')")
    page.click("button:has-text('下一步')")
    assert "请选择诉求类型" in page.inner_text(".choice:has(input[name=kind]) .error")
    assert "请选择" in page.inner_text(".choice:has(input[name=category]) .error")
    check(page, "bad-what")
    page.click("label.toggle:has-text('投诉')")
    page.click("label.toggle:has-text('噪音扰民')")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("legend:has-text('楼栋')")
    page.click("button:has-text('下一步')")  # no place chosen
    assert "请选择发生地点" in page.inner_text("main .result.bad")
    page.click("label.toggle:has-text('5栋')")
    page.click("label.toggle:has-text('2单元')")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("legend:has-text('哪一天')")
    page.click("button:has-text('下一步')")  # no day tapped
    page.wait_for_selector("main .result.bad:has-text('请点选事情发生在哪一天')")
    answer_when(page, "今天", keys="25:00")  # no such time
    page.wait_for_selector("main .result.bad:has-text('例如 14:30')")
    tomorrow = (datetime.now(TZ) + timedelta(days=1)).date().isoformat()
    answer_when(page, "更早", keys="23:00", date_keys=tomorrow)
    page.wait_for_selector("main .result.bad:has-text('这个时间还没到')")
    assert page.input_value("#date") == tomorrow and page.is_checked("input[value=earlier]")  # kept, to correct
    answer_when(page, "更早", keys="09:00", date_keys="1999-12-31")  # before the hall opened (2000-01-01)
    page.wait_for_selector("main .result.bad:has-text('早于本服务中心启用的日期（2000-01-01）')")
    check(page, "bad-when")
    answer_when(page, "刚才")
    page.wait_for_selector("textarea#content")
    page.click("button:has-text('下一步')")  # nothing typed
    assert "至少 2 个字" in page.inner_text("#content-error")
    page.click(".phrase:has-text('夜间装修噪音')")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("#phone")
    fill_contact(page, room="3212", phone="1381234")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("#room-error")
    assert "3-2-1201" in page.inner_text("#room-error") and "11 位手机号" in page.inner_text("#phone-error")
    assert page.input_value("#name") == "张"  # what was right is kept
    check(page, "bad-contact")
    assert agent.complaints.db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 0
    page.close()


def test_text_over_the_limit_is_refused_even_past_the_page(hall, browser):
    """A forged post (the textarea stops at 500) gets the same message, nothing stored."""
    agent, printer, kiosk, store = hall
    page = kiosk_page(browser, kiosk.url + "complaints/")
    page.wait_for_selector("legend:has-text('类型')")
    fill_what_and_place(page)
    token = page.get_attribute("input[name=csrf_token]", "value")
    r = page.request.post(kiosk.url + "complaints/content", form={"csrf_token": token, "content": "漏" * 501,
                                                                 "wanted": ""}, max_redirects=0)
    assert r.status == 303 and r.headers["location"].endswith("/complaints/content")
    page.goto(kiosk.url + "complaints/content")
    assert "最多 500 个字" in page.inner_text("#content-error")
    page.goto(kiosk.url + "complaints/confirm")  # skipping ahead leads back to what is missing
    page.wait_for_selector("textarea#content")
    assert agent.complaints.db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 0
    page.close()


def test_an_emergency_tells_the_resident_large_to_go_to_the_desk_and_alarms_staff(hall, browser):
    agent, printer, kiosk, store = hall
    page = kiosk_page(browser, kiosk.url + "complaints/")
    page.wait_for_selector("legend:has-text('类型')")
    fill_what_and_place(page, kind="报修", category="电梯", area="电梯厅")
    page.click(".phrase:has-text('电梯困人')")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("#phone")
    fill_contact(page)
    page.click("button:has-text('下一步')")
    page.wait_for_selector("#commitment")
    assert "请同时立即到服务台" in page.inner_text(".emergency")
    # A double tap on confirm is one record.
    page.dblclick("button:has-text('确认提交')")
    page.wait_for_selector(".emergency-now")
    assert "028-8765 4399" in page.inner_text(".emergency-phone")
    check(page, "emergency")
    assert agent.complaints.db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 1
    alarms = agent.alarms.active()
    assert any(a["severity"] == "critical" and "电梯厅" in a["text"] for a in alarms)
    page.close()


def test_a_handled_request_is_rated_at_the_kiosk_and_a_bad_rating_reopens_it(hall, browser):
    agent, printer, kiosk, store = hall
    service = agent.complaints
    r = service.answer("complaint", "kiosk-01", {"request": "rate-test-0001", "kind": "repair", "category": "facilities",
                                           "place": "3栋2单元", "content": "单元门门禁坏了", "name": "张三",
                                           "room": "3-2-101", "phone": "13812345678", "occurred_at": time.time() - 600})
    for action in ("accept", "resolve"):
        service.transition(r["id"], action, who="staff")
    page = kiosk_page(browser, kiosk.url + "track")
    page.fill("#number", r["readable"])  # as printed, in groups
    page.fill("#last4", "5678")
    page.click("button:has-text('查询')")
    page.wait_for_selector(".rate-levels")
    assert "已处理完毕" in page.inner_text("main") and "138****5678" not in page.inner_text("main")
    page.click(".rate-send")  # nothing chosen
    page.wait_for_selector(".result.bad")
    assert "请先点选" in page.inner_text(".result.bad")
    assert service.db.execute("SELECT rating FROM complaints").fetchone()[0] in (None, "")
    page.click("label.rate-dissatisfied")
    page.click(".rate-send")
    page.wait_for_selector(".result.ok")
    assert "重新处理" in page.inner_text(".result.ok")
    check(page, "rated-reopened")
    row = list(service.db.query("SELECT status, rating FROM complaints"))[0]
    assert (row["status"], row["rating"]) == ("accepted", "dissatisfied")
    assert "'last4'" not in kiosk_session(page, kiosk)  # the digits went with the rating
    page.close()


def test_a_forged_place_is_not_taken(hall, browser):
    agent, printer, kiosk, store = hall
    page = kiosk_page(browser, kiosk.url + "complaints/")
    page.wait_for_selector("legend:has-text('类型')")
    page.click("label.toggle:has-text('报修')")
    page.click("label.toggle:has-text('公共设施')")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("legend:has-text('楼栋')")
    token = page.get_attribute("input[name=csrf_token]", "value")
    for form in ({"area": "月球背面"}, {"building": "99栋"}, {"building": "1栋", "unit": "9单元"}):
        r = page.request.post(kiosk.url + "complaints/place", form={"csrf_token": token, **form}, max_redirects=0)
        assert r.headers["location"].endswith("/complaints/place"), form
    page.goto(kiosk.url + "complaints/place")
    assert "请选择发生地点" in page.inner_text("main .result.bad")
    page.click("label.toggle:has-text('1栋')")
    page.click("label.toggle:has-text('2单元')")
    page.click("button:has-text('下一步')")
    page.wait_for_selector("legend:has-text('哪一天')")
    page.close()
