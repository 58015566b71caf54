"""Admins saving at the same moment, on SQLite and on a real PostgreSQL.

Two of the centre's writes decide from what the rows say before them: the next
configuration version (the largest plus one) and the next version of a disclosure. No
single statement can do either, so each transaction first takes ``Store.lock`` on what it
decides about. Saves made at once must get distinct numbers, and none may fail with a
server error. On PostgreSQL, two transactions would otherwise read the same largest
version; on SQLite, ``BEGIN IMMEDIATE`` already makes them wait their turn.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Callable

import pytest
import tomli_w

from central_sync.server.db import StoreUsers
from hall_common.auth import set_password

from .helpers.central import central_app
from .minihall import SETTINGS

ADMINS = 6
ROUNDS = 4


@pytest.fixture
def centre(central_db, tmp_path):
    app, store, _ = central_app(tmp_path, central_db, halls=("h1",))
    set_password(StoreUsers(store), "admin", "admin password 1", "admin")
    yield app, store
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    store.close()


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def admins(app, page: str) -> list[tuple[Any, str]]:
    """``ADMINS`` logged-in consoles, each with its form token for ``page``."""
    out = []
    for _ in range(ADMINS):
        c = app.test_client()
        c.post("/login", data={"username": "admin", "password": "admin password 1", "csrf_token": csrf(c, "/login")})
        out.append((c, csrf(c, page)))
    return out


def at_once(consoles: list[tuple[Any, str]], post: Callable[[Any, str, int], Any]) -> list[int]:
    """Every console posts ``ROUNDS`` times, all starting together; the status codes."""
    gate = threading.Barrier(len(consoles))
    codes: list[int] = []

    def run(console: tuple[Any, str]) -> None:
        client, token = console
        gate.wait()
        for n in range(ROUNDS):
            codes.append(post(client, token, n).status_code)

    threads = [threading.Thread(target=run, args=(c,)) for c in consoles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return codes


def test_configurations_saved_at_once_get_one_version_each(centre):
    app, store = centre
    settings = tomli_w.dumps(SETTINGS)
    codes = at_once(admins(app, "/configs/"), lambda c, token, n: c.post(
        "/configs/", data={"settings": settings, "note": f"round {n}", "csrf_token": token}))
    assert codes == [302] * ADMINS * ROUNDS
    versions = [r["version"] for r in store.query("SELECT version FROM configs ORDER BY version")]
    assert versions == list(range(1, ADMINS * ROUNDS + 1))
    assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'config.create'") == ADMINS * ROUNDS


def test_versions_of_one_disclosure_published_at_once_are_numbered_once_each(centre):
    app, store = centre
    consoles = admins(app, "/disclosures/")
    form = {"category": "fees", "title": "收费标准", "effective_date": "2026-01-01", "body": "按月缴纳", "table": "",
            "hall": "*"}
    client, token = consoles[0]
    assert client.post("/disclosures/", data={**form, "csrf_token": token}).status_code == 302
    item = store.scalar("SELECT key FROM content WHERE kind = 'disclosure'")
    codes = at_once(consoles, lambda c, token, n: c.post(
        "/disclosures/", data={**form, "id": item, "body": f"按月缴纳（第 {n} 次修订）", "csrf_token": token}))
    assert codes == [302] * ADMINS * ROUNDS
    bodies = [r["body"] for r in store.query("SELECT body FROM content WHERE kind = 'disclosure' ORDER BY seq")]
    versions = [(b if isinstance(b, dict) else json.loads(b))["version"] for b in bodies]
    assert versions == list(range(1, ADMINS * ROUNDS + 2))
