"""The OpenAPI 3.1 document of the sync API, built from the same pydantic models the server
validates with, so the document cannot drift from the code (a test also compares its paths
with the app's real routes)."""

from __future__ import annotations

from typing import Any

from central_sync.protocol import Ack, Batch, ConfigPage, ContentPage, ProblemDetail


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}}


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (Batch, Ack, ConfigPage, ContentPage, ProblemDetail):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
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
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}}},
                    "responses": {
                        "200": {"description": "what the centre holds now",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ack"}}}},
                        "401": _problem("unknown or revoked node credential"),
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
                    "parameters": [{"name": "after", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}}],
                    "responses": {
                        "200": {"description": "oldest first, at most 100",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ConfigPage"}}}},
                        "401": _problem("unknown or revoked node credential"),
                        "422": _problem("the cursor is not a whole number"),
                    },
                }
            },
            "/api/v1/sync/content": {
                "get": {
                    "operationId": "getContent",
                    "summary": "Public content (announcements) for this hall and every hall, after a cursor",
                    "parameters": [{"name": "after", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}}],
                    "responses": {
                        "200": {"description": "oldest first, at most 200",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ContentPage"}}}},
                        "401": _problem("unknown or revoked node credential"),
                        "422": _problem("the cursor is not a whole number"),
                    },
                }
            },
            "/api/v1/residents/bills": {
                "post": {
                    "operationId": "postResidentBills",
                    "summary": "One household's bills (owner masked, its own lines only) once a resident is identified "
                               "by a resident QR code or by room and the last 4 digits of the registered phone",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {"kiosk": {"type": "string"}, "qr": {"type": "string"},
                                       "room": {"type": "string", "pattern": "^\\d{1,3}-\\d{1,2}-\\d{1,5}$"},
                                       "last4": {"type": "string", "pattern": "^\\d{4}$"}}}}}},
                    "responses": {
                        "200": {"description": "household, unpaid lines, the last paid lines"},
                        "401": _problem("unknown or revoked node credential"),
                        "403": _problem("resident code forged, expired, of another hall or unreadable"),
                        "404": _problem("no household matches"),
                        "422": _problem("malformed request"),
                        "429": _problem("too many wrong attempts for this kiosk or room"),
                    },
                }
            },
            "/api/v1/residents/rooms": {
                "get": {
                    "operationId": "getResidentRooms",
                    "summary": "The hall's rooms (building, unit, room; no names or phones) for the kiosk's pickers",
                    "responses": {
                        "200": {"description": "rooms: a list of {room, building, unit}"},
                        "401": _problem("unknown or revoked node credential"),
                    },
                }
            },
            "/api/v1/payments/orders": {
                "post": {
                    "operationId": "postPaymentOrder",
                    "summary": "A payment order for unpaid bill lines of one room; the amount is their sum at the centre",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": False, "required": ["room", "bill_ids"],
                        "properties": {"room": {"type": "string"}, "kiosk": {"type": "string"},
                                       "bill_ids": {"type": "array", "items": {"type": "string", "format": "uuid"},
                                                    "minItems": 1, "maxItems": 24}}}}}},
                    "responses": {
                        "201": {"description": "order_id, out_trade_no, amount_fen, code_url (the QR content), expires_at"},
                        "401": _problem("unknown or revoked node credential"),
                        "404": _problem("a line is not this room's (or not this hall's)"),
                        "409": _problem("a line is paid already, or in another open payment"),
                        "422": _problem("malformed, or the body names an amount"),
                        "503": _problem("the payment provider does not answer"),
                    },
                }
            },
            "/api/v1/payments/orders/{order_id}": {
                "get": {
                    "operationId": "getPaymentOrder",
                    "summary": "An order's status and lines; with wait=N, answers when it is paid or closed (N <= 25 s)",
                    "parameters": [{"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}},
                                   {"name": "wait", "in": "query", "required": False,
                                    "schema": {"type": "number", "minimum": 0, "maximum": 25}}],
                    "responses": {
                        "200": {"description": "status (created, expired_unclosed, paid, paid_conflict, closed, failed), paid_at, lines"},
                        "401": _problem("unknown or revoked node credential"),
                        "404": _problem("no such order for this hall"),
                        "422": _problem("wait is not a number"),
                    },
                }
            },
            "/api/v1/payments/notify/{provider}": {
                "post": {
                    "operationId": "postPaymentNotification",
                    "summary": "The provider's payment notification (WeChat Pay APIv3 format: signed, resource encrypted)",
                    "security": [],
                    "parameters": [{"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": '{"code": "SUCCESS"}: recorded, or recorded before'},
                        "400": {"description": '{"code": "FAIL", "message": reason}: not believed; nothing changed'},
                        "404": {"description": '{"code": "FAIL"}: unknown provider or order'},
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {"operationId": "getOpenapi", "summary": "This document", "security": [],
                        "responses": {"200": {"description": "the OpenAPI document"}}}
            },
        },
    }
