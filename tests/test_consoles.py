"""Console login on the staff console (edge) and admin console (centre): argon2 hashes,
CSRF, roles, no session fixation; server-side sessions (logout, idle timeout, absolute
lifetime, password change), the cookie's flags, ``next`` kept on this site, and the
headers that keep console pages out of frames. Flask test client on real SQLite files and a
real PostgreSQL; the pages in headless Chromium under their Content-Security-Policy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import central_sync.server
import edge_agent
from hall_common import auth
from hall_common.config import CentralConfig, ConsoleConfig
from hall_common.sessions import key_of
from hall_common.web import get_db

from .helpers.edge_inputs import console_config
from .minihall import Served


@pytest.fixture
def edge_app(tmp_path):
    return edge_agent.create_app(console_config(tmp_path))


def csrf(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_console_needs_login(edge_app):
    r = edge_app.test_client().get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_login_with_right_password_then_overview(edge_app):
    c = edge_app.test_client()
    r = c.post("/login", data={"username": "staff", "password": "correct horse 1", "csrf_token": csrf(c)})
    assert r.status_code == 302
    page = c.get("/").get_data(as_text=True)
    assert "还没有节点连接" in page and "staff" in page


def test_wrong_password_says_so_in_chinese_and_english(edge_app):
    c = edge_app.test_client()
    r = c.post("/login", data={"username": "staff", "password": "nope", "csrf_token": csrf(c)})
    assert r.status_code == 401
    assert "用户名或密码不正确" in r.get_data(as_text=True)
    assert c.get("/").status_code == 302


def test_login_without_csrf_token_is_refused(edge_app):
    c = edge_app.test_client()
    r = c.post("/login", data={"username": "staff", "password": "correct horse 1"})
    assert r.status_code == 400
    assert c.get("/").status_code == 302


def test_passwords_are_stored_as_argon2_hashes(edge_app):
    with edge_app.app_context():
        row = next(get_db()["users"].rows_where("username = ?", ["staff"]))  # the edge's own sqlite file
    assert row["password_hash"].startswith("$argon2id$v=19$m=7168,t=5,p=1$")  # OWASP's 7 MiB profile
    assert "correct horse" not in row["password_hash"]


def test_a_hash_made_with_the_earlier_profile_still_logs_in(edge_app):
    """Hashes made before the 7 MiB profile (19 MiB, 2 passes) keep their parameters and
    are verified as made: nobody's password stops working."""
    from argon2 import PasswordHasher

    earlier = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash("correct horse 1")
    with edge_app.app_context():
        get_db()["users"].update("staff", {"password_hash": earlier})
        users = auth.SqliteUsers(get_db())
        assert auth.check_password(users, "staff", "correct horse 1") == "staff"
        assert auth.check_password(users, "staff", "correct horse 2") is None


def test_session_is_replaced_at_login(edge_app):
    """Whatever a visitor had in the session before login (a planted value) is gone after."""
    c = edge_app.test_client()
    with c.session_transaction() as s:
        s["planted"] = "by attacker"
    c.post("/login", data={"username": "staff", "password": "correct horse 1", "csrf_token": csrf(c)})
    with c.session_transaction() as s:
        assert "planted" not in s and "sid" in s
    assert c.get("/").status_code == 200


def test_open_redirect_after_login_is_refused(edge_app):
    c = edge_app.test_client()
    r = c.post("/login?next=//evil.example/", data={"username": "staff", "password": "correct horse 1", "csrf_token": csrf(c)})
    assert r.headers["Location"] == "/"


def test_admin_console_login(tmp_path):
    (tmp_path / "admin.pw").write_text("admin password 9")
    cfg = CentralConfig(
        data_dir=tmp_path / "central", database_url=f"sqlite:///{tmp_path}/central.db", http={"port": 8001}, demo=True,
        bootstrap_user={"username": "admin", "password_file": tmp_path / "admin.pw", "role": "admin"},
    )
    app = central_sync.server.create_app(cfg)
    c = app.test_client()
    assert c.get("/").status_code == 302
    c.post("/login", data={"username": "admin", "password": "admin password 9", "csrf_token": csrf(c)})
    assert "还没有服务中心同步过" in c.get("/").get_data(as_text=True)


