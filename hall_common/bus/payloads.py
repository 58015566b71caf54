"""Payload schemas of the hall bus, one pydantic model per JSON payload.

The models forbid unknown keys: a typo in a publisher is caught at the first subscriber
instead of silently carrying a field nobody reads. Timestamps are Unix seconds (float) in
UTC; the receiver never trusts them for ordering, only for display.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class Payload(BaseModel):
    """Base for every JSON payload: strict about keys, frozen once parsed, and no NaN or
    infinity (JSON has none; they would be sent as null and refused by every reader)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NodeState(Payload):
    """A node's availability. Retained; the Last Will carries ``lost`` with the same session.

    A subscriber keeps the highest session it has seen per node and ignores a state from an
    older session, so a will that the broker delivers late cannot mark a live node lost.
    """

    state: Literal["init", "ready", "disconnected", "lost"]
    session: int = Field(ge=0)
    ts: float | None = None


class Birth(Payload):
    """What a node says about itself each time it connects."""

    session: int = Field(ge=0)
    kind: Literal["edge", "kiosk", "display", "env_node", "aed_node", "sim", "tool"] = Field(
        description="what the node is; a ``tool`` (``hall doctor``, a test's client) is a login, not a device")
    sw: str = Field(max_length=64)
    config_version: int | None = None
    ts: float


TOOL_KINDS = frozenset({"tool"})
"""Birth kinds of logins that are not devices of the hall (``hall doctor``'s, a script's):
the staff console's hall at a glance leaves them out."""


class DeviceState(Payload):
    """Retained status of one device of a node (a printer, a door, a GPIO input)."""

    kind: str = Field(max_length=32)
    online: bool
    status: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    ts: float


class Telemetry(Payload):
    """Readings of one device, sent on change beyond a deadband or every N seconds."""

    values: dict[str, float]
    ts: float


class Event(Payload):
    """Something that happened once: consumers are idempotent on ``id``."""

    id: str = Field(min_length=8, max_length=64)
    type: str = Field(max_length=48)
    ts: float
    data: dict[str, Any] = Field(default_factory=dict)


class ConfigReported(Payload):
    """The configuration a node runs, and what became of the last one it was given."""

    version: int = Field(ge=0)
    status: Literal["applied", "rejected", "rolled_back"]
    reason: str = Field(default="", max_length=500)


class ConfigDesired(Payload):
    """A signed configuration document for one node, published retained by the edge."""

    version: int = Field(ge=1)
    expires: float
    body: dict[str, Any]
    sig: str = Field(min_length=1, max_length=256)


class Alarm(Payload):
    """One alarm, the same model for every source (printer, sensor, AED, queue ...)."""

    id: str = Field(max_length=96)
    source: str = Field(max_length=96)
    type: str = Field(max_length=48)
    severity: Literal["critical", "major", "minor", "warning"]
    state: Literal["ACTIVE_UNACK", "ACTIVE_ACK", "CLEARED_UNACK", "CLEARED_ACK"]
    text: str = Field(max_length=300)
    raised_at: float
    acked_by: str | None = None
    acked_at: float | None = None
    cleared_at: float | None = None


class CounterNow(Payload):
    counter: str
    name: str
    ticket: str | None = None
    service: str | None = None
    called_at: float | None = None
    open: bool = True


class ServiceNow(Payload):
    """One queue service as kiosks offer it: its names, people waiting, the estimated wait."""

    service: str
    name_zh: str
    name_en: str
    prefix: str
    waiting: int = Field(ge=0)
    wait_s: int | None = Field(None, description="seconds; null when no open counter serves it")


class QueueState(Payload):
    """The now-serving board: what each counter serves and how many wait per service."""

    ts: float
    counters: list[CounterNow] = Field(default_factory=list)
    waiting: dict[str, int] = Field(default_factory=dict)
    last_called: list[str] = Field(default_factory=list, max_length=20)
    services: list[ServiceNow] = Field(default_factory=list)
    day: str = ""


class QueueCalled(Payload):
    """One call, for the board's voice announcement. ``recall`` repeats an earlier call."""

    id: str = Field(min_length=8, max_length=64)
    ticket: str = Field(max_length=16)
    counter: str = Field(max_length=32)
    counter_name: str = Field(max_length=32)
    service: str = Field(max_length=32)
    recall: bool = False
    ts: float


