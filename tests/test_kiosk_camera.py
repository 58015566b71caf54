"""The kiosk camera reads a complaint receipt's QR code: the payload parser, the pyzbar
decoder on real images (clean and photo-like), OpenCV reading frames from a video file as
if it were a camera, the configuration, and the /track page in Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import kiosk
from hall_common.config import CameraConfig, KioskConfig
from hall_common.errors import ConfigError
from hall_common.tracking_numbers import valid
from kiosk.camera import CameraError, ImageCamera, OpenCVCamera, camera_from, decode, tracking_number_from

from .minihall import SETTINGS, Served
from .screens import screen_problems

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots" / "kiosk"

NUMBER = "1012611240429"  # hall 101, 2026-11-24, record 42, check digit 9
RECEIPT = f"http://edge.hall.lan:8081/t/{NUMBER}"
TICKET = "http://edge.hall.lan:8081/q/5f0c2a9e6b7d4e1f8a3b2c1d"


# (a) the payload parser ---------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    RECEIPT, f"https://service.example.com/hall/t/{NUMBER}", f"{RECEIPT}/", NUMBER, " 101 261124 042 9 ",
    "http://edge.hall.lan:8081/t/101 261124 042 9", f"/t/{NUMBER}",
])
def test_a_receipts_code_gives_its_number(payload):
    assert tracking_number_from(payload) == NUMBER


@pytest.mark.parametrize("payload", [
    NUMBER[:-1] + "0",                              # wrong check digit
    f"http://edge.hall.lan:8081/t/{NUMBER[:-1]}8",  # in a URL too
    NUMBER[:3] + NUMBER[4] + NUMBER[3] + NUMBER[5:],  # two digits swapped
    TICKET, f"http://edge.hall.lan:8081/q/{NUMBER}",  # a queue ticket's code
    f"http://edge.hall.lan:8081/t/{NUMBER}?x=1", f"{RECEIPT}0", NUMBER[:-1],
    "", "   ", "hello", "WIFI:S:hall;T:WPA;P:secret;;", "١٠١٢٦١١٢٤٠٤٢٩",  # Arabic-Indic digits
])
def test_anything_else_is_rejected(payload):
    assert tracking_number_from(payload) is None


@given(st.text(max_size=300))
def test_the_parser_never_raises_and_only_returns_valid_numbers(payload):
    result = tracking_number_from(payload)
    assert result is None or (valid(result) and result in payload.replace(" ", ""))


@given(st.from_regex(r"[0-9]{12}", fullmatch=True), st.sampled_from(["", "http://a.b/t/", "https://x.y:1/p/t/"]))
def test_every_issued_number_is_read_back(body, prefix):
    from edge_agent.complaints.tracking import luhn_digit  # the edge's numbers, checked with the shared rule

    number = body + luhn_digit(body)
    assert tracking_number_from(prefix + number) == number


# (b) the decoder on real images --------------------------------------------------------

def receipt_png(path: Path, payload: str = RECEIPT, scale: int = 6) -> Path:
    import segno

    segno.make(payload, error="m").save(str(path), scale=scale, border=4)
    return path


def photo_of(png: Path, out: Path) -> Path:
    """The code as a camera would see a receipt held up: smaller, turned a little, slightly
    out of focus, on a grey, uneven background, saved as JPEG."""
    from PIL import Image, ImageFilter

    with Image.open(png) as im:
        code = im.convert("L")
    code = code.resize((code.width * 2 // 3, code.height * 2 // 3), Image.BILINEAR)
    paper = Image.new("L", code.size, 255).rotate(4, resample=Image.BICUBIC, expand=True)  # the receipt's outline
    code = code.rotate(4, resample=Image.BICUBIC, expand=True)
    scene = Image.linear_gradient("L").resize((900, 700)).point(lambda v: 90 + v // 3)
    scene.paste(code, (220, 140), paper)
    scene = scene.filter(ImageFilter.GaussianBlur(1.2))
    scene.save(out, quality=85)
    return out


def test_a_receipt_code_is_read_from_a_clean_image_and_from_a_photo(tmp_path):
    clean = receipt_png(tmp_path / "clean.png")
    assert ImageCamera(tmp_path).scan(0) == RECEIPT

    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photo_of(clean, photos / "receipt.jpg")
    import cv2

    assert decode(cv2.imread(str(photo))) == [RECEIPT]  # colour (BGR) frames are decoded too
    assert tracking_number_from(ImageCamera(photos).scan(0)) == NUMBER


def test_the_newest_image_is_what_the_camera_sees(tmp_path):
    old = receipt_png(tmp_path / "a-ticket.png", TICKET)
    os.utime(old, (1_000_000, 1_000_000))
    receipt_png(tmp_path / "b-receipt.png")
    assert ImageCamera(tmp_path).scan(0) == RECEIPT
    (tmp_path / "notes.txt").write_text("not an image")  # other files are ignored
    assert ImageCamera(tmp_path).scan(0) == RECEIPT


def test_an_empty_folder_or_an_image_without_a_code_gives_nothing(tmp_path):
    from PIL import Image

    assert ImageCamera(tmp_path, poll_s=0.01).scan(0.05) is None
    Image.new("L", (200, 200), 255).save(tmp_path / "blank.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    os.utime(tmp_path / "blank.png", (1_000_000, 1_000_000))
    assert ImageCamera(tmp_path, poll_s=0.01).scan(0.05) is None


def test_a_missing_images_folder_is_a_camera_error(tmp_path):
    with pytest.raises(CameraError):
        ImageCamera(tmp_path / "nope").scan(0)


# (c) OpenCV reading a video file as a camera -------------------------------------------

def write_video(path: Path, png: Path | None, blank_frames: int = 5, code_frames: int = 10) -> Path:
    """An MJPG .avi: some frames of an empty desk, then frames with the receipt held up."""
    import cv2
    import numpy as np

    size = (640, 480)
    desk = np.full((size[1], size[0], 3), 120, np.uint8)
    held = desk.copy()
    if png is not None:
        code = cv2.imread(str(png))
        y, x = (size[1] - code.shape[0]) // 2, (size[0] - code.shape[1]) // 2
        held[y:y + code.shape[0], x:x + code.shape[1]] = code
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    assert writer.isOpened()
    for frame in [desk] * blank_frames + [held] * code_frames:
        writer.write(frame)
    writer.release()
    return path


class Recording:
    """Opens real ``cv2.VideoCapture`` objects and keeps them, to look at after a scan."""

    def __init__(self) -> None:
        self.opened: list = []

    def __call__(self, device):
        import cv2

        capture = cv2.VideoCapture(device)
        self.opened.append(capture)
        return capture


def test_opencv_reads_the_code_from_frames_and_releases_the_device(tmp_path):
    video = write_video(tmp_path / "receipt.avi", receipt_png(tmp_path / "code.png", scale=5))
    opened = Recording()
    camera = OpenCVCamera(str(video), open_capture=opened)
    assert opened.opened == []  # nothing is opened until a scan
    assert camera.scan(10) == RECEIPT
    assert len(opened.opened) == 1 and not opened.opened[0].isOpened()  # released after the scan
    assert camera.scan(10) == RECEIPT  # opened anew for the next resident
    assert len(opened.opened) == 2 and not opened.opened[1].isOpened()


def test_opencv_without_a_code_gives_nothing_and_still_releases(tmp_path):
    video = write_video(tmp_path / "desk.avi", None)
    opened = Recording()
    assert OpenCVCamera(str(video), open_capture=opened).scan(10) is None
    assert not opened.opened[0].isOpened()


def test_a_camera_that_cannot_be_opened_is_a_camera_error(tmp_path):
    with pytest.raises(CameraError):
        OpenCVCamera(str(tmp_path / "no-such-camera.avi")).scan(1)


def test_a_scan_in_a_child_process_answers_like_the_camera_and_loads_no_opencv_here(tmp_path):
    """camera_from's camera scans in a child process: the payload, or the camera's error, come
    back; a child that does not finish in time is a camera error, not a hung screen."""
    from kiosk.camera import ChildProcessCamera

    receipt_png(tmp_path / "receipt.png")
    assert ChildProcessCamera("images", str(tmp_path)).scan(2) == RECEIPT
    (tmp_path / "receipt.png").unlink()
    assert ChildProcessCamera("images", str(tmp_path)).scan(0) is None
    with pytest.raises(CameraError, match="does not exist"):
        ChildProcessCamera("images", str(tmp_path / "nope")).scan(0)
    with pytest.raises(CameraError, match="cannot be opened"):
        ChildProcessCamera("opencv", str(tmp_path / "no-such-camera.avi")).scan(1)
    with pytest.raises(CameraError, match="did not end"):
        ChildProcessCamera("images", str(tmp_path), start_s=0).scan(0.01)
    code = ("import sys; from kiosk.camera import ChildProcessCamera; "
            "assert ChildProcessCamera('images', sys.argv[1]).scan(0) is None; "
            "print(sorted({'cv2', 'numpy', 'pyzbar'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == "[]", done.stderr


# configuration -------------------------------------------------------------------------

def test_camera_configuration(tmp_path):
    assert camera_from(CameraConfig()) is None
    # Each scan runs in a child process (OpenCV's memory goes back); this is the camera it runs.
    assert isinstance(camera_from(CameraConfig(kind="opencv", device="/dev/video2")).local(), OpenCVCamera)
    assert isinstance(camera_from(CameraConfig(kind="images", images_dir=str(tmp_path))).local(), ImageCamera)
    assert CameraConfig(kind="opencv", device="1").device == 1  # an environment override is a string
    with pytest.raises(ValueError, match="images_dir"):
        CameraConfig(kind="images")
    for bad in ({"scan_s": 0.5}, {"scan_s": 31}, {"kind": "usb"}, {"device": -1}, {"device": " "}, {"resolution": 3}):
        with pytest.raises(ValueError):
            CameraConfig(**bad)


def test_a_bad_camera_key_names_itself_at_start(tmp_path, monkeypatch):
    from hall_common.config import load

    (tmp_path / "pw").write_text("x")
    (tmp_path / "kiosk.toml").write_text(
        'hall_id = "h1"\nhall_name = "大厅"\nnode_id = "kiosk-01"\ndata_dir = "k"\n'
        '[broker]\npassword_file = "pw"\n[http]\nport = 8080\n[settings.info]\nservice_phone = "123"\ncomplaint_phone = "456"\n'
        '[camera]\nkind = "images"\n')
    with pytest.raises(ConfigError, match=r"kiosk\.toml: camera: .*images_dir"):
        load(KioskConfig, tmp_path / "kiosk.toml")
    monkeypatch.setenv("KIOSK_CAMERA__IMAGES_DIR", str(tmp_path))
    assert load(KioskConfig, tmp_path / "kiosk.toml").camera.images_dir == str(tmp_path)


# the /track/scan view --------------------------------------------------------------------

def kiosk_app(tmp_path: Path, camera: dict | None, status=None, lang: str = "zh_CN"):
    (tmp_path / "pw").write_text("x")
    cfg = KioskConfig(hall_id="h1", hall_name="幸福里物业客户服务中心", node_id="kiosk-01", data_dir=tmp_path / "k",
                      broker={"password_file": tmp_path / "pw"}, http={"port": 1}, settings=SETTINGS,
                      camera=camera or {})
    return kiosk.create_app(cfg, status)


def scan(client):
    page = client.get("/track").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/track/scan", data={"csrf_token": token}, headers={"X-Kiosk-Nav": "1"})


def test_without_a_camera_there_is_no_scan_button(tmp_path):
    c = kiosk_app(tmp_path, None).test_client()
    assert "/track/scan" not in c.get("/track").get_data(as_text=True)
    assert c.post("/track/scan").status_code in (400, 404)  # no CSRF token: refused either way
    c.application.config["WTF_CSRF_ENABLED"] = False
    assert c.post("/track/scan").status_code == 404


def test_scanning_fills_in_the_number_and_asks_for_the_phone_digits(tmp_path):
    shots = tmp_path / "camera"
    shots.mkdir()
    receipt_png(shots / "receipt.png")
    c = kiosk_app(tmp_path, {"kind": "images", "images_dir": str(shots), "scan_s": 1}).test_client()
    r = scan(c)
    assert r.get_json() == {"location": "/track"}
    page = c.get("/track").get_data(as_text=True)
    assert f'value="{NUMBER}"' in page
    assert re.search(r'<input id="last4"[^>]*autofocus', page)
    assert "已读取回执上的受理编号" in page
    with c.session_transaction() as s:
        assert "track_result" not in s  # nothing looked up yet: the phone digits are still needed


@pytest.mark.parametrize("image, message", [
    (None, "没有扫到二维码，请把回执上的二维码对准摄像头"),
    (TICKET, "这不是受理回执的二维码"),
])
def test_no_code_or_another_code_is_said_plainly(tmp_path, image, message):
    shots = tmp_path / "camera"
    shots.mkdir()
    if image:
        receipt_png(shots / "ticket.png", image)
    c = kiosk_app(tmp_path, {"kind": "images", "images_dir": str(shots), "scan_s": 1}).test_client()
    assert scan(c).get_json() == {"location": "/track"}
    page = c.get("/track").get_data(as_text=True)
    assert message in page and 'value=""' in page and "autofocus" not in page


def test_a_broken_camera_sends_the_resident_to_the_keypad(tmp_path):
    c = kiosk_app(tmp_path, {"kind": "opencv", "device": str(tmp_path / "unplugged"), "scan_s": 1}).test_client()
    scan(c)
    assert "摄像头暂时无法使用" in c.get("/track").get_data(as_text=True)


# (d) the page in Chromium -----------------------------------------------------------------

class EdgeUp:
    """The hall as the kiosk sees it when all is well (the scan itself needs no edge)."""

    announcement = ""

    def snapshot(self):
        from kiosk.status import Snapshot

        return Snapshot(edge_up=True, centre_up=True, printer_ok=True)


@pytest.fixture(scope="module")
def kiosk_page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kiosk-camera")
    shots = tmp / "camera"
    shots.mkdir()
    app = kiosk_app(tmp, {"kind": "images", "images_dir": str(shots), "scan_s": 1}, EdgeUp())
    served = Served(app)
    yield served.url, shots
    served.stop()


def hold_up(folder: Path, payload: str | None) -> None:
    for old in folder.iterdir():
        old.unlink()
    if payload is not None:
        photo_of(receipt_png(folder / "code.png", payload), folder / "held.jpg")
        (folder / "code.png").unlink()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_scanning_on_the_touchscreen(kiosk_page, browser, lang):
    url, folder = kiosk_page
    context = browser.new_context(viewport={"width": 1080, "height": 1920}, has_touch=True)
    page = context.new_page()
    SHOTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if lang == "zh_CN" else "-en"
    try:
        page.goto(url + "track")
        if lang == "en":
            page.click("button[lang=en]")
            page.wait_for_selector("html[lang=en]")
        button = page.locator("form.scan button")
        assert button.inner_text().strip() == ("扫描回执二维码" if lang == "zh_CN" else "Scan the receipt's QR code")
        page.screenshot(path=SHOTS / f"scan-ready{suffix}.png", full_page=True)

        hold_up(folder, RECEIPT)
        with page.expect_navigation():
            button.click()
        page.wait_for_selector("p.result.ok")
        assert page.input_value("#number") == NUMBER
        assert page.evaluate("document.activeElement.id") == "last4"
        page.screenshot(path=SHOTS / f"scan-read{suffix}.png", full_page=True)
        for k in "5678":  # the keypad now types the phone digits
            page.click(f".key[data-key='{k}']")
        assert page.input_value("#last4") == "5678" and page.input_value("#number") == NUMBER
        problems = screen_problems(page)
        assert not problems, problems

        hold_up(folder, None)
        with page.expect_navigation():
            page.locator("form.scan button").click()
            page.screenshot(path=SHOTS / f"scan-looking{suffix}.png", full_page=True)  # for a person: the busy button
        page.wait_for_selector("form.scan .error")
        assert ("没有扫到二维码" if lang == "zh_CN" else "No QR code was seen") in page.inner_text("form.scan .error")
        assert page.input_value("#number") == ""
        page.screenshot(path=SHOTS / f"scan-nothing{suffix}.png", full_page=True)

        hold_up(folder, TICKET)
        with page.expect_navigation():  # the last screen showed an error too: wait for the new one
            page.locator("form.scan button").click()
        page.wait_for_selector("form.scan .error")
        assert ("这不是受理回执的二维码" if lang == "zh_CN" else "not the QR code of a request receipt") in \
            page.inner_text("form.scan .error")
        page.screenshot(path=SHOTS / f"scan-not-a-receipt{suffix}.png", full_page=True)
        problems = screen_problems(page)
        assert not problems, problems
    finally:
        context.close()
