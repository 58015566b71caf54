"""What ``hall up`` runs: the hall's nodes, their ports, secrets and configuration files.

From a hall description (``firmware_configs/hall.sample.toml``) and a base port, this
writes into the data directory everything each part needs, keeping secrets that already
exist (so logins survive a restart):

    data/config/{edge,central,kiosk-01,...}.toml   one file per part, read by that part
    data/secrets/broker/{node}                     broker passwords (mode 600)
    data/secrets/console/{staff,admin}             console passwords (mode 600)
    data/secrets/centre/edge.token                 the edge's credential for the centre (mode 600)
    data/secrets/centre/config_signing.key         the centre's key for kiosk configuration (mode 600)
    data/broker/                                   mosquitto.conf, passwd, persistence
    data/nodes/{node}/                             each node's own database and state
    data/central/                                  the central server's database
    data/run/pids.json                             the running processes (for tests and tools)
    data/logs/                                     one log file per process
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hall_common.bus import contract
from hall_common.bus.payloads import ID_PATTERN
from central_sync.signing import load_or_create_key, public_key_b64
from hall_common.config import CounterConfig, KioskSettings, OpeningPeriod
from hall_common.hours import DAYS
from hall_common.errors import ConfigError
from hall_common.private_files import read_or_create_secret

from .broker import FIRMWARE_CONFIGS, render_config, write_password_file

SAMPLE_HALL = FIRMWARE_CONFIGS / "hall.sample.toml"
DOCTOR_NODE = "doctor"
PORT_BLOCK = 40
"""Ports a hall takes from its base port: broker +0, central +1, staff console +2,
virtual printers +3 and +4 (their controls +5 and +6), kiosks +10.., boards +20..,
the environment node simulators' controls +30.., the AED cabinet simulator's control +39."""


class HallPlan(BaseModel):
    """A hall description: its id and name and which simulated nodes it has."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hall_id: str = Field(pattern=ID_PATTERN)
    hall_name: str = Field(min_length=1, max_length=60)
    kiosks: list[str] = Field(min_length=1, max_length=9)
    displays: list[str] = Field(min_length=1, max_length=9)
    env_nodes: list[str] = Field(default_factory=list, max_length=9)
    aed_node: str | None = Field("aed-01", description="the simulated AED cabinet node (the edge's aed.node); none if empty")
    kiosk_settings: KioskSettings
    counters: list[CounterConfig] = Field(default_factory=list, description="the hall's counters (窗口)")
    open_around_the_clock: bool = Field(
        False, description="a demonstration hall: open at any hour of any day (holidays too), so whoever starts "
                           "it can take a number at once; the hall's own periods are kept only in this file")

    @model_validator(mode="after")
    def _demo_hours(self) -> "HallPlan":
        if not self.open_around_the_clock:
            return self
        hours = self.kiosk_settings.hours.model_copy(update={
            "periods": [OpeningPeriod(days=list(DAYS), open="00:00", close="24:00")], "holidays": "none"})
        return self.model_copy(update={"kiosk_settings": self.kiosk_settings.model_copy(update={"hours": hours})})

    @field_validator("aed_node", mode="before")
    @classmethod
    def _aed_id(cls, value: object) -> object:
        if value == "":
            return None
        if value is not None:
            cls._ids([value])  # type: ignore[list-item]
        return value

    @field_validator("kiosks", "displays", "env_nodes")
    @classmethod
    def _ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not contract.valid_id(value) or value in contract.RESERVED_NODE_IDS | {contract.EDGE_NODE, DOCTOR_NODE}:
                raise ValueError(f"{value!r} is not a usable node id")
        return values

    @classmethod
    def load(cls, path: Path) -> "HallPlan":
        try:
            return cls.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such hall description") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


@dataclass(frozen=True)
class Process:
    """One process of the hall: how to start it and how to tell it is ready."""

    name: str
    argv: list[str]
    port: int | None
    health_path: str | None = "/healthz"


@dataclass
class Layout:
    """Everything prepared for one hall: processes in start order and what to tell the user."""

    data_dir: Path
    plan: HallPlan
    host: str
    broker_port: int
    processes: list[Process] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    logins: dict[str, tuple[str, str]] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)
    """Folders a person uses to play a device (a simulated camera's view)."""
    files: dict[str, Path] = field(default_factory=dict)
    """Files a person uses (the demo household's resident QR code)."""


