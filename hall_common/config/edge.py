"""The edge agent's configuration (``edge_agent/``): its link to the centre, printers,
queue, complaints, devices, and the edge settings the centre may push."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from hall_common.bus import contract

from .base import (BootstrapUser, ConsoleConfig, HttpConfig, Id, NodeConfig, PrivacyConfig, QueueService, RelPath,
                   Section, TimeZone, read_secret)
from .hours import HoursConfig


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


class ServiceConfig(QueueService):
    """One queue service (seed 000 clause 5.2) as the edge's queue numbers it."""

    priority_allowed: bool = Field(True, description="the kiosk offers a priority ticket (elderly, disabled, pregnant) for it")


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

    node: Id | None = Field("aed-01", description='the ESPHome cabinet node; "" (TOML has no None): no node')
    location: str = Field("服务大厅", max_length=64)
    door_pin: int | None = Field(None, ge=0, le=40, description="BCM pin of a reed switch on the edge Pi (closed = door shut)")

    @field_validator("node", mode="before")
    @classmethod
    def _no_node(cls, value: object) -> object:
        return None if value == "" else value
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

    env_prefix = "EDGE_"
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
