"""A new hall at the centre, before any of its Pis exists: an admin adds it on the halls
page (in Chromium), then adds its devices; a bad id, an empty name, a long region or an id
already taken is refused with the field named in both languages and writes nothing; only an
admin may add one (the role matrix, tests/test_centre_roles.py, covers the route too)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from central_sync.server import accounts, credentials

from .helpers.central import central_app
from .minihall import Served
from .helpers.screens import to_docs

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "centre"
PASSWORD = "halls password 1"


@pytest.fixture
def centre(tmp_path, central_db):
    """The centre on SQLite and on PostgreSQL, one hall, an admin and a hall manager."""
    app, store, _ = central_app(tmp_path, central_db, halls=())
    credentials.register_hall(store, "east-a", "东区甲")
    accounts.add(store, "boss", PASSWORD, "admin", [], by="test")
    accounts.add(store, "mgr", PASSWORD, "manager", ["east-a"], by="test")
    yield app, store
    store.close()
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()


def login(app, user: str):
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    assert c.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return c, re.search(r'name="csrf_token" value="([^"]+)"', c.get("/halls").get_data(as_text=True)).group(1)


def written(store) -> tuple:
    return store.query("SELECT hall_id, name, region FROM halls ORDER BY hall_id"), store.scalar("SELECT count(*) FROM audit_log")


@pytest.mark.parametrize("central_db", ["postgresql"], indirect=True)
def test_an_admin_adds_a_hall_then_its_first_device(centre, browser):
    app, store = centre
    served = Served(app)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(served.url + "login")
        page.fill("#username", "boss")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#fleet-updated")  # the fleet view links every area
        page.click("text=服务中心 · Halls →")
        page.wait_for_selector("#hall_id")
        page.fill("#hall_id", "West B")  # not an id: refused, named, what was typed kept
        page.fill("#name", "西区乙物业客户服务中心")
        page.fill("#region", "成都")
        page.click("#add ~ form button")
        page.wait_for_selector("#error[data-field=hall_id]")
        assert "Id: lower-case letters" in page.inner_text("#error")
        assert page.input_value("#name") == "西区乙物业客户服务中心"
        page.screenshot(path=SHOTS / "halls-refused.png", full_page=True)
        page.fill("#hall_id", "west-b")
        page.click("#add ~ form button")
        page.wait_for_selector("text=Added hall 西区乙物业客户服务中心 (west-b)")  # on the devices page, the next step
        assert page.input_value("select#hall") == "west-b"
        page.goto(served.url + "halls")
        page.wait_for_selector("td:text('west-b')")
        assert "成都" in page.inner_text("table")
        page.screenshot(path=SHOTS / "halls.png", full_page=True)
        to_docs(SHOTS / "halls.png", "centre-halls.png")
        page.close()
    finally:
        served.stop()
    assert store.query("SELECT hall_id, name, region FROM halls WHERE hall_id = 'west-b'") == [
        {"hall_id": "west-b", "name": "西区乙物业客户服务中心", "region": "成都"}]
    line = store.query("SELECT username, action, hall_id FROM audit_log WHERE action = 'hall.add'")
    assert line == [{"username": "boss", "action": "hall.add", "hall_id": "west-b"}]


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"hall_id": "Bad Id", "name": "新厅"}, "hall_id", "Id: lower-case letters"),
    ({"hall_id": "", "name": "新厅"}, "hall_id", "Id: lower-case letters"),
    ({"hall_id": "new-hall", "name": "  "}, "name", "Name: 1 to 60 characters"),
    ({"hall_id": "new-hall", "name": "厅" * 61}, "name", "Name: 1 to 60 characters"),
    ({"hall_id": "new-hall", "name": "新厅", "region": "区" * 33}, "region", "Region: at most 32 characters"),
    ({"hall_id": "east-a", "name": "改名"}, "hall_id", "there is already a hall east-a"),
])
def test_bad_input_is_refused_with_the_field_named_and_writes_nothing(centre, form, field, message):
    app, store = centre
    client, token = login(app, "boss")
    before = written(store)
    answer = client.post("/halls", data={**form, "csrf_token": token})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert f'data-field="{field}"' in page and message in page
    assert written(store) == before
    assert store.scalar("SELECT name FROM halls WHERE hall_id = 'east-a'") == "东区甲"  # not renamed by a duplicate


def test_a_hall_manager_cannot_add_a_hall_nor_sees_the_form(centre):
    app, store = centre
    client, token = login(app, "mgr")
    assert 'id="hall_id"' not in client.get("/halls").get_data(as_text=True)
    before = written(store)
    assert client.post("/halls", data={"hall_id": "mine", "name": "我的厅", "csrf_token": token}).status_code == 403
    assert written(store) == before
