"""Console login on the staff console (edge) and admin console (centre): argon2 hashes,
CSRF, roles, no session fixation. Flask test client on real SQLite files."""

from __future__ import annotations

import re

import pytest

import central_sync.server
import edge_agent
from hall_common.config import CentralConfig
from hall_common.web import get_db

from .helpers.edge_inputs import console_config


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
    assert row["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "correct horse" not in row["password_hash"]


def test_session_is_replaced_at_login(edge_app):
    """Whatever a visitor had in the session before login (a planted value) is gone after."""
    c = edge_app.test_client()
    with c.session_transaction() as s:
        s["planted"] = "by attacker"
    c.post("/login", data={"username": "staff", "password": "correct horse 1", "csrf_token": csrf(c)})
    with c.session_transaction() as s:
        assert "planted" not in s and s["user"] == "staff"


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
