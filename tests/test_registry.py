"""The edge agent's node registry: sessions, stale wills, silent nodes."""

from __future__ import annotations

from edge_agent.db import migrations
from edge_agent.registry import Registry
from hall_common.bus.payloads import Birth, NodeState
from hall_common.storage import open_database

from .helpers.clock import Clock


def make(tmp_path):
    clock = Clock(1000.0)
    return Registry(open_database(tmp_path / "edge.db", migrations), stale_after=60, clock=clock), clock


def state(reg, node):
    return {n.node: n for n in reg.nodes()}[node]


def test_a_stale_will_does_not_mark_a_live_node_lost(tmp_path):
    reg, _ = make(tmp_path)
    reg.on_state("kiosk-01", NodeState(state="ready", session=4))
    reg.on_birth("kiosk-01", Birth(session=4, kind="kiosk", sw="1", ts=0))
    reg.on_state("kiosk-01", NodeState(state="lost", session=3))  # the will of the run before
    assert state(reg, "kiosk-01").state == "ready"
    reg.on_state("kiosk-01", NodeState(state="lost", session=4))
    assert state(reg, "kiosk-01").state == "lost"


def test_birth_records_kind_and_software(tmp_path):
    reg, _ = make(tmp_path)
    reg.on_birth("display-01", Birth(session=1, kind="display", sw="0.1.0", config_version=7, ts=0))
    n = state(reg, "display-01")
    assert (n.kind, n.sw, n.config_version) == ("display", "0.1.0", 7)


def test_a_silent_sensor_node_goes_stale_and_comes_back(tmp_path):
    reg, clock = make(tmp_path)
    reg.on_esphome_status("env-01", True)
    assert state(reg, "env-01").online
    clock.t += 61
    assert state(reg, "env-01").stale and not state(reg, "env-01").online
    reg.seen("env-01")
    assert state(reg, "env-01").online
    reg.on_esphome_status("env-01", False)
    assert state(reg, "env-01").state == "lost"


def test_a_kiosk_is_not_stale_for_being_quiet(tmp_path):
    reg, clock = make(tmp_path)
    reg.on_birth("kiosk-01", Birth(session=1, kind="kiosk", sw="1", ts=0))
    reg.on_state("kiosk-01", NodeState(state="ready", session=1))
    clock.t += 3600
    assert state(reg, "kiosk-01").online


def test_configured_devices_bring_model_place_and_their_own_interval(tmp_path):
    from hall_common.config import DeviceInfo

    clock = Clock(1000.0)
    reg = Registry(open_database(tmp_path / "edge.db", migrations), stale_after=600, clock=clock, devices=[
        DeviceInfo(id="aed-01", kind="aed_node", model="ESP32 + DS18B20", location="一楼入口", expected_interval_s=10),
        DeviceInfo(id="env-02", kind="env_node", model="SCD41", location="二楼")])
    reg.on_esphome_status("aed-01", True)
    n = state(reg, "aed-01")
    assert (n.kind, n.model, n.location, n.online) == ("aed_node", "ESP32 + DS18B20", "一楼入口", True)
    clock.t += 31  # three intervals of 10 s, well inside the general 600 s
    assert state(reg, "aed-01").stale
    # A configured node that never connected is listed, not forgotten.
    assert state(reg, "env-02").state == "never" and state(reg, "env-02").location == "二楼"
