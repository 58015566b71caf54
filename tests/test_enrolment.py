"""Enrolment end to end: an administrator adds a device at a running centre (served over
HTTP), a "fresh Pi" joins with ``hall join URL CODE --root DIR`` (a subprocess, no
systemd), the hall's edge (itself joined that way) keeps its broker's password file from
the centre's roster and SIGHUPs the test's real mosquitto, so the new node's login works on
the hall broker; a retired node is refused by the centre and by the broker. Codes used
twice, expired or unknown are refused and write nothing; wrong codes are limited per
address; a bad form field is named."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import tomli_w

import central_sync.server
from central_sync.server import credentials, enrolment
from central_sync.server.db import StoreUsers
from central_sync.store import Store
from edge_agent.agent import EdgeAgent
from hall_cli.broker import Broker, free_port, render_config
from hall_common import passwd
from hall_common.auth import set_password
from hall_common.bus.client import BusClient
from hall_common.config import CentralConfig, DisplayConfig, DoctorConfig, EdgeConfig, KioskConfig, load

from .conftest import wait_for
from .minihall import SETTINGS, Served
from .helpers.screens import to_docs

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots" / "centre"
HALL = "t1"
ADMIN_PASSWORD = "admin password 1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CODE = re.compile(r'class="now-number join-code"[^>]*>([A-Z0-9-]+)<')


# -- helpers -------------------------------------------------------------------------------------

def login(app, *, address: str = "127.0.0.1"):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    token = CSRF.search(c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token})
    return c


def csrf(client) -> str:
    return CSRF.search(client.get("/devices/").get_data(as_text=True)).group(1)


def add(client, role: str, name: str, hall: str = HALL):
    return client.post("/devices/", data={"hall": hall, "role": role, "name": name, "csrf_token": csrf(client)})


def add_code(client, role: str, name: str) -> str:
    r = add(client, role, name)
    assert r.status_code == 200, r.get_data(as_text=True)
    return CODE.search(r.get_data(as_text=True)).group(1)


def save_settings(admin) -> None:
    """A kiosk configuration saved at the centre: what a kiosk is configured from."""
    token = CSRF.search(admin.get("/configs/").get_data(as_text=True)).group(1)
    r = admin.post("/configs/", data={"settings": tomli_w.dumps(SETTINGS), "note": "hall", "csrf_token": token})
    assert r.status_code == 302


def device_id(store: Store, node: str) -> str:
    return store.scalar("SELECT id FROM devices WHERE hall_id = ? AND node_id = ? AND retired_at IS NULL", (HALL, node))


def join(url: str, code: str, root: Path) -> subprocess.CompletedProcess:
    """``hall join`` as an operator types it on a fresh Pi, here below ``root``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "hall_cli", "join", url, code, "--root", str(root),
                           "--edge-host", "127.0.0.1"], capture_output=True, text=True, env=env, timeout=60)


