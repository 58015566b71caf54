"""Every register survives SIGKILL of the edge mid-write: nothing a clerk was told is saved
is lost, and nothing reaches the centre twice.

A clerk (a plain HTTP client of the staff console, logging in again whenever the edge comes
back without its sessions) opens an entry in each register in turn and takes its closing
step, each form sent until the console answers it, with the form's id kept across retries as
the browser keeps the page. The edge agent (a real subprocess with its sync worker) is
killed 12 times at random moments and started again. At the end the centre must hold every
answered entry and step, each once, nothing the edge has no fact for, and no entry closed
twice; the edge must have no form made twice and nothing left to send.

The harness is tests/test_sync_crash.py's: a real central server, a real broker, the
edge's own ``python -m edge_agent``.
"""

from __future__ import annotations

import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import pytest
import requests

import central_sync.server
from central_sync.server import credentials
from central_sync.store import Store
from hall_common.config import CentralConfig
from hall_common.storage import open_database

from .conftest import HALL, free_port, wait_for
from .minihall import Served

KILLS = 12
PASSWORD = "correct horse 1"
TZ = ZoneInfo("Asia/Shanghai")


def edge_config(tmp_path, broker, centre_url: str, token_file, port: int) -> str:
    (tmp_path / "edge.pw").write_text(broker.passwords["edge"])
    (tmp_path / "staff.pw").write_text(PASSWORD)
    conf = tmp_path / "edge.toml"
    conf.write_text(
        f'hall_id = "{HALL}"\nhall_name = "测试"\nnode_id = "edge"\ndata_dir = "edge"\nlog_level = "WARNING"\n'
        f'[broker]\nport = {broker.port}\npassword_file = "edge.pw"\n[http]\nport = {port}\n'
        f'[bootstrap_user]\nusername = "staff"\npassword_file = "staff.pw"\nrole = "staff"\n'
        f'[centre]\nurl = "{centre_url}"\ntoken_file = "{token_file.name}"\nbatch_size = 20\ntimeout = 2\n'
    )
    return str(conf)


def forms(n: int) -> tuple[str, dict[str, str], str, dict[str, str]]:
    """The ``n``-th visit: a register, its opening form, its closing step and that step's form
    (dates from the hall's clock now, so they are valid whenever the test runs)."""
    now = datetime.now(TZ)
    today, phone = now.date().isoformat(), f"139{n:08d}"
    visits = [
        ("keys", {"key": f"钥匙 {n}", "name": "李四", "phone": phone, "id_checked": "on", "id_type": "id_card",
                  "id_last4": "1234", "due_back": (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")},
         "return", {"returned_by": "李四"}),
        ("parcels", {"kind": "parcel", "carrier": "顺丰", "room": f"2-1-{n}", "name": "王五", "phone": phone, "shelf": "A-1"},
         "pickup", {"by_name": "王五"}),
        ("renovations", {"room": f"3-1-{n}", "owner_name": "张三", "owner_phone": phone, "contractor": "好家装饰",
                         "foreman_name": "赵六", "foreman_phone": "13700001111", "works": "刷墙", "start_date": today,
                         "end_date": (now + timedelta(days=10)).date().isoformat(), "deposit_fen": "1000", "notice_ack": "on"},
         "accept", {"on": today, "inspector": "钱工", "result": "合格", "refund_fen": "1000"}),
        ("lost_found", {"item": f"雨伞 {n}", "place": "大堂", "found_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")},
         "claim", {"name": "孙七", "phone": phone, "id_checked": "on", "id_type": "id_card", "id_last4": "4321"}),
        ("releases", {"room": f"1-1-{n}", "name": "周八", "phone": phone, "items": "旧沙发 1 套", "approved_by": "周经理",
                      "out_on": today}, "checkout", {"guard": "门岗刘"}),
    ]
    return visits[n % len(visits)]


class Clerk:
    """The console over HTTP as a browser uses it: log in, send a form until it is answered."""

    def __init__(self, url: str, stop: threading.Event) -> None:
        self.url, self.stop = url, stop
        self.session: requests.Session | None = None
        self.token = ""
        self.resent = 0  # forms sent again because the edge went away before answering

    def _login(self) -> None:
        s = requests.Session()
        token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(self.url + "login", timeout=2).text).group(1)
        r = s.post(self.url + "login", data={"username": "staff", "password": PASSWORD, "csrf_token": token},
                   allow_redirects=False, timeout=2)
        assert r.status_code == 302, r.status_code
        page = s.get(self.url + "registers/", timeout=2).text
        self.session, self.token = s, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def send(self, path: str, data: dict[str, str]) -> str | None:
        """POST ``data`` until the console answers it; where it led (an entry's page), or
        None if the test stopped first. A refusal fails the test: these forms are right."""
        while not self.stop.is_set():
            try:
                if self.session is None:
                    self._login()
                r = self.session.post(self.url + path, data={**data, "csrf_token": self.token}, allow_redirects=False,
                                      timeout=3)
            except (requests.RequestException, AttributeError):
                self.session = None  # the edge is down, or came back without our login
                self.resent += 1
                time.sleep(0.05)
                continue
            if r.status_code == 302 and "/login" not in r.headers["Location"]:
                return r.headers["Location"]
            assert r.status_code in (302, 400), (r.status_code, r.text[:300])  # logged out / CSRF session gone
            self.session = None
        return None

    def code(self, location: str) -> str | None:
        """A parcel's pickup code, read from its page."""
        while not self.stop.is_set():
            try:
                if self.session is None:
                    self._login()
                page = self.session.get(urljoin(self.url, location), timeout=3).text
                return re.search(r'class="reg-code">(\d{6})<', page).group(1)
            except (requests.RequestException, AttributeError):
                self.session = None
                time.sleep(0.05)
        return None


