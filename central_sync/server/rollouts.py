"""Staged rollouts in the admin console: start one, watch its health gate, continue or
abort; and save edge or board settings as versions to roll out.

The rule lives in :mod:`.rollout_gate`; these views only read forms, check who may do what
in which hall, and show the result. The gate is judged when a rollout's page is viewed,
when a hall's reports arrive (:mod:`.ingest`) and on each worker's tick
(:func:`start_tick`), so a rollout that nobody watches still halts or continues. Nothing
is kept in memory between requests: several workers run against one database.

Routes: ``GET /rollouts/`` (view), ``POST /rollouts/`` start (configure),
``GET /rollouts/<id>`` (view), ``POST /rollouts/<id>/continue`` and ``/abort``
(configure), ``POST /rollouts/settings`` a new edge or board settings version (configure).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import tomllib
import weakref
from typing import Any

from flask import Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request, url_for
from pydantic import ValidationError

from . import access, presence
from . import rollout_gate as gate
from .db import borrowed, get_store

bp = Blueprint("rollouts", __name__, url_prefix="/rollouts")
log = logging.getLogger(__name__)

TICK_S = 30.0
"""How often each worker judges the waiting rollouts (``ROLLOUT_TICK_S``; 0: never)."""
TARGET_NAMES = {"kiosk": "自助机 · kiosks", "edge": "边缘主机 · edge", "board": "叫号屏 · boards"}
STATUS_NAMES = {"waiting": "观察中 · waiting", "passed": "待继续 · gate passed", "halted": "已暂停 · halted",
                "aborted": "已中止 · aborted", "done": "已完成 · done", "publishing": "发布中 · publishing"}


def _visible(r: dict[str, Any]) -> bool:
    """A rollout is the user's when every hall it reaches is."""
    return all(access.may_see(h) for h in r["halls"])


def _rollout_or_404(rid: int) -> dict[str, Any]:
    r = gate.load(get_store(), rid)
    if r is None:
        abort(404)
    for hall in r["halls"]:
        access.check_hall(hall)
    return r


@bp.get("/")
@access.require("view")
def index():
    return _index_page()


def _index_page(form: dict[str, str] | None = None, status: int = 200):
    store = get_store()
    rows = store.query("SELECT * FROM rollouts ORDER BY id DESC LIMIT 200")
    for r in rows:
        r["halls"], r["stages"] = json.loads(r["halls"]), json.loads(r["stages"])
    rollouts = [r for r in rows if _visible(r)][:50]
    clause, args = access.hall_clause("hall_id")
    halls = store.query(f"SELECT hall_id, name FROM halls WHERE {clause} ORDER BY hall_id", args)
    versions = store.query("SELECT version, target, note, created_at FROM configs ORDER BY version DESC LIMIT 30")
    return render_template("admin/rollouts.html", rollouts=rollouts, halls=halls, versions=versions, form=form or {},
                           targets=TARGET_NAMES, statuses=STATUS_NAMES, describe=gate.describe,
                           may_configure=access.allowed("configure")), status


def _refuse(message: str):
    flash(message)
    return _index_page(dict(request.form), 422)


@bp.post("/")
@access.require("configure")
def start():
    """Start a rollout: a version, its halls (the user's own), stages, a gate time."""
    store = get_store()
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        return _refuse("请选择版本 · Choose a version")
    rows = store.query("SELECT target FROM configs WHERE version = ?", (version,))
    if not rows:
        return _refuse(f"没有版本 {version} · No version {version}")
    halls = sorted(set(request.form.getlist("halls")))
    if not halls:
        return _refuse("请至少选择一个服务中心 · Choose at least one hall")
    known = {h["hall_id"] for h in store.query("SELECT hall_id FROM halls")}
    for hall in halls:
        if hall not in known:
            return _refuse(f"没有这个服务中心 {hall} · No such hall")
        access.check_hall(hall)
    try:
        gate_minutes = float(request.form.get("gate_minutes", "") or "nan")
    except ValueError:
        gate_minutes = float("nan")
    if not 0 <= gate_minutes <= 24 * 60:
        return _refuse("观察时间应为 0 到 1440 分钟 · Gate time must be 0 to 1440 minutes")
    try:
        stages = gate.parse_stages(request.form.get("stages", ""))
        rid = gate.start(store, gate.Publisher.of(current_app), version=version, target=rows[0]["target"], halls=halls,
                         stages=stages, gate_minutes=gate_minutes, auto_continue=bool(request.form.get("auto_continue")),
                         user=g.user)
    except gate.RolloutError as exc:
        return _refuse(str(exc))
    flash(f"发布 {rid} 已开始，第 1 阶段已发布 · Rollout {rid} started, stage 1 published")
    return redirect(url_for("rollouts.show", rid=rid))