def connack(port: int, user: str, password: str) -> mqtt.ReasonCode:
    """The hall broker's answer to a login, from a bare paho client."""
    done, result = threading.Event(), {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.on_connect = lambda client, userdata, flags, reason, props: (result.setdefault("r", reason), done.set())
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        c.loop_stop()
        c.disconnect()
    return result["r"]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def files_below(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture
def centre(tmp_path):
    """A running centre (waitress on a free port) with hall t1, an admin and a saved kiosk
    configuration (what a kiosk is configured from)."""
    url = f"sqlite:///{tmp_path}/central.db"
    cfg = CentralConfig(data_dir=tmp_path / "c", database_url=url, http={"port": 1}, demo=True)
    served = Served(central_sync.server.create_app(cfg, {"RETENTION_THREAD": False}))
    store = Store.connect(url)
    credentials.register_hall(store, HALL, "测试大厅")
    credentials.register_hall(store, "t2", "另一大厅")
    set_password(StoreUsers(store), "admin", ADMIN_PASSWORD, "admin")
    admin = login(served.app)
    save_settings(admin)
    yield served, store, admin
    served.stop()
    store.close()


# -- the whole chain -----------------------------------------------------------------------------

def test_a_fresh_pi_joins_its_hall_and_a_retired_one_is_refused(centre, tmp_path, browser):
    served, store, admin = centre
    url = served.url.rstrip("/")

    # The edge Pi joins first: its configuration, centre token and the broker's password file.
    edge_root = tmp_path / "edge-pi"
    done = join(url, add_code(admin, "edge", "edge"), edge_root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no systemd here" in done.stdout and "systemctl enable --now" in done.stdout
    etc = edge_root / "etc/service-hall"
    for secret in ("secrets/broker-edge", "secrets/centre.token", "secrets/staff", "secrets/broker-doctor"):
        assert mode(etc / secret) == 0o600, secret
    assert mode(edge_root / "etc/mosquitto/hall/passwd") == 0o600
    edge_cfg = load(EdgeConfig, etc / "edge.toml")
    assert edge_cfg.centre.url == url and edge_cfg.roster is not None
    assert edge_cfg.data_dir.resolve() == (edge_root / "var/lib/service-hall/edge").resolve()
    assert (edge_root / "etc/systemd/system/hall-edge.service").is_file()
    assert (edge_root / "etc/systemd/system/mosquitto.service.d/hall-broker.conf").is_file()
    assert "/opt/service-hall" not in (edge_root / "etc/systemd/system/hall-edge.service").read_text()
    # hall doctor's own login, beside the centre's roster (passwd.local: the hall's own tools).
    assert set(passwd.parse((edge_root / "etc/mosquitto/hall/passwd").read_text())) == {"edge", "doctor"}
    assert set(passwd.parse((edge_root / "etc/mosquitto/hall/passwd.local").read_text())) == {"doctor"}
    doctor_pw = load(DoctorConfig, etc / "doctor.toml").broker.password()

    # The hall's broker: a real mosquitto with the project's config, on the edge's password file.
    port = free_port()
    conf = render_config(tmp_path / "broker", port=port, password_file=edge_root / "etc/mosquitto/hall/passwd")
    broker = Broker(conf, host="127.0.0.1", port=port)
    broker.start()
    pid_file = tmp_path / "broker" / "mosquitto.pid"
    pid_file.write_text(str(broker.proc.pid))
    edge_cfg = edge_cfg.model_copy(update={
        "broker": edge_cfg.broker.model_copy(update={"port": port}),
        "roster": edge_cfg.roster.model_copy(update={"pid_file": pid_file, "every_s": 1.0}),
        "hardware": edge_cfg.hardware.model_copy(update={"gpio": "mock"})})
    agent = EdgeAgent(edge_cfg)
    nodes: list[BusClient] = []
    try:
        agent.start()
        assert agent.bus.wait_connected(10), agent.bus.refused
        assert not connack(port, "doctor", doctor_pw).is_failure

        # A kiosk Pi joins: its configuration, its broker password, the centre's key.
        kiosk_root = tmp_path / "kiosk-pi"
        kiosk_code = add_code(admin, "kiosk", "kiosk-07")
        done = join(url, kiosk_code, kiosk_root)
        assert done.returncode == 0, done.stdout + done.stderr
        ketc = kiosk_root / "etc/service-hall"
        kiosk_cfg = load(KioskConfig, ketc / "kiosk.toml")
        assert (kiosk_cfg.node_id, kiosk_cfg.broker.host) == ("kiosk-07", "127.0.0.1")
        assert kiosk_cfg.settings.info.service_phone == SETTINGS["info"]["service_phone"]
        assert kiosk_cfg.config_public_key == (ketc / "centre-signing.pub").read_text().strip()
        assert mode(kiosk_cfg.broker.password_file) == 0o600
        assert {p.name for p in (kiosk_root / "etc/systemd/system").iterdir()} == {"hall-kiosk.service",
                                                                                   "hall-kiosk-browser.service"}
        password = kiosk_cfg.broker.password()
        assert password not in str(store.query("SELECT * FROM devices"))  # the centre keeps its hash only

        # Once the edge has the roster, the kiosk's login works on the hall broker.
        wait_for(lambda: "kiosk-07" in passwd.parse((edge_root / "etc/mosquitto/hall/passwd").read_text()), timeout=20)
        wait_for(lambda: not connack(port, "kiosk-07", password).is_failure, timeout=20)
        kiosk = BusClient(hall_id=HALL, node_id="kiosk-07", kind="kiosk", host="127.0.0.1", port=port,
                          password=password, session=1, keepalive=10)
        nodes.append(kiosk)
        kiosk.start()
        assert kiosk.wait_connected(10), kiosk.refused
        # Its birth reaches the centre through the edge: the devices page shows its last contact.
        wait_for(lambda: store.scalar("SELECT node_ts FROM hall_nodes WHERE hall_id = ? AND node_id = 'kiosk-07'",
                                      (HALL,)), timeout=30)
        page = admin.get("/devices/?hall=t1").get_data(as_text=True)
        row = re.search(r"<tr class=\"\">(?:(?!</tr>).)*kiosk-07(?:(?!</tr>).)*</tr>", page, re.S).group(0)
        assert "已加入 · Enrolled" in row and row.count("—") == 0  # enrolled at and last contact both known
        # ... and the fleet view lists it online (the edge's hall status, sent on the change).
        wait_for(lambda: in_fleet(admin, "kiosk-07"), timeout=30)

        # The same code again: refused, nothing written.
        again = join(url, kiosk_code, tmp_path / "second-pi")
        assert again.returncode == 1 and "used already" in again.stdout
        assert files_below(tmp_path / "second-pi") == []

        # Screens: the join code page (a board) and the devices page.
        _screens(served, browser)

        # Retire the kiosk: the edge rewrites the password file, SIGHUPs mosquitto, which
        # disconnects the kiosk and refuses its login from then on.
        r = admin.post(f"/devices/{device_id(store, 'kiosk-07')}/retire", data={"csrf_token": csrf(admin)})
        assert r.status_code == 302
        wait_for(lambda: "kiosk-07" not in passwd.parse((edge_root / "etc/mosquitto/hall/passwd").read_text()), timeout=20)
        wait_for(lambda: connack(port, "kiosk-07", password).is_failure, timeout=20)
        assert connack(port, "kiosk-07", password).value in (0x86, 0x87)
        wait_for(lambda: not kiosk.connected, timeout=20)
        wait_for(lambda: not in_fleet(admin, "kiosk-07"), timeout=30)  # and the fleet view shows it offline
        assert not connack(port, "doctor", doctor_pw).is_failure  # the hall's own tools are kept
        assert "已停用 · Retired" in admin.get("/devices/?hall=t1").get_data(as_text=True)

        # Retire the edge: the centre refuses its token at once.
        token = (etc / "secrets/centre.token").read_text()
        assert _get_roster(url, token) == 200
        admin.post(f"/devices/{device_id(store, 'edge')}/retire", data={"csrf_token": csrf(admin)})
        assert _get_roster(url, token) == 401
    finally:
        for node in nodes:
            node.close(timeout=1)
        agent.close()
        broker.stop()


def in_fleet(admin, node: str) -> bool:
    """Whether the fleet view (what its page draws) lists ``node`` of the hall online."""
    halls = admin.get("/fleet.json").get_json()["halls"]
    return any(n["node"] == node and n["online"] for h in halls if h["hall_id"] == HALL for n in h["nodes"])


def _get_roster(url: str, token: str) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url + "/api/v1/sync/roster", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _screens(served, browser) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(served.url + "login")
        page.fill("#username", "admin")
        page.fill("#password", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=设备 · Devices →")
        page.click("text=设备 · Devices →")
        page.wait_for_selector("table.devices")
        page.select_option("#hall", HALL)
        page.select_option("#role", "board")
        page.fill("#name", "display-09")
        page.click("text=生成加入码 · Make a join code")
        page.wait_for_selector(".join-code")
        assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", page.inner_text(".join-code"))
        assert page.locator("figure svg").count() == 1 and "hall join" in page.inner_text("pre.command")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "device-code.png", full_page=True)
        page.click("text=← 设备 · Devices")
        page.wait_for_selector("text=等待加入 · Waiting for join")
        page.screenshot(path=SHOTS / "devices.png", full_page=True)
        for name in ("devices.png", "device-code.png"):
            to_docs(SHOTS / name, f"centre-{name}")
    finally:
        page.close()


# -- the centre alone, on SQLite and PostgreSQL ----------------------------------------------------

@pytest.fixture
def app_store(central_db, tmp_path):
    cfg = CentralConfig(data_dir=tmp_path / "c", database_url=central_db, http={"port": 1}, demo=True)
    app = central_sync.server.create_app(cfg, {"RETENTION_THREAD": False})
    store = Store.connect(central_db)
    credentials.register_hall(store, HALL, "测试大厅")
    set_password(StoreUsers(store), "admin", ADMIN_PASSWORD, "admin")
    save_settings(login(app))
    yield app, store
    store.close()


def enrol(app, code: str, address: str = "10.0.0.1"):
    return app.test_client().post("/api/v1/enrol", json={"code": code}, environ_base={"REMOTE_ADDR": address})


def written(store: Store) -> tuple:
    """What an enrolment writes at the centre."""
    return (store.query("SELECT id, broker_hash, enrolled_at FROM devices ORDER BY id"),
            store.query("SELECT code_hash, used_at FROM join_codes ORDER BY code_hash"),
            store.query("SELECT hall_id, node_id, token_hash, revoked_at FROM node_credentials ORDER BY node_id"))


def test_a_code_is_taken_once_and_not_after_it_expires(app_store):
    app, store = app_store
    admin = login(app)
    code = add_code(admin, "board", "display-03")
    first = enrol(app, code.lower().replace("-", " "))  # as typed: case and grouping do not matter
    assert first.status_code == 200, first.json
    assert (first.json["node_id"], first.json["role"], first.json["centre_token"]) == ("display-03", "board", None)
    load_config = DisplayConfig(**first.json["config"])
    assert load_config.http.port == 8081
    before = written(store)
    used = enrol(app, code)
    assert used.status_code == 410 and used.json["code"] == "used" and "加入码已用过" in used.json["detail"]
    assert written(store) == before

    expired = add_code(admin, "kiosk", "kiosk-04")
    store.execute("UPDATE join_codes SET expires_at = ? WHERE used_at IS NULL", (time.time() - 1,))
    before = written(store)
    r = enrol(app, expired)
    assert r.status_code == 410 and r.json["code"] == "expired" and "Expired" in r.json["detail"].title()
    assert written(store) == before
    r = enrol(app, "ABCD-EFGH-JKLM")
    assert r.status_code == 404 and r.json["code"] == "unknown" and "No such join code" in r.json["detail"]
    assert enrol(app, "no; code").status_code == 422
    assert written(store) == before

    # A new code for the same device works, and the edge's enrolment gives a centre token.
    page = admin.post(f"/devices/{device_id(store, 'kiosk-04')}/code", data={"csrf_token": csrf(admin)})
    r = enrol(app, CODE.search(page.get_data(as_text=True)).group(1))
    assert r.status_code == 200 and r.json["config"]["settings"]["info"]["service_phone"]
    edge = enrol(app, add_code(admin, "edge", "edge"))
    assert edge.status_code == 200 and credentials.identify(store, edge.json["centre_token"]).node_id == "edge"
    assert {login["user"] for login in edge.json["roster"]} == {"display-03", "kiosk-04", "edge"}
    EdgeConfig(**edge.json["config"])
    roster = app.test_client().get("/api/v1/sync/roster", headers={"Authorization": f"Bearer {edge.json['centre_token']}"})
    assert roster.status_code == 200
    hashes = {login["user"]: login["hash"] for login in roster.json["logins"]}
    assert passwd.verify(r.json["broker_password"], hashes["kiosk-04"])


def test_wrong_codes_are_limited_per_address(app_store):
    app, store = app_store
    code = add_code(login(app), "board", "display-05")
    for _ in range(enrolment.MAX_WRONG):
        assert enrol(app, "WRONG-CODE-0000", "10.0.0.9").status_code == 404
    r = enrol(app, code, "10.0.0.9")  # even the right code, from that address, for a while
    assert r.status_code == 429 and "Too many" in r.json["detail"] and "错误的加入码太多" in r.json["detail"]
    assert store.scalar("SELECT enrolled_at FROM devices") is None
    assert enrol(app, code, "10.0.0.10").status_code == 200  # another address is not held up


@pytest.mark.parametrize("role, name, field, text", [
    ("kiosk", "Kiosk 7", "name", "Name: lower-case letters"),
    ("edge", "edge-2", "name", "an edge is always named edge"),
    ("kiosk", "queue", "name", "is reserved"),
    ("kiosk", "display-03", "name", "already has a device"),
    ("printer", "p-1", "role", "Role: choose edge, kiosk or board"),
])
def test_a_bad_field_is_named_and_nothing_is_written(app_store, role, name, field, text):
    app, store = app_store
    admin = login(app)
    add_code(admin, "board", "display-03")
    before = store.query("SELECT * FROM devices"), store.query("SELECT * FROM join_codes")
    r = add(admin, role, name)
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and f'data-field="{field}"' in page and text in page and "·" in page
    assert (store.query("SELECT * FROM devices"), store.query("SELECT * FROM join_codes")) == before


def test_a_manager_adds_devices_only_to_own_halls(app_store):
    app, store = app_store
    credentials.register_hall(store, "t2", "另一大厅")
    set_password(StoreUsers(store), "mgr", "manager password 1", "manager")
    store.execute("INSERT INTO user_halls (username, hall_id) VALUES ('mgr', 't1')")
    c = app.test_client()
    token = CSRF.search(c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": "mgr", "password": "manager password 1", "csrf_token": token})
    assert add(c, "board", "display-06", hall="t2").status_code == 403
    assert add(c, "board", "display-06", hall="t1").status_code == 200
    other = add_code(login(app), "board", "display-08") and device_id(store, "display-08")
    store.execute("UPDATE devices SET hall_id = 't2' WHERE id = ?", (other,))
    assert c.post(f"/devices/{other}/retire", data={"csrf_token": csrf(c)}).status_code == 403
    assert "display-08" not in c.get("/devices/").get_data(as_text=True)
    assert c.get("/devices/?hall=t2").status_code == 403


# -- the pieces ----------------------------------------------------------------------------------

def test_the_hash_is_mosquittos_own(tmp_path):
    from hall_cli.broker import write_password_file

    write_password_file(tmp_path / "passwd", {"kiosk-01": "secret one"})  # hashed by mosquitto_passwd
    line = passwd.parse((tmp_path / "passwd").read_text())["kiosk-01"]
    assert passwd.verify("secret one", line) and not passwd.verify("secret One", line)
    ours = passwd.hash_password("secret one")
    assert passwd.valid_hash(ours) and passwd.verify("secret one", ours)
    assert not passwd.valid_hash("$6$salt$hash") and not passwd.valid_hash("$7$101$@@$@@")


def test_the_roster_leaves_the_broker_file_alone_when_the_centre_cannot_be_asked(tmp_path):
    from edge_agent.roster import BrokerRoster
    from hall_common.config import RosterConfig

    before = f"edge:{passwd.hash_password('e')}\n"
    (tmp_path / "passwd").write_text(before)
    roster = BrokerRoster(RosterConfig(password_file=tmp_path / "passwd"), url=f"http://127.0.0.1:{free_port()}",
                          token=lambda: "x", hall_id=HALL, timeout=1)
    try:
        assert roster.refresh() is False
        assert (tmp_path / "passwd").read_text() == before
    finally:
        roster.close()
