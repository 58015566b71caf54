"""The edge Pi's GPIO: one gpiozero pin factory for every device on its pins (the counters'
call-next buttons, the AED cabinet's reed switch, the alarm buzzer)."""

from __future__ import annotations

from typing import Any

from hall_common.config import HardwareConfig


def pin_factory(hardware: HardwareConfig) -> Any:
    """gpiozero's MockFactory on a workstation (``hardware.gpio = "mock"``: ``hall up``, the
    tests), else None: gpiozero's default, the Pi's own pins. Made once per agent and handed
    to every GPIO device, so a test drives every pin of the hall through one factory."""
    if hardware.gpio == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    return None
