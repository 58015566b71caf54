"""The resident's session: language and elder mode for this visit only, and its end.

A session ends on idle timeout, at the end of a flow and when the next person starts; the
end clears the server-side state and the page navigates with ``location.replace`` so
nothing of the visit stays in the browser's history either.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, request, session, url_for

from .nav import go

bp = Blueprint("kiosk_session", __name__)


def _back() -> str:
    target = request.form.get("next", "/")
    return target if target.startswith("/") and not target.startswith("//") else "/"


@bp.post("/lang/<lang>")
def language(lang: str):
    if lang not in current_app.config["SETTINGS"].languages:
        abort(404)
    session["lang"] = lang
    return go(_back())


@bp.post("/elder")
def elder():
    session["elder"] = not session.get("elder")
    return go(_back())


@bp.route("/session/end", methods=["GET", "POST"])
def end():
    """Forget everything of this visit and start over at the home screen."""
    session.clear()
    return go(url_for("home.index"))
