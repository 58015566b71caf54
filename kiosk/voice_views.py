"""Spoken screen titles and instructions for elder mode (offline, cached per phrase)."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, send_file

from hall_common.voice import VoiceError

bp = Blueprint("voice", __name__)
log = logging.getLogger(__name__)


@bp.get("/voice/<key>.wav")
def phrase(key: str):
    try:
        path = current_app.extensions["voice"].wav(key)
    except KeyError:
        abort(404)
    except VoiceError as exc:
        log.error("voice: %s", exc)
        abort(503)
    return send_file(path, mimetype="audio/wav", max_age=86400)
