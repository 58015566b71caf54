"""What every part's configuration shares: the file and environment loader, the broker,
HTTP and console sections, paths relative to the file, and the part/node base schemas.

Each part's own schema lives in its own module of this package (``kiosk``, ``display``,
``edge``, ``central``, ``tools``), so a part loads and validates only its own; see the
package's docstring for how files and environment overrides are read.
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hall_common.bus import contract
from hall_common.bus.payloads import ID_PATTERN
from hall_common.disk import DEFAULT_MIN_FREE_MB
from hall_common.errors import ConfigError


_base_dir: contextvars.ContextVar[Path] = contextvars.ContextVar("config_base_dir", default=Path("."))


def relative_to_file(value: Path) -> Path:
    return value if value.is_absolute() else (_base_dir.get() / value)


RelPath = Annotated[Path, AfterValidator(relative_to_file)]
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


class QueueService(Section):
    """One queue service (seed 000 clause 5.2) as every part names it: its names on the
    kiosk's screens, its ticket prefix and its number range. The edge's ``ServiceConfig``
    and the kiosk's ``KioskService`` add only their own word for whether priority is
    offered (their keys are pushed to halls under those names)."""

    id: Id
    name_zh: str = Field(min_length=1, max_length=16)
    name_en: str = Field(min_length=1, max_length=40)
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$")
    first: int = Field(1, ge=0, le=9998)
    last: int = Field(999, ge=1, le=9999)

    @model_validator(mode="after")
    def _range(self) -> "QueueService":
        if self.last <= self.first:
            raise ValueError(f"last ({self.last}) must be above first ({self.first})")
        return self


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


class PartConfig(BaseModel):
    """Settings every part has.

    Environment variables named ``{env_prefix}{KEY}`` (nested keys joined by ``__``,
    any case) override the file's keys, read by pydantic-settings' own environment
    source. That library, with the asyncio, argparse and python-dotenv it imports, costs
    a part about 5 MB for its whole life (issue 20), so it is imported only when the
    environment holds a variable with the part's prefix: a hall without overrides never
    loads it, and one with them gets exactly pydantic-settings' parsing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
    env_prefix: ClassVar[str] = ""
    """The environment variables' prefix for this part (``KIOSK_``)."""

    data_dir: RelPath
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: RelPath | None = None
    log_keep_days: int = Field(30, ge=1, le=365, description="days of rotated log files kept beside log_file (one a day)")
    disk_min_free_mb: int = Field(
        DEFAULT_MIN_FREE_MB, ge=1, le=1_000_000,
        description="below this much free space in data_dir the part says its disk is full (screens, console, "
                    "hall doctor), before writes start failing")

    @model_validator(mode="before")
    @classmethod
    def _environment_wins(cls, data: Any) -> Any:
        # The environment wins over the file: a technician can override one key in a
        # systemd drop-in without editing the file.
        if not isinstance(data, dict) or not _has_overrides(cls.env_prefix):
            return data
        from pydantic_settings import EnvSettingsSource

        found = EnvSettingsSource(cls, case_sensitive=False, env_prefix=cls.env_prefix,  # type: ignore[arg-type]
                                  env_nested_delimiter="__")()
        return _deep_update(data, found)


def _has_overrides(prefix: str) -> bool:
    """Whether any environment variable starts with ``prefix`` (in any case)."""
    prefix = prefix.upper()
    return any(name.upper().startswith(prefix) for name in os.environ)


def _deep_update(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s keys, nested tables merged key by key (as pydantic-settings
    merges its sources: ``KIOSK_BROKER__PORT`` changes the port and keeps the host)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


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
    prefix = schema.env_prefix
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
class PrivacyConfig(Section):
    """How long residents' personal data is kept (PIPL arts. 17, 19 and 47; seed 003 (七)).

    ``keep_years`` is what the kiosk's consent line tells a resident; the daily retention
    job (``edge_agent/retention.py``, ``central_sync/server/retention.py``) erases names,
    phones, rooms and free text of records closed longer ago than that."""

    keep_years: int = Field(3, ge=1, le=30, description="years a closed record's personal data is kept (told to the resident)")
