"""Signed board settings from the centre, applied by the board without a restart.

The centre signs a :class:`~hall_common.config.BoardSettings` document for this board as it
signs a kiosk's; the edge publishes it retained on ``config/{node}``; the shared rule
(signature, newer version, expiry, schema, stored, reported) is
:class:`hall_common.signed_config.SignedConfigApplier`. Applying turns the spoken call on
or off, adds or drops the English call, and sets the line the board scrolls when the centre
has published no announcement; every open board page gets the new state at once.

Example::

    BoardSettingsApplier(bus, board, config)   # before or after bus.start(); needs config_public_key
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hall_common.config import BoardSettings, DisplayConfig
from hall_common.signed_config import SignedConfigApplier

from .board import BoardState


class BoardSettingsApplier(SignedConfigApplier[BoardSettings]):
    model = BoardSettings
    part = "board"

    def __init__(self, bus: Any, board: BoardState, config: DisplayConfig) -> None:
        if not config.config_public_key:
            raise ValueError("the board needs config_public_key to check signed settings")
        super().__init__(bus, public_key=config.config_public_key,
                         state_path=Path(config.data_dir) / "applied-settings.json")
        self.board = board
        self.listen()

    def current(self) -> BoardSettings:
        b = self.board
        return BoardSettings(voice=b.speak, voice_en=b.english, announcement=b.default_announcement)

    def install(self, settings: BoardSettings) -> None:
        self.board.reconfigure(speak=settings.voice, english=settings.voice_en, announcement=settings.announcement)