def prepare(data_dir: Path, plan: HallPlan, *, base_port: int, host: str = "127.0.0.1") -> Layout:
    """Write secrets, the broker's files and every part's configuration for ``plan``."""
    if not 1024 <= base_port <= 65535 - PORT_BLOCK:
        raise ConfigError(f"base port {base_port} must be between 1024 and {65535 - PORT_BLOCK}")
    data_dir = data_dir.resolve()
    for sub in ("config", "secrets/broker", "secrets/console", "secrets/centre", "broker", "nodes", "central", "logs", "run"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    aed_nodes = [plan.aed_node] if plan.aed_node else []
    nodes = [contract.EDGE_NODE, DOCTOR_NODE, *plan.kiosks, *plan.displays, *plan.env_nodes, *aed_nodes]
    passwords = {n: read_or_create_secret(data_dir / "secrets/broker" / n) for n in nodes}
    write_password_file(data_dir / "broker/passwd", passwords)
    broker_port = base_port
    render_config(data_dir / "broker", port=broker_port, bind=host, log_file=data_dir / "logs/mosquitto.log")
    layout = Layout(data_dir, plan, host, broker_port)
    py = sys.executable

    def node_config(node: str, **extra: object) -> Path:
        doc = {
            "hall_id": plan.hall_id,
            "hall_name": plan.hall_name,
            "node_id": node,
            "data_dir": f"../nodes/{node}",
            "log_file": f"../logs/{node}.log",
            "broker": {"host": host, "port": broker_port, "password_file": f"../secrets/broker/{node}"},
            **extra,
        }
        path = data_dir / "config" / f"{node}.toml"
        path.write_text(tomli_w.dumps(doc), encoding="utf-8")
        return path

    layout.processes.append(Process("broker", [_mosquitto(), "-c", str(data_dir / "broker/mosquitto.conf")], broker_port, None))

    central_port = base_port + 1
    admin_pw = read_or_create_secret(data_dir / "secrets/console/admin", 9)
    central_conf = data_dir / "config" / "central.toml"
    signing_key = load_or_create_key(data_dir / "secrets/centre/config_signing.key")
    central_conf.write_text(tomli_w.dumps({
        "data_dir": "../central",
        "log_file": "../logs/central.log",
        "database_url": "sqlite:///../central/central.db",
        "demo": True,  # the payment sandbox and its pay pages: a demo centre's only
        "signing_key_file": "../secrets/centre/config_signing.key",
        "http": {"host": host, "port": central_port},
        "bootstrap_user": {"username": "admin", "password_file": "../secrets/console/admin", "role": "admin"},
    }), encoding="utf-8")
    layout.processes.append(Process("central", [py, "-m", "central_sync.server", "--config", str(central_conf)], central_port))
    layout.urls["admin console"] = f"http://{host}:{central_port}/"
    layout.urls["payment sandbox"] = f"http://{host}:{central_port}/sandbox/pay/  (pays the kiosk's open payment codes)"
    layout.logins["admin console"] = ("admin", admin_pw)

    # Two virtual printers: an 80 mm one with a Chinese font (GB18030 text mode) that the
    # kiosks use, and a 58 mm one without (bitmap mode) that their jobs move to when the
    # first runs out of paper.
    printers = []
    for n, (profile, paper_mm) in enumerate((("gp-80250", 80), ("generic-58-bitmap", 58)), 1):
        pid, pport, cport = f"printer-{n}", base_port + 2 + n, base_port + 4 + n
        pdir = data_dir / "printer" / pid
        layout.processes.append(Process(pid, [py, "-m", "simulators.printer", "--host", host, "--port", str(pport),
                                              "--out-dir", str(pdir), "--paper-mm", str(paper_mm),
                                              "--control-port", str(cport)], pport, None))
        layout.urls[f"printer {pid}"] = (f"tcp://{host}:{pport}  ({profile}; each job as a PNG in {pdir}; "
                                         f"take its paper: curl -d paper=out http://{host}:{cport}/)")
        printers.append({"id": pid, "host": host, "port": pport, "profile": profile})

    edge_port = base_port + 2
    staff_pw = read_or_create_secret(data_dir / "secrets/console/staff", 9)
    token_file = data_dir / "secrets/centre/edge.token"
    if not token_file.exists():
        from .provision import provision

        provision(f"sqlite:///{data_dir / 'central/central.db'}", plan.hall_id, plan.hall_name, contract.EDGE_NODE, token_file)
        from central_sync.server.disclosure_demo import seed_url  # a first-time user finds 公示信息 filled

        seed_url(f"sqlite:///{data_dir / 'central/central.db'}")
    layout.files["resident QR (demo)"] = _demo_residents(data_dir, plan.hall_id)
    edge_conf = node_config(
        contract.EDGE_NODE,
        http={"host": host, "port": edge_port},
        centre={"url": f"http://{host}:{central_port}", "token_file": "../secrets/centre/edge.token"},
        printers=printers,
        # The queue keeps the kiosks' opening hours: tickets are given while the hall is open.
        queue={"hours": plan.kiosk_settings.hours.model_dump(mode="json"),
               "counters": [c.model_dump(mode="json", exclude_none=True) for c in plan.counters]},
        bootstrap_user={"username": "staff", "password_file": "../secrets/console/staff", "role": "staff"},
        # A receipt printed at the counter opens the request's phone page, as the kiosk's do.
        complaints={"follow_url": f"http://{host}:{edge_port}"},
        # The simulated devices, with where they are; the buzzer and buttons on mock pins (no Pi here).
        devices=[*({"id": n, "kind": "env_node", "model": "ESP32 + SCD41 + BH1750 (simulated)", "location": "服务大厅",
                    "expected_interval_s": 5.0} for n in plan.env_nodes),
                 *({"id": n, "kind": "aed_node", "model": "ESP32 + DS18B20 (simulated)", "location": "服务大厅入口",
                    "expected_interval_s": 30.0} for n in aed_nodes)],
        aed={"node": plan.aed_node or "", "location": "服务大厅入口"},  # "": no AED node (TOML has no None)
        hardware={"gpio": "mock", "buzzer_pin": 18},
        config_public_key=public_key_b64(signing_key),  # edge settings from the centre (docs/rollouts.md)
    )
    layout.processes.append(Process("edge", [py, "-m", "edge_agent", "--config", str(edge_conf)], edge_port))
    layout.urls["staff console"] = f"http://{host}:{edge_port}/"
    layout.logins["staff console"] = ("staff", staff_pw)

    node_config(DOCTOR_NODE)
    for i, node in enumerate(plan.kiosks):
        port = base_port + 10 + i
        # The simulated camera "sees" the newest picture dropped in this folder (a receipt's QR).
        camera_dir = data_dir / "camera" / node
        camera_dir.mkdir(parents=True, exist_ok=True)
        layout.folders[f"camera {node}"] = camera_dir
        conf = node_config(node, http={"host": host, "port": port}, config_public_key=public_key_b64(signing_key),
                           follow_url=f"http://{host}:{edge_port}",
                           camera={"kind": "images", "images_dir": str(camera_dir)},
                           settings=plan.kiosk_settings.model_dump(mode="json", exclude_defaults=True))
        layout.processes.append(Process(node, [py, "-m", "kiosk", "--config", str(conf)], port))
        layout.urls[f"kiosk {node}"] = f"http://{host}:{port}/"
    for i, node in enumerate(plan.displays):
        port = base_port + 20 + i
        conf = node_config(node, http={"host": host, "port": port}, config_public_key=public_key_b64(signing_key))
        layout.processes.append(Process(node, [py, "-m", "hall_display", "--config", str(conf)], port))
        layout.urls[f"board {node}"] = f"http://{host}:{port}/"
    # The ESPHome node simulators, each with an HTTP control (a page, or curl) to change
    # readings, open the AED cabinet or make a node go silent (docs/devices.md).
    for i, node in enumerate(plan.env_nodes):
        cport = base_port + 30 + i
        conf = node_config(node, interval=5.0, control_port=cport)
        layout.processes.append(Process(node, [py, "-m", "simulators.env_node", "--config", str(conf)], cport, "/state"))
        layout.urls[f"sensor {node}"] = (f"http://{host}:{cport}/  (simulated environment node; "
                                         f"raise CO2: curl -X POST 'http://{host}:{cport}/set?co2=1500')")
    for node in aed_nodes:
        cport = base_port + 39
        conf = node_config(node, interval=30.0, control_port=cport)
        layout.processes.append(Process(node, [py, "-m", "simulators.aed_node", "--config", str(conf)], cport, "/state"))
        layout.urls[f"AED cabinet {node}"] = (f"http://{host}:{cport}/  (simulated AED cabinet; "
                                              f"open its door: curl -X POST 'http://{host}:{cport}/door?open=1')")
    layout.urls["broker"] = f"mqtt://{host}:{broker_port}"
    return layout


def _demo_residents(data_dir: Path, hall_id: str) -> Path:
    """Demo households and bills in the central database, and the resident QR code of one
    of them (docs/bills.md): what a person needs to try the kiosk's bills screen."""
    from central_sync.server.resident_demo import DEMO_ROOM, load_demo
    from central_sync.server.schema import MIGRATIONS
    from central_sync.store import Store, migrate

    from .resident_codes import write_code

    store = Store.connect(f"sqlite:///{data_dir / 'central/central.db'}")
    try:
        migrate(store, MIGRATIONS)
        load_demo(store, hall_id)
    finally:
        store.close()
    return write_code(data_dir / "secrets/centre/config_signing.key", hall_id, DEMO_ROOM,
                      data_dir / "resident-qr" / f"{DEMO_ROOM}.png")


def _mosquitto() -> str:
    from .broker import find_program

    return find_program("mosquitto")
