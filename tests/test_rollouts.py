"""Staged rollouts with a health gate, through the real chain: admin console -> centre ->
edge (sync pull) -> retained on the hall bus -> kiosk, edge or board, which checks, applies
and reports -> edge -> centre, where the gate is judged as the reports arrive.

A rollout whose first kiosk rejects halts and names the kiosk and why, and the second
stage's kiosk never gets the version; a healthy one waits after stage 1 and goes on when
the admin continues; a kiosk of stage 1 going offline halts it. Edge and board settings go
out the same way, signed the same way: the edge's queue stops giving priority tickets for a
service, the board changes its line and its voice; forged documents are refused."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central_sync.server.db import StoreUsers
from central_sync.signing import public_key_b64, sign
from hall_common.auth import set_password
from hall_common.bus import contract
from hall_common.errors import RequestFailed

from .conftest import HALL, wait_for
from .minihall import SETTINGS, Served
from .helpers.screens import to_docs

ALWAYS_OPEN = {"hours": {"holidays": "none", "periods": [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "24:00"}]}}
ROOT = Path(__file__).resolve().parent.parent


def login(app, user: str, password: str):
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    c.post("/login", data={"username": user, "password": password, "csrf_token": token})
    return c


def csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/rollouts/").get_data(as_text=True)).group(1)


def save_kiosk_config(client, note: str = "新电话") -> None:
    new = {**SETTINGS, "info": {**SETTINGS["info"], "service_phone": "028-1111 2222"}}
    r = client.post("/configs/", data={"settings": tomli_w.dumps(new), "note": note, "csrf_token": csrf(client)})
    assert r.status_code == 302


def save_settings(client, target: str, settings: dict, note: str = ""):
    return client.post("/rollouts/settings", data={"target": target, "settings": tomli_w.dumps(settings), "note": note,
                                                   "csrf_token": csrf(client)})


def start(client, version: int, stages: str, gate: float = 0, **form):
    return client.post("/rollouts/", data={"version": version, "halls": [HALL], "stages": stages, "gate_minutes": gate,
                                           "csrf_token": csrf(client), **form})


def status(store, rid: int = 1) -> str:
    return store.scalar("SELECT status FROM rollouts WHERE id = ?", (rid,))


def kiosk(mini, node: str, public_key: str):
    """A kiosk as ``node`` (kiosk-01 or kiosk-02 of the broker fixture) that trusts ``public_key``."""
    import kiosk as kiosk_app
    from hall_common.bus.client import BusClient
    from hall_common.config import KioskConfig
    from kiosk.config_apply import ConfigApplier, printers_from
    from kiosk.status import HallStatus

    pw = mini.tmp / f"{node}.pw"
    pw.write_text(mini.broker.passwords[node])
    cfg = KioskConfig(hall_id=HALL, hall_name="幸福里物业客户服务中心", node_id=node, data_dir=mini.tmp / node, http={"port": 1},
                      broker={"host": mini.broker.host, "port": mini.broker.port, "password_file": pw}, settings=SETTINGS)
    bus = BusClient(hall_id=HALL, node_id=node, kind="kiosk", host=mini.broker.host, port=mini.broker.port,
                    password=mini.broker.passwords[node], session=1)
    status_ = HallStatus(bus)
    app = kiosk_app.create_app(cfg, status_, bus)
    app.extensions["config_applier"] = ConfigApplier(app, bus, public_key=public_key,
                                                     state_path=mini.tmp / node / "applied-config.json",
                                                     printers=printers_from(status_))
    bus.start()
    assert bus.wait_connected(10)
    mini.closers.append(bus.close)
    return app, bus


def board(mini, public_key: str):
    """The board as ``display-01`` with the centre's key: its applier and its state."""
    import hall_display
    from hall_common.bus.client import BusClient
    from hall_common.config import DisplayConfig
    from hall_display.board import BoardState
    from hall_display.settings_apply import BoardSettingsApplier

    pw = mini.tmp / "display.pw"
    pw.write_text(mini.broker.passwords["display-01"])
    cfg = DisplayConfig(hall_id=HALL, hall_name="幸福里物业客户服务中心", node_id="display-01", data_dir=mini.tmp / "display",
                        http={"port": 1}, broker={"host": mini.broker.host, "port": mini.broker.port, "password_file": pw},
                        config_public_key=public_key)
    bus = BusClient(hall_id=HALL, node_id="display-01", kind="display", host=mini.broker.host, port=mini.broker.port,
                    password=mini.broker.passwords["display-01"], session=1)
    state = BoardState(announcement="欢迎光临")
    state.follow(bus)
    applier = BoardSettingsApplier(bus, state, cfg)
    bus.start()
    assert bus.wait_connected(10)
    mini.closers.append(bus.close)
    mini.served.append(Served(hall_display.create_app(cfg, state, {"HEARTBEAT_S": 0.2})))
    return applier, state


