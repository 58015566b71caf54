"""The centre's users page and ``hall centre-user``: an admin adds a hall manager with their
halls (in Chromium), changes a role (the user's sessions end), gives a manager another hall
(at once), disables an account (it can no longer log in); bad input is refused with a
bilingual message and writes nothing; every change is an audit line. The first admin of a
fresh centre comes from the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from central_sync.server import accounts, credentials
from hall_cli.main import main as hall

from .helpers.central import central_app
from .minihall import Served
from .helpers.screens import to_docs

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "centre"
PASSWORD = "users password 1"


@pytest.fixture
def centre(tmp_path, central_db):
    """The centre on SQLite and on PostgreSQL, three halls, one admin."""
    app, store, _ = central_app(tmp_path, central_db, halls=())
    for hall, name in (("east-a", "东区甲"), ("east-b", "东区乙"), ("west-b", "西区乙")):
        credentials.register_hall(store, hall, name)
    accounts.add(store, "boss", PASSWORD, "admin", [], by="test")
    yield app, store
    store.close()
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()


def login(app, user: str, password: str = PASSWORD):
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    answer = c.post("/login", data={"username": user, "password": password, "csrf_token": token})
    return c, answer.status_code


def token(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def written(store) -> tuple:
    return (store.query("SELECT username, role, disabled_at FROM users ORDER BY username"),
            store.query("SELECT * FROM user_halls ORDER BY username, hall_id"), store.scalar("SELECT count(*) FROM audit_log"))


@pytest.mark.parametrize("central_db", ["postgresql"], indirect=True)
def test_the_users_page_in_a_browser(centre, browser):
    app, store = centre
    accounts.add(store, "audit-li", PASSWORD, "auditor", [], by="boss")
    accounts.add(store, "old-wang", PASSWORD, "manager", ["west-b"], by="boss")
    accounts.set_disabled(store, "old-wang", True, by="boss")
    served = Served(app)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(served.url + "login")
        page.fill("#username", "boss")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.click("text=用户 · Users →")  # linked from the overview, for admins
        page.wait_for_selector("#add-user")
        page.fill("#username", "mgr-zhao")
        page.fill("#password", "zhao password 1")
        page.select_option("#role", "manager")
        page.click("#add-user button")
        page.wait_for_selector("text=服务中心经理至少要有一个服务中心")  # no hall given: refused, nothing saved
        assert "A hall manager needs at least one hall" in page.inner_text("main")
        assert accounts.find(store, "mgr-zhao") is None
        page.fill("#password", "zhao password 1")
        page.fill("#halls", "east-a, east-b")
        page.click("#add-user button")
        page.wait_for_selector("#user-mgr-zhao")
        assert page.input_value("#user-mgr-zhao input[name=halls]") == "east-a, east-b"
        assert "user.add" in page.inner_text("main")
        page.screenshot(path=SHOTS / "users.png", full_page=True)
        to_docs(SHOTS / "users.png", "centre-users.png")
        page.close()
    finally:
        served.stop()
    assert [u["halls"] for u in accounts.listing(store) if u["username"] == "mgr-zhao"] == [["east-a", "east-b"]]


def test_a_role_change_ends_the_users_sessions_and_halls_change_at_once(centre):
    app, store = centre
    accounts.add(store, "zhao", PASSWORD, "manager", ["east-a"], by="boss")
    admin, _ = login(app, "boss")
    zhao, _ = login(app, "zhao")
    assert "west-b" not in zhao.get("/").get_data(as_text=True)
    assert admin.post("/users/zhao", data={"role": "manager", "halls": "east-a, west-b", "csrf_token": token(admin)}).status_code == 303
    assert "west-b" in zhao.get("/").get_data(as_text=True)  # same session, the new hall at once
    assert admin.post("/users/zhao", data={"role": "auditor", "halls": "", "csrf_token": token(admin)}).status_code == 303
    assert zhao.get("/").status_code == 302  # logged out: the role was in the session
    zhao, status = login(app, "zhao")
    assert status == 302 and zhao.post("/announcements/", data={"hall": "east-a", "text": "x", "csrf_token": token(zhao)}).status_code == 403
    details = [r["detail"] for r in store.query("SELECT detail FROM audit_log WHERE action = 'user.change' ORDER BY id")]
    assert '"was": "manager"' in details[1] and '"role": "auditor"' in details[1]


def test_a_disabled_user_cannot_log_in(centre):
    app, store = centre
    accounts.add(store, "zhao", PASSWORD, "auditor", [], by="boss")
    admin, _ = login(app, "boss")
    zhao, _ = login(app, "zhao")
    assert admin.post("/users/zhao/disable", data={"csrf_token": token(admin)}).status_code == 303
    assert zhao.get("/").status_code == 302
    assert login(app, "zhao")[1] == 401
    assert admin.post("/users/zhao/enable", data={"csrf_token": token(admin)}).status_code == 303
    assert login(app, "zhao")[1] == 302
    actions = [r["action"] for r in store.query("SELECT action FROM audit_log WHERE action LIKE ? ORDER BY id", ("user.%",))]
    assert actions == ["user.add", "user.add", "user.disable", "user.enable"]


@pytest.mark.parametrize("url, form, message", [
    ("/users/", {"username": "x y", "password": "long enough 1", "role": "auditor"}, "A user name is 1 to 40"),
    ("/users/", {"username": "boss", "password": "long enough 1", "role": "auditor"}, "User boss exists already"),
    ("/users/", {"username": "li", "password": "short", "role": "auditor"}, "at least 8 characters"),
    ("/users/", {"username": "li", "password": "long enough 1", "role": "viewer"}, "Choose a role"),
    ("/users/", {"username": "li", "password": "long enough 1", "role": "manager", "halls": "nowhere"}, "No such hall: nowhere"),
    ("/users/", {"username": "li", "password": "long enough 1", "role": "auditor", "halls": "east-a"}, "Only a hall manager is given halls"),
    ("/users/boss", {"role": "auditor"}, "You cannot change your own role"),
    ("/users/boss/disable", {}, "You cannot disable your own account"),
    ("/users/ghost", {"role": "auditor"}, "No user ghost"),
])
def test_bad_input_is_refused_and_writes_nothing(centre, url, form, message):
    app, store = centre
    admin, _ = login(app, "boss")
    before = written(store)
    answer = admin.post(url, data={**form, "csrf_token": token(admin)})
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    assert written(store) == before


def test_the_last_admin_stays_an_admin(centre):
    app, store = centre
    accounts.add(store, "second", PASSWORD, "admin", [], by="boss")
    second, _ = login(app, "second")
    assert second.post("/users/boss/disable", data={"csrf_token": token(second)}).status_code == 303
    boss_left = written(store)
    with pytest.raises(accounts.AccountInvalid, match="last admin"):
        accounts.change(store, "second", "auditor", [], by="cli/root")
    assert written(store) == boss_left


def test_only_admins_reach_the_users_page(centre):
    app, store = centre
    accounts.add(store, "zhao", PASSWORD, "manager", ["east-a"], by="boss")
    accounts.add(store, "li", PASSWORD, "auditor", [], by="boss")
    for user in ("zhao", "li"):
        c, _ = login(app, user)
        assert c.get("/users/").status_code == 403
        assert "用户 · Users" not in c.get("/").get_data(as_text=True)
        assert c.post("/users/", data={"username": "evil", "password": "long enough 1", "role": "admin",
                                       "csrf_token": token(c)}).status_code == 403
    assert accounts.find(store, "evil") is None


def test_the_first_admin_of_a_fresh_centre_from_the_command_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/fresh.db"
    secret = tmp_path / "pw"
    secret.write_text("first admin pw 1\n")
    with pytest.raises(SystemExit) as done:
        hall(["centre-user", "--database-url", url, "add", "first", "--role", "admin", "--password-file", str(secret)])
    assert done.value.code == 0 and "added first (admin)" in capsys.readouterr().out
    app, store, _ = central_app(tmp_path, url, halls=())
    credentials.register_hall(store, "east-a", "东区甲")
    assert login(app, "first", "first admin pw 1")[1] == 302
    with pytest.raises(SystemExit) as done:
        hall(["centre-user", "--database-url", url, "add", "mgr", "--role", "manager", "--password-file", str(secret)])
    assert done.value.code == 1 and "A hall manager needs at least one hall" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        hall(["centre-user", "--database-url", url, "add", "mgr", "--role", "manager", "--halls", "east-a",
              "--password-file", str(secret)])
    assert done.value.code == 0
    with pytest.raises(SystemExit) as done:
        hall(["centre-user", "--database-url", url, "set-halls", "mgr", "nowhere"])
    assert done.value.code == 1 and "No such hall: nowhere" in capsys.readouterr().err
    credentials.register_hall(store, "west-b", "西区乙")
    with pytest.raises(SystemExit) as done:
        hall(["centre-user", "--database-url", url, "set-halls", "mgr", "east-a", "west-b"])
    assert done.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        hall(["centre-user", "--database-url", url, "list"])
    out = capsys.readouterr().out.splitlines()
    assert [line.split() for line in out] == [["first", "admin", "-"], ["mgr", "manager", "east-a,west-b"]]
    who = {r["username"] for r in store.query("SELECT username FROM audit_log WHERE action LIKE 'user.%'")}
    assert len(who) == 1 and who.pop().startswith("cli/")
    store.close()
