"""Configuration: one schema per part, read once at start, validated, then passed down.

Each part has a TOML file (``hall up`` writes them from the hall description; on a Pi they
live in ``/etc/service-hall/``) and an environment prefix that overrides any key, nested
keys joined by ``__``: ``KIOSK_BROKER__PORT=1884`` overrides ``[broker] port`` in the kiosk's
file. Relative paths in a file are relative to that file's folder.

A bad file stops the part at start with one line that names the file and the key::

    ConfigError: kiosk-01.toml: broker.port: Input should be a valid integer

Nothing else in the project reads ``os.environ`` for settings: :func:`load` does, once.
"""

from __future__ import annotations

import contextvars
import math
import os
import tomllib
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hall_common.bus import contract
from hall_common.bus.payloads import ID_PATTERN
from hall_common.disk import DEFAULT_MIN_FREE_MB
from hall_common.errors import ConfigError

_base_dir: contextvars.ContextVar[Path] = contextvars.ContextVar("config_base_dir", default=Path("."))


def _relative_to_file(value: Path) -> Path:
    return value if value.is_absolute() else (_base_dir.get() / value)


RelPath = Annotated[Path, AfterValidator(_relative_to_file)]
"""A path that, when relative, is taken from the folder of the file that names it."""

Id = Annotated[str, Field(pattern=ID_PATTERN)]


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Asia" is a folder of zones
        raise ValueError(f"unknown time zone {value[:64]!r}") from None
    return value


TimeZone = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time zone name this machine knows (``Asia/Shanghai``)."""


def read_secret(path: Path, key: str) -> str:
    """The secret kept in the file ``path`` names, read when it is used so that it never
    sits in a config dump or a log; a file that cannot be read is a :class:`ConfigError`
    naming the dotted ``key`` that points to it."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None


class Section(BaseModel):
    """A nested table of a configuration file: unknown keys are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(Section):
    """Where the hall broker is and how this node logs in (its user name is its node id)."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    password_file: RelPath
    keepalive: int = Field(30, ge=5, le=600)
    ca_file: RelPath | None = Field(None, description="the CA certificate that signed the broker's: set, the node "
                                                      "connects over TLS (port 8883 of `hall broker-config --tls`)")

    def password(self) -> str:
        """Read the password when connecting, so it never sits in a config dump or a log."""
        return read_secret(self.password_file, "broker.password_file")


class HttpConfig(Section):
    """The address a part's web server listens on."""

    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    threads: int = Field(8, ge=1, le=64)
    trusted_proxy: str | None = Field(
        None, min_length=1, description="the address of the TLS proxy in front (127.0.0.1 when on the same machine): "
                                        "its X-Forwarded-For and X-Forwarded-Proto are believed, so the login limits "
                                        "see each client's own address")


class BootstrapUser(Section):
    """The first console account, created at start if it does not exist yet."""

    username: str = Field(min_length=1, max_length=40)
    password_file: RelPath
    role: Literal["admin", "staff", "viewer"] = "admin"

    def password(self) -> str:
        return read_secret(self.password_file, "bootstrap_user.password_file")


class ConsoleConfig(Section):
    """How long a console login lasts and how its cookie travels: the staff console at the
    edge and the admin console at the centre (docs/reliability.md, Console sessions)."""

    idle_timeout_s: int = Field(30 * 60, ge=60, le=24 * 3600,
                                description="a login nobody has used for this long ends (staff: 30 min)")
    absolute_timeout_s: int = Field(12 * 3600, ge=300, le=7 * 24 * 3600,
                                    description="a login ends this long after it began, however much it is used (12 h)")
    public_url: str = Field("", pattern=r"^(https?://\S+)?$",
                            description="the address people open the console at; an https:// address marks the "
                                        "session cookie Secure on every answer, so a browser never sends it over plain "
                                        "HTTP (it is Secure on answers to HTTPS requests anyway)")

    @model_validator(mode="after")
    def _idle_within_lifetime(self) -> "ConsoleConfig":
        if self.idle_timeout_s > self.absolute_timeout_s:
            raise ValueError(f"idle_timeout_s {self.idle_timeout_s} is longer than absolute_timeout_s "
                             f"{self.absolute_timeout_s}: a login could never idle out")
        return self

    @property
    def https(self) -> bool:
        """The console is served over HTTPS (behind the TLS proxy of docs/install-pi.md)."""
        return self.public_url.startswith("https://")


