"""``hall up`` end to end: a subprocess on free ports in a temporary directory, every URL
and the broker checked, pages looked at in Chromium, a killed part restarted, a clean stop
that leaves no process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hall_cli.broker import port_open
from hall_common.bus import contract
from hall_common.bus.client import BusClient

from .conftest import wait_for
from .hallup import alive as _alive, answers as _answers, start_hall

SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hall") / "data"
    h = start_hall(data_dir)
    yield h
    if h.proc.poll() is None:
        h.proc.send_signal(signal.SIGINT)
        h.proc.wait(30)


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read().decode()


def test_banner_lists_every_part_and_the_logins(hall):
    names = set(hall.urls)
    assert {"admin console", "staff console", "kiosk kiosk-01", "board display-01", "broker", "printer printer-1"} <= names
    assert set(hall.logins) == {"admin console", "staff console"}


def test_hall_up_prints_a_test_ticket_and_says_where_its_picture_is(hall):
    from PIL import Image
    from pyzbar.pyzbar import decode as zbar

    line = next(x for x in hall.banner.splitlines() if x.strip().startswith("test ticket"))
    assert "printed on printer-1: " in line
    png = Path(line.split("printed on printer-1: ", 1)[1].strip())
    assert png.exists()
    assert hall.urls["kiosk kiosk-01"].encode() in [s.data for s in zbar(Image.open(png))]


def test_paper_out_on_one_printer_sends_tickets_to_the_other(hall):
    from hall_cli.doctor import print_test_ticket
    from hall_common.config import DoctorConfig, load

    line = next(x for x in hall.banner.splitlines() if x.strip().startswith("printer printer-1"))
    control = re.search(r"curl -d paper=out (http://\S+)", line).group(1)
    doctor = load(DoctorConfig, hall.data_dir / "config" / "doctor.toml")

    def printer_1() -> str:
        out = subprocess.run([sys.executable, "-m", "hall_cli", "doctor", "--data-dir", str(hall.data_dir)],
                             capture_output=True, text=True, timeout=60).stdout
        return next(x for x in out.splitlines() if "printer printer-1" in x)

    urllib.request.urlopen(control, data=b"paper=out", timeout=5).read()
    try:
        wait_for(lambda: "paper out" in printer_1(), timeout=20, interval=1)
        status, printer = print_test_ticket(doctor, follow_url="http://x/q", hours_line="")
        assert (status, printer) == ("printed", "printer-2")
        assert sorted((hall.data_dir / "printer" / "printer-2").glob("job-*.png"))
    finally:
        urllib.request.urlopen(control, data=b"paper=ok", timeout=5).read()
        wait_for(lambda: "paper ok" in printer_1(), timeout=20, interval=1)


def test_every_url_answers(hall):
    for name, url in hall.urls.items():
        if url.startswith("tcp://"):
            from hall_common.escpos_status import decode, query

            host, port = re.match(r"tcp://([\d.]+):(\d+)", url).groups()
            with socket.create_connection((host, int(port)), timeout=2) as s:
                answers = {}
                for n in (1, 2, 3, 4):
                    s.sendall(query(n))
                    answers[n] = s.recv(1)[0]
            assert decode(answers).can_print, name
            continue
        if url.startswith("mqtt://"):
            host, port = url.removeprefix("mqtt://").split(":")
            assert port_open(host, int(port)), name
            continue
        status, body = get(url)
        assert status == 200, name
        assert "<html" in body, name


def test_every_node_is_ready_on_the_broker(hall):
    password = (hall.data_dir / "secrets" / "broker" / "doctor").read_text().strip()
    bus = BusClient(hall_id="demo", node_id="doctor", kind="tool", host="127.0.0.1", port=hall.base,
                    password=password, session=int(time.time()))
    states: dict[str, str] = {}
    bus.subscribe(contract.NODE_STATE.filter(hall="demo"), lambda m: states.__setitem__(m.parts["node"], m.payload.state))
    bus.subscribe(contract.ESPHOME_STATUS.filter(hall="demo"), lambda m: states.__setitem__(m.parts["node"], "online" if m.payload else "offline"))
    bus.start()
    try:
        assert bus.wait_connected(10)
        wait_for(lambda: {"edge", "kiosk-01", "display-01", "env-01"} <= set(states))
        assert states["edge"] == states["kiosk-01"] == states["display-01"] == "ready"
        assert states["env-01"] == "online"
        assert bus.request("ping", {})["hall"] == "demo"
    finally:
        bus.close()


def test_kiosk_knows_the_edge_centre_and_printer_are_up(hall):
    url = hall.urls["kiosk kiosk-01"].rstrip("/") + "/healthz"
    health = wait_for(lambda: (h := json.loads(get(url)[1]))["edge_up"] and h["centre_up"] and h["printer_ok"] and h)
    assert health["open"] in (True, False) and health["screen"] in ("on", "off")


def test_doctor_passes_on_a_running_hall(hall):
    result = subprocess.run([sys.executable, "-m", "hall_cli", "doctor", "--data-dir", str(hall.data_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed" in result.stdout
    assert "edge agent answers on the bus" in result.stdout
    assert "node env-01: ready" in result.stdout
    assert "printer printer-1 (127.0.0.1:" in result.stdout and "paper ok" in result.stdout


def test_pages_in_chromium(hall, browser):
    """Screenshots of every page of the running hall, for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    page.goto(hall.urls["kiosk kiosk-01"])
    assert "请点击您需要的服务" in page.inner_text("body")
    assert "大厅系统暂时无法连接" not in page.inner_text("body")
    page.screenshot(path=SCREENSHOTS / "foundation-kiosk-home.png")

    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(hall.urls["board display-01"])
    assert "幸福里物业客户服务中心" in page.inner_text("header")
    page.screenshot(path=SCREENSHOTS / "foundation-board.png")

    for name, shot in (("staff console", "foundation-staff"), ("admin console", "foundation-admin")):
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(hall.urls[name])
        page.screenshot(path=SCREENSHOTS / f"{shot}-login.png")
        user, password = hall.logins[name].split(" / ")
        page.fill("#password", "wrong password")
        page.fill("#username", user)
        page.click("button[type=submit]")
        assert "用户名或密码不正确" in page.inner_text("body")
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_selector("main h2")
        page.screenshot(path=SCREENSHOTS / f"{shot}-overview.png")
        if name == "staff console":
            def all_nodes_listed() -> bool:
                # The sensor node reports every few seconds: right after start-up it
                # may not have been heard from yet.
                page.reload()
                text = page.inner_text("main")
                return "kiosk-01" in text and "env-01" in text and "在线" in text

            wait_for(all_nodes_listed, timeout=20, interval=0.5)
            page.screenshot(path=SCREENSHOTS / f"{shot}-overview.png")


