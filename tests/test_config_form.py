"""Kiosk settings in a form (issue 18 item 2), through the real chain of
tests/test_config_push.py: admin console -> centre -> edge -> hall bus -> kiosk.

A service renamed in the form is seen in the preview (the kiosk's own pages rendered at the
centre), published to one kiosk and shown on its home screen; a bad value is refused with
the field named and nothing saved; the diff shows the changed line; rolling back makes a
new, higher version with the old content, which the kiosk applies."""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from pathlib import Path

import pytest
import tomli_w
from werkzeug.datastructures import MultiDict

from central_sync.server import config_form, credentials
from central_sync.server.db import StoreUsers
from hall_common.auth import set_password
from hall_common.config import KioskSettings

from .conftest import HALL, wait_for
from .minihall import SETTINGS
from .test_config_push import csrf, login, publish, report, save

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots" / "centre"

SERVICES = [
    {"id": "procedures", "name_zh": "手续办理", "name_en": "Procedures", "prefix": "A"},
    {"id": "certificates", "name_zh": "证明开具", "name_en": "Certificates", "prefix": "B", "priority": False},
    {"id": "repair", "name_zh": "报事报修", "name_en": "Repairs", "prefix": "D", "first": 100, "last": 499},
]
ALWAYS_OPEN = {"holidays": "none", "periods": [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "24:00"}]}
"""Hours that keep the kiosk's queue screen and the edge's queue open whenever the test runs."""
WITH_SERVICES = {**SETTINGS, "hours": {**SETTINGS["hours"], **ALWAYS_OPEN}, "services": SERVICES}


@pytest.fixture
def chain(mini):
    """tests/test_config_push.py's chain, with the edge's queue open at any hour."""
    from central_sync.signing import public_key_b64

    central, store, token = mini.registered_centre()
    app = central.app
    set_password(StoreUsers(store), "admin", "admin password 1", "admin")
    agent = mini.edge(centre_url=central.url, token=token, queue={"hours": ALWAYS_OPEN})
    kiosk, kapp = mini.kiosk(public_key=public_key_b64(app.extensions["config_key"]))
    wait_for(lambda: store.scalar("SELECT count(*) FROM hall_nodes WHERE node_id = 'kiosk-01'"), timeout=20)
    yield mini, app, store, agent, kiosk, kapp


def to_docs(*names: str) -> None:
    """docs/kiosk-settings.md shows these screenshots: taken anew with UPDATE_DOC_SCREENS=1
    (as tests/test_kiosk_pages.py does), else the committed ones stay and must be named."""
    docs = ROOT / "docs" / "screens"
    for name in names:
        if os.environ.get("UPDATE_DOC_SCREENS"):
            shutil.copy(SHOTS / name, docs / name)
        assert (docs / name).exists() and f"screens/{name}" in (ROOT / "docs" / "kiosk-settings.md").read_text(encoding="utf-8")


def kiosk_page(kiosk, path: str = "") -> str:
    with urllib.request.urlopen(kiosk.url + path, timeout=5) as r:
        return r.read().decode()


def versions(store) -> int:
    return store.scalar("SELECT count(*) FROM configs")


def posted(page: str) -> MultiDict:
    """The fields of the settings form in ``page`` as a browser would post them."""
    form = page[page.index('id="settings-form"'):]
    data = MultiDict()
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        kind = (re.search(r'type="([^"]+)"', tag) or [None, "text"])[1]
        if kind == "checkbox" and " checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        data.add(name.group(1), _unescape(value.group(1)) if value else ("on" if kind == "checkbox" else ""))
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        data.add(name, _unescape(body))
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options) or re.search(r'<option value="([^"]*)"', options)
        data.add(name, _unescape(chosen.group(1)))
    return data


def set_fields(data: MultiDict, values: dict[str, str]) -> None:
    for key, value in values.items():
        data[key] = value  # replaces; MultiDict.update would add a second value


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


# -- the form's mapping, alone ------------------------------------------------------------