class PartConfig(BaseSettings):
    """Settings every part has."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, env_nested_delimiter="__")

    data_dir: RelPath
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: RelPath | None = None
    log_keep_days: int = Field(30, ge=1, le=365, description="days of rotated log files kept beside log_file (one a day)")
    disk_min_free_mb: int = Field(
        DEFAULT_MIN_FREE_MB, ge=1, le=1_000_000,
        description="below this much free space in data_dir the part says its disk is full (screens, console, "
                    "hall doctor), before writes start failing")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file: a technician can override one key in a
        # systemd drop-in without editing the file.
        return (env_settings, init_settings)


class NodeConfig(PartConfig):
    """Settings of every part that sits on the hall bus."""

    hall_id: Id
    hall_name: str = Field(min_length=1, max_length=60)
    node_id: Id
    broker: BrokerConfig

    @field_validator("node_id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in contract.RESERVED_NODE_IDS:
            raise ValueError(f"{value!r} is reserved for hall-wide topics; choose another node id")
        return value


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


_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_CLOSE = r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class OpeningPeriod(Section):
    """The hall is open from ``open`` to ``close`` (local time) on each of ``days``."""

    days: list[Weekday] = Field(min_length=1)
    open: str = Field(pattern=_HHMM)
    close: str = Field(pattern=_CLOSE, description="24:00 for open until midnight")

    @model_validator(mode="after")
    def _open_before_close(self) -> "OpeningPeriod":
        if self.open >= self.close:
            raise ValueError(f"open {self.open} must be before close {self.close}")
        return self


class HoursConfig(Section):
    """Opening hours and what residents can do after them (seed 000 clause 4.7)."""

    timezone: TimeZone = "Asia/Shanghai"
    periods: list[OpeningPeriod] = Field(
        default_factory=lambda: [OpeningPeriod(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], open="08:30", close="18:00")]
    )
    holidays: Literal["cn", "none"] = Field(
        "cn", description="cn: closed on the State Council's statutory holidays and open on its 调休 working weekends "
                          "with working-day hours (hall_common/holidays.py); none: every day by its weekday")
    closed_dates: list[date] = Field(default_factory=list, description="more days the hall is closed (overrides)")
    open_dates: list[date] = Field(default_factory=list,
                                   description="days open with working-day hours although a holiday (overrides; a closed date wins)")
    after_hours_phone: str = Field("", max_length=30)
    online_channels: list[str] = Field(default_factory=list, max_length=6)


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


class KioskService(Section):
    """One queue service as the kiosks offer it: its names on the home and choice screens,
    whether a resident may ask for priority, and its ticket prefix and number range as the
    centre keeps them (the edge's queue numbers the tickets)."""

    id: Id
    name_zh: str = Field(min_length=1, max_length=16)
    name_en: str = Field(min_length=1, max_length=40)
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$")
    first: int = Field(1, ge=0, le=9998)
    last: int = Field(999, ge=1, le=9999)
    priority: bool = Field(True, description="a resident may ask for priority service (elderly, disabled, pregnant)")

    @model_validator(mode="after")
    def _range(self) -> "KioskService":
        if self.last <= self.first:
            raise ValueError(f"last ({self.last}) must be above first ({self.first})")
        return self


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

    model_config = SettingsConfigDict(env_prefix="KIOSK_")
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


class DisplayConfig(NodeConfig):
    """The now-serving board for the hall TV (``hall_display/``)."""

    model_config = SettingsConfigDict(env_prefix="DISPLAY_")
    http: HttpConfig
    voice: bool = Field(True, description="chime and a spoken call for every number called")
    voice_en: bool = Field(False, description="also call in English after Mandarin")
    announcement: str = Field("", max_length=200, description="scrolling line when the centre has published none")
    timezone: TimeZone = Field("Asia/Shanghai", description="the clock on the board")
    config_public_key: str | None = Field(None, description="the centre's key for signed board settings (base64)")


class CentreLink(Section):
    """How the edge agent reaches the central server."""

    url: str = Field(pattern=r"^https?://")
    timeout: float = Field(5.0, gt=0, le=60)
    token_file: RelPath | None = Field(None, description="this node's credential from `hall provision` (mode 600)")
    batch_size: int = Field(200, ge=1, le=500)
    status_every_s: float = Field(30.0, ge=1, le=600, description="how often the hall's status goes to the centre's "
                                  "fleet view when nothing changed (a change goes at once)")

    def token(self) -> str | None:
        return None if self.token_file is None else read_secret(self.token_file, "centre.token_file")


class RosterConfig(Section):
    """The hall broker's logins, kept by the edge (edge_agent/roster.py): the centre's roster
    of enrolled nodes plus ``local_file`` (the hall's own tools: ``hall doctor``, Home
    Assistant, ESPHome nodes), written together to ``password_file``, then mosquitto told to
    read it again (SIGHUP to the pid in ``pid_file``; on a Pi, where the edge may not signal
    mosquitto, mosquitto-hall-passwd.path reloads it when the file changes)."""

    password_file: RelPath = Field(description="the broker's password file, rewritten whole (mosquitto.conf's password_file)")
    local_file: RelPath | None = Field(None, description="logins kept beside the centre's roster (mosquitto_passwd format)")
    pid_file: RelPath | None = Field(None, description="mosquitto's pid: SIGHUP after each change")
    every_s: float = Field(60.0, ge=1, le=3600, description="how often the roster is fetched from the centre")


class PrinterConfig(Section):
    """One ESC/POS printer of the hall: how to reach it, which model it is, whom it serves.

    Exactly one of ``host`` (network, TCP 9100), ``usb`` (``"vid:pid"`` in hex) or
    ``serial`` (a device such as ``/dev/ttyUSB0``) says how it is connected. ``profile``
    names a file in ``firmware_configs/printers/`` (paper width, GB18030 text or bitmap
    mode); ``serves`` lists the nodes whose jobs it takes (empty: every node), so a
    kiosk's jobs can move to another printer that serves it when its own runs out of paper.
    """

    id: Id
    profile: str = Field("gp-80250", pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    host: str | None = None
    port: int = Field(9100, ge=1, le=65535)
    usb: str | None = Field(None, pattern=r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$")
    serial: str | None = None
    baudrate: int = Field(9600, ge=1200, le=921600)
    timeout: float = Field(2.0, gt=0, le=30, description="seconds, not python-escpos's 60 s default")
    serves: list[Id] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        if value in contract.RESERVED_DEVICE_IDS or value == "centre":
            raise ValueError(f"{value!r} is reserved; choose another printer id")
        return value

    @model_validator(mode="after")
    def _one_connection(self) -> "PrinterConfig":
        given = [name for name in ("host", "usb", "serial") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of host, usb or serial (got {', '.join(given) or 'none'})")
        return self

    @property
    def address(self) -> str:
        """Where the printer is, for logs and the staff console."""
        if self.host:
            return f"{self.host}:{self.port}"
        return f"usb {self.usb}" if self.usb else f"serial {self.serial}"

    def serves_node(self, node: str) -> bool:
        return not self.serves or node in self.serves


class PrintingConfig(Section):
    """How the edge prints: poll interval, retries, and the hall's own ticket templates."""

    templates_file: RelPath | None = Field(None, description="a templates.toml replacing the defaults")
    poll_s: float = Field(3.0, ge=0.2, le=60, description="how often an idle printer is asked its status")
    retries: int = Field(2, ge=0, le=5, description="new attempts on one printer after a transient fault")
    keep_days: int = Field(30, ge=1, le=365, description="how long finished jobs stay for reprints")
    timezone: TimeZone = Field("Asia/Shanghai", description="for the time printed on tickets")


class ServiceConfig(Section):
    """One queue service (seed 000 clause 5.2), its ticket prefix and number range."""

    id: Id
    name_zh: str = Field(min_length=1, max_length=16)
    name_en: str = Field(min_length=1, max_length=40)
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$")
    first: int = Field(1, ge=0, le=9998)
    last: int = Field(999, ge=1, le=9999)
    priority_allowed: bool = Field(True, description="the kiosk offers a priority ticket (elderly, disabled, pregnant) for it")

    @model_validator(mode="after")
    def _range(self) -> "ServiceConfig":
        if self.last <= self.first:
            raise ValueError(f"last ({self.last}) must be above first ({self.first})")
        return self


class CounterConfig(Section):
    """A service counter (窗口): which services it serves and which devices may call for it."""

    id: Id
    name: str = Field(min_length=1, max_length=16, description="what the board and the voice say, e.g. 3")
    services: list[Id] = Field(min_length=1)
    callers: list[Id] = Field(default_factory=list, description="nodes whose call-next button works this counter")
    button_pin: int | None = Field(None, ge=2, le=27, description="BCM pin of a call-next button on the edge Pi")


def _default_services() -> list[ServiceConfig]:
    return [ServiceConfig(id=i, name_zh=zh, name_en=en, prefix=p) for i, zh, en, p in (
        ("procedures", "手续办理", "Procedures", "A"), ("certificates", "证明开具", "Certificates", "B"),
        ("consult", "业务咨询", "Enquiries", "C"), ("repair", "报事报修", "Repairs", "D"),
        ("complaint", "投诉建议", "Complaints", "E"), ("payment", "费用缴纳", "Payments", "F"),
        ("other", "其他", "Other", "G"))]


class QueueConfig(Section):
    """The hall's queue: services, counters, the priority rule, the service day."""

    services: list[ServiceConfig] = Field(default_factory=_default_services, min_length=1)
    counters: list[CounterConfig] = Field(default_factory=list)
    priority_per_normal: int = Field(2, ge=0, le=10, description="priority tickets called at most in a row while others wait")
    recalls_before_no_show: int = Field(2, ge=0, le=10)
    rollover: str = Field("04:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="local time a new service day starts")
    default_service_s: int = Field(300, ge=30, le=3600, description="assumed service time before any is measured")
    hours: HoursConfig = Field(default_factory=HoursConfig)

    @model_validator(mode="after")
    def _consistent(self) -> "QueueConfig":
        ids = [s.id for s in self.services]
        prefixes = [s.prefix for s in self.services]
        for what, values in (("service id", ids), ("prefix", prefixes), ("counter id", [c.id for c in self.counters])):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"{what} {twice[0]!r} is used twice")
        pins = [c.button_pin for c in self.counters if c.button_pin is not None]
        if len(pins) != len(set(pins)):
            raise ValueError("two counters' buttons are on the same pin")
        for c in self.counters:
            unknown = sorted(set(c.services) - set(ids))
            if unknown:
                raise ValueError(f"counter {c.id!r} serves unknown service {unknown[0]!r}")
        return self


class ComplaintCategory(Section):
    id: Id
    name_zh: str = Field(min_length=1, max_length=16)
    name_en: str = Field(min_length=1, max_length=40)
    phrases: list[str] = Field(default_factory=list, max_length=12, description="one-tap common phrases")


def _default_categories() -> list[ComplaintCategory]:
    return [ComplaintCategory(id=i, name_zh=zh, name_en=en, phrases=phrases.split()) for i, zh, en, phrases in (
        ("cleaning", "环境卫生", "Environment and cleaning", "楼道垃圾没有及时清理 公共区域有异味 绿化带杂物多 请加强保洁"),
        ("security", "安全秩序", "Security", "陌生人进入小区 门禁坏了 夜间巡逻不到位 消防通道被占用"),
        ("parking", "停车管理", "Parking", "车位被占用 乱停车堵路 道闸故障 车库灯不亮"),
        ("noise", "噪音扰民", "Noise", "夜间装修噪音 楼上噪音大 广场舞音量太大 设备噪音扰民"),
        ("facilities", "公共设施", "Facilities", "路灯不亮 单元门坏了 健身器材损坏 楼道灯不亮"),
        ("elevator", "电梯", "Elevator", "电梯困人 电梯经常故障 电梯有异响 电梯按钮失灵"),
        ("water_power", "水电", "Water and power", "家里漏水 水管破裂 停水 公共区域停电 水压太低"),
        ("neighbours", "邻里关系", "Neighbours", "楼上漏水到我家 宠物扰民 占用公共空间 高空抛物"),
        ("staff", "服务态度", "Staff attitude", "服务态度差 办事拖延 解释不清楚 工作人员很负责"),
        ("fees", "收费", "Fees", "物业费有疑问 收费标准不清楚 需要开发票 多收了费用"),
        ("other", "其他", "Other", "请尽快处理 希望给个答复"))]


class PlacesConfig(Section):
    """Where a request is about, picked on the kiosk: a building and unit, a public area, or
    the resident's own home."""

    buildings: list[str] = Field(default_factory=lambda: [f"{i}栋" for i in range(1, 9)], min_length=1, max_length=60)
    units: list[str] = Field(default_factory=lambda: ["1单元", "2单元", "3单元"], max_length=12)
    public_areas: list[str] = Field(default_factory=lambda: [
        "小区大门", "地下车库", "电梯厅", "楼道", "绿化带", "儿童游乐区", "垃圾站", "健身区", "会所", "围墙周边"],
        max_length=30)

    @field_validator("buildings", "units", "public_areas")
    @classmethod
    def _short_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not 1 <= len(name.strip()) <= 16:
                raise ValueError(f"{name!r}: a place name is 1 to 16 characters")
        if len(set(value)) != len(value):
            raise ValueError("names must be unique")
        return value


class ComplaintsConfig(Section):
    """How the hall takes residents' requests (seeds 002, 003 section 二)."""

    hall_code: str = Field("000", pattern=r"^\d{3}$", description="this hall's code in tracking numbers (unique in the company)")
    categories: list[ComplaintCategory] = Field(default_factory=_default_categories, min_length=1)
    places: PlacesConfig = Field(default_factory=PlacesConfig)
    wanted_phrases: list[str] = Field(default_factory=lambda: ["尽快上门维修", "请给我回个电话", "请尽快处理",
                                                               "希望给个答复", "加强日常管理"], max_length=12,
                                      description="one-tap phrases for the outcome the resident wants")
    hours: HoursConfig = Field(default_factory=HoursConfig, description="working hours and holidays for the 1-hour commitment")
    feedback_within_s: int = Field(3600, ge=600, le=86400, description="first feedback, in working time")
    repeat_days: int = Field(30, ge=1, le=365)
    opened: date = Field(date(2000, 1, 1), description="the day the hall opened: a request cannot have happened "
                                                       "before it (发生时间); set it to the hall's own day")
    follow_url: str = Field("", pattern=r"^(https?://\S+)?$",
                            description="the edge's address on the hall network, as the kiosks' follow_url: the QR "
                                        "code of a receipt printed at the counter opens {follow_url}/t/{number}")


class PrivacyConfig(Section):
    """How long residents' personal data is kept (PIPL arts. 17, 19 and 47; seed 003 (七)).

    ``keep_years`` is what the kiosk's consent line tells a resident; the daily retention
    job (``edge_agent/retention.py``, ``central_sync/server/retention.py``) erases names,
    phones, rooms and free text of records closed longer ago than that."""

    keep_years: int = Field(3, ge=1, le=30, description="years a closed record's personal data is kept (told to the resident)")


class Limit(Section):
    """The acceptable range of one environment reading (seed 000 clause 4.6.3). A reading
    outside ``[low, high]`` for ``min_duration_s`` raises the alarm; it clears once back
    inside the range by ``hysteresis`` for as long, so a value hovering at the edge does
    not make the alarm flap."""

    low: float | None = None
    high: float | None = None
    hysteresis: float = Field(0.0, ge=0)
    severity: Literal["critical", "major", "minor", "warning"] = "minor"
    unit: str = Field("", max_length=8)
    label: str = Field("", max_length=32, description="Chinese name shown to staff, e.g. 温度")

    @model_validator(mode="after")
    def _a_range(self) -> "Limit":
        if self.low is None and self.high is None:
            raise ValueError("a limit needs low, high or both")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        return self


def _default_limits() -> dict[str, Limit]:
    return {
        "temperature": Limit(low=18, high=26, hysteresis=0.5, unit="°C", label="温度"),
        "humidity": Limit(low=30, high=70, hysteresis=2, unit="%", label="相对湿度"),
        "co2": Limit(high=1000, hysteresis=50, unit="ppm", label="二氧化碳"),
        "illuminance": Limit(low=300, hysteresis=20, unit="lx", label="照度"),
        "noise": Limit(high=55, hysteresis=2, unit="dBA", label="噪声"),
    }


class DeviceInfo(Section):
    """What the registry should know of a device that does not say it itself (ESPHome
    nodes, GPIO inputs): its model, where it is, and how often it reports."""

    id: Id
    kind: Literal["env_node", "aed_node", "first_aid_box", "convenience_box", "gpio", "printer", "kiosk", "display", "other"]
    model: str = Field("", max_length=64)
    location: str = Field("", max_length=64)
    expected_interval_s: float | None = Field(None, gt=0, description="silent longer than this (x3): stale")


class EnvironmentConfig(Section):
    """Environment monitoring of the hall (seed 000 clause 4.6.3): limits per reading, how
    long a reading must stay out before an alarm, and how long readings are kept."""

    limits: dict[str, Limit] = Field(default_factory=_default_limits)
    min_duration_s: float = Field(60.0, ge=0, le=3600)
    store_every_s: float = Field(5.0, ge=0, le=600, description="at most one stored reading per series this often (every reading is judged)")
    downsample_s: int = Field(300, ge=10, le=3600, description="readings older than keep_raw_days become averages over this")
    keep_raw_days: int = Field(7, ge=1, le=90)
    keep_days: int = Field(365, ge=7, le=3650)


class AedConfig(Section):
    """The AED cabinet (seed 000 clause 4.4): which node reports its door, temperature and
    the AED's self-test, or the edge Pi's GPIO pin wired to its door reed switch."""

    node: Id | None = Field("aed-01", description="the ESPHome cabinet node; None: no node")
    location: str = Field("服务大厅", max_length=64)
    door_pin: int | None = Field(None, ge=0, le=40, description="BCM pin of a reed switch on the edge Pi (closed = door shut)")
    temp_low: float = 0.0
    temp_high: float = 50.0
    self_test_window_h: float = Field(26.0, gt=0, le=24 * 8, description="an alarm when no self-test result arrives in this long")


class HardwareConfig(Section):
    """The edge Pi's own pins: a buzzer or beacon for critical alarms."""

    gpio: Literal["native", "mock"] = Field("native", description="mock: gpiozero's MockFactory (a workstation, hall up, tests)")
    buzzer_pin: int | None = Field(None, ge=0, le=40, description="BCM pin of a buzzer or beacon that sounds until a critical alarm is acknowledged")


class FirstAidConfig(Section):
    """The first-aid box and the convenience box (seed 000 clauses 4.4.5, 4.4.6)."""

    reminder_days: list[int] = Field(default_factory=lambda: [30, 7], description="days before expiry a reminder is raised")


class RegistersConfig(Section):
    """The front desk's registers (``edge_agent/registers/``, docs/front-desk.md): renovations,
    keys, parcels, lost and found, goods release (seed 001 sections 十一, 十四, 十五, 十八;
    seed 003 (三))."""

    renovation_remind_days: int = Field(3, ge=0, le=30, description="days before a renovation's end date its reminder is raised")
    inspection_every_days: int = Field(7, ge=1, le=60, description="a renovation under way is due an inspection this long after its last")
    photo_max_kb: int = Field(8192, ge=100, le=20480, description="largest photo of a found item taken (it is kept shrunk, without its metadata)")


class EdgeConfig(NodeConfig):
    """The hall's one writer of hall-wide state (``edge_agent/``), with the staff console."""

    model_config = SettingsConfigDict(env_prefix="EDGE_")
    http: HttpConfig
    centre: CentreLink | None = None
    bootstrap_user: BootstrapUser | None = None
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    printers: list[PrinterConfig] = Field(default_factory=list)
    printing: PrintingConfig = Field(default_factory=PrintingConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    complaints: ComplaintsConfig = Field(default_factory=ComplaintsConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    stale_after: float = Field(90.0, gt=0, description="seconds of silence before a node is stale")
    devices: list[DeviceInfo] = Field(default_factory=list)
    environment: EnvironmentConfig = Field(default_factory=EnvironmentConfig)
    aed: AedConfig = Field(default_factory=AedConfig)
    first_aid: FirstAidConfig = Field(default_factory=FirstAidConfig)
    registers: RegistersConfig = Field(default_factory=RegistersConfig)
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)
    roster: RosterConfig | None = Field(None, description="keep the broker's logins from the centre's roster (enrolment)")
    config_public_key: str | None = Field(None, description="the centre's key for signed edge settings (base64)")

    @field_validator("node_id")
    @classmethod
    def _is_edge(cls, value: str) -> str:
        if value != contract.EDGE_NODE:
            raise ValueError(f"the edge agent's node id must be {contract.EDGE_NODE!r} (the ACL grants that user)")
        return value

    @field_validator("printers")
    @classmethod
    def _unique_printers(cls, value: list[PrinterConfig]) -> list[PrinterConfig]:
        ids = [p.id for p in value]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"printer id {twice[0]!r} is used twice")
        return value


class SensorSimConfig(NodeConfig):
    """A simulated ESPHome node (``simulators/``): the environment node or the AED cabinet."""

    model_config = SettingsConfigDict(env_prefix="SIM_")
    interval: float = Field(5.0, gt=0, le=3600)
    control_port: int | None = Field(None, ge=0, le=65535, description="HTTP port to tell it what to do (raise CO2, open the door, go silent)")


class DoctorConfig(NodeConfig):
    """``hall doctor``'s own login on the bus (node ``doctor``), so it never takes the edge
    agent's place on the broker."""

    model_config = SettingsConfigDict(env_prefix="DOCTOR_")


class WeChatPayConfig(Section):
    """A merchant's WeChat Pay APIv3 credentials (Native payment). The files hold secrets and
    are read at start; the platform key verifies what WeChat sends (notifications, replies)."""

    mchid: str = Field(pattern=r"^\d{8,12}$")
    appid: str = Field(pattern=r"^wx[0-9a-f]{16}$")
    serial: str = Field(pattern=r"^[0-9A-Fa-f]{8,64}$", description="the merchant API certificate's serial number")
    private_key_file: RelPath = Field(description="the merchant API private key (apiclient_key.pem)")
    platform_serial: str = Field(min_length=8, max_length=64, description="Wechatpay-Serial of the platform key below")
    platform_key_file: RelPath = Field(description="the WeChat Pay platform certificate or public key (PEM)")
    apiv3_key_file: RelPath = Field(description="the 32-byte APIv3 key that encrypts notification resources")
    api_base: str = Field("https://api.mch.weixin.qq.com", pattern=r"^https?://")


class AlipayConfig(Section):
    """A merchant's Alipay 当面付 credentials (open platform app, RSA2 keys). The files are
    read at start; Alipay's public key verifies what Alipay sends (notifications, replies)."""

    app_id: str = Field(pattern=r"^\d{16}$")
    seller_id: str = Field(pattern=r"^2088\d{12}$", description="the merchant's PID; notifications for another are refused")
    app_private_key_file: RelPath = Field(description="the app's RSA2 private key (PEM) that signs requests")
    alipay_public_key_file: RelPath = Field(description="Alipay's public key (PEM, 支付宝公钥)")
    gateway: str = Field("https://openapi.alipay.com/gateway.do", pattern=r"^https?://")


class PaymentsConfig(Section):
    """Payment orders at the centre (``central_sync/server/payments``)."""

    provider: Literal["sandbox", "wechat", "alipay"] = "sandbox"
    order_ttl_s: int = Field(300, ge=60, le=7200)
    sweep_s: float = Field(30.0, ge=0, le=3600, description="how often expired orders are closed; 0 = never")
    notify_base_url: str | None = Field(
        None, pattern=r"^https?://",
        description="the centre's public URL; notifications go to <it>/api/v1/payments/notify/<provider>. "
                    "Unset: the URL the hall reached the centre by (fine for the sandbox, not for WeChat)")
    wechat: WeChatPayConfig | None = None
    providers: list[Literal["sandbox", "wechat", "alipay"]] | None = Field(
        None, description="every wallet offered (an order names one; the first is the default). Unset: [provider], "
                          "and with the sandbox [\"sandbox\", \"alipay\"] (the sandbox answers in both shapes)")
    alipay: AlipayConfig | None = None

    @model_validator(mode="after")
    def _each_wallet_needs_its_keys(self) -> "PaymentsConfig":
        if self.providers and "provider" not in self.model_fields_set:
            object.__setattr__(self, "provider", self.providers[0])  # frozen: set once, while validating
        if self.providers is None:
            object.__setattr__(self, "providers", ["sandbox", "alipay"] if self.provider == "sandbox" else [self.provider])
        if not self.providers or len(set(self.providers)) != len(self.providers):
            raise ValueError("providers: name each wallet once")
        sandbox = "sandbox" in self.providers or self.provider == "sandbox"
        if sandbox and not (self.provider == "sandbox" and set(self.providers) <= {"sandbox", "alipay"}):
            raise ValueError('providers: the sandbox cannot be mixed with real wallets (provider = "sandbox" '
                             'stands in for both WeChat and Alipay)')
        if self.provider not in self.providers:
            object.__setattr__(self, "providers", [self.provider, *self.providers])
        if self.provider == "sandbox":
            return self  # its Alipay is the sandbox's too
        if "alipay" in self.providers:
            if self.alipay is None:
                raise ValueError("provider 'alipay' needs a [payments.alipay] section")
            if self.notify_base_url is None or not self.notify_base_url.startswith("https://"):
                raise ValueError("provider 'alipay' needs notify_base_url, an https:// URL Alipay can reach")
            for name in ("app_private_key_file", "alipay_public_key_file"):
                if not getattr(self.alipay, name).is_file():
                    raise ValueError(f"alipay.{name}: no such file {getattr(self.alipay, name)}")
        if "wechat" in self.providers:
            if self.wechat is None:
                raise ValueError("provider 'wechat' needs a [payments.wechat] section")
            if self.notify_base_url is None or not self.notify_base_url.startswith("https://"):
                raise ValueError("provider 'wechat' needs notify_base_url, an https:// URL WeChat Pay can reach")
            for name in ("private_key_file", "platform_key_file", "apiv3_key_file"):
                if not getattr(self.wechat, name).is_file():
                    raise ValueError(f"wechat.{name}: no such file {getattr(self.wechat, name)}")
        return self


class CentralConfig(PartConfig):
    """The central server (``central_sync/``): many halls sync to it."""

    model_config = SettingsConfigDict(env_prefix="CENTRAL_")
    http: HttpConfig
    database_url: str = Field(
        pattern=r"^(sqlite:///|postgresql://)",
        description="sqlite:///path/to/central.db, or postgresql://user@host/db for production",
    )
    bootstrap_user: BootstrapUser | None = None
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    demo: bool = Field(False, description="a demonstration centre (what `hall up` runs): only here may the payment "
                                          "sandbox, which marks orders paid without money, be the provider")
    max_batch_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    signing_key_file: RelPath | None = Field(None, description="Ed25519 key that signs kiosk configuration (made if missing)")
    config_valid_days: int = Field(30, ge=1, le=365)
    payments: PaymentsConfig = Field(default_factory=PaymentsConfig, validate_default=True)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    fleet_offline_after_s: float = Field(90.0, ge=5, le=3600, description="the fleet view shows a hall offline when "
                                         "it has not been heard from in this long (three of its status heartbeats)")

    @field_validator("bootstrap_user")
    @classmethod
    def _first_account_is_an_admin(cls, value: BootstrapUser | None) -> BootstrapUser | None:
        # The centre's roles are admin, manager and auditor (docs/roles.md); staff and viewer are
        # the hall console's. A first account of any other role could never add the admin.
        if value is not None and value.role != "admin":
            raise ValueError(f'role "{value.role}" is a hall console role: the centre\'s first account is an '
                             '"admin", who then adds managers and auditors (docs/roles.md)')
        return value

    @field_validator("payments")
    @classmethod
    def _sandbox_only_in_demo(cls, value: PaymentsConfig, info: ValidationInfo) -> PaymentsConfig:
        # Its pay pages (/sandbox/pay/) let anyone who reaches the centre mark an order paid.
        if value.provider == "sandbox" and not info.data.get("demo"):
            raise ValueError('provider "sandbox" takes no money and its pay pages mark any order paid: it runs only '
                             'in a demo centre (demo = true, as `hall up` writes). In production set provider = '
                             '"wechat" with a [payments.wechat] section (docs/payments.md)')
        return value

    @field_validator("database_url")
    @classmethod
    def _absolute_sqlite_path(cls, value: str) -> str:
        # Resolved now, while the folder of the file that names it is known.
        if value.startswith("sqlite:///"):
            return "sqlite:///" + str(_relative_to_file(Path(value.removeprefix("sqlite:///"))))
        return value

    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


class EdgeServiceSettings(Section):
    """One queue service's settings the centre may change: its names, ticket prefix, number
    range and whether it takes priority tickets (the service itself, and the counters that
    serve it, are the hall's). Left out (None): the hall's own value. The kiosk settings
    form is where they are edited; the centre derives this from ``KioskService``
    (``central_sync/server/edge_services.py``)."""

    id: Id
    priority_allowed: bool | None = None
    name_zh: str | None = Field(None, min_length=1, max_length=16)
    name_en: str | None = Field(None, min_length=1, max_length=40)
    prefix: str | None = Field(None, pattern=r"^[A-Z]{1,2}$")
    first: int | None = Field(None, ge=0, le=9998)
    last: int | None = Field(None, ge=1, le=9999)

    @model_validator(mode="after")
    def _range(self) -> "EdgeServiceSettings":
        if self.first is not None and self.last is not None and self.last <= self.first:
            raise ValueError(f"last ({self.last}) must be above first ({self.first})")
        return self


class EdgeSettings(Section):
    """What the centre may push to a hall's edge, signed like kiosk settings
    (``edge_agent/settings_apply.py``): the queue's priority rule, its opening hours and its
    services' names, prefixes, number ranges and priority. Left out (None, empty): the
    hall's own value."""

    services: list[EdgeServiceSettings] = Field(default_factory=list, max_length=40)
    priority_per_normal: int | None = Field(None, ge=0, le=10, description="priority tickets called at most in a row")
    hours: HoursConfig | None = Field(None, description="the queue's opening hours")

    @field_validator("services")
    @classmethod
    def _once(cls, value: list[EdgeServiceSettings]) -> list[EdgeServiceSettings]:
        for what, values in (("service id", [s.id for s in value]),
                             ("prefix", [s.prefix for s in value if s.prefix is not None])):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"{what} {twice[0]!r} is listed twice")
        return value


class BoardSettings(Section):
    """What the centre may push to a hall's now-serving board (``hall_display/settings_apply.py``)."""

    voice: bool = Field(True, description="chime and a spoken call for every number called")
    voice_en: bool = Field(False, description="also call in English after Mandarin")
    announcement: str = Field("", max_length=200, description="scrolling line when the centre has published none")


C = TypeVar("C", bound=PartConfig)


def load(schema: type[C], path: str | os.PathLike[str]) -> C:
    """Read ``path`` (TOML), apply environment overrides and validate against ``schema``.

    Raises :class:`ConfigError` naming the file (or the environment variable) and the key.
    """
    path = Path(path)
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    prefix = schema.model_config.get("env_prefix", "")
    token = _base_dir.set(path.parent.resolve())
    try:
        return schema(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(x) for x in first["loc"])
        env_name = (prefix + "__".join(str(x) for x in first["loc"])).upper()
        where = f"{env_name} (environment)" if env_name in {k.upper() for k in os.environ} else str(path)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}: {key}: {first['msg']}{more}") from None
    finally:
        _base_dir.reset(token)