def known(store, *nodes: str) -> bool:
    marks = ", ".join("?" for _ in nodes)
    return store.scalar(f"SELECT count(*) FROM hall_nodes WHERE node_id IN ({marks})", nodes) == len(nodes)


@pytest.fixture
def centre(mini):
    central, store, token = mini.registered_centre()
    app = central.app
    set_password(StoreUsers(store), "admin", "admin password 1", "admin")
    key = public_key_b64(app.extensions["config_key"])
    agent = mini.edge(centre_url=central.url, token=token, config_public_key=key, queue=ALWAYS_OPEN)
    yield mini, app, store, agent, key, login(app, "admin", "admin password 1")


def test_a_rollout_whose_first_kiosk_rejects_halts_and_names_it(centre, browser):
    mini, app, store, agent, key, admin = centre
    good, _ = kiosk(mini, "kiosk-01", key)
    stranger = public_key_b64(Ed25519PrivateKey.generate())  # this kiosk was given another centre's key
    bad, _ = kiosk(mini, "kiosk-02", stranger)
    wait_for(lambda: known(store, "kiosk-01", "kiosk-02"), timeout=20)
    save_kiosk_config(admin)
    r = start(admin, 1, "kiosk-02", gate=30)
    assert r.status_code == 302 and r.headers["Location"].endswith("/rollouts/1")
    wait_for(lambda: status(store) == "halted", timeout=30)
    row = store.query("SELECT halted_node, halted_reason FROM rollouts WHERE id = 1")[0]
    assert row["halted_node"] == "kiosk-02" and "bad signature" in row["halted_reason"]
    page = admin.get("/rollouts/1").get_data(as_text=True)
    assert "kiosk-02" in page and "rejected" in page and "bad signature" in page and "已暂停 · Halted" in page

    # The second stage never goes out: not by Continue, not by the gate's judges.
    r = admin.post("/rollouts/1/continue", data={"csrf_token": csrf(admin)})
    assert "只有通过健康检查的发布才能继续" in admin.get(r.headers["Location"]).get_data(as_text=True)
    assert store.scalar("SELECT count(*) FROM config_assignments WHERE node_id = 'kiosk-01'") == 0
    assert good.extensions["config_applier"].version == 0
    assert bad.extensions["config_applier"].version == 0

    # Presence is what the hall's status says (the fleet view's), which comes within about 2 s.
    wait_for(lambda: store.scalar("SELECT state FROM fleet_nodes WHERE node_id = 'kiosk-02'") == "ready", timeout=30)
    central = next(s for s in mini.served if s.app is app)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(central.url + "rollouts/1")
    page.fill("#username", "admin")
    page.fill("#password", "admin password 1")
    page.click("button[type=submit]")
    page.goto(central.url + "rollouts/1")
    page.wait_for_selector("#halted")
    assert "kiosk-02" in page.inner_text("#halted") and "bad signature" in page.inner_text("#halted")
    assert "ready" in page.inner_text("table")
    out = ROOT / "var" / "screenshots" / "centre"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=out / "rollout-halted.png", full_page=True)
    page.close()
    to_docs(out / "rollout-halted.png", "rollout-halted.png")

    # Aborted: the end of it, audited.
    admin.post("/rollouts/1/abort", data={"csrf_token": csrf(admin)})
    assert status(store) == "aborted"
    actions = [a["action"] for a in store.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-3:] == ["rollout.start", "rollout.halt", "rollout.abort"]
    assert store.scalar("SELECT count(*) FROM config_assignments WHERE node_id = 'kiosk-01'") == 0


