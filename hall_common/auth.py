"""Console login: argon2-hashed passwords, roles, CSRF protection, no session fixation,
server-side sessions, and the headers that keep console pages out of other sites' frames.

The staff console (edge agent) and the admin console (central server) both use this.
A part calls :func:`init_app` in its factory and guards views with :func:`login_required`.
Users live in the part's own database, behind a small :class:`UserStore` (the edge keeps
them with sqlite-utils, the centre on SQLite or PostgreSQL); the first account is created
at start from the part's configuration (``bootstrap_user``), never by another process.
Sessions live at the server too, behind a :class:`~hall_common.sessions.SessionStore`:
the cookie holds only a random id, so logging out, a password change, the idle timeout and
the absolute lifetime end a session wherever a copy of its cookie is
(:mod:`hall_common.sessions`).

Example::

    migrations = Migrations("edge_agent")
    add_user_table(migrations)
    ...
    sessions = MemorySessions()
    init_app(app, lambda: SqliteUsers(get_db()), lambda: sessions, console=config.console)

    @bp.get("/")
    @login_required()
    def overview(): ...
"""

from __future__ import annotations

import functools
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Callable, Protocol, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from flask import (Blueprint, Flask, Response, current_app, flash, g, jsonify, redirect, render_template, request, session,
                   url_for)
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from hall_common.config import BootstrapUser, ConsoleConfig
from hall_common.sessions import SessionPolicy, SessionStore
from hall_common.storage import Migrations

if TYPE_CHECKING:
    import sqlite_utils

ROLES = ("admin", "staff", "viewer", "manager", "auditor")
"""The edge console has admin, staff and viewer; the centre admin, manager and auditor
(central_sync/server/access.py)."""
# OWASP's argon2id profile for a small memory: 7 MiB, 5 passes, 1 lane, which its Password
# Storage Cheat Sheet lists as equal in strength to its 19 MiB, 2 passes profile (and to
# 46 MiB, 1 pass): the same work, less memory. argon2-cffi's default takes 64 MiB per hash;
# on a Pi whose whole hall must fit in 150 MB, every login spikes the process by the hash's
# memory (issue 20: 19 MiB made the edge's peak). A hash made with other parameters keeps
# them (argon2 writes them into the hash) and is verified as it was made.
HASH_MEMORY_KIB = 7 * 1024
"""The memory one password hash takes while it runs."""
_hasher = PasswordHasher(time_cost=5, memory_cost=HASH_MEMORY_KIB, parallelism=1)
_hashing = threading.Lock()
"""One hash at a time in a process: each holds its buffer while it runs, and eight staff
logging in at once through eight web threads took 150 MB at that moment with 19 MiB hashes
(issue 20, ``bench/edge_growth.py``). A hash takes tens of milliseconds; a second login
waits that long."""


def _hash(password: str) -> str:
    with _hashing:
        return _hasher.hash(password)


def _verify(stored: str, password: str) -> None:
    """Returns if ``password`` matches ``stored``; raises argon2's errors if not."""
    with _hashing:
        _hasher.verify(stored, password)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that takes as long as a wrong
    password. Made on first use, not at import."""
    return _hash("not a password")
F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("auth", __name__, template_folder="templates")
csrf = CSRFProtect()


class UserStore(Protocol):
    """Where a part keeps its console accounts (its own database, whatever kind it is)."""

    def find(self, username: str) -> dict[str, Any] | None: ...

    def save(self, username: str, password_hash: str, role: str) -> None: ...


class SqliteUsers:
    """Console accounts in a part's sqlite-utils database (table ``users``)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def find(self, username: str) -> dict[str, Any] | None:
        rows = list(self.db["users"].rows_where("username = ?", [username]))
        return rows[0] if rows else None

    def save(self, username: str, password_hash: str, role: str) -> None:
        self.db["users"].upsert(
            {"username": username, "password_hash": password_hash, "role": role, "created_at": time.time()}, pk="username"
        )


def add_user_table(migrations: Migrations) -> None:
    """Register the ``users`` table migration in a part's sqlite-utils migration set."""

    @migrations(name="create_users")
    def create_users(db: sqlite_utils.Database) -> None:
        db["users"].create(
            {"username": str, "password_hash": str, "role": str, "created_at": float}, pk="username"
        )


