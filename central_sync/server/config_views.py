"""Kiosk settings for people who do not write TOML: a form preloaded with what a hall's
kiosks run, a preview of the kiosk's screens, the versions with what changed between any
two, publishing to one hall or one kiosk, and rolling back in one action.

Saving goes through the same functions as the TOML editor (``configs.save_version``) and
the same schema; publishing signs the same way (``configs.sign_and_assign``). Versions are
the company's (one numbering for every hall); which kiosks get one is per hall, and only a
hall the user may configure.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import tomli_w
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from pydantic import ValidationError

from . import access, config_form, edge_services
from .config_preview import LANGS, PREVIEW_POLICY, Previews, shown_at
from .configs import audit, save_version, sign_and_assign, version_body
from .db import get_store
from hall_common.config import KioskSettings, QueueConfig

bp = Blueprint("config_views", __name__, url_prefix="/configs")


def _previews() -> Previews:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "config_previews" not in app.extensions:
        app.extensions["config_previews"] = Previews(app.config["SECRET_KEY"])
    return app.extensions["config_previews"]


def _hall_arg(value: str | None) -> str | None:
    """The hall named in the request, checked: None when none is named."""
    if not value:
        return None
    access.check_hall(value)
    return value


def _kiosks(hall: str | None) -> list[dict]:
    """The kiosks the user may see (of ``hall`` if given): what each should run and runs."""
    clause, args = access.hall_clause("n.hall_id")
    where, more = ("n.hall_id = ?", [hall]) if hall else ("1 = 1", [])
    return get_store().query(
        "SELECT n.hall_id, n.node_id, "
        "(SELECT max(a.version) FROM config_assignments a WHERE a.hall_id = n.hall_id AND a.node_id = n.node_id) AS desired, "
        "r.version AS reported, r.status, r.reason FROM hall_nodes n "
        "LEFT JOIN config_reports r ON r.hall_id = n.hall_id AND r.node_id = n.node_id "
        f"WHERE n.kind = 'kiosk' AND {clause} AND {where} ORDER BY n.hall_id, n.node_id", [*args, *more])


def running_version(hall: str) -> int | None:
    """The version most of ``hall``'s kiosks run (the newest on a tie), None if none runs one."""
    counts: dict[int, int] = {}
    for k in _kiosks(hall):
        v = k["reported"] if k["status"] == "applied" and k["reported"] else k["desired"]
        if v:
            counts[v] = counts.get(v, 0) + 1
    return max(counts, key=lambda v: (counts[v], v)) if counts else None


def _latest() -> int | None:
    return get_store().scalar("SELECT max(version) FROM configs WHERE target = 'kiosk'")


def _hall_name(hall: str | None) -> str:
    if not hall:
        return ""
    rows = get_store().query("SELECT name FROM halls WHERE hall_id = ?", (hall,))
    return rows[0]["name"] if rows else hall


# -- the form -----------------------------------------------------------------------------

@bp.get("/form")
@access.require("view")
def form():
    """The form, preloaded with ``version``, or what ``hall``'s kiosks run, or the latest."""
    hall = _hall_arg(request.args.get("hall"))
    halls = access.hall_rows()
    if hall is None and len(halls) == 1:
        hall = halls[0]["hall_id"]
    version = request.args.get("version", type=int) or (running_version(hall) if hall else None) or _latest()
    body = version_body(version) if version else None
    if version and body is None:
        abort(404)
    return _render(config_form.from_settings(body or config_form.blank()), hall=hall, base=version or 0)


def _render(f: config_form.Form, *, hall: str | None, base: int, problems: list | None = None,
            preview: str | None = None, status: int = 200) -> tuple[str, int]:
    shown = None
    if preview:
        what = _previews().open(preview)
        at, is_now = shown_at(KioskSettings.model_validate(what["body"])) if what else (None, True)
        shown = None if is_now else at
    return render_template(
        "admin/config_form.html", f=f, hall=hall, halls=access.hall_rows(), base=base, problems=problems or [],
        invalid={p.field for p in problems or []}, days=config_form.DAYS, day_labels=config_form.DAY_LABELS,
        labels=config_form.LABELS, row_labels=config_form.ROW_LABELS, preview=preview, shown_at=shown,
        kiosks=_kiosks(hall) if hall else [], rest=json.dumps(f.rest, ensure_ascii=False),
        standard_services=QueueConfig().services,
    ), status


