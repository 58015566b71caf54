"""The resident QR code: a household's proof, signed at the centre, read at the kiosk.

A code carries ``{"v": 1, "hall": ..., "room": ..., "exp": ...}`` as compact JSON, signed
with the centre's Ed25519 key (the one that signs kiosk configuration, so kiosks already
hold its public key). The signed bytes start with ``b"resident-qr:v1\\n"``: a signature made
for a configuration can never pass as a resident code, nor the other way round. The text in
the QR is ``HR1.<payload>.<signature>``, both parts base64url without padding (about 150
characters, a small QR).

:func:`verify` never raises anything but :class:`QRRefused`, whose ``reason`` is one of
``unreadable``, ``forged``, ``expired`` or ``other_hall``: a kiosk shows a message for each.

Example::

    text = issue(key, hall="h1", room="3-2-1201", expires=time.time() + 86400 * 365)
    verify(public_key_b64(key), text, hall="h1", now=time.time())   # -> "3-2-1201"
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from typing import TYPE_CHECKING

from . import ed25519
from .errors import HallError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PREFIX = "HR1."
DOMAIN = b"resident-qr:v1\n"
ROOM = re.compile(r"^[0-9]{1,3}-[0-9]{1,2}-[0-9]{1,5}$")
"""building-unit-room, e.g. ``3-2-1201``."""
MAX_TEXT = 512


class QRRefused(HallError, ValueError):
    """A scanned code that does not identify a household here; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: only the one text :func:`_b64` makes for these bytes. Decoding alone ignores
    the spare bits of the last character, so a code with that character changed would
    still verify: one code, one text."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical base64url of its bytes")
    return data


def issue(key: Ed25519PrivateKey, *, hall: str, room: str, expires: float) -> str:
    """The text of a resident QR code for ``room`` of ``hall``, valid until ``expires``."""
    if not ROOM.match(room):
        raise ValueError(f"room {room!r}: building-unit-room, e.g. 3-2-1201")
    payload = json.dumps({"v": 1, "hall": hall, "room": room, "exp": int(expires)},
                         ensure_ascii=False, separators=(",", ":")).encode()
    return f"{PREFIX}{_b64(payload)}.{_b64(key.sign(DOMAIN + payload))}"


def looks_like(text: str) -> bool:
    """Whether ``text`` claims to be a resident code (so a receipt's code is told apart)."""
    return isinstance(text, str) and text.startswith(PREFIX)


def verify(public_key: str, text: object, *, hall: str, now: float) -> str:
    """The room a genuine, unexpired code of ``hall`` names; :class:`QRRefused` otherwise.

    ``public_key`` is the centre's key in standard base64 (as in the kiosk configuration)."""
    if not isinstance(text, str) or not text.startswith(PREFIX) or len(text) > MAX_TEXT:
        raise QRRefused("unreadable")
    parts = text[len(PREFIX):].split(".")
    if len(parts) != 2:
        raise QRRefused("unreadable")
    try:
        payload, sig = _unb64(parts[0]), _unb64(parts[1])
    except (ValueError, binascii.Error):
        raise QRRefused("unreadable") from None
    try:
        genuine = ed25519.verify(base64.b64decode(public_key), sig, DOMAIN + payload)
    except (ValueError, binascii.Error, TypeError):
        genuine = False
    if not genuine:
        raise QRRefused("forged")
    try:
        claim = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise QRRefused("unreadable") from None
    if (not isinstance(claim, dict) or claim.get("v") != 1 or not isinstance(claim.get("room"), str)
            or not ROOM.match(claim["room"]) or not isinstance(claim.get("exp"), int) or isinstance(claim["exp"], bool)):
        raise QRRefused("unreadable")
    if claim.get("hall") != hall:
        raise QRRefused("other_hall")
    if claim["exp"] <= now:
        raise QRRefused("expired")
    return claim["room"]
