"""Bills at the kiosk: a resident proves who they are, then sees their household's bills.

Two ways in (DESIGN, privacy): scan the resident QR code the property office issued (signed
by the centre; checked here first with the centre's key from the kiosk configuration, and
again at the centre), or the room plus the last 4 digits of the registered phone. Either
goes kiosk -> edge (bus request ``bills``) -> centre, which answers that one room's lines
with the owner's name masked; wrong digits are rate limited at the centre.

Every line shows its item, period, amount, standard and basis (seed 003 §五, 明码标价).
A line past due says so in plain words; nothing is blocked or threatened. The resident may
tick lines to see their total: the choice is kept in the session as bill ids only, and
only ids of the lines this session was shown are taken, and paying them is
:mod:`kiosk.bill_payment`. The session (with the household) is wiped on idle timeout,
after a payment and when the resident taps Done.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask_babel import gettext as _

from hall_common import resident_qr
from hall_common.errors import HallError

from .camera import CameraError
from .edge import ask_edge, refusal
from .features import require
from .nav import go, kept
from .scan import read_qr

bp = Blueprint("bills", __name__, url_prefix="/bills")
log = logging.getLogger(__name__)

LAST4 = re.compile(r"^[0-9]{4}$")


def _refusal(code: str, *, by_qr: bool) -> str:
    """What to tell the resident when they are not let in, by the centre's (or our) code."""
    messages = {
        "forged": _("This QR code was not issued by the property office and cannot be used. "
                    "Please enter your room instead, or ask at the front desk."),
        "expired": _("This resident QR code has expired. Please ask the front desk for a new one, "
                     "or enter your room instead."),
        "other_hall": _("This resident QR code belongs to another estate. Please enter your room instead."),
        "unreadable": _("This QR code cannot be read as a resident code. Please enter your room instead."),
        "rate_limited": _("Too many tries. Please wait a few minutes, or ask at the front desk."),
        "not_found": (_("No household is registered for this code. Please ask at the front desk.") if by_qr else
                      _("The room and the phone digits do not match our records. Please check them and try again.")),
    }
    return messages.get(code, _("Bills cannot be looked up right now: the property office system is unreachable. "
                                "Please ask at the front desk."))


def _lookup(args: dict[str, str], *, by_qr: bool):
    """Ask the edge (and so the centre); keep the household and its lines for this visit."""
    try:
        found = ask_edge("bills", args)
    except HallError as exc:
        session["bills_error"] = _refusal(refusal(exc, doing="bills lookup") or "unavailable", by_qr=by_qr)
        return go(url_for("bills.start"))
    session.pop("bills_form", None)
    session["bills"] = {"household": found.get("household", {}), "unpaid": found.get("unpaid", []),
                        "paid": found.get("paid", [])}
    session["bills_pick"] = []
    return go(url_for("bills.show"))


@bp.get("/")
def start():
    """Who are you? Scan the resident code, or room plus phone digits. A new visit to this
    screen forgets a household identified before."""
    require("bills")
    session.pop("bills", None)
    session.pop("bills_pick", None)
    return render_template("kiosk/bills_identify.html", form=session.pop("bills_form", {"room": "", "last4": ""}),
                           error=session.pop("bills_error", None),
                           can_scan=current_app.extensions.get("camera") is not None)


@bp.post("/scan")
def scan():
    try:
        payload = read_qr("bills")
    except CameraError:
        session["bills_error"] = _("The camera is not working right now. Please enter your room instead.")
        return go(url_for("bills.start"))
    if payload is None:
        session["bills_error"] = _("No QR code was seen. Hold your resident QR code up to the camera and try again.")
        return go(url_for("bills.start"))
    if not resident_qr.looks_like(payload):
        session["bills_error"] = _("This is not a resident QR code. Please use the code from the property office, "
                                   "or enter your room instead.")
        return go(url_for("bills.start"))
    key = current_app.config.get("RESIDENT_PUBLIC_KEY")
    if key:  # the centre checks again; this check answers at once and keeps forgeries off the bus
        try:
            resident_qr.verify(key, payload, hall=current_app.config["HALL_ID"],
                               now=current_app.config["CLOCK"]().timestamp())
        except resident_qr.QRRefused as exc:
            log.info("bills: resident code refused (%s)", exc.reason)
            session["bills_error"] = _refusal(exc.reason, by_qr=True)
            return go(url_for("bills.start"))
    return _lookup({"qr": payload}, by_qr=True)


