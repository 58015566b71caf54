"""The hall bus's request methods: for each, the model of its arguments and of its answer.

A node asks the edge agent with ``bus.request(method, args)`` (MQTT 5 request/response, see
:data:`hall_common.bus.contract.REQUEST`). This table is the one place where what a method
takes and gives back is written down: :meth:`hall_common.bus.client.BusClient.serve`
validates the arguments against it before a handler runs, answering ``bad_request`` with the
field named, and checks the handler's answer against it before it is sent. ``docs/bus.md``
lists every method, and a test fails when one is missing there.

Like the contract, this module imports no MQTT client: plain models, tested with asserts.

Example::

    >>> METHODS["ticket"].parse_args({"service": "consult"}).service
    'consult'
    >>> METHODS["ticket"].parse_args({})
    Traceback (most recent call last):
    ...
    hall_common.errors.PayloadError: ticket: service: Field required
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hall_common.errors import HallError, PayloadError, RequestFailed

from .payloads import ID_PATTERN, ROOM_PATTERN, ComplaintArgs, ComplaintDraft, Payload, PrintArgs, PrintStatus

log = logging.getLogger(__name__)

REQUEST_ID = Field(None, min_length=8, max_length=64, description="the requester's id for this request: "
                                                                   "the same id again gets the same answer")


class NoArgs(Payload):
    """A method that takes no arguments."""


class Answer(BaseModel):
    """Base of every answer: the keys are fixed, like a payload's, so a handler that grows a
    field is caught by the tests until the contract says so."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# -- the agent itself ---------------------------------------------------------------------------


class PingAnswer(Answer):
    hall: str
    session: int
    ts: float
    sync: dict[str, Any] | None = Field(description="the outbox to the centre, when the hall syncs")


class HelpAnswer(Answer):
    id: str


# -- printing -----------------------------------------------------------------------------------


class JobArgs(Payload):
    job: str = Field(max_length=64)


class JobView(Answer):
    """Where a print job stands: ``queued``, ``moved``, ``printed`` or ``failed`` (with the reason)."""

    job: str
    status: PrintStatus
    printer: str | None
    reason: str | None = ""
    reprint: bool = False


# -- the queue ----------------------------------------------------------------------------------

CounterAction = Literal["next", "recall", "serve", "finish", "skip", "transfer", "open", "close"]


class TicketArgs(Payload):
    request: str | None = REQUEST_ID
    service: str = Field(max_length=32)
    priority: bool = False


class TicketAnswer(Answer):
    id: str
    code: str
    service: str
    name_zh: str
    name_en: str
    priority: bool
    ahead: int
    wait_s: float | None
    issued_at: float


class CounterArgs(Payload):
    counter: str = Field(max_length=32)
    action: CounterAction
    service: str | None = Field(None, max_length=32, description="transfer: the service to move the ticket to")
    to_counter: str | None = Field(None, max_length=32, description="transfer: the counter to move it to")


class CounterAnswer(Answer):
    counter: str
    ticket: str | None
    status: str | None


class RateServiceArgs(Payload):
    request: str | None = REQUEST_ID
    code: str = Field(max_length=16, description="the ticket's code as printed, e.g. A012")
    rating: str | None = Field(None, max_length=32)
    comment: str | None = Field(None, max_length=200)
    check: bool = Field(False, description="only check that the ticket can be rated, and where it was served")


class RateServiceAnswer(Answer):
    code: str
    check: bool = False
    id: str | None = None
    rating: str | None = None
    comment: str | None = None
    rated_at: float | None = None
    service: str
    name_zh: str
    name_en: str
    counter: str | None
    counter_name: str | None


# -- residents' requests ------------------------------------------------------------------------


class ComplaintOptions(Answer):
    categories: list[dict[str, Any]]
    places: dict[str, Any]
    wanted_phrases: list[str]
    keep_years: int
    opened: str = Field(description="the day the hall opened (YYYY-MM-DD): no request happened before it")


class ComplaintPreview(Answer):
    grade: str
    emergency: bool
    reasons: list[str]
    repeat: bool
    group: bool
    feedback_due: float


