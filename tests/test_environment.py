"""Environment monitoring (seed 000 clause 4.6.3): limits judged with hysteresis and a
minimum duration, readings stored, downsampled and drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.alarms import Alarms
from edge_agent.db import migrations
from edge_agent.environment import Environment
from hall_common.bus import contract
from hall_common.config import DeviceInfo, EnvironmentConfig
from hall_common.storage import open_database

from .conftest import wait_for
from .helpers.clock import Clock
from .screens import staff_page

DAY = 86400.0
T0 = 1_750_000_200.0  # a multiple of 300: buckets start on it


@pytest.fixture
def hall(tmp_path):
    """An Environment on a fresh edge.db, with a clock the test moves."""
    path = tmp_path / "edge.db"
    open_database(path, migrations).close()
    alarms = Alarms(path, None, node="edge")
    clock = Clock(T0)
    env = Environment(EnvironmentConfig(), db_path=path, alarms=alarms, clock=clock,
                      devices=[DeviceInfo(id="env-01", kind="env_node", location="服务大厅", expected_interval_s=30)])
    yield env, clock, alarms
    env.close()
    alarms.close()


def feed(env, clock, reading, values, every=10.0, node="env-01"):
    """Readings ``every`` seconds apart, the clock moving with them."""
    for v in values:
        env.on_reading(node, reading, v)
        env.tick()
        clock.t += every


def active(alarms):
    return {a["id"]: a for a in alarms.active()}


def test_out_of_range_for_the_minimum_duration_raises(hall):
    env, clock, alarms = hall
    feed(env, clock, "co2", [1250] * 6)  # 0 .. 50 s: not yet a minute
    assert active(alarms) == {}
    feed(env, clock, "co2", [1250])  # 60 s out
    alarm = active(alarms)["env.env-01.co2"]
    assert alarm["text"] == "服务大厅 二氧化碳 1250 ppm，高于 1000 ppm · CO2 1250 ppm above 1000 ppm (env-01)"
    assert (alarm["severity"], alarm["type"], alarm["source"]) == ("minor", "env_high", "env-01/co2")


def test_a_short_spike_does_not_raise(hall):
    env, clock, alarms = hall
    feed(env, clock, "noise", [45, 70, 72, 71, 45, 44] * 5)  # 30 s spikes, each followed by quiet
    assert active(alarms) == {}


def test_the_timer_judges_the_duration_between_sparse_readings(hall):
    env, clock, alarms = hall
    env.on_reading("env-01", "temperature", 29.0)  # one reading, then silence (telemetry on change)
    clock.t += 59
    env.tick()
    assert active(alarms) == {}
    clock.t += 1
    env.tick()
    assert "env.env-01.temperature" in active(alarms)


def test_a_silent_node_neither_raises_nor_clears(hall):
    env, clock, alarms = hall
    env.on_reading("env-01", "temperature", 29.0)
    clock.t += 91  # beyond 3 × the node's 30 s interval: the reading no longer holds
    env.tick()
    assert active(alarms) == {}


def test_hovering_at_the_limit_does_not_flap(hall):
    env, clock, alarms = hall
    feed(env, clock, "temperature", [27.0] * 7)
    assert "env.env-01.temperature" in active(alarms)
    # Around 26 °C, in and out by less than the 0.5 °C hysteresis, for ten minutes: stays raised.
    feed(env, clock, "temperature", [25.8, 26.2, 25.9, 26.1] * 15)
    assert "env.env-01.temperature" in active(alarms)
    log = [r["event"] for r in alarms.db.query("SELECT event FROM alarm_log WHERE alarm = 'env.env-01.temperature'")]
    assert log == ["raised"]


def test_hovering_below_the_limit_never_raises(hall):
    env, clock, alarms = hall
    feed(env, clock, "temperature", [25.9, 26.1, 26.2, 25.8] * 15)  # never out for a whole minute
    assert active(alarms) == {}


def test_clears_after_a_minute_well_back_in_range(hall):
    env, clock, alarms = hall
    feed(env, clock, "co2", [1300] * 7)
    assert "env.env-01.co2" in active(alarms)
    feed(env, clock, "co2", [940] * 6 + [990] + [900] * 6)  # 990 is not back by the 50 ppm: wait again
    assert "env.env-01.co2" in active(alarms)
    feed(env, clock, "co2", [900])
    assert active(alarms) == {}
    assert alarms._row("env.env-01.co2")["state"] == "CLEARED_UNACK"


def test_low_limits_and_the_side_in_the_text(hall):
    env, clock, alarms = hall
    feed(env, clock, "illuminance", [120] * 7)
    assert active(alarms)["env.env-01.illuminance"]["text"] == \
        "服务大厅 照度 120 lx，低于 300 lx · Illuminance 120 lx below 300 lx (env-01)"
    feed(env, clock, "temperature", [16.5] * 7)
    assert active(alarms)["env.env-01.temperature"]["type"] == "env_low"
    feed(env, clock, "temperature", [27.0])  # too cold, then too hot: the one alarm says so
    assert active(alarms)["env.env-01.temperature"]["text"].startswith("服务大厅 温度 27 °C，高于 26 °C")
    feed(env, clock, "illuminance", [330] * 7)  # 300 + 20 hysteresis, for a minute
    assert "env.env-01.illuminance" not in active(alarms)


def test_a_reading_without_a_limit_is_stored_not_judged(hall):
    env, clock, alarms = hall
    feed(env, clock, "pm25", [900.0] * 20)
    env.on_reading("env-01", "co2", float("nan"))  # never from the contract; guarded all the same
    env.flush()
    assert active(alarms) == {}
    assert env.db.execute("SELECT count(*) FROM env_readings WHERE reading = 'pm25'").fetchone()[0] == 20
    assert env.db.execute("SELECT count(*) FROM env_readings WHERE reading = 'co2'").fetchone()[0] == 0
    [node] = env.snapshot()
    assert [(r["reading"], r["status"]) for r in node["readings"]] == [("pm25", "unjudged")]


def test_an_active_alarm_survives_a_restart(hall, tmp_path):
    env, clock, alarms = hall
    feed(env, clock, "co2", [1300] * 7)
    env.flush()
    again = Environment(EnvironmentConfig(), db_path=tmp_path / "edge.db", alarms=alarms, clock=clock)
    [node] = again.snapshot()
    assert [(r["reading"], r["value"], r["status"]) for r in node["readings"]] == [("co2", 1300, "alarm")]
    feed(again, clock, "co2", [1300] * 10)  # still out: no second alarm
    feed(again, clock, "co2", [800] * 7)  # well back in for a minute: cleared by the new instance
    assert active(alarms) == {}
    log = [r["event"] for r in alarms.db.query("SELECT event FROM alarm_log WHERE alarm = 'env.env-01.co2'")]
    assert log == ["raised", "cleared"]
    again.close()


def test_states_on_the_overview(hall):
    env, clock, alarms = hall
    feed(env, clock, "co2", [1300] * 7)
    feed(env, clock, "temperature", [27.0, 27.0])
    feed(env, clock, "humidity", [45.0])
    [node] = env.snapshot()
    states = {r["reading"]: r["status"] for r in node["readings"]}
    assert states == {"co2": "alarm", "temperature": "out", "humidity": "ok"}
    assert node["location"] == "服务大厅"


# -- storage ---------------------------------------------------------------------------------


def test_compaction_turns_old_readings_into_buckets_and_drops_old_buckets(hall):
    env, clock, alarms = hall
    # Two 5-minute buckets of readings every 30 s, 8 days ago, and one reading of today.
    for i in range(20):
        env.on_reading("env-01", "temperature", 20.0 + (i % 10), ts=T0 + i * 30)
    env.on_reading("env-01", "temperature", 22.0, ts=T0 + 8 * DAY)
    env.flush()
    result = env.compact(now=T0 + 8 * DAY)
    assert result == {"downsampled": 20, "dropped": 0}
    buckets = list(env.db.query("SELECT bucket, avg, min, max, count FROM env_buckets ORDER BY bucket"))
    assert buckets == [{"bucket": T0, "avg": 24.5, "min": 20.0, "max": 29.0, "count": 10},
                       {"bucket": T0 + 300, "avg": 24.5, "min": 20.0, "max": 29.0, "count": 10}]
    assert [r["ts"] for r in env.db.query("SELECT ts FROM env_readings")] == [T0 + 8 * DAY]
    # The chart reads both, and its averages are the readings' averages.
    [point] = env.series("env-01", "temperature", T0, T0 + 600, step=600)
    assert (point.avg, point.min, point.max, point.count) == (24.5, 20.0, 29.0, 20)
    # A year on, the buckets go too.
    assert env.compact(now=T0 + 366 * DAY) == {"downsampled": 1, "dropped": 2}
    assert [r["bucket"] for r in env.db.query("SELECT bucket FROM env_buckets")] == [T0 + 8 * DAY]


def test_compaction_merges_into_a_bucket_already_there(hall):
    env, clock, alarms = hall
    env.on_reading("env-01", "noise", 40.0, ts=T0 + 10)
    env.flush()
    env.compact(now=T0 + 8 * DAY)
    env.on_reading("env-01", "noise", 50.0, ts=T0 + 20)  # a late row in the same bucket
    env.on_reading("env-01", "noise", 60.0, ts=T0 + 30)
    env.flush()
    env.compact(now=T0 + 8 * DAY)
    row = env.db.execute("SELECT avg, min, max, count FROM env_buckets").fetchone()
    assert row == (50.0, 40.0, 60.0, 3)


def test_series_bins_and_leaves_gaps(hall):
    env, clock, alarms = hall
    for i in range(10):
        env.on_reading("env-01", "co2", 600.0 + i, ts=T0 + i * 10)  # the first 100 s
    env.flush()
    env.on_reading("env-01", "co2", 700.0, ts=T0 + 350)  # still in the buffer: drawn all the same
    points = env.series("env-01", "co2", T0, T0 + 400, step=100)
    assert [(p.ts, p.count) for p in points] == [(T0, 10), (T0 + 300, 1)]
    assert points[0].avg == 604.5 and points[1].avg == 700.0


def test_readings_are_written_in_batches(hall):
    env, clock, alarms = hall
    statements = []
    env.db.conn.set_trace_callback(statements.append)
    for i in range(200):
        env.on_reading("env-01", "humidity", 50.0, ts=T0 + i * 5)
    assert env.flush() == 200
    assert sum(s.startswith("COMMIT") for s in statements) == 1


def test_a_node_reporting_every_second_is_judged_on_every_reading_but_stored_every_5_s(hall):
    env, clock, alarms = hall
    for i in range(60):
        env.on_reading("env-01", "co2", 600.0, ts=T0 + i)
    env.on_reading("env-01", "co2", 1500.0, ts=T0 + 58.5)  # judged at once, though not stored
    assert env.flush() == 12  # T0, T0+5, ..., T0+55
    assert env._states[("env-01", "co2")].out_since == T0 + 58.5


# -- the hall, end to end --------------------------------------------------------------------


def watch_alarms(agent, seen: dict[str, dict]) -> None:
    """Keep the last message of each alarm topic as the broker delivers it (retained ones
    included, as a console connecting later gets them). Through the edge's own login: it
    alone reads alarms, and a second login as the edge would take the agent's place."""
    agent.bus.subscribe(contract.ALARM.filter(hall=agent.config.hall_id),
                        lambda m: seen.__setitem__(m.topic, m.payload.model_dump() if m.payload else None))