def test_failed_logins_are_limited_per_user_and_per_address(tmp_path):
    """Five wrong passwords lock that user name for ten minutes, even against the right
    password; other names from elsewhere still log in; the lock ends with the window."""
    now = [1000.0]
    app = edge_agent.create_app(console_config(tmp_path), {"AUTH_CLOCK": lambda: now[0]})
    c = app.test_client()

    def attempt(user: str, password: str, addr: str = "10.0.0.5"):
        return c.post("/login", data={"username": user, "password": password, "csrf_token": csrf(c)},
                      environ_base={"REMOTE_ADDR": addr})

    for _ in range(5):
        assert attempt("staff", "guess").status_code == 401
    r = attempt("staff", "correct horse 1")
    assert r.status_code == 429 and "尝试次数过多" in r.get_data(as_text=True)
    assert attempt("STAFF", "correct horse 1", addr="10.0.0.9").status_code == 429  # the name, wherever from
    now[0] += 601
    assert attempt("staff", "correct horse 1").status_code == 302
    # Many names guessed from one address: that address is stopped too.
    c.post("/logout", data={"csrf_token": csrf(c)})
    for i in range(20):
        assert attempt(f"user{i}", "guess", addr="10.0.0.66").status_code == 401
    assert attempt("staff", "correct horse 1", addr="10.0.0.66").status_code == 429
    assert attempt("staff", "correct horse 1", addr="10.0.0.7").status_code == 302


# -- sessions, cookie, next, headers (issue 22, point 5) ---------------------------------------

STAFF = {"username": "staff", "password": "correct horse 1"}


def login(client, creds: dict[str, str] = STAFF, query: str = "") -> Any:
    return client.post(f"/login{query}", data={**creds, "csrf_token": csrf(client)})


def session_cookie(client, app) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


@pytest.mark.parametrize("next_query", [
    "?next=/%09/evil.example",           # a tab: browsers drop it and read //evil.example
    "?next=/%0A/evil.example",           # a newline, the same
    "?next=//evil.example/",
    "?next=/%5Cevil.example",            # /\evil.example: browsers read the backslash as a slash
    "?next=/%5C%5Cevil.example",
    "?next=https://evil.example/",
    "?next=javascript:alert(1)",
    "?next=%20//evil.example",
    "?next=/%E2%80%8B/evil.example",     # an invisible zero-width space
])
def test_next_leads_only_to_a_path_of_this_site(edge_app, next_query):
    c = edge_app.test_client()
    r = login(c, query=next_query)
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_next_to_a_console_path_is_followed(edge_app):
    c = edge_app.test_client()
    r = login(c, query="?next=/alarms/%3Fshow%3Dall")  # next=/alarms/?show=all
    assert r.headers["Location"] == "/alarms/?show=all"
    assert c.get("/alarms/").status_code == 200


def test_the_cookie_is_samesite_lax_httponly_and_holds_only_a_session_id(edge_app):
    c = edge_app.test_client()
    set_cookie = login(c).headers["Set-Cookie"]
    assert "SameSite=Lax" in set_cookie and "HttpOnly" in set_cookie
    assert "Secure" not in set_cookie  # plain HTTP (the demo): a Secure cookie would never come back
    held = edge_app.session_interface.get_signing_serializer(edge_app).loads(session_cookie(c, edge_app))
    assert set(held) <= {"sid", "csrf_token"} and "staff" not in json.dumps(held)


def test_the_cookie_is_secure_when_the_console_is_served_over_https(edge_app, tmp_path):
    # A request that came over HTTPS (through the TLS proxy) gets a Secure cookie ...
    c = edge_app.test_client()
    token = csrf(c)
    r = c.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
               data={**STAFF, "csrf_token": token})
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]
    # ... and with an https public URL, every answer does, even to a plain HTTP request.
    (tmp_path / "b").mkdir()
    cfg = console_config(tmp_path / "b").model_copy(
        update={"console": ConsoleConfig(public_url="https://edge.hall.example/")})
    set_cookie = edge_agent.create_app(cfg).test_client().get("/login").headers["Set-Cookie"]
    assert "Secure" in set_cookie and "SameSite=Lax" in set_cookie


