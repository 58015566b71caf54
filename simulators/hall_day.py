"""A scripted hall day: residents and staff playing a busy day against a running hall.

``hall up`` brings the hall up; this plays it. Residents walk up to the kiosks and take
numbers, file complaints and pay bills through the payment sandbox, the way a browser
does it (the same forms, the same CSRF tokens and session cookies, tapping again when a
screen does not answer); staff call the next number at the counters from the console; the
sensor nodes' readings change and the AED cabinet's door opens and closes.

Everything a resident was *told* is written in a :class:`Ledger`: the number on the
ticket screen, the tracking number on the complaint's receipt screen, "paid" on the
payment screen, and whether each screen said its paper was printed. The reliability
campaign (``tests/test_campaign_*.py``) kills processes, cuts links and loads the hall
while a day plays, then holds the hall to the ledger with :func:`check`: every
acknowledged record at the centre exactly once, queue numbers unique, nothing printed
twice unless marked 重打. Run by hand against ``hall up``::

    .venv/bin/python -m simulators.hall_day --data-dir var/hall --minutes 5

A resident's retry is what a person does: the same screen tapped again. A form that was
answered (a redirect came back) is never sent twice; one that was not is sent again with
the same session, whose request id makes the second tap the same record at the edge.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sqlite3
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from hall_common.errors import HallError

log = logging.getLogger(__name__)

NAMES = ("陈建国", "刘秀英", "杨志强", "赵丽娟", "黄德明", "周桂兰", "吴海涛", "徐美玲")
"""Residents' names the day uses (complaints' contacts, households): the log check looks
for exactly these in every log file."""


class Unanswered(HallError, TimeoutError):
    """A screen did not answer within the resident's patience."""


@dataclass
class HallEnv:
    """Where a running hall's parts are, read from the configuration ``hall up`` wrote."""

    data_dir: Path
    hall_id: str
    kiosks: dict[str, str]
    console_url: str
    staff_password: str
    central_url: str
    central_db: Path
    edge_db: Path
    env_controls: dict[str, str]
    aed_control: str | None
    printer_dirs: list[Path]
    counters: list[str]

    @classmethod
    def discover(cls, data_dir: Path) -> "HallEnv":
        config = data_dir / "config"
        edge = tomllib.loads((config / "edge.toml").read_text(encoding="utf-8"))
        central = tomllib.loads((config / "central.toml").read_text(encoding="utf-8"))
        aed_node = (edge.get("aed") or {}).get("node")
        kiosks, env_controls, aed_control = {}, {}, None
        for path in sorted(config.glob("*.toml")):
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
            node = doc.get("node_id")
            if "camera" in doc:
                kiosks[node] = f"http://{doc['http']['host']}:{doc['http']['port']}"
            elif "control_port" in doc:
                url = f"http://{doc['broker']['host']}:{doc['control_port']}"
                if node == aed_node:
                    aed_control = url
                else:
                    env_controls[node] = url
        host = edge["http"]["host"]
        return cls(
            data_dir=data_dir, hall_id=edge["hall_id"], kiosks=kiosks,
            console_url=f"http://{host}:{edge['http']['port']}",
            staff_password=(data_dir / "secrets/console/staff").read_text(encoding="utf-8").strip(),
            central_url=f"http://{central['http']['host']}:{central['http']['port']}",
            central_db=data_dir / "central/central.db", edge_db=data_dir / "nodes/edge/edge.db",
            env_controls=env_controls, aed_control=aed_control,
            printer_dirs=[data_dir / "printer" / p["id"] for p in edge.get("printers", [])],
            counters=[c["id"] for c in edge.get("queue", {}).get("counters", [])],
        )


