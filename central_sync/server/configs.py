"""Kiosk configuration at the centre: edit, validate, sign, publish (staged), and see what
each kiosk runs.

A configuration is the kiosk's ``settings`` section (``KioskSettings``: services, hours,
phones, idle times, languages, panel), edited as TOML and validated against the same
schema the kiosk uses before it can be saved. Publishing signs one document per kiosk
(the hall and node are inside the signature) with the configuration's version, which
grows strictly, and an expiry. Staged: a list of kiosks or a percentage first; publishing
again without either reaches the rest. Every save and publish goes to the audit log.
"""

from __future__ import annotations

import hashlib
import json
import time
import tomllib

import tomli_w
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from pydantic import ValidationError

from central_sync.signing import public_key_b64, sign
from hall_common.config import KioskSettings

from . import access, edge_services
from . import audit as audit_log
from .db import get_store

bp = Blueprint("configs", __name__, url_prefix="/configs")


def audit(action: str, detail: dict, *, hall: str | None = None) -> None:
    """A line in the audit log by the logged-in user, about ``hall`` (None: company-wide)."""
    audit_log.write(get_store(), g.user, action, detail, hall=hall)


def _body(row: dict) -> dict:
    return row["body"] if isinstance(row["body"], dict) else json.loads(row["body"])


@bp.get("/")
@access.require("view")
def index():
    return _page(None)


def _page(draft: str | None):
    """The configuration page; ``draft`` is what the editor shows (the text that failed, after an error)."""
    store = get_store()
    configs = store.query("SELECT version, note, created_by, created_at FROM configs WHERE target = 'kiosk' "
                          "ORDER BY version DESC LIMIT 20")
    latest = store.query("SELECT body FROM configs WHERE target = 'kiosk' ORDER BY version DESC LIMIT 1")
    mine, mine_args = access.hall_clause("n.hall_id")
    kiosks = store.query(
        "SELECT n.hall_id, n.node_id, n.sw, "
        "(SELECT max(a.version) FROM config_assignments a WHERE a.hall_id = n.hall_id AND a.node_id = n.node_id) AS desired, "
        "r.version AS reported, r.status, r.reason, r.received_at AS reported_at "
        "FROM hall_nodes n LEFT JOIN config_reports r ON r.hall_id = n.hall_id AND r.node_id = n.node_id "
        f"WHERE n.kind = 'kiosk' AND {mine} ORDER BY n.hall_id, n.node_id", mine_args
    )
    audit_rows = audit_log.recent(store, company_prefix="config.")
    if draft is None:
        draft = tomli_w.dumps(_body(latest[0])) if latest else ""
    halls = access.hall_rows()
    return render_template("admin/configs.html", configs=configs, kiosks=kiosks, audit=audit_rows, draft=draft,
                           halls=halls, public_key=public_key_b64(current_app.extensions["config_key"]))


@bp.post("/")
@access.require("configure")
def create():
    """Save a new configuration version, if it passes the kiosk's own schema. The versions
    are the company's library, shared by its halls: a version reaches no kiosk until it is
    published, and publishing is per hall, so a hall manager may add one."""
    text = request.form.get("settings", "")
    note = request.form.get("note", "").strip()[:200]
    try:
        settings = KioskSettings.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        flash(f"不是有效的 TOML · Not valid TOML: {exc}")
        return _page(text), 422
    except ValidationError as exc:
        first = exc.errors()[0]
        flash(f"配置有误，未保存 · Invalid, not saved: {'.'.join(map(str, first['loc']))}: {first['msg']}")
        return _page(text), 422
    version = save_version(settings, note)
    flash(f"已保存版本 {version} · Saved version {version}")
    return redirect(url_for("configs.index"))


def save_version(settings: KioskSettings, note: str, *, action: str = "config.create", detail: dict | None = None,
                 hall: str | None = None) -> int:
    """Store ``settings`` as the next version number and audit it (the TOML editor, the
    form and a roll back all save this way; ``hall`` the one a roll back is for, None for
    the company's library); returns the version."""
    store = get_store()
    with store.transaction():
        store.lock("configs")  # two admins saving at once get two versions, not one error
        version = (store.scalar("SELECT max(version) FROM configs") or 0) + 1
        body = settings.model_dump(mode="json", exclude_none=True)  # TOML has no null
        store.execute("INSERT INTO configs (version, body, note, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
                      (version, json.dumps(body, ensure_ascii=False), note or f"v{version}", g.user, time.time()))
        audit(action, {"version": version, "note": note, **(detail or {})}, hall=hall)
    return version


