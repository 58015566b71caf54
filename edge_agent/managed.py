"""The components through which the company's centre manages the hall, beside the ones that
serve it: what the fleet view shows of the hall (its status, alarms first), the broker's
logins kept equal to the centre's roster (enrolment), the edge's own settings from a signed
rollout. Each exists only where its configuration asks for it, so a
hall without a centre runs none of them."""

from __future__ import annotations

from typing import Any

from .component import Component
from .fleet_status import FleetStatus
from .roster import BrokerRoster
from .settings_apply import EdgeSettingsApplier


def managed_components(agent: Any) -> list[Component]:
    """Built from ``agent`` (an EdgeAgent, its own components built) after them, started
    after them, closed before them."""
    config = agent.config
    built = (FleetStatus.of(agent), BrokerRoster.for_config(config, on_retired=agent.nodes.retire),
             EdgeSettingsApplier.for_agent(config, agent.bus, agent.queue))
    return [c for c in built if c is not None]
