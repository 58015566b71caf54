"""The ``hall_status`` record: what the centre's fleet view needs of one hall, as the hall
sees it now.

The edge agent (:mod:`edge_agent.fleet_status`) sends one when something the view shows
changed (a node came or went, an alarm was raised, changed or cleared, a printer's paper
ran low) and as a heartbeat otherwise; the centre (:mod:`central_sync.server.fleet_projection`)
keeps the newest one per hall. Each is the hall's whole picture, not a change, so a lost
or late one is mended by the next.

Both sides check the body against :class:`HallStatus`: the edge before writing it to its
outbox, the centre before storing anything of the batch that carries it (a malformed one is
refused whole, with the field named). Fields a newer hall adds are ignored, so an older
centre still takes its status.

Example::

    HallStatus(at=time.time(), heartbeat_s=30, sw="0.1.0", nodes=[], alarms=[], alarms_total=0,
               printers=[], backlog=Backlog(depth=0))
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SEVERITIES = ("critical", "major", "minor", "warning")
"""Most severe first, as the edge's alarms (edge_agent/alarms.py) name them."""
MAX_NODES = 64
MAX_ALARMS = 30
"""The most severe active alarms a status carries; ``alarms_total`` counts them all."""
MAX_TEXT = 160
NODE_ID = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class NodeStatus(_Part):
    """One node of the hall as the edge's registry sees it (the edge itself is the hall)."""

    node: str = Field(pattern=NODE_ID)
    kind: str = Field(max_length=32)
    state: str = Field(max_length=16, description="ready, lost, disconnected, stale, never ...")
    online: bool
    last_seen: float | None = None
    sw: str | None = Field(None, max_length=32)
    config_version: int | None = Field(None, ge=0)


class AlarmStatus(_Part):
    """One active alarm of the hall."""

    id: str = Field(min_length=1, max_length=128)
    severity: Literal["critical", "major", "minor", "warning"]
    state: Literal["ACTIVE_UNACK", "ACTIVE_ACK"]
    type: str = Field(max_length=64)
    source: str = Field("", max_length=128)
    text: str = Field(max_length=MAX_TEXT)
    raised_at: float


class PrinterState(_Part):
    """One ticket printer; ``paper`` is None until it has answered once."""

    id: str = Field(pattern=NODE_ID)
    online: bool
    paper: Literal["ok", "near_end", "out"] | None = None
    can_print: bool


class Backlog(_Part):
    """What waited in the hall's outbox for the centre when the status was taken."""

    depth: int = Field(ge=0)
    oldest_age: float | None = Field(None, ge=0)


class QueueServiceStatus(_Part):
    """One of the hall queue's own services (its file's), so the centre's kiosk settings
    form can refuse a service the hall's edge does not have, or a prefix another has."""

    id: str = Field(pattern=NODE_ID)
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$")


class HallStatus(_Part):
    at: float = Field(description="the edge's clock when the status was taken (Unix seconds)")
    heartbeat_s: float = Field(gt=0, le=3600, description="how often a status comes when nothing changes")
    sw: str = Field(max_length=32, description="the edge agent's version")
    config_version: int | None = Field(None, ge=0, description="the edge's own configuration version, if pushed")
    nodes: list[NodeStatus] = Field(max_length=MAX_NODES)
    alarms: list[AlarmStatus] = Field(max_length=MAX_ALARMS)
    alarms_total: int = Field(ge=0)
    printers: list[PrinterState] = Field(max_length=32)
    backlog: Backlog
    services: list[QueueServiceStatus] = Field(default_factory=list, max_length=40,
                                               description="the queue's own services (empty: an older edge)")
