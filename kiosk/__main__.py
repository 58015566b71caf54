"""``python -m kiosk --config kiosk.toml``: connect the kiosk to the hall bus and serve it."""

from __future__ import annotations

import sys

from hall_common.config import KioskConfig
from hall_common.runner import node_bus, start_part
from hall_common.web import serve

SW_VERSION = "0.1.0"


def main(argv: list[str] | None = None) -> None:
    config = start_part(KioskConfig, "kiosk", argv)
    from . import create_app
    from .ime import INDEX_PATH, ImeIndexMissing, IndexFile
    from .status import HallStatus

    try:  # no kiosk without its keyboard: say so now, not at a resident's first letter
        IndexFile(config.ime_index or INDEX_PATH).close()
    except ImeIndexMissing as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    bus = node_bus(config, kind="kiosk", sw=SW_VERSION)
    status = HallStatus(bus)
    app = create_app(config, status, bus)
    if config.config_public_key:
        from .config_apply import ConfigApplier, printers_from

        ConfigApplier(app, bus, public_key=config.config_public_key, state_path=config.data_dir / "applied-config.json",
                      printers=printers_from(status))
    bus.start()
    serve(app, config.http, on_stop=bus.close)


if __name__ == "__main__":
    main()
