"""The queue over a real mosquitto: three kiosks taking numbers at once, counters calling
by request (only their configured callers), the retained state and the calls the board
follows, and refusals a kiosk must be able to tell apart."""

from __future__ import annotations

import threading
import uuid

import pytest

from hall_common.bus import contract
from hall_common.errors import RequestFailed

from .conftest import HALL, wait_for

ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
QUEUE = {"hours": ALWAYS, "counters": [
    {"id": "c1", "name": "1", "services": ["procedures", "consult"], "callers": ["env-01"]},
    {"id": "c2", "name": "2", "services": ["payment"]},
]}


def test_three_kiosks_at_once_get_unique_numbers_without_gaps(mini, broker):
    agent = mini.edge(queue=QUEUE)
    # The test broker has passwords for two kiosks; the board's login stands in for a third.
    kiosks = [broker.client("kiosk-01", kind="kiosk"), broker.client("kiosk-02", kind="kiosk"),
              broker.client("display-01", kind="display")]
    got: list[str] = []
    lock = threading.Lock()
    errors: list[Exception] = []

    def take(bus) -> None:
        try:
            for _ in range(50):
                r = bus.request("ticket", {"request": str(uuid.uuid4()), "service": "procedures"}, timeout=10)
                with lock:
                    got.append(r["code"])
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(k,)) for k in kiosks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(got) == [f"A{n:03d}" for n in range(1, 151)]  # no duplicate, no gap
    assert agent.queue.engine.waiting_counts()["procedures"] == 150


def test_a_repeated_request_is_one_ticket(mini, broker):
    mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    req = {"request": str(uuid.uuid4()), "service": "consult", "priority": True}
    a, b = kiosk.request("ticket", req), kiosk.request("ticket", req)
    assert a == b and a["code"] == "C001" and a["priority"] and a["name_zh"] == "业务咨询"


def test_calls_reach_the_board_and_the_state_is_retained(mini, broker):
    agent = mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    first = kiosk.request("ticket", {"request": str(uuid.uuid4()), "service": "procedures"})
    assert (first["ahead"], first["wait_s"]) == (0, 0)
    second = kiosk.request("ticket", {"request": str(uuid.uuid4()), "service": "procedures"})
    assert second["ahead"] == 1 and second["wait_s"] == 300  # one ahead, the default 5 min, one counter
    calls, states = [], []
    board = broker.client("display-01", kind="display", connect=False)
    board.subscribe(contract.QUEUE_CALLED.filter(hall=HALL), lambda m: calls.append(m.payload))
    board.subscribe(contract.QUEUE_STATE.filter(hall=HALL), lambda m: states.append(m.payload))
    board.start()
    assert board.wait_connected(10)
    wait_for(lambda: states and states[-1].waiting["procedures"] == 2)  # retained: there at once
    caller = broker.client("env-01", kind="sim")
    assert caller.request("counter", {"counter": "c1", "action": "next"})["ticket"] == "A001"
    caller.request("counter", {"counter": "c1", "action": "recall"})
    wait_for(lambda: len(calls) == 2)
    assert [(c.ticket, c.counter_name, c.recall) for c in calls] == [("A001", "1", False), ("A001", "1", True)]
    wait_for(lambda: states[-1].counters[0].ticket == "A001")
    now = states[-1]
    assert now.waiting["procedures"] == 1 and now.last_called == ["A001"]
    assert {s.service: s.name_zh for s in now.services}["procedures"] == "手续办理"
    assert agent.queue.engine.position(first["id"])[0].status == "called"


def test_only_a_counters_callers_may_work_it(mini, broker):
    mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    with pytest.raises(RequestFailed) as err:
        kiosk.request("counter", {"counter": "c1", "action": "next"})
    assert err.value.code == "forbidden"


@pytest.mark.parametrize("args, code, names", [
    ({"service": "lottery"}, "bad_request", "service"),
    ({}, "bad_request", "service"),
    ({"service": "consult", "request": "x"}, "bad_request", "request"),
], ids=["unknown-service", "no-service", "short-request-id"])
def test_bad_ticket_requests_are_refused_with_the_field(mini, broker, args, code, names):
    agent = mini.edge(queue=QUEUE)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    with pytest.raises(RequestFailed) as err:
        kiosk.request("ticket", args)
    assert err.value.code == code and names in str(err.value)
    assert sum(agent.queue.engine.waiting_counts().values()) == 0


def test_a_closed_hall_refuses_tickets_with_a_code_the_kiosk_understands(mini, broker):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    holidays = [(today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)]  # whatever the clock says
    mini.edge(queue={**QUEUE, "hours": {**ALWAYS, "closed_dates": holidays}})
    kiosk = broker.client("kiosk-01", kind="kiosk")
    with pytest.raises(RequestFailed) as err:
        kiosk.request("ticket", {"request": str(uuid.uuid4()), "service": "consult"})
    assert err.value.code == "closed"