def set_password(users: UserStore, username: str, password: str, role: str, *,
                 sessions: SessionStore | None = None) -> None:
    """Create or update a user. Passwords are stored as argon2id hashes only. Give the
    part's ``sessions`` when changing an existing user's password or role: every session
    the user has open ends, so whoever held the old password (or a cookie from it) is out."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if len(password) < 8:
        raise ValueError("a console password needs at least 8 characters")
    users.save(username, _hash(password), role)
    if sessions is not None:
        sessions.remove_user(username)


def ensure_user(users: UserStore, username: str, password: str, role: str) -> None:
    """Create the user if missing (a first start); an existing password is left alone."""
    if users.find(username) is None:
        set_password(users, username, password, role)


def check_password(users: UserStore, username: str, password: str) -> str | None:
    """The user's role if the password is right, else None. Takes as long for an unknown
    user as for a wrong password, so the answer does not tell which user names exist. A
    disabled account (``disabled_at`` set, at the centre) is refused like a wrong password."""
    row = users.find(username)
    stored = row["password_hash"] if row else _dummy_hash()
    try:
        _verify(stored, password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    if not row or row.get("disabled_at"):
        return None
    return row["role"]


CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",  # no inline script on any page: the alarm bell is a file
    "style-src 'self' 'unsafe-inline'",  # pages carry their own <style> and style="": CSS runs no code
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
"""The console pages' policy: scripts only from the console's own files, no page inside
another site's frame (clickjacking), forms only to the console itself."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask, users: Callable[[], UserStore], sessions: Callable[[], SessionStore], *,
             bootstrap: BootstrapUser | None = None, console: ConsoleConfig | None = None) -> None:
    """Register the login views and CSRF protection; set the session cookie's flags and the
    console's security headers; create the ``bootstrap`` account if there is no such user
    yet. ``users()`` and ``sessions()`` give the current request's stores; ``console``
    the sessions' timeouts and whether the console is served over HTTPS.

    Test configuration key: ``AUTH_CLOCK``, a callable returning the time, for tests that
    move it (login limits, session timeouts)."""
    console = console or ConsoleConfig()
    app.extensions["auth_users"] = users
    app.extensions["auth_sessions"] = sessions
    if bootstrap is not None:
        with app.app_context():
            ensure_user(users(), bootstrap.username, bootstrap.password(), bootstrap.role)
    # Set, not defaulted: Flask's own defaults hold these keys already (SameSite None).
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=console.https)
    app.session_interface = _CookieOverHttps()
    if console.https:
        app.config["PREFERRED_URL_SCHEME"] = "https"
    csrf.init_app(app)
    clock = app.config.get("AUTH_CLOCK") or time.time
    app.extensions["auth_limiter"] = LoginLimiter(clock=clock)
    app.extensions["auth_policy"] = SessionPolicy(idle_s=console.idle_timeout_s, absolute_s=console.absolute_timeout_s,
                                                  clock=clock)
    app.register_blueprint(bp)
    app.before_request(_load_user)
    app.after_request(_security_headers)


class _CookieOverHttps(SecureCookieSessionInterface):
    """Flask's own signed session cookie, marked Secure when the console's public URL is
    https, and also on any answer to a request that came over HTTPS (behind the TLS proxy,
    waitress knows from the proxy's X-Forwarded-Proto): a cookie set over HTTPS never goes
    back over plain HTTP, while the edge's phone pages may still be served on plain HTTP."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def _load_user() -> None:
    """Who this request is from: the live session its cookie's id opens, or nobody. An id
    that opens nothing (logged out, expired) is dropped from the cookie."""
    g.user = g.role = g.console_session = None
    session_id = session.get("sid")
    if not isinstance(session_id, str):
        return
    policy: SessionPolicy = current_app.extensions["auth_policy"]
    live = policy.check(current_app.extensions["auth_sessions"](), session_id)
    if live is None:
        session.pop("sid", None)
        return
    g.user, g.role, g.console_session = live.username, live.role, live


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def login_required(role: str | None = None, *, passive: bool = False) -> Callable[[F], F]:
    """Send anonymous visitors to the login page; refuse a logged-in user without ``role``
    (``admin`` passes every check). A script asking for JSON gets 401 instead, so a page
    whose session ended can tell and go to the login page. ``passive``: a request the page
    makes by itself (the alarm bell's poll) does not count as the user being there, so a
    console left open still idles out."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if g.get("user") is None:
                if request.accept_mimetypes.accept_json and not request.accept_mimetypes.accept_html:
                    return jsonify(error="logged_out", message="登录已结束，请重新登录 · Your login has ended: log in again"), 401
                return redirect(url_for("auth.login", next=request.path))
            if role is not None and g.role not in (role, "admin"):
                return render_template("auth/forbidden.html"), 403
            if not passive:
                current_app.extensions["auth_policy"].touch(current_app.extensions["auth_sessions"](), g.console_session)
            return view(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def safe_next(target: str) -> str:
    """Where to go after login: ``target`` if it is a path on this site, else ``/``.

    Parsed with :mod:`urllib.parse`, and refused when a browser could read it as another
    site: a scheme or host (``https://evil``, ``//evil``), a backslash (``/\\evil``, which
    browsers read as ``//evil``), or any control or invisible character (``/%09/evil``:
    browsers drop tabs and newlines from a URL, leaving ``//evil``)."""
    if not target or "\\" in target or not target.isprintable():
        return "/"
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))


