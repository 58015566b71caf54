"""Configuration: one schema per part, read once at start, validated, then passed down.

Each part has a TOML file (``hall up`` writes them from the hall description; on a Pi they
live in ``/etc/service-hall/``) and an environment prefix that overrides any key, nested
keys joined by ``__``: ``KIOSK_BROKER__PORT=1884`` overrides ``[broker] port`` in the kiosk's
file. Relative paths in a file are relative to that file's folder.

A bad file stops the part at start with one line that names the file and the key::

    ConfigError: kiosk-01.toml: broker.port: Input should be a valid integer

Nothing else in the project reads ``os.environ`` for settings: :func:`load` does, once.

One module per part holds its schema (``kiosk``, ``display``, ``edge``, ``central``,
``tools`` for the simulators and ``hall doctor``), beside what they share (``base``,
``hours``). A part loads only its own: the names are imported from here as before
(``from hall_common.config import KioskConfig``), and each is loaded from its module on
first use, so the board never builds the edge's or the centre's schema (issue 20).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import (BootstrapUser as BootstrapUser, BrokerConfig as BrokerConfig, ConsoleConfig as ConsoleConfig, HttpConfig as HttpConfig, Id as Id, NodeConfig as NodeConfig, PartConfig as PartConfig, PrivacyConfig as PrivacyConfig, RelPath as RelPath, Section as Section, TimeZone as TimeZone, load as load, read_secret as read_secret, relative_to_file as relative_to_file)
    from .hours import (HoursConfig as HoursConfig, OpeningPeriod as OpeningPeriod, Weekday as Weekday)
    from .kiosk import (CameraConfig as CameraConfig, ConvenienceService as ConvenienceService, HallInfo as HallInfo, IdleConfig as IdleConfig, KioskConfig as KioskConfig, KioskService as KioskService, KioskSettings as KioskSettings, PanelConfig as PanelConfig)
    from .display import (BoardSettings as BoardSettings, DisplayConfig as DisplayConfig)
    from .edge import (AedConfig as AedConfig, CentreLink as CentreLink, ComplaintCategory as ComplaintCategory, ComplaintsConfig as ComplaintsConfig, CounterConfig as CounterConfig, DeviceInfo as DeviceInfo, EdgeConfig as EdgeConfig, EdgeServiceSettings as EdgeServiceSettings, EdgeSettings as EdgeSettings, EnvironmentConfig as EnvironmentConfig, FirstAidConfig as FirstAidConfig, HardwareConfig as HardwareConfig, Limit as Limit, PlacesConfig as PlacesConfig, PrinterConfig as PrinterConfig, PrintingConfig as PrintingConfig, QueueConfig as QueueConfig, RegistersConfig as RegistersConfig, RosterConfig as RosterConfig, ServiceConfig as ServiceConfig)
    from .central import (AlipayConfig as AlipayConfig, CentralConfig as CentralConfig, PaymentsConfig as PaymentsConfig, WeChatPayConfig as WeChatPayConfig)
    from .tools import (DoctorConfig as DoctorConfig, SensorSimConfig as SensorSimConfig)

_MODULE_OF = {
    "AedConfig": "edge",
    "AlipayConfig": "central",
    "BoardSettings": "display",
    "BootstrapUser": "base",
    "BrokerConfig": "base",
    "CameraConfig": "kiosk",
    "CentralConfig": "central",
    "CentreLink": "edge",
    "ComplaintCategory": "edge",
    "ComplaintsConfig": "edge",
    "ConsoleConfig": "base",
    "ConvenienceService": "kiosk",
    "CounterConfig": "edge",
    "DeviceInfo": "edge",
    "DisplayConfig": "display",
    "DoctorConfig": "tools",
    "EdgeConfig": "edge",
    "EdgeServiceSettings": "edge",
    "EdgeSettings": "edge",
    "EnvironmentConfig": "edge",
    "FirstAidConfig": "edge",
    "HallInfo": "kiosk",
    "HardwareConfig": "edge",
    "HoursConfig": "hours",
    "HttpConfig": "base",
    "Id": "base",
    "IdleConfig": "kiosk",
    "KioskConfig": "kiosk",
    "KioskService": "kiosk",
    "KioskSettings": "kiosk",
    "Limit": "edge",
    "NodeConfig": "base",
    "OpeningPeriod": "hours",
    "PanelConfig": "kiosk",
    "PartConfig": "base",
    "PaymentsConfig": "central",
    "PlacesConfig": "edge",
    "PrinterConfig": "edge",
    "PrintingConfig": "edge",
    "PrivacyConfig": "base",
    "QueueConfig": "edge",
    "RegistersConfig": "edge",
    "RelPath": "base",
    "RosterConfig": "edge",
    "Section": "base",
    "SensorSimConfig": "tools",
    "ServiceConfig": "edge",
    "TimeZone": "base",
    "WeChatPayConfig": "central",
    "Weekday": "hours",
    "load": "base",
    "read_secret": "base",
    "relative_to_file": "base",
}
"""Which module of this package holds each public name."""


def __getattr__(name: str) -> Any:
    """A public name, loaded from its module on first use (PEP 562)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