def test_a_receipt_photo_dropped_in_the_camera_folder_is_read_on_the_track_screen(hall, browser):
    import segno

    from hall_common.tracking_numbers import luhn_digit

    line = next(x for x in hall.banner.splitlines() if x.strip().startswith("camera kiosk-01"))
    folder = Path(re.search(r"camera kiosk-01\s+(\S+)", line).group(1))
    number = "000261130042" + luhn_digit("000261130042")
    segno.make(f"http://hall.example/t/{number}", error="m").save(str(folder / "receipt.png"), scale=8, border=4)
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        page.goto(hall.urls["kiosk kiosk-01"].rstrip("/") + "/track")
        page.click("form.scan button")
        page.wait_for_function(f"document.getElementById('number').value === '{number}'")
        assert page.evaluate("document.activeElement.id") == "last4"
    finally:
        page.close()
        (folder / "receipt.png").unlink()


def test_a_killed_part_is_restarted(hall):
    old = hall.pids()["kiosk-01"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: hall.pids().get("kiosk-01") not in (None, old), timeout=30)
    wait_for(lambda: _answers(hall.urls["kiosk kiosk-01"]), timeout=30)



def test_ctrl_c_stops_everything(hall):
    pids = hall.pids()
    assert len(pids) >= 6
    hall.proc.send_signal(signal.SIGINT)
    out, _ = hall.proc.communicate(timeout=60)
    assert hall.proc.returncode == 0
    assert "stopped" in out
    for name, pid in pids.items():
        assert not _alive(pid), f"{name} (pid {pid}) is still running"
    for url in hall.urls.values():
        host, port = re.match(r"\w+://([\d.]+):(\d+)", url).groups()
        assert not port_open(host, int(port)), url



def test_two_halls_side_by_side(tmp_path):
    a = start_hall(tmp_path / "a")
    try:
        b = start_hall(tmp_path / "b")
        try:
            assert get(a.urls["kiosk kiosk-01"])[0] == 200 and get(b.urls["kiosk kiosk-01"])[0] == 200
            assert a.urls["broker"] != b.urls["broker"]
        finally:
            b.proc.send_signal(signal.SIGINT)
            b.proc.wait(60)
    finally:
        a.proc.send_signal(signal.SIGINT)
        a.proc.wait(60)



def test_supervisor_restarts_a_long_healthy_process_at_once_and_backs_off_a_crash_loop(tmp_path):
    """A part that dies right after each start waits longer each time (no tight restart
    loop); one that had run for a while is restarted at once, whatever its history."""
    from hall_cli.plan import Layout, Process
    from hall_cli.supervisor import STABLE_S, Supervisor

    layout = Layout(tmp_path, None, "127.0.0.1", 0, processes=[Process("sleeper", ["sleep", "60"], None)])  # type: ignore[arg-type]
    (tmp_path / "logs").mkdir()
    (tmp_path / "run").mkdir()
    sup = Supervisor(layout)
    child = sup.children[0]
    try:
        child.start(sup.env)
        child.restarts = 5  # it crashed in a loop before
        child.proc.kill()
        child.proc.wait()
        sup.watch_once()
        assert child.restarts == 5 and not child.alive  # waits up to 30 s first
        child.last_start -= STABLE_S + 1  # now as if it had been running for a minute
        child.exited_at = None
        sup.watch_once()
        assert child.alive and child.restarts == 1
    finally:
        sup.stop_all(timeout=5)


def test_a_hall_without_an_aed_cabinet_is_prepared(tmp_path):
    """A plan with no AED node: the edge's TOML says ``aed.node = ""`` (TOML has no None;
    writing None failed), read back as no node; no AED simulator is started."""
    import tomllib

    from hall_cli.plan import HallPlan, prepare
    from hall_common.config import EdgeConfig, load

    sample = tomllib.loads((Path(__file__).resolve().parent.parent / "firmware_configs" / "hall.sample.toml")
                           .read_text(encoding="utf-8"))
    layout = prepare(tmp_path, HallPlan.model_validate({**sample, "aed_node": ""}), base_port=24000)
    [edge] = [p for p in layout.processes if p.name == "edge"]
    conf = Path(edge.argv[edge.argv.index("--config") + 1])
    doc = tomllib.loads(conf.read_text(encoding="utf-8"))
    assert doc["aed"]["node"] == ""
    assert load(EdgeConfig, conf).aed.node is None
    assert not [p for p in layout.processes if "aed_node" in " ".join(p.argv)]
