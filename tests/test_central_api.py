"""The sync API over HTTP semantics, on SQLite and on a real PostgreSQL: credentials, every
refusal with its status and a clear message, exactly-once apply, and the OpenAPI document
against the real routes."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from central_sync.server import credentials

from .helpers.central import central_app


@pytest.fixture
def centre(central_db, tmp_path):
    app, store, tokens = central_app(tmp_path, central_db, max_batch_bytes=64 * 1024)
    yield app, store, tokens
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    store.close()


def record() -> dict:
    return {"id": str(uuid.uuid4()), "kind": "complaint", "node": "kiosk-01", "ts": time.time(), "body": {"text": "电梯异响"}}


def post(app, token: str | None, payload, **headers):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    h.update(headers)
    data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return app.test_client().post("/api/v1/sync/batches", data=data, headers=h, content_type=headers.pop("ct", "application/json"))


def test_batch_is_acknowledged_and_a_replay_is_duplicates(centre):
    app, store, tokens = centre
    batch = {"hall_id": "h1", "sent_at": time.time(), "records": [record() for _ in range(10)]}
    first = post(app, tokens["h1"], batch)
    assert first.status_code == 200 and len(first.json["applied"]) == 10
    again = post(app, tokens["h1"], batch)
    assert again.status_code == 200 and len(again.json["duplicates"]) == 10 and again.json["applied"] == []
    assert store.scalar("SELECT count(*) FROM records") == 10


@pytest.mark.parametrize("token", [None, "made-up-token"])
def test_unknown_credentials_are_refused(centre, token):
    app, store, _ = centre
    r = post(app, token, {"hall_id": "h1", "sent_at": 1, "records": [record()]})
    assert r.status_code == 401 and r.json["code"] == "unauthorised"
    assert store.scalar("SELECT count(*) FROM records") == 0


def test_a_revoked_node_is_refused(centre):
    app, store, tokens = centre
    credentials.revoke(store, "h1", "edge")
    assert post(app, tokens["h1"], {"hall_id": "h1", "sent_at": 1, "records": [record()]}).status_code == 401


def test_a_node_cannot_write_another_halls_records(centre):
    app, store, tokens = centre
    r = post(app, tokens["h1"], {"hall_id": "h2", "sent_at": 1, "records": [record()]})
    assert r.status_code == 403 and "h2" in r.json["detail"]
    assert store.scalar("SELECT count(*) FROM records") == 0


def test_oversized_not_json_and_malformed_batches(centre):
    app, store, tokens = centre
    big = {"hall_id": "h1", "sent_at": 1, "records": [record() | {"body": {"text": "长" * 9000}} for _ in range(3)]}
    r = post(app, tokens["h1"], big)
    assert r.status_code == 413 and r.json["code"] == "too_large"
    r = post(app, tokens["h1"], "hall_id=h1", ct="application/x-www-form-urlencoded")
    assert r.status_code == 415
    bad = record() | {"kind": "bribe"}
    r = post(app, tokens["h1"], {"hall_id": "h1", "sent_at": 1, "records": [record(), bad]})
    assert r.status_code == 422 and r.json["detail"].startswith("records.1.kind")
    r = post(app, tokens["h1"], b"{not json")
    assert r.status_code == 422
    assert store.scalar("SELECT count(*) FROM records") == 0


def test_openapi_document_matches_the_routes(centre):
    app, _, _ = centre
    doc = app.test_client().get("/api/v1/openapi.json").json
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)  # Flask's <x> is OpenAPI's {x}
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == routed
    batch_schema = doc["components"]["schemas"]["Batch"]
    assert batch_schema["properties"]["records"]["maxItems"] == 500
    from central_sync.client import FEEDS

    # what the halls call (sync client feeds and batches; the edge's bills, rooms and payments)
    assert {(path, "GET") for path, _ in FEEDS.values()} | {
        ("/api/v1/sync/batches", "POST"), ("/api/v1/residents/bills", "POST"), ("/api/v1/residents/rooms", "GET"),
        ("/api/v1/payments/orders", "POST"), ("/api/v1/payments/orders/{order_id}", "GET")} <= documented
    for path, ops in doc["paths"].items():  # every answer says what its body is (schemathesis checks it)
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                assert answer["content"]["application/json"]["schema"], (path, method, status)
    for op in doc["paths"]["/api/v1/sync/batches"]["post"]["responses"].values():
        assert op["description"]


def test_admin_console_shows_halls_from_the_same_database(centre, tmp_path):
    app, store, tokens = centre
    post(app, tokens["h1"], {"hall_id": "h1", "sent_at": 1, "records": [record(), record()]})
    from hall_common.auth import set_password
    from central_sync.server.db import StoreUsers

    set_password(StoreUsers(store), "admin", "admin password 1", "admin")
    c = app.test_client()
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": "admin", "password": "admin password 1", "csrf_token": token})
    page = c.get("/halls").get_data(as_text=True)  # "/" is the fleet view (test_fleet.py)
    assert "幸福里" in page and "长寿苑" in page and ">2<" in page


@pytest.mark.parametrize("feed", ["configs", "content"])
def test_pull_feeds_need_a_credential_and_a_whole_number_cursor(centre, feed):
    app, store, tokens = centre
    c = app.test_client()
    assert c.get(f"/api/v1/sync/{feed}").status_code == 401
    r = c.get(f"/api/v1/sync/{feed}?after=abc", headers={"Authorization": f"Bearer {tokens['h1']}"})
    assert r.status_code == 422 and r.json["detail"].startswith("after")
    r = c.get(f"/api/v1/sync/{feed}?after=0", headers={"Authorization": f"Bearer {tokens['h1']}"})
    assert r.status_code == 200 and r.json == {"items": [], "cursor": 0}


def test_a_hall_pulls_its_own_and_every_halls_content_only(centre):
    app, store, tokens = centre
    for hall, text in (("h1", "一号"), ("h2", "二号"), ("*", "全部")):
        store.execute("INSERT INTO content (hall_id, kind, key, body, deleted, published_by, published_at) "
                      "VALUES (?, 'announcement', 'line', ?, ?, 'admin', 0)", (hall, json.dumps({"text": text}), False))
    r = app.test_client().get("/api/v1/sync/content?after=0", headers={"Authorization": f"Bearer {tokens['h1']}"})
    assert [i["body"]["text"] for i in r.json["items"]] == ["一号", "全部"]
    after = r.json["cursor"]
    r = app.test_client().get(f"/api/v1/sync/content?after={after}", headers={"Authorization": f"Bearer {tokens['h1']}"})
    assert r.json["items"] == [] and r.json["cursor"] == after
