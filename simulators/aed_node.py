"""A simulated ESPHome AED cabinet node: ``firmware_configs/esphome/aed-cabinet.yaml``
without hardware.

It publishes what that configuration publishes with ``topic_prefix: hall/v1/{hall}/{node}``:

* ``status``: ``online`` on connect; the will and a clean stop say ``offline``;
* ``binary_sensor/door/state``: ``ON`` (door open) or ``OFF``, retained; ``OFF`` at start,
  then on every change;
* ``sensor/cabinet_temperature/state``: °C, every ``interval`` seconds;
* ``text_sensor/self_test/state``: ``pass`` or ``fail``, retained; ``pass`` at start, then
  when told.

On every connect (start, or back from silence) it publishes all three states, as ESPHome does.

With ``control_port`` set, an HTTP control server (:mod:`simulators.control`) drives it::

    curl -X POST 'http://127.0.0.1:PORT/door?open=1'                 # open the door (0 shuts it)
    curl -X POST 'http://127.0.0.1:PORT/set?cabinet_temperature=55'  # too hot, published now
    curl -X POST 'http://127.0.0.1:PORT/self_test?result=fail'       # the AED's indicator goes dark
    curl -X POST 'http://127.0.0.1:PORT/silent?on=1'                 # dead node: the broker says offline

``python -m simulators.aed_node --config aed-01.toml``
"""

from __future__ import annotations

import logging
import random
from typing import Any, Callable

from hall_common.bus import contract
from hall_common.bus.client import BusClient

from .control import ControlServer, SimNode, flag, number, run_node

log = logging.getLogger(__name__)

SW_VERSION = "esphome-sim 0.2.0"
DOOR = "door"
TEMPERATURE = "cabinet_temperature"
SELF_TEST = "self_test"
RESULTS = ("pass", "fail")


class AedNodeSim(SimNode):
    """The cabinet: a door, a thermometer that drifts a little around 22 °C, and the AED's
    self-test result. See the module docstring for what it publishes."""

    def __init__(self, make_bus: Callable[[], BusClient], *, interval: float, seed: int | None = None) -> None:
        super().__init__(make_bus, interval=interval)
        self.door_open = False
        self.temperature = 22.0
        self.self_test = "pass"
        self._rng = random.Random(seed)

    def open_door(self, is_open: bool) -> None:
        """Open or shut the door; a change is published at once (a reed switch has no interval)."""
        with self.lock:
            changed, self.door_open = self.door_open != is_open, is_open
        if changed:
            self.publish(contract.ESPHOME_BINARY, is_open, object_id=DOOR)

    def set_temperature(self, value: float) -> None:
        """Set the cabinet temperature and publish it now."""
        with self.lock:
            self.temperature = value
        self.publish(contract.ESPHOME_SENSOR, round(value, 1), object_id=TEMPERATURE)

    def set_self_test(self, result: str) -> None:
        """The AED's indicator shows ``result``; published now, changed or not (as a new
        self-test of the AED would be)."""
        if result not in RESULTS:
            raise ValueError("result is pass or fail")
        with self.lock:
            self.self_test = result
        self.publish(contract.ESPHOME_TEXT, result, object_id=SELF_TEST)

    def publish_all(self) -> None:
        with self.lock:
            door, temperature, result = self.door_open, self.temperature, self.self_test
        self.publish(contract.ESPHOME_BINARY, door, object_id=DOOR)
        self.publish(contract.ESPHOME_TEXT, result, object_id=SELF_TEST)
        self.publish(contract.ESPHOME_SENSOR, round(temperature, 1), object_id=TEMPERATURE)

    def tick(self) -> None:
        if self.silent:
            return
        with self.lock:
            # A closed cabinet changes slowly: a small drift around the last value.
            self.temperature += self._rng.uniform(-0.1, 0.1)
            temperature = self.temperature
        self.publish(contract.ESPHOME_SENSOR, round(temperature, 1), object_id=TEMPERATURE)

    def describe(self) -> dict[str, Any]:
        with self.lock:
            state = {"door_open": self.door_open, TEMPERATURE: round(self.temperature, 1), SELF_TEST: self.self_test}
        return {**super().describe(), **state}


def controls(sim: AedNodeSim, *, host: str = "127.0.0.1", port: int = 0) -> ControlServer:
    """The HTTP control server of an AED cabinet node (see the module docstring)."""

    def set_readings(params: dict[str, str]) -> None:
        unknown = set(params) - {TEMPERATURE}
        if unknown or not params:
            raise ValueError(f"give {TEMPERATURE}=<°C>")
        sim.set_temperature(number(params, TEMPERATURE))

    def self_test(params: dict[str, str]) -> None:
        sim.set_self_test(params.get("result", ""))

    return ControlServer(
        sim,
        {"door": lambda p: sim.open_door(flag(p, "open")), "set": set_readings, "self_test": self_test,
         "silent": lambda p: sim.set_silent(flag(p, "on"))},
        forms={"door": ("Door open (1) or shut (0)", {"open": "1"}),
               "set": ("Cabinet temperature", {TEMPERATURE: "22.0"}),
               "self_test": ("AED self-test", {"result": "fail"}),
               "silent": ("Dead node (1) or back (0)", {"on": "1"})},
        title=f"AED cabinet {sim.node_id} (simulated)", host=host, port=port,
    )


def main(argv: list[str] | None = None) -> None:
    run_node("simulators.aed_node", AedNodeSim, controls, kind="aed_node", sw=SW_VERSION, argv=argv)


if __name__ == "__main__":
    main()
