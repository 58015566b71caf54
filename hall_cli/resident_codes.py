"""Resident QR codes as PNG files: ``hall resident-qr`` and the demo code ``hall up`` writes.

The code is signed with the centre's key (``secrets/centre/config_signing.key`` under a
``hall up`` data directory); see :mod:`hall_common.resident_qr`. In a real hall the property
office prints it for the household; here the PNG can be dropped into a kiosk's simulated
camera folder.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import segno

from central_sync.signing import load_or_create_key
from hall_common import resident_qr
from hall_common.errors import ConfigError

VALID_DAYS = 365


def write_code(key_file: Path, hall_id: str, room: str, out: Path, *, days: float = VALID_DAYS) -> Path:
    """Write the resident QR code of ``room`` to ``out`` (a PNG big enough for a camera)."""
    if not key_file.exists():
        raise ConfigError(f"{key_file}: no centre signing key (run `hall up` once, or give --key-file)")
    text = resident_qr.issue(load_or_create_key(key_file), hall=hall_id, room=room, expires=time.time() + days * 86400)
    out.parent.mkdir(parents=True, exist_ok=True)
    segno.make_qr(text, error="m").save(str(out), scale=8, border=4)
    return out


def hall_of(data_dir: Path) -> str:
    """The hall id of a ``hall up`` data directory (from its edge configuration)."""
    path = data_dir / "config" / "edge.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))["hall_id"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the hall id ({exc}); give --hall") from None
