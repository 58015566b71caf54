"""``hall doctor``: check the hall's parts and say plainly what is wrong and how to fix it.

It reads the configuration files of the hall (``data/config`` from ``hall up``, or the
folder a Pi keeps them in) and checks: the broker takes the doctor's login; the edge agent
answers on the bus; which nodes are online; each part's data directory has the free space
its configuration asks for (``disk_min_free_mb``); the databases open and pass SQLite's
quick_check; each web part answers; the centre answers. Printers and the camera are
checked once they are configured.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from hall_common import disk
from hall_common.bus import contract
from hall_common.bus.payloads import DeviceState
from hall_common.bus.client import BusClient
from hall_common.config import (
    CentralConfig, DisplayConfig, DoctorConfig, EdgeConfig, KioskConfig, NodeConfig, PartConfig, load,
)
from hall_common import holidays
from hall_common.errors import BusTimeout, ConfigError, HallError

from .broker import port_open


@dataclass(frozen=True)
class Finding:
    ok: bool | None  # None: nothing to check
    what: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "✔", False: "✖", None: "–"}[self.ok]
        return f"{mark} {self.what}" + (f"\n    → {self.fix}" if self.fix else "")


def http_ok(url: str, timeout: float = 3.0) -> bool:
    """True if ``url`` answers 200 within ``timeout`` seconds (a web part's health)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _check_db(name: str, path: Path) -> Finding:
    if not path.exists():
        return Finding(False, f"database {name}: {path} does not exist", "start the part once; it creates its database")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Finding(False, f"database {name}: cannot be read ({exc})", f"check the file's owner and permissions: {path}")
    if result != "ok":
        return Finding(False, f"database {name}: damaged ({result})", "stop the part and restore the database from backup")
    return Finding(True, f"database {name}: ok ({path.stat().st_size // 1024} KB)")


def _check_disk(name: str, cfg: PartConfig) -> Finding:
    """Free space where the part keeps its data. A full disk does not corrupt a database
    (SQLite rolls the write back), but new tickets, complaints and alarms are refused."""
    watch = disk.DiskWatch(cfg.data_dir, min_free_mb=cfg.disk_min_free_mb)
    free = watch.free_bytes()
    if free is None:
        return Finding(False, f"disk {name}: cannot measure free space of {cfg.data_dir}",
                       "check that the folder's disk is mounted")
    free_mb = free / 1048576
    if free_mb < cfg.disk_min_free_mb:
        return Finding(False, f"disk {name}: only {free_mb:.1f} MB free in {cfg.data_dir} "
                              f"(disk_min_free_mb = {cfg.disk_min_free_mb}): the disk is full",
                       "free space on that disk (old logs, backups, downloads), then check the screens clear their banner")
    return Finding(True, f"disk {name}: {free_mb:.0f} MB free in {cfg.data_dir}")


def _load_all(config_dir: Path) -> tuple[dict[str, PartConfig], list[Finding]]:
    parts: dict[str, PartConfig] = {}
    findings: list[Finding] = []
    for path in sorted(config_dir.glob("*.toml")):
        schema: type[PartConfig] | None = None
        if path.stem == "central":
            schema = CentralConfig
        elif path.stem == contract.EDGE_NODE:
            schema = EdgeConfig
        elif path.stem.startswith("kiosk"):
            schema = KioskConfig
        elif path.stem.startswith("display"):
            schema = DisplayConfig
        elif path.stem == "doctor":
            schema = DoctorConfig
        if schema is None:
            continue
        try:
            parts[path.stem] = load(schema, path)
        except ConfigError as exc:
            findings.append(Finding(False, f"configuration {path.name}: {exc}", "fix the key named above"))
    return parts, findings


def _check_bus(doctor: NodeConfig, parts: dict[str, PartConfig]) -> list[Finding]:
    broker = f"{doctor.broker.host}:{doctor.broker.port}"
    if not port_open(doctor.broker.host, doctor.broker.port, timeout=1):
        return [Finding(False, f"broker {broker} does not answer",
                        "start it: `hall up` on a workstation, `systemctl start mosquitto` on the edge Pi")]
    bus = BusClient(hall_id=doctor.hall_id, node_id=doctor.node_id, kind="tool", host=doctor.broker.host,
                    port=doctor.broker.port, password=doctor.broker.password(),
                    session=int(time.time()), ca_file=doctor.broker.ca_file)
    states: dict[str, str] = {}
    devices: dict[str, DeviceState] = {}
    bus.subscribe(contract.DEVICE_STATE.filter(hall=doctor.hall_id, node=contract.EDGE_NODE),
                  lambda m: devices.__setitem__(m.parts["dev"], m.payload))
    bus.subscribe(contract.NODE_STATE.filter(hall=doctor.hall_id),
                  lambda m: states.__setitem__(m.parts["node"], m.payload.state))
    bus.subscribe(contract.ESPHOME_STATUS.filter(hall=doctor.hall_id),
                  lambda m: states.__setitem__(m.parts["node"], "ready" if m.payload else "lost"))
    findings: list[Finding] = []
    bus.start()
    try:
        if not bus.wait_connected(5):
            return [Finding(False, f"broker {broker} refused the doctor's login ({bus.refused})",
                            "regenerate the broker password file: `hall up` does it; on a Pi re-run provisioning")]
        findings.append(Finding(True, f"broker {broker} takes logins (anonymous is off)"))
        try:
            pong = bus.request("ping", {}, timeout=3)
            findings.append(Finding(True, f"edge agent answers on the bus (session {pong.get('session')})"))
            findings.append(_sync_finding(pong.get("sync")))
        except (BusTimeout, HallError) as exc:
            findings.append(Finding(False, f"edge agent does not answer on the bus ({exc})",
                                    "start it: `systemctl start hall-edge`; its log says why it stopped"))
        time.sleep(0.5)  # retained states arrive right after subscribing
        nodes = sorted(cfg.node_id for cfg in parts.values() if isinstance(cfg, NodeConfig) and cfg.node_id != doctor.node_id)
        for node in nodes:
            state = states.get(node, "never connected")
            ok = state == "ready"
            findings.append(Finding(ok, f"node {node}: {state}", "" if ok else f"start {node} and read its log"))
        extra = sorted(set(states) - set(nodes) - {doctor.node_id})
        for node in extra:
            findings.append(Finding(states[node] == "ready", f"node {node}: {states[node]}"))
        findings += _printer_findings(parts, devices)
    finally:
        bus.close()
    return findings


def print_test_ticket(doctor: NodeConfig, *, follow_url: str, hours_line: str) -> tuple[str, str | None]:
    """Ask the edge to print a test ticket, as ``hall up`` does once the hall is up, so a
    newcomer sees the whole path (bus, spool, driver, printer) work. Returns the outcome's
    status and the printer that printed it."""
    from hall_common.print_client import PrintClient

    bus = BusClient(hall_id=doctor.hall_id, node_id=doctor.node_id, kind="tool", host=doctor.broker.host,
                    port=doctor.broker.port, password=doctor.broker.password(),
                    session=int(time.time()), ca_file=doctor.broker.ca_file)
    printing = PrintClient(bus)
    bus.start()
    try:
        if not bus.wait_connected(5):
            return "unknown", None
        outcome = printing.print("queue_ticket", {"number": "A000", "service": "测试 · Test", "waiting_ahead": 0,
                                                  "follow_url": follow_url, "hours_line": hours_line},
                                 test=True, timeout=15)
        return (outcome.status if not outcome.reason else f"{outcome.status} ({outcome.reason})"), outcome.printer
    finally:
        bus.close()


def _printer_findings(parts: dict[str, PartConfig], devices: dict[str, DeviceState]) -> list[Finding]:
    """Each printer as the edge sees it (the edge owns the printer's one connection, so the
    doctor reads the state the edge keeps retained rather than dialling the printer)."""
    printers = [p for cfg in parts.values() if isinstance(cfg, EdgeConfig) for p in cfg.printers]
    if not printers:
        return [Finding(None, "printers: none configured")]
    findings = []
    for p in printers:
        state = devices.get(p.id)
        where = f"printer {p.id} ({p.address})"
        if state is None:
            findings.append(Finding(False, f"{where}: the edge has not reported it", "start the edge agent"))
            continue
        st = state.status
        answered = state.online or st.get("paper") == "out" or st.get("cover_open")
        what = f"{where}: " + ("does not answer" if not answered else
                               f"paper {st.get('paper')}" + (", cover open" if st.get("cover_open") else ""))
        ok = bool(st.get("can_print"))
        fix = "" if ok else (
            "load a new paper roll" if st.get("paper") == "out" else "close the printer's cover" if st.get("cover_open")
            else "check its power and cable; tickets are shown on screen meanwhile")
        findings.append(Finding(ok, what, fix))
    return findings


def _sync_finding(sync: dict | None) -> Finding:
    if sync is None:
        return Finding(None, "sync with the centre: not configured (no centre token)")
    failing = sync["last_error"] and (not sync["last_success"] or sync["last_error_at"] > sync["last_success"])
    waiting = f"{sync['depth']} record(s) waiting"
    if failing:
        return Finding(False, f"sync with the centre failing: {sync['last_error']} ({waiting})",
                       "check the centre URL and the hall's internet link; records wait safely in the outbox")
    when = f", last success {int(time.time() - sync['last_success'])} s ago" if sync["last_success"] else ""
    return Finding(True, f"sync with the centre: {waiting}{when}")


def diagnose(config_dir: Path) -> list[Finding]:
    """Every check, in the order a technician would look."""
    parts, findings = _load_all(config_dir)
    if not parts:
        return [Finding(False, f"no hall configuration in {config_dir}", "run `hall up` once, or pass --config-dir")]
    doctor = parts.get("doctor")
    if isinstance(doctor, NodeConfig):
        findings += _check_bus(doctor, parts)
    else:
        findings.append(Finding(None, "bus: no doctor.toml, so the broker was not checked"))
    for name, cfg in sorted(parts.items()):
        http = getattr(cfg, "http", None)
        if http is not None:
            url = f"http://{http.host}:{http.port}/healthz"
            ok = http_ok(url)
            findings.append(Finding(ok, f"{name} web: {url} {'answers' if ok else 'does not answer'}",
                                    "" if ok else f"start {name} and read its log"))
    for name, cfg in sorted(parts.items()):
        if name != "doctor":
            findings.append(_check_disk(name, cfg))
    for name, cfg in sorted(parts.items()):
        if isinstance(cfg, EdgeConfig):
            findings.append(_check_db("edge.db", cfg.data_dir / "edge.db"))
            if cfg.centre is None:
                findings.append(Finding(None, "centre: none configured (the hall runs on its own)"))
            else:
                ok = http_ok(cfg.centre.url.rstrip("/") + "/healthz")
                findings.append(Finding(ok, f"centre {cfg.centre.url} {'answers' if ok else 'is unreachable'}",
                                        "" if ok else "check the hall's internet link; records wait in the outbox meanwhile"))
        if isinstance(cfg, CentralConfig):
            path = cfg.sqlite_path()
            if path is not None:
                findings.append(_check_db("central.db", path))
    findings.append(Finding(None, "camera: none configured yet"))
    findings.append(_check_calendar(parts))
    return findings


def _check_calendar(parts: dict[str, PartConfig], *, days: int = 60, today: date | None = None) -> Finding:
    """Whether the national holiday calendar knows the coming ``days`` (where a hall's hours
    follow it). Not a fault: the hall goes by weekday meanwhile, but 国庆 would be a working day."""
    if not any(isinstance(cfg, (EdgeConfig, KioskConfig)) for cfg in parts.values()):
        return Finding(None, "holiday calendar: no hall part here")
    start = today or date.today()
    unknown = sorted({d.year for d in (start + timedelta(n) for n in range(days)) if not holidays.day_kind(d).known})
    if unknown:
        return Finding(None, f"holiday calendar: no schedule for {', '.join(map(str, unknown))} yet "
                             "(days are taken by their weekday)",
                       "update the chinesecalendar package once the State Council publishes the year's holidays")
    return Finding(True, f"holiday calendar: known for the next {days} days")


def run(config_dir: Path, out: Callable[[str], None] = print) -> int:
    findings = diagnose(config_dir)
    for f in findings:
        out(f.line())
    bad = sum(f.ok is False for f in findings)
    out(f"\n{bad} problem(s) found." if bad else "\nAll checks passed.")
    return 1 if bad else 0


__all__ = ["Finding", "diagnose", "run"]