@bp.get("/<int:rid>")
@access.require("view")
def show(rid: int):
    _rollout_or_404(rid)
    store = get_store()
    r = gate.judge(store, rid, publisher=gate.Publisher.of(current_app))
    nodes = gate.stage_nodes(store, rid)
    audit = [a for a in store.query("SELECT ts, username, action, detail FROM audit_log WHERE action LIKE ? "
                                    "ORDER BY id DESC LIMIT 200", ("rollout.%",)) if json.loads(a["detail"]).get("rollout") == rid]
    return render_template("admin/rollout.html", r=r, nodes=nodes, audit=audit, targets=TARGET_NAMES,
                           statuses=STATUS_NAMES, describe=gate.describe, may_configure=access.allowed("configure"),
                           gate_ends=(r["stage_started_at"] or 0) + r["gate_minutes"] * 60)


@bp.post("/<int:rid>/continue")
@access.require("configure")
def proceed(rid: int):
    _rollout_or_404(rid)
    store = get_store()
    gate.judge(store, rid)  # a gate that passed a moment ago
    try:
        published = gate.proceed(store, gate.Publisher.of(current_app), rid, user=g.user)
        flash(f"下一阶段已发布到 {len(published)} 个节点 · Next stage published to {len(published)} node(s)")
    except gate.RolloutError as exc:
        flash(str(exc))
    return redirect(url_for("rollouts.show", rid=rid))


@bp.post("/<int:rid>/abort")
@access.require("configure")
def stop(rid: int):
    _rollout_or_404(rid)
    try:
        gate.abort(get_store(), rid, user=g.user)
        flash("发布已中止，不再发布 · Rollout aborted: nothing more is published")
    except gate.RolloutError as exc:
        flash(str(exc))
    return redirect(url_for("rollouts.show", rid=rid))


@bp.post("/settings")
@access.require("configure")
def save_settings():
    """A new version of edge or board settings (TOML), checked against that part's model."""
    target = request.form.get("target", "")
    if target not in ("edge", "board"):
        return _refuse("请选择边缘主机或叫号屏 · Choose edge or board")
    text = request.form.get("settings", "")
    note = request.form.get("note", "").strip()[:200]
    try:
        settings = gate.TARGETS[target][1].model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        return _refuse(f"不是有效的 TOML · Not valid TOML: {exc}")
    except ValidationError as exc:
        first = exc.errors()[0]
        return _refuse(f"设置有误，未保存 · Invalid, not saved: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    store = get_store()
    body = settings.model_dump(mode="json", exclude_none=True)
    with store.transaction():
        store.lock("configs")  # one sequence of versions with the kiosks' (configs.py)
        version = (store.scalar("SELECT max(version) FROM configs") or 0) + 1
        store.execute("INSERT INTO configs (version, body, note, created_by, created_at, target) VALUES (?, ?, ?, ?, ?, ?)",
                      (version, json.dumps(body, ensure_ascii=False), note or f"v{version}", g.user, time.time(), target))
        gate.audit(store, g.user, "config.create", {"version": version, "note": note, "target": target}, time.time())
    flash(f"已保存版本 {version}（{TARGET_NAMES[target]}）· Saved version {version}")
    return redirect(url_for("rollouts.index"))


# -- the tick ---------------------------------------------------------------------------------


@bp.record_once
def start_tick(state: Any) -> None:
    """Each worker judges the waiting rollouts every ``ROLLOUT_TICK_S`` seconds on a daemon
    thread that holds the app weakly (a discarded app stops it, and so does an app whose
    database pool was closed). Judging is idempotent, so
    several workers ticking at once make one decision."""
    every = float(state.app.config.get("ROLLOUT_TICK_S", TICK_S))
    if every > 0:
        threading.Thread(target=_tick, args=(weakref.ref(state.app), every), name="rollout-tick", daemon=True).start()


def _tick(ref: "weakref.ref[Flask]", every: float) -> None:
    while True:
        time.sleep(every)
        app = ref()
        if app is None:
            return
        pool = app.extensions.get("store_pool")
        if pool is not None and pool.closed:
            return  # the server was shut down (its pool closed) while something still holds the app
        try:
            with borrowed(app.config["DATABASE_URL"], pool) as store:
                gate.judge_waiting(store, publisher=gate.Publisher.of(app), offline_after=presence.offline_after(app))
        except Exception:  # a database hiccup must not end the tick: it looks again later
            log.exception("judging rollouts failed; looking again in %s s", every)
        del app