class Announcement(Payload):
    """The hall's announcement line, published by the centre; an empty text means none."""

    text: str = Field(max_length=200)
    version: int = Field(ge=0)
    ts: float


PrintStatus = Literal["queued", "moved", "printed", "failed"]
PrintReason = Literal["", "paper_out", "cover_open", "offline", "error", "no_printer", "timeout"]


class PrintArgs(Payload):
    """The arguments of a ``print`` request: which template, its fields, and the job's id.

    The requester makes the id (a UUID), so a request the broker delivers twice, or one the
    requester sends again after a timeout, is the same job and is printed once.
    """

    job: str = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    template: str = Field(max_length=32)
    fields: dict[str, Any] = Field(default_factory=dict)
    printer: str | None = Field(None, pattern=ID_PATTERN, description="the requester's own printer, if it has one")
    reprint_of: str | None = Field(None, max_length=36)
    test: bool = Field(False, description="a test page: printed with a TEST PRINT mark")


class PrintOutcome(Payload):
    """What became of a print job, sent to the node that asked for it.

    ``moved`` is on the way (the job went to another printer; ``printer`` names it);
    ``printed`` and ``failed`` are final. ``reason`` says why a job moved or failed.
    """

    job: str = Field(max_length=36)
    status: PrintStatus
    printer: str | None = None
    reason: PrintReason = ""
    reprint: bool = False
    ts: float


PaymentStatus = Literal["created", "paid", "paid_conflict", "closed", "expired_unclosed", "failed"]


class PaymentOutcome(Payload):
    """What became of a payment order, sent to the kiosk that started it (the centre's
    status: ``paid`` and ``closed`` are final; ``paid_conflict`` is paid with money to give
    back, because a line was settled some other way meanwhile)."""

    order_id: str = Field(max_length=64)
    status: PaymentStatus
    amount_fen: int = Field(ge=0)
    paid_at: float | None = None
    ts: float


ComplaintKind = Literal["complaint", "repair", "suggestion", "consultation", "praise"]
ROOM_PATTERN = r"^[0-9]{1,3}(-[0-9]{1,2})?-[0-9]{2,4}$"
"""A resident's room as building-unit-room (``3-2-1201``) or building-room (``12-301``)."""


class ComplaintDraft(Payload):
    """A resident's request as the kiosk collects it, or staff take it at the console (seed
    002: who, what, where, when, wanted, how to reach them). The kiosk and the console check
    each field against these same limits, and the edge checks the whole again, so they can
    never disagree about what is valid."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    kind: ComplaintKind
    category: str = Field(min_length=1, max_length=32)
    place: str = Field(min_length=1, max_length=60)
    content: str = Field(min_length=2, max_length=500)
    wanted: str = Field("", max_length=200)
    name: str = Field(min_length=1, max_length=20)
    room: str = Field(pattern=ROOM_PATTERN)
    phone: str
    rooms: list[str] = Field(default_factory=list, max_length=50, description="other rooms raising the same issue")
    occurred_at: float = Field(gt=0, description="when it happened (发生时间, Unix seconds); the edge refuses a time "
                                                 "in the future or before the hall opened (hall_common.occurred)")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        digits = re.sub(r"[\s-]", "", value)
        if not re.fullmatch(r"1[3-9][0-9]{9}|0[0-9]{9,11}", digits):  # [0-9]: \d takes any script's digits
            raise ValueError("an 11-digit mobile number or a landline with its area code")
        return digits


class ComplaintArgs(ComplaintDraft):
    """The ``complaint`` request: the draft and the kiosk's id for it, so a double tap or a
    retry after a timeout is the same record."""

    request: str = Field(min_length=8, max_length=64)


class Request(Payload):
    """The body of an MQTT 5 request; the method is the last topic level."""

    args: dict[str, Any] = Field(default_factory=dict)


class ResponseError(Payload):
    code: str = Field(max_length=48)
    message: str = Field(default="", max_length=500)


class Response(Payload):
    """The body of an MQTT 5 response, matched to its request by correlation data."""

    ok: bool
    result: dict[str, Any] | None = None
    error: ResponseError | None = None
