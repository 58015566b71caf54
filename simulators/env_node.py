"""A simulated ESPHome environment node (ESP32 with temperature, humidity, CO2,
illuminance and noise sensors).

It publishes what ESPHome publishes with ``topic_prefix: hall/v1/{hall}/{node}``:
``status`` online/offline (birth and will) and ``sensor/{object_id}/state`` plain numbers.

``python -m simulators.env_node --config env-01.toml``
"""

from __future__ import annotations

import logging
import random
import threading

from hall_common.bus import contract
from hall_common.bus.client import BusClient
from hall_common.config import SensorSimConfig
from hall_common.runner import node_bus, start_part

log = logging.getLogger(__name__)

SW_VERSION = "esphome-sim 0.1.0"

BASELINE = {
    "temperature": (22.5, 0.2, 10.0, 40.0),
    "humidity": (50.0, 1.0, 10.0, 95.0),
    "co2": (650.0, 15.0, 400.0, 5000.0),
    "illuminance": (420.0, 10.0, 0.0, 2000.0),
    "noise": (42.0, 1.5, 25.0, 100.0),
}
"""object_id: (start, step of the random walk, lower bound, upper bound)."""


class EnvNodeSim:
    """Random-walk readings from a plausible hall, published every ``interval`` seconds."""

    def __init__(self, bus: BusClient, *, interval: float, seed: int | None = None) -> None:
        self.bus = bus
        self.interval = interval
        self.values = {k: v[0] for k, v in BASELINE.items()}
        self._rng = random.Random(seed)
        self._stop = threading.Event()

    def step(self) -> None:
        for key, (_, step, low, high) in BASELINE.items():
            self.values[key] = min(high, max(low, self.values[key] + self._rng.uniform(-step, step)))

    def publish(self) -> None:
        for key, value in self.values.items():
            self.bus.publish(contract.ESPHOME_SENSOR, round(value, 1),
                             hall=self.bus.hall_id, node=self.bus.node_id, object_id=key)

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self.step()
            if self.bus.connected:
                self.publish()

    def stop(self) -> None:
        self._stop.set()


def main(argv: list[str] | None = None) -> None:
    import signal

    config = start_part(SensorSimConfig, "simulators.env_node", argv)
    bus = node_bus(config, kind="env_node", sw=SW_VERSION, availability="esphome")
    sim = EnvNodeSim(bus, interval=config.interval)
    signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    signal.signal(signal.SIGINT, lambda *_: sim.stop())
    bus.start()
    try:
        sim.run()
    finally:
        bus.close()


if __name__ == "__main__":
    main()
