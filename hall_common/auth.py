"""Console login: argon2-hashed passwords, roles, CSRF protection, no session fixation.

The staff console (edge agent) and the admin console (central server) both use this.
A part calls :func:`init_app` in its factory and guards views with :func:`login_required`.
Users live in the part's own database (table ``users``); the first account is created at
start from the part's configuration (``bootstrap_user``), never by another process.

Example::

    migrations = Migrations("edge_agent")
    add_user_table(migrations)
    ...
    init_app(app)

    @bp.get("/")
    @login_required()
    def overview(): ...
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, TypeVar

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from flask import Blueprint, Flask, flash, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFProtect

from hall_common.config import BootstrapUser
from hall_common.storage import Migrations
from hall_common.web import get_db

ROLES = ("admin", "staff", "viewer")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password")
F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("auth", __name__, template_folder="templates")
csrf = CSRFProtect()


def add_user_table(migrations: Migrations) -> None:
    """Register the ``users`` table migration in a part's migration set."""

    @migrations(name="create_users")
    def create_users(db: sqlite_utils.Database) -> None:
        db["users"].create(
            {"username": str, "password_hash": str, "role": str, "created_at": float}, pk="username"
        )


def set_password(db: sqlite_utils.Database, username: str, password: str, role: str) -> None:
    """Create or update a user. Passwords are stored as argon2id hashes only."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if len(password) < 8:
        raise ValueError("a console password needs at least 8 characters")
    db["users"].upsert(
        {"username": username, "password_hash": _hasher.hash(password), "role": role, "created_at": time.time()},
        pk="username",
    )


def ensure_user(db: sqlite_utils.Database, username: str, password: str, role: str) -> None:
    """Create the user if missing (a first start); an existing password is left alone."""
    if db["users"].count_where("username = ?", [username]) == 0:
        set_password(db, username, password, role)


def check_password(db: sqlite_utils.Database, username: str, password: str) -> str | None:
    """The user's role if the password is right, else None. Takes as long for an unknown
    user as for a wrong password, so the answer does not tell which user names exist."""
    rows = list(db["users"].rows_where("username = ?", [username]))
    stored = rows[0]["password_hash"] if rows else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    return rows[0]["role"] if rows else None


def init_app(app: Flask, bootstrap: BootstrapUser | None = None) -> None:
    """Register the login views and CSRF protection; harden the session cookie; create the
    ``bootstrap`` account if the database has no such user yet. Call after ``init_db``."""
    if bootstrap is not None:
        with app.app_context():
            ensure_user(get_db(), bootstrap.username, bootstrap.password(), bootstrap.role)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    csrf.init_app(app)
    app.register_blueprint(bp)

    @app.before_request
    def load_user() -> None:
        g.user = session.get("user")
        g.role = session.get("role")


def login_required(role: str | None = None) -> Callable[[F], F]:
    """Send anonymous visitors to the login page; refuse a logged-in user without ``role``
    (``admin`` passes every check)."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if g.get("user") is None:
                return redirect(url_for("auth.login", next=request.path))
            if role is not None and g.role not in (role, "admin"):
                return render_template("auth/forbidden.html"), 403
            return view(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in; the session is cleared first, so nothing chosen before login carries over."""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        role = check_password(get_db(), username, password) if username and password else None
        if role is None:
            flash("用户名或密码不正确 · Wrong user name or password")
            return render_template("auth/login.html", username=username), 401
        session.clear()
        session["user"], session["role"] = username, role
        target = request.args.get("next", "")
        return redirect(target if target.startswith("/") and not target.startswith("//") else "/")
    return render_template("auth/login.html", username="")


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))
