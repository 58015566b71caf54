"""Signed kiosk configuration: the centre signs, kiosks verify (Ed25519).

The signed bytes are a canonical JSON of the hall, the node, the version, the expiry and
the body, so a configuration signed for one kiosk cannot be replayed to another, and no
field can be changed without breaking the signature. The centre keeps its private key in a
file of mode 600; every kiosk is given the public key in its configuration.

Example::

    key = load_or_create_key(path)
    doc = sign(key, hall="h1", node="kiosk-01", version=7, expires=time.time() + 86400, body={...})
    verify(public_key_b64(key), doc, hall="h1", node="kiosk-01")   # raises ConfigRejected
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hall_common import ed25519
from hall_common.bus.payloads import ConfigDesired
from hall_common.errors import HallError
from hall_common.private_files import write_private

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class ConfigRejected(HallError, ValueError):
    """A configuration document that must not be applied; the message says why."""


def canonical(hall: str, node: str, version: int, expires: float, body: dict[str, Any]) -> bytes:
    doc = {"hall": hall, "node": node, "version": version, "expires": expires, "body": body}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The centre's signing key kept in ``path`` (made on first use). Signing is the
    centre's (and ``hall up``'s) alone, so ``cryptography`` is loaded here, not with this
    module: the parts only verify (:func:`verify`, with :mod:`hall_common.ed25519`)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        raw = base64.b64decode(path.read_text().strip())
        return Ed25519PrivateKey.from_private_bytes(raw)
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        from cryptography.hazmat.primitives import serialization

        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        write_private(path, base64.b64encode(raw))
        return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def sign(key: Ed25519PrivateKey, *, hall: str, node: str, version: int, expires: float, body: dict[str, Any]) -> ConfigDesired:
    sig = key.sign(canonical(hall, node, version, expires, body))
    return ConfigDesired(version=version, expires=expires, body=body, sig=base64.b64encode(sig).decode())


def verify(public_key: str, doc: ConfigDesired, *, hall: str, node: str) -> None:
    """Raise :class:`ConfigRejected` unless ``doc`` was signed by the centre for this node."""
    try:
        genuine = ed25519.verify(base64.b64decode(public_key), base64.b64decode(doc.sig),
                                 canonical(hall, node, doc.version, doc.expires, doc.body))
    except ValueError as exc:  # not base64 (binascii.Error)
        raise ConfigRejected(f"bad signature ({type(exc).__name__})") from None
    if not genuine:
        raise ConfigRejected("bad signature (InvalidSignature)")
