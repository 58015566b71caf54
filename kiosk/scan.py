"""One look through the kiosk's camera for a screen that reads a QR code (tracking a request
by its receipt, identifying a household by its resident code).

The screens differ in what the code must be and in what they say when it is not; the look
itself, and what happens when the kiosk has no camera or it does not work, is the same.
"""

from __future__ import annotations

import logging

from flask import abort, current_app

from .camera import CameraError

log = logging.getLogger(__name__)


def read_qr(screen: str) -> str | None:
    """The payload of the QR code the camera saw within ``CAMERA_SCAN_S``, or None.

    A kiosk without a camera answers 404 (its screens show no scan button); a camera that
    does not work raises :class:`CameraError`, logged here naming ``screen``, so the
    screen can ask the resident to type instead."""
    camera = current_app.extensions.get("camera")
    if camera is None:
        abort(404)
    try:
        return camera.scan(current_app.config["CAMERA_SCAN_S"])
    except CameraError as exc:
        log.error("%s: the camera does not work: %s", screen, exc)
        raise
