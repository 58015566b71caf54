"""An arm64 Debian 12 root under qemu-user-static, for the slow set's arm64 run (docs/arm64.md).

Nothing in the project has run on the Pi's architecture until this: the root is built from
Debian's own arm64 packages with ``debootstrap``, ``scripts/setup`` runs inside it exactly as
on a Pi, and its pip log says which wheels had to be built from source. The kernel runs the
root's binaries through qemu's user-mode emulator, registered with binfmt_misc.

Building costs minutes, so the result is kept in the user's cache directory
(``$XDG_CACHE_HOME/service-hall/arm64``, else ``~/.cache/...``), outside the repository:

- ``base-<key>/``: the debootstrapped root, keyed by :data:`BASE_RECIPE`;
- ``root-<key>/``: a copy of it where ``scripts/setup`` has run, keyed by the base and the
  contents of ``scripts/setup`` and ``pyproject.toml`` (what decides what gets installed);
  ``root-<key>.json`` beside it keeps how long each step took and the pip log's findings.

A root is built under a ``.partial`` name and renamed when complete, so an interrupted build
is started again rather than used. Every command runs in a mount namespace of its own
(``unshare``): /proc, /sys, /dev and /tmp are mounted for it and vanish with it, so nothing
stays mounted on the host, whatever happens to the test.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import resource
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
QEMU = "/usr/bin/qemu-aarch64-static"
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
BINFMT_CONF = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")  # shipped by qemu-user-static
PROJECT_DIR = "/opt/service-hall"  # where docs/install-pi.md puts the code on a Pi
PIP_LOG = "/var/log/pip-setup.log"
# ESPHome (firmware configuration checks, for the tests) runs on no Pi, and installing it
# under emulation alone takes longer than the rest of scripts/setup.
SETUP = ["sh", "-c", f"cd {PROJECT_DIR} && scripts/setup --no-esphome"]

BASE_RECIPE = {
    "suite": SUITE,
    "mirror": MIRROR,
    "variant": "minbase",
    # A chroot has no init: maintainer scripts must not start services (postgresql,
    # mosquitto); dpkg need not fsync each file of a throw-away root; no manuals.
    "policy-rc.d": "#!/bin/sh\nexit 101\n",
    "dpkg.cfg": "force-unsafe-io\npath-exclude=/usr/share/doc/*\npath-exclude=/usr/share/man/*\n"
                "path-exclude=/usr/share/info/*\n",
    "apt.conf": 'Acquire::Languages "none";\n',
    "sources": [f"{SUITE} main", f"{SUITE}-updates main"],
    "security": f"{SUITE}-security main",
}
"""Everything that shapes the base root: a change here builds a new one."""

# Generous bounds for a machine that is busy with other work; they catch a hung step, not a slow one.
DEBOOTSTRAP_TIMEOUT = 30 * 60
SETUP_TIMEOUT = 60 * 60

HOST_CA = "/etc/ssl/host-ca-certificates.crt"
ENV = ("HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
       "DEBIAN_FRONTEND=noninteractive", f"PIP_LOG={PIP_LOG}")
"""The whole environment of a command in the root: nothing of the host's leaks in."""

# Each command: a private mount namespace and PID namespace (killing the command kills all it
# started), the root's /proc, /sys, /dev and a tmpfs /tmp, then chroot with a clean environment.
_ENTER = """
set -e
root=$1; shift
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/tmp"
exec chroot "$root" /usr/bin/env -i "$@"
"""


