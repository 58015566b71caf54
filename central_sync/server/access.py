"""Who may do what at the centre, and in which halls.

A property company runs tens to hundreds of halls from one centre; not everyone who logs
in may see or change all of them. Three roles:

- ``admin``: the company's administrator, every hall, every action;
- ``manager``: a hall manager, only the halls assigned to them (``user_halls``): see,
  export, configure, refund their halls' payments;
- ``auditor``: every hall, read only (see and export).

Every admin route says which *action* it is with :func:`require`, and every route that
shows or changes one hall's data checks that hall with :func:`check_hall` (or narrows its
query with :func:`hall_clause`). One place decides, so a new route cannot forget half of it:
``tests/test_centre_roles.py`` walks the whole URL map.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Literal, TypeVar

from flask import abort, g, render_template

from hall_common.auth import login_required

from .db import get_store

F = TypeVar("F", bound=Callable[..., Any])

Action = Literal["view", "export", "configure", "refund", "manage"]
"""``view`` a page, ``export`` a file, ``configure`` a hall (settings, devices, content),
``refund`` a hall's payment (money back through its provider), ``manage`` the company's own
things (users, halls, a reconciliation run)."""

CENTRE_ROLES = ("admin", "manager", "auditor")
PERMITS: dict[str, frozenset[str]] = {
    "admin": frozenset({"view", "export", "configure", "refund", "manage"}),
    "manager": frozenset({"view", "export", "configure", "refund"}),
    "auditor": frozenset({"view", "export"}),
}


def allowed(action: Action, role: str | None = None) -> bool:
    """Whether ``role`` (the logged-in user's by default) may do ``action`` at all."""
    return action in PERMITS.get(g.get("role") if role is None else role, frozenset())


def require(action: Action, *, passive: bool = False) -> Callable[[F], F]:
    """A logged-in user whose role permits ``action``; 403 with the console's page otherwise."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not allowed(action):
                return render_template("auth/forbidden.html"), 403
            return view(*args, **kwargs)

        checked.access_action = action  # type: ignore[attr-defined]  # read by the route matrix test
        return login_required(passive=passive)(checked)  # type: ignore[return-value]

    return wrap


def halls() -> frozenset[str] | None:
    """The halls the logged-in user may see: None for every hall (admin, auditor)."""
    if g.get("role") in ("admin", "auditor"):
        return None
    if "access_halls" not in g:
        rows = get_store().query("SELECT hall_id FROM user_halls WHERE username = ?", (g.get("user"),))
        g.access_halls = frozenset(r["hall_id"] for r in rows)
    return g.access_halls


def sees_every_hall() -> bool:
    """Whether the logged-in user's view is the whole company (admin, auditor)."""
    return halls() is None


def hall_rows() -> list[dict[str, Any]]:
    """The halls the logged-in user may see, ``hall_id`` and ``name``, in id order: what a
    page's hall menu offers."""
    where, args = hall_clause("hall_id")
    return get_store().query(f"SELECT hall_id, name FROM halls WHERE {where} ORDER BY hall_id", args)


def may_see(hall_id: str) -> bool:
    mine = halls()
    return mine is None or hall_id in mine


def check_hall(hall_id: str) -> None:
    """Refuse (403) a hall that is not the user's. A hall's id in a URL or a form is the
    user's claim, never a permission."""
    if not may_see(hall_id):
        abort(403)


def check_target(hall: str) -> None:
    """Refuse (403) publishing to ``hall`` unless the user may: ``*`` (every hall, a scope the
    halls keep) only for a user who sees every hall, one hall only if it is the user's."""
    if hall == "*":
        if not sees_every_hall():
            abort(403)
        return
    check_hall(hall)


def template_helpers() -> dict[str, Any]:
    """For the console's templates: ``may("configure")`` shows a form only to those who may
    send it, ``every_hall`` whether "all halls" is the user's to choose."""
    return {"may": allowed, "every_hall": sees_every_hall}


def hall_clause(column: str = "hall_id") -> tuple[str, list[str]]:
    """A WHERE fragment and its parameters narrowing ``column`` to the user's halls:
    ``("1 = 1", [])`` for every hall, ``("1 = 0", [])`` for none."""
    mine = halls()
    if mine is None:
        return "1 = 1", []
    if not mine:
        return "1 = 0", []
    ordered = sorted(mine)
    return f"{column} IN ({', '.join('?' for _ in ordered)})", ordered
