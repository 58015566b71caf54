"""The on-screen keyboard's pinyin candidates: ``GET /ime?q=louti`` → ``{"candidates":
[{"text": "楼梯", "take": 5}, …]}``. ``take`` is how many typed letters a candidate uses."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, request

bp = Blueprint("keyboard", __name__)

LETTERS = re.compile(r"^[a-z]{1,30}$")


@bp.get("/ime")
def ime():
    q = request.args.get("q", "").lower()
    if not LETTERS.match(q):
        return jsonify(error="q: 1 to 30 letters a-z"), 400
    found = current_app.extensions["ime"].candidates(q)
    resp = jsonify(candidates=[{"text": c.text, "take": c.take} for c in found])
    resp.cache_control.max_age = 3600  # the same letters always give the same candidates
    return resp
