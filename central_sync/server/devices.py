"""The devices page: each hall's enrolled Pis, adding one (a join code) and retiring one.

Adding gives a one-time join code, shown once with its QR code and the command to type on
the Pi; retiring takes the device's login off the hall's roster and revokes its centre
token (:mod:`.enrolment`). Every change goes to the audit log.
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from . import access, audit, enrolment
from .db import get_store

bp = Blueprint("devices", __name__, url_prefix="/devices")


def _audit(action: str, detail: dict) -> None:
    audit.write(get_store(), g.user, action, detail, hall=detail["hall"])


def _halls() -> list[dict]:
    where, params = access.hall_clause("hall_id")
    return get_store().query(f"SELECT hall_id, name FROM halls WHERE {where} ORDER BY hall_id", params)


def _page(form: dict[str, str] | None = None, error: enrolment.DeviceError | None = None, status: int = 200):
    hall = request.args.get("hall", "")
    where, params = access.hall_clause("d.hall_id")
    if hall:
        access.check_hall(hall)
        where, params = f"{where} AND d.hall_id = ?", [*params, hall]
    rows = enrolment.listing(get_store(), where, params)
    return render_template("admin/devices.html", devices=rows, halls=_halls(), hall=hall, roles=enrolment.ROLES,
                           form=form or {}, error=error, may_configure=access.allowed("configure"),
                           now=time.time()), status


@bp.get("/")
@access.require("view")
def index():
    """Every enrolled device of the halls the user may see (``?hall=`` for one)."""
    return _page()


@bp.post("/")
@access.require("configure")
def add():
    """Add a device and show its join code; a bad field is named, nothing is written."""
    form = {k: request.form.get(k, "").strip() for k in ("hall", "role", "name")}
    access.check_hall(form["hall"])
    try:
        device_id, code = enrolment.add_device(get_store(), form["hall"], form["role"], form["name"], by=g.user)
    except enrolment.DeviceError as exc:
        return _page(form, exc, 422)
    _audit("device.add", {"hall": form["hall"], "role": form["role"], "node": form["name"]})
    return _code_page(device_id, code)


def _device(device_id: str) -> dict:
    row = enrolment.device(get_store(), device_id)
    if row is None:
        abort(404)
    access.check_hall(row["hall_id"])
    return row


@bp.post("/<device_id>/code")
@access.require("configure")
def new_code(device_id: str):
    """A fresh join code for a live device (its card rewritten, the code lost or expired)."""
    row = _device(device_id)
    if row["retired_at"] is not None:
        flash(f"{row['node_id']} 已停用，请重新添加 · {row['node_id']} is retired: add it again")
        return redirect(url_for("devices.index"))
    code = enrolment.new_code(get_store(), device_id)
    _audit("device.code", {"hall": row["hall_id"], "node": row["node_id"]})
    return _code_page(device_id, code)


@bp.post("/<device_id>/retire")
@access.require("configure")
def retire(device_id: str):
    """Retire a device: the hall's broker refuses its login once the edge has the roster,
    the centre refuses its token at once."""
    row = _device(device_id)
    if enrolment.retire(get_store(), device_id, by=g.user):
        _audit("device.retire", {"hall": row["hall_id"], "node": row["node_id"]})
        flash(f"已停用 {row['hall_id']}/{row['node_id']}：中心已拒绝其凭据，大厅边缘主机下次同步后代理服务器将拒绝其登录 · "
              f"Retired {row['hall_id']}/{row['node_id']}: the centre refuses its credential now, the hall's broker "
              f"once the edge fetches the roster")
    return redirect(url_for("devices.index", hall=row["hall_id"]))


def _code_page(device_id: str, code: str):
    import segno

    row = _device(device_id)
    # The address the administrator reached the centre at: the Pi is told the same one.
    command = f"sudo /opt/service-hall/.venv/bin/hall join {request.host_url.rstrip('/')} {code}"
    qr = segno.make(command, error="m").svg_inline(scale=5, dark="#18202b")
    return render_template("admin/device_code.html", device=row, code=code, command=command, qr=qr,
                           roles=enrolment.ROLES, expires=time.time() + enrolment.CODE_VALID_S)
