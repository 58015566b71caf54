"""The kiosk's configuration (``kiosk/``): its settings the centre may push, its camera."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import HttpConfig, Id, NodeConfig, QueueService, RelPath, Section
from .hours import HoursConfig


class PanelConfig(Section):
    """The touchscreen's real size, so touch targets can be sized in millimetres."""

    diagonal_in: float = Field(15.6, ge=7, le=65)
    width_px: int = Field(1920, ge=480, le=7680)
    height_px: int = Field(1080, ge=480, le=7680)

    def px_per_mm(self) -> float:
        return math.hypot(self.width_px, self.height_px) / (self.diagonal_in * 25.4)

    def touch_px(self, mm: float) -> int:
        """CSS pixels for a target ``mm`` wide on this panel, never under 60."""
        return max(60, round(mm * self.px_per_mm()))


class ConvenienceService(Section):
    """One self-service convenience of the hall (seed 000 clause 5.2.6)."""

    name_zh: str = Field(min_length=1, max_length=20)
    name_en: str = Field(min_length=1, max_length=40)
    available: bool = True
    hours: str = Field("", max_length=30, description="shown as is, e.g. 08:30-18:00; empty: whenever the hall is open")


class HallInfo(Section):
    """What the hall information screen shows: phones, address, conveniences."""

    address: str = Field("", max_length=80)
    service_phone: str = Field(min_length=3, max_length=30)
    complaint_phone: str = Field(min_length=3, max_length=30)
    supervision_phone: str = Field("", max_length=30, description="the housing authority's supervision line")
    duty_phone: str = Field("", max_length=30, description="24-hour duty line for emergencies")
    conveniences: list[ConvenienceService] = Field(default_factory=list, max_length=12)


class IdleConfig(Section):
    """When a kiosk session ends by itself (the next resident must see nothing of it)."""

    form_s: int = Field(90, ge=15, le=600)
    result_s: int = Field(20, ge=5, le=300)
    countdown_s: int = Field(30, ge=5, le=60)


class CameraConfig(Section):
    """The kiosk's QR camera (DESIGN: OpenCV + pyzbar): ``none``, a real camera
    (``opencv``: a V4L2 index such as 0, a device path or a video file), or ``images``, the
    simulator that reads the newest PNG/JPEG dropped in ``images_dir`` (``hall up``, tests)."""

    kind: Literal["none", "opencv", "images"] = "none"
    device: int | str = Field(0, description="camera index, /dev/video* path or video file (opencv)")
    images_dir: str = Field("", description="folder whose newest image is 'held up' to the camera (images)")
    scan_s: float = Field(8, ge=1, le=30, description="how long one tap of the scan button looks for a code")

    @field_validator("device")
    @classmethod
    def _index_or_path(cls, value: int | str) -> int | str:
        # An environment override is always a string: "0" means camera 0, not a file named 0.
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("give a camera index (0) or a device path")
            if value.strip().isdigit():
                return int(value)
        elif value < 0:
            raise ValueError("a camera index is 0 or more")
        return value

    @model_validator(mode="after")
    def _images_need_a_folder(self) -> "CameraConfig":
        if self.kind == "images" and not self.images_dir.strip():
            raise ValueError("kind 'images' needs images_dir (the folder receipts' QR images are dropped in)")
        return self


class KioskService(QueueService):
    """One queue service as the kiosks offer it: its names on the home and choice screens,
    whether a resident may ask for priority, and its ticket prefix and number range as the
    centre keeps them (the edge's queue numbers the tickets)."""

    priority: bool = Field(True, description="a resident may ask for priority service (elderly, disabled, pregnant)")


class KioskSettings(Section):
    """What a kiosk shows and how: the part of its configuration the centre may push."""

    info: HallInfo
    hours: HoursConfig = Field(default_factory=HoursConfig)
    idle: IdleConfig = Field(default_factory=IdleConfig)
    panel: PanelConfig = Field(default_factory=PanelConfig)
    languages: list[Literal["zh_CN", "en"]] = Field(default_factory=lambda: ["zh_CN", "en"], min_length=1)
    voice: bool = True
    printer: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="the printer that prints this kiosk's tickets")
    blank_when_closed: bool = Field(True, description="turn the screen off outside opening hours")
    services: list[KioskService] = Field(default_factory=list, max_length=20,
                                         description="the queue's services as offered here; empty: as the edge names them")

    @model_validator(mode="after")
    def _services_distinct(self) -> "KioskSettings":
        for what, values in (("service id", [s.id for s in self.services]), ("prefix", [s.prefix for s in self.services])):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"{what} {twice[0]!r} is used twice")
        return self


class KioskConfig(NodeConfig):
    """The resident-facing touchscreen (``kiosk/``)."""

    env_prefix = "KIOSK_"
    http: HttpConfig
    settings: KioskSettings
    config_public_key: str | None = Field(None, description="the centre's key for signed configuration (base64)")
    follow_url: str = Field("", pattern=r"^(https?://\S+)?$",
                            description="the edge's address on the hall network; ticket QR codes open {follow_url}/q/{id}")
    # Here, not in KioskSettings: the camera is this box's hardware, and a configuration the
    # centre pushes replaces the settings whole.
    camera: CameraConfig = Field(default_factory=CameraConfig)
    ime_index: RelPath | None = Field(None, description="the pinyin keyboard's index, built at set-up "
                                      "(`python -m kiosk.ime_build --path`); default: kiosk/ime_words.sqlite")
