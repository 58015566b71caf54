"""The now-serving board's configuration (``hall_display/``) and the settings the centre may push to it."""

from __future__ import annotations

from pydantic import Field

from .base import HttpConfig, NodeConfig, Section, TimeZone


class DisplayConfig(NodeConfig):
    """The now-serving board for the hall TV (``hall_display/``)."""

    env_prefix = "DISPLAY_"
    http: HttpConfig
    voice: bool = Field(True, description="chime and a spoken call for every number called")
    voice_en: bool = Field(False, description="also call in English after Mandarin")
    announcement: str = Field("", max_length=200, description="scrolling line when the centre has published none")
    timezone: TimeZone = Field("Asia/Shanghai", description="the clock on the board")
    config_public_key: str | None = Field(None, description="the centre's key for signed board settings (base64)")


class BoardSettings(Section):
    """What the centre may push to a hall's now-serving board (``hall_display/settings_apply.py``)."""

    voice: bool = Field(True, description="chime and a spoken call for every number called")
    voice_en: bool = Field(False, description="also call in English after Mandarin")
    announcement: str = Field("", max_length=200, description="scrolling line when the centre has published none")
