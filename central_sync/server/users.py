"""用户 · The centre's console accounts, for the company's admins (``manage``): who may log
in, as what (:mod:`.access`: admin, hall manager, auditor), and a manager's halls. The
rules live in :mod:`.accounts`, shared with ``hall centre-user``; a form with a mistake
saves nothing and says what to fix."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from . import access, accounts, audit
from .db import get_store

bp = Blueprint("users", __name__, url_prefix="/users")


def _page(form: dict[str, str] | None = None, status: int = 200):
    store = get_store()
    return render_template("admin/users.html", users=accounts.listing(store), roles=accounts.ROLE_NAMES,
                           halls=store.query("SELECT hall_id, name FROM halls ORDER BY hall_id"),
                           audit=audit.recent(store, actions="user."), form=form or {}), status


@bp.get("/")
@access.require("manage")
def index():
    return _page()


@bp.post("/")
@access.require("manage")
def add():
    form = {k: request.form.get(k, "").strip() for k in ("username", "role", "halls")}
    try:
        accounts.add(get_store(), form["username"], request.form.get("password", ""), form["role"],
                     accounts.parse_halls(form["halls"]), by=g.user)
    except accounts.AccountInvalid as exc:
        for p in exc.problems:
            flash(p)
        return _page(form, 400)
    flash(f"已添加用户 {form['username']} · Added user {form['username']}")
    return redirect(url_for("users.index"), 303)


@bp.post("/<username>")
@access.require("manage")
def change(username: str):
    """A new role and halls; the user's sessions end if the role changed."""
    try:
        accounts.change(get_store(), username, request.form.get("role", ""),
                        accounts.parse_halls(request.form.get("halls", "")), by=g.user)
    except accounts.AccountInvalid as exc:
        for p in exc.problems:
            flash(f"{username}：{p}")
        return _page(status=400)
    flash(f"已更新用户 {username} · Updated user {username}")
    return redirect(url_for("users.index"), 303)


@bp.post("/<username>/disable")
@access.require("manage")
def disable(username: str):
    return _disabled(username, True)


@bp.post("/<username>/enable")
@access.require("manage")
def enable(username: str):
    return _disabled(username, False)


def _disabled(username: str, disabled: bool):
    try:
        accounts.set_disabled(get_store(), username, disabled, by=g.user)
    except accounts.AccountInvalid as exc:
        for p in exc.problems:
            flash(f"{username}：{p}")
        return _page(status=400)
    flash(f"已停用 {username} · Disabled {username}" if disabled else f"已启用 {username} · Enabled {username}")
    return redirect(url_for("users.index"), 303)
