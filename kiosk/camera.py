"""The kiosk's QR camera: a resident holds a receipt up to it instead of typing 13 digits.

One interface, :class:`Camera`, with ``scan(timeout_s)`` returning the first QR payload
seen (or None). Two implementations share one decoder, :func:`decode`, so the simulator
exercises exactly the pyzbar call the real camera makes:

- :class:`OpenCVCamera` reads frames from ``cv2.VideoCapture`` (a V4L2 camera, a device
  path, or a video file). It opens the device only for a scan and releases it after, so
  the kiosk does not hold the camera (and its light) all day, and a camera unplugged and
  plugged in again works at the next scan with nobody restarting the kiosk. A camera that
  cannot be opened, or opens and gives not one frame, is a :class:`CameraError`.
- :class:`ImageCamera` decodes the newest PNG/JPEG in a folder: ``hall up`` and the tests
  "hold a receipt up" by dropping an image there.

:func:`tracking_number_from` turns a payload into a tracking number, or None for anything
that is not a complaint receipt's code (a queue ticket's ``/q/`` link, a payment code)::

    >>> tracking_number_from("http://edge.hall.lan:8081/t/1012611240429")
    '1012611240429'
    >>> tracking_number_from("http://edge.hall.lan:8081/q/8f14e45f") is None
    True

OpenCV, pyzbar and numpy take about 43 MB, which a process keeps once it has loaded them.
The kiosk itself never does: :func:`camera_from` gives a :class:`ChildProcessCamera`, which
runs each scan in a short-lived child process (this file run as a script) that loads them,
scans and exits, handing back the payload or the camera's error. A scan costs the child's
start (about 0.3 s here) on top of the look itself; the kiosk stays at its size all day
(issue 20). The in-process cameras are what the child runs, and what tests drive directly.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from hall_common.errors import HallError
from hall_common.tracking_numbers import valid

if TYPE_CHECKING:
    import numpy as np

    from hall_common.config import CameraConfig

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
_RECEIPT = re.compile(r"(?:https?://\S+)?/t/([0-9 ]+)/?|([0-9 ]+)")
"""A receipt's code: ``{follow_url}/t/{number}``, or the bare number. Receipts print the
number in groups (``101 261124 042 9``), so spaces inside it are allowed."""


class CameraError(HallError, OSError):
    """The camera cannot be opened or stopped delivering frames."""


class Camera(Protocol):
    """Something that can look for a QR code for a while."""

    def scan(self, timeout_s: float) -> str | None:
        """The payload of the first QR code seen within ``timeout_s`` seconds, or None.

        Raises :class:`CameraError` when there is no camera to look with."""
        ...


def decode(frame: "np.ndarray") -> list[str]:
    """The payloads of the QR codes in ``frame`` (a greyscale or BGR image), in the order
    zbar finds them. Payloads that are not UTF-8 text are skipped: no receipt makes them."""
    import cv2
    from pyzbar.pyzbar import ZBarSymbol
    from pyzbar.pyzbar import decode as zbar_decode

    if frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    found = []
    for symbol in zbar_decode(frame, symbols=[ZBarSymbol.QRCODE]):
        try:
            found.append(symbol.data.decode("utf-8"))
        except UnicodeDecodeError:
            log.info("camera: skipped a QR code that is not UTF-8 text (%d bytes)", len(symbol.data))
    return found


def tracking_number_from(payload: str) -> str | None:
    """The tracking number in a receipt's QR payload, or None if it is not a receipt's code
    or its check digit is wrong (a misprint or a code made up by hand). Never raises."""
    if not isinstance(payload, str) or len(payload) > 2048:
        return None
    m = _RECEIPT.fullmatch(payload.strip())
    if m is None:
        return None
    number = (m.group(1) or m.group(2) or "").replace(" ", "")
    return number if valid(number) else None


def _default_capture(device: int | str) -> Any:
    import cv2

    return cv2.VideoCapture(device)


class OpenCVCamera:
    """A camera OpenCV can open: ``device`` is an index (0), a path (``/dev/video2``) or a
    video file (the tests use one).

    ``open_capture`` is the seam for tests that want to see the capture object; it is
    called once per scan and must return something with ``isOpened``, ``read`` and
    ``release`` like ``cv2.VideoCapture``.
    """

    def __init__(self, device: int | str, *, open_capture: Callable[[int | str], Any] = _default_capture) -> None:
        self.device = device
        self._open = open_capture
        # One scan at a time: two waitress threads must not fight over the device.
        self._lock = threading.Lock()

    def scan(self, timeout_s: float) -> str | None:
        with self._lock:
            capture = self._open(self.device)
            try:
                if not capture.isOpened():
                    raise CameraError(f"camera {self.device!r} cannot be opened")
                deadline = time.monotonic() + timeout_s
                frames = 0
                while time.monotonic() < deadline:
                    ok, frame = capture.read()
                    if not ok:
                        if frames == 0:
                            # Opened, yet not one frame: a device node left behind by an
                            # unplugged camera, or one another program holds. The resident
                            # must hear "the camera does not work", not "no code seen".
                            raise CameraError(f"camera {self.device!r} gives no pictures")
                        # A video file has ended, or a camera was unplugged mid-scan.
                        log.info("camera %r: no more frames", self.device)
                        return None
                    frames += 1
                    found = decode(frame)
                    if found:
                        return found[0]
                return None
            finally:
                capture.release()


class ImageCamera:
    """The simulator: the newest image file in ``directory`` is what the camera sees.

    It keeps looking until ``timeout_s`` runs out, so an image dropped during a scan is
    found too. Images are left where they are: the receipt stays "held up" until removed.
    """

    def __init__(self, directory: str | Path, *, poll_s: float = 0.1) -> None:
        self.directory = Path(directory)
        self.poll_s = poll_s

    def _newest(self) -> tuple[Path, int] | None:
        """The newest image and its mtime; one being removed while we look is skipped."""
        try:
            entries = list(self.directory.iterdir())
        except FileNotFoundError:
            raise CameraError(f"the camera images folder {self.directory} does not exist") from None
        newest: tuple[Path, int] | None = None
        for path in entries:
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                mtime = path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if path.is_file() and (newest is None or mtime > newest[1]):
                newest = (path, mtime)
        return newest

    @staticmethod
    def _read(path: Path) -> str | None:
        import cv2

        frame = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if frame is None:
            log.warning("camera: %s is not an image OpenCV can read", path)
            return None
        found = decode(frame)
        return found[0] if found else None

    def scan(self, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        tried: tuple[Path, int] | None = None  # the image last decoded, by name and mtime
        while True:
            newest = self._newest()
            if newest is not None and newest != tried:
                tried = newest
                payload = self._read(newest[0])
                if payload is not None:
                    return payload
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.poll_s)


CHILD_START_S = 20.0
"""How long a scan's child process may take, beyond the scan itself, to start (loading
OpenCV from a Pi's SD card) and exit, before it is killed and the camera said not to work."""