@bp.post("/identify")
def identify():
    room = "".join(request.form.get("room", "").split())
    last4 = request.form.get("last4", "").strip()
    errors = []
    if not resident_qr.ROOM.match(room):
        errors.append(_("Enter your room as building-unit-room, for example 3-2-1201."))
    if not LAST4.match(last4):
        errors.append(_("Enter the last 4 digits of the registered phone number."))
    if errors:
        session["bills_form"] = {"room": room[:20], "last4": ""}
        session["bills_error"] = " ".join(errors)
        return go(url_for("bills.start"))
    session["bills_form"] = {"room": room, "last4": ""}
    return _lookup({"room": room, "last4": last4}, by_qr=False)


def _natural(text: str) -> tuple:
    """Sort key: building "10" after "9", room "1201" after "901"."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


@bp.get("/room")
def room_picker():
    """Pick the room instead of typing it: building, then unit, then room. The list has no
    names or phones; a room alone opens nothing without the phone digits."""
    require("bills")
    try:
        rooms = ask_edge("bill_rooms", {}).get("rooms", [])
    except HallError as exc:
        log.warning("bills: no room list: %s", exc)
        session["bills_error"] = _refusal("unavailable", by_qr=False)
        return go(url_for("bills.start"))
    building, unit = request.args.get("b"), request.args.get("u")
    buildings = sorted({r["building"] for r in rooms}, key=_natural)
    if building not in buildings:
        return render_template("kiosk/bills_room.html", step="building", choices=buildings, building=None, unit=None)
    units = sorted({r["unit"] for r in rooms if r["building"] == building}, key=_natural)
    if unit not in units:
        return render_template("kiosk/bills_room.html", step="unit", choices=units, building=building, unit=None)
    in_unit = sorted((r["room"] for r in rooms if r["building"] == building and r["unit"] == unit), key=_natural)
    return render_template("kiosk/bills_room.html", step="room", choices=in_unit, building=building, unit=unit)


@bp.post("/room")
def room_picked():
    room = request.form.get("room", "")
    if resident_qr.ROOM.match(room):
        session["bills_form"] = {"room": room, "last4": ""}
    return go(url_for("bills.start"))


@bp.get("/list")
def show():
    """This visit's household and its lines; nothing else, whatever the address says."""
    bills = kept("bills", or_go="bills.start")
    picked = set(session.get("bills_pick", []))
    total = sum(line["amount_fen"] for line in bills["unpaid"] if line["id"] in picked)
    return render_template("kiosk/bills.html", bills=bills, picked=picked, total=total,
                           error=session.pop("bills_error", None))


@bp.post("/pick")
def pick():
    """Tick or untick a line (one tap, one request: no script needed). Only ids of this
    session's unpaid lines are taken; anything else is ignored."""
    bills = kept("bills", or_go="bills.start")
    mine = {line["id"] for line in bills["unpaid"]}
    picked = [i for i in session.get("bills_pick", []) if i in mine]
    line = request.form.get("line", "")
    if request.form.get("all"):
        picked = [line["id"] for line in bills["unpaid"]] if len(picked) < len(mine) else []
    elif line in mine:
        picked = [i for i in picked if i != line] if line in picked else [*picked, line]
    session["bills_pick"] = picked
    return go(url_for("bills.show"))


def yuan(fen: int) -> str:
    """``12345`` -> ``123.45`` (amounts are integer fen end to end)."""
    return f"{fen // 100:,}.{fen % 100:02d}"


bp.add_app_template_filter(yuan, "yuan")
