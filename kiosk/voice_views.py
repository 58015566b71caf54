"""Spoken screen titles and instructions for elder mode (offline, cached per phrase).

The voice is a help, never a condition: when a phrase cannot be made or cached (no speech
engine, a full disk) the page stays as it is and simply says nothing. A full disk is not
even tried while it lasts (each try would start espeak-ng for nothing); phrases cached
before it are still spoken.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, send_file

from hall_common.voice import VoiceError

bp = Blueprint("voice", __name__)
log = logging.getLogger(__name__)


@bp.get("/voice/<key>.wav")
def phrase(key: str):
    voice = current_app.extensions["voice"]
    watch = current_app.extensions.get("disk")
    cached = voice.cache_dir / f"{key}.wav"
    if watch is not None and not cached.exists() and watch.state().full:
        abort(503)  # no voice while the disk is full; the banner tells staff
    try:
        path = voice.wav(key)
    except KeyError:
        abort(404)
    except VoiceError as exc:
        cause = exc.__cause__
        if watch is None or cause is None or not watch.write_failed("voice cache", cause):
            log.error("voice: %s", exc)
        abort(503)
    return send_file(path, mimetype="audio/wav", max_age=86400)
