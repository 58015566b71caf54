"""The front desk's registers on a real edge.db (edge_agent/registers/): each register's
happy path with its records for the centre; each bad input refused with the field named and
nothing stored; closing steps taken twice refused; forms sent twice made once; the overdue
key and the renovation reminder on a controllable clock; what the shift handover gets; a
found item's photo; retention and a resident's access request; who sees what on the console
(Flask test client)."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

import edge_agent
from edge_agent.alarms import Alarms
from edge_agent.db import migrations
from edge_agent.registers.fields import Refused
from edge_agent.registers.service import Registers
from edge_agent.retention import ERASED_TEXT, Retention
from edge_agent.services import EdgeServices
from hall_common.auth import SqliteUsers, set_password
from hall_common.config import PrivacyConfig, RegistersConfig
from hall_common.errors import RequestFailed
from hall_common.storage import open_database

from .helpers.clock import Clock, at
from .helpers.edge_db import rows_in as rows_of
from .helpers.edge_inputs import console_config

START = at(2026, 3, 2, 9, 0)
KEY = {"key": "B2 水泵房钥匙", "name": "李四", "phone": "13812345678", "room": "3-1-1201", "id_checked": "on",
       "id_type": "id_card", "id_last4": "123x", "due_back": "2026-03-02T18:00", "purpose": "维修水泵"}
RENOVATION = {"room": "3-1-1201", "owner_name": "张三丰", "owner_phone": "13812345678", "contractor": "好家装饰",
              "foreman_name": "赵六", "foreman_phone": "13700001111", "works": "更换地板\n墙面刷漆",
              "start_date": "2026-03-02", "end_date": "2026-03-20", "deposit_fen": "2000", "notice_ack": "on"}
PARCEL = {"kind": "parcel", "carrier": "顺丰", "tracking_no": "SF1234567890", "room": "2-1-301", "name": "王五",
          "phone": "13900001111", "shelf": "A-03"}
FOUND = {"item": "黑色钱包", "description": "内有欧阳娜娜的身份证", "place": "大堂休息区", "found_at": "2026-03-02T08:30",
         "finder_name": "孙八", "finder_phone": "13511112222", "kept_at": "保管柜 2 号"}
RELEASE = {"room": "1-1-101", "name": "孙七", "phone": "13600002222", "items": "旧沙发 1 套\n纸箱 6 个",
           "approved_by": "周经理", "out_on": "2026-03-02", "vehicle": "川A12345"}
FORMS = {"keys": KEY, "renovations": RENOVATION, "parcels": PARCEL, "lost_found": FOUND, "releases": RELEASE}
TABLES = ("register_entries", "register_steps", "register_contacts", "register_photos", "register_numbers", "outbox")


@pytest.fixture
def desk(tmp_path):
    """The registers and the alarms on one edge.db and one clock (9:00 on Monday 2 March 2026)."""
    path = tmp_path / "edge.db"
    open_database(path, migrations).close()
    clock = Clock(START)
    alarms = Alarms(path, None, node="edge")
    registers = Registers(RegistersConfig(), db_path=path, alarms=alarms, clock=clock)
    yield registers, clock, alarms, path
    registers.close()
    alarms.close()


def stored(path: Path) -> dict[str, int]:
    return {t: rows_of(path, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in TABLES}


def records(path: Path) -> list[dict]:
    return [{"kind": r["kind"], **json.loads(r["body"])} for r in rows_of(path, "SELECT kind, body FROM outbox ORDER BY seq")]


# -- the happy paths ----------------------------------------------------------------------------

STEPS = {
    "keys": [("return", {"returned_by": "李四", "condition": "完好"})],
    "renovations": [("inspect", {"on": "2026-03-02", "inspector": "钱工", "result": "ok", "finding": "未动承重墙"}),
                    ("accept", {"on": "2026-03-02", "inspector": "钱工", "result": "合格", "refund_fen": "2000"})],
    "parcels": [("notify", {"how": "sms", "note": ""}), ("pickup", {"by_name": "王五", "by_phone": "", "code": None})],
    "lost_found": [("claim", {"name": "欧阳娜娜", "phone": "13866661234", "room": "9-3-1701", "id_checked": "on",
                              "id_type": "id_card", "id_last4": "987X"})],
    "releases": [("checkout", {"guard": "门岗刘", "note": "物品与放行条一致"})],
}
PREFIX = {"keys": "YS", "renovations": "ZX", "parcels": "KD", "lost_found": "SW", "releases": "FX"}


@pytest.mark.parametrize("register", list(FORMS))
def test_each_register_opens_takes_its_steps_and_closes_with_records_for_the_centre(desk, register):
    registers, clock, _, path = desk
    entry = registers.open(register, FORMS[register], who="staff-li")
    assert re.fullmatch(PREFIX[register] + r"260302001", entry["serial"]) and entry["status"] == "open"
    for step, form in STEPS[register]:
        clock.advance(600)
        entry = registers.step(entry["id"], step, {**form, "code": entry["code"]} if "code" in form else form,
                               who="staff-li")
    assert entry["status"] == "closed" and entry["closed_step"] == STEPS[register][-1][0]
    assert entry["closed_at"] == clock.t and [s["step"] for s in entry["steps"]] == [s for s, _ in STEPS[register]]
    sent = records(path)
    assert [r["kind"] for r in sent] == ["register_entry"] + ["register_step"] * len(STEPS[register])
    assert sent[0]["id"] == entry["id"] and sent[0]["register"] == register and sent[0]["serial"] == entry["serial"]
    assert all(r["entry"] == entry["id"] for r in sent[1:]) and sent[-1]["closes"] is True
    for r in sent:  # what is personal travels apart, so the centre can empty it
        assert not re.search(r"1[3-9]\d{9}", json.dumps(r["details"])), r["details"]
    assert "code" not in sent[0] and "code" not in sent[0]["details"]  # a parcel's pickup code stays in the hall


def test_a_renovations_deposit_is_taken_in_yuan_and_kept_in_fen(desk):
    registers, *_ = desk
    entry = registers.open("renovations", {**RENOVATION, "deposit_fen": "2,000.50"}, who="staff-li")
    assert entry["fields"]["deposit_fen"] == 200050 and isinstance(entry["fields"]["deposit_fen"], int)


# -- bad input ----------------------------------------------------------------------------------

BAD = [
    ("keys", {"name": "  "}, "name", "借用人：请填写"),
    ("keys", {"phone": "1381234"}, "phone", "11 位手机号"),
    ("keys", {"id_checked": ""}, "id_checked", "已核验借用人证件：请确认后勾选"),
    ("keys", {"id_type": ""}, "id_type", "证件类型：请选择"),
    ("keys", {"id_last4": "110105199001011234"}, "id_last4", "证件号后 4 位"),
    ("keys", {"due_back": "2026-03-02T08:00"}, "due_back", "应还时间：须晚于现在"),
    ("keys", {"due_back": "2026-05-02T08:00"}, "due_back", "借用最长 30 天"),
    ("keys", {"key": ""}, "key", "钥匙：请填写"),
    ("renovations", {"owner_name": ""}, "owner_name", "业主姓名：请填写"),
    ("renovations", {"end_date": "2026-03-01"}, "end_date", "不能早于开工日期"),
    ("renovations", {"start_date": "2026-02-01", "end_date": "2026-03-01"}, "end_date", "不能登记已结束的装修"),
    ("renovations", {"end_date": "2026-13-01"}, "end_date", "完工日期：日期或时间格式不对"),
    ("renovations", {"notice_ack": ""}, "notice_ack", "禁止行为和注意事项"),
    ("renovations", {"deposit_fen": "两千"}, "deposit_fen", "请填写金额"),
    ("renovations", {"deposit_fen": "12.345"}, "deposit_fen", "最多两位小数"),
    ("renovations", {"structural": "on", "approval": ""}, "approval", "涉及拆改结构时必填"),
    ("parcels", {"name": ""}, "name", "收件人：请填写"),
    ("parcels", {"shelf": ""}, "shelf", "货架位置：请填写"),
    ("parcels", {"carrier": "某某快递"}, "carrier", "快递公司：请选择"),
    ("parcels", {"phone": "12345678901"}, "phone", "11 位手机号"),
    ("lost_found", {"found_at": "2026-03-02T10:00"}, "found_at", "拾获时间：不能晚于现在"),
    ("lost_found", {"item": " "}, "item", "物品：请填写"),
    ("lost_found", {"place": "x" * 65}, "place", "最多 64 个字"),
    ("releases", {"out_on": "2026-03-01"}, "out_on", "放行日期：不能早于今天"),
    ("releases", {"items": ""}, "items", "放行物品：请填写"),
    ("releases", {"approved_by": ""}, "approved_by", "审批人：请填写"),
    ("releases", {"name": "孙\x1b七"}, "name", "申请人"),
]


@pytest.mark.parametrize("register, change, field, says", BAD, ids=[f"{r}-{f}-{i}" for i, (r, _, f, _) in enumerate(BAD)])
def test_bad_input_is_refused_with_the_field_named_and_nothing_stored(desk, register, change, field, says):
    registers, _, _, path = desk
    before = stored(path)
    with pytest.raises(Refused) as refused:
        registers.open(register, {**FORMS[register], **change}, who="staff-li")
    assert refused.value.field == field and says in refused.value.zh, (refused.value.zh, refused.value.en)
    assert refused.value.en and refused.value.en != refused.value.zh  # both languages
    assert stored(path) == before


def test_closing_twice_is_refused_saying_when_and_by_whom_and_nothing_more_is_stored(desk):
    registers, clock, _, path = desk
    key = registers.open("keys", KEY, who="staff-li")
    parcel = registers.open("parcels", PARCEL, who="staff-li")
    release = registers.open("releases", RELEASE, who="staff-li")
    clock.t = at(2026, 3, 2, 10, 15)
    registers.step(key["id"], "return", {"returned_by": "李四"}, who="staff-li")
    registers.pickup(parcel["code"], {"by_name": "王五"}, who="staff-li")
    registers.step(release["id"], "checkout", {"guard": "门岗刘"}, who="guard")
    clock.t = at(2026, 3, 2, 11, 0)
    before = stored(path)
    with pytest.raises(Refused) as twice:
        registers.step(key["id"], "return", {"returned_by": "李四"}, who="staff-wang")
    assert twice.value.zh == "YS260302001 已归还（03-02 10:15，李*），不能重复归还"
    with pytest.raises(Refused) as twice:
        registers.pickup(parcel["code"], {"by_name": "王五"}, who="staff-wang")
    assert twice.value.field == "code" and "KD260302001 已取走（03-02 10:15，王*），不能重复取件" == twice.value.zh
    with pytest.raises(Refused) as twice:
        registers.step(parcel["id"], "notify", {"how": "sms"}, who="staff-wang")  # nor anything else once closed
    assert "已取走" in twice.value.zh
    with pytest.raises(Refused) as twice:
        registers.step(release["id"], "checkout", {"guard": "门岗刘"}, who="guard")
    assert "FX260302001 已出门（03-02 10:15" in twice.value.zh and "checked out" in twice.value.en
    assert stored(path) == before


def test_a_steps_bad_input_is_refused_with_the_field_named_and_nothing_stored(desk):
    registers, _, _, path = desk
    renovation = registers.open("renovations", RENOVATION, who="staff-li")
    parcel = registers.open("parcels", PARCEL, who="staff-li")
    found = registers.open("lost_found", FOUND, who="staff-li")
    before = stored(path)
    cases = [
        (renovation, "inspect", {**STEPS["renovations"][0][1], "on": "2026-03-03"}, "on", "巡查日期：不能晚于今天"),
        (renovation, "inspect", {**STEPS["renovations"][0][1], "on": "2026-03-01"}, "on", "不能早于开工日期"),
        (renovation, "inspect", {**STEPS["renovations"][0][1], "inspector": ""}, "inspector", "巡查人：请填写"),
        (renovation, "accept", {**STEPS["renovations"][1][1], "refund_fen": "2000.01"}, "refund_fen", "不能多于所收押金 ￥2,000.00"),
        (parcel, "pickup", {"by_name": "王五", "code": "000000" if parcel["code"] != "000000" else "111111"}, "code", "取件码不对"),
        (parcel, "pickup", {"by_name": "", "code": parcel["code"]}, "by_name", "取件人：请填写"),
        (found, "claim", {**STEPS["lost_found"][0][1], "id_checked": ""}, "id_checked", "已核验认领人证件"),
        (found, "dispose", {"to": ""}, "to", "去向：请填写"),
        (found, "nonsense", {}, "step", "没有"),
    ]
    for entry, step, form, field, says in cases:
        with pytest.raises(Refused) as refused:
            registers.step(entry["id"], step, form, who="staff-li")
        assert refused.value.field == field and says in refused.value.zh.replace("¥", "￥"), (step, refused.value.zh)
    with pytest.raises(Refused) as refused:
        registers.pickup("999999" if parcel["code"] != "999999" else "888888", {"by_name": "王五"}, who="staff-li")
    assert refused.value.field == "code" and "没有取件码为" in refused.value.zh
    assert stored(path) == before


def test_a_form_sent_twice_makes_one_entry_and_one_step(desk):
    registers, _, _, path = desk
    first = registers.open("parcels", PARCEL, who="staff-li", form_id="form-1")
    again = registers.open("parcels", PARCEL, who="staff-li", form_id="form-1")
    assert again["id"] == first["id"] and again["code"] == first["code"]
    registers.pickup(first["code"], {"by_name": "王五"}, who="staff-li", form_id="form-2")
    done = registers.pickup(first["code"], {"by_name": "王五"}, who="staff-li", form_id="form-2")  # the answer was lost
    assert done["status"] == "closed" and len(done["steps"]) == 1
    assert [r["kind"] for r in records(path)] == ["register_entry", "register_step"]
    with pytest.raises(sqlite3.IntegrityError):  # the database says so too, should a caller skip the rules
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("INSERT INTO register_steps (id, entry, step, ts, who, details, person, closes) "
                         "VALUES ('x', ?, 'pickup', 0, 'x', '{}', '{}', 1)", [first["id"]])
    conn.close()


# -- reminders and the handover --------------------------------------------------------------------


def test_an_overdue_key_raises_a_warning_until_it_is_returned(desk):
    registers, clock, alarms, _ = desk
    key = registers.open("keys", KEY, who="staff-li")
    alarm_id = f"register.keys.{key['serial']}"
    clock.t = at(2026, 3, 2, 17, 59)
    registers.check()
    assert alarm_id not in {a["id"] for a in alarms.active()}
    clock.t = at(2026, 3, 2, 18, 1)
    assert registers.check() == [alarm_id]
    alarm = next(a for a in alarms.active() if a["id"] == alarm_id)
    assert alarm["severity"] == "warning" and "钥匙逾期未还" in alarm["text"] and "03-02 18:00" in alarm["text"]
    assert "李四" not in alarm["text"] and "13812345678" not in alarm["text"]
    assert registers.check() == []  # judged again each minute: the same alarm, not a new one
    registers.step(key["id"], "return", {"returned_by": "李四"}, who="staff-li")
    assert alarm_id not in {a["id"] for a in alarms.active()}  # cleared at once, not at the next check


def test_a_renovation_reminds_before_its_end_and_after_it_until_accepted(desk):
    registers, clock, alarms, _ = desk
    renovation = registers.open("renovations", {**RENOVATION, "end_date": "2026-03-10"}, who="staff-li")
    alarm_id = f"register.renovations.{renovation['serial']}"

    def text() -> str | None:
        return next((a["text"] for a in alarms.active() if a["id"] == alarm_id), None)

    clock.t = at(2026, 3, 6, 9, 0)  # four days before the end: not yet (3 days by default)
    registers.check()
    assert text() is None
    clock.t = at(2026, 3, 7, 9, 0)
    registers.check()
    assert "将于 2026-03-10 到期（3 天后），请安排验收" in text() and "3-1-1201" in text()
    clock.t = at(2026, 3, 11, 9, 0)
    registers.check()
    assert "已于 2026-03-10 到期，尚未验收" in text()
    registers.step(renovation["id"], "accept", {**STEPS["renovations"][1][1], "on": "2026-03-11"}, who="staff-li")
    assert text() is None


def test_the_handover_gets_keys_out_parcels_waiting_and_renovations_due(desk):
    registers, clock, _, _ = desk
    key = registers.open("keys", KEY, who="staff-li")
    returned = registers.open("keys", {**KEY, "key": "3-1-1201 户门备用钥匙"}, who="staff-li")
    registers.step(returned["id"], "return", {"returned_by": "李四"}, who="staff-li")
    parcel = registers.open("parcels", PARCEL, who="staff-li")
    registers.step(parcel["id"], "notify", {"how": "phone"}, who="staff-li")
    soon = registers.open("renovations", {**RENOVATION, "end_date": "2026-03-08"}, who="staff-li")
    later = registers.open("renovations", {**RENOVATION, "room": "5-2-502", "end_date": "2026-06-30"}, who="staff-li")
    registers.step(later["id"], "inspect", STEPS["renovations"][0][1], who="staff-li")

    sheet = registers.open_for_handover(at(2026, 3, 2, 19, 0))
    assert set(sheet) == {"keys_out", "parcels_waiting", "renovations_due"}
    assert [i["id"] for i in sheet["keys_out"]] == [key["id"]]
    item = sheet["keys_out"][0]
    assert {"id", "text", "since", "register", "serial", "due"} <= set(item) and item["since"] == START
    assert item["text"] == "钥匙 B2 水泵房钥匙 · 借用人 李* 138****5678 · 应还 03-02 18:00（已逾期）"
    assert sheet["parcels_waiting"][0]["text"] == "快递 顺丰 · 2-1-301 王* 139****1111 · 货架 A-03 · 已通知"
    assert [i["id"] for i in sheet["renovations_due"]] == [soon["id"]]
    assert sheet["renovations_due"][0]["text"].endswith("· 7 天内到期")
    # Two weeks on: the later works are due an inspection (none for 7 days); the first is past its end.
    sheet = registers.open_for_handover(at(2026, 3, 16, 19, 0))
    texts = {i["id"]: i["text"] for i in sheet["renovations_due"]}
    assert texts[later["id"]].endswith("待巡查（上次 2026-03-02）") and "· 已到期未验收，待巡查" in texts[soon["id"]]
    assert all(not re.search(r"1[3-9]\d{9}", i["text"]) for items in sheet.values() for i in items)


# -- a found item's photo ------------------------------------------------------------------------


def _photo(size: tuple[int, int], fmt: str = "JPEG", noise: bool = False, **save: object) -> bytes:
    """A picture as a camera makes it: smooth (small as a JPEG) or noisy (large as a PNG)."""
    out = io.BytesIO()
    picture = Image.effect_noise(size, 60) if noise else Image.linear_gradient("L").resize(size)
    picture.convert("RGB").save(out, fmt, **save)
    return out.getvalue()


def test_a_found_items_photo_is_kept_shrunk_without_its_metadata_and_refused_when_not_fit(tmp_path):
    path = tmp_path / "edge.db"
    open_database(path, migrations).close()
    registers = Registers(RegistersConfig(photo_max_kb=400), db_path=path, clock=Clock(START))
    try:
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"  # the camera's make, as a phone writes it
        item = registers.open("lost_found", FOUND, who="staff-li", photo=_photo((2000, 1500), quality=30, exif=exif))
        mime, data = registers.photo(item["id"])
        with Image.open(io.BytesIO(data)) as kept:
            assert mime == "image/jpeg" and kept.format == "JPEG" and max(kept.size) == 1280
            assert not kept.getexif()
        assert b"PhoneMaker" not in data
        before = stored(path)
        for photo, says in ((_photo((1600, 1600), "PNG", noise=True), "文件太大（最大 400 KB）"), (b"%PDF-1.4 not a picture", "不是可识别的图片")):
            with pytest.raises(Refused) as refused:
                registers.open("lost_found", FOUND, who="staff-li", photo=photo)
            assert refused.value.field == "photo" and says in refused.value.zh
        assert stored(path) == before
    finally:
        registers.close()


# -- personal data: retention and a resident's request ----------------------------------------------


def _raw(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_retention_erases_an_entrys_personal_data_keep_years_after_it_closed(desk):
    registers, clock, alarms, path = desk
    retention = Retention(PrivacyConfig(keep_years=3), db_path=path, alarms=alarms, clock=clock)
    try:
        old = registers.open("lost_found", FOUND, who="staff-li", photo=_photo((64, 64)))
        clock.t = at(2026, 3, 5, 9, 0)
        registers.step(old["id"], "claim", STEPS["lost_found"][0][1], who="staff-li")
        still_open = registers.open("keys", {**KEY, "due_back": "2026-03-05T18:00", "name": "钱七"}, who="staff-li")
        clock.t = at(2026, 3, 6, 9, 0)
        registers.check()  # the key is overdue: its alarm names its number, not its borrower
        clock.t = at(2027, 1, 5, 9, 0)
        recent = registers.open("parcels", {**PARCEL, "name": "周九"}, who="staff-li")
        assert "欧阳娜娜".encode() in _raw(path)

        clock.t = at(2029, 3, 6, 9, 0)  # three years and a day after the claim closed the entry
        counts = retention.run()
        assert counts["register_entries"] == 2  # the claimed item, and the key left open and untouched as long
        raw = _raw(path)
        for secret in ("欧阳娜娜", "13866661234", "孙八", "13511112222", "钱七", "987X"):
            assert secret.encode() not in raw, secret
        erased = registers.entry(old["id"])
        assert erased["erased_why"] == "retention" and not erased["photo"] and erased["room"] == ""
        assert erased["fields"]["item"] == "黑色钱包" and erased["fields"]["finder_name"] == ""  # the figures stay
        assert erased["steps"][0]["fields"]["name"] == "" and erased["steps"][0]["step"] == "claim"
        assert registers.entry(recent["id"])["fields"]["name"] == "周九"  # not three years yet
        assert rows_of(path, "SELECT text FROM alarms WHERE id = ?",
                       [f"register.keys.{still_open['serial']}"])[0]["text"] == ERASED_TEXT
        assert retention.audit_lines()[0]["detail"]["register_entries"] == 2
    finally:
        retention.close()


def test_a_residents_request_finds_exports_and_erases_their_register_entries(desk):
    registers, clock, alarms, path = desk
    retention = Retention(PrivacyConfig(keep_years=3), db_path=path, alarms=alarms, clock=clock)
    try:
        parcel = registers.open("parcels", PARCEL, who="staff-li")
        registers.pickup(parcel["code"], {"by_name": "王五"}, who="staff-li")
        waiting = registers.open("parcels", {**PARCEL, "shelf": "B-01"}, who="staff-li")
        found = registers.open("lost_found", FOUND, who="staff-li")  # claimed by 2-1-301 + the same phone
        registers.step(found["id"], "claim", {**STEPS["lost_found"][0][1], "phone": "139 0000 1111", "room": "2-1-301"},
                       who="staff-li")
        other = registers.open("parcels", {**PARCEL, "room": "2-1-302"}, who="staff-li")  # the phone, another room

        entries = retention.find_entries(" 2-1-301 ", "139-0000-1111")
        assert {e["id"] for e in entries} == {parcel["id"], waiting["id"], found["id"]}
        assert all("code" not in e and "form_id" not in e for e in entries)
        exported = retention.export("2-1-301", "13900001111", who="staff-li")
        assert {e["serial"] for e in exported["registers"]} == {parcel["serial"], waiting["serial"], found["serial"]}
        assert retention.find("2-1-301", "13900001111", who="staff-li") == []
        assert retention.audit_lines()[0]["detail"]["entries"]
        before = stored(path)
        with pytest.raises(RequestFailed) as refused:
            retention.erase([], who="staff-li", reason="业主书面申请", entries=[parcel["id"], waiting["id"]])
        assert refused.value.code == "still_open" and waiting["serial"] in refused.value.message
        with pytest.raises(ValueError):
            retention.erase([], who="staff-li", reason="业主书面申请")
        assert stored(path) == before

        counts = retention.erase([], who="staff-li", reason="业主书面申请", entries=[parcel["id"], found["id"]])
        assert counts["register_entries"] == 2
        erasure = [r for r in records(path) if r["kind"] == "erasure"]
        assert len(erasure) == 1 and set(erasure[0]["entries"]) == {parcel["id"], found["id"]}
        assert registers.entry(parcel["id"])["fields"]["name"] == "" and registers.entry(waiting["id"])["fields"]["name"] == "王五"
        assert registers.entry(other["id"])["fields"]["phone"] == "13900001111"
        unsent = {r["id"]: r["person"] for r in records(path) if r["kind"] == "register_entry"}
        assert unsent[parcel["id"]] == {"room": "", "name": "", "phone": ""} and unsent[waiting["id"]]["name"] == "王五"
        assert {e["id"] for e in retention.find_entries("2-1-301", "13900001111")} == {waiting["id"]}
    finally:
        retention.close()


# -- who sees what on the console -----------------------------------------------------------------


def _login(app, user: str, password: str):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": user, "password": password, "csrf_token": token}).status_code == 302
    page = client.get("/registers/keys/").get_data(as_text=True)
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_staff_see_an_entrys_phone_in_full_on_its_page_and_a_viewer_sees_it_masked_and_cannot_act(tmp_path):
    config = console_config(tmp_path)
    path = config.data_dir / "edge.db"
    config.data_dir.mkdir()
    open_database(path, migrations).close()
    registers = Registers(config.registers, db_path=path)
    app = edge_agent.create_app(config, services=EdgeServices(registers=registers))
    try:
        with app.app_context():
            db = open_database(path)
            set_password(SqliteUsers(db), "guest", "viewer password 1", "viewer")
            db.close()
        due = datetime.fromtimestamp(time.time() + 7200, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")
        key = registers.open("keys", {**KEY, "due_back": due}, who="staff")
        staff, token = _login(app, "staff", "correct horse 1")
        page = staff.get(f"/registers/keys/{key['id']}").get_data(as_text=True)
        assert "13812345678" in page and "李四" in page and "****123X" not in page
        listing = staff.get("/registers/keys/").get_data(as_text=True)
        assert "138****5678" in listing and "13812345678" not in listing and "李*" in listing
        found = staff.get("/registers/keys/?q=13812345678&state=all").get_data(as_text=True)
        assert key["serial"] in found
        viewer, vtoken = _login(app, "guest", "viewer password 1")
        page = viewer.get(f"/registers/keys/{key['id']}").get_data(as_text=True)
        assert "13812345678" not in page and "138****5678" in page and "李*" in page and "****123X" in page
        assert 'action="/registers/keys/' + key["id"] + '/return"' not in page  # no forms to act with
        assert viewer.post(f"/registers/keys/{key['id']}/return", data={"csrf_token": vtoken, "returned_by": "李四"}).status_code == 403
        assert viewer.post("/registers/keys/", data={"csrf_token": vtoken, **KEY}).status_code == 403
        assert registers.entry(key["id"])["status"] == "open"
        refused = staff.post("/registers/keys/", data={"csrf_token": token, **KEY, "name": "", "form_id": "f-1"})
        body = refused.get_data(as_text=True)
        assert refused.status_code == 422 and "借用人：请填写" in body and "Borrower: required" in body
        assert 'value="B2 水泵房钥匙"' in body  # what was typed is kept
    finally:
        registers.close()