def test_a_healthy_rollout_waits_after_stage_one_and_continues(centre, browser):
    mini, app, store, agent, key, admin = centre
    first, _ = kiosk(mini, "kiosk-01", key)
    second, _ = kiosk(mini, "kiosk-02", key)
    wait_for(lambda: known(store, "kiosk-01", "kiosk-02"), timeout=20)
    save_kiosk_config(admin)
    start(admin, 1, "kiosk-01", gate=0)
    wait_for(lambda: status(store) == "passed", timeout=30)
    assert first.config["SETTINGS"].info.service_phone == "028-1111 2222"
    # Waiting for the admin: the second kiosk has nothing yet.
    assert store.scalar("SELECT count(*) FROM config_assignments WHERE node_id = 'kiosk-02'") == 0
    page = admin.get("/rollouts/1").get_data(as_text=True)
    assert 'id="continue"' in page and "passed its gate" in page
    admin.post("/rollouts/1/continue", data={"csrf_token": csrf(admin)})
    wait_for(lambda: second.config["SETTINGS"].info.service_phone == "028-1111 2222", timeout=30)
    wait_for(lambda: status(store) == "done", timeout=30)
    actions = [a["action"] for a in store.query("SELECT action FROM audit_log WHERE action LIKE 'rollout.%' ORDER BY id")]
    assert actions == ["rollout.start", "rollout.passed", "rollout.continue", "rollout.done"]

    central = next(s for s in mini.served if s.app is app)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(central.url + "rollouts/")
    page.fill("#username", "admin")
    page.fill("#password", "admin password 1")
    page.click("button[type=submit]")
    page.goto(central.url + "rollouts/")
    page.wait_for_selector("form#start")
    assert "已完成 · done" in page.inner_text("main")
    out = ROOT / "var" / "screenshots" / "centre"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=out / "rollouts.png", full_page=True)
    page.close()
    to_docs(out / "rollouts.png", "rollouts.png")


def test_a_kiosk_of_stage_one_going_offline_halts_the_rollout(centre):
    mini, app, store, agent, key, admin = centre
    kiosk(mini, "kiosk-01", key)
    app2, bus2 = kiosk(mini, "kiosk-02", key)
    wait_for(lambda: known(store, "kiosk-01", "kiosk-02"), timeout=20)
    save_kiosk_config(admin)
    start(admin, 1, "kiosk-02", gate=60)
    wait_for(lambda: app2.extensions["config_applier"].version == 1, timeout=30)
    wait_for(lambda: store.scalar("SELECT status FROM config_reports WHERE node_id = 'kiosk-02'") == "applied", timeout=30)
    assert status(store) == "waiting"  # applied, but the gate time is not over
    assert "正在观察第 1 阶段" in admin.get("/rollouts/1").get_data(as_text=True)
    bus2.close()  # kiosk-02 goes away
    wait_for(lambda: status(store) == "halted", timeout=30)
    page = admin.get("/rollouts/1").get_data(as_text=True)
    assert "kiosk-02" in page and "offline (disconnected)" in page
    # Judged from the fleet's tables, filled by the edge's hall_status; node_state is no longer sent.
    assert store.scalar("SELECT online FROM fleet_nodes WHERE node_id = 'kiosk-02'") == 0
    assert store.scalar("SELECT count(*) FROM records WHERE kind = 'node_state'") == 0
    assert store.scalar("SELECT count(*) FROM config_assignments WHERE node_id = 'kiosk-01'") == 0


def ticket(agent, service: str, priority: bool):
    return agent.queue.answer("ticket", "kiosk-01", {"request": str(uuid.uuid4()), "service": service, "priority": priority})