def _posted() -> tuple[config_form.Form, str | None, int]:
    hall = _hall_arg(request.form.get("hall"))
    try:
        rest = json.loads(request.form.get("rest") or "{}")
    except ValueError:
        rest = {}
    if not isinstance(rest, dict):
        rest = {}
    return config_form.from_request(request.form, rest), hall, request.form.get("base", 0, type=int)


@bp.post("/form/draft")
@access.require("view")
def draft():
    """Work on the form without saving: add a row, or preview the kiosk's screens."""
    f, hall, base = _posted()
    op = request.form.get("op", "")
    if op.startswith("add-"):
        config_form.add_row(f, op.removeprefix("add-"))
        return _render(f, hall=hall, base=base)
    settings, problems = config_form.check(f)
    if settings is None:
        return _render(f, hall=hall, base=base, problems=problems, status=422)
    token = _previews().token(hall_id=hall or "preview", hall_name=_hall_name(hall),
                              body=settings.model_dump(mode="json", exclude_none=True))
    return _render(f, hall=hall, base=base, preview=token)


@bp.post("/form")
@access.require("configure")
def save():
    """Save the form as a new version if the kiosk's schema accepts it; optionally publish
    it at once to one kiosk or every kiosk of the chosen hall."""
    f, hall, base = _posted()
    settings, problems = config_form.check(f)
    if settings is not None and hall:  # what the hall's edge would refuse: its queue numbers the tickets
        problems = edge_services.problems(settings, edge_services.hall_services(get_store(), hall))
    if settings is None or problems:  # the form again, values kept, each refused field named
        return _render(f, hall=hall, base=base, problems=problems, status=422)
    target = request.form.get("publish", "")
    if target and not hall:
        flash("请先选择服务中心 · Choose a hall to publish to")
        return _render(f, hall=hall, base=base, status=422)
    store = get_store()
    try:
        with store.transaction():
            version = save_version(settings, request.form.get("note", "").strip()[:200], detail={"via": "form"})
            published = _publish(version, hall, target) if target else []
    except edge_services.EdgeAhead as exc:  # nothing saved
        flash(f"未保存 · Not saved: {exc}")
        return _render(f, hall=hall, base=base, status=409)
    flash(f"已保存版本 {version} · Saved version {version}"
          + (f"；已发布到 {len(published)} 台自助机 · published to {len(published)} kiosk(s)" if target else ""))
    return redirect(url_for("config_views.versions", hall=hall) if hall else url_for("config_views.versions"))


def _publish(version: int, hall: str | None, target: str) -> list[str]:
    """Sign ``version`` for ``hall``'s kiosks, or only kiosk ``target`` of it ("*": all);
    in the caller's transaction, audited."""
    if not hall:
        abort(400)
    access.check_hall(hall)
    kiosks = [k for k in _kiosks(hall) if target == "*" or k["node_id"] == target]
    body = version_body(version)
    if body is None:
        abort(404)
    published = sign_and_assign(version, body, kiosks)
    audit("config.publish", {"version": version, "hall": hall, "nodes": [] if target == "*" else [target],
                             "percent": 100, "published": published}, hall=hall)
    return published


# -- publishing and rolling back ----------------------------------------------------------

def _refused_by_edge(version: int, hall: str) -> str:
    """What ``hall``'s edge would refuse of ``version``'s services ("" if nothing)."""
    body = version_body(version)
    if body is None:
        abort(404)
    try:
        settings = KioskSettings.model_validate(body)
    except ValidationError:
        return ""  # the kiosk's own check says so
    found = edge_services.problems(settings, edge_services.hall_services(get_store(), hall))
    return "; ".join(f"{p.label}: {p.message}" for p in found)


