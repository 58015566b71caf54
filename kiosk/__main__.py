"""``python -m kiosk --config kiosk.toml``: connect the kiosk to the hall bus and serve it."""

from __future__ import annotations

from hall_common.config import KioskConfig
from hall_common.runner import node_bus, start_part
from hall_common.web import serve

SW_VERSION = "0.1.0"


def main(argv: list[str] | None = None) -> None:
    config = start_part(KioskConfig, "kiosk", argv)
    from . import create_app
    from .status import HallStatus

    bus = node_bus(config, kind="kiosk", sw=SW_VERSION)
    status = HallStatus(bus)
    app = create_app(config, status, bus)
    if config.config_public_key:
        from .config_apply import ConfigApplier, printers_from

        ConfigApplier(app, bus, public_key=config.config_public_key, state_path=config.data_dir / "applied-config.json",
                      printers=printers_from(status))
    bus.start()
    app.extensions["ime"].warm()  # the pinyin index, built while nobody is typing yet
    serve(app, config.http, on_stop=bus.close)


if __name__ == "__main__":
    main()
