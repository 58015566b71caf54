"""The ESPHome node configurations (firmware_configs/esphome/) validated by ESPHome itself,
and held to the bus contract: the topic prefix, birth and will, each entity's object id,
QoS and retain, and the same entities as the simulators publish.

``esphome config`` runs from ``.venv-esphome`` (``scripts/setup`` installs it there: ESPHome
pins packages the hall also uses). It validates without a toolchain and without the network;
it does not compile, so the C++ lambdas are only checked when a node is built.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hall_common.bus import contract
from simulators import aed_node, env_node

ROOT = Path(__file__).resolve().parent.parent
ESPHOME_DIR = ROOT / "firmware_configs" / "esphome"
ESPHOME_VENV = ROOT / ".venv-esphome" / "bin"

NODES = {
    "env-node.yaml": {
        "node": "env-01",
        "sensor": {"temperature": "°C", "humidity": "%", "co2": "ppm", "illuminance": "lx", "noise": "dBA"},
        "binary_sensor": {},
        "text_sensor": {},
    },
    "aed-cabinet.yaml": {
        "node": "aed-01",
        "sensor": {"cabinet_temperature": "°C"},
        "binary_sensor": {"door": None},
        "text_sensor": {"self_test": None},
    },
}
FAMILIES = {"sensor": contract.ESPHOME_SENSOR, "binary_sensor": contract.ESPHOME_BINARY,
            "text_sensor": contract.ESPHOME_TEXT}


class _TaggedLoader(yaml.SafeLoader):
    """Reads ``esphome config`` output, whose values may carry ``!secret`` or ``!lambda`` tags."""


_TaggedLoader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))


def esphome(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = ESPHOME_VENV / "esphome"
    assert exe.exists(), "ESPHome is missing: run scripts/setup (it installs it in .venv-esphome)"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def workdir(tmp_path: Path, name: str, *, drop_secret: str | None = None) -> Path:
    """A copy of one configuration beside a secrets.yaml made from secrets.example.yaml, so
    the example is known to name every secret the configurations use."""
    shutil.copy(ESPHOME_DIR / name, tmp_path / name)
    example = yaml.safe_load((ESPHOME_DIR / "secrets.example.yaml").read_text(encoding="utf-8"))
    secrets = {k: (1883 if k == "mqtt_port" else f"test-{k}") for k in example if k != drop_secret}
    (tmp_path / "secrets.yaml").write_text(yaml.safe_dump(secrets), encoding="utf-8")
    return tmp_path / name


def validated(tmp_path: Path, name: str, *subs: str) -> dict[str, Any]:
    path = workdir(tmp_path, name)
    result = esphome(*subs, "config", path.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Configuration is valid!" in result.stderr
    return yaml.load(result.stdout, Loader=_TaggedLoader)


def object_ids(names: list[str]) -> list[str]:
    """Object ids as ESPHome derives them from entity names, asked of ESPHome itself."""
    code = ("import json, sys\nfrom esphome.helpers import sanitize, snake_case\n"
            "print(json.dumps([sanitize(snake_case(n)) for n in json.load(sys.stdin)]))")
    result = subprocess.run([str(ESPHOME_VENV / "python"), "-c", code], input=json.dumps(names),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def entities(config: dict[str, Any], component: str) -> dict[str, dict[str, Any]]:
    """The published (not internal) entities of one component, by object id."""
    items = []
    for entry in config.get(component) or []:
        # A platform with several readings (the SCD41's co2, temperature, humidity) nests them.
        nested = [v for v in entry.values() if isinstance(v, dict) and "name" in v]
        items += nested if "name" not in entry else [entry]
    items = [e for e in items if not e.get("internal")]
    return dict(zip(object_ids([e["name"] for e in items]), items))


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, dict[str, Any]]:
    return {name: validated(tmp_path_factory.mktemp(name.split(".")[0]), name) for name in NODES}


@pytest.mark.parametrize("name", sorted(NODES))
def test_mqtt_prefix_birth_and_will_follow_the_contract(configs, name):
    mqtt = configs[name]["mqtt"]
    node = NODES[name]["node"]
    prefix = f"hall/v1/demo/{node}"
    assert mqtt["topic_prefix"] == prefix
    assert mqtt["username"] == mqtt["client_id"] == node, "the broker's ACL keys on the node id"
    assert mqtt["discovery"] is False, "the edge agent does Home Assistant discovery"
    assert mqtt["log_topic"] is None
    status = contract.ESPHOME_STATUS.topic(hall="demo", node=node)
    for key, payload in (("birth_message", "online"), ("will_message", "offline"), ("shutdown_message", "offline")):
        message = mqtt[key]
        assert (message["topic"], message["payload"]) == (status, payload), key
        assert (message["qos"], message["retain"]) == (contract.ESPHOME_STATUS.qos, contract.ESPHOME_STATUS.retain), key
        assert contract.ESPHOME_STATUS.parse(message["payload"].encode()) is (payload == "online")
    # Broker address and password are the hall's secrets, not part of the file.
    assert mqtt["broker"] == "mqtt_broker" and mqtt["password"].endswith("_mqtt_password")
    assert "api" not in configs[name], "MQTT only: with api: and no client the node reboots"


@pytest.mark.parametrize("name", sorted(NODES))
def test_entities_have_the_contracts_object_ids_qos_and_retain(configs, name):
    config, want = configs[name], NODES[name]
    prefix = config["mqtt"]["topic_prefix"]
    for component, family in FAMILIES.items():
        got = entities(config, component)
        assert set(got) == set(want[component]), f"{component}: published entities must be exactly these"
        for object_id, entity in got.items():
            topic = f"{prefix}/{component}/{object_id}/state"
            assert contract.match(topic) == (family, {"hall": "demo", "node": want["node"], "object_id": object_id})
            assert entity.get("qos", 0) == family.qos, topic
            assert entity.get("retain", True) == family.retain, topic
            if want[component][object_id] is not None:
                assert entity["unit_of_measurement"] == want[component][object_id], topic


def test_sensor_readings_come_every_30_to_60_seconds(configs):
    intervals = [s["update_interval"] for name in NODES for s in configs[name]["sensor"] if s["platform"] != "adc"]
    assert all(i in ("30s", "60s") for i in intervals), intervals
    noise = next(s for s in configs["env-node.yaml"]["sensor"] if s["platform"] == "adc")
    window = next(f["sliding_window_moving_average"] for f in noise["filters"] if "sliding_window_moving_average" in f)
    assert noise["update_interval"] == "1s" and window["send_every"] == 30


def test_the_door_is_a_door_and_the_self_test_is_published_on_change_and_daily(configs):
    aed = configs["aed-cabinet.yaml"]
    door = entities(aed, "binary_sensor")["door"]
    assert door["device_class"] == "door"
    intervals = {i["interval"] for i in aed["interval"]}
    assert intervals == {"5s", "24h"}
    lambdas = str([i["then"] for i in aed["interval"]])
    assert '"pass"' in lambdas and '"fail"' in lambdas


def test_simulators_publish_the_same_entities_as_the_configs(configs):
    assert set(env_node.BASELINE) == set(entities(configs["env-node.yaml"], "sensor"))
    aed = configs["aed-cabinet.yaml"]
    assert {aed_node.TEMPERATURE} == set(entities(aed, "sensor"))
    assert {aed_node.DOOR} == set(entities(aed, "binary_sensor"))
    assert {aed_node.SELF_TEST} == set(entities(aed, "text_sensor"))


def test_hall_and_node_ids_come_from_substitutions(tmp_path):
    config = validated(tmp_path, "aed-cabinet.yaml", "-s", "hall_id", "h2", "-s", "node_id", "aed-07")
    assert config["mqtt"]["topic_prefix"] == "hall/v1/h2/aed-07"
    assert config["mqtt"]["will_message"]["topic"] == "hall/v1/h2/aed-07/status"
    assert config["mqtt"]["username"] == "aed-07"


@pytest.mark.parametrize("name", sorted(NODES))
def test_a_missing_secret_fails_validation(tmp_path, name):
    text = (ESPHOME_DIR / name).read_text(encoding="utf-8")
    secret = re.search(r"password: !secret (\w+_mqtt_password)", text).group(1)
    path = workdir(tmp_path, name, drop_secret=secret)
    result = esphome("config", path.name, cwd=tmp_path)
    assert result.returncode != 0
    assert secret in result.stderr + result.stdout


def test_a_misspelt_option_fails_validation(tmp_path):
    path = workdir(tmp_path, "env-node.yaml")
    path.write_text(path.read_text(encoding="utf-8").replace("discovery: false", "discovery: nope"), encoding="utf-8")
    result = esphome("config", path.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "discovery" in result.stderr + result.stdout