def test_edge_settings_rolled_out_change_what_the_queue_accepts(centre, browser):
    mini, app, store, agent, key, admin = centre
    kapp, _ = kiosk(mini, "kiosk-01", key)
    wait_for(lambda: known(store, "edge"), timeout=20)
    assert ticket(agent, "procedures", True)["priority"] is True
    r = save_settings(admin, "edge", {"services": [{"id": "procedures", "priority_allowed": False}], "priority_per_normal": 1},
                      "办理手续不设优先")
    assert r.status_code == 302
    start(admin, 1, "edge", gate=0)
    applier = next(c for c in agent.components if c.name == "settings")
    wait_for(lambda: applier.version == 1, timeout=30)
    with pytest.raises(RequestFailed) as refused:
        ticket(agent, "procedures", True)
    assert refused.value.code == "no_priority"
    assert ticket(agent, "procedures", False)["priority"] is False and ticket(agent, "consult", True)["priority"] is True
    assert agent.queue.engine.config.priority_per_normal == 1
    # At the kiosk, a resident asking for priority there is told so, in words.
    served = Served(kapp)
    mini.served.append(served)
    wait_for(lambda: kapp.extensions["hall_status"].queue is not None)
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    page.goto(served.url + "queue/")
    page.click("label.toggle:has-text('需要：老年人')")
    page.click("button.service:has-text('手续办理')")
    page.wait_for_selector(".result.bad")
    assert "该业务不设优先号" in page.inner_text(".result.bad")
    page.close()
    wait_for(lambda: status(store) == "passed", timeout=30)  # its report reached the centre

    # Signed by another key, or for another node: refused, the settings in force stay.
    forged = {
        "bad signature": sign(Ed25519PrivateKey.generate(), hall=HALL, node="edge", version=5, expires=time.time() + 60,
                              body={"services": []}),
        "bad signature ": sign(app.extensions["config_key"], hall=HALL, node="kiosk-01", version=6,
                               expires=time.time() + 60, body={"services": []}),
    }
    for reason, doc in forged.items():
        agent.bus.publish(contract.CONFIG_DESIRED, doc, hall=HALL, node="edge")
        wait_for(lambda: applier.last.status == "rejected" and applier.last.reason.startswith(f"{doc.version}:"))
        assert reason.strip() in applier.last.reason
    assert applier.version == 1 and not agent.queue.engine.services["procedures"].priority_allowed


def test_board_settings_rolled_out_reach_the_board_and_forged_ones_do_not(centre):
    mini, app, store, agent, key, admin = centre
    applier, state = board(mini, key)
    wait_for(lambda: known(store, "display-01"), timeout=20)
    r = save_settings(admin, "board", {"voice": False, "announcement": "本周日 9:00-12:00 系统维护，暂停叫号"})
    assert r.status_code == 302
    start(admin, 1, "display-01", gate=0)
    wait_for(lambda: applier.version == 1, timeout=30)  # set once applied and stored, after the board changed
    assert state.snapshot()["announcement"] == "本周日 9:00-12:00 系统维护，暂停叫号" and state.speak is False
    wait_for(lambda: status(store) == "passed", timeout=30)
    doc = sign(Ed25519PrivateKey.generate(), hall=HALL, node="display-01", version=9, expires=time.time() + 60,
               body={"announcement": "伪造 forged"})
    agent.bus.publish(contract.CONFIG_DESIRED, doc, hall=HALL, node="display-01")
    wait_for(lambda: applier.last.status == "rejected" and "bad signature" in applier.last.reason)
    assert "伪造" not in state.snapshot()["announcement"] and applier.version == 1


def test_bad_input_is_refused_with_a_message_and_writes_nothing(centre):
    mini, app, store, agent, key, admin = centre
    r = save_settings(admin, "edge", {"priority_per_normal": 99})
    assert r.status_code == 422 and "priority_per_normal" in r.get_data(as_text=True)
    r = save_settings(admin, "board", {"rows": 3})
    assert r.status_code == 422 and "rows" in r.get_data(as_text=True)
    assert store.scalar("SELECT count(*) FROM configs") == 0
    save_kiosk_config(admin)
    cases = {
        "没有版本 7": dict(version=7, stages="kiosk-01"),
        "百分比应为 1 到 100": dict(version=1, stages="150%"),
        "不是节点名": dict(version=1, stages="Kiosk 01!"),
        "第 1 阶段没有节点": dict(version=1, stages="kiosk-09"),
        "观察时间应为 0 到 1440 分钟": dict(version=1, stages="kiosk-01", gate=-1),
    }
    for message, form in cases.items():
        r = start(admin, **form)
        assert r.status_code == 422 and message in r.get_data(as_text=True), message
    r = admin.post("/rollouts/", data={"version": 1, "halls": ["elsewhere"], "stages": "kiosk-01", "gate_minutes": 0,
                                       "csrf_token": csrf(admin)})
    assert r.status_code == 422 and "没有这个服务中心" in r.get_data(as_text=True)
    assert store.scalar("SELECT count(*) FROM rollouts") == 0
    assert store.scalar("SELECT count(*) FROM config_assignments") == 0