class Unavailable(RuntimeError):
    """This machine cannot run arm64 binaries; the message says why and what would fix it."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "service-hall" / "arm64"


def check_host() -> None:
    """Make sure the kernel runs arm64 binaries through qemu, registering qemu-aarch64 with
    binfmt_misc if it is not yet (systemd does that at boot on Debian; a container without
    systemd has not). Raises :class:`Unavailable` with the reason when it cannot."""
    if os.uname().sysname != "Linux":
        raise Unavailable("the arm64 run needs Linux (binfmt_misc, namespaces, chroot)")
    if os.geteuid() != 0:
        raise Unavailable("the arm64 run needs root (debootstrap, chroot, mounts): run the tests as root")
    for tool, package in (("debootstrap", "debootstrap"), ("unshare", "util-linux"), (QEMU, "qemu-user-static")):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} is not installed: scripts/setup installs Debian package {package}")
    entry = BINFMT_DIR / "qemu-aarch64"
    if not entry.exists():
        if not (BINFMT_DIR / "register").exists():
            done = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise Unavailable(f"binfmt_misc cannot be mounted on {BINFMT_DIR}: {done.stderr.strip()}")
        try:
            line = next(x for x in BINFMT_CONF.read_text().splitlines() if x.startswith(":qemu-aarch64:"))
            (BINFMT_DIR / "register").write_text(line)
        except (OSError, StopIteration) as exc:
            raise Unavailable(f"qemu-aarch64 cannot be registered with binfmt_misc ({BINFMT_CONF}): {exc}") from None
    if entry.read_text().split("\n", 1)[0] != "enabled":
        raise Unavailable(f"qemu-aarch64 is registered but disabled in {entry}")
    flags = next((x for x in entry.read_text().splitlines() if x.startswith("flags:")), "")
    if "F" not in flags:
        # Without F the kernel looks for the interpreter inside the chroot, where it is not.
        raise Unavailable(f"qemu-aarch64 is registered without the F flag ({flags!r}): "
                          "re-register it from " + str(BINFMT_CONF))


def _key(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def base_key() -> str:
    return _key(json.dumps(BASE_RECIPE, sort_keys=True))


def root_key() -> str:
    return _key(base_key(), (REPO / "scripts" / "setup").read_bytes(), (REPO / "pyproject.toml").read_bytes())


def in_root(root: Path, argv: list[str], *, env: tuple[str, ...] = ()) -> list[str]:
    """The command line that runs ``argv`` inside ``root`` (see :data:`_ENTER`)."""
    return ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
            "sh", "-c", _ENTER, "sh", str(root), *ENV, *_host_env(), *env, *argv]


def host_files(root: Path) -> None:
    """What the root needs of the host to reach the network it shares: its name service
    files (the snake-oil certificate ssl-cert makes for postgresql also names the host) and
    the certificate authorities it trusts, as :data:`HOST_CA` (a network whose TLS goes
    through an inspecting proxy has its authority there, not in Debian's list)."""
    for name in ("etc/resolv.conf", "etc/hosts"):
        target = root / name
        if target.is_symlink() or target.exists():
            target.unlink()
        shutil.copyfile(Path("/") / name, target)
    cafile = _host_cafile()
    if cafile is not None:
        (root / HOST_CA.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cafile, root / HOST_CA.lstrip("/"))


def _host_cafile() -> Path | None:
    paths = ssl.get_default_verify_paths()
    cafile = paths.cafile or paths.openssl_cafile
    return Path(cafile) if cafile and Path(cafile).is_file() else None


def _host_env() -> tuple[str, ...]:
    """The host's proxy settings and trusted authorities: the root's apt and pip go out the
    same way as the host's."""
    names = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    env = tuple(f"{n}={os.environ[n]}" for n in names if n in os.environ)
    if _host_cafile() is not None:
        env += (f"SSL_CERT_FILE={HOST_CA}", f"PIP_CERT={HOST_CA}")
    return env


def run_in_root(root: Path, argv: list[str], *, timeout: float, log: Path) -> None:
    """Run ``argv`` in ``root``, its output appended to ``log``; a failure quotes the log's end."""
    host_files(root)
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(in_root(root, argv), stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise RuntimeError(f"{' '.join(argv)} failed in the arm64 root (exit {done.returncode}):\n{tail}")


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One build at a time per cache (two CI runs on one machine wait for each other)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def _remove_others(directory: Path, prefix: str, keep: str) -> None:
    """Older roots of a kind: each is a gigabyte or two, and nothing uses them any more."""
    for old in directory.glob(prefix + "-*"):
        if old.name not in (keep, keep + ".json"):
            shutil.rmtree(old) if old.is_dir() else old.unlink()


Timings = dict[str, tuple[float, float | None]]
"""Each step's wall-clock and CPU seconds (its processes', user and system; None where not
measured): on a machine busy with other work the first grows, the second says what the step
costs."""


@contextmanager
def _step(timings: Timings, name: str) -> Iterator[None]:
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    yield
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    timings[name] = (time.monotonic() - t, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime)


def build_base(directory: Path, log: Path, timings: Timings) -> Path:
    """The debootstrapped root, from the cache when there."""
    base = directory / f"base-{base_key()}"
    if base.exists():
        return base
    partial = _fresh(directory / (base.name + ".partial"))
    with _step(timings, "debootstrap, first stage (host)"), log.open("a", encoding="utf-8") as out:
        # First stage on the host: download and unpack; the second runs the packages'
        # scripts, so it runs inside, under qemu.
        subprocess.run(["debootstrap", "--arch=arm64", f"--variant={BASE_RECIPE['variant']}", "--foreign",
                        SUITE, str(partial), MIRROR], stdout=out, stderr=subprocess.STDOUT,
                       timeout=DEBOOTSTRAP_TIMEOUT, check=True)
    with _step(timings, "debootstrap, second stage (qemu)"):
        run_in_root(partial, ["/debootstrap/debootstrap", "--second-stage"], timeout=DEBOOTSTRAP_TIMEOUT, log=log)
    policy = partial / "usr/sbin/policy-rc.d"
    policy.write_text(BASE_RECIPE["policy-rc.d"])
    policy.chmod(0o755)
    (partial / "etc/dpkg/dpkg.cfg.d/arm64-run").write_text(BASE_RECIPE["dpkg.cfg"])
    (partial / "etc/apt/apt.conf.d/90arm64-run").write_text(BASE_RECIPE["apt.conf"])
    sources = [f"deb {MIRROR} {s}" for s in BASE_RECIPE["sources"]]
    sources.append(f"deb {MIRROR}-security {BASE_RECIPE['security']}")
    (partial / "etc/apt/sources.list").write_text("\n".join(sources) + "\n")
    partial.rename(base)
    _remove_others(directory, "base", base.name)
    return base


def project_files() -> list[str]:
    """The working tree's files as a clone has them, plus new ones not yet added: what git
    does not ignore. What ``scripts/setup`` builds (the .mo files, the pinyin index) is
    ignored, so the root builds its own, as a Pi does."""
    done = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          capture_output=True, check=True)
    return [name for name in done.stdout.decode().split("\0") if name and (REPO / name).exists()]


def sync_sources(root: Path) -> None:
    """The project's files (:func:`project_files`) into the root's ``/opt/service-hall``,
    replacing the previous ones; the virtual environments ``scripts/setup`` made there stay."""
    dest = root / PROJECT_DIR.lstrip("/")
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        if old.name not in (".venv", ".venv-esphome"):
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    for name in project_files():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name, follow_symlinks=False)