def test_a_version_round_trips_through_the_form_unchanged():
    body = KioskSettings.model_validate({
        **WITH_SERVICES, "idle": {"form_s": 120}, "panel": {"diagonal_in": 21.5},
        "hours": {**SETTINGS["hours"], "closed_dates": ["2026-10-08"], "periods": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:30", "close": "12:00"},
            {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "13:30", "close": "18:00"},
            {"days": ["sat"], "open": "09:00", "close": "12:00"}]},
    }).model_dump(mode="json", exclude_none=True)
    form = config_form.from_settings(body)
    assert form.hours["mon"] == [("08:30", "12:00"), ("13:30", "18:00")] and form.hours["sun"] == [("", ""), ("", "")]
    settings, problems = config_form.check(form)
    assert problems == []
    assert settings.model_dump(mode="json", exclude_none=True) == body


def test_schema_errors_are_named_by_the_form_label():
    form = config_form.from_settings(WITH_SERVICES)
    form.services[0]["prefix"] = "ABC"
    form.services[1]["first"], form.services[1]["last"] = "50", "10"
    form.hours["tue"] = [("09:00", ""), ("", "")]
    form.values["idle.form_s"] = "3"
    form.values["hours.closed_dates"] = "2026-10-08\n2026-13-01"
    _, problems = config_form.check(form)
    named = {p.field: p.label for p in problems}
    assert named["services.0.prefix"] == "服务 1 · Service 1: 号码前缀 · Ticket prefix"
    assert named["services.1.first"] == "服务 2 · Service 2: 号码范围 · Number range"
    assert "周二 · Tue" in named["hours.tue.0.close"]
    assert named["idle.form_s"].startswith("填写页无操作返回")
    assert named["hours.closed_dates"].endswith("（第 2 行 · line 2）")


# -- the whole chain ---------------------------------------------------------------------

def _login_page(browser, central, user: str = "admin", password: str = "admin password 1"):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(central.url + "login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("header")
    return page


def test_edit_preview_publish_then_roll_back_reaches_the_kiosk(chain, browser):
    mini, app, store, agent, kiosk, kapp = chain
    central = next(s for s in mini.served if s.app is app)
    admin = login(app, "admin", "admin password 1")
    assert save(admin, WITH_SERVICES, "服务名称").status_code == 302
    assert publish(admin, 1).status_code == 302
    wait_for(lambda: (report(store) or {}).get("version") == 1 and report(store)["status"] == "applied", timeout=20)
    assert "手续办理" in kiosk_page(kiosk)

    page = _login_page(browser, central)
    page.goto(central.url + f"configs/form?hall={HALL}")
    assert page.input_value("[name='services.0.name_zh']") == "手续办理"  # what the hall's kiosks run
    assert "基于版本 1" in page.inner_text("h2")
    page.fill("[name='services.0.name_zh']", "产权手续办理")
    page.click("#do-preview")
    frame = page.wait_for_selector("#preview-home").content_frame()
    frame.wait_for_selector(".tile-services")
    assert "产权手续办理" in frame.inner_text(".tile-services")
    queue = page.wait_for_selector("#preview-queue").content_frame()
    queue.wait_for_selector(".service-name")
    assert "产权手续办理" in queue.inner_text(".services") and "实时" in queue.inner_text(".services")
    assert versions(store) == 1  # a preview saves nothing
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "config-preview.png", full_page=False)
    page.locator("#preview").scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "config-form.png", full_page=True)

    page.fill("#note", "改名：产权手续办理")
    page.select_option("#publish", "kiosk-01")
    page.click("#do-save")
    page.wait_for_selector("text=已保存版本 2")
    assert versions(store) == 2
    wait_for(lambda: "产权手续办理" in kiosk_page(kiosk), timeout=20)
    wait_for(lambda: (report(store) or {}).get("version") == 2, timeout=20)
    choose = kiosk_page(kiosk, "queue/")  # the edge's live services, named as configured, only those offered
    assert "产权手续办理" in choose and "证明开具" in choose and "费用缴纳" not in choose
    assert choose.count("此业务不设优先") == 1  # certificates: priority not allowed
    # A ticket says what the choice screen said; priority is not given where it is not allowed.
    client = kapp.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/queue/").get_data(as_text=True)).group(1)
    for service, name in (("procedures", "产权手续办理"), ("certificates", "证明开具")):
        r = client.post("/queue/take", data={"csrf_token": token, "service": service, "priority": "yes", "paper": "no"})
        assert r.headers["Location"].endswith("/queue/ticket"), r.headers["Location"]
        label = re.search(r'<p class="ticket-label">(.*?)</p>', client.get("/queue/ticket").get_data(as_text=True)).group(1)
        assert label.startswith(name) and (("优先" in label) == (service == "procedures")), label
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/queue/").get_data(as_text=True)).group(1)
    shown = browser.new_page(viewport={"width": 1920, "height": 1080})
    shown.goto(kiosk.url)
    assert "产权手续办理" in shown.inner_text(".tile-queue")
    shown.screenshot(path=SHOTS / "config-kiosk-home.png")
    shown.goto(kiosk.url + "queue/")
    assert "此业务不设优先" in shown.inner_text(".services")
    shown.screenshot(path=SHOTS / "config-kiosk-queue.png")
    shown.close()

    page.goto(central.url + "configs/diff?a=1&b=2")
    changed = page.inner_text("table.diff tr.changed")
    assert "手续办理" in changed and "产权手续办理" in changed
    assert "服务 1 · Service 1: 中文名称 · Chinese name" in page.inner_text("table.changes")
    page.screenshot(path=SHOTS / "config-diff.png", full_page=True)

    page.goto(central.url + f"configs/versions?hall={HALL}")
    page.click("#v1 button.rollback")
    page.wait_for_selector("text=已回滚")
    page.screenshot(path=SHOTS / "config-versions.png", full_page=True)
    assert versions(store) == 3
    assert json.loads(store.query("SELECT body FROM configs WHERE version = 3")[0]["body"]) == \
        json.loads(store.query("SELECT body FROM configs WHERE version = 1")[0]["body"])
    wait_for(lambda: (report(store) or {}).get("version") == 3 and report(store)["status"] == "applied", timeout=20)
    home = kiosk_page(kiosk)
    assert "产权手续办理" not in home and "手续办理" in home
    actions = [r["action"] for r in store.query("SELECT action FROM audit_log ORDER BY id")]
    assert "config.rollback" in actions
    page.close()
    to_docs("config-preview.png", "config-diff.png", "config-versions.png")


