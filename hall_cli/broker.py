"""The hall's mosquitto: its configuration, password file and process.

``hall up``, ``hall doctor`` and the test fixtures all start the broker through
:class:`Broker`, with the project's own ``firmware_configs/mosquitto`` files, so what the
tests prove about passwords and the ACL is what a hall runs.
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

from hall_common.errors import HallError
from hall_common.private_files import write_private

log = logging.getLogger(__name__)

FIRMWARE_CONFIGS = Path(__file__).resolve().parent.parent / "firmware_configs"
CONF_TEMPLATE = FIRMWARE_CONFIGS / "mosquitto" / "mosquitto.conf.in"
ACL_FILE = FIRMWARE_CONFIGS / "mosquitto" / "acl"
CENTRAL_ACL_FILE = FIRMWARE_CONFIGS / "mosquitto" / "central-acl"
BRIDGE_TEMPLATE = FIRMWARE_CONFIGS / "mosquitto" / "bridge.conf.in"
TLS_TEMPLATE = FIRMWARE_CONFIGS / "mosquitto" / "tls-listener.conf.in"
TLS_PORT = 8883


class BrokerError(HallError, RuntimeError):
    """mosquitto could not be set up or started; the message says what to install or fix."""


def find_program(name: str) -> str:
    """The path of a mosquitto tool; Debian puts the broker in /usr/sbin, off a user's PATH."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise BrokerError(f"{name} is not installed: run scripts/setup (Debian package mosquitto)")
    return found


def write_password_file(path: Path, users: dict[str, str]) -> None:
    """Write a mosquitto password file with hashed passwords (mode 600).

    The plain ``user:password`` lines are written privately and hashed in place by
    ``mosquitto_passwd -U``, so no password ever appears on a command line.
    """
    lines = "".join(f"{user}:{password}\n" for user, password in sorted(users.items()))
    write_private(path, lines.encode())
    result = subprocess.run(
        [find_program("mosquitto_passwd"), "-U", str(path)], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        path.unlink(missing_ok=True)
        raise BrokerError(f"mosquitto_passwd failed: {result.stderr.strip() or result.stdout.strip()}")


@dataclass(frozen=True)
class TlsListener:
    """The broker's TLS listener for the hall network: its certificate and key, and the CA
    that signed them (the file every node gets as ``[broker] ca_file``). Nodes still log in
    with passwords (``require_certificate false``); TLS 1.2 at least."""

    cafile: Path
    certfile: Path
    keyfile: Path
    port: int = TLS_PORT
    bind: str = "0.0.0.0"

    def missing(self) -> list[str]:
        """The files named here that are not there (checked before mosquitto is told)."""
        return [f"{name} {path}" for name, path in (("cafile", self.cafile), ("certfile", self.certfile),
                                                    ("keyfile", self.keyfile)) if not path.is_file()]

    def render(self) -> str:
        return Template(TLS_TEMPLATE.read_text(encoding="utf-8")).substitute(
            port=self.port, bind=self.bind, cafile=self.cafile.resolve(), certfile=self.certfile.resolve(),
            keyfile=self.keyfile.resolve())


def render_config(
    broker_dir: Path,
    *,
    port: int,
    bind: str = "127.0.0.1",
    password_file: Path | None = None,
    acl_file: Path = ACL_FILE,
    user: str | None = None,
    log_file: Path | None = None,
    extra: str = "",
    tls: TlsListener | None = None,
) -> Path:
    """Write ``mosquitto.conf`` for a broker whose state lives in ``broker_dir``; ``extra``
    is appended (``include_dir`` of a bridge, see :func:`render_bridge`). With ``tls`` the
    broker also listens with TLS (production; ``hall up`` stays plain on loopback)."""
    broker_dir.mkdir(parents=True, exist_ok=True)
    persistence = broker_dir / "persistence"
    persistence.mkdir(exist_ok=True)
    text = Template(CONF_TEMPLATE.read_text(encoding="utf-8")).substitute(
        password_file=password_file or broker_dir / "passwd",
        acl_file=acl_file,
        port=port,
        bind=bind,
        persistence_dir=persistence,
        log_dest=f"file {log_file}" if log_file else "stderr",
        user=user or getpass.getuser(),
        extra=extra,
        tls_listener=tls.render() if tls is not None else "",
    )
    conf = broker_dir / "mosquitto.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


def render_bridge(conf_dir: Path, *, hall: str, address: str, password: str) -> Path:
    """Write the bridge to the central broker into ``conf_dir`` (mode 600: it holds the
    hall's password there); pass ``extra=f"include_dir {conf_dir}"`` to :func:`render_config`."""
    text = Template(BRIDGE_TEMPLATE.read_text(encoding="utf-8")).substitute(hall=hall, address=address, password=password)
    path = conf_dir / "bridge.conf"
    write_private(path, text.encode())
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Broker:
    """A mosquitto process run with a rendered configuration.

    Example::

        broker = Broker(conf, host="127.0.0.1", port=18830)
        broker.start()
        ...
        broker.stop()
    """

    def __init__(self, conf: Path, *, host: str, port: int, log_path: Path | None = None) -> None:
        self.conf, self.host, self.port = conf, host, port
        self.log_path = log_path or conf.parent / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        if port_open(self.host, self.port):
            raise BrokerError(f"port {self.port} is already in use; choose another base port")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [find_program("mosquitto"), "-c", str(self.conf)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-600:]
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}: {tail}")
            if port_open(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout:g} s")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop cleanly (SIGTERM: mosquitto saves its persistence file), SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """Die at once, as on a power cut (tests use this)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
