"""Kiosk configuration pushed through the real chain: admin console -> centre -> edge (sync
pull) -> retained on the hall bus -> kiosk, which checks, applies without a restart and
reports back -> edge -> centre. A good configuration is applied, a bad one rolled back, a
forged, older or expired one rejected."""

from __future__ import annotations

import re
import time
import urllib.request

import pytest
import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central_sync.server.db import StoreUsers
from central_sync.signing import public_key_b64, sign
from hall_common.auth import set_password
from hall_common.bus import contract

from .conftest import HALL, wait_for
from .minihall import SETTINGS


def login(app, user: str, password: str):
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": user, "password": password, "csrf_token": token})
    return c


def csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/configs/").get_data(as_text=True)).group(1)


def save(client, settings: dict, note: str):
    return client.post("/configs/", data={"settings": tomli_w.dumps(settings), "note": note, "csrf_token": csrf(client)})


def publish(client, version: int, **form):
    return client.post(f"/configs/{version}/publish", data={"hall": HALL, "csrf_token": csrf(client), **form})


@pytest.fixture
def chain(mini):
    central, store, token = mini.registered_centre()
    app = central.app
    set_password(StoreUsers(store), "admin", "admin password 1", "admin")
    set_password(StoreUsers(store), "auditor", "auditor password 1", "auditor")
    agent = mini.edge(centre_url=central.url, token=token)
    kiosk, kapp = mini.kiosk(public_key=public_key_b64(app.extensions["config_key"]))
    wait_for(lambda: store.scalar("SELECT count(*) FROM hall_nodes WHERE node_id = 'kiosk-01'"), timeout=20)
    yield mini, app, store, agent, kiosk, kapp


def report(store):
    rows = store.query("SELECT version, status, reason FROM config_reports WHERE node_id = 'kiosk-01'")
    return rows[0] if rows else None


def test_good_config_is_applied_without_restart_and_reported_to_the_centre(chain):
    mini, app, store, agent, kiosk, kapp = chain
    admin = login(app, "admin", "admin password 1")
    new = {**SETTINGS, "info": {**SETTINGS["info"], "service_phone": "028-1111 2222"}}
    assert save(admin, new, "new phone").status_code == 302
    assert publish(admin, 1).status_code == 302
    wait_for(lambda: kapp.config["SETTINGS"].info.service_phone == "028-1111 2222", timeout=20)
    with urllib.request.urlopen(kiosk.url + "info", timeout=5) as r:
        assert "028-1111 2222" in r.read().decode()
    wait_for(lambda: (report(store) or {}).get("status") == "applied", timeout=20)
    assert report(store)["version"] == 1
    page = admin.get("/configs/").get_data(as_text=True)
    assert "applied" in page and "config.publish" in page and "config.create" in page


def test_config_failing_the_self_check_is_rolled_back(chain):
    mini, app, store, agent, kiosk, kapp = chain
    admin = login(app, "admin", "admin password 1")
    save(admin, SETTINGS, "good")
    publish(admin, 1)
    wait_for(lambda: (report(store) or {}).get("status") == "applied", timeout=20)
    bad = {**SETTINGS, "printer": "printer-9", "info": {**SETTINGS["info"], "service_phone": "999"}}
    save(admin, bad, "names a printer the hall does not have")
    publish(admin, 2)
    wait_for(lambda: (report(store) or {}).get("status") == "rolled_back", timeout=20)
    r = report(store)
    assert r["version"] == 1 and "printer-9" in r["reason"]
    assert kapp.config["SETTINGS"].info.service_phone == SETTINGS["info"]["service_phone"]


def test_forged_older_and_expired_configs_are_rejected(chain):
    mini, app, store, agent, kiosk, kapp = chain
    admin = login(app, "admin", "admin password 1")
    save(admin, SETTINGS, "v1")
    save(admin, SETTINGS, "v2")
    publish(admin, 2)
    wait_for(lambda: (report(store) or {}).get("version") == 2, timeout=20)
    applier = kapp.extensions["config_applier"]
    key = app.extensions["config_key"]
    cases = {
        "bad signature": sign(Ed25519PrivateKey.generate(), hall=HALL, node="kiosk-01", version=9, expires=time.time() + 60, body=SETTINGS),
        "not newer": sign(key, hall=HALL, node="kiosk-01", version=1, expires=time.time() + 60, body=SETTINGS),
        "expired": sign(key, hall=HALL, node="kiosk-01", version=5, expires=time.time() - 1, body=SETTINGS),
        "bad signature ": sign(key, hall=HALL, node="kiosk-02", version=6, expires=time.time() + 60, body=SETTINGS),
        "info": sign(key, hall=HALL, node="kiosk-01", version=7, expires=time.time() + 60, body={"info": {}}),
    }
    for reason, doc in cases.items():
        # Published on the bus as the edge would: the kiosk must not trust the channel.
        agent.bus.publish(contract.CONFIG_DESIRED, doc, hall=HALL, node="kiosk-01")
        wait_for(lambda: applier.last is not None and applier.last.status == "rejected"
                 and applier.last.reason.startswith(f"{doc.version}:"), timeout=10)
        assert reason.strip() in applier.last.reason, applier.last.reason
        assert applier.version == 2
    wait_for(lambda: (report(store) or {}).get("status") == "rejected", timeout=20)


