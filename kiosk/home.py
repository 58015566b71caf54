"""The kiosk's home screen."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    edge = current_app.extensions.get("edge_watch")
    return render_template("kiosk/home.html", edge_up=bool(edge and edge.edge_up))