def test_roles_a_manager_rolls_out_to_own_halls_only_and_an_auditor_only_looks(centre):
    from central_sync.server import credentials

    mini, app, store, agent, key, admin = centre
    credentials.register_hall(store, "t2", "另一个大厅")
    set_password(StoreUsers(store), "manager", "manager password 1", "manager")
    set_password(StoreUsers(store), "auditor", "auditor password 1", "auditor")
    store.execute("INSERT INTO user_halls (username, hall_id) VALUES ('manager', 't2')")
    kiosk(mini, "kiosk-01", key)
    wait_for(lambda: known(store, "kiosk-01"), timeout=20)
    save_kiosk_config(admin)
    manager = login(app, "manager", "manager password 1")
    assert start(manager, 1, "kiosk-01").status_code == 403  # t1 is not the manager's hall
    assert store.scalar("SELECT count(*) FROM rollouts") == 0
    start(admin, 1, "kiosk-01", gate=60)
    assert manager.get("/rollouts/1").status_code == 403
    assert "/rollouts/1\"" not in manager.get("/rollouts/").get_data(as_text=True)
    assert "/rollouts/1\"" in admin.get("/rollouts/").get_data(as_text=True)
    assert manager.post("/rollouts/1/abort", data={"csrf_token": csrf(manager)}).status_code == 403
    auditor = login(app, "auditor", "auditor password 1")
    assert auditor.get("/rollouts/1").status_code == 200
    assert auditor.post("/rollouts/1/abort", data={"csrf_token": csrf(auditor)}).status_code == 403
    assert status(store) in ("waiting", "passed")


# -- the gate on SQLite and PostgreSQL, as several workers judge it ----------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def gate_store(request, tmp_path):
    import json

    from central_sync.server import credentials
    from central_sync.server.schema import MIGRATIONS
    from central_sync.store import Store, migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/central.db"
    else:
        url = request.getfixturevalue("pg_server").create_database(f"t_{uuid.uuid4().hex[:12]}")
    s = Store.connect(url)
    migrate(s, MIGRATIONS)
    credentials.register_hall(s, "h1", "幸福里")
    for node in ("kiosk-01", "kiosk-02", "kiosk-03"):
        s.execute("INSERT INTO hall_nodes (hall_id, node_id, kind, sw, node_ts) VALUES ('h1', ?, 'kiosk', '0', 0)", (node,))
    s.execute("INSERT INTO configs (version, body, note, created_by, created_at) VALUES (1, ?, 'v1', 'admin', 0)",
              (json.dumps(SETTINGS, ensure_ascii=False),))
    yield s, url
    s.close()


def send(store, kind: str, body: dict, *, at: float | None = None) -> None:
    """One record from h1's edge, ingested as the API would (at the centre's time ``at``)."""
    from central_sync.protocol import Batch
    from central_sync.server.ingest import NodeIdentity, apply_batch

    at = time.time() if at is None else at
    rec = {"id": str(uuid.uuid4()), "kind": kind, "node": "edge", "ts": at, "body": body}
    apply_batch(store, NodeIdentity("h1", "edge"), Batch.model_validate({"hall_id": "h1", "sent_at": at, "records": [rec]}),
                now=at)


def report(store, node: str, kind: str, **body) -> None:
    send(store, kind, {"node": node, **body})


def hall_status(store, *, down: dict[str, str] | None = None, at: float | None = None) -> None:
    """h1's edge says its kiosks are online, but those in ``down`` (node → state)."""
    at = time.time() if at is None else at
    down = down or {}
    nodes = [{"node": n, "kind": "kiosk", "state": down.get(n, "ready"), "online": n not in down, "last_seen": at}
             for n in ("kiosk-01", "kiosk-02", "kiosk-03")]
    send(store, "hall_status", {"at": at, "heartbeat_s": 30, "sw": "0.1.0", "nodes": nodes, "alarms": [], "alarms_total": 0,
                                "printers": [], "backlog": {"depth": 0}}, at=at)


