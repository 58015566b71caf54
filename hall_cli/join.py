"""``hall join URL CODE``: make this Pi one of its hall's devices, with a one-time code.

On a Pi that has run ``scripts/setup``, the code from the centre's devices page brings
everything the Pi's role (edge, kiosk or board) needs (``POST /api/v1/enrol``,
:mod:`central_sync.server.enrolment`); this writes it below ``--root`` (default ``/``):

    etc/service-hall/{edge,kiosk,display}.toml     the part's configuration, checked by its schema
    etc/service-hall/secrets/broker-{node}         its broker password (mode 600)
    etc/service-hall/secrets/centre.token          the edge's credential for the centre (mode 600)
    etc/service-hall/secrets/staff                 the edge's first staff console password (mode 600)
    etc/service-hall/doctor.toml, secrets/broker-doctor   hall doctor's login on the edge's broker
    etc/service-hall/centre-signing.pub            the centre's config signing key
    etc/mosquitto/hall/passwd, passwd.local        the edge's broker logins (from the centre's roster)
    var/lib/mosquitto/hall/mosquitto.conf          the edge's broker configuration
    etc/systemd/system/...                         the units of the role

and enables and starts the units where systemd runs (``--root /``); elsewhere it says what
to run. A refused code writes nothing.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import tomli_w

from central_sync.protocol import Enrolment
from hall_common import passwd
from hall_common.config import load
from hall_common.errors import ConfigError, HallError
from hall_common.private_files import read_or_create_secret, write_private

from .broker import FIRMWARE_CONFIGS, render_config

PROJECT = Path(__file__).resolve().parent.parent
PI_PROJECT = "/opt/service-hall"
UNITS = FIRMWARE_CONFIGS / "systemd"
FILES = {"edge": "edge.toml", "kiosk": "kiosk.toml", "board": "display.toml"}
ROLE_UNITS: dict[str, list[str]] = {
    "edge": ["hall-edge.service", "mosquitto-hall-passwd.path", "mosquitto-hall-reload.service",
             "mosquitto.service.d/hall-broker.conf"],
    "kiosk": ["hall-kiosk.service", "hall-kiosk-browser.service"],
    "board": ["hall-display.service", "hall-display-browser.service"],
}
STARTED = {"edge": ["mosquitto.service", "mosquitto-hall-passwd.path", "hall-edge.service"],
           "kiosk": ["hall-kiosk.service", "hall-kiosk-browser.service"],
           "board": ["hall-display.service", "hall-display-browser.service"]}


class JoinError(HallError):
    """The centre refused, or could not be reached; nothing was written."""


def fetch(url: str, code: str, *, timeout: float = 30.0) -> Enrolment:
    """Send the code to the centre; :class:`JoinError` with its (bilingual) reason if refused."""
    request = urllib.request.Request(url.rstrip("/") + "/api/v1/enrol", data=json.dumps({"code": code}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return Enrolment.model_validate_json(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", "")
        except ValueError:
            detail = ""
        raise JoinError(f"the centre refused the code ({exc.code}): {detail or exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise JoinError(f"cannot reach the centre at {url}: {getattr(exc, 'reason', exc)}") from None


def localise(enrolment: Enrolment, *, centre_url: str, edge_host: str | None) -> dict[str, Any]:
    """The configuration with what only this side knows: the centre's address as typed, and
    the edge's address on the hall network if it is not the default name."""
    config = json.loads(json.dumps(enrolment.config))
    if "centre" in config:
        config["centre"]["url"] = centre_url.rstrip("/")
    if edge_host and enrolment.role != "edge":
        config["broker"]["host"] = edge_host
    if edge_host:
        for table in (config, config.get("complaints", {})):
            if table.get("follow_url"):
                table["follow_url"] = f"http://{edge_host}:{table['follow_url'].rsplit(':', 1)[1]}"
    return config


def write(enrolment: Enrolment, root: Path, *, centre_url: str, edge_host: str | None = None) -> list[Path]:
    """Write the Pi's files below ``root``; the paths written, secrets among them at mode 600."""
    etc = root / "etc/service-hall"
    secrets_dir = etc / "secrets"
    config = localise(enrolment, centre_url=centre_url, edge_host=edge_host)
    written: list[Path] = []

    def secret(path: Path, value: str) -> None:
        write_private(path, value.encode())
        written.append(path)

    secret(secrets_dir / f"broker-{enrolment.node_id}", enrolment.broker_password)
    if enrolment.role == "edge":
        if enrolment.centre_token:
            secret(secrets_dir / "centre.token", enrolment.centre_token)
        read_or_create_secret(secrets_dir / "staff", 9)  # kept if the Pi joins again
        written.append(secrets_dir / "staff")
        written += _doctor(enrolment, etc)
        written += _broker_files(enrolment, root)
    (etc / "centre-signing.pub").write_text(enrolment.config_public_key + "\n", encoding="utf-8")
    path = etc / FILES[enrolment.role]
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    written += [etc / "centre-signing.pub", path]
    from central_sync.server.node_config import SCHEMAS

    load(SCHEMAS[enrolment.role], path)  # ConfigError names the key, as the part would at start
    return written


