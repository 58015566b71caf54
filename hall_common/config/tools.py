"""The hall's tools on the bus: the ESPHome node simulators and ``hall doctor``."""

from __future__ import annotations

from pydantic import Field

from .base import NodeConfig


class SensorSimConfig(NodeConfig):
    """A simulated ESPHome node (``simulators/``): the environment node or the AED cabinet."""

    env_prefix = "SIM_"
    interval: float = Field(5.0, gt=0, le=3600)
    control_port: int | None = Field(None, ge=0, le=65535, description="HTTP port to tell it what to do (raise CO2, open the door, go silent)")


class DoctorConfig(NodeConfig):
    """``hall doctor``'s own login on the bus (node ``doctor``), so it never takes the edge
    agent's place on the broker."""

    env_prefix = "DOCTOR_"
