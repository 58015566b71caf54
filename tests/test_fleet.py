"""The fleet view (issue 18 item 5): a hall's status from the real edge through its outbox
to the centre's overview page in Chromium; the AED door red at the top across halls; a
stopped node and a silent hall shown offline; the hall and region filters; a manager sees
only their halls; a malformed ``hall_status`` refused whole at ingest."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from central_sync.hall_status import HallStatus
from central_sync.server.db import StoreUsers
from hall_common.auth import set_password
from hall_common.bus import contract

from .conftest import wait_for
from .helpers.central import central_app
from .test_central_api import post
from .helpers.screens import to_docs

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots" / "centre"
PASSWORD = "admin password 1"


def status(at: float, *, alarms: list[dict] | None = None, nodes: list[dict] | None = None, **kw) -> dict:
    body = {"at": at, "heartbeat_s": 30, "sw": "0.1.0", "config_version": None,
            "nodes": nodes if nodes is not None else [{"node": "kiosk-01", "kind": "kiosk", "state": "ready", "online": True,
                                                       "last_seen": at, "sw": "0.1.0", "config_version": 3}],
            "alarms": alarms or [], "alarms_total": len(alarms or []),
            "printers": [{"id": "printer-1", "online": True, "paper": "near_end", "can_print": True}],
            "backlog": {"depth": 2, "oldest_age": 1.5}, **kw}
    HallStatus.model_validate(body)  # what the edge would send
    return body


def alarm(alarm_id: str, severity: str, text: str, raised_at: float, type_: str = "printer_error") -> dict:
    return {"id": alarm_id, "severity": severity, "state": "ACTIVE_UNACK", "type": type_, "source": "edge",
            "text": text, "raised_at": raised_at}


def record(body: dict, *, kind: str = "hall_status", ts: float | None = None) -> dict:
    return {"id": str(uuid.uuid4()), "kind": kind, "node": "edge", "ts": body.get("at", time.time()) if ts is None else ts,
            "body": body}


def send(app, token: str, hall: str, *records: dict):
    return post(app, token, {"hall_id": hall, "sent_at": time.time(), "records": list(records)})


def login(app, username: str, password: str = PASSWORD):
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": username, "password": password, "csrf_token": token})
    return c


def csrf(c, path: str = "/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def centre(central_db, tmp_path):
    app, store, tokens = central_app(tmp_path, central_db)
    yield app, store, tokens
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    store.close()


def test_the_newest_status_of_a_hall_is_kept_and_a_malformed_one_is_refused_whole(centre):
    app, store, tokens = centre
    t = time.time()
    first = record(status(t, alarms=[alarm("printer-1.paper", "warning", "打印机纸将用尽 · Paper near end", t)]))
    assert send(app, tokens["h1"], "h1", first).status_code == 200
    newer = record(status(t + 5, alarms=[alarm("aed.door", "critical", "AED 柜门已打开 · AED cabinet opened", t + 4,
                                               "aed_door_open")]))
    late = record(status(t + 2))  # taken before `newer`, arriving after it
    assert send(app, tokens["h1"], "h1", newer).status_code == 200
    assert send(app, tokens["h1"], "h1", late).status_code == 200
    rows = store.query("SELECT alarm_id, severity, rank FROM hall_alarms WHERE hall_id = 'h1'")
    assert rows == [{"alarm_id": "aed.door", "severity": "critical", "rank": 0}]  # the late one changed nothing
    assert store.query("SELECT node_id, online, config_version FROM fleet_nodes") == [
        {"node_id": "kiosk-01", "online": 1, "config_version": 3}]
    assert store.query("SELECT printer_id, paper FROM fleet_printers") == [{"printer_id": "printer-1", "paper": "near_end"}]
    # The ledger keeps the newest status only.
    assert [str(r["id"]) for r in store.query("SELECT id FROM records WHERE kind = 'hall_status'")] == [newer["id"]]

    before = {t_: store.query(f"SELECT * FROM {t_} ORDER BY 1, 2") for t_ in ("hall_alarms", "fleet_nodes", "fleet_halls")}
    count = store.scalar("SELECT count(*) FROM records")
    bad = status(t + 9)
    bad["nodes"][0]["online"] = "perhaps"
    other = {"id": str(uuid.uuid4()), "kind": "complaint", "node": "kiosk-01", "ts": t, "body": {"text": "电梯异响"}}
    r = send(app, tokens["h1"], "h1", other, record(bad))
    assert r.status_code == 422 and r.json["code"] == "malformed_hall_status"
    assert "hall_status 记录格式错误" in r.json["detail"] and "malformed hall_status record" in r.json["detail"]
    assert "records.1.body.nodes.0.online" in r.json["detail"]
    assert store.scalar("SELECT count(*) FROM records") == count  # not even the good record of the batch
    assert {t_: store.query(f"SELECT * FROM {t_} ORDER BY 1, 2") for t_ in before} == before
    unknown = status(t + 9)
    unknown["alarms"] = [alarm("x", "catastrophic", "?", t)]
    r = send(app, tokens["h1"], "h1", record(unknown))
    assert r.status_code == 422 and "records.0.body.alarms.0.severity" in r.json["detail"]
    # The alarm cleared, the kiosk gone: the next status empties the hall's rows.
    assert send(app, tokens["h1"], "h1", record(status(t + 20, nodes=[]))).status_code == 200
    assert store.scalar("SELECT count(*) FROM hall_alarms") == store.scalar("SELECT count(*) FROM fleet_nodes") == 0


def test_filters_regions_and_a_manager_who_sees_only_their_halls(tmp_path):
    app, store, tokens = central_app(tmp_path, f"sqlite:///{tmp_path}/central.db")
    try:
        t = time.time()
        send(app, tokens["h1"], "h1", record(status(t, alarms=[alarm("p.paper", "major", "缺纸 · Out of paper", t)])))
        send(app, tokens["h2"], "h2", record(status(t, alarms=[alarm("aed.door", "critical", "AED 柜门已打开", t,
                                                                         "aed_door_open")])))
        set_password(StoreUsers(store), "admin", PASSWORD, "admin")
        set_password(StoreUsers(store), "mgr", PASSWORD, "manager")
        set_password(StoreUsers(store), "audit", PASSWORD, "auditor")
        store.execute("INSERT INTO user_halls (username, hall_id) VALUES ('mgr', 'h1')")

        admin = login(app, "admin")
        everything = admin.get("/fleet.json").json
        assert [h["hall_id"] for h in everything["halls"]] == ["h1", "h2"]
        assert [a["id"] for a in everything["alarms"]] == ["aed.door", "p.paper"]  # the AED door first
        assert everything["alarms"][0]["aed"] and everything["halls"][0]["online"]
        assert [a["hall_id"] for a in admin.get("/fleet.json?hall=h1").json["alarms"]] == ["h1"]

        # An admin sets a region; a bad one is refused with a message and nothing written.
        token = csrf(admin)
        r = admin.post("/fleet/halls/h2/region", data={"region": "西" * 33, "csrf_token": token}, follow_redirects=True)
        assert "地区名称最多 32 个字" in r.get_data(as_text=True) and "A region has at most 32 characters" in r.get_data(as_text=True)
        r = admin.post("/fleet/halls/h2/region", data={"region": "成都\x07", "csrf_token": token}, follow_redirects=True)
        assert "nothing was saved" in r.get_data(as_text=True)
        assert store.scalar("SELECT region FROM halls WHERE hall_id = 'h2'") == ""
        r = admin.post("/fleet/halls/h2/region", data={"region": "成都 · 高新", "csrf_token": token}, follow_redirects=True)
        assert "Region of h2 saved" in r.get_data(as_text=True)
        assert store.scalar("SELECT region FROM halls WHERE hall_id = 'h2'") == "成都 · 高新"
        assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'hall.region'") == 1
        by_region = admin.get("/fleet.json?region=成都 · 高新").json
        assert [h["hall_id"] for h in by_region["halls"]] == ["h2"] and [a["hall_id"] for a in by_region["alarms"]] == ["h2"]
        assert '<option value="成都 · 高新"' in admin.get("/").get_data(as_text=True)

        mgr = login(app, "mgr")
        mine = mgr.get("/fleet.json").json
        assert [h["hall_id"] for h in mine["halls"]] == ["h1"] and [a["hall_id"] for a in mine["alarms"]] == ["h1"]
        assert mgr.get("/fleet.json?hall=h2").status_code == 403 and mgr.get("/?hall=h2").status_code == 403
        assert mgr.get("/fleet.json?region=成都 · 高新").json["halls"] == []
        page = mgr.get("/").get_data(as_text=True)
        assert 'value="h1"' in page and 'value="h2"' not in page and "地区设置 · Regions" not in page
        assert mgr.post("/fleet/halls/h1/region", data={"region": "x", "csrf_token": csrf(mgr)}).status_code == 403

        auditor = login(app, "audit")
        assert len(auditor.get("/fleet.json").json["halls"]) == 2
        assert auditor.post("/fleet/halls/h1/region", data={"region": "x", "csrf_token": csrf(auditor)}).status_code == 403
        assert store.scalar("SELECT region FROM halls WHERE hall_id = 'h1'") == ""
        assert app.test_client().get("/fleet.json", headers={"Accept": "application/json"}).status_code == 401
    finally:
        store.close()


def test_the_edge_sends_its_status_on_change_and_as_a_heartbeat_within_the_record_limit(tmp_path):
    import json

    from central_sync.protocol import MAX_RECORD_BYTES
    from edge_agent.alarms import Alarms
    from edge_agent.db import migrations
    from edge_agent.fleet_status import FleetStatus
    from hall_common.config import EdgeConfig
    from hall_common.storage import open_database

    (tmp_path / "pw").write_text("x")
    config = EdgeConfig(hall_id="t1", hall_name="测试大厅", node_id="edge", data_dir=tmp_path, http={"port": 1},
                        broker={"port": 1, "password_file": tmp_path / "pw"},
                        centre={"url": "http://127.0.0.1:1", "token_file": tmp_path / "pw", "status_every_s": 600})
    path = tmp_path / "edge.db"
    open_database(path, migrations).close()
    alarms = Alarms(path, None, node="edge")
    nudged: list[int] = []
    fleet = FleetStatus(config, db_path=path, alarms=alarms, printing=None, sw="0.1.0", nudge=lambda: nudged.append(1),
                        syncs=True)
    db = open_database(path)
    sent = lambda: [json.loads(r[0]) for r in db.execute(  # noqa: E731
        "SELECT body FROM outbox WHERE kind = 'hall_status' ORDER BY seq").fetchall()]
    try:
        assert fleet.check() and len(sent()) == 1 and nudged == [1]
        assert not fleet.check()  # nothing changed; its own record in the backlog is no change either
        alarms.raise_("aed.door", source="edge/aed", type="aed_door_open", severity="critical", text="AED 柜门已打开")
        assert fleet._wake.is_set()  # the alarm wakes the look at once
        assert fleet.check() and [a["id"] for a in sent()[-1]["alarms"]] == ["aed.door"] and len(nudged) == 2
        fleet._sent_at -= 601  # as if the heartbeat's 600 s had passed
        assert fleet.check() and len(sent()) == 3  # the heartbeat, unchanged
        for i in range(60):
            alarms.raise_(f"env.{i}", source="env", type="env_high", severity="warning", text="温度过高，请检查空调" * 16)
        assert fleet.check()
        last = db.execute("SELECT body FROM outbox WHERE kind = 'hall_status' ORDER BY seq DESC LIMIT 1").fetchone()[0]
        body = json.loads(last)
        assert len(last.encode()) <= MAX_RECORD_BYTES and body["alarms_total"] == 61
        assert body["alarms"][0]["id"] == "aed.door" and 0 < len(body["alarms"]) <= 30  # the most severe kept
        HallStatus.model_validate(body)
    finally:
        db.close()
        fleet.close()
        alarms.close()


def _node_row(page, node: str) -> str:
    rows = page.locator(f"table.fleet-nodes tbody tr[data-hall='t1'][data-node='{node}']")
    return rows.inner_text() if rows.count() else ""


def test_an_alarm_raised_at_the_edge_reaches_the_fleet_page(mini, broker, browser):
    """Real broker, edge, centre and Chromium: the AED door opened in hall t1 is red at the
    top, above another hall's older critical alarm; a kiosk that stops is offline; a hall
    whose link to the centre stops is offline with its nodes unknown; filters by region and hall."""
    from central_sync.server import credentials

    centre, store, token = mini.registered_centre()
    centre.app.config["FLEET_OFFLINE_AFTER"] = 5.0
    set_password(StoreUsers(store), "admin", PASSWORD, "admin")
    credentials.register_hall(store, "h2", "长寿苑")
    t = time.time()
    other = status(t - 600, alarms=[alarm("complaint.1", "critical", "紧急报事：电梯困人 · Emergency: people stuck in a lift",
                                          t - 600, "emergency_report"),
                                    alarm("printer-1.cover", "major", "打印机机盖打开 · Printer cover open", t - 700)])
    assert send(centre.app, credentials.issue(store, "h2", "edge"), "h2", record(other)).status_code == 200
    printer = mini.printer()
    agent = mini.edge(centre.url, token, printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port}])
    fleet = next(c for c in agent.components if c.name == "fleet")
    fleet.heartbeat = 1.0  # within the centre's 5 s above while the link is up
    kiosk = broker.client("kiosk-01", kind="kiosk")

    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(centre.url + "login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("table.fleet-nodes tbody tr[data-hall='t1'][data-node='kiosk-01']")
    wait_for(lambda: "在线 · Online" in _node_row(page, "kiosk-01"), timeout=30)
    wait_for(lambda: "正常 · OK" in page.inner_text("table.fleet-halls tbody tr[data-hall='t1']"), timeout=30)

    aed = broker.client("aed-01", kind="aed_node")
    aed.publish(contract.ESPHOME_BINARY, True, hall=broker.hall, node="aed-01", object_id="door")
    top = page.locator("table.fleet-alarms tbody tr").first
    page.wait_for_selector("table.fleet-alarms tbody tr.aed[data-hall='t1']", timeout=30000)
    assert top.get_attribute("data-alarm") == "aed.door"
    assert "紧急 · Critical" in top.inner_text() and "测试大厅 (t1)" in top.inner_text() and "AED" in top.inner_text()
    assert top.evaluate("r => getComputedStyle(r.cells[0]).backgroundColor") == "rgb(179, 38, 30)"
    order = page.eval_on_selector_all("table.fleet-alarms tbody tr", "rs => rs.map(r => r.dataset.alarm)")
    assert order[:3] == ["aed.door", "complaint.1", "printer-1.cover"]

    kiosk.close()
    wait_for(lambda: "离线 · Offline" in _node_row(page, "kiosk-01"), timeout=30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "fleet.png", full_page=True)
    to_docs(SHOTS / "fleet.png", "centre-fleet.png")

    # Region: set on the page by the admin, then filtered by.
    page.fill("input[aria-label='t1 地区 · region']", "成都 · 高新")
    page.click("table.regions tr:has-text('(t1)') button")
    page.wait_for_selector("text=Region of t1 saved")
    page.select_option("#fleet-region", "成都 · 高新")
    page.click("text=筛选 · Filter")
    page.wait_for_url(re.compile(r"region="))
    wait_for(lambda: page.locator("table.fleet-halls tbody tr[data-hall]").count() == 1, timeout=30)
    assert page.locator("table.fleet-halls tbody tr[data-hall='t1']").count() == 1
    assert page.locator("table.fleet-alarms tbody tr[data-hall='h2']").count() == 0
    page.goto(centre.url + "?hall=h2")
    page.wait_for_selector("table.fleet-alarms tbody tr[data-hall='h2']")
    assert page.locator("table.fleet-alarms tbody tr[data-hall='t1']").count() == 0

    # The hall stops talking to the centre: offline, its nodes' states unknown.
    page.goto(centre.url + "?hall=t1")
    agent.sync.worker.stop()
    wait_for(lambda: "离线 · Offline" in page.inner_text("table.fleet-halls tbody tr[data-hall='t1']"), timeout=30)
    wait_for(lambda: "未知" in _node_row(page, "kiosk-01"), timeout=30)
    assert "离线 · Offline" in _node_row(page, "edge")
    page.close()
