"""The halls' shift handover sheets in the admin console (login required): per hall, the
newest first, with who handed over, what was open, the takings and who acknowledged it.

The sheets are read straight from the ledger (``records`` of kind ``handover``, by the
hall's index on hall, kind and time): a ``closed`` record carries the frozen sheet
(edge_agent/handover_sheet.py), an ``acknowledged`` record who of the next shift signed for
it. They hold no resident's personal data, so no projection table or masking is needed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, render_template, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import access
from .db import get_store

log = logging.getLogger(__name__)
bp = Blueprint("handovers", __name__, url_prefix="/handovers")


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Item(_Part):
    text: str = Field(max_length=400)


class _Section(_Part):
    title: str
    available: bool = True
    items: list[_Item] = []
    omitted: int = 0


class _Shift(_Part):
    label: str
    staff: list[str]
    opened_at: float
    opened_by: str
    closed_at: float
    closed_by: str


class _Takings(_Part):
    qr_fen: int
    cash_counted_fen: int
    cash_expected_fen: int
    difference_fen: int


class _Sheet(_Part):
    """What the page shows of a sheet; a body that does not fit is skipped and logged, never
    a broken page (a hall on other software, a damaged record)."""

    shift: _Shift
    sections: list[_Section]
    takings: _Takings
    notes: str = ""

SHOWN = 100
"""Sheets shown per hall (the newest)."""


def sheets(store: Any, hall_id: str, limit: int = SHOWN) -> list[dict[str, Any]]:
    """The hall's newest handover sheets, each with its acknowledgement if one has come."""
    rows = store.query("SELECT body FROM records WHERE hall_id = ? AND kind = 'handover' ORDER BY node_ts DESC LIMIT ?",
                       (hall_id, limit * 2))
    bodies = [r["body"] if isinstance(r["body"], dict) else json.loads(r["body"]) for r in rows]
    acks = {b.get("shift"): b for b in bodies if b.get("event") == "acknowledged"
            and isinstance(b.get("acked_by"), str) and isinstance(b.get("acked_at"), (int, float))}
    out = []
    for b in bodies:
        if b.get("event") != "closed":
            continue
        try:
            sheet = _Sheet.model_validate(b.get("sheet")).model_dump()
        except ValidationError as exc:
            log.warning("handover record of shift %s in hall %s not shown: %s", b.get("shift"), hall_id,
                        exc.errors()[0]["msg"])
            continue
        out.append({**sheet, "ack": acks.get(b.get("shift"))})
    return out[:limit]


@bp.get("/")
@access.require("view")
def index():
    """One hall's sheets: the one asked for if it is the user's, else the user's first."""
    store = get_store()
    halls = access.hall_rows()
    hall = request.args.get("hall") or (halls[0]["hall_id"] if halls else "")
    if hall:
        access.check_hall(hall)
    return render_template("admin/handovers.html", halls=halls, hall=hall,
                           sheets=sheets(store, hall) if hall else [])
