"""Signed edge settings from the centre, applied by the edge agent without a restart.

The centre signs an :class:`~hall_common.config.EdgeSettings` document for the node
``edge`` exactly as it signs a kiosk's; it reaches this hall by the same sync feed, the
sync component publishes it retained on ``config/edge``, and this component reads it from
the bus like any node (it does not trust the channel): the shared rule is
:class:`hall_common.signed_config.SignedConfigApplier`. Applying changes the queue's
configuration in place (the services' names, ticket prefixes, number ranges and which take
priority tickets; the priority rule; the opening hours); a service the hall does not have,
or a prefix two services would share, is rolled back with its reason. A changed prefix or
number range applies from the next ticket (``queue/engine.py`` says what happens to a day
whose numbers are already past the new range). The file's
queue configuration is the base every document is laid over, so a document that leaves a
value out gives the hall's own value back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

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
        queue, _ = self.laid_over(settings)
        if queue is not None:
            self.queue.engine.reconfigure(queue)
            self.queue.publish_state()

    def self_check(self, settings: EdgeSettings) -> str | None:
        return self.laid_over(settings)[1]

    def laid_over(self, settings: EdgeSettings) -> tuple[QueueConfig | None, str | None]:
        """The file's queue configuration with ``settings`` over it, checked whole by the
        queue's own schema (a prefix the document gives one service may be another
        unlisted service's); else None and why (the self-check's reason)."""
        listed = {s.id: s.model_dump(exclude_none=True, exclude={"id"}) for s in settings.services}
        unknown = sorted(set(listed) - {s.id for s in self.base.services})
        if unknown:
            return None, f"service {unknown[0]!r} is not one of the hall's"
        services = [{**s.model_dump(), **listed.get(s.id, {})} for s in self.base.services]
        update: dict[str, Any] = {"services": services}
        if settings.priority_per_normal is not None:
            update["priority_per_normal"] = settings.priority_per_normal
        if settings.hours is not None:
            update["hours"] = settings.hours.model_dump()
        try:
            return QueueConfig.model_validate({**self.base.model_dump(), **update}), None
        except ValidationError as exc:
            first = exc.errors()[0]
            return None, f"{'.'.join(map(str, first['loc'])) or 'queue'}: {first['msg']}"
