"""The components through which the company's centre manages the hall, beside the ones that
serve it: the broker's logins kept equal to the centre's roster (enrolment), the edge's own
settings from a signed rollout. Each exists only where its configuration asks for it, so a
hall without a centre runs none of them."""

from __future__ import annotations

from typing import Any

from hall_common.config import EdgeConfig

from .component import Component
from .queue.service import QueueService
from .roster import BrokerRoster
from .settings_apply import EdgeSettingsApplier


def managed_components(config: EdgeConfig, bus: Any, queue: QueueService) -> list[Component]:
    """Built after the agent's own components, started after them, closed before them."""
    built = (BrokerRoster.for_config(config), EdgeSettingsApplier.for_agent(config, bus, queue))
    return [c for c in built if c is not None]
