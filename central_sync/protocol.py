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
