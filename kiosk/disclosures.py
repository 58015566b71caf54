"""Public disclosures (信息公示, seed 000 clause 4.8): what the property company must show
residents, browsed by category, searched, read with its table and pictures, printed, and
questioned (seed 003 section 六 asks the hall to answer questions about what it discloses).

Everything comes from the edge over the bus (the edge keeps the centre's items, so this
works with the centre down). Pictures are fetched from the edge by their sha256 and served
from this kiosk with a long cache life: a picture's address never changes its bytes. A
question is filed as a ``complaint`` request of kind ``consultation``, its content starting
with the item's title and version, so staff know what it is about.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l

from hall_common.errors import HallError

from .complaints import field_errors
from .edge import ask_edge, refusal
from .nav import go, kept, leave

bp = Blueprint("disclosures", __name__, url_prefix="/disclosures")
log = logging.getLogger(__name__)

CATEGORY_NAMES = {
    "licence": _l("Business licence"),
    "service": _l("Service items and standards"),
    "fees": _l("Fee items, rates and how to pay"),
    "manager": _l("Manager and complaint phone"),
    "contract": _l("Contract performance, income and spending"),
    "common_income": _l("Income from common parts"),
    "repair_fund": _l("Use of the maintenance fund"),
    "contractors": _l("Maintenance contractors"),
}
PHRASES = ("费用标准不清楚", "想了解明细", "数字好像不对", "请电话联系我")
PLACE = "信息公示"
MAX_QUESTION = 300


def _edge(method: str, args: dict[str, Any]) -> dict[str, Any]:
    """A disclosure request to the edge; a missing item goes back to the list, an edge that
    does not answer to the screen that says where to go instead."""
    try:
        return ask_edge(method, args)
    except HallError as exc:
        missing = refusal(exc, doing=method) == "not_found"
        leave(url_for("disclosures.index") if missing else url_for("home.service", key="disclosures"))


def category_name(cid: str) -> str:
    return str(CATEGORY_NAMES.get(cid, cid))


@bp.get("/")
def index():
    listing = _edge("disclosures", {})
    return render_template("kiosk/disclosures_index.html", categories=listing["categories"], name=category_name)


@bp.post("/search")
def search_submit():
    session["disclosure_q"] = " ".join(request.form.get("q", "").split())[:40]
    return go(url_for("disclosures.search"))


@bp.get("/search")
def search():
    q = session.get("disclosure_q", "")
    if not q:
        return go(url_for("disclosures.index"))
    found = _edge("disclosure_search", {"q": q})
    return render_template("kiosk/disclosures_search.html", q=q, items=found["items"], name=category_name)


@bp.get("/c/<cid>")
def category(cid: str):
    listing = _edge("disclosures", {"category": cid})
    return render_template("kiosk/disclosures_category.html", cid=cid, items=listing["items"], name=category_name)


@bp.get("/i/<item_id>")
def item(item_id: str):
    d = _edge("disclosure", {"id": item_id})
    printed = session.get("disclosure_printed") or {}
    return render_template("kiosk/disclosure_item.html", d=d, name=category_name,
                           printed=printed.get("state") if printed.get("id") == item_id else None)


@bp.post("/i/<item_id>/print")
def print_item(item_id: str):
    d = _edge("disclosure", {"id": item_id})
    session["disclosure_printed"] = {"id": item_id, "state": "printed" if _print(d) else "failed"}
    return go(url_for("disclosures.item", item_id=item_id))


def _print(d: dict[str, Any]) -> bool:
    """The item on paper through the edge's print service (text and table; the pictures
    stay on screen). False when there is no printer or it fails."""
    from hall_common.disclosure_categories import BY_ID

    printing = current_app.extensions.get("printing")
    if printing is None:
        return False
    lines = [d["body"]] if d["body"] else []
    lines += [" | ".join(row) for row in d["table"]]
    body = "\n".join(lines)
    if len(body) > 4000:
        body = body[:3990] + "\n……"
    fields = {"title": d["title"][:60], "category": BY_ID[d["category"]].zh if d["category"] in BY_ID else d["category"],
              "effective_date": d["effective_date"], "version": d["version"], "body": body or "—"}
    try:
        outcome = printing.print("disclosure", fields, printer=current_app.config["SETTINGS"].printer, timeout=8.0)
    except HallError as exc:
        log.warning("disclosure print: %s", exc)
        return False
    return outcome.printed


@bp.get("/img/<sha>")
def image(sha: str):
    """A picture of an item, from the edge; cached by the browser for good (the address is
    the picture's hash)."""
    try:
        pic = ask_edge("disclosure_image", {"sha256": sha})
    except HallError as exc:
        abort(503 if refusal(exc, doing="disclosure image") is None else 404)
    resp = Response(base64.b64decode(pic["data"]), mimetype=pic["mime"])
    resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return resp


@bp.get("/i/<item_id>/ask")
def ask(item_id: str):
    d = _edge("disclosure", {"id": item_id})
    draft = session.get("disclosure_ask")
    if draft is None or draft.get("id") != item_id:
        draft = {"id": item_id, "request": str(uuid.uuid4()), "answers": {}}
        session["disclosure_ask"] = draft
    options = _edge("complaint_options", {})
    return render_template("kiosk/disclosure_ask.html", d=d, a=draft["answers"], phrases=PHRASES,
                           errors=session.pop("disclosure_ask_errors", {}), keep_years=options["keep_years"],
                           failed=session.pop("disclosure_ask_failed", False), limit=MAX_QUESTION)


def _prefix(d: dict[str, Any]) -> str:
    return f"【公示：{d['title']} v{d['version']}】"


@bp.post("/i/<item_id>/ask")
def ask_submit(item_id: str):
    d = _edge("disclosure", {"id": item_id})
    draft = session.get("disclosure_ask")
    if draft is None or draft.get("id") != item_id:
        return go(url_for("disclosures.ask", item_id=item_id))
    form = request.form
    answers = {"question": form.get("question", "").strip(), "name": form.get("name", "").strip(),
               "room": "".join(form.get("room", "").split()), "phone": "".join(form.get("phone", "").split())}
    draft["answers"] = answers
    session["disclosure_ask"] = draft
    args = {"kind": "consultation", "category": "fees" if d["category"] == "fees" else "other", "place": PLACE,
            "content": _prefix(d) + answers["question"], "wanted": "", "name": answers["name"],
            "room": answers["room"], "phone": answers["phone"],
            "occurred_at": time.time()}  # a question about a notice happens as it is asked
    errors: dict[str, str] = {}
    if not 2 <= len(answers["question"]) <= MAX_QUESTION:
        errors["question"] = _("Type your question in at least 2 characters, at most %(n)s.", n=MAX_QUESTION)
    errors.update(field_errors(args, ("name", "room", "phone")))
    if errors:
        session["disclosure_ask_errors"] = errors
        return go(url_for("disclosures.ask", item_id=item_id))
    try:
        receipt = ask_edge("complaint", {"request": draft["request"], **args})
    except HallError as exc:
        log.warning("disclosure question: %s", exc)
        session["disclosure_ask_failed"] = True
        return go(url_for("disclosures.ask", item_id=item_id))
    session.pop("disclosure_ask", None)  # the phone number leaves the kiosk here
    session["disclosure_asked"] = {"readable": receipt["readable"], "id": item_id, "title": d["title"]}
    return go(url_for("disclosures.asked"))


@bp.get("/asked")
def asked():
    r = kept("disclosure_asked", or_go="disclosures.index")
    return render_template("kiosk/disclosure_asked.html", r=r, idle_kind="result")