@dataclass
class Ledger:
    """What residents were told, kept as the day goes (threads append under a lock)."""

    tickets: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    unanswered: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    personal: set[str] = field(default_factory=set)
    """Names and phone numbers typed in during the day (for the log check)."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, entry: dict[str, Any]) -> None:
        with self.lock:
            getattr(self, kind).append(entry)

    def count(self, what: str, key: str) -> None:
        with self.lock:
            table = getattr(self, what)
            table[key] = table.get(key, 0) + 1

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"tickets": len(self.tickets), "complaints": len(self.complaints), "payments": len(self.payments),
                    "calls": self.calls, "retries": self.retries, "unanswered": dict(self.unanswered),
                    "refused": dict(self.refused)}


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Screen:
    """One resident's (or staff member's) browser on one part: a session, and patience.

    ``patience`` is how long a person keeps tapping a screen that does not answer (a part
    restarting); each tap waits ``timeout``.
    """

    def __init__(self, base: str, ledger: Ledger, *, patience: float = 30.0, timeout: float = 15.0) -> None:
        self.base, self.ledger, self.patience, self.timeout = base.rstrip("/"), ledger, patience, timeout
        self.http = requests.Session()
        self.csrf = ""

    def get(self, path: str, **params: Any) -> requests.Response:
        """GET, following redirects; tapped again while the part does not answer."""
        def once() -> requests.Response:
            r = self.http.get(self.base + path if path.startswith("/") else path, params=params or None,
                              timeout=self.timeout)
            if r.status_code >= 500:
                raise requests.ConnectionError(f"{r.status_code}")
            return r
        r = self._patiently(once)
        if m := _CSRF.search(r.text):
            self.csrf = m.group(1)
        return r

    def post(self, path: str, data: dict[str, Any]) -> requests.Response:
        """POST a form; sent again only while no answer came back, then the redirect is
        followed (with GETs, which are safe to repeat)."""
        def once() -> requests.Response:
            r = self.http.post(self.base + path, data={**data, "csrf_token": self.csrf}, timeout=self.timeout,
                               allow_redirects=False)
            if r.status_code >= 500:
                raise requests.ConnectionError(f"{r.status_code}")
            return r
        r = self._patiently(once)
        if r.is_redirect:
            return self.get(r.headers["Location"])
        return r

    def _patiently(self, call: Callable[[], requests.Response]) -> requests.Response:
        deadline = time.monotonic() + self.patience
        while True:
            try:
                return call()
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                if time.monotonic() > deadline:
                    raise Unanswered(str(exc)) from None
                with self.ledger.lock:
                    self.ledger.retries += 1
                time.sleep(0.5)


def _text(html: str, css_class: str) -> str | None:
    m = re.search(rf'class="{css_class}"[^>]*>([^<]*)<', html)
    return m.group(1).strip() if m else None


class HallDay:
    """Plays the day: ``start()`` the residents, staff and devices; ``stop()`` them.

    ``visits_per_hour`` is the whole hall's rate of visits (spread over the kiosks); complaints and
    payments come in between, in the proportions of a busy day at a hall (about one
    complaint for every eight tickets, one payment for every ten).
    """

    def __init__(self, env: HallEnv, *, seed: int = 1, visits_per_hour: float = 3600.0,
                 complaints: bool = True, payments: bool = True, devices: bool = True, calls: bool = True,
                 patience: float = 30.0) -> None:
        self.env, self.rng, self.ledger = env, random.Random(seed), Ledger()
        self.visits_per_hour = visits_per_hour
        self.complaints, self.payments, self.devices, self.calls = complaints, payments, devices, calls
        self.patience = patience
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._households: dict[str, tuple[str, str]] = {}
        self._amount = 1000 + seed % 1000 * 10
        self._amount_lock = threading.Lock()

    # -- the day ---------------------------------------------------------------------

    def start(self) -> None:
        if self.payments:
            self.prepare_households()
        for n, (node, url) in enumerate(sorted(self.env.kiosks.items())):
            self._spawn(f"resident@{node}", self._residents, node, url, random.Random(self.rng.random()))
        if self.calls and self.env.counters:
            self._spawn("staff", self._staff, random.Random(self.rng.random()))
        if self.devices:
            self._spawn("devices", self._device_play, random.Random(self.rng.random()))

    def stop(self, timeout: float = 60.0) -> Ledger:
        """Let every visit in progress finish (a resident mid-form completes it), then stop."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        return self.ledger

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=self._guard, args=(target, *args), name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _guard(self, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        except Exception:  # a driver bug must show, not silently thin out the day
            log.exception("hall day: %s stopped", threading.current_thread().name)
            raise

    def _residents(self, node: str, url: str, rng: random.Random) -> None:
        per_kiosk = self.visits_per_hour / max(1, len(self.env.kiosks)) / 3600.0
        while not self._stop.is_set():
            roll = rng.random()
            visit = self.ticket
            if self.complaints and roll < 0.12:
                visit = self.complaint
            elif self.payments and roll < 0.22:
                visit = self.payment
            try:
                visit(node, url, rng)
            except Unanswered:
                self.ledger.count("unanswered", visit.__name__)
            self._stop.wait(rng.expovariate(per_kiosk) if per_kiosk > 0 else 1.0)

    # -- residents' visits -----------------------------------------------------------

    def ticket(self, node: str, url: str, rng: random.Random) -> dict[str, Any] | None:
        s = Screen(url, self.ledger, patience=self.patience)
        page = s.get("/queue/")
        services = re.findall(r'name="service" value="([^"]+)"', page.text)
        if not services:
            self.ledger.count("refused", "ticket: " + page.url.removeprefix(url))
            return None
        service = rng.choice(services)
        r = s.post("/queue/take", {"service": service, "priority": "yes" if rng.random() < 0.1 else "no",
                                   "paper": "yes"})
        code = _text(r.text, "ticket-number")
        if code is None:
            self.ledger.count("refused", "ticket: " + r.url.removeprefix(url))
            return None
        entry = {"code": code, "service": service, "kiosk": node, "printed": 'class="result ok"' in r.text,
                 "at": time.time()}
        self.ledger.add("tickets", entry)
        return entry

    def complaint(self, node: str, url: str, rng: random.Random) -> dict[str, Any] | None:
        s = Screen(url, self.ledger, patience=self.patience)
        page = s.get("/complaints/")
        kinds = re.findall(r'name="kind" value="([^"]+)"', page.text)
        categories = re.findall(r'name="category" value="([^"]+)"', page.text)
        if not kinds or not categories:
            self.ledger.count("refused", "complaint: " + page.url.removeprefix(url))
            return None
        s.post("/complaints/what", {"kind": rng.choice(kinds), "category": rng.choice(categories)})
        s.post("/complaints/place", {"home": "1"})
        s.post("/complaints/when", rng.choice(({"day": "now"}, {"day": "yesterday", "time": f"{rng.randint(6, 22)}:30"})))
        s.post("/complaints/content", {"content": rng.choice(("楼道灯不亮了", "电梯有异响", "小区门口有积水", "垃圾没有及时清运")),
                                       "wanted": "请尽快处理"})
        name = rng.choice(NAMES)
        phone = f"139{rng.randrange(10**8):08d}"
        with self.ledger.lock:
            self.ledger.personal.update((name, phone))
        s.post("/complaints/contact", {"name": name, "room": f"{rng.randint(1, 9)}-{rng.randint(1, 3)}-{rng.randint(1, 18)}0{rng.randint(1, 4)}",
                                       "phone": phone})
        page = s.get("/complaints/confirm")
        if "/complaints/confirm" not in page.url:
            self.ledger.count("refused", "complaint: " + page.url.removeprefix(url))
            return None
        r = s.post("/complaints/submit", {})
        readable = _text(r.text, "tracking-number")
        if readable is None:
            self.ledger.count("refused", "complaint submit: " + r.url.removeprefix(url))
            return None
        entry = {"tracking_no": "".join(readable.split()), "kiosk": node, "printed": 'class="result ok"' in r.text,
                 "at": time.time()}
        self.ledger.add("complaints", entry)
        return entry

    def payment(self, node: str, url: str, rng: random.Random) -> dict[str, Any] | None:
        """Look up the kiosk's household by room and phone digits, pay this month's new
        line on the sandbox's phone page, wait for "paid", print the receipt."""
        room, last4 = self._households[node]
        with self._amount_lock:
            self._amount += 1
            amount = self._amount
        line_id = self._bill(room, amount)
        s = Screen(url, self.ledger, patience=self.patience)
        s.get("/bills/")
        r = s.post("/bills/identify", {"room": room, "last4": last4})
        if line_id not in r.text:
            self.ledger.count("refused", "payment: lookup")
            return None
        s.post("/bills/pick", {"line": line_id})
        r = s.post("/bills/pay/", {})
        if "/bills/pay" not in r.url:
            self.ledger.count("refused", "payment: order")
            return None
        trade = self._pay_on_phone(amount)
        if trade is None:
            self.ledger.count("refused", "payment: not in the sandbox")
            return None
        deadline = time.monotonic() + 60
        status = "created"
        while status == "created" and time.monotonic() < deadline:
            status = s.get("/bills/pay/state", wait="10").json().get("status", "none")
        page = s.get("/bills/pay/done")
        if "paid-banner" not in page.text:
            self.ledger.count("refused", f"payment: {status}")
            return None
        receipt = s.post("/bills/pay/receipt", {})
        entry = {"out_trade_no": trade, "line": line_id, "amount_fen": amount, "kiosk": node, "room": room,
                 "printed": bool(receipt.json().get("printed")), "at": time.time()}
        self.ledger.add("payments", entry)
        return entry

    def _pay_on_phone(self, amount_fen: int) -> str | None:
        """The resident's phone: the sandbox's open trades, the one of this amount, 确认支付."""
        phone = Screen(self.env.central_url, self.ledger, patience=self.patience)
        yuan = f"¥{amount_fen // 100}.{amount_fen % 100:02d}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            page = phone.get("/sandbox/pay/")
            m = re.search(rf'href="/sandbox/pay/([^"]+)">{re.escape(yuan)} ', page.text)
            if m:
                phone.get(f"/sandbox/pay/{m.group(1)}")
                done = phone.post(f"/sandbox/pay/{m.group(1)}", {})
                return m.group(1) if "closed" not in done.url else None
            time.sleep(0.5)
        return None

    def prepare_households(self) -> None:
        """One household per kiosk (two kiosks never pay for one room at once): what
        :meth:`payment` pays for. :meth:`start` makes them; a caller that drives visits
        itself (``bench/footprint.py``) calls this first."""
        from central_sync.server.residents import Household, save_household
        from central_sync.store import Store

        store = Store.connect(f"sqlite:///{self.env.central_db}")
        try:
            for n, node in enumerate(sorted(self.env.kiosks)):
                room, phone = f"9-{n + 1}-{1001 + n}", f"1370000{n + 1:04d}"
                save_household(store, Household(self.env.hall_id, room, "9", str(n + 1), NAMES[n % len(NAMES)], phone))
                self._households[node] = (room, phone[-4:])
                with self.ledger.lock:
                    self.ledger.personal.update((NAMES[n % len(NAMES)], phone))
        finally:
            store.close()

    def _bill(self, room: str, amount_fen: int) -> str:
        """The company's billing adds a line for the room (a unique amount: the phone finds
        its trade by it)."""
        from central_sync.server.residents import add_line
        from central_sync.store import Store

        store = Store.connect(f"sqlite:///{self.env.central_db}")
        try:
            return add_line(store, hall_id=self.env.hall_id, room=room, item="其他代收费用", period=f"第{amount_fen}期",
                            amount_fen=amount_fen, standard="按次", basis="物业服务合同", due_date="2030-01-01")
        finally:
            store.close()

    # -- staff and devices -----------------------------------------------------------

    def _staff(self, rng: random.Random) -> None:
        console = self.staff_console()
        while not self._stop.is_set():
            counter = rng.choice(self.env.counters)
            try:
                console.post(f"/counters/{counter}/next", {})
                with self.ledger.lock:
                    self.ledger.calls += 1
            except Unanswered:
                self.ledger.count("unanswered", "call")
            self._stop.wait(rng.uniform(1.0, 4.0))

    def staff_console(self) -> Screen:
        console = Screen(self.env.console_url, self.ledger, patience=self.patience)
        console.get("/login")
        console.post("/login", {"username": "staff", "password": self.env.staff_password})
        return console

    def _device_play(self, rng: random.Random) -> None:
        """CO2 rises and falls on the sensor nodes; the AED cabinet's door opens once and
        closes (the alarm stays until staff complete the checklist, as in a real hall)."""
        door_opened = False
        while not self._stop.wait(rng.uniform(2.0, 6.0)):
            try:
                for node, url in self.env.env_controls.items():
                    requests.post(f"{url}/set", params={"co2": rng.choice((600, 800, 1500))}, timeout=5)
                if self.env.aed_control and not door_opened and rng.random() < 0.3:
                    requests.post(f"{self.env.aed_control}/door", params={"open": "1"}, timeout=5)
                    door_opened = True
                elif self.env.aed_control and door_opened:
                    requests.post(f"{self.env.aed_control}/door", params={"open": "0"}, timeout=5)
            except requests.RequestException as exc:
                log.info("hall day: a device control did not answer: %s", exc)


# -- the checks ------------------------------------------------------------------------


@dataclass
class Report:
    """What :func:`check` found. ``lost`` and ``doubled`` list what broke a promise."""

    records_checked: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    unmarked_reprints: list[str] = field(default_factory=list)
    jobs: int = 0
    reprints: int = 0
    outbox_left: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"records_checked": self.records_checked, "lost": len(self.lost), "doubled": len(self.doubled),
                "unmarked_double_prints": len(self.unmarked_reprints), "jobs": self.jobs,
                "marked_reprints": self.reprints, "outbox_left": self.outbox_left,
                "problems": (self.lost + self.doubled + self.unmarked_reprints)[:20]}