@bp.post("/<int:version>/publish-to")
@access.require("configure")
def publish_to(version: int):
    """Publish ``version`` to one hall's kiosks, or to one kiosk of it."""
    hall = request.form.get("hall", "")
    target = request.form.get("node", "") or "*"
    if not hall:
        flash("请先选择服务中心 · Choose a hall to publish to")
        return redirect(url_for("config_views.versions"))
    access.check_hall(hall)
    refused = _refused_by_edge(version, hall)
    if refused:
        flash(f"版本 {version} 未发布 · Version {version} not published: {refused}")
        return redirect(url_for("config_views.versions", hall=hall))
    store = get_store()
    try:
        with store.transaction():
            published = _publish(version, hall, target)
    except edge_services.EdgeAhead as exc:
        flash(f"版本 {version} 未发布 · Version {version} not published: {exc}")
        return redirect(url_for("config_views.versions", hall=hall))
    flash(f"版本 {version} 已发布到 {len(published)} 台自助机 · Version {version} published to {len(published)} kiosk(s)")
    return redirect(url_for("config_views.versions", hall=hall))


@bp.post("/<int:version>/rollback")
@access.require("configure")
def rollback(version: int):
    """Roll ``hall``'s kiosks back to ``version``: its content saved again as a new, higher
    version (kiosks only accept newer ones), signed and published to the hall's kiosks that
    run its current version (or to kiosk ``node`` alone)."""
    hall = request.form.get("hall", "")
    if not hall:
        flash("请先选择服务中心 · Choose the hall to roll back")
        return redirect(url_for("config_views.versions"))
    access.check_hall(hall)
    body = version_body(version)
    if body is None:
        abort(404)
    settings, problems = config_form.check(config_form.from_settings(body))
    if settings is None:  # saved under an older schema: the kiosks would refuse it
        flash(f"版本 {version} 已不符合自助机的校验，未回滚 · Version {version} no longer passes the kiosk's schema, "
              f"nothing rolled back: {problems[0].label}: {problems[0].message}")
        return redirect(url_for("config_views.versions", hall=hall))
    refused = _refused_by_edge(version, hall)
    if refused:
        flash(f"版本 {version} 未回滚 · Version {version} not rolled back: {refused}")
        return redirect(url_for("config_views.versions", hall=hall))
    kiosks = [k for k in _kiosks(hall) if k["desired"]]
    current = max((k["desired"] for k in kiosks), default=None)
    node = request.form.get("node", "")
    kiosks = [k for k in kiosks if (k["node_id"] == node if node else k["desired"] == current)]
    if not kiosks:
        flash("该服务中心没有自助机在运行中心下发的配置，未回滚 · No kiosk of this hall runs a configuration from "
              "the centre: nothing rolled back")
        return redirect(url_for("config_views.versions", hall=hall))
    store = get_store()
    with store.transaction():
        new = save_version(settings, f"回滚到版本 {version} · Roll back to version {version}", hall=hall,
                           action="config.rollback", detail={"from": version, "was": current, "hall": hall})
        published = sign_and_assign(new, version_body(new) or body, kiosks)
        audit("config.publish", {"version": new, "hall": hall, "nodes": sorted(k["node_id"] for k in kiosks),
                                 "percent": 100, "published": published}, hall=hall)
    flash(f"已回滚：版本 {new} 即版本 {version} 的内容，已发布到 {len(published)} 台自助机 · Rolled back: version {new} "
          f"has version {version}'s content, published to {len(published)} kiosk(s)")
    return redirect(url_for("config_views.versions", hall=hall))


# -- versions and differences -------------------------------------------------------------

@bp.get("/versions")
@access.require("view")
def versions():
    """Every version, newest first, with which of the hall's kiosks run it."""
    hall = _hall_arg(request.args.get("hall"))
    rows = get_store().query("SELECT version, note, created_by, created_at FROM configs WHERE target = 'kiosk' "
                             "ORDER BY version DESC LIMIT 200")
    kiosks = _kiosks(hall)
    running: dict[int, list[str]] = {}
    for k in kiosks:
        v = k["reported"] if k["status"] == "applied" else None
        if v:
            running.setdefault(v, []).append(f"{k['hall_id']}/{k['node_id']}")
    return render_template("admin/config_versions.html", versions=rows, hall=hall, halls=access.hall_rows(), kiosks=kiosks,
                           running=running, hall_kiosks=[k for k in kiosks if k["hall_id"] == hall] if hall else [])