class LoginLimiter:
    """Failed logins are limited: ``per_user`` in ``window_s`` for one user name, and
    ``per_address`` for one client address (guessing many names from one place). While
    over the limit even the right password is refused, so guessing learns nothing. Kept in
    memory: a console is one process (the centre's API workers do not serve logins).

    Every name and address tried is a key; tries older than the window are dropped for all
    keys at most once a window (on a failure), not only when the same key is tried again,
    so names typed once and never again do not stay for the life of the process. Held at
    most: what one window's failures make (``per_address`` a window for each address)."""

    def __init__(self, *, per_user: int = 5, per_address: int = 20, window_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_user, self.per_address, self.window_s, self.clock = per_user, per_address, window_s, clock
        self._failures: dict[str, list[float]] = {}
        self._swept = clock()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(key, []) if now - t < self.window_s]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    def _sweep(self, now: float) -> None:
        """Drop the tries older than the window, of every key (once a window at most)."""
        if now - self._swept < self.window_s:
            return
        self._swept = now
        for key in list(self._failures):
            self._recent(key, now)

    def wait_s(self, username: str, address: str) -> float:
        """Seconds until this user name (from this address) may try again; 0: now."""
        now = self.clock()
        with self._lock:
            waits = []
            for key, limit in ((f"u:{username.lower()}", self.per_user), (f"a:{address}", self.per_address)):
                recent = self._recent(key, now)
                if len(recent) >= limit:
                    waits.append(recent[-limit] + self.window_s - now)
            return max(waits, default=0.0)

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            self._sweep(now)
            for key in (f"u:{username.lower()}", f"a:{address}"):
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{username.lower()}", None)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in; the session is cleared first, so nothing chosen before login carries over,
    then a new server-side session begins and the cookie gets its id. ``next`` is followed
    only to a path of this site (:func:`safe_next`). Failed attempts are limited per user
    name and per address (:class:`LoginLimiter`)."""
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:64]
        password = request.form.get("password", "")
        limiter: LoginLimiter = current_app.extensions["auth_limiter"]
        address = request.remote_addr or "?"
        wait = limiter.wait_s(username, address)
        if wait > 0:
            minutes = max(1, int(wait // 60) + (1 if wait % 60 else 0))
            flash(f"尝试次数过多，请 {minutes} 分钟后再试 · Too many tries: try again in {minutes} min")
            return render_template("auth/login.html", username=username), 429
        users = current_app.extensions["auth_users"]()
        role = check_password(users, username, password) if username and password else None
        if role is None:
            limiter.failed(username, address)
            flash("用户名或密码不正确 · Wrong user name or password")
            return render_template("auth/login.html", username=username), 401
        limiter.succeeded(username)
        session.clear()
        policy: SessionPolicy = current_app.extensions["auth_policy"]
        session["sid"] = policy.start(current_app.extensions["auth_sessions"](), username, role)
        return redirect(safe_next(request.args.get("next", "")))
    return render_template("auth/login.html", username="")


@bp.post("/logout")
def logout():
    """Log out: the session ends at the server, so a copy of the cookie opens nothing."""
    session_id = session.get("sid")
    if isinstance(session_id, str):
        current_app.extensions["auth_policy"].end(current_app.extensions["auth_sessions"](), session_id)
    session.clear()
    return redirect(url_for("auth.login"))
