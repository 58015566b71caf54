"""A Pi's configuration file, as the centre builds it at enrolment (:mod:`.enrolment`).

One TOML table per role, for the file that role's unit reads from /etc/service-hall
(firmware_configs/systemd): ``edge.toml``, ``kiosk.toml`` or ``display.toml``. Paths are
relative to that folder, so ``hall join --root DIR`` keeps everything inside DIR; the
ports are the ones the browser units and docs/install-pi.md expect.
"""

from __future__ import annotations

from typing import Any

from central_sync.protocol import NodeRole
from hall_common.config import DisplayConfig, EdgeConfig, KioskConfig, KioskSettings

EDGE_HOST = "hall-edge.local"
"""How the hall's nodes reach the edge Pi (its host name, set when the card is written);
``hall join --edge-host`` gives another."""
EDGE_HTTP_PORT = 8000
SCHEMAS = {"edge": EdgeConfig, "kiosk": KioskConfig, "board": DisplayConfig}


def build_config(role: NodeRole | str, *, hall_id: str, hall_name: str, node: str, centre_url: str,
                 settings: dict[str, Any] | None, public_key: str) -> dict[str, Any]:
    """The part's configuration for a Pi, as its TOML table. Paths are relative to the
    file's folder (/etc/service-hall), so ``hall join --root DIR`` keeps them inside DIR; it
    is checked against the part's own schema before it is sent."""
    follow = f"http://{EDGE_HOST}:{EDGE_HTTP_PORT}"
    config: dict[str, Any] = {
        "hall_id": hall_id, "hall_name": hall_name, "node_id": node,
        "data_dir": f"../../var/lib/service-hall/{node}",
        "broker": {"host": "127.0.0.1" if role == "edge" else EDGE_HOST, "port": 1883,
                   "password_file": f"secrets/broker-{node}"},
    }
    if role == "edge":
        hours = KioskSettings.model_validate(settings).hours.model_dump(mode="json") if settings else None
        config.update(
            http={"host": "0.0.0.0", "port": EDGE_HTTP_PORT},
            centre={"url": centre_url, "token_file": "secrets/centre.token"},
            bootstrap_user={"username": "staff", "password_file": "secrets/staff", "role": "staff"},
            complaints={"follow_url": follow},
            roster={"password_file": "../mosquitto/hall/passwd", "local_file": "../mosquitto/hall/passwd.local"},
        )
        if hours is not None:
            config["queue"] = {"hours": hours}
    elif role == "kiosk":
        config.update(http={"host": "127.0.0.1", "port": 8080}, settings=settings, config_public_key=public_key,
                      follow_url=follow)
    else:
        config.update(http={"host": "127.0.0.1", "port": 8081})
    SCHEMAS[role](**config)  # a configuration the part would refuse is never sent
    return config