def test_bad_values_are_refused_in_the_form_with_the_field_named(chain, browser):
    mini, app, store, agent, kiosk, kapp = chain
    central = next(s for s in mini.served if s.app is app)
    admin = login(app, "admin", "admin password 1")
    save(admin, WITH_SERVICES, "v1")
    page = _login_page(browser, central)
    page.goto(central.url + "configs/form")
    page.fill("[name='services.0.prefix']", "ABC")
    page.fill("[name='services.2.first']", "600")  # above its last, 499
    page.fill("[name='info.service_phone']", "1")
    page.click("#do-save")
    alert = page.wait_for_selector(".problems").inner_text()
    assert "未保存" in alert and "not saved" in alert
    assert "服务 1 · Service 1: 号码前缀 · Ticket prefix" in alert
    assert "服务 3 · Service 3: 号码范围 · Number range" in alert
    assert "服务电话 · Service phone" in alert
    # The values typed are kept, the bad fields marked.
    assert page.input_value("[name='services.0.prefix']") == "ABC"
    assert page.get_attribute("[name='services.0.prefix']", "aria-invalid") == "true"
    assert page.input_value("[name='services.2.first']") == "600"
    page.screenshot(path=SHOTS / "config-form-refused.png", full_page=True)
    page.close()
    to_docs("config-form-refused.png")
    assert versions(store) == 1