@bp.get("/diff")
@access.require("view")
def diff():
    """Two versions side by side (TOML, changed lines marked), and what changed in words."""
    a, b = request.args.get("a", type=int), request.args.get("b", type=int)
    bodies = [version_body(v) if v else None for v in (a, b)]
    if a is None or b is None or None in bodies:
        flash("请选择两个存在的版本 · Choose two versions that exist")
        return redirect(url_for("config_views.versions"))
    left, right = (tomli_w.dumps(body).splitlines() for body in bodies)  # type: ignore[arg-type]
    return render_template("admin/config_diff.html", a=a, b=b, rows=side_by_side(left, right),
                           changes=changed_fields(bodies[0], bodies[1]),  # type: ignore[arg-type]
                           numbers=[r["version"] for r in
                                    get_store().query("SELECT version FROM configs WHERE target = 'kiosk' "
                                                      "ORDER BY version DESC LIMIT 200")])


def side_by_side(left: list[str], right: list[str]) -> list[tuple[str, str, str]]:
    """(kind, left line, right line) rows: ``same``, ``changed``, ``removed``, ``added``."""
    rows: list[tuple[str, str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [("same", left[i], right[j]) for i, j in zip(range(i1, i2), range(j1, j2))]
        elif tag == "delete":
            rows += [("removed", left[i], "") for i in range(i1, i2)]
        elif tag == "insert":
            rows += [("added", "", right[j]) for j in range(j1, j2)]
        else:
            n = max(i2 - i1, j2 - j1)
            for k in range(n):
                ln = left[i1 + k] if i1 + k < i2 else ""
                rn = right[j1 + k] if j1 + k < j2 else ""
                rows.append(("changed", ln, rn))
    return rows


def _flatten(value: Any, path: tuple = ()) -> dict[tuple, Any]:
    if isinstance(value, dict):
        out: dict[tuple, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, (*path, k)))
        return out
    if isinstance(value, list) and value and isinstance(value[0], dict):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, (*path, i)))
        return out
    return {path: value}


def changed_fields(old: dict, new: dict) -> list[dict[str, str]]:
    """Each setting that differs, named as the form names it: its label, before, after."""
    a, b = _flatten(old), _flatten(new)
    out = []
    for path in sorted(set(a) | set(b), key=lambda p: tuple(str(x) for x in p)):
        if a.get(path, None) != b.get(path, None):
            label = config_form.describe(path, "").label
            out.append({"label": label, "path": ".".join(map(str, path)), "old": _shown(a.get(path)),
                        "new": _shown(b.get(path))})
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    if isinstance(value, bool):
        return "是 · yes" if value else "否 · no"
    return str(value)


# -- the preview --------------------------------------------------------------------------

@bp.get("/preview/<token>/<lang>/", defaults={"sub": ""})
@bp.get("/preview/<token>/<lang>/<path:sub>")
@access.require("view")
def preview(token: str, lang: str, sub: str):
    """The kiosk's page ``sub`` as the previewed configuration renders it. Read only: a
    kiosk form posted here is refused (405), nothing of the kiosk is stored."""
    previews = _previews()
    what = previews.open(token)
    if what is None or lang not in LANGS:
        abort(404)
    if what["hall"] != "preview":
        access.check_hall(what["hall"])
    try:
        kiosk = previews.app(token, what)
    except ValidationError:  # signed by this centre, so only a schema changed since: nothing to show
        abort(404)
    environ = dict(request.environ)
    environ["SCRIPT_NAME"] = f"{request.script_root}/configs/preview/{token}/{lang}"
    environ["PATH_INFO"] = "/" + sub
    environ["HTTP_COOKIE"] = previews.session_cookie(kiosk, lang)  # not the console's cookie
    response = Response.from_app(kiosk, environ)
    response.headers.remove("Set-Cookie")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    return response


@bp.get("/<int:version>/preview")
@access.require("view")
def preview_version(version: int):
    """A saved version in the form with its preview (for ``hall`` if given)."""
    hall = _hall_arg(request.args.get("hall"))
    body = version_body(version)
    if body is None:
        abort(404)
    f = config_form.from_settings(body)
    settings, problems = config_form.check(f)
    if settings is None:  # saved under an older schema: say what no longer passes
        return _render(f, hall=hall, base=version, problems=problems)
    token = _previews().token(hall_id=hall or "preview", hall_name=_hall_name(hall), body=body)
    return _render(f, hall=hall, base=version, preview=token)