class ComplaintReceipt(Answer):
    id: str
    tracking_no: str
    readable: str
    grade: str
    emergency: bool
    feedback_due: float
    category_zh: str
    category_en: str
    kind: str
    received_at: float


class TrackArgs(Payload):
    number: str = Field(max_length=32, description="the tracking number on the receipt")
    last4: str = Field(max_length=8, description="the last 4 digits of the phone given")


class TrackAnswer(ComplaintReceipt):
    status: str
    status_text: str
    name: str
    phone: str
    history: list[dict[str, str]]
    can_rate: bool


class RateArgs(TrackArgs):
    rating: str = Field(max_length=32)
    comment: str = Field("", max_length=200)


class RateAnswer(Answer):
    rating: str
    reopened: bool
    status: str


# -- disclosures --------------------------------------------------------------------------------


class DisclosuresArgs(Payload):
    category: str | None = Field(None, max_length=32)


class DisclosuresAnswer(Answer):
    categories: list[dict[str, Any]]
    items: list[dict[str, Any]] | None = None


class DisclosureArgs(Payload):
    id: str = Field(max_length=64)


class DisclosureAnswer(Answer):
    id: str
    category: str
    title: str
    effective_date: str
    version: int
    body: str
    table: Any
    images: list[Any]


class SearchArgs(Payload):
    q: str = Field(max_length=1000, description="cut to the first 40 characters")


class SearchAnswer(Answer):
    q: str
    items: list[dict[str, Any]]


class ImageArgs(Payload):
    sha256: str = Field(max_length=64)


class ImageAnswer(Answer):
    mime: str
    data: str = Field(description="base64")


# -- bills and payments -------------------------------------------------------------------------


class BillsArgs(Payload):
    """Either the resident's signed QR code, or the room and the last 4 digits of the phone."""

    qr: str | None = Field(None, max_length=1024)
    room: str | None = Field(None, max_length=20)
    last4: str | None = Field(None, max_length=8)

    @model_validator(mode="after")
    def _one_way(self) -> BillsArgs:
        if self.qr is None and (self.room is None or self.last4 is None):
            raise ValueError("qr, or room and last4: how the resident proved who they are")
        return self


class BillsAnswer(Answer):
    household: dict[str, Any]
    unpaid: list[dict[str, Any]]
    paid: list[dict[str, Any]]


class RoomsAnswer(Answer):
    rooms: list[dict[str, str]]