def test_rows_are_added_and_removed_and_preview_is_read_only(chain):
    mini, app, store, agent, kiosk, kapp = chain
    admin = login(app, "admin", "admin password 1")
    save(admin, WITH_SERVICES, "v1")
    data = posted(admin.get("/configs/form").get_data(as_text=True))
    data["op"] = "add-services"
    page = admin.post("/configs/form/draft", data=data).get_data(as_text=True)
    assert 'name="services.3.id"' in page
    data = posted(page)
    set_fields(data, {"services.3.id": "payment", "services.3.name_zh": "费用缴纳", "services.3.name_en": "Payments",
                      "services.3.prefix": "F", "services.1.remove": "on", "note": "rows", "op": "save"})
    assert admin.post("/configs/form", data=data).status_code == 302
    body = json.loads(store.query("SELECT body FROM configs WHERE version = 2")[0]["body"])
    assert [s["id"] for s in body["services"]] == ["procedures", "repair", "payment"]
    assert [(c["name_zh"], c["available"], c["hours"]) for c in body["info"]["conveniences"]] == [
        (c["name_zh"], c.get("available", True), c.get("hours", "")) for c in SETTINGS["info"]["conveniences"]]
    page = admin.get("/configs/2/preview").get_data(as_text=True)
    src = re.search(r'id="preview-home"[^>]*src="([^"]+)"', page).group(1)
    framed = admin.get(src)
    assert framed.status_code == 200 and "费用缴纳" in framed.get_data(as_text=True)
    assert framed.headers["X-Frame-Options"] == "SAMEORIGIN" and "Set-Cookie" not in framed.headers
    assert admin.post(src, data={"csrf_token": csrf(admin)}).status_code == 405
    assert admin.get(src.replace("/zh_CN/", "/en/")).get_data(as_text=True).count("Payments") >= 1
    forged = src.split("/configs/preview/")[1].split("/")[0][:-4] + "AAAA"
    assert admin.get(f"/configs/preview/{forged}/zh_CN/").status_code == 404
    # No service allows priority: the queue screen does not ask.
    save(admin, {**SETTINGS, "services": [{**s, "priority": False} for s in SERVICES]}, "no priority")
    page = admin.get("/configs/3/preview").get_data(as_text=True)
    queue = admin.get(re.search(r'id="preview-queue"[^>]*src="([^"]+)"', page).group(1)).get_data(as_text=True)
    assert "报事报修" in queue and 'name="priority"' not in queue
    assert 'name="priority"' in admin.get(src.replace("/zh_CN/", "/zh_CN/queue/")).get_data(as_text=True)


def test_roles_and_halls(chain):
    mini, app, store, agent, kiosk, kapp = chain
    admin = login(app, "admin", "admin password 1")
    save(admin, WITH_SERVICES, "v1")
    save(admin, SETTINGS, "v2")
    credentials.register_hall(store, "t9", "别的大厅")
    users = StoreUsers(store)
    set_password(users, "auditor", "auditor password 1", "auditor")
    set_password(users, "mgr", "manager password 1", "manager")
    store.execute("INSERT INTO user_halls (username, hall_id) VALUES ('mgr', 't9')")
    auditor = login(app, "auditor", "auditor password 1")
    assert auditor.get(f"/configs/form?hall={HALL}").status_code == 200
    assert auditor.get("/configs/diff?a=1&b=2").status_code == 200
    token = csrf(auditor)
    assert auditor.post("/configs/1/rollback", data={"hall": HALL, "csrf_token": token}).status_code == 403
    assert auditor.post("/configs/1/publish-to", data={"hall": HALL, "csrf_token": token}).status_code == 403
    mgr = login(app, "mgr", "manager password 1")
    assert mgr.get(f"/configs/form?hall={HALL}").status_code == 403
    assert mgr.get(f"/configs/versions?hall={HALL}").status_code == 403
    assert "kiosk-01" not in mgr.get("/configs/versions").get_data(as_text=True)
    token = csrf(mgr)
    assert mgr.post("/configs/1/rollback", data={"hall": HALL, "csrf_token": token}).status_code == 403
    assert mgr.post("/configs/1/publish-to", data={"hall": HALL, "node": "kiosk-01", "csrf_token": token}).status_code == 403
    data = posted(admin.get(f"/configs/form?hall={HALL}").get_data(as_text=True))
    set_fields(data, {"csrf_token": token, "publish": "kiosk-01"})
    assert mgr.post("/configs/form", data=data).status_code == 403
    assert store.scalar("SELECT count(*) FROM config_assignments") == 0 and versions(store) == 2