def test_the_gate_judged_by_several_workers_decides_once(gate_store):
    import threading

    from central_sync.server import rollout_gate as gate
    from central_sync.store import Store

    store, url = gate_store
    publisher = gate.Publisher(Ed25519PrivateKey.generate(), 30)
    rid = gate.start(store, publisher, version=1, target="kiosk", halls=["h1"], stages=gate.parse_stages("kiosk-01\n50%"),
                     gate_minutes=0, auto_continue=False, user="admin")
    report(store, "kiosk-01", "config_report", version=1, status="applied", reason="")
    assert gate.load(store, rid)["status"] == "passed"  # judged as the report came in

    outcomes: list[str] = []

    def worker() -> None:
        s = Store.connect(url)
        try:
            gate.proceed(s, publisher, rid, user="admin")
            outcomes.append("published")
        except gate.RolloutError:
            outcomes.append("refused")
        finally:
            s.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["published", "refused", "refused", "refused"]
    second = [n["node_id"] for n in gate.stage_nodes(store, rid, 1)]
    assert len(second) == 2 and "kiosk-01" not in second  # 50% of three, of those left
    assert store.scalar("SELECT count(*) FROM config_assignments") == 3

    hall_status(store, down={second[1]: "lost"})  # judged as the hall's status came in
    r = gate.load(store, rid)
    assert r["status"] == "halted" and r["halted_node"] == second[1] and "offline (lost)" in r["halted_reason"]
    report(store, second[0], "config_report", version=0, status="rejected", reason="1: expired")
    assert gate.judge(store, rid)["halted_node"] == second[1]  # halted once, by the first cause
    assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'rollout.halt'") == 1
    with pytest.raises(gate.RolloutError):
        gate.proceed(store, publisher, rid, user="admin")
    gate.abort(store, rid, user="admin")
    assert gate.load(store, rid)["status"] == "aborted"


def test_a_hall_status_judges_the_gate_again_only_when_a_node_came_or_went(gate_store):
    from central_sync.server import rollout_gate as gate

    store, _ = gate_store
    publisher = gate.Publisher(Ed25519PrivateKey.generate(), 30)
    t0 = time.time()
    hall_status(store, at=t0)
    rid = gate.start(store, publisher, version=1, target="kiosk", halls=["h1"], stages=gate.parse_stages("kiosk-01"),
                     gate_minutes=0, auto_continue=False, user="admin", now=t0)
    # kiosk-01 applied it, but that report's judging was missed: only the table says so.
    store.execute("INSERT INTO config_reports (hall_id, node_id, version, status, reason, node_ts, received_at) "
                  "VALUES ('h1', 'kiosk-01', 1, 'applied', '', ?, ?)", (t0, t0))
    hall_status(store, at=t0 + 30)  # a heartbeat: nobody came or went
    assert gate.load(store, rid)["status"] == "waiting"
    hall_status(store, down={"kiosk-03": "disconnected"}, at=t0 + 31)  # a node of no stage yet went away
    assert gate.load(store, rid)["status"] == "passed"


def test_a_silent_hall_halts_its_rollout_but_a_hall_that_never_sent_a_status_does_not(gate_store):
    from central_sync.server import rollout_gate as gate

    store, _ = gate_store
    publisher = gate.Publisher(Ed25519PrivateKey.generate(), 30)
    t0 = time.time()
    rid = gate.start(store, publisher, version=1, target="kiosk", halls=["h1"], stages=gate.parse_stages("kiosk-01"),
                     gate_minutes=60, auto_continue=False, user="admin", now=t0)
    # An edge older than the fleet view says nothing of its nodes: not known, so not offline.
    assert gate.judge(store, rid, now=t0 + 10 * 60, offline_after=90)["status"] == "waiting"
    hall_status(store, at=t0 + 11 * 60)
    assert gate.judge(store, rid, now=t0 + 11 * 60 + 90, offline_after=90)["status"] == "waiting"
    r = gate.judge(store, rid, now=t0 + 11 * 60 + 91, offline_after=90)
    assert r["status"] == "halted" and r["halted_node"] == "kiosk-01"
    assert "offline (hall silent for 91 s)" in r["halted_reason"] and "服务中心 91 秒无消息" in r["halted_reason"]


