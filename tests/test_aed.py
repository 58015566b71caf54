"""The AED cabinet: the door (a reed switch on a gpiozero MockFactory pin) raises a critical
alarm at once with the location, the buzzer sounds until someone acknowledges it, closing
the door does not clear it but the after-use checklist does (and is refused while a step
is missing or the door is open); cabinet temperature; the AED's self-test, failed or
missing; battery and pad expiry at 30 days, 7 days and expired, with a controllable clock;
bad dates refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.aed import Aed, AedRefused
from edge_agent.alarms import Alarms
from edge_agent.buzzer import AlarmBuzzer
from edge_agent.db import migrations
from hall_common.config import AedConfig
from hall_common.storage import open_database

from .conftest import wait_for
from .helpers.clock import Clock

ZONE = ZoneInfo("Asia/Shanghai")
DOOR_PIN, BUZZER_PIN = 17, 18


@pytest.fixture
def cabinet(tmp_path):
    db_path = tmp_path / "edge.db"
    open_database(db_path, migrations).close()
    factory = MockFactory()
    clock = Clock(datetime(2026, 11, 30, 10, 0, tzinfo=ZONE).timestamp())
    alarms = Alarms(db_path, None, node="edge")
    aed = Aed(AedConfig(door_pin=DOOR_PIN, location="一楼大厅入口"), db_path=db_path, alarms=alarms, clock=clock,
              pin_factory=factory)
    door = factory.pin(DOOR_PIN)
    door.drive_low()  # the magnet is at the reed switch: the door is shut
    buzzer = AlarmBuzzer(alarms, pin=BUZZER_PIN, pin_factory=factory)
    aed.start()
    yield aed, alarms, door, buzzer, clock
    buzzer.close()
    aed.close()
    alarms.close()


def active(alarms: Alarms) -> dict[str, dict]:
    return {a["id"]: a for a in alarms.active()}


def test_the_door_opening_is_a_critical_alarm_until_the_checklist_is_done(cabinet):
    aed, alarms, door, buzzer, clock = cabinet
    assert "aed.door" not in active(alarms) and not buzzer.sounding
    door.drive_high()  # the door opens: the reed switch opens
    wait_for(lambda: "aed.door" in active(alarms))
    alarm = active(alarms)["aed.door"]
    assert alarm["severity"] == "critical" and "一楼大厅入口" in alarm["text"] and "可能正在急救" in alarm["text"]
    assert buzzer.sounding and aed.state()["door_open"] and aed.state()["in_use"]
    # Someone is on it: the buzzer stops, the alarm stays.
    alarms.acknowledge("aed.door", "王工")
    assert not buzzer.sounding and active(alarms)["aed.door"]["state"] == "ACTIVE_ACK"
    # The checklist is refused while the door is open, and while a step is missing.
    with pytest.raises(AedRefused, match="柜门"):
        aed.checklist(who="王工", pads_replaced=True, rearmed=True)
    door.drive_low()
    wait_for(lambda: not aed.state()["door_open"])
    assert "aed.door" in active(alarms)  # closing the door alone does not make the AED ready
    with pytest.raises(AedRefused, match="电极片"):
        aed.checklist(who="王工", pads_replaced=False, rearmed=True)
    with pytest.raises(AedRefused, match="年-月-日"):
        aed.checklist(who="王工", pads_replaced=True, rearmed=True, new_pads_expire="明年")
    assert "aed.door" in active(alarms) and aed.state()["in_use"]
    aed.checklist(who="王工", pads_replaced=True, rearmed=True, new_pads_expire="2029-01-31", note="120 已接手")
    assert "aed.door" not in active(alarms) and not aed.state()["in_use"]
    assert aed.state()["pads_expires"] == "2029-01-31"
    [use] = aed.uses()
    assert use["checked_by"] == "王工" and use["closed_at"] is not None and use["note"] == "120 已接手"
    events = [(e["alarm"], e["event"], e["who"]) for e in alarms.history() if e["alarm"] == "aed.door"]
    assert events == [("aed.door", "cleared", None), ("aed.door", "acknowledged", "王工"), ("aed.door", "raised", None)]


def test_an_edge_restarted_with_the_door_open_raises_at_start(tmp_path):
    db_path = tmp_path / "edge.db"
    open_database(db_path, migrations).close()
    factory = MockFactory()
    factory.pin(DOOR_PIN).drive_high()  # open while the agent was down
    alarms = Alarms(db_path, None, node="edge")
    aed = Aed(AedConfig(door_pin=DOOR_PIN), db_path=db_path, alarms=alarms, pin_factory=factory)
    aed.start()
    assert "aed.door" in active(alarms)
    aed.close()
    alarms.close()


def test_cabinet_temperature_outside_its_range(cabinet):
    aed, alarms, *_ = cabinet
    aed.on_temperature(22.0)
    assert "aed.temperature" not in active(alarms)
    aed.on_temperature(55.5)
    assert active(alarms)["aed.temperature"]["severity"] == "major" and "55.5" in active(alarms)["aed.temperature"]["text"]
    aed.on_temperature(float("nan"))  # a sensor fault is not a reading
    assert aed.state()["temperature"] == 55.5
    aed.on_temperature(-3.0)
    assert "-3.0" in active(alarms)["aed.temperature"]["text"]
    aed.on_temperature(20.0)
    assert "aed.temperature" not in active(alarms)


def test_a_failed_or_missing_self_test(cabinet):
    aed, alarms, door, buzzer, clock = cabinet
    aed.on_self_test("pass")
    clock.advance(1 * 86400)
    aed.tick()
    assert "aed.self_test_missing" not in active(alarms)  # 24 h is inside the 26 h window
    clock.advance(0.1 * 86400)
    aed.tick()
    assert active(alarms)["aed.self_test_missing"]["severity"] == "major"
    aed.on_self_test("fail")
    assert "aed.self_test_missing" not in active(alarms) and active(alarms)["aed.self_test"]["severity"] == "major"
    aed.on_self_test("garbage")  # dropped, nothing changes
    assert aed.state()["self_test"] == "fail"
    aed.on_self_test("PASS")
    assert "aed.self_test" not in active(alarms) and aed.state()["self_test"] == "pass"


@pytest.mark.parametrize("part", ["battery", "pads"])
def test_expiry_warns_at_30_days_major_at_7_critical_once_expired(cabinet, part):
    aed, alarms, door, buzzer, clock = cabinet
    aed.on_self_test("pass")
    expires = (datetime.fromtimestamp(clock(), ZONE).date() + timedelta(days=31)).isoformat()
    aed.set_expiry(part, expires, who="王工")
    assert f"aed.{part}" not in active(alarms)
    steps = [(1, "warning"), (23, "major"), (8, "critical")]  # 30 days left, 7 days left, a day past
    for days, severity in steps:
        clock.advance(days * 86400)
        aed.on_self_test("pass")  # the daily self-test keeps coming
        aed.tick()
        assert active(alarms)[f"aed.{part}"]["severity"] == severity
    assert buzzer.sounding  # an expired battery or pads is critical: the AED may not work
    # New ones: the alarm clears.
    aed.set_expiry(part, (date.fromisoformat(expires) + timedelta(days=900)).isoformat(), who="王工")
    assert f"aed.{part}" not in active(alarms) and not buzzer.sounding


def test_bad_dates_are_refused_and_change_nothing(cabinet):
    aed, *_ = cabinet
    aed.set_expiry("battery", "2028-05-01", who="王工")
    for bad in ("", "2028/05/01", "2028-02-30", "明年五月", "20280501"):
        with pytest.raises(AedRefused):
            aed.set_expiry("battery", bad, who="王工")
    with pytest.raises(AedRefused):
        aed.set_expiry("defibrillator", "2028-05-01", who="王工")
    assert aed.state()["battery_expires"] == "2028-05-01"