class PayArgs(Payload):
    """Bill line ids only: the centre sums the lines, so no amount is ever taken from a kiosk."""

    room: str = Field(pattern=ROOM_PATTERN)
    bill_ids: list[Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")]] = Field(
        min_length=1, max_length=24, description="as many as the centre takes in one order")
    printer: str | None = Field(None, pattern=ID_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _no_amounts(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if "amount" in str(key) or key == "total":
                    raise ValueError(f"{key}: not accepted: send bill ids only; the centre sums the lines")
        return data


class PayAnswer(Answer):
    order_id: str
    out_trade_no: str
    amount_fen: int
    code_url: str
    expires_at: float
    codes: list[dict[str, str]] = Field(default_factory=list,
                                        description="one {wallet, code_url, out_trade_no} per wallet the centre offers")


class OrderArgs(Payload):
    order_id: str = Field(max_length=64)


class OrderView(Answer):
    order_id: str
    status: str
    amount_fen: int
    paid_at: float | None
    receipt_job: str | None
    refund_fen: int | None = Field(None, description="paid with both wallets: the second payment, being given back")
    refund_status: str | None = Field(None, description="requested, or confirmed (the money is back)")
    refund_wallet: str | None = None


class ReceiptArgs(OrderArgs):
    job: str = Field(max_length=36, description="the kiosk's id for the receipt's print job (a UUID)")

    @field_validator("job")
    @classmethod
    def _uuid(cls, value: str) -> str:
        uuid.UUID(value)
        return value


# -- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """One request method: its name (the request topic's last level), what it takes and
    what it answers."""

    name: str
    args: type[Payload]
    answer: type[BaseModel]
    doc: str

    def parse_args(self, args: dict[str, Any]) -> Any:
        """The arguments as their model; :class:`PayloadError` naming the field if they do not fit."""
        try:
            return self.args.model_validate(args)
        except ValidationError as exc:
            raise PayloadError(f"{self.name}: {_first_error(exc)}") from None

    def check_answer(self, answer: Any) -> dict[str, Any]:
        """The handler's answer as JSON-ready data; :class:`AnswerError` if it breaks the contract."""
        try:
            model = answer if isinstance(answer, self.answer) else self.answer.model_validate(answer)
        except ValidationError as exc:
            raise AnswerError(f"{self.name}: the answer does not fit {self.answer.__name__}: {_first_error(exc)}") from None
        return model.model_dump(mode="json")

    def call(self, handler: Callable[[str, Any], Any], requester: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run ``handler`` for ``requester`` and give what the requester gets: the answer,
        checked against the contract, or :class:`RequestFailed` with the code it is told:
        the handler's own (``closed``, ``not_found`` ...), ``bad_request`` for arguments
        that do not fit the model or the handler's checks (``ValueError``), ``internal``
        (logged) for an answer that breaks the contract. Anything else is raised as is."""
        try:
            return self.check_answer(handler(requester, self.parse_args(args)))
        except AnswerError:
            log.exception("the %s handler broke the contract", self.name)
            raise RequestFailed("internal", "internal error") from None
        except RequestFailed:
            raise
        except ValueError as exc:  # PayloadError and pydantic's ValidationError among them
            raise RequestFailed("bad_request", str(exc)[:500]) from None


class AnswerError(HallError, RuntimeError):
    """A handler answered something its method's answer model does not allow: a bug of the
    responder, answered ``internal`` and logged, never sent half-right."""


def _first_error(exc: ValidationError) -> str:
    """``field: what is wrong`` for the first error; a check of the whole model names its
    field in its own message."""
    first = exc.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    where = ".".join(str(x) for x in first["loc"])
    return f"{where}: {msg}" if where else msg


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("ping", NoArgs, PingAnswer, "Is the edge agent there? Its session and the outbox to the centre."),
    Method("help", NoArgs, HelpAnswer, "A resident asked for staff at a kiosk; the staff console lists it."),
    Method("print", PrintArgs, JobView, "Print a template with its fields; the job id makes a retry the same job."),
    Method("print_status", JobArgs, JobView, "Where one of the requester's own print jobs stands."),
    Method("ticket", TicketArgs, TicketAnswer, "Take a queue number for a service (closed, full refused)."),
    Method("counter", CounterArgs, CounterAnswer, "Call, recall, serve, finish, skip, transfer at a counter "
                                                  "(only from the counter's callers)."),
    Method("rate_service", RateServiceArgs, RateServiceAnswer, "Rate the counter service of a served ticket."),
    Method("complaint_options", NoArgs, ComplaintOptions, "Categories, places and phrases the kiosk offers."),
    Method("complaint_preview", ComplaintDraft, ComplaintPreview, "The grade and deadline a draft would get."),
    Method("complaint", ComplaintArgs, ComplaintReceipt, "Submit a complaint, repair, suggestion or consultation."),
    Method("track", TrackArgs, TrackAnswer, "A request's progress by tracking number and the phone's last 4."),
    Method("rate", RateArgs, RateAnswer, "Rate how a request was handled; dissatisfied reopens it."),
    Method("disclosures", DisclosuresArgs, DisclosuresAnswer, "Disclosure categories, and one category's items."),
    Method("disclosure", DisclosureArgs, DisclosureAnswer, "One disclosure with its text, table and pictures."),
    Method("disclosure_search", SearchArgs, SearchAnswer, "Disclosures whose title or text holds the words."),
    Method("disclosure_image", ImageArgs, ImageAnswer, "A disclosure's picture by its SHA-256."),
    Method("bill_rooms", NoArgs, RoomsAnswer, "The hall's rooms for the bill pickers (no names)."),
    Method("bills", BillsArgs, BillsAnswer, "A household's bills once the resident proved who they are."),
    Method("pay", PayArgs, PayAnswer, "Start a payment order for bill lines; the centre sums them."),
    Method("payment_status", OrderArgs, OrderView, "Where one of the kiosk's own payment orders stands."),
    Method("payment_receipt", ReceiptArgs, JobView, "Print the receipt of a paid order (once)."),
)}
"""Every request method of the hall bus, by name."""
