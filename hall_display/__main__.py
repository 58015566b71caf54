"""``python -m hall_display --config display.toml``: follow the queue on the bus and serve the board."""

from __future__ import annotations

from hall_common.config import DisplayConfig
from hall_common.voice import Voice
from hall_common.runner import node_bus, start_part
from hall_common.web import serve

SW_VERSION = "0.1.0"


def main(argv: list[str] | None = None) -> None:
    config = start_part(DisplayConfig, "hall_display", argv)
    from . import create_app
    from .board import BoardState

    bus = node_bus(config, kind="display", sw=SW_VERSION)
    voice = Voice(config.data_dir / "voice") if config.voice else None
    board = BoardState(voice=voice, english=config.voice_en, announcement=config.announcement)
    board.follow(bus)
    if config.config_public_key:
        from .settings_apply import BoardSettingsApplier

        BoardSettingsApplier(bus, board, config)
    app = create_app(config, board)
    bus.start()
    serve(app, config.http, on_stop=bus.close)


if __name__ == "__main__":
    main()