@pytest.fixture
def centre(central_db, tmp_path):
    from .helpers.central import central_app

    app, store, _ = central_app(tmp_path, central_db)
    set_password(StoreUsers(store), "admin", "admin password 1", "admin")
    for node in ("kiosk-01", "kiosk-02"):
        store.execute("INSERT INTO hall_nodes (hall_id, node_id, kind, sw, node_ts) VALUES ('h1', ?, 'kiosk', '0', 0)", (node,))
    yield app, store
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    store.close()


def test_form_publish_diff_and_roll_back_on_either_database(centre):
    """The centre's side alone, on SQLite and PostgreSQL: versions grow strictly, roll back
    goes only to the kiosks that run the current version, and everything is audited."""
    app, store = centre
    admin = login(app, "admin", "admin password 1")
    save(admin, WITH_SERVICES, "v1")
    data = posted(admin.get("/configs/form?hall=h1").get_data(as_text=True))
    set_fields(data, {"services.0.name_zh": "产权手续办理", "publish": "kiosk-01", "op": "save"})
    assert admin.post("/configs/form", data=data).status_code == 302
    assert [(r["node_id"], r["version"]) for r in store.query("SELECT node_id, version FROM config_assignments")] == [
        ("kiosk-01", 2)]
    page = admin.get("/configs/diff?a=1&b=2").get_data(as_text=True)
    assert "services.0.name_zh" in page and "产权手续办理" in page
    token = csrf(admin)
    assert admin.post("/configs/1/publish-to", data={"hall": "h1", "node": "kiosk-02", "csrf_token": token}).status_code == 302
    assert admin.post("/configs/1/rollback", data={"hall": "h1", "csrf_token": token}).status_code == 302
    rows = store.query("SELECT node_id, version FROM config_assignments ORDER BY seq")
    assert [(r["node_id"], r["version"]) for r in rows] == [("kiosk-01", 2), ("kiosk-02", 1), ("kiosk-01", 3)]
    v1, v3 = (store.query("SELECT body FROM configs WHERE version = ?", (v,))[0]["body"] for v in (1, 3))
    assert (json.loads(v1) if isinstance(v1, str) else v1) == (json.loads(v3) if isinstance(v3, str) else v3)
    actions = [r["action"] for r in store.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["config.create", "config.create", "config.publish", "config.publish", "config.rollback",
                       "config.publish"]
    page = admin.get("/configs/versions?hall=h1").get_data(as_text=True)
    assert "回滚到版本 1 · Roll back to version 1" in page
    assert admin.get("/configs/diff?a=1&b=99").status_code == 302  # no such version: back to the list


# -- the form's services number the edge's tickets -----------------------------------------

@pytest.fixture
def signed_chain(mini):
    """The chain with the edge following signed settings (its config_public_key), so the
    form's services reach the hall's queue."""
    from central_sync.signing import public_key_b64

    central, store, token = mini.registered_centre()
    app = central.app
    set_password(StoreUsers(store), "admin", "admin password 1", "admin")
    key = public_key_b64(app.extensions["config_key"])
    agent = mini.edge(centre_url=central.url, token=token, queue={"hours": ALWAYS_OPEN}, config_public_key=key)
    kiosk, kapp = mini.kiosk(public_key=key)
    wait_for(lambda: store.scalar("SELECT count(*) FROM hall_nodes WHERE node_id IN ('kiosk-01', 'edge')") == 2, timeout=20)
    # The hall's own services, as its edge tells the centre (the form checks against them).
    wait_for(lambda: store.scalar("SELECT count(*) FROM records WHERE kind = 'hall_status'"), timeout=20)
    yield mini, app, store, agent, kiosk, kapp


def take(kapp, service: str) -> str:
    """A ticket taken at the kiosk's queue screen, as a resident would: its number."""
    client = kapp.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/queue/").get_data(as_text=True)).group(1)
    r = client.post("/queue/take", data={"csrf_token": token, "service": service, "paper": "no"})
    assert r.headers["Location"].endswith("/queue/ticket"), r.headers["Location"]
    return re.search(r'<p class="ticket-number">(.*?)</p>', client.get("/queue/ticket").get_data(as_text=True)).group(1)


def test_a_prefix_and_range_changed_in_the_form_number_the_next_ticket_and_roll_back_restores_them(
        signed_chain, browser):
    mini, app, store, agent, kiosk, kapp = signed_chain
    central = next(s for s in mini.served if s.app is app)
    applier = next(c for c in agent.components if c.name == "settings")
    admin = login(app, "admin", "admin password 1")
    assert save(admin, WITH_SERVICES, "v1").status_code == 302
    assert publish(admin, 1).status_code == 302
    wait_for(lambda: applier.version == 1 and (report(store) or {}).get("version") == 1, timeout=30)
    assert take(kapp, "repair") == "D100"  # version 1: repairs D, 100-499
    assert agent.queue.engine.services["certificates"].priority_allowed is False

    page = _login_page(browser, central)
    page.goto(central.url + f"configs/form?hall={HALL}")
    assert page.input_value("[name='services.2.prefix']") == "D"
    # A service the hall's queue does not have, and a prefix another of its services has
    # (consult is C): refused, each field named, nothing saved.
    page.fill("[name='services.0.id']", "notary")
    page.fill("[name='services.2.prefix']", "C")
    page.select_option("#publish", "*")
    page.click("#do-save")
    alert = page.wait_for_selector(".problems").inner_text()
    assert "服务 1 · Service 1: 编号 · id" in alert and "not one of this hall queue's services" in alert
    assert "服务 3 · Service 3: 号码前缀 · Ticket prefix" in alert and "consult" in alert
    assert page.get_attribute("[name='services.0.id']", "aria-invalid") == "true"
    page.screenshot(path=SHOTS / "config-services-refused.png", full_page=True)
    to_docs("config-services-refused.png")
    assert versions(store) == 1

    page.fill("[name='services.0.id']", "procedures")
    page.fill("[name='services.2.prefix']", "R")
    page.fill("[name='services.2.first']", "500")
    page.fill("[name='services.2.last']", "799")
    page.fill("#note", "报修改用 R500-799")
    page.select_option("#publish", "*")
    page.click("#do-save")
    page.wait_for_selector("text=已保存版本 2")
    edge_doc = store.query("SELECT doc FROM config_assignments WHERE node_id = 'edge' AND version = 2")
    assert len(edge_doc) == 1  # signed for the edge in the same transaction, with the same version
    wait_for(lambda: applier.version == 2, timeout=30)
    assert take(kapp, "repair") == "R500"  # the next ticket: new prefix, new range
    assert take(kapp, "procedures") == "A001"  # the others as they were
    wait_for(lambda: store.scalar("SELECT count(*) FROM config_reports WHERE node_id = 'edge' AND version = 2 "
                                  "AND status = 'applied'"), timeout=30)

    page.goto(central.url + f"configs/versions?hall={HALL}")
    page.click("#v1 button.rollback")
    page.wait_for_selector("text=已回滚")
    wait_for(lambda: applier.version == 3, timeout=30)
    # The old prefix again; today's repairs are already past 499, so they go on from the
    # counter until the next service day (numbers are never reused within a day).
    assert take(kapp, "repair") == "D501"
    actions = [r["action"] for r in store.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("config.publish_edge") == 3
    page.close()


def test_the_edge_rolls_back_services_its_queue_cannot_run(tmp_path):
    """The edge's own check, whatever the centre checked: a service it does not have, or a
    prefix an unlisted service of the hall already has, is named; a good one is laid over
    the file's services, keeping what the document leaves out."""
    from edge_agent.settings_apply import EdgeSettingsApplier
    from hall_common.config import EdgeConfig, EdgeSettings

    config = EdgeConfig(hall_id="t1", hall_name="测试大厅", node_id="edge", data_dir=tmp_path, http={"port": 1},
                        broker={"password_file": tmp_path / "pw"})
    applier = EdgeSettingsApplier(config, None, None, public_key="")
    assert "'notary' is not one of the hall's" in applier.self_check(EdgeSettings(services=[{"id": "notary"}]))
    clash = EdgeSettings(services=[{"id": "repair", "prefix": "C"}])  # consult is C
    assert "prefix 'C' is used twice" in applier.self_check(clash)
    queue, problem = applier.laid_over(EdgeSettings(services=[{"id": "repair", "prefix": "R", "first": 500, "last": 799}]))
    repair = next(s for s in queue.services if s.id == "repair")
    assert problem is None and (repair.prefix, repair.first, repair.last, repair.name_zh) == ("R", 500, 799, "报事报修")


def test_an_older_version_cannot_take_the_services_back_from_a_newer_edge_document(centre):
    """On either database: publishing signs the hall's edge the version's services with the
    same version number; publishing an older version with other services would be refused
    by the edge, so the centre refuses it and writes nothing (roll back makes a new one)."""
    app, store = centre
    store.execute("INSERT INTO hall_nodes (hall_id, node_id, kind, sw, node_ts) VALUES ('h1', 'edge', 'edge', '0', 0)")
    admin = login(app, "admin", "admin password 1")
    save(admin, WITH_SERVICES, "v1")
    data = posted(admin.get("/configs/form?hall=h1").get_data(as_text=True))
    set_fields(data, {"services.2.prefix": "R", "publish": "*", "op": "save"})
    assert admin.post("/configs/form", data=data).status_code == 302
    rows = store.query("SELECT version, doc FROM config_assignments WHERE node_id = 'edge'")
    doc = rows[0]["doc"] if isinstance(rows[0]["doc"], dict) else json.loads(rows[0]["doc"])
    assert [r["version"] for r in rows] == [2]
    assert [(s["id"], s["prefix"], s["priority_allowed"]) for s in doc["body"]["services"]] == [
        ("procedures", "A", True), ("certificates", "B", False), ("repair", "R", True)]
    before = store.scalar("SELECT count(*) FROM config_assignments")
    r = admin.post("/configs/1/publish-to", data={"hall": "h1", "csrf_token": csrf(admin)}, follow_redirects=True)
    assert "未发布" in r.get_data(as_text=True) and "roll back to this" in r.get_data(as_text=True)
    assert store.scalar("SELECT count(*) FROM config_assignments") == before
    assert admin.post("/configs/1/rollback", data={"hall": "h1", "csrf_token": csrf(admin)}).status_code == 302
    assert [r["version"] for r in store.query("SELECT version FROM config_assignments WHERE node_id = 'edge' "
                                              "ORDER BY version")] == [2, 3]


def test_a_kiosk_rollout_signs_the_hall_edge_and_an_edge_rollout_keeps_its_services(centre):
    """On either database: the queue services go with a kiosk rollout's first stage in the
    hall; an edge settings version rolled out later (the priority rule) keeps them."""
    app, store = centre
    store.execute("INSERT INTO hall_nodes (hall_id, node_id, kind, sw, node_ts) VALUES ('h1', 'edge', 'edge', '0', 0)")
    admin = login(app, "admin", "admin password 1")
    save(admin, WITH_SERVICES, "v1")

    def roll(version: int, first: str) -> None:
        r = admin.post("/rollouts/", data={"version": str(version), "halls": "h1", "stages": first, "gate_minutes": "0",
                                           "csrf_token": csrf(admin)})
        assert r.status_code == 302, r.get_data(as_text=True)

    def edge_body(version: int) -> dict:
        doc = store.query("SELECT doc FROM config_assignments WHERE node_id = 'edge' AND version = ?", (version,))[0]["doc"]
        return (doc if isinstance(doc, dict) else json.loads(doc))["body"]

    roll(1, "kiosk-01")
    assert [(s["id"], s["prefix"], s["first"]) for s in edge_body(1)["services"]] == [
        ("procedures", "A", 1), ("certificates", "B", 1), ("repair", "D", 100)]
    r = admin.post("/rollouts/settings", data={"target": "edge", "settings": tomli_w.dumps({
        "priority_per_normal": 1, "services": [{"id": "repair", "priority_allowed": False}]}), "note": "",
        "csrf_token": csrf(admin)})
    assert r.status_code == 302
    roll(2, "edge")
    body = edge_body(2)
    assert body["priority_per_normal"] == 1
    assert [(s["id"], s["prefix"], s["priority_allowed"]) for s in body["services"]] == [
        ("procedures", "A", True), ("certificates", "B", False), ("repair", "D", False)]
