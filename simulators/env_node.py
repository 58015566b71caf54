"""A simulated ESPHome environment node (ESP32 with temperature, humidity, CO2,
illuminance and noise sensors): ``firmware_configs/esphome/env-node.yaml`` without hardware.

It publishes what that configuration publishes with ``topic_prefix: hall/v1/{hall}/{node}``:
``status`` online/offline (birth and will) and ``sensor/{object_id}/state`` plain numbers,
every ``interval`` seconds, for the object ids ``temperature``, ``humidity``, ``co2``,
``illuminance`` and ``noise``. Readings take a random walk around a plausible hall.

With ``control_port`` set, an HTTP control server (:mod:`simulators.control`) drives it::

    curl -X POST 'http://127.0.0.1:PORT/set?co2=1500'     # set readings now (any of the five)
    curl -X POST 'http://127.0.0.1:PORT/trend?co2=50'     # CO2 rises 50 ppm per interval (0 stops)
    curl -X POST 'http://127.0.0.1:PORT/silent?on=1'      # dead node: the broker says offline
    curl -X POST 'http://127.0.0.1:PORT/silent?on=0'      # back: online and every reading

``python -m simulators.env_node --config env-01.toml``
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

BASELINE = {
    "temperature": (22.5, 0.2, 10.0, 40.0),
    "humidity": (50.0, 1.0, 10.0, 95.0),
    "co2": (650.0, 15.0, 400.0, 5000.0),
    "illuminance": (420.0, 10.0, 0.0, 2000.0),
    "noise": (42.0, 1.5, 25.0, 100.0),
}
"""object_id: (start, step of the random walk, lower bound, upper bound)."""


class EnvNodeSim(SimNode):
    """Random-walk readings from a plausible hall, published every ``interval`` seconds.

    Example (``make_bus`` builds the node's :class:`BusClient`, as :func:`main` does)::

        sim = EnvNodeSim(make_bus, interval=30)
        sim.start()
        sim.set_reading("co2", 1500)     # published at once
        sim.set_silent(True)             # the broker publishes status = offline
    """

    def __init__(self, make_bus: Callable[[], BusClient], *, interval: float, seed: int | None = None) -> None:
        super().__init__(make_bus, interval=interval)
        self.values = {k: v[0] for k, v in BASELINE.items()}
        self.trends = {k: 0.0 for k in BASELINE}
        """Added to a reading at every interval before the random step (``/trend``)."""
        self._rng = random.Random(seed)

    def step(self) -> None:
        """Move every reading by its trend and a random step, within its bounds."""
        with self.lock:
            for key, (_, step, low, high) in BASELINE.items():
                moved = self.values[key] + self.trends[key] + self._rng.uniform(-step, step)
                self.values[key] = min(high, max(low, moved))

    def set_reading(self, key: str, value: float) -> None:
        """Set one reading (no bounds: a test may want an impossible one) and publish it now."""
        if key not in BASELINE:
            raise ValueError(f"no reading {key!r}: use one of {', '.join(BASELINE)}")
        with self.lock:
            self.values[key] = value
        self._publish_one(key, value)

    def set_trend(self, key: str, per_interval: float) -> None:
        if key not in BASELINE:
            raise ValueError(f"no reading {key!r}: use one of {', '.join(BASELINE)}")
        with self.lock:
            self.trends[key] = per_interval

    def publish_all(self) -> None:
        with self.lock:
            values = dict(self.values)
        for key, value in values.items():
            self._publish_one(key, value)

    def tick(self) -> None:
        if not self.silent:
            self.step()
            self.publish_all()

    def describe(self) -> dict[str, Any]:
        with self.lock:
            readings = {k: round(v, 1) for k, v in self.values.items()}
            trends = {k: v for k, v in self.trends.items() if v}
        return {**super().describe(), **readings, "trends": trends}

    def _publish_one(self, key: str, value: float) -> None:
        self.publish(contract.ESPHOME_SENSOR, round(value, 1), object_id=key)


def controls(sim: EnvNodeSim, *, host: str = "127.0.0.1", port: int = 0) -> ControlServer:
    """The HTTP control server of an environment node (see the module docstring)."""

    def set_readings(params: dict[str, str]) -> None:
        if not params:
            raise ValueError(f"give one or more of {', '.join(BASELINE)}, e.g. co2=1500")
        for key, value in _readings(params).items():
            sim.set_reading(key, value)

    def set_trends(params: dict[str, str]) -> None:
        if not params:
            raise ValueError(f"give one or more of {', '.join(BASELINE)}, e.g. co2=50 (per interval; 0 stops)")
        for key, value in _readings(params).items():
            sim.set_trend(key, value)

    return ControlServer(
        sim,
        {"set": set_readings, "trend": set_trends, "silent": lambda p: sim.set_silent(flag(p, "on"))},
        forms={"set": ("Set readings now", {k: "" for k in BASELINE}),
               "trend": ("Change per interval", {"co2": "50"}),
               "silent": ("Dead node (1) or back (0)", {"on": "1"})},
        title=f"Environment node {sim.node_id} (simulated)", host=host, port=port,
    )


def _readings(params: dict[str, str]) -> dict[str, float]:
    """All of a request's readings, checked before any is applied."""
    for key in params:
        if key not in BASELINE:
            raise ValueError(f"no reading {key!r}: use one of {', '.join(BASELINE)}")
    return {key: number(params, key) for key in params}


def main(argv: list[str] | None = None) -> None:
    run_node("simulators.env_node", EnvNodeSim, controls, kind="env_node", sw=SW_VERSION, argv=argv)


if __name__ == "__main__":
    main()
