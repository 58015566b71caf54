"""The OpenAPI 3.1 document of the sync API, built from the same pydantic models the server
validates with, so the document cannot drift from the code (a test also compares its paths
with the app's real routes, and tests/test_central_openapi_fuzz.py sends schemathesis-made
requests to the running app and checks every answer against this document).

The resident and payment answers have no pydantic model on the server (they are built as
dicts in :mod:`.residents` and :mod:`.payments.orders`); their models here describe them and
the fuzz test holds the server to them.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from central_sync.hall_status import HallStatus
from central_sync.protocol import Ack, Batch, ConfigPage, ContentPage, EnrolRequest, Enrolment, ProblemDetail, Roster

from .residents import ITEMS

ROOM_PATTERN = r"^[0-9]{1,3}-[0-9]{1,2}-[0-9]{1,5}$"
"""``building-unit-room``, as :data:`hall_common.resident_qr.ROOM` accepts it."""
TEXT_PATTERN = r"^[^\u0000]*$"
"""Any text without a NUL character (PostgreSQL's text holds none)."""
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
MAX_CURSOR = 2**63 - 1
"""The largest sequence number a feed can hold (a BIGINT); a larger cursor is refused."""
ORDER_STATUS = Literal["created", "expired_unclosed", "paid", "paid_conflict", "closed", "failed"]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class BillLine(BaseModel):
    """One priced bill line (seed 003: item, standard and basis shown with the amount)."""

    model_config = _STRICT
    id: str = Field(pattern=UUID_PATTERN)
    item: Literal[ITEMS]  # type: ignore[valid-type]
    period: str
    amount_fen: int = Field(gt=0)
    standard: str
    basis: str
    due_date: str = Field(description="YYYY-MM-DD")
    status: Literal["unpaid", "paid"]
    overdue: bool


class Household(BaseModel):
    model_config = _STRICT
    room: str
    building: str
    unit: str
    name: str = Field(description="the owner's name, masked (张*)")


class ResidentBills(BaseModel):
    """What a proven resident may see: their household and its own lines only."""

    model_config = _STRICT
    household: Household
    unpaid: list[BillLine]
    paid: list[BillLine] = Field(description="the latest few paid lines, for reference")


class Room(BaseModel):
    model_config = _STRICT
    room: str
    building: str
    unit: str


class RoomList(BaseModel):
    model_config = _STRICT
    rooms: list[Room]


class OrderCreated(BaseModel):
    model_config = _STRICT
    order_id: str = Field(pattern=UUID_PATTERN)
    out_trade_no: str = Field(pattern=r"^[0-9A-Za-z]{6,32}$")
    amount_fen: int = Field(gt=0, description="the sum of the lines at the centre")
    code_url: str = Field(description="what the QR code holds")
    expires_at: float
    provider: str = Field(description="the wallet of this order")
    wallets: list[str] = Field(description="every wallet the centre offers (one order each, with beside)")
    lines: list[OrderLine] = Field(description="the order's lines (item, period, amount) for the receipt")


class OrderLine(BaseModel):
    model_config = _STRICT
    id: str = Field(pattern=UUID_PATTERN)
    item: str
    period: str
    amount_fen: int
    status: Literal["unpaid", "paid"]


class OrderRefund(BaseModel):
    model_config = _STRICT
    status: Literal["requested", "confirmed", "failed"]
    amount_fen: int
    reason: str


class RefundLine(BaseModel):
    model_config = _STRICT
    item: str
    period: str
    amount_fen: int


class HallRefund(BaseModel):
    model_config = _STRICT
    id: str
    order_id: str
    provider: str
    out_refund_no: str
    out_trade_no: str
    room: str
    amount_fen: int = Field(gt=0)
    order_fen: int = Field(description="what the payment was")
    reason: str
    status: Literal["requested", "confirmed", "failed"]
    requested_at: float
    confirmed_at: float | None
    paid_at: float | None
    automatic: bool = Field(description="the automatic refund of a bill paid twice (no person asked)")
    lines: list[RefundLine] = Field(description="the bill lines it gives back (owed again once it is confirmed)")


class HallRefunds(BaseModel):
    model_config = _STRICT
    refunds: list[HallRefund]


class OrderView(BaseModel):
    model_config = _STRICT
    order_id: str
    status: ORDER_STATUS
    amount_fen: int
    paid_at: float | None
    expires_at: float
    provider: str
    pair_of: str | None = Field(description="the first order of the pair, for a second code")
    refund: OrderRefund | None = Field(description="paid twice: this payment's refund")
    lines: list[OrderLine]


class PaymentView(OrderView):
    """An order as the hall long-polls it: for a pair's first order, the payment as one."""

    outcome: ORDER_STATUS = Field(description="paid (or paid_conflict) once either code is paid; closed or failed once "
                                              "every code is; created until then. A lone order's is its status")
    settled: bool = Field(description="every code of the payment is final")
    pair: list[OrderView] | None = Field(None, description="the pair's other codes (the first order's view only)")


class NotifyAnswer(BaseModel):
    """WeChat Pay's own answer format: it retries until it reads SUCCESS."""

    model_config = _STRICT
    code: Literal["SUCCESS", "FAIL"]
    message: str


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _ok(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": _json(ref)}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json("ProblemDetail")}


_CURSOR = {"name": "after", "in": "query", "required": False,
           "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR}}
_UNAUTHORISED = _problem("no, unknown or revoked node credential")
_BILLS_REQUEST = {
    "type": "object",
    "description": "a resident QR code, or room and the last 4 digits of the registered phone; kiosk names the asking "
                   "kiosk, for the centre's log only (wrong tries are limited by the caller's credential and the room)",
    "properties": {"kiosk": {"type": "string", "pattern": TEXT_PATTERN}, "qr": {"type": "string", "pattern": TEXT_PATTERN},
                   "room": {"type": "string", "pattern": ROOM_PATTERN},
                   "last4": {"type": "string", "pattern": r"^[0-9]{4}$"}},
    "anyOf": [{"required": ["qr"]}, {"required": ["room", "last4"]}],
    "additionalProperties": False,
}
_ORDER_REQUEST = {
    "type": "object", "additionalProperties": False, "required": ["room", "bill_ids"],
    "description": "never an amount: the centre sums the lines",
    "properties": {"room": {"type": "string", "pattern": ROOM_PATTERN}, "kiosk": {"type": "string", "pattern": TEXT_PATTERN},
                   "bill_ids": {"type": "array", "items": {"type": "string", "pattern": UUID_PATTERN},
                                "minItems": 1, "maxItems": 24},
                   "provider": {"type": "string", "enum": ["sandbox", "wechat", "alipay"],
                                "description": "the wallet (one the centre offers); unset: its default"},
                   "beside": {"type": "string", "pattern": UUID_PATTERN,
                              "description": "a second code: the open order (of another wallet) for the same lines"}},
}
_WECHAT_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string", "minLength": 1}, "description": what}
    for name, what in (("Wechatpay-Timestamp", "Unix seconds, within 5 minutes of the centre's clock"),
                       ("Wechatpay-Nonce", "the signature's nonce"),
                       ("Wechatpay-Signature", "RSA-SHA256 over timestamp, nonce and body, base64"),
                       ("Wechatpay-Serial", "the serial of the platform key that signed"))
]
_NOTIFICATION = {
    "type": "object", "required": ["resource_type", "resource"],
    "properties": {
        "id": {"type": "string"}, "create_time": {"type": "string"}, "event_type": {"type": "string"},
        "summary": {"type": "string"}, "resource_type": {"const": "encrypt-resource"},
        "resource": {"type": "object", "required": ["algorithm", "ciphertext", "nonce"],
                     "properties": {"algorithm": {"const": "AEAD_AES_256_GCM"}, "ciphertext": {"type": "string"},
                                    "nonce": {"type": "string"}, "associated_data": {"type": "string"},
                                    "original_type": {"type": "string"}}},
    },
}


def _checked_bodies(schemas: dict[str, Any]) -> None:
    """A ``hall_status`` record's body is checked at ingest (fleet_projection.py), so the
    document says what it must hold: a record is either of another kind with any body, or a
    ``hall_status`` with a :class:`~central_sync.hall_status.HallStatus` body."""
    status = HallStatus.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(status.pop("$defs", {}))
    schemas["HallStatus"] = status
    record = schemas["Record"]
    other, own = copy.deepcopy(record), copy.deepcopy(record)
    other["properties"]["kind"]["enum"] = [k for k in record["properties"]["kind"]["enum"] if k != "hall_status"]
    own["properties"]["kind"] = {"const": "hall_status", "title": "Kind", "type": "string"}
    own["properties"]["body"] = {"$ref": "#/components/schemas/HallStatus"}
    schemas["Record"] = {"title": "Record", "description": record.get("description", ""), "anyOf": [other, own]}


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (Batch, Ack, ConfigPage, ContentPage, ProblemDetail, ResidentBills, RoomList, OrderCreated, OrderView, PaymentView,
                  NotifyAnswer, HallRefunds, EnrolRequest, Enrolment, Roster):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    _checked_bodies(schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Service hall central sync API", "version": "1"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"node": {"type": "http", "scheme": "bearer", "description": "a node credential from `hall provision`"}},
        },
        "security": [{"node": []}],
        "paths": {
            "/api/v1/sync/batches": {
                "post": {
                    "operationId": "postBatch",
                    "summary": "Push records; each is applied exactly once by its id",
                    "requestBody": {"required": True, "content": _json("Batch")},
                    "responses": {
                        "200": _ok("what the centre holds now", "Ack"),
                        "401": _UNAUTHORISED,
                        "403": _problem("the batch names another hall"),
                        "409": _problem("a record id is held by another hall"),
                        "413": _problem("the batch is too large"),
                        "415": _problem("the body is not JSON"),
                        "422": _problem("the batch is malformed; the field is named"),
                    },
                }
            },
            "/api/v1/sync/configs": {
                "get": {
                    "operationId": "getConfigs",
                    "summary": "Signed configurations published for this hall's nodes, after a cursor",
                    "parameters": [_CURSOR],
                    "responses": {
                        "200": _ok("oldest first, at most 100", "ConfigPage"),
                        "401": _UNAUTHORISED,
                        "422": _problem("the cursor is not a whole number from 0 to 2^63-1"),
                    },
                }
            },
            "/api/v1/sync/content": {
                "get": {
                    "operationId": "getContent",
                    "summary": "Public content (announcements) for this hall and every hall, after a cursor",
                    "parameters": [_CURSOR],
                    "responses": {
                        "200": _ok("oldest first, at most 200", "ContentPage"),
                        "401": _UNAUTHORISED,
                        "422": _problem("the cursor is not a whole number from 0 to 2^63-1"),
                    },
                }
            },
            "/api/v1/residents/bills": {
                "post": {
                    "operationId": "postResidentBills",
                    "summary": "One household's bills (owner masked, its own lines only) once a resident is identified "
                               "by a resident QR code or by room and the last 4 digits of the registered phone",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _BILLS_REQUEST}}},
                    "responses": {
                        "200": _ok("household, unpaid lines, the last paid lines", "ResidentBills"),
                        "401": _UNAUTHORISED,
                        "403": _problem("resident code forged, expired, of another hall or unreadable"),
                        "404": _problem("no household matches"),
                        "422": _problem("malformed request"),
                        "429": _problem("too many wrong attempts by this credential or on this room"),
                    },
                }
            },
            "/api/v1/residents/rooms": {
                "get": {
                    "operationId": "getResidentRooms",
                    "summary": "The hall's rooms (building, unit, room; no names or phones) for the kiosk's pickers",
                    "responses": {
                        "200": _ok("every room of the caller's hall", "RoomList"),
                        "401": _UNAUTHORISED,
                    },
                }
            },
            "/api/v1/payments/orders": {
                "post": {
                    "operationId": "postPaymentOrder",
                    "summary": "A payment order for unpaid bill lines of one room; the amount is their sum at the centre",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ORDER_REQUEST}}},
                    "responses": {
                        "201": _ok("the order and what its QR code holds", "OrderCreated"),
                        "401": _UNAUTHORISED,
                        "404": _problem("a line is not this room's (or not this hall's)"),
                        "409": _problem("a line is paid already, or in another open payment, or the wallet is not "
                                        "one this centre offers"),
                        "422": _problem("malformed, or the body names an amount"),
                        "503": _problem("the payment provider does not answer"),
                    },
                }
            },
            "/api/v1/payments/orders/{order_id}": {
                "get": {
                    "operationId": "getPaymentOrder",
                    "summary": "An order's status and lines, and for a pair's first order the payment as one; "
                               "with wait=N, answers when the payment has an outcome (until=outcome) or every code "
                               "is final (until=settled), or after N <= 25 s",
                    "parameters": [{"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}},
                                   {"name": "wait", "in": "query", "required": False,
                                    "schema": {"type": "number", "minimum": 0, "maximum": 25}},
                                   {"name": "until", "in": "query", "required": False,
                                    "schema": {"type": "string", "enum": ["outcome", "settled"]}}],
                    "responses": {
                        "200": _ok("status, paid_at and each line's state; outcome, settled and the pair", "PaymentView"),
                        "401": _UNAUTHORISED,
                        "404": _problem("no such order for this hall"),
                        "422": _problem("wait is not a number of seconds from 0 to 25, or until is neither outcome "
                                        "nor settled"),
                    },
                }
            },
            "/api/v1/payments/notify/{provider}": {
                "post": {
                    "operationId": "postPaymentNotification",
                    "summary": "The provider's payment notification (WeChat Pay APIv3 format: signed, resource encrypted; "
                               "for provider alipay, Alipay's RSA2-signed form, answered with the text success or fail)",
                    "security": [],
                    "parameters": [{"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}},
                                   *_WECHAT_HEADERS],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _NOTIFICATION}}},
                    "responses": {
                        "200": _ok('{"code": "SUCCESS"}: recorded, or recorded before', "NotifyAnswer"),
                        "400": _ok('{"code": "FAIL", "message": reason}: not believed; nothing changed', "NotifyAnswer"),
                        "404": _ok('{"code": "FAIL"}: unknown provider or order', "NotifyAnswer"),
                    },
                }
            },
            "/api/v1/payments/refund-notify/{provider}": {
                "post": {
                    "operationId": "postRefundNotification",
                    "summary": "The provider's refund notification (WeChat's REFUND.*, to the notify_url each refund is asked "
                               "with): verified, then the refund confirmed and its bill lines reopened",
                    "security": [],
                    "parameters": [{"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}},
                                   *_WECHAT_HEADERS],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _NOTIFICATION}}},
                    "responses": {
                        "200": _ok('{"code": "SUCCESS"}: applied, applied before, or a refund the centre did not ask for',
                                   "NotifyAnswer"),
                        "400": _ok('{"code": "FAIL", "message": reason}: not believed; nothing changed', "NotifyAnswer"),
                        "404": _ok('{"code": "FAIL"}: unknown provider', "NotifyAnswer"),
                    },
                }
            },
            "/api/v1/payments/refunds": {
                "get": {
                    "operationId": "getHallRefunds",
                    "summary": "The refunds of the caller's hall asked for in the last days (the counter's refund slips)",
                    "parameters": [{"name": "days", "in": "query", "required": False,
                                    "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 31}}],
                    "responses": {
                        "200": _ok("newest first, at most 500", "HallRefunds"),
                        "401": _UNAUTHORISED,
                        "422": _problem("days is not a number of days above 0, at most 31"),
                    },
                }
            },
            "/api/v1/enrol": {
                "post": {
                    "operationId": "postEnrol",
                    "summary": "A Pi joins its hall with a one-time join code (hall join); the code is the credential",
                    "security": [],
                    "requestBody": {"required": True, "content": _json("EnrolRequest")},
                    "responses": {
                        "200": _ok("the Pi's configuration, broker password, signing key (and the edge's token)", "Enrolment"),
                        "404": _problem("no such join code"),
                        "409": _problem("a kiosk, and the centre has no kiosk configuration yet"),
                        "410": _problem("the code was used, has expired, or its device was retired"),
                        "422": _problem("malformed; the field is named"),
                        "429": _problem("too many wrong codes from this address"),
                    },
                }
            },
            "/api/v1/sync/roster": {
                "get": {
                    "operationId": "getRoster",
                    "summary": "The hall's live broker logins (mosquitto $7$ hashes), for its edge's password file",
                    "responses": {
                        "200": _ok("every enrolled, not retired node of the hall", "Roster"),
                        "401": _UNAUTHORISED,
                        "403": _problem("the credential is not the hall's edge"),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {"operationId": "getOpenapi", "summary": "This document", "security": [],
                        "responses": {"200": {"description": "the OpenAPI document",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}}}
            },
        },
    }
