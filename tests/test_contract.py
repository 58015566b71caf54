"""The bus contract as plain data: topics, filters, matching, payload validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hall_common.bus import contract
from hall_common.bus.methods import METHODS
from hall_common.bus.payloads import NodeState
from hall_common.errors import PayloadError, RequestFailed, TopicError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "bus.md"


def test_topic_and_filter():
    assert contract.NODE_STATE.topic(hall="h1", node="kiosk-01") == "hall/v1/h1/kiosk-01/$state"
    assert contract.NODE_STATE.filter(hall="h1") == "hall/v1/h1/+/$state"
    assert contract.REQUEST.filter(hall="h1", method="ping") == "hall/v1/h1/+/req/ping"
    assert contract.CONFIG_DESIRED.topic(hall="h1", node="kiosk-01") == "hall/v1/h1/config/kiosk-01"


@pytest.mark.parametrize("bad", ["", "A", "a/b", "+", "#", "x" * 40, "kiosk 1"])
def test_topic_levels_are_validated(bad):
    with pytest.raises(TopicError):
        contract.NODE_STATE.topic(hall="h1", node=bad)


def test_reserved_ids_cannot_be_nodes_or_devices():
    with pytest.raises(TopicError):
        contract.NODE_STATE.topic(hall="h1", node="queue")
    # Every hall-wide first level is reserved: a node called "payment" would, through the
    # ACL's hall/v1/+/%u/#, read and forge every kiosk's payment outcomes.
    hall_wide = {f.levels[3] for f in contract.FAMILIES
                 if f.levels[:3] == ("hall", contract.VERSION, "{hall}") and len(f.levels) > 3
                 and not f.levels[3].startswith("{")}
    assert hall_wide <= contract.RESERVED_NODE_IDS, hall_wide - contract.RESERVED_NODE_IDS
    with pytest.raises(TopicError):
        contract.DEVICE_STATE.topic(hall="h1", node="edge", dev="req")


@pytest.mark.parametrize(
    "topic, family, parts",
    [
        ("hall/v1/h1/kiosk-01/$state", "node_state", {"hall": "h1", "node": "kiosk-01"}),
        ("hall/v1/h1/kiosk-01/config/reported", "config_reported", {"hall": "h1", "node": "kiosk-01"}),
        ("hall/v1/h1/edge/printer-1/state", "device_state", {"hall": "h1", "node": "edge", "dev": "printer-1"}),
        ("hall/v1/h1/kiosk-01/req/state", "request", {"hall": "h1", "node": "kiosk-01", "method": "state"}),
        ("hall/v1/h1/queue/state", "queue_state", {"hall": "h1"}),
        ("hall/v1/h1/alarm/printer-1.paper", "alarm", {"hall": "h1", "alarm_id": "printer-1.paper"}),
        ("hall/v1/h1/env-01/sensor/co2/state", "esphome_sensor", {"hall": "h1", "node": "env-01", "object_id": "co2"}),
        ("hall/v1/h1/env-01/status", "esphome_status", {"hall": "h1", "node": "env-01"}),
        ("homeassistant/status", "ha_status", {}),
    ],
)
def test_match_finds_the_right_family(topic, family, parts):
    found = contract.match(topic)
    assert found is not None
    assert found[0].name == family
    assert found[1] == parts


@pytest.mark.parametrize("topic", ["hall/v2/h1/x/$state", "other/topic", "hall/v1/h1/queue/$state", "hall/v1/H1/k/$state"])
def test_foreign_topics_do_not_match(topic):
    assert contract.match(topic) is None


def test_every_built_topic_matches_back_to_its_family():
    samples = {"hall": "h1", "node": "kiosk-01", "dev": "printer-1", "method": "ping",
               "object_id": "co2", "alarm_id": "a1", "component": "sensor"}
    for family in contract.FAMILIES:
        topic = family.topic(**{k: samples[k] for k in family.params})
        assert contract.match(topic)[0] is family, family.name


def test_payload_round_trip_and_errors():
    raw = contract.NODE_STATE.encode(NodeState(state="lost", session=3))
    assert contract.NODE_STATE.parse(raw) == NodeState(state="lost", session=3)
    with pytest.raises(PayloadError, match="state"):
        contract.NODE_STATE.parse(b'{"state": "asleep", "session": 1}')
    with pytest.raises(PayloadError, match="surprise: Extra"):
        contract.NODE_STATE.parse(b'{"state": "ready", "session": 1, "surprise": 1}')
    with pytest.raises(PayloadError):
        contract.NODE_STATE.parse(b"\xff")
    with pytest.raises(PayloadError, match="over"):
        contract.NODE_STATE.parse(b" " * (contract.MAX_PAYLOAD + 1))


def test_plain_encodings():
    assert contract.ESPHOME_SENSOR.parse(b"21.5") == 21.5
    for bad in (b"nan", b"inf", b"warm", b""):
        with pytest.raises(PayloadError):
            contract.ESPHOME_SENSOR.parse(bad)
    assert contract.ESPHOME_BINARY.parse(b"ON") is True
    with pytest.raises(PayloadError):
        contract.ESPHOME_BINARY.parse(b"on")
    assert contract.ALARM.parse(b"") is None  # an empty retained alarm means it is gone


def test_every_topic_family_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    missing = [f.pattern for f in contract.FAMILIES if f"`{f.pattern}`" not in text]
    assert not missing, f"docs/bus.md does not document {missing}"


def test_docs_acl_section_exists():
    assert re.search(r"^## Who may publish and subscribe", DOCS.read_text(encoding="utf-8"), re.M)


def _documented_methods() -> dict[str, tuple[str, str]]:
    """method → (arguments cell, answer cell) from the table under "### Methods"."""
    text = DOCS.read_text(encoding="utf-8").split("### Methods", 1)[1]
    rows: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        if rows and not line.startswith("|"):
            break  # the end of the table
        m = re.match(r"^\| `([a-z_]+)` \| (.*?) \| (.*?) \|", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def _fields(model) -> str:
    return ", ".join(f"`{n}`" + ("" if f.is_required() else "?") for n, f in model.model_fields.items()) or "—"


def test_every_request_method_is_documented_with_its_fields():
    documented = _documented_methods()
    assert set(documented) == set(METHODS), (
        f"docs/bus.md's method table differs from METHODS: missing {sorted(set(METHODS) - set(documented))}, "
        f"extra {sorted(set(documented) - set(METHODS))}")
    for name, method in METHODS.items():
        assert documented[name] == (_fields(method.args), _fields(method.answer)), f"docs/bus.md: {name}'s fields"


def test_arguments_are_checked_with_the_field_named():
    assert METHODS["ticket"].parse_args({"service": "consult"}).service == "consult"
    for method, args, field in (("ticket", {}, "service"), ("counter", {"counter": "c1", "action": "dance"}, "action"),
                                ("pay", {"room": "3-2-1201", "bill_ids": ["a"], "amount_fen": 1}, "amount_fen"),
                                ("bills", {}, "qr, or room and last4"), ("payment_receipt",
                                                                       {"order_id": "o", "job": "nope"}, "job")):
        with pytest.raises(PayloadError, match=f"^{method}: {field}"):
            METHODS[method].parse_args(args)


def test_an_answer_outside_the_contract_is_refused_as_internal():
    def bad(requester, args):
        return {"id": "x", "phone": "13812345678"}

    with pytest.raises(RequestFailed) as err:
        METHODS["help"].call(bad, "kiosk-01", {})
    assert err.value.code == "internal" and "138" not in str(err.value)
