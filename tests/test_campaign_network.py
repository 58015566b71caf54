"""Reliability campaign, network: the broker restarted, the centre unreachable for long,
the link to the centre flapping, all while a scripted day plays (``simulators/hall_day.py``).

"Unreachable" is the central server frozen with SIGSTOP: its port still accepts
connections but nothing answers, as with a link that drops packets (the edge's requests
time out instead of being refused at once, the harder case). The outage is compressed in
time, not in volume: the day plays at six times a busy hall's rate, so the outbox gathers
the records of several busy hours.

Each kiosk must show the right state during a fault (``/healthz`` and the screen a
resident sees) and come back by itself once the fault is gone; how long that took is
measured and written to ``var/reliability/network.json`` (docs/reliability.md), not
asserted: tests do not fail on timing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from hall_cli.broker import port_open
from hall_common.bus.client import RECONNECT_MAX_S
from simulators.hall_day import HallDay, HallEnv, check, outbox_depth

from .conftest import wait_for
from .hallup import campaign_plan, start_hall

SEED = 20261131
FIGURES = Path(__file__).resolve().parent.parent / "var" / "reliability"
CENTRE_DOWN_ZH = "公司系统暂时无法连接"
EDGE_DOWN_ZH = "大厅系统暂时无法连接"


def health(url: str) -> dict:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=3) as r:
            return json.loads(r.read())
    except OSError:
        return {}


def page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def all_kiosks(env: HallEnv, key: str, value: bool) -> bool:
    return all(health(url).get(key) is value for url in env.kiosks.values())


def seen_edge_down(env: HallEnv, broker_port: int, timeout: float = 30.0) -> None:
    """Every kiosk seen saying the hall's system is down, each at least once, and a kiosk's
    screen saying so while it was (or while the broker was still away). Each kiosk is looked
    at on its own: the broker is back within a second or two, and under load one look at all
    of them together can fall between one kiosk's return and another's noticing."""
    down: set[str] = set()
    screen_said = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, url in env.kiosks.items():
            if health(url).get("edge_up") is False:
                down.add(name)
                if not screen_said:
                    screen_said = EDGE_DOWN_ZH in page(url + "/") or not port_open("127.0.0.1", broker_port)
        if down == set(env.kiosks) and screen_said:
            return
        time.sleep(0.05)
    raise AssertionError(f"within {timeout:g} s: kiosks seen with the hall's system down {sorted(down)} of "
                         f"{sorted(env.kiosks)}; a screen said so: {screen_said}")


def recovery(env: HallEnv, key: str, timeout: float = 60.0) -> float:
    """Seconds until every kiosk says ``key`` is up again."""
    t0 = time.monotonic()
    wait_for(lambda: all_kiosks(env, key, True), timeout=timeout, interval=0.1)
    return round(time.monotonic() - t0, 2)


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    root = tmp_path_factory.mktemp("network")
    h = start_hall(root / "data", plan=campaign_plan(root / "plan.toml", kiosks=2))
    env = HallEnv.discover(h.data_dir)
    wait_for(lambda: all_kiosks(env, "centre_up", True), timeout=60, interval=0.2)
    day = HallDay(env, seed=SEED, visits_per_hour=6000, payments=False, patience=20)
    day.start()
    figures: dict = {}
    yield h, env, day, figures
    day.stop(timeout=120)
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / "network.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
    h.stop()


@pytest.mark.slow
def test_broker_restarted_kiosks_say_so_and_recover_by_themselves(hall):
    h, env, day, figures = hall
    assert RECONNECT_MAX_S <= 5  # what bounds a node's return once the broker is back
    times = []
    for n in range(3):
        old = h.pids()["broker"]
        os.kill(old, signal.SIGTERM)
        seen_edge_down(env, h.base)
        kiosk = next(iter(env.kiosks.values()))
        wait_for(lambda: h.pids().get("broker") not in (None, old) and port_open("127.0.0.1", h.base), timeout=60,
                 interval=0.05)
        times.append(recovery(env, "edge_up"))
        assert EDGE_DOWN_ZH not in page(kiosk + "/")
    figures["broker_restarts"] = {"count": len(times), "kiosks_back_s": times}


@pytest.mark.slow
def test_centre_unreachable_the_outbox_grows_then_drains_once(hall):
    h, env, day, figures = hall
    central = h.pids()["central"]
    before = len(day.ledger.tickets)
    os.kill(central, signal.SIGSTOP)
    try:
        wait_for(lambda: all_kiosks(env, "centre_up", False), timeout=60, interval=0.2)
        kiosk = next(iter(env.kiosks.values()))
        assert CENTRE_DOWN_ZH in page(kiosk + "/bills/")  # bills say why; the rest of the kiosk works
        assert all(health(url).get("edge_up") for url in env.kiosks.values())
        peak, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 150:
            peak = max(peak, outbox_depth(env))
            time.sleep(1)
        served_meanwhile = len(day.ledger.tickets) - before
        assert served_meanwhile > 30  # residents were served all along
        assert peak > served_meanwhile  # nothing reached the centre: it all waited in the outbox
    finally:
        os.kill(central, signal.SIGCONT)
    t1 = time.monotonic()
    back = recovery(env, "centre_up")
    wait_for(lambda: outbox_depth(env) < 20, timeout=300, interval=0.2)
    figures["centre_outage"] = {"outage_s": 150, "tickets_served_meanwhile": served_meanwhile, "outbox_peak": peak,
                                "kiosks_back_s": back, "drained_s": round(time.monotonic() - t1, 1)}


@pytest.mark.slow
def test_link_flapping_then_everything_once_and_kiosks_back(hall):
    h, env, day, figures = hall
    central = h.pids()["central"]
    rng = random.Random(SEED)
    flaps = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        os.kill(central, signal.SIGSTOP)
        time.sleep(rng.uniform(0.5, 4.0))
        os.kill(central, signal.SIGCONT)
        flaps += 1
        time.sleep(rng.uniform(0.5, 4.0))
    back = recovery(env, "centre_up")
    ledger = day.stop(timeout=120)
    report = check(env, ledger, drain_timeout=300)
    figures["flapping"] = {"flaps": flaps, "kiosks_back_s": back}
    figures["day"] = ledger.summary()
    figures["check"] = report.as_dict()
    assert report.outbox_left == 0
    assert report.lost == [], report.lost[:10]
    assert report.doubled == [], report.doubled[:10]
    assert report.unmarked_reprints == []
    assert len(ledger.tickets) > 100 and len(ledger.complaints) > 10  # the day went on throughout