def _doctor(enrolment: Enrolment, etc: Path) -> list[Path]:
    """``hall doctor``'s own login on the edge Pi (doctor.toml, its password, its line in
    passwd.local), so ``hall doctor --config-dir /etc/service-hall`` checks the hall at once."""
    from hall_common.config import DoctorConfig

    password = read_or_create_secret(etc / "secrets/broker-doctor")
    doc = {"hall_id": enrolment.hall_id, "hall_name": enrolment.hall_name, "node_id": "doctor",
           "data_dir": "../../var/lib/service-hall/doctor",
           "broker": {"host": "127.0.0.1", "port": 1883, "password_file": "secrets/broker-doctor"}}
    (etc / "doctor.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
    load(DoctorConfig, etc / "doctor.toml")
    local = etc.parent / "mosquitto/hall/passwd.local"
    users = passwd.parse(local.read_text(encoding="utf-8")) if local.exists() else {}
    if not passwd.verify(password, users.get("doctor", "")):
        users["doctor"] = passwd.hash_password(password)
        write_private(local, (LOCAL_HEADER + passwd.render(users)).encode())
    return [etc / "secrets/broker-doctor", etc / "doctor.toml"]


LOCAL_HEADER = "# logins beside the centre's roster (hall doctor, Home Assistant, ESPHome nodes)\n"


def _broker_files(enrolment: Enrolment, root: Path) -> list[Path]:
    """The edge's broker: its password file from the roster (so it admits the hall's nodes at
    once), an empty passwd.local for the hall's own tools, and mosquitto.conf."""
    hall_dir = root / "etc/mosquitto/hall"
    password_file, local = hall_dir / "passwd", hall_dir / "passwd.local"
    if not local.exists():
        write_private(local, LOCAL_HEADER.encode())
    users = {**passwd.parse(local.read_text(encoding="utf-8")), **{r.user: r.hash for r in enrolment.roster}}
    write_private(password_file, passwd.render(users).encode())
    conf = render_config(root / "var/lib/mosquitto/hall", port=1883, bind="0.0.0.0", password_file=password_file,
                         user="mosquitto")
    return [password_file, local, conf]


def install_units(role: str, root: Path) -> list[Path]:
    """The role's systemd units below ``root``, pointing at this checkout of the project."""
    target = root / "etc/systemd/system"
    out = []
    for name in [*ROLE_UNITS[role], "journald.conf.d/service-hall.conf"]:
        dest = (root / "etc/systemd" / name) if name.startswith("journald") else target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text((UNITS / name).read_text(encoding="utf-8").replace(PI_PROJECT, str(PROJECT)), encoding="utf-8")
        out.append(dest)
    return out


def systemd_running(root: Path) -> bool:
    return root.resolve() == Path("/") and Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _own(enrolment: Enrolment, root: Path, written: list[Path]) -> None:
    """As root on the Pi: the secrets belong to user ``hall`` (the parts run as it), the
    broker's files to hall with group mosquitto (the edge rewrites them, mosquitto reads)."""
    if root.resolve() != Path("/") or os.geteuid() != 0:
        return
    try:
        pwd.getpwnam("hall")
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/var/lib/service-hall", "--shell",
                        "/usr/sbin/nologin", "hall"], check=True)
    for path in written:
        if "secrets" in path.parts:
            shutil.chown(path, "hall", "hall")
    if enrolment.role == "edge":
        hall_dir = root / "etc/mosquitto/hall"
        shutil.chown(hall_dir, "hall", "mosquitto")
        hall_dir.chmod(0o2750)  # files the edge writes here keep group mosquitto
        for name in ("passwd", "passwd.local"):
            shutil.chown(hall_dir / name, "hall", "mosquitto")
            (hall_dir / name).chmod(0o640)
        shutil.chown(root / "var/lib/mosquitto/hall/persistence", "mosquitto", "mosquitto")


def add_parser(sub: Any) -> None:
    """``hall join`` on the ``hall`` command line (hall_cli/main.py)."""
    jn = sub.add_parser("join", help="make this Pi a device of its hall with a join code from the centre's devices page")
    jn.add_argument("url", help="the centre's address, e.g. https://centre.example.com")
    jn.add_argument("code", help="the one-time join code, e.g. ABCD-EFGH-JKLM")
    jn.add_argument("--root", type=Path, default=Path("/"), help="write below this folder instead of / (no systemd then)")
    jn.add_argument("--edge-host", help="the edge Pi's address on the hall network (default hall-edge.local)")
    jn.set_defaults(func=lambda args: run(args.url, args.code, args.root, edge_host=args.edge_host))


def run(url: str, code: str, root: Path, *, edge_host: str | None = None) -> int:
    """The command: fetch, write, install, start; says what it did."""
    try:
        enrolment = fetch(url, code)
        written = write(enrolment, root, centre_url=url, edge_host=edge_host)
    except (JoinError, ConfigError) as exc:
        print(f"hall join: {exc}")
        return 1 if isinstance(exc, JoinError) else 2
    except PermissionError as exc:
        print(f"hall join: cannot write {exc.filename}: run it with sudo (the code is used: make a new one in the "
              f"devices page)")
        return 1
    _own(enrolment, root, written)
    units = install_units(enrolment.role, root)
    print(f"hall join: this Pi is {enrolment.node_id} ({enrolment.role}) of {enrolment.hall_name} ({enrolment.hall_id}).")
    for path in [*written, *units]:
        print(f"  wrote {path}" + ("  (mode 600)" if path.stat().st_mode & 0o077 == 0 else ""))
    start = STARTED[enrolment.role]
    if systemd_running(root):
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "enable", "--now", *start], check=True)
        if enrolment.role == "edge":
            subprocess.run(["systemctl", "restart", "mosquitto.service"], check=True)
        print(f"  enabled and started {' '.join(start)}")
    else:
        print(f"  no systemd here (root {root}): the units are written, nothing was started. On the Pi run:\n"
              f"    sudo systemctl daemon-reload && sudo systemctl enable --now {' '.join(start)}")
    if enrolment.role == "edge":
        print(f"  staff console login: staff, password in {root / 'etc/service-hall/secrets/staff'}")
    return 0
