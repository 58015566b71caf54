"""The queue engine on a real SQLite file with a clock the tests move: numbering, the order
the waiting are served (priority and fairness), counters' actions and statuses, restart,
day rollover, opening hours, estimates."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge_agent.db import migrations
from edge_agent.queue.engine import QueueEngine
from hall_common.config import QueueConfig
from hall_common.errors import RequestFailed
from hall_common.storage import open_database

from .helpers.clock import Clock

TZ = ZoneInfo("Asia/Shanghai")
ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}


def config(**kw) -> QueueConfig:
    base = {"hours": ALWAYS, "counters": [
        {"id": "c1", "name": "1", "services": ["procedures", "consult"]},
        {"id": "c2", "name": "2", "services": ["payment"]},
        {"id": "c3", "name": "3", "services": ["procedures"]},
    ]}
    return QueueConfig(**{**base, **kw})


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 24, 9, 0, tzinfo=TZ).timestamp())


@pytest.fixture
def make(tmp_path, clock):
    opened = []

    def _make(**kw) -> QueueEngine:
        db = open_database(tmp_path / "edge.db", migrations, shared_thread=True)
        opened.append(db)
        return QueueEngine(db, config(**kw), clock=clock)

    yield _make
    for db in opened:
        db.close()


def test_numbers_count_up_per_service_with_the_prefix(make, clock):
    q = make()
    codes = []
    for service in ("procedures", "procedures", "payment", "procedures", "payment"):
        codes.append(q.issue(service, kiosk="kiosk-01").ticket.code)
        clock.advance(1)
    assert codes == ["A001", "A002", "F001", "A003", "F002"]


def test_concurrent_issues_from_many_threads_give_no_duplicate_and_no_gap(make):
    q = make()
    got: list[int] = []
    lock = threading.Lock()

    def kiosk(name: str) -> None:
        for _ in range(40):
            n = q.issue("consult", kiosk=name).ticket.number
            with lock:
                got.append(n)

    threads = [threading.Thread(target=kiosk, args=(f"kiosk-0{i}",)) for i in range(1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 121))


def test_the_same_request_is_the_same_ticket(make):
    q = make()
    a = q.issue("procedures", kiosk="kiosk-01", request="r-1")
    b = q.issue("procedures", kiosk="kiosk-01", request="r-1")
    assert a.ticket.id == b.ticket.id and a.ticket.code == "A001"
    assert q.issue("procedures", kiosk="kiosk-01", request="r-2").ticket.code == "A002"


def test_order_is_fifo_within_a_kind_and_two_priority_per_normal(make, clock):
    q = make(priority_per_normal=2)
    issued = []
    for prio in (False, False, True, True, True, False, True):
        issued.append(q.issue("procedures", kiosk="k", priority=prio).ticket.code)
        clock.advance(10)
    assert issued == ["A001", "A002", "A003", "A004", "A005", "A006", "A007"]
    order = []
    while (call := q.call_next("c1")) is not None:
        order.append((call.ticket.code, call.ticket.priority))
    # P P N P P N N: two priority tickets, then the oldest normal one, and again.
    assert order == [("A003", True), ("A004", True), ("A001", False), ("A005", True), ("A007", True),
                     ("A002", False), ("A006", False)]


def test_without_a_priority_lane_it_is_plain_first_come_first_served(make, clock):
    q = make(priority_per_normal=0)
    for prio in (False, True, False, True):
        q.issue("procedures", kiosk="k", priority=prio)
        clock.advance(10)
    order = []
    while (call := q.call_next("c1")) is not None:
        order.append(call.ticket.code)
    assert order == ["A001", "A002", "A003", "A004"]


def test_a_counter_calls_only_its_services_oldest_first_across_them(make, clock):
    q = make()
    q.issue("payment", kiosk="k")
    clock.advance(5)
    q.issue("consult", kiosk="k")
    clock.advance(5)
    q.issue("procedures", kiosk="k")
    assert q.call_next("c1").ticket.code == "C001"  # c1 serves procedures and consult, not payment
    assert q.call_next("c1").ticket.code == "A001"
    assert q.call_next("c1") is None
    assert q.call_next("c2").ticket.code == "F001"


def test_statuses_and_their_events_through_a_visit(make, clock):
    q = make()
    t = q.issue("procedures", kiosk="k").ticket
    clock.advance(60)
    q.call_next("c1")
    clock.advance(30)
    assert q.serve("c1").status == "serving"
    clock.advance(240)
    done = q.finish("c1")
    assert done.status == "done"
    events = [(e["event"], e["counter"]) for e in q.history(t.id)]
    assert events == [("issued", None), ("called", "c1"), ("serving", "c1"), ("done", "c1")]
    times = [e["ts"] for e in q.history(t.id)]
    assert times == sorted(times) and times[-1] - times[0] == 330


def test_call_next_finishes_the_current_ticket(make):
    q = make()
    a = q.issue("procedures", kiosk="k").ticket
    q.issue("procedures", kiosk="k")
    q.call_next("c1")
    q.call_next("c1")
    assert q.position(a.id)[0].status == "done"


def test_no_show_only_after_the_recalls(make):
    q = make(recalls_before_no_show=2)
    t = q.issue("procedures", kiosk="k").ticket
    q.call_next("c1")
    with pytest.raises(RequestFailed) as err:
        q.skip("c1")
    assert err.value.code == "recall_first"
    first, second = q.recall("c1"), q.recall("c1")
    assert first.recall and second.recall and first.id != second.id and second.ticket.recalls == 2
    assert q.skip("c1").status == "no_show"
    assert [e["event"] for e in q.history(t.id)] == ["issued", "called", "recalled", "recalled", "no_show"]
    with pytest.raises(RequestFailed):
        q.recall("c1")  # nothing called any more


def test_transfer_to_another_service_keeps_the_place_by_issue_time(make, clock):
    q = make()
    a = q.issue("procedures", kiosk="k").ticket
    clock.advance(10)
    q.issue("payment", kiosk="k")  # F001, issued after A001
    q.call_next("c1")
    moved = q.transfer("c1", service="payment")
    assert moved.status == "issued" and moved.service == "payment" and moved.code == "A001"
    assert q.call_next("c2").ticket.id == a.id  # older than F001
    assert "transferred" in [e["event"] for e in q.history(a.id)]


def test_transfer_to_a_counter_only_that_counter_calls_it(make):
    q = make()
    a = q.issue("procedures", kiosk="k").ticket
    q.call_next("c1")
    q.transfer("c1", to_counter="c2")  # c2 does not even serve procedures
    assert q.call_next("c3") is None
    assert q.call_next("c2").ticket.id == a.id


def test_state_survives_a_restart(make, clock):
    q = make()
    q.issue("procedures", kiosk="k")
    q.issue("procedures", kiosk="k")
    q.call_next("c1")
    again = make()  # a new engine on the same file: the agent restarted
    assert [c["ticket"].code for c in again.counter_states() if c["ticket"]] == ["A001"]
    assert [t.code for t in again.waiting()] == ["A002"]
    assert again.issue("procedures", kiosk="k").ticket.code == "A003"
    assert again.call_next("c1").ticket.code == "A002"


def test_a_new_day_starts_numbers_again_and_closes_the_old_line(make, clock):
    q = make(rollover="04:00")
    left = q.issue("procedures", kiosk="k").ticket
    q.issue("procedures", kiosk="k")
    q.call_next("c1")
    clock.t = datetime(2026, 11, 25, 3, 59, tzinfo=TZ).timestamp()  # still the 24th's service day
    assert q.issue("procedures", kiosk="k").ticket.code == "A003"
    clock.t = datetime(2026, 11, 25, 4, 0, tzinfo=TZ).timestamp()
    fresh = q.issue("procedures", kiosk="k").ticket
    assert fresh.code == "A001" and fresh.id != left.id
    assert q.position(left.id)[0].status == "cancelled"
    assert [e["event"] for e in q.history(left.id)][-1] == "day_closed"
    assert [t.code for t in q.waiting()] == ["A001"]
    assert all(c["ticket"] is None for c in q.counter_states())


def test_closed_hall_gives_no_ticket(make, clock):
    q = make(hours={"periods": [{"days": ["tue"], "open": "08:30", "close": "18:00"}], "after_hours_phone": "110"})
    clock.t = datetime(2026, 11, 24, 19, 0, tzinfo=TZ).timestamp()  # Tuesday evening
    with pytest.raises(RequestFailed) as err:
        q.issue("procedures", kiosk="k")
    assert err.value.code == "closed"
    assert q.waiting() == []


def test_a_service_runs_out_of_numbers(make):
    q = make(services=[{"id": "procedures", "name_zh": "手续办理", "name_en": "Procedures", "prefix": "A",
                        "first": 1, "last": 2}], counters=[])
    q.issue("procedures", kiosk="k")
    q.issue("procedures", kiosk="k")
    with pytest.raises(RequestFailed) as err:
        q.issue("procedures", kiosk="k")
    assert err.value.code == "full"


def test_estimate_uses_recent_service_times_and_open_counters(make, clock):
    q = make(default_service_s=300)
    assert q.estimate("procedures", 3) == 900 // 2  # two counters serve it, nothing measured yet
    for _ in range(2):
        q.issue("procedures", kiosk="k")
        q.call_next("c3")
        clock.advance(120)
        q.finish("c3")
    assert q.estimate("procedures", 4) == 4 * 120 // 2
    q.set_open("c1", False)
    assert q.estimate("procedures", 4) == 480
    issued = q.issue("procedures", kiosk="k")
    assert issued.ahead == 0 and issued.wait_s == 0
    assert q.estimate("other", 1) is None  # no counter serves it


def test_unknown_service_or_counter_is_refused(make):
    q = make()
    with pytest.raises(ValueError, match="service"):
        q.issue("lottery", kiosk="k")
    with pytest.raises(ValueError, match="counter"):
        q.call_next("c9")
    with pytest.raises(ValueError, match="transfer"):
        q.transfer("c1")


def test_the_days_figures_and_the_totals_sent_when_the_day_closes(tmp_path, clock):
    records: list[tuple[str, dict, str, str]] = []
    db = open_database(tmp_path / "edge.db", migrations, shared_thread=True)
    q = QueueEngine(db, config(), clock=clock, hall_id="h1",
                    record=lambda db, kind, body, node, rid: records.append((kind, body, node, rid)))
    waits = [60, 120, 600]
    for _ in waits:
        q.issue("procedures", kiosk="kiosk-01")
    q.issue("payment", kiosk="kiosk-02")
    for wait in waits:  # each called after its wait, served for 5 minutes
        clock.advance(wait)
        q.call_next("c3")
        clock.advance(300)
        q.finish("c3")
    clock.advance(10)
    q.call_next("c2")
    q.recall("c2")
    q.recall("c2")
    q.skip("c2")
    stats = q.stats()
    proc = stats["services"]["procedures"]
    assert (proc["issued"], proc["served"], proc["no_show"], proc["waiting"]) == (3, 3, 0, 0)
    assert proc["service_mean_s"] == 300 and proc["service_p90_s"] == 300
    # Issued together at 09:00; called after 60 s, 60+300+120 s and 480+300+600 s.
    assert proc["wait_p90_s"] == 1380 and proc["wait_mean_s"] == round((60 + 480 + 1380) / 3, 1)
    assert stats["services"]["payment"]["no_show"] == 1
    assert stats["counters"]["c3"]["served"] == 3 and stats["total"]["issued"] == 4
    assert [r[0] for r in records if r[0] != "ticket_outcome"] == ["ticket"] * 4
    # Each ticket that ended went with its times, once (its record id derives from the ticket's).
    ended = [r for r in records if r[0] == "ticket_outcome"]
    assert sorted((r[1]["status"], r[1]["wait_s"], r[1]["service_s"]) for r in ended) == [
        ("done", 60, 300), ("done", 480, 300), ("done", 1380, 300), ("no_show", 1690, None)]
    assert {r[3] for r in ended} == {str(uuid.uuid5(uuid.NAMESPACE_URL, f"hall/h1/ticket_outcome/{r[1]['id']}"))
                                     for r in ended}
    clock.t = datetime(2026, 11, 25, 9, 0, tzinfo=TZ).timestamp()
    q.issue("procedures", kiosk="kiosk-01")  # the first operation of the next day closes the last
    daily = [r for r in records if r[0] == "queue_daily"]
    assert len(daily) == 1 and daily[0][1]["day"] == "2026-11-24" and daily[0][1]["total"]["issued"] == 4
    assert daily[0][2] == "edge"
    assert daily[0][3] == str(uuid.uuid5(uuid.NAMESPACE_URL, "hall/h1/queue_daily/2026-11-24"))  # once per hall-day
    db.close()


def test_a_prefix_or_range_changed_during_the_day_applies_to_the_next_ticket_without_reusing_numbers(make, clock):
    """Signed settings from the centre (reconfigure) move a service's prefix and range while
    tickets of the day exist: docs/queue.md, "Services from the centre"."""
    q = make()

    def moved(prefix: str, first: int, last: int) -> QueueConfig:
        services = [s.model_copy(update={"prefix": prefix, "first": first, "last": last}) if s.id == "procedures" else s
                    for s in q.config.services]
        return q.config.model_copy(update={"services": services})

    assert [q.issue("procedures", kiosk="k").ticket.code for _ in range(3)] == ["A001", "A002", "A003"]
    q.reconfigure(moved("P", 500, 799))  # today's numbers are below the new range: at once at its first
    assert q.issue("procedures", kiosk="k").ticket.code == "P500"
    q.reconfigure(moved("A", 100, 499))  # already past its end: today goes on from the counter
    assert q.issue("procedures", kiosk="k").ticket.code == "A501"
    assert q.issue("consult", kiosk="k").ticket.code == "C001"  # the others as they were
    q.reconfigure(moved("A", 100, 501))  # the counter at its very end: no numbers left today
    with pytest.raises(RequestFailed) as full:
        q.issue("procedures", kiosk="k")
    assert full.value.code == "full"
    clock.advance(24 * 3600)  # the next service day: the new range from its first number
    assert q.issue("procedures", kiosk="k").ticket.code == "A100"
