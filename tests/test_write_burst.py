"""Two hundred of each writing request at once, at a real edge agent: the real broker, the
agent with its SQLite file, a real centre (SQLite) and a virtual printer.

Each burst is published without waiting for any answer, from two kiosks where the method
takes requests from both. The hall's other writers work meanwhile:

* staff, on the console, mark help calls handled (a connection per web request);
* staff accept new complaints (the complaints component, off the bus worker);
* an environment node reports five readings every 20 ms, each one stored;
* the printer's worker claims and prints, and the sync worker marks what the centre took.

Every request must be answered, with a result or with a refusal the kiosk can act on
(``locked``, ``rate_limited`` ...). Silence fails the test, and so does ``internal``. Issue
22 saw 2 of 20 "call staff" requests answered ``internal``: "database is locked", from a
deferred transaction that read before it wrote.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from central_sync.server.resident_demo import load_demo
from hall_common.bus.client import BusClient
from hall_common.errors import BusTimeout, RequestFailed
from simulators.env_node import EnvNodeSim

from .conftest import HALL, wait_for
from .helpers import edge_db
from .helpers.edge_inputs import complaint
from .minihall import STAFF_PASSWORD

N = 200
"""Requests in each burst."""
ANSWER_S = 60.0
"""How long a requester waits: the edge answers one request at a time, so the last of a
burst waits for all the others; a missing answer, not a slow one, fails the test."""

ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
QUEUE = {"hours": ALWAYS, "counters": [
    {"id": "c1", "name": "1", "services": ["consult"], "callers": ["kiosk-01"]},
    {"id": "c2", "name": "2", "services": ["consult"], "callers": ["kiosk-02"]},
    {"id": "c3", "name": "3", "services": ["repair"]},
]}


@dataclass
class Hall:
    agent: Any
    kiosks: list[BusClient]
    centre: Any
    store: Any
    console: Any
    csrf: str


@pytest.fixture(scope="module")
def hall(module_mini) -> Iterator[Hall]:
    centre, store, token = module_mini.registered_centre()
    load_demo(store, HALL)
    printer = module_mini.printer(None)
    agent = module_mini.edge(centre_url=centre.url, token=token, queue=QUEUE, environment={"store_every_s": 0},
                             printers=[{"id": "printer-1", "host": "127.0.0.1", "port": printer.port, "timeout": 1}])
    kiosks = [module_mini.broker.client(node, kind="kiosk") for node in ("kiosk-01", "kiosk-02")]
    console = module_mini.console(agent).app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', console.get("/login").get_data(as_text=True)).group(1)
    console.post("/login", data={"username": "staff", "password": STAFF_PASSWORD, "csrf_token": token})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', console.get("/").get_data(as_text=True)).group(1)
    env = EnvNodeSim(lambda: module_mini.broker.client("env-01", kind="env_node", availability="esphome", connect=False),
                     interval=0.02)
    env.start()
    assert env.wait_connected(10)
    reporting = threading.Thread(target=env.run, name="env-01", daemon=True)
    reporting.start()
    yield Hall(agent, kiosks, centre, store, console, csrf)
    env.close()
    reporting.join(5)


# -- sending and judging a burst ----------------------------------------------------------------


def burst(method: str, calls: list[tuple[BusClient, dict[str, Any]]]) -> list[tuple[str, dict[str, Any] | None]]:
    """Send every call at once: one thread each, all released together, so every request
    is published before the edge has answered the first. What each got back: ``("ok",
    answer)``, ``(refusal code, None)`` or ``("no answer", None)``."""
    gate = threading.Barrier(len(calls))

    def one(call: tuple[BusClient, dict[str, Any]]) -> tuple[str, dict[str, Any] | None]:
        bus, args = call
        gate.wait()
        try:
            return "ok", bus.request(method, args, timeout=ANSWER_S)
        except RequestFailed as exc:
            return exc.code, None
        except BusTimeout:
            return "no answer", None

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def answered(outcomes: list[tuple[str, dict[str, Any] | None]], *refusals: str) -> list[dict[str, Any]]:
    """Check that all ``N`` were answered, each with a result or one of ``refusals``
    (never ``internal``, never silence); the results."""
    codes = Counter(code for code, _ in outcomes)
    assert sum(codes.values()) == N
    assert set(codes) <= {"ok", *refusals}, f"answers: {dict(codes)}"
    return [result for code, result in outcomes if code == "ok"]


def both(args: Callable[[], dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """``N`` calls, half from each kiosk (by index); ``args()`` makes each call's arguments."""
    return [(k, args()) for _ in range(N // 2) for k in (0, 1)]


@contextmanager
def staff_at_work(h: Hall) -> Iterator[None]:
    """Staff write while the burst runs, as fast as they can: help calls marked handled on
    the console, new complaints accepted."""
    stop = threading.Event()
    failed: list[BaseException] = []

    def work() -> None:
        try:
            while not stop.is_set():
                for row in edge_db.rows(h.agent, "SELECT id FROM help_requests WHERE handled_at IS NULL LIMIT 20"):
                    page = h.console.post(f"/help/{row['id']}/handled", data={"csrf_token": h.csrf})
                    assert page.status_code == 302, page.status_code
                for row in edge_db.rows(h.agent, "SELECT id FROM complaints WHERE status = 'submitted' LIMIT 20"):
                    h.agent.complaints.transition(row["id"], "accept", who="staff")
                stop.wait(0.01)
        except BaseException as exc:  # reported by the test, on its own thread
            failed.append(exc)

    worker = threading.Thread(target=work, name="staff", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(10)
    assert not failed, f"staff's own writes failed: {failed[0]!r}"


def send(h: Hall, method: str, calls: list[tuple[int, dict[str, Any]]]) -> list[tuple[str, dict[str, Any] | None]]:
    """A burst of ``method`` from the kiosks named by index, while staff work."""
    with staff_at_work(h):
        return burst(method, [(h.kiosks[k], args) for k, args in calls])


# -- the bursts ---------------------------------------------------------------------------------


def test_200_help_calls_are_all_stored(hall):
    before = edge_db.count(hall.agent, "help_requests")
    results = answered(send(hall, "help", both(dict)))
    assert len({r["id"] for r in results}) == N
    assert edge_db.count(hall.agent, "help_requests") == before + N
    assert edge_db.count(hall.agent, "help_requests", "handled_by = 'staff'")  # staff wrote meanwhile


def test_200_tickets_get_200_numbers(hall):
    calls = both(lambda: {"request": str(uuid.uuid4()), "service": "consult"})
    results = answered(send(hall, "ticket", calls))
    assert len({r["code"] for r in results}) == N  # no number given twice


def test_200_counter_calls_call_200_tickets(hall):
    for _ in range(N):
        hall.agent.queue.answer("ticket", "kiosk-01", {"service": "consult"})
    waiting = edge_db.count(hall.agent, "tickets", "status = 'issued'")
    calls = [(k, {"counter": f"c{k + 1}", "action": "next"}) for _ in range(N // 2) for k in (0, 1)]
    answered(send(hall, "counter", calls))
    assert edge_db.count(hall.agent, "tickets", "status = 'issued'") == waiting - N


def test_200_service_ratings_are_all_stored(hall):
    codes = [hall.agent.queue.answer("ticket", "kiosk-01", {"service": "repair"})["code"] for _ in range(N)]
    for _ in range(N + 1):
        hall.agent.queue.act("c3", "next")  # each one served and done
    calls = [(n % 2, {"request": str(uuid.uuid4()), "code": code, "rating": "satisfied"}) for n, code in enumerate(codes)]
    results = answered(send(hall, "rate_service", calls))
    assert sorted(r["code"] for r in results) == sorted(codes)


def test_200_print_jobs_are_all_spooled(hall):
    fields = {"number": "C001", "service": "业务咨询", "waiting_ahead": 3, "follow_url": "http://hall.example/q/C001",
              "hours_line": "服务时间 08:30-18:00"}
    calls = both(lambda: {"job": str(uuid.uuid4()), "template": "queue_ticket", "fields": fields})
    results = answered(send(hall, "print", calls))
    jobs = [r["job"] for r in results]
    assert edge_db.count(hall.agent, "print_jobs", f"id IN ({','.join('?' * N)})", jobs) == N


def test_200_complaints_get_200_tracking_numbers(hall):
    results = answered(send(hall, "complaint", both(complaint)))
    assert len({r["tracking_no"] for r in results}) == N
    assert edge_db.count(hall.agent, "complaints", "receiver = 'staff'")  # staff wrote meanwhile


def resolved_complaint(h: Hall) -> str:
    """A complaint handled by staff, ready to be rated; its tracking number."""
    receipt = h.agent.complaints.answer("complaint", "kiosk-01", complaint())
    for action in ("accept", "resolve"):
        h.agent.complaints.transition(receipt["id"], action, who="staff")
    return receipt["tracking_no"]


def test_200_ratings_of_a_request_are_all_stored(hall):
    number = resolved_complaint(hall)
    calls = both(lambda: {"number": number, "last4": "5678", "rating": "satisfied"})
    answered(send(hall, "rate", calls))
    assert edge_db.count(hall.agent, "complaint_events", "event = 'rated'") >= N


def test_200_lookups_by_tracking_number_write_down_wrong_digits(hall):
    """Wrong digits are written down until the number and the kiosk are rate-limited (for
    ten minutes: the other complaint bursts come before this one)."""
    number = resolved_complaint(hall)
    calls = [(n % 2, {"number": number, "last4": "5678" if n % 4 < 2 else "0000"}) for n in range(N)]
    outcomes = send(hall, "track", calls)
    answered(outcomes, "not_found", "rate_limited")
    assert "not_found" in {code for code, _ in outcomes}  # the first wrong guess, written down
    assert edge_db.count(hall.agent, "track_failures") >= 2


def test_200_bill_lookups_reach_the_centre(hall):
    """Relayed to the centre, which writes down each wrong guess."""
    calls = [(n % 2, {"room": "3-2-1201", "last4": "5678" if n % 4 < 2 else "0000"}) for n in range(N)]
    outcomes = send(hall, "bills", calls)
    results = answered(outcomes, "not_found", "rate_limited")
    assert all(r["household"]["room"] == "3-2-1201" for r in results)
    assert "not_found" in {code for code, _ in outcomes}  # the first wrong guess, written down at the centre


def unpaid_line(h: Hall, room: str) -> str:
    return str(h.store.query("SELECT id FROM bill_lines WHERE room = ? AND status = 'unpaid' AND order_id IS NULL "
                             "ORDER BY id LIMIT 1", (room,))[0]["id"])


def test_200_payments_of_one_line_make_one_order(hall):
    """Every kiosk pays the same line: one order, the others refused while it is open."""
    line = unpaid_line(hall, "3-2-1202")
    results = answered(send(hall, "pay", both(lambda: {"room": "3-2-1202", "bill_ids": [line]})), "locked")
    assert len(results) == 1
    assert edge_db.count(hall.agent, "payment_orders", "order_id = ?", [results[0]["order_id"]]) == 1


def test_200_receipt_requests_print_one_receipt(hall):
    """The receipt of a paid order, asked 100 times by its kiosk (printed once) and 100
    times by another kiosk (not its order)."""
    made = hall.agent.payments.answer("pay", "kiosk-01", {"room": "5-1-601", "bill_ids": [unpaid_line(hall, "5-1-601")]})
    hall.centre.app.extensions["payments"].provider.pay(made["out_trade_no"])
    order = {"order_id": made["order_id"]}
    wait_for(lambda: hall.agent.payments.answer("payment_status", "kiosk-01", order)["status"] == "paid", timeout=20)
    calls = [(k, {**order, "job": str(uuid.uuid4())}) for _ in range(N // 2) for k in (0, 1)]
    outcomes = send(hall, "payment_receipt", calls)
    results = answered(outcomes, "not_found")
    assert Counter(code for code, _ in outcomes) == {"ok": N // 2, "not_found": N // 2}
    assert len({r["job"] for r in results}) == 1  # one receipt, however often asked
