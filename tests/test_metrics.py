"""``/metrics`` through the console's Flask app, on a real ``edge.db``: what Prometheus reads
is what the alarms, registry, printers, environment and outbox hold at scrape time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import edge_agent
from central_sync import client as outbox
from edge_agent.alarms import Alarms
from edge_agent.metrics import EdgeMetrics
from edge_agent.registry import Registry
from edge_agent.services import EdgeServices
from hall_common.bus import contract
from hall_common.bus.client import BusMessage
from hall_common.bus.payloads import Birth, NodeState
from hall_common.config import EdgeConfig
from hall_common.escpos_status import PrinterStatus
from hall_common.storage import immediate, open_database


def edge_config(tmp_path: Path, *, centre: bool = False) -> EdgeConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "broker.pw").write_text("x")
    (tmp_path / "token").write_text("t")
    extra: dict[str, Any] = {"centre": {"url": "http://127.0.0.1:9", "token_file": tmp_path / "token"}} if centre else {}
    return EdgeConfig(
        hall_id="h1", hall_name="测试大厅", node_id="edge", data_dir=tmp_path / "edge",
        broker={"password_file": tmp_path / "broker.pw"}, http={"port": 8000}, stale_after=90, **extra,
    )


class Worker:
    """What the console and the metrics read of a printer worker: its last status."""

    def __init__(self, status: PrinterStatus | None) -> None:
        self.status = status


class Printing:
    """The print service as the metrics see it: its workers by printer id."""

    def __init__(self, **workers: PrinterStatus | None) -> None:
        self.workers = {k.replace("_", "-"): Worker(v) for k, v in workers.items()}


class Env:
    """An environment service with the ``latest()`` the metrics expect."""

    def latest(self) -> dict[tuple[str, str], float]:
        return {("env-01", "co2"): 1250.0, ("env-01", "temperature"): 22.5}


def scrape(app) -> dict[str, list[tuple[dict[str, str], float]]]:
    r = app.test_client().get("/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(samples: dict, name: str, **labels: str) -> float | None:
    for got, v in samples.get(name, []):
        if all(got.get(k) == want for k, want in labels.items()):
            return v
    return None


@pytest.fixture
def hall(tmp_path):
    config = edge_config(tmp_path, centre=True)
    holder: dict[str, Any] = {}
    edge_agent.create_app(config)  # applies the migrations to edge.db that Alarms needs
    db_path = config.data_dir / "edge.db"
    alarms = Alarms(db_path, bus=None, node="edge")
    printing = Printing(printer_1=PrinterStatus(online=True, paper="near_end"),
                        printer_2=PrinterStatus(online=True, cover_open=True), printer_3=None)
    metrics = EdgeMetrics(alarms=alarms, printing=printing, environment=Env())
    app = edge_agent.create_app(config, services=EdgeServices(metrics=metrics))
    holder.update(app=app, alarms=alarms, metrics=metrics, db_path=db_path)
    yield holder
    alarms.close()


def test_a_critical_alarm_shows_until_cleared(hall):
    app, alarms = hall["app"], hall["alarms"]
    assert value(scrape(app), "hall_active_alarms", severity="critical", state="ACTIVE_UNACK") == 0
    alarms.raise_("aed.door", source="edge/aed", type="aed_door_open", severity="critical", text="AED cabinet opened")
    alarms.raise_("printer-1.paper", source="edge/printer-1", type="paper_near_end", severity="warning", text="paper")
    samples = scrape(app)
    assert value(samples, "hall_active_alarms", severity="critical", state="ACTIVE_UNACK") == 1
    assert value(samples, "hall_active_alarms", severity="warning", state="ACTIVE_UNACK") == 1
    assert value(samples, "hall_active_alarms", severity="major", state="ACTIVE_UNACK") == 0
    alarms.acknowledge("aed.door", "staff")
    samples = scrape(app)
    assert value(samples, "hall_active_alarms", severity="critical", state="ACTIVE_UNACK") == 0
    assert value(samples, "hall_active_alarms", severity="critical", state="ACTIVE_ACK") == 1
    alarms.clear("aed.door")
    assert value(scrape(app), "hall_active_alarms", severity="critical", state="ACTIVE_ACK") == 0


def test_no_alarm_text_or_personal_data_on_the_page(hall):
    hall["alarms"].raise_("complaint.x", source="edge/complaints", type="complaint", severity="major",
                          text="张三 13800000000 3-1-502")
    body = hall["app"].test_client().get("/metrics").get_data(as_text=True)
    assert "张三" not in body and "13800000000" not in body and "3-1-502" not in body
    labels = " ".join(line.split("{", 1)[1].split("}", 1)[0] for line in body.splitlines() if "{" in line)
    assert "502" not in labels  # the room number in no label (a sample's value may hold the digits)


def test_nodes_printers_environment_outbox_and_ingested(hall):
    app, metrics = hall["app"], hall["metrics"]
    db = open_database(hall["db_path"])
    clock = [1000.0]
    registry = Registry(db, stale_after=90, clock=lambda: clock[0])
    registry.on_state("kiosk-01", NodeState(state="ready", session=1, ts=1.0))
    registry.on_birth("kiosk-01", Birth(session=1, kind="kiosk", sw="1", config_version=None, ts=1.0))
    registry.on_esphome_status("env-01", True)  # last seen at 1000: long ago, so stale
    registry.on_state("kiosk-02", NodeState(state="lost", session=1, ts=None))
    with immediate(db):
        outbox.add(db, "help_request", {"id": "x"}, node="kiosk-01")
    db.close()
    msg = BusMessage(topic="hall/v1/h1/env-01/sensor/co2/state", family=contract.ESPHOME_SENSOR,
                     parts={"node": "env-01", "object_id": "co2"}, payload=612.0, retain=False)
    seen: list[BusMessage] = []
    handler = metrics.counting(seen.append)
    handler(msg)
    handler(msg)

    samples = scrape(app)
    assert value(samples, "hall_nodes", kind="kiosk", state="ready") == 1
    assert value(samples, "hall_nodes", kind="esphome", state="stale") == 1
    assert value(samples, "hall_nodes", state="lost") == 1
    assert value(samples, "hall_node_up", node="kiosk-01") == 1
    assert value(samples, "hall_node_up", node="env-01") == 0
    assert value(samples, "hall_printer_can_print", printer="printer-1") == 1
    assert value(samples, "hall_printer_can_print", printer="printer-2") == 0
    assert value(samples, "hall_printer_paper", printer="printer-1", paper="near_end") == 1
    assert value(samples, "hall_printer_paper", printer="printer-1", paper="ok") == 0
    assert value(samples, "hall_printer_can_print", printer="printer-3") is None  # never polled: unknown
    assert value(samples, "hall_environment_reading", node="env-01", reading="co2") == 1250.0
    assert value(samples, "hall_outbox_depth") == 1
    assert value(samples, "hall_bus_messages_ingested_total", family="esphome_sensor") == 2
    assert len(seen) == 2


def test_environment_with_only_a_snapshot_and_a_console_without_the_agent(tmp_path):
    class Snapshot:
        def snapshot(self) -> list[dict[str, Any]]:
            return [{"node": "env-02", "readings": [{"reading": "noise", "value": 48.0}]}]

    app = edge_agent.create_app(edge_config(tmp_path), services=EdgeServices(metrics=EdgeMetrics(environment=Snapshot())))
    samples = scrape(app)
    assert value(samples, "hall_environment_reading", node="env-02", reading="noise") == 48.0
    assert value(samples, "hall_active_alarms", severity="critical", state="ACTIVE_UNACK") == 0
    assert "hall_outbox_depth" not in samples  # this hall does not sync
    bare = edge_agent.create_app(edge_config(tmp_path / "bare"))
    assert value(scrape(bare), "hall_active_alarms", severity="minor", state="ACTIVE_ACK") == 0