def test_an_esphome_node_out_of_range_raises_then_clears_through_the_bus(mini, broker):
    agent = mini.edge()
    agent.environment.min_duration_s = 0.3  # seconds, not a minute, for the test
    agent.environment.flush_every = 0.05
    agent.environment.store_every_s = 0  # keep every reading: the test counts them
    node = broker.client("env-01", kind="env_node", availability="esphome")  # online/offline as ESPHome does
    alarm_id = "env.env-01.co2"

    def send(co2: float):
        def step():
            node.publish(contract.ESPHOME_SENSOR, co2, hall=broker.hall, node="env-01", object_id="co2")
            node.publish(contract.ESPHOME_SENSOR, 22.4, hall=broker.hall, node="env-01", object_id="temperature")
            return True
        return step

    wait_for(lambda: send(1250.0)() and alarm_id in {a["id"] for a in agent.alarms.active()})
    alarm = {a["id"]: a for a in agent.alarms.active()}[alarm_id]
    assert alarm["text"].startswith("env-01 二氧化碳 1250 ppm，高于 1000 ppm")
    assert "env.env-01.temperature" not in {a["id"] for a in agent.alarms.active()}
    seen: dict[str, dict] = {}
    watch_alarms(agent, seen)  # subscribes after the raise: the alarm is retained
    topic = contract.ALARM.topic(hall=broker.hall, alarm_id=alarm_id)
    wait_for(lambda: (seen.get(topic) or {}).get("state") == "ACTIVE_UNACK")
    assert agent.alarms.acknowledge(alarm_id, "staff")  # while readings are being written
    wait_for(lambda: seen[topic]["state"] == "ACTIVE_ACK")
    wait_for(lambda: send(800.0)() and not agent.alarms.active())
    wait_for(lambda: seen[topic]["state"] == "CLEARED_ACK")
    # The readings were stored, by the writer thread, in batches.
    own = open_database(agent.db_path)  # the agent's connection belongs to its bus worker
    wait_for(lambda: own.execute("SELECT count(*) FROM env_readings WHERE node = 'env-01' "
                                      "AND reading = 'co2'").fetchone()[0] > 2)


