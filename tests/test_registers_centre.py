"""The front desk's registers at the centre, on SQLite and PostgreSQL: the edge's own
Registers component pushes its records with the real sync client over HTTP; the centre
keeps them once in its ledger, projects them with nothing personal, counts them on the admin
console; its retention empties their personal part ``keep_years`` after an entry's last
change, with its reminder alarm's text; a resident's erasure at the hall reaches it."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from central_sync.server import retention
from edge_agent.retention import Retention
from hall_common.config import PrivacyConfig
from hall_common.storage import open_database

from .helpers.central import push as push_all
from .test_centre_complaints import PASSWORD, centre  # noqa: F401 (the fixture: a served centre, halls h1 and h2)
from .test_registers import FOUND, KEY, PARCEL, desk  # noqa: F401 (the fixture: one hall's registers)

PHONE = re.compile(r"1[3-9]\d{9}")


def push(path, url: str, token: str) -> int:
    return push_all(path, url, token, "h1", batch_size=3)


def ledger(store, *kinds: str) -> list[dict]:
    marks = ",".join("?" * len(kinds))
    return [r["body"] if isinstance(r["body"], dict) else json.loads(r["body"])
            for r in store.query(f"SELECT body FROM records WHERE kind IN ({marks}) ORDER BY node_ts", kinds)]


def test_register_records_reach_the_centre_once_projected_without_personal_data_and_counted(centre, desk):
    app, store, tokens, served = centre
    token = tokens["h1"]
    registers, clock, _, path = desk
    key = registers.open("keys", KEY, who="staff-li")
    parcel = registers.open("parcels", PARCEL, who="staff-li")
    registers.pickup(parcel["code"], {"by_name": "王五"}, who="staff-li")
    registers.open("lost_found", FOUND, who="staff-li")
    # The step reaches the centre before its entry (outbox rows sent out of order): a stub waits for it.
    db = open_database(path)
    step_first = db.execute("SELECT id FROM outbox WHERE kind = 'register_step'").fetchone()[0]
    db.execute("UPDATE outbox SET seq = 0 WHERE id = ?", [step_first])
    db.conn.commit()
    db.close()
    assert push(path, served.url, token) == 4
    db = open_database(path)
    db.execute("UPDATE outbox SET sent_at = NULL")  # sent again, as after a lost acknowledgement
    db.conn.commit()
    db.close()
    push(path, served.url, token)
    assert len(ledger(store, "register_entry")) == 3 and len(ledger(store, "register_step")) == 1
    projected = {r["id"]: r for r in store.query("SELECT * FROM register_entries")}
    assert projected[parcel["id"]]["status"] == "closed" and projected[parcel["id"]]["serial"] == parcel["serial"]
    assert projected[key["id"]]["status"] == "open" and projected[key["id"]]["due_at"] == key["due_at"]
    assert projected[parcel["id"]]["opened_at"] == parcel["opened_at"]  # the stub was filled in
    held = json.dumps(store.query("SELECT * FROM register_entries") + store.query("SELECT * FROM register_steps"),
                      ensure_ascii=False, default=str)
    assert not PHONE.search(held) and "王五" not in held and "2-1-301" not in held
    assert parcel["code"] not in json.dumps(ledger(store, "register_entry"))  # the pickup code stays in the hall
    admin = app.test_client()
    token_ = re.search(r'name="csrf_token" value="([^"]+)"', admin.get("/login").get_data(as_text=True)).group(1)
    admin.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token_})
    page = admin.get("/registers").get_data(as_text=True)
    assert re.search(r"钥匙借用 · Keys</td><td>1</td><td>1</td>", page) and re.search(
        r"快递邮件 · Parcels</td><td>0</td><td>1</td>", page), page
    assert "前台登记簿 · Registers" in admin.get("/halls").get_data(as_text=True)


def test_retention_at_the_centre_empties_an_entrys_personal_data_and_its_alarm(centre, desk):
    """Dated from the machine's clock: the alarms' records carry the time they were raised,
    which the centre searches by."""
    app, store, tokens, served = centre
    token = tokens["h1"]
    registers, clock, _, path = desk
    base = clock.t = time.time() - 2 * 86400
    due = datetime.fromtimestamp(base + 7200, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")
    key = registers.open("keys", {**KEY, "due_back": due}, who="staff-li")
    clock.t = base + 3 * 3600
    registers.check()  # overdue: an alarm record goes to the centre too
    clock.t = base + 86400
    registers.step(key["id"], "return", {"returned_by": "李四"}, who="staff-li")
    clock.t = time.time()
    recent = registers.open("parcels", PARCEL, who="staff-li")
    push(path, served.url, token)
    alarm = [b for b in ledger(store, "alarm") if b["id"] == f"register.keys.{key['serial']}"]
    assert alarm and "钥匙逾期未还" in alarm[0]["text"]

    counts = retention.run(store, keep_years=1, now=base + 86400 + 366 * 86400)
    assert counts["register_entries"] == 1 and counts["records"] == 4  # the entry's, its step's, its alarm raised and cleared
    gone = [b for b in ledger(store, "register_entry", "register_step") if b.get("entry", b["id"]) == key["id"]]
    assert len(gone) == 2 and all(set(b["person"].values()) == {""} for b in gone)
    assert gone[0]["details"]["key"] == KEY["key"]  # what the figures need stays
    assert all(b["text"] == retention.ERASED_TEXT for b in ledger(store, "alarm") if b["id"].endswith(key["serial"]))
    kept = [b for b in ledger(store, "register_entry") if b["id"] == recent["id"]][0]
    assert kept["person"]["phone"] == PARCEL["phone"]  # not a year yet
    assert store.query("SELECT erased_why FROM register_entries WHERE id = ?", (key["id"],))[0]["erased_why"] == "retention"


def test_a_residents_erasure_of_register_entries_at_the_hall_reaches_the_centre(centre, desk):
    app, store, tokens, served = centre
    token = tokens["h1"]
    registers, clock, alarms, path = desk
    parcel = registers.open("parcels", PARCEL, who="staff-li")
    registers.pickup(parcel["code"], {"by_name": "王五", "by_phone": "13900001111"}, who="staff-li")
    other = registers.open("parcels", {**PARCEL, "room": "2-1-302", "name": "钱七"}, who="staff-li")
    push(path, served.url, token)
    erasing = Retention(PrivacyConfig(), db_path=path, alarms=alarms, clock=clock)
    try:
        found = erasing.find_entries("2-1-301", "13900001111")
        assert [e["id"] for e in found] == [parcel["id"]]
        erasing.erase([], who="staff-li", reason="业主书面申请删除", entries=[parcel["id"]])
    finally:
        erasing.close()
    assert push(path, served.url, token) == 1
    about = [b for b in ledger(store, "register_entry", "register_step") if parcel["id"] in (b.get("entry"), b["id"])]
    assert len(about) == 2 and "13900001111" not in json.dumps(about) and "王五" not in json.dumps(about, ensure_ascii=False)
    assert [b for b in ledger(store, "register_entry") if b["id"] == other["id"]][0]["person"]["name"] == "钱七"
    line = store.query("SELECT * FROM audit_log WHERE action = 'privacy.erase'")
    assert len(line) == 1 and json.loads(line[0]["detail"])["entries"] == [parcel["serial"]]
