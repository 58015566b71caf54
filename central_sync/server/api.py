"""The sync API that halls talk to (HTTP + JSON, token in ``Authorization: Bearer``).

``POST /api/v1/sync/batches`` takes a :class:`~central_sync.protocol.Batch` and answers an
:class:`~central_sync.protocol.Ack`, or a problem document with a status that says what is
wrong: 401 unknown or revoked credential, 403 another hall's batch, 409 a record id held by
another hall, 413 too large, 415 not JSON, 422 a malformed batch (the field is named).
Nothing of a refused batch is applied. Every endpoint here but the document itself is for
a hall's nodes (:func:`node_only`).
"""

from __future__ import annotations

import json
from functools import partial, wraps
from typing import Any, Callable

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError

from central_sync.protocol import Batch, ConfigItem, ConfigPage, ContentItem, ContentPage, ProblemDetail

from . import credentials
from .db import get_store
from .ingest import NodeIdentity, apply_batch
from .openapi import MAX_CURSOR, document
from .refusal import Refused

bp = Blueprint("api", __name__, url_prefix="/api/v1")
BILLS_FIELDS = {"kiosk", "qr", "room", "last4"}
"""What a bills request may hold; anything else is refused, as the document says."""


def problem(status: int, code: str, detail: str) -> tuple[Response, int]:
    return jsonify(ProblemDetail(code=code, detail=detail).model_dump()), status


@bp.errorhandler(Refused)
def refused(exc: Refused) -> tuple[Response, int]:
    """A request refused where its rule is (a batch, a household, an order), as a problem."""
    return problem(exc.status, exc.code, exc.detail)


def bearer_token() -> str | None:
    """The credential in the request's ``Authorization: Bearer`` header, if there is one."""
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None


def authenticated() -> NodeIdentity | None:
    """The node whose credential the request carries, or None (unknown or revoked)."""
    token = bearer_token()
    return None if token is None else credentials.identify(get_store(), token)


def node_only(view: Callable[..., Any] | None = None, *,
              identify: Callable[[], NodeIdentity | None] = authenticated) -> Any:
    """Make ``view`` (or a helper that views return) answer only a hall's node: it is
    called with the caller's :class:`NodeIdentity` first; a request without a known
    credential gets a 401 problem. ``identify`` finds the caller (``@node_only(identify=...)``
    for another way)."""
    if view is None:
        return partial(node_only, identify=identify)

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        who = identify()
        if who is None:
            return problem(401, "unauthorised", "unknown or revoked node credential")
        return view(who, *args, **kwargs)

    return checked


@bp.post("/sync/batches")
@node_only
def post_batch(who: NodeIdentity):
    if (request.content_length or 0) > current_app.config["MAX_BATCH_BYTES"]:
        return problem(413, "too_large", f"a batch may be at most {current_app.config['MAX_BATCH_BYTES']} bytes")
    if not request.is_json:
        return problem(415, "not_json", "send the batch as application/json")
    body = request.get_data(cache=False)
    if len(body) > current_app.config["MAX_BATCH_BYTES"]:
        return problem(413, "too_large", f"a batch may be at most {current_app.config['MAX_BATCH_BYTES']} bytes")
    try:
        batch = Batch.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "batch"
        return problem(422, "malformed", f"{where}: {first['msg']}")
    ack = apply_batch(get_store(), who, _without_nul(batch, body))
    return current_app.response_class(ack.model_dump_json(), mimetype="application/json")


def _nul_free(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_nul_free(k): _nul_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nul_free(v) for v in value]
    return value


def _without_nul(batch: Batch, raw: bytes) -> Batch:
    """``batch`` with every NUL character in its record bodies replaced by U+FFFD.

    PostgreSQL can hold no NUL in text or JSONB (a batch with one was a 500, sent again
    forever by the hall's outbox); refusing it would block that outbox just the same. So the
    centre keeps the record, on SQLite and PostgreSQL alike, with each NUL as U+FFFD. In
    JSON a NUL can only come escaped, so a body without ``\\u0000`` is passed as it is."""
    if b"\\u0000" not in raw:
        return batch
    return batch.model_copy(update={"records": [r.model_copy(update={"body": _nul_free(r.body)}) for r in batch.records]})


def _json(value):
    return value if isinstance(value, dict) else json.loads(value)


@node_only
def _feed(who: NodeIdentity, sql: str, limit: int, item: Callable[[dict], Any], page_model: Any):
    """A pull feed: what was published for the caller's hall after the ``after`` cursor,
    oldest first; the new cursor is the last item's sequence number."""
    try:
        after = int(request.args.get("after", "0"))
    except ValueError:
        return problem(422, "malformed", "after: must be a whole number")
    if not 0 <= after <= MAX_CURSOR:  # SQLite cannot even bind a larger one (it was a 500)
        return problem(422, "malformed", f"after: must be a whole number from 0 to {MAX_CURSOR}")
    items = [item(r) for r in get_store().query(f"{sql} ORDER BY seq LIMIT {limit}", (who.hall_id, after))]
    page = page_model(items=items, cursor=items[-1].seq if items else after)
    return current_app.response_class(page.model_dump_json(), mimetype="application/json")


@bp.get("/sync/configs")
def get_configs():
    """Signed configurations published for this hall's nodes after ``after`` (a cursor)."""
    return _feed(
        "SELECT seq, node_id, doc FROM config_assignments WHERE hall_id = ? AND seq > ?", 100,
        lambda r: ConfigItem(seq=r["seq"], node=r["node_id"], doc=_json(r["doc"])), ConfigPage,
    )


@bp.get("/sync/content")
def get_content():
    """Public content for this hall (its own and every hall's) after ``after`` (a cursor)."""
    return _feed(
        "SELECT seq, kind, key, body, deleted FROM content WHERE (hall_id = ? OR hall_id = '*') AND seq > ?", 200,
        lambda r: ContentItem(seq=r["seq"], kind=r["kind"], key=r["key"], deleted=bool(r["deleted"]), body=_json(r["body"])),
        ContentPage,
    )


@bp.post("/residents/bills")
@node_only
def post_resident_bills(who: NodeIdentity):
    """One household's bills, for a hall's kiosk, once the resident proved who they are:
    ``{"kiosk": ..., "qr": ...}`` or ``{"kiosk": ..., "room": "3-2-1201", "last4": "5678"}``.
    Only the caller's hall is searched; wrong tries are limited by the caller's credential
    and the room (:mod:`.residents`), ``kiosk`` is a label for the log only."""
    from central_sync.signing import public_key_b64

    from . import residents

    body = request.get_json(silent=True)
    if (not isinstance(body, dict) or not set(body) <= BILLS_FIELDS
            or not all(isinstance(body.get(k, ""), str) and "\x00" not in body.get(k, "") for k in BILLS_FIELDS)):
        return problem(422, "malformed", "send a JSON object with kiosk and qr, or kiosk, room and last4 (strings "
                                         "without NUL characters), and nothing else")
    store = get_store()
    row = residents.identify(store, who.hall_id, who.node_id, label=body.get("kiosk", "")[:64],
                             room=body.get("room"), last4=body.get("last4"), qr=body.get("qr"),
                             public_key=public_key_b64(current_app.extensions["config_key"]))
    return jsonify(residents.bills_for(store, row))


@bp.get("/residents/rooms")
@node_only
def get_resident_rooms(who: NodeIdentity):
    """The hall's rooms as building, unit and room (no names, no phones), for the kiosk's
    pickers: a room number alone opens nothing without the phone digits."""
    from . import residents

    return jsonify(rooms=residents.rooms(get_store(), who.hall_id))


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())