def test_auditors_do_not_publish_and_bad_settings_are_not_saved(chain):
    mini, app, store, agent, kiosk, kapp = chain
    viewer = login(app, "auditor", "auditor password 1")
    assert viewer.get("/configs/").status_code == 200
    assert save(viewer, SETTINGS, "x").status_code == 403
    admin = login(app, "admin", "admin password 1")
    bad = {**SETTINGS, "idle": {"form_s": 3}}
    r = save(admin, bad, "too short an idle time")
    assert r.status_code == 422 and "idle.form_s" in r.get_data(as_text=True)
    r = admin.post("/configs/", data={"settings": "info = [", "note": "", "csrf_token": csrf(admin)})
    assert r.status_code == 422 and "TOML" in r.get_data(as_text=True)
    assert store.scalar("SELECT count(*) FROM configs") == 0


def test_staged_publish_reaches_a_percentage_then_the_rest(chain):
    mini, app, store, agent, kiosk, kapp = chain
    for node in ("kiosk-02", "kiosk-03", "kiosk-04"):
        store.execute("INSERT INTO hall_nodes (hall_id, node_id, kind, sw, node_ts) VALUES (?, ?, 'kiosk', '0', 0)", (HALL, node))
    admin = login(app, "admin", "admin password 1")
    save(admin, SETTINGS, "staged")
    publish(admin, 1, percent="50")
    first = {r["node_id"] for r in store.query("SELECT node_id FROM config_assignments WHERE version = 1")}
    assert len(first) == 2
    publish(admin, 1)
    everyone = {r["node_id"] for r in store.query("SELECT node_id FROM config_assignments WHERE version = 1")}
    assert everyone == {"kiosk-01", "kiosk-02", "kiosk-03", "kiosk-04"}
    assert store.scalar("SELECT count(*) FROM config_assignments") == 4  # nobody twice


def test_configuration_page_in_chromium(chain, browser):
    from pathlib import Path

    mini, app, store, agent, kiosk, kapp = chain
    admin = login(app, "admin", "admin password 1")
    save(admin, SETTINGS, "开放时间调整")
    publish(admin, 1)
    wait_for(lambda: (report(store) or {}).get("status") == "applied", timeout=20)
    central = next(s for s in mini.served if s.app is app)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(central.url + "configs/")
    page.fill("#username", "admin")
    page.fill("#password", "admin password 1")
    page.click("button[type=submit]")
    page.wait_for_selector("textarea#settings")
    text = page.inner_text("main")
    assert "kiosk-01" in text and "applied" in text and "开放时间调整" in text
    out = Path(__file__).resolve().parent.parent / "var" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=out / "admin-configs.png", full_page=True)
    page.close()


def announce(client, text: str, hall: str = HALL):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/announcements/").get_data(as_text=True)).group(1)
    return client.post("/announcements/", data={"text": text, "hall": hall, "csrf_token": token})


def kiosk_home(kiosk) -> str:
    with urllib.request.urlopen(kiosk.url, timeout=5) as r:
        return r.read().decode()


def test_announcement_reaches_the_kiosk_and_survives_the_centre_going_away(chain, broker, browser):
    from .test_kiosk_states import shot

    mini, app, store, agent, kiosk, kapp = chain
    admin = login(app, "admin", "admin password 1")
    assert announce(admin, "本周六上午 9 点至 11 点停水，请提前储水。").status_code == 302
    wait_for(lambda: "本周六上午 9 点至 11 点停水" in kiosk_home(kiosk), timeout=20)
    assert "公告" in kiosk_home(kiosk)
    shot(browser, kiosk.url, "announcement")  # screenshot + touch, text and contrast checks

    # The centre goes away; the edge restarts with the broker's retained copy gone: the
    # edge's own copy (edge.db) is what the kiosk sees.
    central = next(s for s in mini.served if s.app is app)
    central.stop()
    agent.close()
    mini.closers.remove(agent.close)
    wiper = broker.client("edge", kind="tool", session=99)
    wiper.publish_raw(contract.ANNOUNCEMENT.topic(hall=HALL), b"", qos=1, retain=True).wait_for_publish(5)
    wiper.close()
    kapp.extensions["hall_status"].announcement = ""
    from edge_agent.agent import EdgeAgent

    again = EdgeAgent(agent.config)
    again.start()
    mini.closers.append(again.close)
    wait_for(lambda: "本周六上午 9 点至 11 点停水" in kiosk_home(kiosk), timeout=20)


def test_announcement_is_cleared_and_bad_ones_refused(chain):
    mini, app, store, agent, kiosk, kapp = chain
    admin = login(app, "admin", "admin password 1")
    announce(admin, "电梯年检：3 号楼电梯明天停用。", hall="*")  # for every hall
    wait_for(lambda: "电梯年检" in kiosk_home(kiosk), timeout=20)
    announce(admin, "")
    wait_for(lambda: "电梯年检" not in kiosk_home(kiosk), timeout=20)
    before = store.scalar("SELECT count(*) FROM content")
    assert announce(admin, "长" * 201).status_code == 303
    assert "最多 200 字" in admin.get("/announcements/").get_data(as_text=True)
    assert announce(admin, "x", hall="nowhere").status_code == 303
    assert "没有这个服务中心" in admin.get("/announcements/").get_data(as_text=True)
    assert store.scalar("SELECT count(*) FROM content") == before
    viewer = login(app, "auditor", "auditor password 1")
    assert announce(viewer, "not allowed").status_code == 403
    audit = admin.get("/configs/").get_data(as_text=True)
    assert "announcement.publish" in audit and "announcement.clear" in audit