def test_a_kiosks_telemetry_is_not_the_halls_environment(mini, broker):
    agent = mini.edge()
    kiosk = broker.client("kiosk-01", kind="kiosk")
    kiosk.publish(contract.TELEMETRY, {"values": {"temperature": 61.0}, "ts": 1.0}, hall=broker.hall, node="kiosk-01",
                  dev="cpu")
    env = broker.client("env-01", kind="env_node", availability="esphome")
    env.publish(contract.ESPHOME_SENSOR, 21.0, hall=broker.hall, node="env-01", object_id="temperature")
    wait_for(lambda: agent.environment.snapshot())
    assert [n["node"] for n in agent.environment.snapshot()] == ["env-01"]


def test_the_environment_pages(mini, broker, browser, tmp_path):
    import time

    agent = mini.edge()
    env = agent.environment
    env.devices = {"env-01": DeviceInfo(id="env-01", kind="env_node", model="ESP32 + SCD41 + BH1750",
                                        location="服务大厅"),
                   "env-02": DeviceInfo(id="env-02", kind="env_node", location="二楼会议室")}
    now = time.time()
    # A year of history: buckets from old raw readings, then 7 days of raw readings every
    # 5 minutes with an afternoon gap yesterday, and the last two minutes with CO2 too high.
    import math
    for day in range(8, 365, 1):
        t = now - day * DAY
        for h in range(0, 24, 6):
            env.on_reading("env-01", "temperature", 22 + 3 * math.sin(day / 58) + (h - 12) / 6, ts=t + h * 3600)
    for i in range(7 * 288):
        t = now - 7 * DAY + i * 300
        if now - 30 * 3600 < t < now - 26 * 3600:
            continue  # the node was off
        hour = (t % DAY) / 3600
        env.on_reading("env-01", "temperature", 23 + 2.5 * math.sin(hour / 24 * 2 * math.pi), ts=t)
        env.on_reading("env-01", "humidity", 48 + 8 * math.cos(hour / 24 * 2 * math.pi), ts=t)
        env.on_reading("env-01", "co2", 600 + 350 * max(0.0, math.sin(hour / 24 * 2 * math.pi)), ts=t)
        env.on_reading("env-01", "illuminance", 420 + 60 * math.sin(hour / 12 * math.pi), ts=t)
        env.on_reading("env-01", "noise", 42 + 6 * abs(math.sin(hour / 24 * 3 * math.pi)), ts=t)
    env.flush()
    env.compact(now)
    for k in range(13):
        env.on_reading("env-01", "co2", 1250.0 + k * 5, ts=now - 120 + k * 10)
    env.on_reading("env-01", "temperature", 26.6, ts=now - 5)
    env.on_reading("env-01", "humidity", 45.0, ts=now - 5)
    env.on_reading("env-01", "illuminance", 410.0, ts=now - 5)
    env.on_reading("env-01", "noise", 43.5, ts=now - 5)
    wait_for(lambda: "env.env-01.co2" in {a["id"] for a in agent.alarms.active()})

    console = mini.console(agent, alarms=agent.alarms, environment=env)
    page = staff_page(browser, console.url + "environment/")
    shots = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "environment"
    shots.mkdir(parents=True, exist_ok=True)
    body = page.inner_text("main")
    assert "服务大厅" in body and "二楼会议室" in body and "二氧化碳 · CO2" in body
    assert page.locator("tr.env-alarm").count() == 1 and page.locator("tr.env-out").count() == 1
    page.screenshot(path=shots / "overview.png", full_page=True)
    page.click("text=查看曲线 · Charts →  >> nth=0")
    assert page.locator("figure.chart svg").count() == 5
    page.screenshot(path=shots / "node-24h.png", full_page=True)
    for period in ("7d", "1y"):
        page.goto(console.url + f"environment/env-01?period={period}")
        assert page.locator("figure.chart polyline").count() >= 5
        page.screenshot(path=shots / f"node-{period}.png", full_page=True)
    page.close()