def local_camera(kind: str, source: int | str) -> Camera:
    """The camera in this process: ``opencv`` with its device, ``images`` with its folder."""
    if kind == "opencv":
        return OpenCVCamera(source)
    if kind == "images":
        return ImageCamera(source)
    raise ValueError(f"no camera of kind {kind!r}")


class ChildProcessCamera:
    """Each scan in a child process of its own, so OpenCV's memory goes back when it ends.

    The child is this file run by the same interpreter (``python -P kiosk/camera.py``:
    not ``-m kiosk.camera``, which would import the kiosk's app package and Flask), with
    the project's root first on its path so it runs the same code as the kiosk. It prints
    one JSON line, ``{"payload": ...}`` or ``{"error": ...}`` for a :class:`CameraError`;
    whatever it logs on stderr is logged here. A child that fails, or does not finish
    within the scan's time and :data:`CHILD_START_S`, is a :class:`CameraError`.
    """

    def __init__(self, kind: str, source: int | str, *, start_s: float = CHILD_START_S) -> None:
        self.kind, self.source, self.start_s = kind, source, start_s
        # One scan at a time: two waitress threads must not fight over the device.
        self._lock = threading.Lock()

    def local(self) -> Camera:
        """The camera the child runs (for tests and tools that want it in-process)."""
        return local_camera(self.kind, self.source)

    def scan(self, timeout_s: float) -> str | None:
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        command = [sys.executable, "-P", str(Path(__file__).resolve()), self.kind, json.dumps(self.source),
                   repr(float(timeout_s))]
        with self._lock:
            try:
                done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s + self.start_s)
            except subprocess.TimeoutExpired:
                raise CameraError(f"camera {self.source!r}: the scan did not end within "
                                  f"{timeout_s + self.start_s:g} s") from None
        for line in done.stderr.splitlines()[-20:]:
            name, _, message = line.partition(":")
            level = logging.getLevelName(name)
            log.log(level if isinstance(level, int) else logging.WARNING, "camera %r: %s", self.source,
                    message if isinstance(level, int) else line)
        try:
            answer = json.loads(done.stdout.splitlines()[-1])
            if not isinstance(answer, dict):
                raise ValueError(answer)
        except (IndexError, ValueError):
            raise CameraError(f"camera {self.source!r}: the scan ended with status {done.returncode} "
                              f"and no answer: {done.stderr.strip()[-300:]}") from None
        if "error" in answer:
            raise CameraError(answer["error"])
        payload = answer.get("payload")
        return payload if isinstance(payload, str) else None


def camera_from(config: CameraConfig) -> ChildProcessCamera | None:
    """The camera the configuration names (scanning in a child process), or None when the
    kiosk has none."""
    if config.kind == "opencv":
        return ChildProcessCamera("opencv", config.device)
    if config.kind == "images":
        return ChildProcessCamera("images", config.images_dir)
    return None


def _scan_in_child(argv: list[str]) -> None:
    """The child's side of :class:`ChildProcessCamera`: ``KIND SOURCE_JSON TIMEOUT_S``."""
    kind, source, timeout_s = argv[0], json.loads(argv[1]), float(argv[2])
    try:
        payload = local_camera(kind, source).scan(timeout_s)
    except CameraError as exc:
        print(json.dumps({"error": str(exc)}, ensure_ascii=False), flush=True)
        return
    print(json.dumps({"payload": payload}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(message)s")  # to stderr, which the kiosk logs
    _scan_in_child(sys.argv[1:])