def _rows(db: Path, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def outbox_depth(env: HallEnv) -> int:
    return _rows(env.edge_db, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")[0]["n"]


def wait_drained(env: HallEnv, timeout: float = 120.0) -> int:
    """Wait until the edge's outbox is empty (everything acknowledged by the centre)."""
    deadline = time.monotonic() + timeout
    while (left := outbox_depth(env)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def printed_jobs(env: HallEnv) -> list[tuple[Path, list[str], list[str]]]:
    """Every job the virtual printers put on paper: (file, text lines, QR payloads)."""
    from simulators.escpos_parse import QR, Text, parse

    jobs = []
    for folder in env.printer_dirs:
        for path in sorted(folder.glob("job-*.bin")):
            elements = parse(path.read_bytes())
            jobs.append((path, [e.text for e in elements if isinstance(e, Text)],
                         [e.data for e in elements if isinstance(e, QR)]))
    return jobs


def check(env: HallEnv, ledger: Ledger, *, drain_timeout: float = 180.0) -> Report:
    """Hold the hall to what residents were told (see the module's docstring)."""
    report = Report(outbox_left=wait_drained(env, drain_timeout))
    centre_tickets = [json.loads(r["body"]) | {"id": r["id"]} for r in
                      _rows(env.central_db, "SELECT id, body FROM records WHERE kind = 'ticket' AND hall_id = ?",
                            (env.hall_id,))]
    report.records_checked += len(centre_tickets)
    by_number: dict[tuple[str, str], list[str]] = {}
    for t in centre_tickets:
        by_number.setdefault((t["day"], t["code"]), []).append(t["id"])
    for key, ids in by_number.items():
        if len(ids) > 1:
            report.doubled.append(f"ticket number {key} issued {len(ids)} times")
    edge_tickets = _rows(env.edge_db, "SELECT day, service, number, count(*) AS n FROM tickets GROUP BY 1, 2, 3 HAVING n > 1")
    report.doubled += [f"edge ticket {tuple(r)}" for r in edge_tickets]
    for t in ledger.tickets:
        # A code comes round again only on another service day: the one issued in the
        # minutes before the screen showed it is the one the resident holds.
        if not any(c["code"] == t["code"] and t["at"] - 300 <= c["issued_at"] <= t["at"] + 5 for c in centre_tickets):
            report.lost.append(f"ticket {t['code']} told at {t['kiosk']}")
    complaints = {r["tracking_no"]: r["n"] for r in _rows(
        env.central_db, "SELECT tracking_no, count(*) AS n FROM complaints WHERE hall_id = ? GROUP BY 1", (env.hall_id,))}
    report.records_checked += sum(complaints.values())
    report.doubled += [f"complaint {no} {n} times" for no, n in complaints.items() if n > 1]
    for c in ledger.complaints:
        if c["tracking_no"] not in complaints:
            report.lost.append(f"complaint {c['tracking_no']} told at {c['kiosk']}")
    records = _rows(env.central_db, "SELECT kind, count(*) AS n FROM records WHERE hall_id = ? GROUP BY kind", (env.hall_id,))
    report.records_checked += sum(r["n"] for r in records if r["kind"] != "ticket")
    # A hall's status is a snapshot: the centre keeps only the newest (fleet_projection.py).
    edge_ids = {r["id"] for r in _rows(env.edge_db, "SELECT id FROM outbox WHERE kind <> 'hall_status'")}
    centre_ids = {r["id"] for r in _rows(env.central_db, "SELECT id FROM records WHERE hall_id = ?", (env.hall_id,))}
    report.lost += [f"outbox record {i} never reached the centre" for i in sorted(edge_ids - centre_ids)][:20]
    for p in ledger.payments:
        line = _rows(env.central_db, "SELECT status FROM bill_lines WHERE id = ?", (p["line"],))
        paid = _rows(env.central_db, "SELECT count(*) AS n FROM payment_order_lines l JOIN payment_orders o "
                                     "ON o.id = l.order_id WHERE l.line_id = ? AND o.status IN ('paid', 'paid_conflict')",
                     (p["line"],))[0]["n"]
        report.records_checked += 1
        if not line or line[0]["status"] != "paid":
            report.lost.append(f"payment {p['out_trade_no']}: line not paid at the centre")
        if paid > 1:
            report.doubled.append(f"payment of line {p['line']} recorded {paid} times")
    _check_prints(env, ledger, report)
    return report


def _check_prints(env: HallEnv, ledger: Ledger, report: Report) -> None:
    """Each ticket, receipt and complaint slip on paper once, or again only marked 重打."""
    unmarked: dict[str, int] = {}
    on_paper: set[str] = set()
    for path, lines, qrs in printed_jobs(env):
        report.jobs += 1
        text = "\n".join(lines)
        reprint = "重打" in text
        report.reprints += reprint
        keys = [t["code"] for t in ledger.tickets if t["code"] in lines]
        keys += [c["tracking_no"] for c in ledger.complaints if any(c["tracking_no"] in q for q in qrs)]
        keys += [p["out_trade_no"] for p in ledger.payments if p["out_trade_no"] in text]
        on_paper.update(keys)
        for key in keys:
            if not reprint:
                unmarked[key] = unmarked.get(key, 0) + 1
    report.unmarked_reprints += [f"{key} printed {n} times unmarked" for key, n in unmarked.items() if n > 1]
    told_printed = [t["code"] for t in ledger.tickets if t["printed"]]
    told_printed += [c["tracking_no"] for c in ledger.complaints if c["printed"]]
    told_printed += [p["out_trade_no"] for p in ledger.payments if p["printed"]]
    # A job the edge could not be sure of (it was killed while sending it) comes out again
    # marked 重打, and the kiosk is told "printed" then: the resident has the paper.
    report.lost += [f"{key}: the screen said printed; no job on paper" for key in told_printed if key not in on_paper]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.hall_day", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("var/hall"), help="the data directory of `hall up`")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the day plays")
    parser.add_argument("--visits-per-hour", type=float, default=600.0, help="visits to the kiosks per hour, the whole hall (about 78 %% take a ticket)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    day = HallDay(HallEnv.discover(args.data_dir), seed=args.seed, visits_per_hour=args.visits_per_hour)
    day.start()
    try:
        time.sleep(args.minutes * 60)
    except KeyboardInterrupt:
        pass
    ledger = day.stop()
    log.info("played: %s", ledger.summary())
    log.info("checked: %s", check(day.env, ledger).as_dict())


if __name__ == "__main__":
    main()
