"""Reliability campaign, crashes: SIGKILL of every process of a running hall at random
moments of a scripted busy day (``simulators/hall_day.py``), then the hall is held to what
its residents were told.

The hall is ``hall up`` itself (its supervisor restarts what dies, as systemd does on a
Pi). The victims, in shuffled rounds so each is killed as often as the others: both kiosks,
the edge agent at a random moment, the edge agent while its outbox holds records (the sync
worker is a thread of the edge agent: this is the kill in the middle of a push), the
central server and the broker. After the last kill the day plays on briefly, every visit in
progress finishes, the outbox drains, and :func:`simulators.hall_day.check` compares the
centre, the edge's database and the bytes the virtual printers received with the ledger of
what the screens said. Then every log of the day is searched for the names and phone
numbers residents typed in.

The figures go to ``var/reliability/crash.json`` (quoted in docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from hall_cli.broker import port_open
from simulators.hall_day import HallDay, HallEnv, check, outbox_depth

from .conftest import wait_for
from .hallup import answers, campaign_plan, rss_kb, start_hall

SEED = 20261130
VICTIMS = ("kiosk-01", "kiosk-02", "edge", "sync", "central", "broker")
ROUNDS = 9  # 54 kills
FIGURES = Path(__file__).resolve().parent.parent / "var" / "reliability"
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def _ready(hall, env: HallEnv, name: str) -> bool:
    if name == "broker":
        return port_open("127.0.0.1", hall.base)
    url = {"edge": env.console_url, "central": env.central_url, **env.kiosks}[name]
    return answers(url + "/healthz")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    hall = start_hall(root / "data", plan=campaign_plan(root / "plan.toml", kiosks=2))
    env = HallEnv.discover(hall.data_dir)
    rng = random.Random(SEED)
    day = HallDay(env, seed=SEED, visits_per_hour=3000, patience=90)
    kills: list[dict] = []
    peak: dict[str, int] = {}
    started = time.monotonic()
    day.start()
    try:
        for _ in range(ROUNDS):
            order = list(VICTIMS)
            rng.shuffle(order)
            for victim in order:
                time.sleep(rng.uniform(0.5, 4.0))
                for name, pid in hall.pids().items():
                    peak[name] = max(peak.get(name, 0), rss_kb(pid))
                name = "edge" if victim == "sync" else victim
                if victim == "sync":  # wait for a record on its way to the centre
                    wait_for(lambda: outbox_depth(env) > 0, timeout=30, interval=0.005)
                pending = outbox_depth(env)
                old = hall.pids()[name]
                os.kill(old, signal.SIGKILL)
                t0 = time.monotonic()
                wait_for(lambda: hall.pids().get(name) not in (None, old), timeout=60, interval=0.05)
                wait_for(lambda: _ready(hall, env, name), timeout=60, interval=0.05)
                kills.append({"victim": victim, "down_s": round(time.monotonic() - t0, 2), "outbox": pending})
        time.sleep(10)
    finally:
        ledger = day.stop(timeout=180)
    report = check(env, ledger)
    figures = {"seed": SEED, "kills": len(kills), "by_victim": {v: sum(k["victim"] == v for k in kills) for v in VICTIMS},
               "played_s": round(time.monotonic() - started), "day": ledger.summary(), "check": report.as_dict(),
               "restart_s_max": {v: max(k["down_s"] for k in kills if k["victim"] == v) for v in VICTIMS},
               "peak_rss_mb": {n: round(kb / 1024, 1) for n, kb in sorted(peak.items())}}
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / "crash.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
    yield hall, env, ledger, report, kills
    hall.stop()


@pytest.mark.slow
def test_fifty_kills_and_the_centre_holds_every_acknowledged_record_once(campaign):
    hall, env, ledger, report, kills = campaign
    assert len(kills) >= 50
    assert {k["victim"] for k in kills} == set(VICTIMS)
    assert any(k["victim"] == "sync" and k["outbox"] > 0 for k in kills)
    day = ledger.summary()
    # The day really happened, kills and all: people were served throughout.
    # (How much depends on the machine's speed; that every kind of visit went through, not.)
    assert day["tickets"] >= 40 and day["complaints"] >= 5 and day["payments"] >= 2, day
    assert day["unanswered"] == {}, day  # nobody gave up: every part came back
    assert report.outbox_left == 0
    assert report.lost == [], report.lost[:10]
    assert report.doubled == [], report.doubled[:10]


@pytest.mark.slow
def test_no_job_printed_twice_without_being_marked_a_reprint(campaign):
    hall, env, ledger, report, kills = campaign
    assert report.jobs >= len([t for t in ledger.tickets if t["printed"]])
    assert report.unmarked_reprints == [], report.unmarked_reprints[:10]


@pytest.mark.slow
def test_queue_numbers_stay_unique_across_restarts(campaign):
    hall, env, ledger, report, kills = campaign
    told = [(t["code"], round(t["at"] // 86400)) for t in ledger.tickets]
    assert len(told) == len(set(told))


@pytest.mark.slow
def test_no_log_of_the_day_holds_a_name_or_phone_number(campaign):
    """Residents typed names and phone numbers into complaints, and households have them;
    the logs of every process (crash tracebacks included) must hold none of them."""
    hall, env, ledger, report, kills = campaign
    logs = sorted(p for p in (hall.data_dir / "logs").iterdir() if p.is_file())
    assert len(logs) >= 8 and ledger.personal
    found = []
    for path in logs:
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.name}: {s}" for s in ledger.personal if s in text]
        found += [f"{path.name}: {m}" for m in PHONE.findall(text)]
    assert found == []