def test_behind_the_tls_proxy_each_client_is_limited_by_its_own_address(tmp_path):
    """With ``[http] trusted_proxy``, the console takes the client's address from the
    proxy's X-Forwarded-For: twenty wrong logins from one client lock that client, not
    every client behind the proxy."""
    import requests

    from hall_cli.broker import free_port
    from hall_common.config import HttpConfig
    from hall_common.web import make_server

    app = edge_agent.create_app(console_config(tmp_path))
    served = Served(app, server=make_server(app, HttpConfig(port=free_port(), trusted_proxy="127.0.0.1")))
    url = served.url + "login"

    def attempt(client: str, user: str, password: str) -> int:
        with requests.Session() as web:
            forwarded = {"X-Forwarded-For": client}
            page = web.get(url, headers=forwarded, timeout=10).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            return web.post(url, data={"username": user, "password": password, "csrf_token": token},
                            headers=forwarded, allow_redirects=False, timeout=10).status_code

    try:
        for i in range(20):
            assert attempt("10.0.0.66", f"user{i}", "guess") == 401
        assert attempt("10.0.0.66", "staff", "correct horse 1") == 429
        assert attempt("10.0.0.7", "staff", "correct horse 1") == 302
    finally:
        served.stop()


def test_a_cookie_copied_before_logout_is_refused_after_it(edge_app):
    staff = edge_app.test_client()
    login(staff)
    copied = session_cookie(staff, edge_app)
    thief = edge_app.test_client()
    thief.set_cookie(edge_app.config["SESSION_COOKIE_NAME"], copied)
    assert thief.get("/").status_code == 200  # the copy works while the login lasts ...
    staff.post("/logout", data={"csrf_token": csrf(staff, "/")})
    r = thief.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")  # ... and not after
    assert thief.get("/alarms.json", headers={"Accept": "application/json"}).status_code == 401
    sid = edge_app.session_interface.get_signing_serializer(edge_app).loads(copied)["sid"]
    assert edge_app.extensions["auth_sessions"]().find(key_of(sid)) is None  # gone at the server


def test_idle_timeout_and_absolute_lifetime_on_a_clock_the_test_moves(tmp_path):
    now = [1_000_000.0]
    app = edge_agent.create_app(console_config(tmp_path), {"AUTH_CLOCK": lambda: now[0]})
    c = app.test_client()
    login(c)
    for _ in range(3):  # used every 29 minutes: stays logged in
        now[0] += 29 * 60
        assert c.get("/").status_code == 200
    now[0] += 31 * 60  # then left alone for 31 minutes
    assert c.get("/").status_code == 302

    # The alarm bell asks every few seconds by itself: that is not the user being there.
    login(c)
    for _ in range(29):
        now[0] += 60
        assert c.get("/alarms.json", headers={"Accept": "application/json"}).status_code == 200
    now[0] += 2 * 60
    assert c.get("/alarms.json", headers={"Accept": "application/json"}).status_code == 401
    assert c.get("/").status_code == 302

    # However busy, a login ends 12 hours after it began.
    login(c)
    began = now[0]
    while now[0] + 20 * 60 < began + 12 * 3600:
        now[0] += 20 * 60
        assert c.get("/").status_code == 200
    now[0] = began + 12 * 3600 + 1
    assert c.get("/").status_code == 302


def test_the_idle_timeout_is_configured(tmp_path):
    now = [1_000_000.0]
    cfg = console_config(tmp_path).model_copy(update={"console": ConsoleConfig(idle_timeout_s=300)})
    app = edge_agent.create_app(cfg, {"AUTH_CLOCK": lambda: now[0]})
    c = app.test_client()
    login(c)
    now[0] += 6 * 60
    assert c.get("/").status_code == 302
    with pytest.raises(ValidationError, match="idle_timeout_s"):
        ConsoleConfig(idle_timeout_s=7200, absolute_timeout_s=3600)


def test_a_password_change_ends_the_users_sessions(edge_app):
    c = edge_app.test_client()
    login(c)
    with edge_app.app_context():
        auth.set_password(auth.SqliteUsers(get_db()), "staff", "a new password 2", "staff",
                          sessions=edge_app.extensions["auth_sessions"]())
    assert c.get("/").status_code == 302
    assert login(c, {"username": "staff", "password": "a new password 2"}).status_code == 302
    assert c.get("/").status_code == 200


