"""The enrolment API (:mod:`.enrolment`): a Pi's join, and the roster its hall's edge keeps.

``POST /api/v1/enrol`` ``{"code": ...}`` needs no credential (the code is one); it answers an
:class:`~central_sync.protocol.Enrolment`, or a problem: 404 unknown code, 410 used,
expired or of a retired device, 409 nothing to configure a kiosk with yet, 422 malformed,
429 too many wrong codes from the address. ``GET /api/v1/sync/roster`` answers the hall's
live broker logins to its edge (bearer token), 403 to any other node.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request
from pydantic import ValidationError

from central_sync.protocol import EnrolRequest, Roster
from hall_common.bus import contract

from . import enrolment
from .api import node_only, problem, refused
from .db import get_store
from .ingest import NodeIdentity
from .refusal import Refused

bp = Blueprint("enrol_api", __name__, url_prefix="/api/v1")
bp.register_error_handler(Refused, refused)


@bp.post("/enrol")
def post_enrol():
    """A Pi's join: the code is taken once, whatever else happens."""
    try:
        body = EnrolRequest.model_validate_json(request.get_data(cache=False) or b"null")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "body"
        return problem(422, "malformed", f"请求格式有误 · Malformed: {where}: {first['msg']}; send {{\"code\": \"ABCD-EFGH-JKLM\"}}")
    answer = enrolment.enrol(get_store(), body.code, centre_url=request.host_url, key=current_app.extensions["config_key"],
                             address=request.remote_addr or "?", valid_days=current_app.config["CONFIG_VALID_DAYS"])
    return current_app.response_class(answer.model_dump_json(), mimetype="application/json")


@bp.get("/sync/roster")
@node_only
def get_roster(who: NodeIdentity):
    """The hall's live broker logins, for its edge to write into the broker's password file."""
    if who.node_id != contract.EDGE_NODE:
        return problem(403, "forbidden", "only the hall's edge keeps the broker's logins")
    page = Roster(hall_id=who.hall_id, logins=enrolment.roster(get_store(), who.hall_id))
    return current_app.response_class(page.model_dump_json(), mimetype="application/json")