def test_a_node_that_never_reports_halts_the_rollout_once_its_time_is_up(gate_store):
    from central_sync.server import rollout_gate as gate

    store, _ = gate_store
    publisher = gate.Publisher(Ed25519PrivateKey.generate(), 30)
    t0 = 1_000_000.0
    rid = gate.start(store, publisher, version=1, target="kiosk", halls=["h1"], stages=gate.parse_stages("kiosk-03"),
                     gate_minutes=5, auto_continue=True, user="admin", now=t0)
    assert gate.judge(store, rid, now=t0 + 14 * 60)["status"] == "waiting"
    r = gate.judge(store, rid, now=t0 + gate.REPORT_WITHIN_MIN * 60)
    assert r["status"] == "halted" and r["halted_node"] == "kiosk-03" and "within 15 min" in r["halted_reason"]


def test_a_rollout_chosen_to_continue_by_itself_goes_on_when_its_gate_passes(gate_store):
    from central_sync.server import rollout_gate as gate

    store, _ = gate_store
    publisher = gate.Publisher(Ed25519PrivateKey.generate(), 30)
    rid = gate.start(store, publisher, version=1, target="kiosk", halls=["h1"], stages=gate.parse_stages("kiosk-01"),
                     gate_minutes=0, auto_continue=True, user="admin")
    report(store, "kiosk-01", "config_report", version=1, status="applied", reason="")
    # Outside a request there is no key to sign with: passed, continued by the next judge that has it.
    assert gate.load(store, rid)["status"] == "passed"
    r = gate.judge(store, rid, publisher=publisher)
    assert r["status"] == "waiting" and r["stage"] == 1
    assert {n["node_id"] for n in gate.stage_nodes(store, rid, 1)} == {"kiosk-02", "kiosk-03"}


def test_each_workers_tick_continues_a_rollout_nobody_watches(tmp_path):
    """A rollout that continues by itself passed while its report came in without the key
    at hand; no page is viewed: the worker's tick publishes the next stage."""
    import json

    import central_sync.server
    from central_sync.server import credentials
    from central_sync.server import rollout_gate as gate
    from central_sync.store import Store
    from hall_common.config import CentralConfig

    url = f"sqlite:///{tmp_path}/central.db"
    cfg = CentralConfig(data_dir=tmp_path / "central", database_url=url, http={"port": 1}, demo=True)
    app = central_sync.server.create_app(cfg, {"ROLLOUT_TICK_S": 0.05, "RETENTION_THREAD": False})
    store = Store.connect(url)
    try:
        credentials.register_hall(store, "h1", "幸福里")
        for node in ("kiosk-01", "kiosk-02"):
            store.execute("INSERT INTO hall_nodes (hall_id, node_id, kind, sw, node_ts) VALUES ('h1', ?, 'kiosk', '0', 0)",
                          (node,))
        store.execute("INSERT INTO configs (version, body, note, created_by, created_at) VALUES (1, ?, 'v1', 'admin', 0)",
                      (json.dumps(SETTINGS, ensure_ascii=False),))
        rid = gate.start(store, gate.Publisher.of(app), version=1, target="kiosk", halls=["h1"],
                         stages=gate.parse_stages("kiosk-01"), gate_minutes=0, auto_continue=True, user="admin")
        report(store, "kiosk-01", "config_report", version=1, status="applied", reason="")
        wait_for(lambda: gate.load(store, rid)["stage"] == 1, timeout=20)
        assert store.scalar("SELECT published_by FROM config_assignments WHERE node_id = 'kiosk-02'") == "system"
    finally:
        store.close()


def test_the_tick_of_a_centre_that_was_shut_down_stops(pg_server, tmp_path, caplog):
    """A centre shut down (its PostgreSQL pool closed) while something still holds its app:
    its tick ends instead of logging an error every round for the rest of the process."""
    import threading

    import central_sync.server
    from hall_common.config import CentralConfig

    url = pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    cfg = CentralConfig(data_dir=tmp_path / "central", database_url=url, http={"port": 1}, demo=True)
    before = set(threading.enumerate())
    app = central_sync.server.create_app(cfg, {"ROLLOUT_TICK_S": 0.05, "RETENTION_THREAD": False})
    [tick] = [t for t in threading.enumerate() if t not in before and t.name == "rollout-tick"]
    wait_for(lambda: app.extensions["store_pool"].get_stats().get("requests_num", 0) > 0)  # it has ticked
    app.extensions["store_pool"].close()
    tick.join(5)
    assert not tick.is_alive()  # ended though ``app`` is still held here
    assert "judging rollouts failed" not in caplog.text
