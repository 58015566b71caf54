"""Hall devices through the whole edge agent on a real broker: the AED cabinet node's door
(ESPHome topics) raises a critical alarm at once, retained on the bus, and the buzzer on
a MockFactory pin sounds until staff acknowledge it on the console's alarm list; the
checklist on the AED page clears it; a failed self-test; the hall at a glance. Chromium
screenshots of the overview, the alarm list with a critical alarm and the AED page."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import pytest

from edge_agent.registry import Registry
from hall_common.bus import contract
from hall_common.storage import open_database

from .conftest import HALL, wait_for
from .screens import staff_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "devices"
DEVICES = [{"id": "aed-01", "kind": "aed_node", "model": "ESP32 + DS18B20 + 干簧管", "location": "一楼大厅入口",
            "expected_interval_s": 60},
           {"id": "env-01", "kind": "env_node", "model": "SCD41 + BH1750", "location": "服务大厅"}]


@pytest.fixture
def hall(mini, broker, tmp_path):
    agent = mini.edge(devices=DEVICES, aed={"node": "aed-01", "location": "一楼大厅入口"},
                      hardware={"gpio": "mock", "buzzer_pin": 18})
    node = broker.client("aed-01", kind="aed_node")
    yield mini, agent, node, tmp_path


def esphome(node, kind: str, object_id: str, payload: bytes) -> None:
    topic = f"hall/v1/{HALL}/aed-01/{kind}/{object_id}/state"
    node.publish_raw(topic, payload, qos=1, retain=True).wait_for_publish(5)


def console(mini, agent, tmp_path, browser):
    served = mini.console(agent, printing=agent.printing, alarms=agent.alarms, aed=agent.aed,
                          environment=agent.environment, first_aid=agent.first_aid)
    page = staff_page(browser, served.url + "alarms/")
    return served, page


def test_the_aed_door_calls_for_staff_until_acknowledged_and_the_checklist_clears_it(hall, browser):
    mini, agent, node, tmp_path = hall
    spy = mini.broker.client("kiosk-02")
    node.publish_raw(f"hall/v1/{HALL}/aed-01/status", b"online", qos=1, retain=True).wait_for_publish(5)
    esphome(node, "binary_sensor", "door", b"OFF")
    esphome(node, "sensor", "cabinet_temperature", b"21.5")
    wait_for(lambda: agent.aed.state()["temperature"] == 21.5)
    assert not agent.buzzer.sounding
    esphome(node, "binary_sensor", "door", b"ON")
    wait_for(lambda: any(a["id"] == "aed.door" for a in agent.alarms.active()))
    alarm = next(a for a in agent.alarms.active() if a["id"] == "aed.door")
    assert alarm["severity"] == "critical" and "一楼大厅入口" in alarm["text"]
    wait_for(lambda: agent.buzzer.sounding)
    # Malformed payloads on the same topics are dropped, never a crash.
    esphome(node, "binary_sensor", "door", b"open!")
    esphome(node, "text_sensor", "self_test", b"x" * 200)
    esphome(node, "sensor", "cabinet_temperature", b"NaN")
    esphome(node, "text_sensor", "self_test", b"fail")
    wait_for(lambda: any(a["id"] == "aed.self_test" for a in agent.alarms.active()))
    assert agent.aed.state()["door_open"] and agent.aed.state()["temperature"] == 21.5

    served, page = console(mini, agent, tmp_path, browser)
    page.goto(served.url)
    tile = page.inner_text(".glance .tile.bad:has-text('AED')")
    assert "柜门打开" in tile
    assert "一楼大厅入口" in page.inner_text(".glance")  # the cabinet node with its place
    page.screenshot(path=_shot("overview"), full_page=True)
    page.goto(served.url + "alarms/")
    row = page.inner_text("tr.alarm:has-text('可能正在急救')")
    assert "紧急" in row and "未确认" in row
    page.screenshot(path=_shot("alarm-list-critical"), full_page=True)
    page.click("tr.alarm:has-text('可能正在急救') button:has-text('确认')")
    page.wait_for_selector("text=已确认，告警仍保留")
    wait_for(lambda: not agent.buzzer.sounding)
    assert "staff" in page.inner_text("tr.alarm:has-text('可能正在急救')")
    assert "staff" in page.inner_text(".alarm-history")  # the acknowledgement is on record
    # After the rescue: the checklist is refused while the door is open, done once it is shut.
    page.goto(served.url + "aed/")
    page.check("input[name=pads_replaced]")
    page.check("input[name=rearmed]")
    page.click("button:has-text('完成检查')")
    page.wait_for_selector("text=柜门传感器仍显示打开")
    esphome(node, "binary_sensor", "door", b"OFF")
    wait_for(lambda: not agent.aed.state()["door_open"])
    page.goto(served.url + "aed/")
    page.screenshot(path=_shot("aed-after-use"), full_page=True)
    page.check("input[name=pads_replaced]")
    page.check("input[name=rearmed]")
    page.fill("input[name=pads_expire]", "2029-03-31")
    page.click("button:has-text('完成检查')")
    page.wait_for_selector("text=检查单已完成")
    assert not any(a["id"] == "aed.door" for a in agent.alarms.active())
    assert agent.aed.state()["pads_expires"] == "2029-03-31"
    assert agent.aed.uses()[0]["checked_by"] == "staff"
    # The cabinet's state is retained for kiosks and Home Assistant.
    states: list[dict] = []
    spy.subscribe(contract.DEVICE_STATE.topic(hall=HALL, node="edge", dev="aed"),
                  lambda m: states.append(m.payload.model_dump()))
    wait_for(lambda: states)
    assert states[-1]["status"]["door_open"] is False and states[-1]["status"]["pads_expires"] == "2029-03-31"


def _shot(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"


@pytest.fixture
def simulated(mini, broker):
    """The agent with both node simulators (as `hall up` runs them), driven by their HTTP
    controls; judgement without a minimum duration so the test need not wait a minute."""
    from simulators import aed_node, env_node

    agent = mini.edge(devices=DEVICES, aed={"node": "aed-01", "location": "一楼大厅入口"},
                      hardware={"gpio": "mock", "buzzer_pin": 18}, environment={"min_duration_s": 0})
    sims = []
    for node, module, cls, kind in (("env-01", env_node, env_node.EnvNodeSim, "env_node"),
                                    ("aed-01", aed_node, aed_node.AedNodeSim, "aed_node")):
        sim = cls(lambda node=node, kind=kind: broker.client(node, kind=kind, connect=False, availability="esphome"),
                  interval=3600, seed=1)
        control = module.controls(sim)
        control.start()
        sim.start()
        thread = threading.Thread(target=sim.run, daemon=True)
        thread.start()
        sims.append((sim, control, thread))
    yield agent, {node: control.url for node, (_, control, _) in zip(("env-01", "aed-01"), sims)}
    for sim, control, thread in sims:
        control.stop()
        sim.close()
        thread.join(5)


def control(url: str, query: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url + query, method="POST", data=b""), timeout=5).read()


def test_the_simulators_raise_and_clear_alarms_and_a_silent_node_is_seen(simulated):
    agent, urls = simulated
    # The registry as the console sees it, on a connection of this thread's own (the agent's
    # belongs to its bus worker).
    registry = Registry(open_database(agent.db_path), stale_after=90)

    def state(node: str) -> str | None:
        found = {n.node: n.state for n in registry.nodes()}
        return found.get(node)

    wait_for(lambda: state("env-01") == "ready" and state("aed-01") == "ready")
    # CO2 up: the environment alarm; back down: cleared.
    control(urls["env-01"], "set?co2=1500")
    wait_for(lambda: any(a["id"] == "env.env-01.co2" for a in agent.alarms.active()), timeout=15)
    assert "1500" in next(a["text"] for a in agent.alarms.active() if a["id"] == "env.env-01.co2")
    control(urls["env-01"], "set?co2=600")
    wait_for(lambda: not any(a["id"] == "env.env-01.co2" for a in agent.alarms.active()), timeout=15)
    # The AED cabinet's door and self-test.
    control(urls["aed-01"], "door?open=1")
    wait_for(lambda: any(a["id"] == "aed.door" and a["severity"] == "critical" for a in agent.alarms.active()))
    wait_for(lambda: agent.buzzer.sounding)
    control(urls["aed-01"], "self_test?result=fail")
    wait_for(lambda: any(a["id"] == "aed.self_test" for a in agent.alarms.active()))
    control(urls["aed-01"], "self_test?result=pass")
    wait_for(lambda: not any(a["id"] == "aed.self_test" for a in agent.alarms.active()))
    # A node that goes silent: its will says offline, the registry says lost.
    control(urls["env-01"], "silent?on=1")
    wait_for(lambda: state("env-01") == "lost")
    control(urls["env-01"], "silent?on=0")
    wait_for(lambda: state("env-01") == "ready")