def version_body(version: int) -> dict | None:
    """The settings of ``version`` as stored, or None if there is no such version."""
    rows = get_store().query("SELECT body FROM configs WHERE version = ? AND target = 'kiosk'", (version,))
    return _body(rows[0]) if rows else None


def sign_and_assign(version: int, body: dict, kiosks: list[dict]) -> list[str]:
    """Sign ``version`` for each of ``kiosks`` (rows with hall_id, node_id) and record the
    assignments the edges pull; in the caller's transaction. Their halls' edges get the
    version's queue services the same way (``edge_services``; raises
    :class:`~.edge_services.EdgeAhead` when one runs a newer document). Returns
    ``hall/node`` of each kiosk newly given it (one that already has it is skipped)."""
    store = get_store()
    key = current_app.extensions["config_key"]
    expires = time.time() + current_app.config["CONFIG_VALID_DAYS"] * 86400
    published = []
    for k in kiosks:
        doc = sign(key, hall=k["hall_id"], node=k["node_id"], version=version, expires=expires, body=body)
        cur = store.execute(
            "INSERT INTO config_assignments (hall_id, node_id, version, doc, published_by, published_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hall_id, node_id, version) DO NOTHING",
            (k["hall_id"], k["node_id"], version, doc.model_dump_json(), g.user, time.time()),
        )
        if cur.rowcount == 1:
            published.append(f"{k['hall_id']}/{k['node_id']}")
    halls = {k["hall_id"] for k in kiosks}
    edges = edge_services.assign(store, key=key, valid_days=current_app.config["CONFIG_VALID_DAYS"], user=g.user,
                                 version=version, kiosk_body=body, halls=halls)
    for hall in sorted({e.split("/", 1)[0] for e in edges}):  # its queue numbers tickets so from now on
        audit("config.publish_edge", {"version": version, "published": [e for e in edges if e.startswith(f"{hall}/")]},
              hall=hall)
    return published


@bp.post("/<int:version>/publish")
@access.require("configure")
def publish(version: int):
    """Sign and publish ``version`` to the chosen kiosks: one hall or all (a hall manager's
    "all" is all of their halls), optionally only a list of kiosks or a percentage of them
    first. Kiosks that already have it are skipped."""
    store = get_store()
    body = version_body(version)
    if body is None:
        abort(404)  # edge and board settings go out by a rollout (rollouts.py)
    hall = request.form.get("hall", "*")
    if hall != "*":
        access.check_hall(hall)
    listed = {n.strip() for n in request.form.get("nodes", "").split(",") if n.strip()}
    try:
        percent = int(request.form.get("percent") or 100)
    except ValueError:
        percent = -1
    if not 1 <= percent <= 100:
        flash("百分比应为 1 到 100 · Percentage must be 1 to 100")
        return redirect(url_for("configs.index"))
    mine, mine_args = access.hall_clause("hall_id")
    kiosks = store.query(
        f"SELECT hall_id, node_id FROM hall_nodes WHERE kind = 'kiosk' AND (? = '*' OR hall_id = ?) AND {mine} "
        "ORDER BY hall_id, node_id",
        (hall, hall, *mine_args),
    )
    if listed:
        kiosks = [k for k in kiosks if k["node_id"] in listed]
    if percent < 100:
        # A stable choice: the same kiosks come first every time for this version.
        kiosks.sort(key=lambda k: hashlib.sha256(f"{version}/{k['hall_id']}/{k['node_id']}".encode()).hexdigest())
        kiosks = kiosks[: max(1, round(len(kiosks) * percent / 100))]
    try:
        with store.transaction():
            published = _publish_audited(version, body, kiosks, hall, listed, percent)
    except edge_services.EdgeAhead as exc:
        flash(f"未发布 · Not published: {exc}")
        return redirect(url_for("configs.index"))
    flash(f"版本 {version} 已发布到 {len(published)} 台自助机 · Version {version} published to {len(published)} kiosk(s)")
    return redirect(url_for("configs.index"))


def _publish_audited(version: int, body: dict, kiosks: list[dict], hall: str, listed: set[str], percent: int) -> list[str]:
    """Sign and audit: a line per hall reached, so each hall's manager reads what reached their kiosks."""
    published = sign_and_assign(version, body, kiosks)
    for one in sorted({p.split("/", 1)[0] for p in published}) or [None if hall == "*" else hall]:
        audit("config.publish", {"version": version, "hall": hall, "nodes": sorted(listed), "percent": percent,
                                 "published": [p for p in published if one is None or p.startswith(f"{one}/")]},
              hall=one)
    return published