@dataclass
class Built:
    """A root where ``scripts/setup`` has run, and what it took."""

    root: Path
    cached: bool
    timings: Timings = field(default_factory=dict)
    built_from_source: list[str] = field(default_factory=list)
    """``name: wheel file`` for each wheel pip built while setting the root up (its log's
    "Created wheel for ..." lines): ``-none-any`` is pure Python, anything else was compiled."""


def wheels_built(pip_log: str) -> list[str]:
    found = re.findall(r"Created (?:wheel|editable) for (\S+): filename=(\S+)", pip_log)
    return sorted({f"{name}: {wheel}" for name, wheel in found})


def prepare(log: Path) -> Built:
    """The arm64 root with ``scripts/setup`` done, built now or taken from the cache; then
    this working tree's files copied in and ``scripts/setup`` run again (quick when nothing
    changed: it installs only what is missing), as a Pi does after ``git pull``."""
    check_host()
    directory = cache_dir()
    with _locked(directory):
        root = directory / f"root-{root_key()}"
        record = directory / f"root-{root_key()}.json"
        cached = root.exists() and record.exists()
        timings: Timings = {}
        if not cached:
            base = build_base(directory, log, timings)
            _fresh(root)
            partial = _fresh(directory / (root.name + ".partial"))
            with _step(timings, "copy of the base root"):
                subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(partial)], check=True)
            sync_sources(partial)
            with _step(timings, "scripts/setup --no-esphome, first run (qemu)"):
                run_in_root(partial, SETUP, timeout=SETUP_TIMEOUT, log=log)
            pip_log = (partial / PIP_LOG.lstrip("/")).read_text(encoding="utf-8", errors="replace")
            record.write_text(json.dumps({"timings": timings, "built_from_source": wheels_built(pip_log)},
                                         ensure_ascii=False, indent=1))
            partial.rename(root)
            _remove_others(directory, "root", root.name)
        first = json.loads(record.read_text())
        sync_sources(root)
        with _step(timings, "scripts/setup --no-esphome again, this tree (qemu)"):
            run_in_root(root, SETUP, timeout=SETUP_TIMEOUT, log=log)
    return Built(root, cached, timings, first["built_from_source"])
