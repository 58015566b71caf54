"""The kiosk on the Pi's architecture: an arm64 Debian 12 root under qemu-user-static,
``scripts/setup`` run inside it, the kiosk started there and its home page fetched
(tests/arm64root.py, docs/arm64.md).

The first run on a machine builds the root (debootstrap, then ``scripts/setup``) and keeps it
in the user's cache; later runs copy this tree in and run ``scripts/setup`` again. The test
says how long each step took and which wheels pip had to build from source on arm64 (a wheel
it must compile means a compiler and headers on every Pi: the goal is none). Skipped, with
the reason, where the machine cannot run arm64 binaries."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tomli_w

from hall_cli.broker import free_port

from . import arm64root
from .conftest import RunningBroker

HALL_NAME = "幸福里物业客户服务中心"
# Under emulation on a busy 2-core machine, Python imports are tens of times slower than on a
# Pi: this bounds a hang, not a slow start.
START_TIMEOUT = 600


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read().decode()


def wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the arm64 kiosk stopped (exit {proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if get(url)[0] == 200:
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(1)
    raise AssertionError(f"the arm64 kiosk was not healthy within {START_TIMEOUT} s:\n{log.read_text()[-4000:]}")


@pytest.mark.slow
def test_kiosk_home_page_on_arm64(request: pytest.FixtureRequest, tmp_path: Path, record_property) -> None:
    try:
        arm64root.check_host()
    except arm64root.Unavailable as exc:
        pytest.skip(f"arm64 run: {exc}")
    broker: RunningBroker = request.getfixturevalue("broker")  # after the check: a skip needs no broker
    t0 = time.monotonic()
    built = arm64root.prepare(tmp_path / "arm64-setup.log")

    run_dir = built.root / "run" / "arm64-kiosk"
    arm64root._fresh(run_dir).mkdir(parents=True)
    (run_dir / "broker.pw").write_text(broker.passwords["kiosk-01"])
    port = free_port()
    (run_dir / "kiosk.toml").write_text(tomli_w.dumps({
        "hall_id": broker.hall, "hall_name": HALL_NAME, "node_id": "kiosk-01", "data_dir": "data",
        "broker": {"host": broker.host, "port": broker.port, "password_file": "broker.pw"},
        "http": {"host": "127.0.0.1", "port": port},
        "settings": {"info": {"service_phone": "028-12345678", "complaint_phone": "028-87654321"}},
    }), encoding="utf-8")
    log = tmp_path / "arm64-kiosk.log"
    started = time.monotonic()
    with log.open("w") as out:
        # The root shares the host's network: its 127.0.0.1 is ours, the broker is the test's.
        proc = subprocess.Popen(arm64root.in_root(built.root, [
            f"{arm64root.PROJECT_DIR}/.venv/bin/python", "-m", "kiosk", "--config", "/run/arm64-kiosk/kiosk.toml"]),
            stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, log)
        built.timings["kiosk start to healthy (qemu)"] = (time.monotonic() - started, None)
        status, html = get(f"http://127.0.0.1:{port}/")
    finally:
        # unshare ignores SIGTERM, and the kiosk is PID 1 of its namespace: SIGKILL to unshare
        # (--kill-child) ends the kiosk, and with it the namespace and its mounts.
        proc.kill()
        proc.wait(60)
        arm64root._fresh(run_dir)
    built.timings["whole test"] = (time.monotonic() - t0, None)

    report = [f"arm64 run ({'cached root' if built.cached else 'root built now'}, {built.root}):"]
    report += [f"  {step}: {wall:.0f} s" + (f" ({cpu:.0f} s CPU)" if cpu is not None else "")
               for step, (wall, cpu) in built.timings.items()]
    report.append("  wheels built from source: " + (", ".join(built.built_from_source) or "none"))
    print("\n".join(report))
    record_property("arm64", "\n".join(report))

    assert status == 200
    assert HALL_NAME in html
    assert "请点击您需要的服务" in html  # the compiled zh translation: setup's pybabel step ran in the root