def assert_console_headers(r) -> None:
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    policy = dict(part.strip().split(" ", 1) for part in r.headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == "'none'" and policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'" and policy["form-action"] == "'self'"


def test_console_pages_carry_framing_and_content_headers(edge_app, tmp_path):
    c = edge_app.test_client()
    assert_console_headers(c.get("/login"))
    login(c)
    for path in ("/", "/alarms/", "/printers", "/static/alarm_bell.js"):
        assert_console_headers(c.get(path))
    admin, _ = admin_console(tmp_path, f"sqlite:///{tmp_path}/central.db")
    a = admin.test_client()
    assert_console_headers(a.get("/login"))
    login(a, ADMIN)
    assert_console_headers(a.get("/"))


ADMIN = {"username": "admin", "password": "admin password 9"}


def admin_console(tmp_path, url: str, test_config: dict[str, Any] | None = None, **config: Any):
    """The centre's admin console on database ``url`` (not served), user ``admin``."""
    (tmp_path / "admin.pw").write_text(ADMIN["password"])
    cfg = CentralConfig(
        data_dir=tmp_path / "central", database_url=url, http={"port": 8001}, demo=True,
        bootstrap_user={"username": "admin", "password_file": tmp_path / "admin.pw", "role": "admin"}, **config,
    )
    return central_sync.server.create_app(cfg, {"PAYMENTS_SWEEP": False, **(test_config or {})}), cfg


def test_admin_sessions_live_in_the_central_database_for_every_worker(tmp_path, central_db):
    """Two app instances on one database stand for two API workers: a login made on one is
    good on the other, a logout on one ends it on both, and the timeouts hold (SQLite and
    a real PostgreSQL)."""
    now = [1_000_000.0]
    worker_1, cfg = admin_console(tmp_path, central_db, {"AUTH_CLOCK": lambda: now[0]})
    worker_2 = central_sync.server.create_app(cfg, {"AUTH_CLOCK": lambda: now[0], "PAYMENTS_SWEEP": False})
    try:
        a = worker_1.test_client()
        assert login(a, ADMIN).status_code == 302
        b = worker_2.test_client()
        b.set_cookie(worker_2.config["SESSION_COOKIE_NAME"], session_cookie(a, worker_1))
        assert b.get("/").status_code == 200
        a.post("/logout", data={"csrf_token": csrf(a, "/")})
        assert b.get("/").status_code == 302

        login(a, ADMIN)
        now[0] += 29 * 60
        assert a.get("/").status_code == 200
        now[0] += 31 * 60
        assert a.get("/").status_code == 302
        r = login(a, ADMIN, query="?next=/%09/evil.example")
        assert r.headers["Location"] == "/" and "SameSite=Lax" in r.headers["Set-Cookie"]
        now[0] += 12 * 3600 + 1
        assert a.get("/").status_code == 302
    finally:
        for app in (worker_1, worker_2):
            pool = app.extensions.get("store_pool")
            if pool is not None:
                pool.close()
            app.extensions["payments"].close()


def test_console_pages_work_under_their_policy_and_cannot_be_framed(tmp_path, browser):
    """The staff console's pages in Chromium with the policy in force: no console error, no
    script error, the bell's script runs; an inline script is refused, and another page
    cannot show the console in a frame."""
    served = Served(edge_agent.create_app(console_config(tmp_path)))
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems: list[str] = []
    # (Chromium asks every site for /favicon.ico; the consoles have none: its 404 is no fault of a page.)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text} {m.location}")
            if m.type in ("error", "warning") and not m.location.get("url", "").endswith("/favicon.ico") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    framing = browser.new_page()
    try:
        page.goto(served.url + "alarms/")
        page.fill("#username", "staff")
        page.fill("#password", "correct horse 1")
        page.click("button[type=submit]")
        page.wait_for_url(served.url + "alarms/")
        for path in ("", "printers", "alarms/"):
            # The bell's script (a file of the console's own) runs and asks for the alarms.
            with page.expect_response(lambda r: r.url.endswith("/alarms.json") and r.status == 200):
                page.goto(served.url + path)
        # The styles of the page apply (inline <style> is allowed): the header is the console's blue.
        assert page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == "rgb(18, 58, 99)"
        shots = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "consoles"
        shots.mkdir(parents=True, exist_ok=True)
        page.goto(served.url)
        page.screenshot(path=shots / "overview.png", full_page=True)
        assert problems == []

        refused = page.evaluate("""() => new Promise(done => {
            document.addEventListener('securitypolicyviolation', e => done(e.effectiveDirective));
            const s = document.createElement('script');
            s.textContent = 'window.injected = true';
            document.body.appendChild(s);
            setTimeout(() => done(window.injected ? 'the inline script ran' : 'no violation reported'), 2000);
        })""")
        assert refused == "script-src-elem" and page.evaluate("window.injected === undefined")

        framing.set_content(f'<iframe id="f" src="{served.url}login" width="800" height="600"></iframe>')
        assert framing.frame_locator("#f").locator("#username").count() == 0
    finally:
        framing.close()
        page.close()
        served.stop()
