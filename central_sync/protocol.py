"""The sync API's documents, shared by the sync client (halls) and the central server.

A hall pushes a :class:`Batch` of records; each record carries a UUID that is its
idempotency key, so a batch sent twice (after a lost acknowledgement, a crash, a retry) is
applied once. The centre answers with an :class:`Ack` naming every record it now holds.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_RECORDS = 500
"""Records in one batch; a larger batch is refused whole (413)."""
MAX_BODY_BYTES = 2 * 1024 * 1024
"""Bytes of one request body; checked before it is parsed."""
MAX_RECORD_BYTES = 32 * 1024

RecordKind = Literal[
    "ticket", "complaint", "complaint_event", "rating", "payment_intent", "device_event", "alarm", "help_request",
    "queue_daily", "service_rating", "handover", "register_entry", "register_step",
    "config_report", "node_birth", "erasure",
    # Sent by edges built before the fleet view told the centre which nodes are online
    # (``hall_status``); still accepted, so such a hall's batch is not refused, and kept in
    # the ledger with no projection. Edges no longer send it.
    "node_state",
    "hall_status",
    "ticket_outcome", "aed_check",
]


class Record(BaseModel):
    """Something a hall must not lose: written to its outbox with the fact it carries."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    id: UUID
    kind: RecordKind
    node: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="the node that created it")
    ts: float = Field(description="the node's clock when it was created (Unix seconds)")
    body: dict[str, Any]

    @field_validator("body")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        import json

        if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_RECORD_BYTES:
            raise ValueError(f"a record body may be at most {MAX_RECORD_BYTES} bytes")
        return value


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    hall_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    sent_at: float
    records: list[Record] = Field(min_length=1, max_length=MAX_RECORDS)


class Ack(BaseModel):
    """Which records the centre holds now: ``applied`` new ones, ``duplicates`` it had."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    applied: list[UUID]
    duplicates: list[UUID]
    received_at: float


class ProblemDetail(BaseModel):
    """An error answer (RFC 9457 style): a code for programs, a sentence for people."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    code: str
    detail: str


class ConfigItem(BaseModel):
    """One signed configuration the centre published for a node of the hall."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    seq: int
    node: str
    doc: dict[str, Any]


class ConfigPage(BaseModel):
    """Published configurations after the hall's cursor, oldest first."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    items: list[ConfigItem]
    cursor: int


class ContentItem(BaseModel):
    """One piece of public content for the hall, newest version of ``(kind, key)`` wins."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    seq: int
    kind: Literal["announcement", "disclosure"]
    key: str
    body: dict[str, Any]
    deleted: bool = False


class ContentPage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    items: list[ContentItem]
    cursor: int


# -- enrolment (central_sync/server/enrolment.py, hall_cli/join.py) ------------------------------

JOIN_CODE_PATTERN = r"^[A-Za-z0-9 -]{1,40}$"
"""What a join code may look like as typed: letters and digits, grouped by spaces or dashes."""
NodeRole = Literal["edge", "kiosk", "board"]


class EnrolRequest(BaseModel):
    """``POST /api/v1/enrol``: the one-time code the centre showed for this device."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str = Field(pattern=JOIN_CODE_PATTERN)


class BrokerLogin(BaseModel):
    """One login of a hall's broker: the node id and its password hash in mosquitto's ``$7$`` format."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    user: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    hash: str = Field(pattern=r"^\$7\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")


class Roster(BaseModel):
    """``GET /api/v1/sync/roster``: the hall's live broker logins (retired ones absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hall_id: str
    logins: list[BrokerLogin]


class Enrolment(BaseModel):
    """Everything a Pi needs for its role, answered once for a join code: its part's
    configuration (a TOML table; paths relative to /etc/service-hall), its broker password,
    the centre's config signing key, the edge's centre token, and for the edge the hall's
    broker logins so its broker admits the hall's nodes before the first roster fetch."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hall_id: str
    hall_name: str
    node_id: str
    role: NodeRole
    config: dict[str, Any]
    broker_password: str
    config_public_key: str
    centre_token: str | None = None
    roster: list[BrokerLogin] = Field(default_factory=list)
