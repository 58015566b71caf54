"""The board page."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("board", __name__)


@bp.get("/")
def board():
    edge = current_app.extensions.get("edge_watch")
    return render_template(
        "board/board.html",
        state=current_app.extensions["board_state"].current,
        edge_up=bool(edge and edge.edge_up),
    )
