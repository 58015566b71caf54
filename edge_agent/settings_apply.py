"""Signed edge settings from the centre, applied by the edge agent without a restart.

The centre signs an :class:`~hall_common.config.EdgeSettings` document for the node
``edge`` exactly as it signs a kiosk's; it reaches this hall by the same sync feed, the
sync component publishes it retained on ``config/edge``, and this component reads it from
the bus like any node (it does not trust the channel): the shared rule is
:class:`hall_common.signed_config.SignedConfigApplier`. Applying changes the queue's
configuration in place (which services take priority tickets, the priority rule, the
opening hours); a service the hall does not have is rolled back with its name. The file's
queue configuration is the base every document is laid over, so a document that leaves a
value out gives the hall's own value back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hall_common.config import EdgeConfig, EdgeSettings, QueueConfig
from hall_common.signed_config import SignedConfigApplier

from .component import Component
from .queue.service import QueueService


class EdgeSettingsApplier(SignedConfigApplier[EdgeSettings], Component):
    name = "settings"
    model = EdgeSettings
    part = "edge"

    def __init__(self, config: EdgeConfig, bus: Any, queue: QueueService, *, public_key: str) -> None:
        super().__init__(bus, public_key=public_key, state_path=Path(config.data_dir) / "applied-settings.json")
        self.base, self.queue, self._settings = config.queue, queue, EdgeSettings()

    @classmethod
    def for_agent(cls, config: EdgeConfig, bus: Any, queue: QueueService) -> "EdgeSettingsApplier | None":
        """The component, when the edge has the centre's key (``config_public_key``)."""
        return cls(config, bus, queue, public_key=config.config_public_key) if config.config_public_key else None

    def attach(self, bus: Any) -> None:
        self.listen()

    def current(self) -> EdgeSettings:
        return self._settings

    def install(self, settings: EdgeSettings) -> None:
        self._settings = settings
        queue = self.laid_over(settings)
        if queue is not None:
            self.queue.engine.reconfigure(queue)
            self.queue.publish_state()

    def self_check(self, settings: EdgeSettings) -> str | None:
        unknown = sorted({s.id for s in settings.services} - {s.id for s in self.base.services})
        if unknown:
            return f"service {unknown[0]!r} is not one of the hall's"
        return None

    def laid_over(self, settings: EdgeSettings) -> QueueConfig | None:
        """The file's queue configuration with ``settings`` over it; None when a service it
        names is not the hall's (the self-check says so)."""
        allowed = {s.id: s.priority_allowed for s in settings.services}
        if set(allowed) - {s.id for s in self.base.services}:
            return None
        services = [s.model_copy(update={"priority_allowed": allowed.get(s.id, s.priority_allowed)})
                    for s in self.base.services]
        update: dict[str, Any] = {"services": services}
        if settings.priority_per_normal is not None:
            update["priority_per_normal"] = settings.priority_per_normal
        if settings.hours is not None:
            update["hours"] = settings.hours
        return self.base.model_copy(update=update)