@pytest.mark.slow
def test_sigkill_of_the_edge_mid_write_loses_and_doubles_no_register_entry(broker, tmp_path):
    url = f"sqlite:///{tmp_path}/central.db"
    served = Served(central_sync.server.create_app(CentralConfig(data_dir=tmp_path / "c", database_url=url,
                                                                     http={"port": 1}, demo=True)))
    store = Store.connect(url)
    credentials.register_hall(store, HALL, "测试")
    token_file = tmp_path / "edge.token"
    token_file.write_text(credentials.issue(store, HALL, "edge"))
    port = free_port()
    conf = edge_config(tmp_path, broker, served.url, token_file, port)

    def start_edge() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "edge_agent", "--config", conf],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    stop = threading.Event()
    clerk = Clerk(f"http://127.0.0.1:{port}/", stop)
    opened: dict[str, str] = {}  # entry id → register, for every entry the console answered
    closed: list[str] = []  # entries whose closing step the console answered

    def work() -> None:
        n = 0
        while not stop.is_set():
            register, form, step, step_form = forms(n)
            n += 1
            where = clerk.send(f"registers/{register}/", {**form, "form_id": str(uuid.uuid4())})
            if where is None:
                return
            entry_id = where.rstrip("/").rsplit("/", 1)[1]
            opened[entry_id] = register
            if register == "parcels":
                step_form = {**step_form, "code": clerk.code(where) or ""}
            if clerk.send(f"registers/{register}/{entry_id}/{step}", {**step_form, "form_id": str(uuid.uuid4())}):
                closed.append(entry_id)

    edge = start_edge()
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    rng = random.Random(2026_03_02)
    try:
        for _ in range(KILLS):
            # Once this agent has answered something, kill it at a random moment: mid-form,
            # mid-commit, mid-push to the centre.
            done = len(opened) + len(closed)
            wait_for(lambda: len(opened) + len(closed) > done, timeout=60)
            time.sleep(rng.uniform(0.0, 0.8))
            edge.send_signal(signal.SIGKILL)
            edge.wait(10)
            edge = start_edge()
        wait_for(lambda: len(closed) >= len(opened) - 1 and len(opened) >= 20, timeout=120)
        stop.set()
        worker.join(15)

        def drained() -> bool:
            held = {r["id"] for r in store.query("SELECT id FROM records WHERE kind = 'register_entry'")}
            return set(opened) <= held and _unsent(tmp_path) == 0

        wait_for(drained, timeout=60)
    finally:
        stop.set()
        edge.send_signal(signal.SIGTERM)
        edge.wait(15)
        served.stop()

    held = store.query("SELECT id, kind, body FROM records WHERE kind IN ('register_entry', 'register_step')")
    store.close()
    bodies = [(r["kind"], r["body"] if isinstance(r["body"], dict) else json.loads(r["body"])) for r in held]
    entries = [b["id"] for k, b in bodies if k == "register_entry"]
    steps = [b for k, b in bodies if k == "register_step"]
    assert clerk.resent > 0  # the kills did land while forms were on their way
    assert len(opened) >= 20 and len(closed) >= 19 and set(opened.values()) == {forms(i)[0] for i in range(5)}
    assert set(opened) <= set(entries), "an entry the clerk was told is saved never reached the centre"
    closings = [s["entry"] for s in steps if s["closes"]]
    assert set(closed) <= set(closings), "a closing step the clerk was told is saved never reached the centre"
    assert len(closings) == len(set(closings)), "an entry was closed twice"
    db = open_database(tmp_path / "edge" / "edge.db")
    try:
        facts = {r["id"]: r for r in db.query("SELECT id, form_id, status FROM register_entries")}
        step_facts = {r["id"] for r in db.query("SELECT id FROM register_steps")}
    finally:
        db.close()
    assert len(entries) == len(set(entries)) == len(facts) and set(entries) == set(facts), "lost or doubled entries"
    assert {s["id"] for s in steps} == step_facts and len(steps) == len(step_facts), "lost or doubled steps"
    assert all(facts[e]["status"] == "closed" for e in closed)
    forms_made = [f["form_id"] for f in facts.values()]
    assert len(forms_made) == len(set(forms_made)), "a form sent again made a second entry"


def _unsent(tmp_path) -> int:
    """Records the running edge has not sent yet (read-only, as the console's tests read it)."""
    conn = sqlite3.connect(f"file:{tmp_path / 'edge' / 'edge.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
    finally:
        conn.close()
