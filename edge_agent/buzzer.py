"""The hall's buzzer or beacon on the edge Pi's GPIO: it sounds while a critical alarm is
unacknowledged (the AED cabinet opened, an emergency repair), so staff away from the
console hear it, and stops when someone acknowledges it on the console.

It listens to :class:`edge_agent.alarms.Alarms` and asks the alarms table, not the one
alarm that changed, so several critical alarms keep it sounding until each is seen.

Example::

    buzzer = AlarmBuzzer(alarms, pin=18)                  # gpiozero's default pin factory
    buzzer = AlarmBuzzer(alarms, pin=18, pin_factory=MockFactory())   # tests, hall up
"""

from __future__ import annotations

import logging
from typing import Any

from .alarms import Alarms
from .component import Component

log = logging.getLogger(__name__)


class AlarmBuzzer(Component):
    name = "buzzer"

    def __init__(self, alarms: Alarms, *, pin: int, pin_factory: Any = None) -> None:
        from gpiozero import Buzzer

        self.alarms = alarms
        self.device = Buzzer(pin, pin_factory=pin_factory)
        alarms.on_change(lambda _alarm: self.update())
        self.update()

    @property
    def sounding(self) -> bool:
        return bool(self.device.is_active)

    def update(self) -> None:
        calling = any(a["severity"] == "critical" and a["state"] == "ACTIVE_UNACK" for a in self.alarms.active())
        if calling and not self.device.is_active:
            log.warning("buzzer on: a critical alarm is waiting for someone")
            self.device.on()
        elif not calling and self.device.is_active:
            log.info("buzzer off: every critical alarm is acknowledged or cleared")
            self.device.off()

    def close(self) -> None:
        self.device.close()
